// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DIVERGENCE_HPP
#define REQUEST_SHADOW_DIVERGENCE_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <request_shadow/body_comparator.hpp>
#include <request_shadow/config.hpp>
#include <request_shadow/pointer.hpp>
#include <request_shadow/response_record.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace request_shadow {

/// How the status differs: the primary's and the shadow's status code and success flag.
struct StatusDiff {
  /// The primary's status code.
  std::uint16_t primary = 0;
  /// The shadow's status code.
  std::uint16_t shadow = 0;
  /// The primary's `ok` flag.
  bool primary_ok = true;
  /// The shadow's `ok` flag.
  bool shadow_ok = true;

  friend bool operator==(const StatusDiff&, const StatusDiff&) = default;
};

/// How the headers differ, by lower-cased name, each list sorted.
struct HeaderDiff {
  /// Names only the shadow sent.
  std::vector<std::string> added;
  /// Names only the primary sent.
  std::vector<std::string> removed;
  /// Names both sent with different values (or a different number or order of values).
  std::vector<std::string> changed;

  friend bool operator==(const HeaderDiff&, const HeaderDiff&) = default;
};

/// How the bodies differ: both lengths, how many leading bytes are equal, and, when a body
/// comparator read them, each difference by JSON Pointer.
/**
 * The lengths and excerpts describe the bodies as compared, that is after any normalizer.
 */
struct BodyDiff {
  /// The primary body's length in bytes.
  std::size_t primary_len = 0;
  /// The shadow body's length in bytes.
  std::size_t shadow_len = 0;
  /// The length of the longest common prefix; the first difference is at this offset.
  std::size_t prefix_equal_bytes = 0;
  /// Up to 16 bytes before and 48 from the first difference in the primary's body, printable:
  /// `\\`, `\n`, `\r`, `\t` and `\xNN` escapes, `...` where the body goes on.
  std::string primary_excerpt;
  /// The same window of the shadow's body.
  std::string shadow_excerpt;
  /// The body comparator that read both bodies (`json`, say); empty for a byte comparison.
  std::string format;
  /// What the comparator found, by pointer; empty for a byte comparison.
  std::vector<FieldDiff> fields;
  /// The comparator found more differences than `fields` lists.
  bool fields_truncated = false;
  /// Why this is a byte comparison although a comparator or normalizer applied (a body that is
  /// not valid JSON, say); empty otherwise.
  std::string fallback;

  friend bool operator==(const BodyDiff&, const BodyDiff&) = default;
};

