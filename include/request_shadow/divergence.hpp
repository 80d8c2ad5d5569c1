// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DIVERGENCE_HPP
#define REQUEST_SHADOW_DIVERGENCE_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <request_shadow/config.hpp>
#include <request_shadow/response_record.hpp>
#include <string>
#include <string_view>
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

/// How the bodies differ: both lengths and how many leading bytes are equal.
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
  constexpr char hex[] = "0123456789abcdef";
  const std::size_t start = at > before ? at - before : 0;
  const std::size_t end = std::min(body.size(), at + after);
  std::string out;
  out.reserve(4 * (end - start) + 6);
  if (start > 0) out += "...";
  for (std::size_t i = start; i < end; ++i) {
    const auto c = static_cast<unsigned char>(body[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += hex[c >> 4U];
      out += hex[c & 0x0fU];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (end < body.size()) out += "...";
  return out;
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
   * Linear in the body and header sizes; bodies are compared with `memcmp`, so any bytes of any
   * length are fine. Allocates only when something differs.
   */
  [[nodiscard]] static std::optional<Divergence> compare(const ResponseRecord& primary,
                                                         const ResponseRecord& shadow,
                                                         const ShadowConfig& config = {}) {
    Divergence d;
    if (!config.ignores(IgnoreField::Status) &&
        (primary.status != shadow.status || primary.ok != shadow.ok)) {
      d.status = StatusDiff{primary.status, shadow.status, primary.ok, shadow.ok};
    }
    if (!config.ignores(IgnoreField::Headers))
      d.headers = detail::diff_headers(primary.headers, shadow.headers, config.ignored_headers());
    if (!config.ignores(IgnoreField::Body)) {
      const std::string_view a = primary.body;
      const std::string_view b = shadow.body;
      const bool equal =
          a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
      if (!equal) {
        const std::size_t prefix = detail::common_prefix(a, b);
        d.body = BodyDiff{a.size(), b.size(), prefix, detail::excerpt(a, prefix),
                          detail::excerpt(b, prefix)};
      }
    }
    if (!d.status && !d.headers && !d.body) return std::nullopt;
    return d;
  }

  friend bool operator==(const Divergence&, const Divergence&) = default;
};

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
    out += "status " + std::to_string(d.status->primary) + (d.status->primary_ok ? "" : "(!ok)") +
           "->" + std::to_string(d.status->shadow) + (d.status->shadow_ok ? "" : "(!ok)");
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
  }
  return out;
}

}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DIVERGENCE_HPP
