// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DIVERGENCE_HPP
#define REQUEST_SHADOW_DIVERGENCE_HPP

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <request_shadow/body_comparator.hpp>
#include <request_shadow/config.hpp>
#include <request_shadow/detail/flavour.hpp>
#include <request_shadow/pointer.hpp>
#include <request_shadow/response_record.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

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
  /// Where the comparator compared otherwise than its rules ask, and why (see
  /// `BodyComparison::notes`); empty normally.
  std::vector<std::string> notes{};

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

// Whether `a` and `b` are the same bytes. Up to 16 bytes (a header name or value, usually) are
// compared inline with two overlapping loads a side: a call to `memcmp` for each of the four to
// eight short strings of a header walk cost more than the walk itself.
inline bool bytes_equal(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  const char* x = a.data();
  const char* y = b.data();
  const auto same = [x, y](std::size_t at, auto word) {
    decltype(word) u{};
    decltype(word) v{};
    std::memcpy(&u, x + at, sizeof u);
    std::memcpy(&v, y + at, sizeof v);
    return u == v;
  };
  if (n >= 8) {
    if (n > 16) return std::memcmp(x, y, n) == 0;
    return same(0, std::uint64_t{}) && same(n - 8, std::uint64_t{});
  }
  if (n >= 4) return same(0, std::uint32_t{}) && same(n - 4, std::uint32_t{});
  return n == 0 || (x[0] == y[0] && x[n / 2] == y[n / 2] && x[n - 1] == y[n - 1]);
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
      diff.notes = std::move(found.notes);
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
  auto it = first + 1;
  while (it != last && bytes_equal(it->name, first->name)) ++it;
  return it;
}

// Call `note(&HeaderDiff::removed, name)` (or `added`, `changed`) for each difference whose name
// is not in `ignored` (lower-cased names, sorted) nor, unless `framing`, a framing header, in
// name order, until `note` returns true. Returns whether it stopped early. Walks both sorted
// lists once, comparing each name once.
template <class Note>
inline bool walk_header_diffs(const Headers& primary, const Headers& shadow,
                              const std::vector<std::string>& ignored, bool framing, Note&& note) {
  const auto noted = [&](std::vector<std::string> HeaderDiff::*list, const std::string& name) {
    if (!framing && is_framing_header(name)) return false;
    if (!ignored.empty() && std::binary_search(ignored.begin(), ignored.end(), name)) return false;
    return note(list, name);
  };
  auto p = primary.begin();
  auto s = shadow.begin();
  const auto p_last = primary.end();
  const auto s_last = shadow.end();
  // The usual case first: the same names in the same order, as two builds of one service send
  // them. Then the runs of each name line up, and a name is changed where a value differs. One
  // pass compares names and values side by side; no name is compared with its neighbour unless
  // a value differs.
  if (primary.size() == shadow.size()) {
    auto differs = p_last;  // the first field whose value differs
    for (; p != p_last; ++p, ++s) {
      if (!bytes_equal(p->name, s->name)) break;
      if (differs == p_last && !bytes_equal(p->value, s->value)) differs = p;
    }
    if (p == p_last) {
      if (differs == p_last) return false;
      // Run by run from the first difference (the fields before it in its run are equal).
      p = differs;
      s = shadow.begin() + (p - primary.begin());
      while (p != p_last) {
        const auto p_end = group_end(p, p_last);
        const auto s_end = s + (p_end - p);
        const bool same = std::equal(p, p_end, s, [](const Header& a, const Header& b) {
          return bytes_equal(a.value, b.value);
        });
        if (!same && noted(&HeaderDiff::changed, p->name)) return true;
        p = p_end;
        s = s_end;
      }
      return false;
    }
    p = primary.begin();
    s = shadow.begin();
  }
  while (p != p_last || s != s_last) {
    const int order = s == s_last                     ? -1
                      : p == p_last                   ? 1
                      : bytes_equal(p->name, s->name) ? 0
                                                      : p->name.compare(s->name);
    if (order < 0) {
      if (noted(&HeaderDiff::removed, p->name)) return true;
      p = group_end(p, p_last);
    } else if (order > 0) {
      if (noted(&HeaderDiff::added, s->name)) return true;
      s = group_end(s, s_last);
    } else {
      const auto p_end = group_end(p, p_last);
      const auto s_end = group_end(s, s_last);
      const bool same = std::equal(p, p_end, s, s_end, [](const Header& a, const Header& b) {
        return bytes_equal(a.value, b.value);
      });
      if (!same && noted(&HeaderDiff::changed, p->name)) return true;
      p = p_end;
      s = s_end;
    }
  }
  return false;
}