namespace detail {

// Length of the common prefix: memcmp over blocks, then bytes inside the first unequal block.
inline std::size_t common_prefix(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = std::min(a.size(), b.size());
  constexpr std::size_t block = 64;
  std::size_t i = 0;
  while (i + block <= n && std::memcmp(a.data() + i, b.data() + i, block) == 0) i += block;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// A printable window of `body` around offset `at`: 16 bytes before, 48 from it.
inline std::string excerpt(std::string_view body, std::size_t at) {
  constexpr std::size_t before = 16;
  constexpr std::size_t after = 48;
  const std::size_t start = at > before ? at - before : 0;
  const std::size_t end = std::min(body.size(), at + after);
  std::string out;
  out.reserve(4 * (end - start) + 6);
  if (start > 0) out += "...";
  append_printable(out, body.substr(start, end - start));
  if (end < body.size()) out += "...";
  return out;
}

inline bool bytes_equal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

// The text of an exception, for reports.
inline std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

// Run the normalizers on both bodies, in order. A normalizer that throws on either side is
// skipped (both sides keep what the previous ones made of them) and `fallback` says so.
inline void normalize(const std::vector<BodyNormalizer>& normalizers, std::string_view& a,
                      std::string_view& b, std::string& na, std::string& nb,
                      std::string& fallback) {
  try {
    std::string x(a);
    std::string y(b);
    for (std::size_t i = 0; i < normalizers.size(); ++i) {
      try {
        std::string nx = normalizers[i](x);
        std::string ny = normalizers[i](y);
        x = std::move(nx);
        y = std::move(ny);
      } catch (...) {
        if (!fallback.empty()) fallback += "; ";
        fallback += "normalizer " + std::to_string(i + 1) + " of " +
                    std::to_string(normalizers.size()) +
                    " failed: " + what_of(std::current_exception());
      }
    }
    na = std::move(x);
    nb = std::move(y);
    a = na;
    b = nb;
  } catch (...) {  // out of memory: compare the raw bodies
    fallback = "normalizers not applied: " + what_of(std::current_exception());
  }
}

// Whether `ignored` drops this difference: a pattern covers it, or it is a change of value at a
// value place.
inline bool ignored_field(const PointerPatterns& ignored, const FieldDiff& f) {
  return f.change == FieldChange::Changed ? ignored.ignores_value_change(f.pointer)
                                          : ignored.matches(f.pointer);
}

// Let the first comparator that applies read two byte-unequal bodies; false when it finds them
// equal. A comparator whose `applies` or `compare` throws leaves `diff` a byte diff and says
// why in `fallback`: which comparator would have read the bodies is then unknown.
inline bool compare_structured(const std::vector<BodyComparator>& comparators,
                               const ResponseRecord& primary, const ResponseRecord& shadow,
                               std::string_view a, std::string_view b,
                               const PointerPatterns& ignored, BodyDiff& diff) {
  const auto failed = [&diff](const BodyComparator& c, std::string_view what) {
    if (!diff.fallback.empty()) diff.fallback += "; ";
    diff.fallback += c.name;
    diff.fallback += ": ";
    diff.fallback += what;
    diff.fallback += what_of(std::current_exception());
  };
  for (const auto& c : comparators) {
    bool applies = false;
    try {
      applies = !c.applies || c.applies(primary, shadow);
    } catch (...) {
      failed(c, "applies failed: ");
      return true;
    }
    if (!applies || !c.compare) continue;
    try {
      BodyComparison found = c.compare(a, b, ignored);
      for (const FieldDiff& f : found.fields) {
        if (!is_pointer(f.pointer)) {
          throw std::invalid_argument("reported \"" + value_excerpt(f.pointer, 48) +
                                      "\", not a JSON Pointer (one starts with '/')");
        }
      }
      if (!ignored.empty()) {
        std::erase_if(found.fields,
                      [&ignored](const FieldDiff& f) { return ignored_field(ignored, f); });
      }
      if (found.fields.empty() && !found.truncated) return false;
      diff.format = c.name;
      diff.fields = std::move(found.fields);
      diff.fields_truncated = found.truncated;
    } catch (...) {
      failed(c, "");
    }
    return true;
  }
  return true;
}

// End of the run of fields that share `first`'s name.
inline Headers::const_iterator group_end(Headers::const_iterator first,
                                         Headers::const_iterator last) noexcept {
  auto it = first;
  while (it != last && it->name == first->name) ++it;
  return it;
}

// `ignored` holds lower-cased names, sorted.
inline std::optional<HeaderDiff> diff_headers(const Headers& primary, const Headers& shadow,
                                              const std::vector<std::string>& ignored) {
  std::optional<HeaderDiff> diff;
  auto note = [&diff, &ignored](std::vector<std::string> HeaderDiff::*list,
                                const std::string& name) {
    if (!ignored.empty() && std::binary_search(ignored.begin(), ignored.end(), name)) return;
    if (!diff) diff.emplace();
    ((*diff).*list).push_back(name);
  };
  auto p = primary.begin();
  auto s = shadow.begin();
  while (p != primary.end() || s != shadow.end()) {
    if (s == shadow.end() || (p != primary.end() && p->name < s->name)) {
      note(&HeaderDiff::removed, p->name);
      p = group_end(p, primary.end());
    } else if (p == primary.end() || s->name < p->name) {
      note(&HeaderDiff::added, s->name);
      s = group_end(s, shadow.end());
    } else {
      const auto p_end = group_end(p, primary.end());
      const auto s_end = group_end(s, shadow.end());
      const bool same = std::equal(
          p, p_end, s, s_end, [](const Header& a, const Header& b) { return a.value == b.value; });
      if (!same) note(&HeaderDiff::changed, p->name);
      p = p_end;
      s = s_end;
    }
  }
  return diff;
}

}  // namespace detail

/// A structured difference between the primary's and the shadow's response.
/**
 * Each part is empty when that aspect matches or is ignored by the config. A `Divergence` is
 * only ever produced when at least one part is set.
 */
struct Divergence {
  /// Set when `ok` or the status code differ.
  std::optional<StatusDiff> status;
  /// Set when a header was added, removed or changed.
  std::optional<HeaderDiff> headers;
  /// Set when the bodies differ.
  std::optional<BodyDiff> body;

