// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/json.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <random>
#include <request_shadow/config.hpp>
#include <request_shadow/divergence.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace request_shadow {
// Readable failures.
void PrintTo(const FieldDiff& f, std::ostream* os) {
  *os << '{' << f.pointer << ' ' << to_string(f.change) << " [" << f.primary << "] [" << f.shadow
      << "]}";
}
}  // namespace request_shadow

namespace rs = request_shadow;
namespace json = request_shadow::json;
using rs::FieldChange;
using rs::FieldDiff;

namespace {

FieldDiff field(std::string pointer, FieldChange change, std::string primary, std::string shadow) {
  return FieldDiff{std::move(pointer), change, std::move(primary), std::move(shadow)};
}

std::vector<FieldDiff> diffs(std::string_view primary, std::string_view shadow,
                             const json::Options& options = {},
                             const rs::PointerPatterns& ignored = {}) {
  return json::compare(primary, shadow, ignored, options).fields;
}

std::string join(const std::vector<std::string>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i == 0 ? "" : ",") + values[i];
  return out + "]";
}

std::string record(int id, std::string_view name = "item", int price = 10) {
  return R"({"id":)" + std::to_string(id) + R"(,"name":")" + std::string(name) + R"(","price":)" +
         std::to_string(price) + "}";
}

std::vector<std::string> records(int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) out.push_back(record(i, "item", 10 + i % 7));
  return out;
}

std::string items(const std::vector<std::string>& values) {
  return R"({"items":)" + join(values) + "}";
}

// The index in `pointer` after `prefix` (`/items/12/price`, `/items/` gives 12).
std::size_t index_after(const std::string& pointer, std::string_view prefix) {
  EXPECT_TRUE(pointer.starts_with(prefix)) << pointer;
  return std::stoul(pointer.substr(prefix.size()));
}

}  // namespace

// ---- Arrays with no rule: aligned ----

TEST(JsonAlignment, AFrontInsertionIntoAThousandItemsIsOneAddition) {
  const std::vector<std::string> before = records(1000);
  std::vector<std::string> after = before;
  after.insert(after.begin(), record(5000, "new"));
  EXPECT_EQ(diffs(items(before), items(after)),
            std::vector<FieldDiff>{field("/items/0", FieldChange::Added, "",
                                         R"({"id":5000,"name":"new","price":10})")});
  // By position, the same insertion changes every item and adds the last.
  const auto cascade = json::compare(items(before), items(after), {},
                                     {.max_differences = 100'000, .max_aligned_items = 0});
  EXPECT_EQ(cascade.fields.size(), 1000U * 2 + 1);  // each id and name, most prices, the last
}

TEST(JsonAlignment, AnInsertionOrDeletionInTheMiddleIsOneDifferenceAtItsPlace) {
  EXPECT_EQ(diffs("[1,2,3,4,5]", "[1,2,9,3,4,5]"),
            std::vector<FieldDiff>{field("/2", FieldChange::Added, "", "9")});
  EXPECT_EQ(diffs("[1,2,3,4,5]", "[1,2,4,5]"),
            std::vector<FieldDiff>{field("/2", FieldChange::Removed, "3", "")});
  // A change next to an insertion is still a change, at the primary's index.
  EXPECT_EQ(diffs(R"({"a":[1,2,{"x":1},4]})", R"({"a":[0,1,2,{"x":2},4]})"),
            (std::vector<FieldDiff>{field("/a/0", FieldChange::Added, "", "0"),
                                    field("/a/2/x", FieldChange::Changed, "1", "2")}));
  // Repeated values: one added, wherever in the run.
  const auto found = diffs("[7,7,7,7]", "[7,7,7,7,7]");
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].change, FieldChange::Added);
}

TEST(JsonAlignment, EqualLengthsCompareByPosition) {
  EXPECT_EQ(diffs("[1,2,3]", "[1,5,3]"),
            std::vector<FieldDiff>{field("/1", FieldChange::Changed, "2", "5")});
  EXPECT_EQ(diffs("[1,2]", "[2,1]").size(), 2U);
}