// Converts to what `make()` returns, which then initializes its destination directly (C++17
// guaranteed copy elision through a conversion function): a way to build an aggregate's member
// in place when the aggregate itself is built by `std::optional`'s in-place constructor.
template <class Make>
struct BuiltInPlace {
  Make make;
  // NOLINTNEXTLINE(google-explicit-constructor): implicit on purpose, see above.
  operator std::invoke_result_t<const Make&>() const { return make(); }
};

// Written out for compilers without deduction for aggregates (clang before 17).
template <class Make>
BuiltInPlace(Make) -> BuiltInPlace<Make>;

// The first differences a header walk found, noted without allocating: enough for any real
// pair of responses; past that, `more` asks for a second walk.
struct HeaderDiffSites {
  struct Site {
    std::vector<std::string> HeaderDiff::*list;
    const std::string* name;
  };
  static constexpr std::size_t capacity = 8;
  std::array<Site, capacity> sites;  // the first `count` are set
  std::size_t count = 0;
  bool more = false;
};

// Note the differences between the headers in `found`.
inline void find_header_diffs(const Headers& primary, const Headers& shadow,
                              const std::vector<std::string>& ignored, bool framing,
                              HeaderDiffSites& found) {
  walk_header_diffs(primary, shadow, ignored, framing,
                    [&found](std::vector<std::string> HeaderDiff::*list, const std::string& name) {
                      if (found.count == found.sites.size()) {
                        found.more = true;
                        return true;
                      }
                      found.sites[found.count++] = {list, &name};
                      return false;
                    });
}