  /// Compare two responses; `std::nullopt` when every aspect not ignored by `config` matches.
  /**
   * Linear in the body and header sizes. Bodies go through the config's normalizers, then are
   * compared with `memcmp`, so any bytes of any length are fine; bodies that differ are then
   * read by the first of the config's body comparators that applies, if any, which decides
   * whether they really differ. Allocates only when something differs (or to normalize). Never
   * throws for what the responses hold: a normalizer or comparator that fails leaves a byte
   * comparison with `BodyDiff::fallback` set.
   */
  [[nodiscard]] static std::optional<Divergence> compare(const ResponseRecord& primary,
                                                         const ResponseRecord& shadow,
                                                         const ShadowConfig& config = {}) {
    return compare(primary, shadow, config, config.ignored_headers(), config.ignored_pointers());
  }

  /// Compare with these ignored headers (lower-cased, sorted) and pointer patterns in place of
  /// the config's own; a `Shadower` passes the config's plus the noise it learned.
  [[nodiscard]] static std::optional<Divergence> compare(
      const ResponseRecord& primary, const ResponseRecord& shadow, const ShadowConfig& config,
      const std::vector<std::string>& ignored_headers, const PointerPatterns& ignored_pointers) {
    Divergence d;
    if (!config.ignores(IgnoreField::Status) &&
        (primary.status != shadow.status || primary.ok != shadow.ok)) {
      d.status = StatusDiff{primary.status, shadow.status, primary.ok, shadow.ok};
    }
    if (!config.ignores(IgnoreField::Headers))
      d.headers = detail::diff_headers(primary.headers, shadow.headers, ignored_headers);
    if (!config.ignores(IgnoreField::Body))
      d.body = compare_bodies(primary, shadow, config, ignored_pointers);
    if (!d.status && !d.headers && !d.body) return std::nullopt;
    return d;
  }

  friend bool operator==(const Divergence&, const Divergence&) = default;

 private:
  static std::optional<BodyDiff> compare_bodies(const ResponseRecord& primary,
                                                const ResponseRecord& shadow,
                                                const ShadowConfig& config,
                                                const PointerPatterns& ignored) {
    // Equal bytes are equal bodies, whatever a normalizer would make of them.
    if (detail::bytes_equal(primary.body, shadow.body)) return std::nullopt;
    if (config.body_normalizers().empty()) {
      return diff_bodies(primary, shadow, config, ignored, primary.body, shadow.body, {});
    }
    std::string_view a = primary.body;
    std::string_view b = shadow.body;
    std::string normalized_a;
    std::string normalized_b;
    std::string fallback;
    detail::normalize(config.body_normalizers(), a, b, normalized_a, normalized_b, fallback);
    if (detail::bytes_equal(a, b)) return std::nullopt;
    return diff_bodies(primary, shadow, config, ignored, a, b, std::move(fallback));
  }