TEST(JsonAlignment, EqualValuesInOtherSpellingsAlign) {
  // Hashes follow the comparison's equality: 1 = 1.0, member order and escapes do not matter.
  EXPECT_EQ(diffs(R"([1,{"a":1,"b":"\u00e9"},-0,3])", "[0,1.0,{\"b\":\"\xc3\xa9\",\"a\":1e0},0,3]"),
            std::vector<FieldDiff>{field("/0", FieldChange::Added, "", "0")});
}

TEST(JsonAlignment, OneInsertionOrDeletionInRandomArraysIsFoundOnceAtItsPlace) {
  std::mt19937 rng(2026);
  for (int round = 0; round < 400; ++round) {
    // Values from a small set, so that runs and repeats are common, or records with an id.
    const bool unique = round % 2 == 0;
    const std::size_t n = 1 + rng() % 40;
    std::vector<std::string> a;
    for (std::size_t i = 0; i < n; ++i) {
      a.push_back(unique ? record(static_cast<int>(i)) : std::to_string(rng() % 4));
    }
    std::vector<std::string> b = a;
    const std::size_t at = rng() % (n + 1);
    b.insert(b.begin() + static_cast<std::ptrdiff_t>(at),
             unique ? record(1000) : std::to_string(rng() % 4));
    for (const bool swapped : {false, true}) {
      const auto& primary = swapped ? b : a;
      const auto& shadow = swapped ? a : b;
      const auto found = diffs(join(primary), join(shadow));
      ASSERT_EQ(found.size(), 1U) << join(primary) << " vs " << join(shadow);
      EXPECT_EQ(found[0].change, swapped ? FieldChange::Removed : FieldChange::Added);
      // Taking the reported element out of the longer side leaves the shorter one.
      std::vector<std::string> longer = swapped ? primary : shadow;
      longer.erase(longer.begin() +
                   static_cast<std::ptrdiff_t>(index_after(found[0].pointer, "/")));
      EXPECT_EQ(longer, swapped ? shadow : primary);
    }
  }
}

TEST(JsonAlignment, AnInsertionAndAChangeInRandomRecordsAreEachFoundOnce) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    const std::size_t n = 2 + rng() % 60;
    const std::vector<std::string> a = records(static_cast<int>(n));
    std::vector<std::string> b = a;
    const std::size_t changed = rng() % n;
    b[changed] = record(static_cast<int>(changed), "renamed", 10 + static_cast<int>(changed) % 7);
    const std::size_t at = rng() % (n + 1);
    // A record with nothing in common with the others: next to the changed one, it pairs with
    // nothing. (One that shares as much with the changed record as its old self does, say the
    // same name and price, could pair either way: `match_array_by` is for records with ids.)
    b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), record(1000, "new", 99));
    const auto found = diffs(items(a), items(b));
    ASSERT_EQ(found.size(), 2U) << items(a) << " vs " << items(b);
    for (const FieldDiff& f : found) {
      if (f.change == FieldChange::Added) {
        EXPECT_EQ(f.pointer, "/items/" + std::to_string(at));
      } else {
        EXPECT_EQ(f, field("/items/" + std::to_string(changed) + "/name", FieldChange::Changed,
                           "\"item\"", "\"renamed\""));
      }
    }
  }
}

