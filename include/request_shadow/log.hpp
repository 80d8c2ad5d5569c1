// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_LOG_HPP
#define REQUEST_SHADOW_LOG_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <request_shadow/detail/flavour.hpp>
#include <request_shadow/divergence.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

/// The header names whose values a `DivergenceLog` redacts by default.
[[nodiscard]] inline std::vector<std::string> default_redacted_headers() {
  return {"authorization", "proxy-authorization", "cookie", "set-cookie"};
}

namespace detail {

// Blank characters that may start a folded line or pad a header name.
inline bool is_header_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

// Replace the value of every `Name: value` line whose name is in `names` (case-insensitive) with
// "[redacted]", as it appears in a request written as HTTP/1 text, erring on the side of
// redacting:
// - lines end at LF, CRLF or CR; an empty line changes nothing;
// - a line continues the previous one, and is redacted whole when that one was, if it starts
//   with a blank or follows a bare CR (one not followed by LF, which a server may read as a
//   space);
// - any other line, including one that starts with a blank with no redacted line before it, is
//   read as a header line: its name, with blanks trimmed, is what precedes the first colon;
// - a value cut off at the end of the text is redacted too.
// Redacting a prefix of a text gives a prefix of the text's redaction, so a caller may redact a
// bounded prefix of a huge key. Stops once the output is longer than `limit` bytes.
inline std::string redact_header_values(std::string_view text,
                                        const std::vector<std::string>& names,
                                        std::size_t limit = std::string::npos) {
  std::string out;
  out.reserve(std::min(text.size(), limit));
  bool redacting = false;  // the last header line was redacted: its continuations are too
  bool bare_cr = false;    // the last line ended at a CR not followed by LF
  std::size_t line = 0;
  while (out.size() <= limit) {
    std::size_t end = line;
    while (end < text.size() && text[end] != '\n' && text[end] != '\r') ++end;
    const std::string_view current = text.substr(line, end - line);
    if (!current.empty()) {
      if (redacting && (bare_cr || is_header_blank(current.front()))) {
        out += " [redacted]";
      } else {
        const std::size_t colon = current.find(':');
        redacting = false;
        if (colon != std::string_view::npos) {
          std::string_view name = current.substr(0, colon);
          while (!name.empty() && is_header_blank(name.front())) name.remove_prefix(1);
          while (!name.empty() && is_header_blank(name.back())) name.remove_suffix(1);
          redacting = std::any_of(names.begin(), names.end(),
                                  [name](const std::string& n) { return ascii_iequals(name, n); });
        }
        if (redacting) {
          out.append(current.substr(0, colon + 1));
          out += " [redacted]";
        } else {
          out.append(current);
        }
      }
    }
    if (end == text.size()) break;
    std::size_t next = end + 1;
    if (text[end] == '\r' && next < text.size() && text[next] == '\n') ++next;
    bare_cr = text[end] == '\r' && next == end + 1;
    out.append(text.substr(end, next - end));
    line = next;
  }
  return out;
}

}  // namespace detail

/// One logged divergence: when, for which request key, and what differed.
struct DivergenceEntry {
  /// The request key as kept: redacted, then cut to `DivergenceLog::max_key_bytes` bytes at most.
  std::string key;
  /// The length of the whole request key, in bytes, before redaction and cutting.
  /**
   * Redaction makes a key shorter or longer, so `key_size` and `key.size()` differ even when
   * nothing was cut: `key_truncated` says whether something was.
   */
  std::size_t key_size = 0;
  /// Whether `key` stops before the end of the request key.
  /**
   * True when the redacted key was longer than `DivergenceLog::max_key_bytes`, or when the key
   * was longer than `DivergenceLog::key_scan_bytes` (its end was never read).
   */
  bool key_truncated = false;
  /// When the divergence was logged.
  std::chrono::system_clock::time_point at{};
  /// What differed.
  Divergence divergence;
  /// What kind of divergence it is.
  DivergenceSignature signature;
};

