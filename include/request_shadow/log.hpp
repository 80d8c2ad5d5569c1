// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_LOG_HPP
#define REQUEST_SHADOW_LOG_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <request_shadow/divergence.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace request_shadow {

/// The header names whose values a `DivergenceLog` redacts by default.
[[nodiscard]] inline std::vector<std::string> default_redacted_headers() {
  return {"authorization", "proxy-authorization", "cookie", "set-cookie"};
}

namespace detail {

// Replace the value of every `Name: value` line whose name is in `names` (case-insensitive) with
// "[redacted]", as it appears in a request written as HTTP/1 text: lines end at LF or CR, a line
// that starts with a space or a tab continues the previous one (and is redacted with it), and a
// value cut off at the end of the text is redacted too.
inline std::string redact_header_values(std::string_view text,
                                        const std::vector<std::string>& names) {
  std::string out;
  out.reserve(text.size());
  bool redacting = false;  // the last header line was redacted: its continuations are too
  std::size_t line = 0;
  for (;;) {
    std::size_t end = line;
    while (end < text.size() && text[end] != '\n' && text[end] != '\r') ++end;
    const std::string_view current = text.substr(line, end - line);
    if (!current.empty() && (current.front() == ' ' || current.front() == '\t')) {
      out += redacting ? std::string_view(" [redacted]") : current;
    } else if (!current.empty()) {
      redacting = false;
      const std::size_t colon = current.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = current.substr(0, colon);
        while (!name.empty() && (name.front() == ' ' || name.front() == '\t'))
          name.remove_prefix(1);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
        for (const auto& n : names) {
          if (ascii_iequals(name, n)) {
            redacting = true;
            break;
          }
        }
      }
      if (redacting) {
        out.append(current.substr(0, colon + 1));
        out += " [redacted]";
      } else {
        out.append(current);
      }
    }
    if (end == text.size()) break;
    out += text[end];
    line = end + 1;
  }
  return out;
}

}  // namespace detail

/// One logged divergence: when, for which request key, and what differed.
struct DivergenceEntry {
  /// The first `DivergenceLog::max_key_bytes` bytes of the request key.
  std::string key;
  /// The full length of the request key; larger than `key.size()` when it was capped.
  std::size_t key_size = 0;
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
 * Nothing sensitive is kept: an entry holds header names but never header values, its key is
 * capped at `max_key_bytes`, and in the key (a request written as HTTP/1 text, say) the values of
 * `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie` lines, or of the names given
 * at construction, are replaced with `[redacted]`.
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
  /// How many bytes of a request key an entry keeps.
  static constexpr std::size_t max_key_bytes = 256;
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
    const std::size_t kept = std::min(key.size(), max_key_bytes);
    std::string excerpt =
        redacted_.empty()
            ? std::string(reinterpret_cast<const char*>(key.data()), kept)
            : detail::redact_header_values(
                  std::string_view(reinterpret_cast<const char*>(key.data()), kept), redacted_);
    DivergenceSignature sig = signature(divergence);
    DivergenceEntry entry{std::move(excerpt), key.size(), std::chrono::system_clock::now(),
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

}  // namespace request_shadow

#endif  // REQUEST_SHADOW_LOG_HPP