  // Bodies `a` and `b` (as compared) are not byte-equal.
  static std::optional<BodyDiff> diff_bodies(const ResponseRecord& primary,
                                             const ResponseRecord& shadow,
                                             const ShadowConfig& config,
                                             const PointerPatterns& ignored, std::string_view a,
                                             std::string_view b, std::string fallback) {
    const std::size_t prefix = detail::common_prefix(a, b);
    BodyDiff diff;
    diff.primary_len = a.size();
    diff.shadow_len = b.size();
    diff.prefix_equal_bytes = prefix;
    diff.primary_excerpt = detail::excerpt(a, prefix);
    diff.shadow_excerpt = detail::excerpt(b, prefix);
    diff.fallback = std::move(fallback);
    if (!config.body_comparators().empty() &&
        !detail::compare_structured(config.body_comparators(), primary, shadow, a, b, ignored,
                                    diff)) {
      return std::nullopt;
    }
    return diff;
  }
};

namespace detail {
// `status 200->500(!ok)`: both statuses, each marked when its response was not ok.
inline void append_status(std::string& out, const StatusDiff& status) {
  out += "status " + std::to_string(status.primary) + (status.primary_ok ? "" : "(!ok)") + "->" +
         std::to_string(status.shadow) + (status.shadow_ok ? "" : "(!ok)");
}
}  // namespace detail

/// A one-line, human-readable summary of a divergence.
/**
 * For example `status 200->500; headers added [x-v2] changed [content-type]; body 11 vs 11
 * bytes, equal for 6`.
 */
[[nodiscard]] inline std::string to_string(const Divergence& d) {
  std::string out;
  auto sep = [&out] {
    if (!out.empty()) out += "; ";
  };
  if (d.status) {
    sep();
    detail::append_status(out, *d.status);
  }
  if (d.headers) {
    sep();
    out += "headers";
    auto list = [&out](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      out += ' ';
      out += what;
      out += " [";
      for (std::size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : ", ") + names[i];
      out += ']';
    };
    list("added", d.headers->added);
    list("removed", d.headers->removed);
    list("changed", d.headers->changed);
  }
  if (d.body) {
    sep();
    out += "body " + std::to_string(d.body->primary_len) + " vs " +
           std::to_string(d.body->shadow_len) + " bytes, equal for " +
           std::to_string(d.body->prefix_equal_bytes);
    if (!d.body->fields.empty()) {
      out += "; " + d.body->format + ":";
      for (std::size_t i = 0; i < d.body->fields.size(); ++i) {
        const FieldDiff& f = d.body->fields[i];
        out += (i == 0 ? " " : ", ") + (f.pointer.empty() ? std::string("(root)") : f.pointer) +
               ' ' + std::string(to_string(f.change));
      }
      if (d.body->fields_truncated) out += ", ...";
    }
    if (!d.body->fallback.empty()) out += " (fallback: " + d.body->fallback + ")";
  }
  return out;
}

/// A stable fingerprint of a kind of divergence: which aspects differ and where, not the values.
/**
 * Divergences with the same signature are the same problem seen on different requests, so an
 * operator can read "3 kinds of divergence, 97% of them `/tier added`" instead of every entry.
 */
struct DivergenceSignature {
  /// The 64-bit FNV-1a hash of `text`: the same on every platform, run and version of the data.
  std::uint64_t id = 0;
  /// The canonical description, e.g. `status 200->500; headers +x-v2 ~content-type; body json
  /// /items/*/price changed, /tier added`. Header names are sorted; a body read by a comparator
  /// lists its pointers with digit-only tokens folded to `*` (see `fold_indices`), sorted and
  /// without repeats (`body json unlisted` when it found differences but listed none, all of
  /// them past its cap or ignored); other bodies are `body bytes`.
  std::string text;

  /// `id` as 16 lower-case hexadecimal digits.
  [[nodiscard]] std::string hex() const {
    constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (std::size_t i = 0; i < 16; ++i) out[15 - i] = digits[(id >> (4 * i)) & 0xfU];
    return out;
  }

  friend bool operator==(const DivergenceSignature&, const DivergenceSignature&) = default;
};

/// The signature of a divergence; see `DivergenceSignature`.
[[nodiscard]] inline DivergenceSignature signature(const Divergence& d) {
  DivergenceSignature sig;
  std::string& out = sig.text;
  auto sep = [&out] {
    if (!out.empty()) out += "; ";
  };
  if (d.status) {
    sep();
    detail::append_status(out, *d.status);
  }
  if (d.headers) {
    sep();
    out += "headers";
    auto names = [&out](char mark, const std::vector<std::string>& list) {
      for (const auto& n : list) {
        out += ' ';
        out += mark;
        out += n;
      }
    };
    names('+', d.headers->added);
    names('-', d.headers->removed);
    names('~', d.headers->changed);
  }
  if (d.body) {
    sep();
    if (d.body->fields.empty()) {
      out += d.body->format.empty() ? std::string("body bytes")
                                    : "body " + d.body->format + " unlisted";
    } else {
      std::vector<std::string> sites;
      sites.reserve(d.body->fields.size());
      for (const auto& f : d.body->fields) {
        sites.push_back(fold_indices(f.pointer) + ' ' + std::string(to_string(f.change)));
      }
      std::sort(sites.begin(), sites.end());
      sites.erase(std::unique(sites.begin(), sites.end()), sites.end());
      out += "body " + d.body->format;
      for (std::size_t i = 0; i < sites.size(); ++i) out += (i == 0 ? " " : ", ") + sites[i];
      if (d.body->fields_truncated) out += ", ...";
    }
  }
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, 64 bits
  for (const char c : out) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  sig.id = h;
  return sig;
}

}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DIVERGENCE_HPP
