// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Fuzzes `json::compare` (json.hpp) on two arbitrary bodies, with ignore patterns and options.
//
// Input: a byte for `max_differences` (its value mod 8; bit 3 set: arrays of different lengths
// are aligned, otherwise `max_aligned_items` is 0), a byte for `max_depth` (below 200: the
// default; otherwise its value minus 200), then `Input::text()` fields: the primary's body, the
// shadow's, then up to 8 ignore patterns (one that starts with `=` is the rest as a value place;
// `!u`, `!k` and `!t` make the rest an `unordered_array`, `match_array_by` `/id`, or
// `number_tolerance` 0.5 pattern).
//
// Invariants (each violation prints what broke and aborts):
// 1. `compare` throws nothing but `json::ParseError`. A side is readable when comparing it with
//    itself throws nothing; `compare(a, b)` throws exactly when a side is unreadable, and its
//    message names the primary when the primary is unreadable, otherwise the shadow.
// 2. `compare(a, a)` lists no difference and is not truncated.
// 3. Swapping the sides swaps `Added` and `Removed` and the two excerpts of each difference:
//    the lists agree as multisets (their orders differ: the primary's members come first).
//    Checked without alignment and rules, which may break ties by side.
// 4. With `max_differences` k (0 counting as 1), the list is the first k differences of the
//    uncapped list, and `truncated` is set exactly when the uncapped list is longer.
// 5. Every pointer is an RFC 6901 pointer (empty or from `/` on, `~` only in `~0` and `~1`); an
//    added value has only a shadow excerpt, a removed one only a primary excerpt, the others both;
//    an excerpt is printable ASCII, at most 48 bytes of the value's text, escaped, and `...`
//    (after the key of its pair in a `match_array_by` array: `[/id=...] `).
// 6. Ignore patterns: no listed pointer is matched by `PointerPatterns::matches`, and the
//    uncapped list with the patterns is the uncapped list without them, filtered by `matches`
//    (the walk's skipping of a value and its subtree agrees with matching each pointer). Value
//    places (`add_value_place`) may leave out a change of value at their place, nothing else.
// 7. A readable document `d` deep (the values on its deepest path: `1` and `[]` are 1, `[1]` 2)
//    is read with `max_depth` d and not with d - 1, whose `ParseError` names `max_depth`.
// 8. Each difference is where its pointer says (checked with simdjson's `at_pointer`, for
//    documents without repeated member names): an added value only in the shadow, a removed one
//    only in the primary, a changed one a scalar of one kind in both, a changed type two kinds.
//    Checked without alignment and rules, whose pairs may be at different indices.

#include <request_shadow/json.hpp>
// The header under test comes first: it must compile on its own.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"

namespace {

namespace rs = request_shadow;
namespace json = request_shadow::json;
using rs::fuzz::fail;
using rs::fuzz::require;

constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

struct Result {
  std::optional<rs::BodyComparison> found;  // nullopt: ParseError
  std::string error;
};

// The rules and alignment of the input being run.
json::Options& base_options() {
  static json::Options options;
  return options;
}

Result run(std::string_view a, std::string_view b, const rs::PointerPatterns& ignored,
           std::size_t max_differences, std::size_t max_depth) {
  json::Options options = base_options();
  options.max_differences = max_differences;
  options.max_depth = max_depth;
  Result r;
  try {
    r.found = json::compare(a, b, ignored, options);
  } catch (const json::ParseError& e) {
    r.error = e.what();
  } catch (const std::exception& e) {
    fail("json::compare throws only json::ParseError", e.what());
  } catch (...) {
    fail("json::compare throws only json::ParseError", "not a std::exception");
  }
  return r;
}

REQUEST_SHADOW_FUZZ_ORACLE std::string describe(const std::vector<rs::FieldDiff>& fields) {
  std::string out;
  for (const auto& f : fields) {
    out += f.pointer + ' ' + std::string(rs::to_string(f.change)) + " [" + f.primary + "|" +
           f.shadow + "]; ";
  }
  return out;
}

bool well_formed_pointer(std::string_view p) {
  if (!p.empty() && p.front() != '/') return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '~' && (i + 1 == p.size() || (p[i + 1] != '0' && p[i + 1] != '1'))) return false;
  }
  return true;
}