/// How often one kind of divergence was seen, with the first few of them as examples.
struct SignatureCount {
  /// The kind of divergence.
  DivergenceSignature signature;
  /// How many divergences had it.
  std::uint64_t count = 0;
  /// When it was last seen.
  std::chrono::system_clock::time_point last_seen{};
  /// The first `DivergenceLog::max_exemplars` divergences that had it.
  std::vector<DivergenceEntry> exemplars;

  friend bool operator==(const SignatureCount&, const SignatureCount&) = default;
};

/// A bounded, thread-safe ring buffer of the most recent divergences, and a count of every kind
/// of divergence (`signatures()`).
/**
 * Nothing sensitive is kept: an entry holds header names but never header values, and in its key
 * (a request written as HTTP/1 text, say) the values of `Authorization`, `Proxy-Authorization`,
 * `Cookie` and `Set-Cookie` lines, or of the names given at construction, are replaced with
 * `[redacted]`, continuation lines included. When in doubt the log redacts: lines may end at LF,
 * CRLF or a bare CR, names match in any letter case with blanks (space, tab, vertical tab, form
 * feed) around them trimmed, a line that starts with a blank, or follows a bare CR (which a server
 * may read as a space), is redacted whole when the line before it was redacted, and is otherwise
 * read as a header line itself, and a value cut off by the end of the key is redacted too.
 *
 * The key is redacted first and cut after, so a cut never reveals part of a value, and an entry
 * never keeps more than `max_key_bytes` bytes of key, however much longer redaction makes it.
 * To bound the work a huge key costs, only its first `key_scan_bytes` bytes are read: an entry
 * keeps the first `max_key_bytes` bytes of their redaction, which are those of the whole key's
 * redaction unless redacted values fill so much of them that their redaction is shorter.
 *
 * Holds at most `capacity()` entries and drops the oldest first; capacity 0 keeps no entries
 * (the counts by signature below, with their few exemplars, are kept all the same).
 * Each entry keeps at most `max_key_bytes` bytes of its key, so a huge request cannot make the
 * log grow past about `capacity() * max_key_bytes` bytes plus the divergences (whose size
 * depends only on the number of differing header names and listed fields).
 *
 * Every divergence pushed is also counted by its `signature`, capacity 0 or not: up to
 * `max_signatures` kinds are tracked, each with its first `max_exemplars` entries; divergences of
 * further kinds are only counted in `untracked_signatures()`. Every member may be called from any
 * thread; each takes one short lock.
 */
class DivergenceLog {
 public:
  /// The capacity of a default-constructed log.
  static constexpr std::size_t default_capacity = 128;
  /// How many bytes of a request key an entry keeps, after redaction.
  static constexpr std::size_t max_key_bytes = 256;
  /// How many bytes at the start of a request key are read to redact it.
  /**
   * Bounds the work a huge key costs. A long value (a cookie of several kilobytes) is redacted
   * to a few bytes, so the lines after it still fill the `max_key_bytes` kept when they start in
   * the first `key_scan_bytes`.
   */
  static constexpr std::size_t key_scan_bytes = 8192;
  /// How many kinds of divergence are counted by signature.
  static constexpr std::size_t max_signatures = 128;
  /// How many examples each signature keeps.
  static constexpr std::size_t max_exemplars = 3;

  /// Make a log that keeps the `capacity` most recent divergences, redacting the values of these
  /// headers (case-insensitive) in the keys.
  explicit DivergenceLog(std::size_t capacity = default_capacity,
                         std::vector<std::string> redacted_headers = default_redacted_headers())
      : capacity_(capacity), redacted_(std::move(redacted_headers)) {
    entries_.reserve(std::min<std::size_t>(capacity, default_capacity));
  }

  /// The header names whose values are redacted in keys.
  [[nodiscard]] const std::vector<std::string>& redacted_headers() const noexcept {
    return redacted_;
  }