TEST(JsonAlignment, AHundredThousandItemsAlignInLinearWork) {
  // 100,000 items, the most `max_aligned_items` aligns, against 99,999 in reverse order: the
  // worst order for the anchors, none of which can pair in order with another.
  constexpr std::size_t n = 100'000;
  std::vector<std::string> a;
  for (std::size_t i = 0; i < n; ++i) a.push_back(std::to_string(i));
  std::vector<std::string> b(a.rbegin(), a.rend());
  b.pop_back();
  const std::string pa = join(a);
  const std::string pb = join(b);
  const json::Options options{.max_differences = 1};
  const auto found = json::compare(pa, pb, {}, options);
  EXPECT_TRUE(found.truncated);
  EXPECT_TRUE(found.notes.empty());
  // Each element hashed once and sorted once (plus the arrays themselves).
  const json::detail::Scratch& s = json::detail::scratch();
  EXPECT_LE(s.hashed, 2 * n + 2);
  EXPECT_LE(s.indexed, 2 * n);
  EXPECT_LE(s.probes, 2 * n);  // about half a probe per entry is expected

  // A front deletion from as many: one difference, in the same bound.
  const std::vector<std::string> c(a.begin() + 1, a.end());
  EXPECT_EQ(diffs(pa, join(c)), std::vector<FieldDiff>{field("/0", FieldChange::Removed, "0", "")});
  EXPECT_LE(s.hashed, 2 * n + 2);
  EXPECT_EQ(s.indexed, 0U);  // the equal ends leave nothing in between
}

TEST(JsonAlignment, PastMaxAlignedItemsArraysCompareByPositionAndSaySo) {
  const std::string a = "[1,2,3,4]";
  const std::string b = "[0,1,2,3,4]";
  const auto found = json::compare(a, b, {}, {.max_aligned_items = 4});
  EXPECT_EQ(found.fields.size(), 5U);
  EXPECT_EQ(found.notes,
            std::vector<std::string>{"(root): compared by position: 4 and 5 elements, more than "
                                     "max_aligned_items (4)"});
  EXPECT_EQ(json::detail::scratch().hashed, 0U);
  // 0: no alignment, and nothing to say.
  const auto off = json::compare(a, b, {}, {.max_aligned_items = 0});
  EXPECT_EQ(off.fields.size(), 5U);
  EXPECT_TRUE(off.notes.empty());
}

TEST(JsonAlignment, NestedArraysToAlignStayWithinTheHashingBudget) {
  // 3,000 arrays, each inside the next and one element longer in the shadow: aligning each
  // would hash everything inside it again, 4.5 million values in all.
  constexpr std::size_t depth = 3000;
  std::string a = "0";
  std::string b = "0";
  for (std::size_t i = 0; i < depth; ++i) {
    a = "[" + a + ",1]";
    b = "[" + b + ",1,2]";
  }
  const json::Options options{.max_differences = 1, .max_depth = depth + 10};
  const auto found = json::compare(a, b, {}, options);
  EXPECT_FALSE(found.fields.empty());
  ASSERT_FALSE(found.notes.empty());
  EXPECT_NE(found.notes[0].find("hashed as many values as its bodies allow"), std::string::npos);
  EXPECT_LE(json::detail::scratch().hashed, 4 * (a.size() + b.size()) + 4096);
}

TEST(JsonAlignment, IgnorePatternsApplyAtTheReportedIndices) {
  // Paired and removed elements are at the primary's index, added ones at the shadow's.
  rs::PointerPatterns ignored;
  ignored.add("/0");
  EXPECT_TRUE(diffs("[1,2]", "[0,1,2]", {}, ignored).empty());
  EXPECT_EQ(diffs("[1,2]", "[1,0,2]", {}, ignored),
            std::vector<FieldDiff>{field("/1", FieldChange::Added, "", "0")});
}

// ---- unordered_array ----

TEST(JsonUnorderedArray, OrderDoesNotMatterAndDuplicatesCount) {
  json::Options options;
  options.unordered_array("/tags");
  EXPECT_TRUE(
      diffs(R"({"tags":["a","b","b","c"]})", R"({"tags":["c","b","a","b"]})", options).empty());
  // The later occurrences of a value are the unmatched ones.
  EXPECT_EQ(diffs(R"({"tags":["a","b","b","c"]})", R"({"tags":["c","b","a"]})", options),
            std::vector<FieldDiff>{field("/tags/2", FieldChange::Removed, "\"b\"", "")});
  // Added at the shadow's index.
  EXPECT_EQ(diffs(R"({"tags":[1,2]})", R"({"tags":[2,5,1.0]})", options),
            std::vector<FieldDiff>{field("/tags/1", FieldChange::Added, "", "5")});
  // Without the rule, the same arrays differ.
  EXPECT_FALSE(diffs(R"({"tags":["a","b"]})", R"({"tags":["b","a"]})").empty());
}