// List in `diff` the differences `found` noted, walking the headers again if it missed some.
inline void list_header_diffs(const Headers& primary, const Headers& shadow,
                              const std::vector<std::string>& ignored, bool framing,
                              const HeaderDiffSites& found, HeaderDiff& diff) {
  if (found.more) {
    walk_header_diffs(primary, shadow, ignored, framing,
                      [&diff](std::vector<std::string> HeaderDiff::*list, const std::string& name) {
                        (diff.*list).push_back(name);
                        return false;
                      });
    return;
  }
  // Each list allocated once, at its exact size.
  std::size_t added = 0;
  std::size_t removed = 0;
  for (std::size_t i = 0; i < found.count; ++i) {
    if (found.sites[i].list == &HeaderDiff::added) ++added;
    if (found.sites[i].list == &HeaderDiff::removed) ++removed;
  }
  if (added > 0) diff.added.reserve(added);
  if (removed > 0) diff.removed.reserve(removed);
  if (found.count > added + removed) diff.changed.reserve(found.count - added - removed);
  for (std::size_t i = 0; i < found.count; ++i) {
    (diff.*found.sites[i].list).emplace_back(*found.sites[i].name);
  }
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
   * Headers are compared by name, case-insensitively, each name's values in order; the
   * `ShadowConfig::framing_headers()` (`content-length`, `transfer-encoding`, ...) are left out
   * unless `config.compare_framing_headers()`. Linear in the body and header sizes. Bodies go
   * through the config's normalizers, then are compared with `memcmp`, so any bytes of any length
   * are fine; bodies that differ are then read by the first of the config's body comparators that
   * applies, if any, which decides whether they really differ. Allocates only when something
   * differs (or to normalize). Never throws for what the responses hold: a normalizer or comparator
   * that fails leaves a byte comparison with `BodyDiff::fallback` set.
   */
  [[nodiscard]] static std::optional<Divergence> compare(const ResponseRecord& primary,
                                                         const ResponseRecord& shadow,
                                                         const ShadowConfig& config = {}) {
    return compare(primary, shadow, config, config.ignored_headers(), config.ignored_pointers());
  }

  /// Compare with these ignored headers (lower-cased, sorted) and pointer patterns in place of
  /// the config's own; a `Shadower` passes the config's plus the noise it learned.
  /**
   * Everything else, the framing headers' rule included, comes from `config`.
   */
  [[nodiscard]] static std::optional<Divergence> compare(
      const ResponseRecord& primary, const ResponseRecord& shadow, const ShadowConfig& config,
      const std::vector<std::string>& ignored_headers, const PointerPatterns& ignored_pointers) {
    // Which parts differ first, without allocating; the Divergence only once one does, built
    // in place. (Each part built on its own and moved in cost a quarter of an equal 4 KB
    // compare: g++ 12 zero-fills a named `std::optional` of a class, and reading back what a
    // callee wrote field by field stalls store forwarding.)
    const bool status_differs = !config.ignores(IgnoreField::Status) &&
                                (primary.status != shadow.status || primary.ok != shadow.ok);
    detail::HeaderDiffSites header_diffs;
    if (!config.ignores(IgnoreField::Headers)) {
      detail::find_header_diffs(primary.headers, shadow.headers, ignored_headers,
                                config.compare_framing_headers(), header_diffs);
    }
    // Equal bytes are equal bodies, whatever a normalizer would make of them.
    const bool bytes_differ =
        !config.ignores(IgnoreField::Body) && !detail::bytes_equal(primary.body, shadow.body);
    if (!status_differs && header_diffs.count == 0 && !bytes_differ) return std::nullopt;
    return diverged(primary, shadow, config, ignored_headers, ignored_pointers, status_differs,
                    header_diffs, bytes_differ);
  }

  friend bool operator==(const Divergence&, const Divergence&) = default;

 private:
  // The divergence once something differs; none if the only difference was bodies that a
  // comparator found equal. The result is built where it is returned, never moved: a named
  // `std::optional<Divergence>` costs a 288-byte clear with g++ 12, and moving a `HeaderDiff`
  // just filled stalls on reading back its vectors (together a sixth of the whole compare).
  static std::optional<Divergence> diverged(
      const ResponseRecord& primary, const ResponseRecord& shadow, const ShadowConfig& config,
      const std::vector<std::string>& ignored_headers, const PointerPatterns& ignored_pointers,
      bool status_differs, const detail::HeaderDiffSites& header_diffs, bool bytes_differ) {
    const detail::BuiltInPlace headers{[&] {
      std::optional<HeaderDiff> diff;
      if (header_diffs.count > 0) {
        detail::list_header_diffs(primary.headers, shadow.headers, ignored_headers,
                                  config.compare_framing_headers(), header_diffs, diff.emplace());
      }
      return diff;
    }};
    // The status goes in as it is, a StatusDiff or nullopt: a `std::optional<StatusDiff>` built
    // first is assembled field by field in memory and read back whole, which stalls.
    const auto build = [&headers](auto&& status_diff, auto&& body_diff) {
      return std::optional<Divergence>(std::in_place,
                                       std::forward<decltype(status_diff)>(status_diff), headers,
                                       std::forward<decltype(body_diff)>(body_diff));
    };
    const auto status = [&primary, &shadow] {
      return StatusDiff{primary.status, shadow.status, primary.ok, shadow.ok};
    };
    if (!bytes_differ) {
      return status_differs ? build(status(), std::nullopt) : build(std::nullopt, std::nullopt);
    }
    std::optional<BodyDiff> body = compare_bodies(primary, shadow, config, ignored_pointers);
    if (!status_differs && header_diffs.count == 0 && !body) return std::nullopt;
    return status_differs ? build(status(), std::move(body)) : build(std::nullopt, std::move(body));
  }

  static std::optional<BodyDiff> compare_bodies(const ResponseRecord& primary,
                                                const ResponseRecord& shadow,
                                                const ShadowConfig& config,
                                                const PointerPatterns& ignored) {
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
    for (const std::string& note : d.body->notes) out += " (" + note + ")";
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

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DIVERGENCE_HPP