void check_fields(const std::vector<rs::FieldDiff>& fields, bool keyed) {
  constexpr std::size_t excerpt_limit = 4 * 48 + 3;
  // With a key first: `[/id=` (the member is `/id`), its excerpt, `] `.
  const std::size_t limit = keyed ? 2 * excerpt_limit + 7 : excerpt_limit;
  for (const auto& f : fields) {
    require(well_formed_pointer(f.pointer), "every pointer is an RFC 6901 pointer", f.pointer);
    for (const std::string* excerpt : {&f.primary, &f.shadow}) {
      require(excerpt->size() <= limit && std::all_of(excerpt->begin(), excerpt->end(),
                                                      [](char c) { return c >= 0x20 && c < 0x7f; }),
              "an excerpt is printable ASCII, 48 bytes of the value escaped at most", *excerpt);
    }
    const bool has_primary = !f.primary.empty();
    const bool has_shadow = !f.shadow.empty();
    switch (f.change) {
      case rs::FieldChange::Added:
        require(!has_primary && has_shadow, "an added value has only a shadow excerpt", f.pointer);
        break;
      case rs::FieldChange::Removed:
        require(has_primary && !has_shadow, "a removed value has only a primary excerpt",
                f.pointer);
        break;
      case rs::FieldChange::Changed:
      case rs::FieldChange::TypeChanged:
        require(has_primary && has_shadow, "a changed value has both excerpts", f.pointer);
        break;
    }
  }
}

using Key = std::tuple<std::string, int, std::string, std::string>;