TEST(JsonUnorderedArray, PatternsMatchTheArrayItselfWithWildcards) {
  json::Options options;
  options.unordered_array("/groups/*/members");
  const std::string a = R"({"groups":[{"members":[{"n":1},{"n":2}]},{"members":[3,4]}]})";
  const std::string b = R"({"groups":[{"members":[{"n":2},{"n":1}]},{"members":[4,3]}]})";
  EXPECT_TRUE(diffs(a, b, options).empty());
  // Not the arrays inside the elements, nor the outer one.
  EXPECT_FALSE(diffs(R"({"groups":[[1,2]]})", R"({"groups":[[2,1]]})", options).empty());
  json::Options root;
  root.unordered_array("");
  EXPECT_TRUE(diffs("[1,2,3]", "[3,1,2]", root).empty());
}

TEST(JsonUnorderedArray, PermutationsOfRandomArraysAreNoDifferenceAndOneChangeIsFoundOnce) {
  std::mt19937 rng(99);
  json::Options options;
  options.unordered_array("/set");
  for (int round = 0; round < 300; ++round) {
    std::vector<std::string> a;
    const std::size_t n = 1 + rng() % 30;
    for (std::size_t i = 0; i < n; ++i) {
      const auto v = rng() % 6;  // repeats are common
      a.push_back(v < 3 ? std::to_string(v) : R"({"k":)" + std::to_string(v) + R"(,"z":[1]})");
    }
    std::vector<std::string> b = a;
    std::shuffle(b.begin(), b.end(), rng);
    const auto doc = [](const std::vector<std::string>& v) { return R"({"set":)" + join(v) + "}"; };
    ASSERT_TRUE(diffs(doc(a), doc(b), options).empty()) << doc(a) << " vs " << doc(b);
    // One element replaced by a value found nowhere else: removed once, added once.
    const std::size_t at = rng() % n;
    b[at] = "\"new\"";
    const auto found = diffs(doc(a), doc(b), options);
    ASSERT_EQ(found.size(), 2U) << doc(a) << " vs " << doc(b);
    EXPECT_EQ(found[1], field("/set/" + std::to_string(at), FieldChange::Added, "", "\"new\""));
    EXPECT_EQ(found[0].change, FieldChange::Removed);
    // The removed one is an element of the primary that the shadow now has once less.
    const std::size_t removed = index_after(found[0].pointer, "/set/");
    ASSERT_LT(removed, n);
    EXPECT_EQ(std::count(a.begin(), a.end(), a[removed]),
              std::count(b.begin(), b.end(), a[removed]) + 1);
  }
}

// ---- match_array_by ----

TEST(JsonMatchArrayBy, RecordsMatchByKey) {
  json::Options options;
  options.match_array_by("/items", "/id");
  const std::string a = items({record(1), record(2, "pen", 3), record(3)});
  // Another order, one record more at the front, one less, one price changed.
  const std::string b = items({record(9), record(2, "pen", 4), record(1)});
  EXPECT_EQ(diffs(a, b, options),
            (std::vector<FieldDiff>{
                field("/items/1/price", FieldChange::Changed, "[/id=2] 3", "[/id=2] 4"),
                field("/items/2", FieldChange::Removed, R"({"id":3,"name":"item","price":10})", ""),
                field("/items/0", FieldChange::Added, "", R"({"id":9,"name":"item","price":10})"),
            }));
  // Keys compare as values; string keys are shown as JSON.
  json::Options by_name;
  by_name.match_array_by("", "/name");
  EXPECT_EQ(diffs(R"([{"name":"a","v":1},{"name":"b","v":2}])",
                  R"([{"name":"b","v":3},{"name":"a","v":1.0}])", by_name),
            std::vector<FieldDiff>{
                field("/1/v", FieldChange::Changed, R"([/name="b"] 2)", R"([/name="b"] 3)")});
}