  /// Record a divergence for the request with this key, dropping the oldest entry when full.
  void push(std::span<const std::byte> key, Divergence divergence) {
    const std::string_view text(reinterpret_cast<const char*>(key.data()), key.size());
    std::string excerpt;
    bool truncated = false;
    if (redacted_.empty()) {
      excerpt = text.substr(0, max_key_bytes);
      truncated = text.size() > max_key_bytes;
    } else {
      const std::string_view scanned = text.substr(0, key_scan_bytes);
      excerpt = detail::redact_header_values(scanned, redacted_, max_key_bytes);
      truncated = scanned.size() < text.size() || excerpt.size() > max_key_bytes;
      if (excerpt.size() > max_key_bytes) excerpt.resize(max_key_bytes);
    }
    DivergenceSignature sig = signature(divergence);
    DivergenceEntry entry{
        std::move(excerpt),    key.size(),    truncated, std::chrono::system_clock::now(),
        std::move(divergence), std::move(sig)};
    std::lock_guard lock(mutex_);
    ++total_;
    count_signature(entry);
    if (capacity_ == 0) return;
    if (entries_.size() < capacity_) {
      entries_.push_back(std::move(entry));
    } else {
      entries_[next_] = std::move(entry);
      next_ = (next_ + 1) % capacity_;
    }
  }

  /// Record a divergence for the request with this text key.
  void push(std::string_view key, Divergence divergence) {
    push(std::as_bytes(std::span(key.data(), key.size())), std::move(divergence));
  }

  /// A copy of the entries, oldest first.
  [[nodiscard]] std::vector<DivergenceEntry> snapshot() const {
    std::lock_guard lock(mutex_);
    std::vector<DivergenceEntry> out;
    out.reserve(entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      out.push_back(entries_[(next_ + i) % entries_.size()]);
    }
    return out;
  }

  /// The number of entries held now (at most `capacity()`).
  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

  /// The most entries this log holds.
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  /// The kinds of divergence seen, most frequent first (ties: the first seen first).
  [[nodiscard]] std::vector<SignatureCount> signatures() const {
    std::vector<SignatureCount> out;
    {
      std::lock_guard lock(mutex_);
      out = signatures_;
    }
    std::stable_sort(out.begin(), out.end(), [](const SignatureCount& a, const SignatureCount& b) {
      return a.count > b.count;
    });
    return out;
  }

  /// Divergences of kinds seen after `max_signatures` kinds were already tracked.
  [[nodiscard]] std::uint64_t untracked_signatures() const {
    std::lock_guard lock(mutex_);
    return untracked_;
  }

  /// How many divergences were ever pushed, including dropped ones.
  [[nodiscard]] std::uint64_t total_pushed() const {
    std::lock_guard lock(mutex_);
    return total_;
  }

 private:
  // Under the lock.
  void count_signature(const DivergenceEntry& entry) {
    auto it =
        std::find_if(signatures_.begin(), signatures_.end(), [&entry](const SignatureCount& c) {
          return c.signature.id == entry.signature.id && c.signature.text == entry.signature.text;
        });
    if (it == signatures_.end()) {
      if (signatures_.size() >= max_signatures) {
        ++untracked_;
        return;
      }
      it = signatures_.insert(signatures_.end(), SignatureCount{entry.signature, 0, {}, {}});
    }
    ++it->count;
    it->last_seen = entry.at;
    if (it->exemplars.size() < max_exemplars) it->exemplars.push_back(entry);
  }

  mutable std::mutex mutex_;
  const std::size_t capacity_;
  const std::vector<std::string> redacted_;
  std::vector<DivergenceEntry> entries_;
  std::size_t next_ = 0;  // oldest entry once the buffer is full
  std::uint64_t total_ = 0;
  std::vector<SignatureCount> signatures_;  // in the order first seen
  std::uint64_t untracked_ = 0;
};

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_LOG_HPP