REQUEST_SHADOW_FUZZ_ORACLE std::vector<Key> as_multiset(const std::vector<rs::FieldDiff>& fields,
                                                        bool swapped) {
  std::vector<Key> out;
  for (const auto& f : fields) {
    rs::FieldChange c = f.change;
    if (swapped && c == rs::FieldChange::Added) {
      c = rs::FieldChange::Removed;
    } else if (swapped && c == rs::FieldChange::Removed) {
      c = rs::FieldChange::Added;
    }
    out.emplace_back(f.pointer, static_cast<int>(c), swapped ? f.shadow : f.primary,
                     swapped ? f.primary : f.shadow);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The depth of a readable document as `Options::max_depth` counts it: the number of values on
// its deepest path, so `1` and `[]` are 1 deep, `[1]` and `{"a":[]}` 2.
REQUEST_SHADOW_FUZZ_ORACLE std::size_t depth_of(std::string_view doc) {
  if (doc.substr(0, 3) == "\xef\xbb\xbf") doc.remove_prefix(3);  // a byte-order mark
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::size_t depth = 0;
  std::size_t level = 0;  // open arrays and objects
  bool expect_value = true;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const char c = doc[i];
    if (space(c)) continue;
    if (c == '"') {
      ++i;
      while (i < doc.size() && doc[i] != '"') i += doc[i] == '\\' ? 2 : 1;
      std::size_t next = i + 1;
      while (next < doc.size() && space(doc[next])) ++next;
      const bool key = next < doc.size() && doc[next] == ':';
      if (!key && expect_value) depth = std::max(depth, level + 1);
      expect_value = false;
    } else if (c == '[' || c == '{') {
      depth = std::max(depth, ++level);
      expect_value = true;
    } else if (c == ']' || c == '}') {
      --level;
      expect_value = false;
    } else if (c == ',' || c == ':') {
      expect_value = true;
    } else if (expect_value) {  // a number, true, false or null
      depth = std::max(depth, level + 1);
      expect_value = false;
    }
  }
  return depth;
}

namespace dom = simdjson::dom;

// The kind a difference is told by: the three number types are one.
REQUEST_SHADOW_FUZZ_ORACLE int kind_of(dom::element e) {
  switch (e.type()) {
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return 0;
    case dom::element_type::NULL_VALUE:
      return 1;
    case dom::element_type::BOOL:
      return 2;
    case dom::element_type::STRING:
      return 3;
    case dom::element_type::ARRAY:
      return 4;
    case dom::element_type::OBJECT:
      return 5;
  }
  return 6;
}

REQUEST_SHADOW_FUZZ_ORACLE bool has_duplicate_keys(dom::element e) {
  if (e.type() == dom::element_type::ARRAY) {
    for (const dom::element item : dom::array(e)) {
      if (has_duplicate_keys(item)) return true;
    }
  } else if (e.type() == dom::element_type::OBJECT) {
    std::vector<std::string_view> keys;
    for (const dom::key_value_pair field : dom::object(e)) {
      keys.push_back(field.key);
      if (has_duplicate_keys(field.value)) return true;
    }
    std::sort(keys.begin(), keys.end());
    return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
  }
  return false;
}

// Invariant 8.
REQUEST_SHADOW_FUZZ_ORACLE void check_places(std::string_view a, std::string_view b,
                                             const std::vector<rs::FieldDiff>& fields) {
  static dom::parser primary;
  static dom::parser shadow;
  const auto strip_bom = [](std::string_view s) {
    return s.substr(0, 3) == "\xef\xbb\xbf" ? s.substr(3) : s;
  };
  const std::string pa(strip_bom(a));
  const std::string pb(strip_bom(b));
  dom::element ra;
  dom::element rb;
  if (primary.parse(pa).get(ra) || shadow.parse(pb).get(rb)) return;
  if (has_duplicate_keys(ra) || has_duplicate_keys(rb)) return;
  for (const auto& f : fields) {
    dom::element x;
    dom::element y;
    const bool in_a = !ra.at_pointer(f.pointer).get(x);
    const bool in_b = !rb.at_pointer(f.pointer).get(y);
    switch (f.change) {
      case rs::FieldChange::Added:
        require(!in_a && in_b, "an added value is only in the shadow, at its pointer", f.pointer);
        break;
      case rs::FieldChange::Removed:
        require(in_a && !in_b, "a removed value is only in the primary, at its pointer", f.pointer);
        break;
      case rs::FieldChange::Changed:
        require(in_a && in_b && kind_of(x) == kind_of(y) && kind_of(x) < 4,
                "a changed value is a scalar of one kind on both sides, at its pointer", f.pointer);
        break;
      case rs::FieldChange::TypeChanged:
        require(in_a && in_b && kind_of(x) != kind_of(y),
                "a value of a changed type has two kinds, at its pointer", f.pointer);
        break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rs::fuzz::Input in(data, size);
  const std::uint8_t max_differences_byte = in.byte();
  const std::size_t max_differences = max_differences_byte % 8U;
  const std::uint8_t depth_byte = in.byte();
  const std::size_t max_depth = depth_byte < 200 ? json::Options{}.max_depth : depth_byte - 200U;
  const std::string a = in.text();
  const std::string b = in.text();
  const bool align = (max_differences_byte & 8U) != 0;
  json::Options& options = base_options();
  options = json::Options{};
  if (!align) options.max_aligned_items = 0;
  rs::PointerPatterns ignored;
  bool keyed = false;
  for (int i = 0; i < 8 && !in.empty(); ++i) {
    const std::string p = in.text();
    const std::string_view rest = p.size() >= 2 ? std::string_view(p).substr(2) : "";
    if (p.size() >= 2 && p.front() == '!' && (rest.empty() || rest.front() == '/')) {
      if (p[1] == 'u') {
        options.unordered_array(rest);
      } else if (p[1] == 'k') {
        options.match_array_by(rest, "/id");
        keyed = true;
      } else if (p[1] == 't') {
        options.number_tolerance(rest, {.absolute = 0.5});
      }
    } else if (!p.empty() && p.front() == '=') {
      if (p.size() == 1 || p[1] == '/') ignored.add_value_place(std::string_view(p).substr(1));
    } else if (p.empty() || p.front() == '/') {
      ignored.add(p);
    }
  }
  const rs::PointerPatterns none;

  // 1 and 2: each side with itself.
  const Result aa = run(a, a, none, unlimited, max_depth);
  const Result bb = run(b, b, none, unlimited, max_depth);
  const bool a_ok = aa.found.has_value();
  const bool b_ok = bb.found.has_value();
  for (const Result* self : {&aa, &bb}) {
    if (!self->found) continue;
    require(self->found->fields.empty() && !self->found->truncated,
            "compare(a, a) lists no difference", describe(self->found->fields));
  }

  // 7. max_depth: a document d deep is read with max_depth d, not with d - 1.
  if (aa.found && a.size() < 1024) {
    const std::size_t d = depth_of(a);
    require(d <= std::clamp<std::size_t>(max_depth, 1, json::Options::deepest),
            "a document read is no deeper than max_depth", a);
    require(run(a, a, none, 1, d).found.has_value(), "a document d deep is read with max_depth d",
            a);
    if (d > 1) {
      const Result shallow = run(a, a, none, 1, d - 1);
      require(!shallow.found && shallow.error.find("max_depth") != std::string::npos,
              "a document d deep is not read with max_depth d - 1, and the reason says so", a);
    }
  }

  const Result ab = run(a, b, none, unlimited, max_depth);
  const Result ba = run(b, a, none, unlimited, max_depth);
  require(ab.found.has_value() == (a_ok && b_ok),
          "compare(a, b) throws exactly when a side is unreadable", ab.error);
  require(ba.found.has_value() == (a_ok && b_ok),
          "compare(b, a) throws exactly when a side is unreadable", ba.error);
  if (!ab.found) {
    const std::string_view side = a_ok ? "shadow" : "primary";
    require(std::string_view(ab.error).substr(0, side.size()) == side,
            "a ParseError names the unreadable side, the primary first", ab.error);
    return 0;
  }
  const std::vector<rs::FieldDiff>& full = ab.found->fields;
  require(!ab.found->truncated, "an uncapped comparison is not truncated");
  check_fields(full, keyed);
  check_fields(ba.found->fields, keyed);

  const bool by_position = !align && options.rules.empty();
  if (by_position && a.size() < 2048 && b.size() < 2048) check_places(a, b, full);

  // 3. Swapping the sides.
  require(!by_position || as_multiset(full, false) == as_multiset(ba.found->fields, true),
          "swapping the sides swaps added and removed",
          describe(full) + " vs " + describe(ba.found->fields));

  // 4. A capped run is a prefix of the full run.
  const Result capped = run(a, b, none, max_differences, max_depth);
  require(capped.found.has_value(), "a capped comparison reads what an uncapped one read");
  const std::size_t k = std::max<std::size_t>(max_differences, 1);
  const std::size_t listed = std::min(k, full.size());
  require(capped.found->fields.size() == listed &&
              std::equal(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(listed),
                         capped.found->fields.begin()),
          "a capped list is the first max_differences of the full list",
          describe(capped.found->fields) + " vs " + describe(full));
  require(capped.found->truncated == (full.size() > k),
          "truncated is set exactly when more differences exist than are listed");

  // 6. Ignore patterns agree with filtering by PointerPatterns::matches; value places may drop
  // changes of value there, and nothing else.
  if (!ignored.empty()) {
    const Result filtered = run(a, b, ignored, unlimited, max_depth);
    require(filtered.found.has_value(), "ignore patterns do not change whether a body is read");
    const std::vector<rs::FieldDiff>& got = filtered.found->fields;
    for (const auto& f : got) {
      require(!ignored.matches(f.pointer), "no listed pointer is matched by an ignore pattern",
              f.pointer);
    }
    std::vector<rs::FieldDiff> unmatched;  // what the patterns leave
    for (const auto& f : full) {
      if (!ignored.matches(f.pointer)) unmatched.push_back(f);
    }
    if (!ignored.has_value_places()) {
      require(got == unmatched,
              "compare with ignore patterns == compare without them, filtered by matches",
              describe(got) + " vs " + describe(unmatched));
    } else {
      // `got` is `unmatched` less some changes of value at value places.
      std::size_t listed_at = 0;
      for (const auto& f : unmatched) {
        if (listed_at < got.size() && got[listed_at] == f) {
          ++listed_at;
        } else {
          require(f.change == rs::FieldChange::Changed && ignored.ignores_value_change(f.pointer),
                  "only a change of value at a value place may be left out",
                  describe(got) + " vs " + describe(unmatched));
        }
      }
      require(listed_at == got.size(), "compare with value places lists what it lists without them",
              describe(got) + " vs " + describe(unmatched));
    }
  }
  return 0;
}