TEST(JsonMatchArrayBy, ShuffledRecordsAreNoDifferenceAndOneChangeIsFoundOnceAtThePrimarysIndex) {
  std::mt19937 rng(5);
  json::Options options;
  options.match_array_by("/items", "/id");
  for (int round = 0; round < 300; ++round) {
    const std::size_t n = 1 + rng() % 50;
    std::vector<std::string> a = records(static_cast<int>(n));
    std::shuffle(a.begin(), a.end(), rng);
    std::vector<std::string> b = a;
    std::shuffle(b.begin(), b.end(), rng);
    ASSERT_TRUE(diffs(items(a), items(b), options).empty());
    const std::size_t at = rng() % n;  // in the shadow
    const std::string old = b[at];
    const std::string id = old.substr(6, old.find(',') - 6);
    b[at] = record(std::stoi(id), "renamed", 10 + std::stoi(id) % 7);
    const std::size_t primary_at =
        static_cast<std::size_t>(std::find(a.begin(), a.end(), old) - a.begin());
    EXPECT_EQ(diffs(items(a), items(b), options),
              std::vector<FieldDiff>{field("/items/" + std::to_string(primary_at) + "/name",
                                           FieldChange::Changed, "[/id=" + id + "] \"item\"",
                                           "[/id=" + id + "] \"renamed\"")});
  }
}

TEST(JsonMatchArrayBy, DuplicateOrMissingKeysFallBackAndTheBodyDiffSaysSo) {
  json::Options options;
  options.match_array_by("/items", "/id");
  const rs::ShadowConfig config = rs::ShadowConfig().body_comparator(
      json::comparator(json::Options{.by_content_type = false}.match_array_by("/items", "/id")));
  const auto body = [&config](std::string_view a, std::string_view b) {
    const auto d = rs::Divergence::compare(rs::ResponseRecord::success(a),
                                           rs::ResponseRecord::success(b), config);
    EXPECT_TRUE(d && d->body);
    return d && d->body ? *d->body : rs::BodyDiff{};
  };
  // A repeated key: by position (equal lengths), and a note.
  const rs::BodyDiff repeated =
      body(items({record(1), record(1, "x")}), items({record(1, "x"), record(1)}));
  EXPECT_EQ(repeated.fields.size(), 2U);
  EXPECT_EQ(repeated.notes, std::vector<std::string>{
                                "/items: match_array_by /id not applied, primary element 1 has "
                                "the key of primary element 0 too"});
  // A missing key: as an array with no rule (aligned, the lengths differ).
  const rs::BodyDiff missing =
      body(items({record(1), record(2)}), items({R"({"name":"x"})", record(1), record(2)}));
  EXPECT_EQ(missing.fields,
            std::vector<FieldDiff>{field("/items/0", FieldChange::Added, "", R"({"name":"x"})")});
  EXPECT_EQ(missing.notes,
            std::vector<std::string>{
                "/items: match_array_by /id not applied, shadow element 0 has no key"});
  // A key that is not a scalar.
  const auto found = json::compare(R"([{"id":[1]}])", R"([{"id":[2]}])", {},
                                   json::Options{}.match_array_by("", "/id"));
  EXPECT_EQ(found.fields.size(), 1U);
  EXPECT_EQ(found.notes, std::vector<std::string>{
                             "(root): match_array_by /id not applied, primary element 0 has a key "
                             "that is not a string, number, boolean or null"});
  EXPECT_NE(rs::to_string(rs::Divergence{std::nullopt, std::nullopt, repeated})
                .find("the key of primary element 0 too"),
            std::string::npos);
}

TEST(JsonRules, BadPatternsAndTolerancesAreRejected) {
  json::Options options;
  EXPECT_THROW(options.unordered_array("items"), std::invalid_argument);
  EXPECT_THROW(options.match_array_by("/items", "id"), std::invalid_argument);
  EXPECT_THROW(options.number_tolerance("x", {}), std::invalid_argument);
  EXPECT_THROW(options.number_tolerance("", {.absolute = -1}), std::invalid_argument);
  EXPECT_THROW(options.number_tolerance("", {.relative = std::numeric_limits<double>::quiet_NaN()}),
               std::invalid_argument);
  EXPECT_THROW(options.number_tolerance("", {.absolute = std::numeric_limits<double>::infinity()}),
               std::invalid_argument);
  EXPECT_TRUE(options.rules.empty());
}

// ---- number_tolerance ----

TEST(JsonNumberTolerance, ANumberDiffersOnlyOutsideBothBounds) {
  json::Options options;
  options.number_tolerance("/p", {.absolute = 0.01, .relative = 1e-3});
  EXPECT_TRUE(diffs(R"({"p":1.0})", R"({"p":1.009})", options).empty());    // absolute
  EXPECT_TRUE(diffs(R"({"p":1000})", R"({"p":1000.9})", options).empty());  // relative
  EXPECT_EQ(diffs(R"({"p":1.0})", R"({"p":1.02})", options),
            std::vector<FieldDiff>{field("/p", FieldChange::Changed, "1.0", "1.02")});
  EXPECT_EQ(diffs(R"({"p":1000})", R"({"p":1001.5})", options).size(), 1U);
  // Only where the pattern points: at and inside the value.
  EXPECT_EQ(diffs(R"({"q":1.0})", R"({"q":1.009})", options).size(), 1U);
  json::Options inside;
  inside.number_tolerance("/prices", {.absolute = 1});
  EXPECT_TRUE(diffs(R"({"prices":{"a":[1,2]}})", R"({"prices":{"a":[1.5,2.5]}})", inside).empty());
  // The deepest pattern wins.
  inside.number_tolerance("/prices/a/0", {});
  EXPECT_EQ(diffs(R"({"prices":{"a":[1,2]}})", R"({"prices":{"a":[1.5,2.5]}})", inside),
            std::vector<FieldDiff>{field("/prices/a/0", FieldChange::Changed, "1", "1.5")});
}

TEST(JsonNumberTolerance, NegativeZeroEqualsZeroAndLargeIntegersAreExactWithoutATolerance) {
  EXPECT_TRUE(diffs("[-0, -0.0, 0.0]", "[0, 0, -0]").empty());
  // 2^53 + 1 and 2^53: no double tells them apart, the comparison does.
  EXPECT_EQ(diffs("9007199254740993", "9007199254740992").size(), 1U);
  EXPECT_EQ(diffs("18446744073709551615", "18446744073709551614").size(), 1U);
  json::Options options;
  options.number_tolerance("", {.absolute = 1});
  EXPECT_TRUE(diffs("9007199254740993", "9007199254740992", options).empty());
  EXPECT_TRUE(diffs("18446744073709551615", "18446744073709551614", options).empty());
  EXPECT_EQ(diffs("18446744073709551615", "18446744073709551613", options).size(), 1U);
  EXPECT_TRUE(diffs("-9223372036854775808", "-9223372036854775807", options).empty());
  // Types still matter.
  EXPECT_EQ(diffs("1", "\"1\"", options),
            std::vector<FieldDiff>{field("", FieldChange::TypeChanged, "1", "\"1\"")});
}

TEST(JsonNumberTolerance, RandomDocumentsWithNumbersNudgedWithinTheBoundAreEqual) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> value(-1e6, 1e6);
  json::Options options;
  options.number_tolerance("", {.relative = 1e-9});
  for (int round = 0; round < 200; ++round) {
    std::string a = "[";
    std::string b = "[";
    const std::size_t n = 1 + rng() % 20;
    std::size_t changed = n;  // none
    if (round % 2 == 1) changed = rng() % n;
    for (std::size_t i = 0; i < n; ++i) {
      const double x = value(rng);
      const double nudge = i == changed ? 1e-6 : 1e-11 * (rng() % 2 == 0 ? 1 : -1);
      const std::string sep = i == 0 ? "" : ",";
      a += sep + R"({"v":)" + std::to_string(x) + "}";
      char buf[40];
      const auto r = std::to_chars(buf, buf + sizeof buf, x * (1 + nudge));
      b += sep + R"({"v":)" + std::string(buf, r.ptr) + "}";
    }
    a += "]";
    b += "]";
    const auto found = diffs(a, b, options);
    if (changed == n) {
      EXPECT_TRUE(found.empty()) << a << " vs " << b;
    } else {
      ASSERT_EQ(found.size(), 1U) << a << " vs " << b;
      EXPECT_EQ(found[0].pointer, "/" + std::to_string(changed) + "/v");
    }
  }
}

TEST(JsonRules, EdgeCases) {
  json::Options options;
  options.unordered_array("/u").match_array_by("/k", "/id");
  // Empty arrays on either side.
  EXPECT_TRUE(diffs(R"({"u":[],"k":[]})", R"({"u":[],"k":[]})", options).empty());
  EXPECT_EQ(diffs(R"({"u":[],"k":[]})", R"({"u":[1],"k":[{"id":1}]})", options),
            (std::vector<FieldDiff>{field("/u/0", FieldChange::Added, "", "1"),
                                    field("/k/0", FieldChange::Added, "", R"({"id":1})")}));
  // A rule on a value that is not an array does nothing; another type is one difference.
  EXPECT_EQ(diffs(R"({"u":{"a":1}})", R"({"u":{"a":2}})", options),
            std::vector<FieldDiff>{field("/u/a", FieldChange::Changed, "1", "2")});
  EXPECT_EQ(diffs(R"({"u":[1]})", R"({"u":"x"})", options),
            std::vector<FieldDiff>{field("/u", FieldChange::TypeChanged, "[1]", "\"x\"")});
  // An ignore pattern inside keyed records applies at the primary's index; the key still shows.
  rs::PointerPatterns ignored;
  ignored.add("/k/*/at");
  EXPECT_EQ(
      diffs(R"({"k":[{"id":1,"at":1,"v":1},{"id":2,"at":1,"v":1}]})",
            R"({"k":[{"id":2,"at":2,"v":1},{"id":1,"at":2,"v":5}]})", options, ignored),
      std::vector<FieldDiff>{field("/k/0/v", FieldChange::Changed, "[/id=1] 1", "[/id=1] 5")});
  // An ignored array is skipped whatever its rule.
  rs::PointerPatterns whole;
  whole.add("/u");
  EXPECT_TRUE(diffs(R"({"u":[1,2]})", R"({"u":[3]})", options, whole).empty());
  // A tolerance reaches into the pairs of aligned and keyed arrays; elements pair up (and
  // unordered ones match) by exact value.
  options.number_tolerance("", {.absolute = 0.1});
  EXPECT_EQ(diffs(R"({"a":[1,2,3],"u":[1,2],"k":[{"id":1,"v":1}]})",
                  R"({"a":[0,1,2.05,3],"u":[2,1],"k":[{"id":1,"v":1.05}]})", options),
            std::vector<FieldDiff>{field("/a/0", FieldChange::Added, "", "0")});
  EXPECT_EQ(diffs(R"({"u":[1]})", R"({"u":[1.05]})", options).size(), 2U);
  // The cap holds inside planned arrays: the first differences of the full list.
  const std::string a = R"({"k":[{"id":1,"v":1},{"id":2,"v":1},{"id":3,"v":1}]})";
  const std::string b = R"({"k":[{"id":3,"v":2},{"id":2,"v":2},{"id":1,"v":2}]})";
  json::Options capped = options;
  capped.max_differences = 2;
  const auto full = diffs(a, b, options);
  ASSERT_EQ(full.size(), 3U);
  const auto found = json::compare(a, b, {}, capped);
  EXPECT_TRUE(found.truncated);
  EXPECT_EQ(found.fields, std::vector<FieldDiff>(full.begin(), full.begin() + 2));
}
