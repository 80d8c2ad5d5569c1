// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/json.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <request_shadow/config.hpp>
#include <request_shadow/divergence.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace rs = request_shadow;
namespace json = request_shadow::json;
using rs::Divergence;
using rs::FieldChange;
using rs::FieldDiff;
using rs::ResponseRecord;

namespace {

ResponseRecord json_response(std::string_view body,
                             std::string_view content_type = "application/json") {
  return ResponseRecord::success(body).with_header("Content-Type", content_type);
}

rs::ShadowConfig json_config(json::Options options = {}) {
  return rs::ShadowConfig().body_comparator(json::comparator(options));
}

// Divergence::compare of two JSON responses with the JSON comparator.
std::optional<Divergence> diverge(std::string_view primary, std::string_view shadow,
                                  const rs::ShadowConfig& config = json_config()) {
  return Divergence::compare(json_response(primary), json_response(shadow), config);
}

// The body diff of two responses that must diverge by body only.
rs::BodyDiff body_diff(std::string_view primary, std::string_view shadow,
                       const rs::ShadowConfig& config = json_config()) {
  const auto d = diverge(primary, shadow, config);
  if (!d || !d->body) {
    ADD_FAILURE() << "expected a body divergence";
    return {};
  }
  EXPECT_FALSE(d->status.has_value());
  EXPECT_FALSE(d->headers.has_value());
  return *d->body;
}

std::vector<FieldDiff> diffs(std::string_view primary, std::string_view shadow,
                             const rs::PointerPatterns& ignored = {},
                             const json::Options& options = {}) {
  return json::compare(primary, shadow, ignored, options).fields;
}

FieldDiff field(std::string pointer, FieldChange change, std::string primary, std::string shadow) {
  return FieldDiff{std::move(pointer), change, std::move(primary), std::move(shadow)};
}

std::string nested_arrays(std::size_t depth, std::string_view inner = {}) {
  return std::string(depth, '[') + std::string(inner) + std::string(depth, ']');
}

}  // namespace

TEST(JsonCompare, KeyOrderAndWhitespaceDoNotMatter) {
  const std::string a = R"({"id":7,"name":"pen","tags":["a","b"],"dim":{"w":1,"h":2}})";
  const std::string b =
      "{\n  \"dim\": { \"h\": 2, \"w\": 1 },\n  \"tags\": [ \"a\", \"b\" ],\n"
      "  \"name\": \"pen\",\n  \"id\": 7\n}\n";
  EXPECT_TRUE(diffs(a, b).empty());
  EXPECT_FALSE(json::compare(a, b).truncated);
  EXPECT_FALSE(diverge(a, b).has_value());
}

TEST(JsonCompare, SpellingsOfOneNumberAreEqual) {
  EXPECT_TRUE(diffs("[1]", "[1.0]").empty());
  EXPECT_TRUE(diffs("[1]", "[1e0]").empty());
  EXPECT_TRUE(diffs("[1.0]", "[1e0]").empty());
  EXPECT_TRUE(diffs("[10]", "[1E1]").empty());
  EXPECT_TRUE(diffs("[0]", "[-0]").empty());
  EXPECT_TRUE(diffs("[0.0]", "[-0.0]").empty());
  EXPECT_TRUE(diffs("[12.5]", "[12.50]").empty());
  EXPECT_FALSE(diverge(R"({"price":1,"n":2})", R"({"n":2.0,"price":1e0})").has_value());
}

TEST(JsonCompare, ChangedNumberHasBothExcerpts) {
  EXPECT_EQ(diffs(R"({"n":1})", R"({"n":2})"),
            std::vector<FieldDiff>{field("/n", FieldChange::Changed, "1", "2")});
  EXPECT_EQ(diffs(R"({"n":1.5})", R"({"n":2})"),
            std::vector<FieldDiff>{field("/n", FieldChange::Changed, "1.5", "2")});
  EXPECT_EQ(diffs(R"({"n":2.5})", R"({"n":2.0})"),
            std::vector<FieldDiff>{field("/n", FieldChange::Changed, "2.5", "2.0")});

  const rs::BodyDiff body = body_diff(R"({"n":1})", R"({"n":2})");
  EXPECT_EQ(body.format, "json");
  EXPECT_EQ(body.fields, std::vector<FieldDiff>{field("/n", FieldChange::Changed, "1", "2")});
  EXPECT_FALSE(body.fields_truncated);
  EXPECT_TRUE(body.fallback.empty());
}

TEST(JsonCompare, IntegersCompareExactly) {
  // Equal as doubles, different as integers.
  EXPECT_EQ(diffs("[18446744073709551615]", "[18446744073709551614]"),
            std::vector<FieldDiff>{
                field("/0", FieldChange::Changed, "18446744073709551615", "18446744073709551614")});
  EXPECT_EQ(diffs("[9007199254740993]", "[9007199254740992]").size(), 1U);
  // int64 max against the smallest value only an unsigned 64-bit integer holds.
  EXPECT_EQ(diffs("[9223372036854775807]", "[9223372036854775808]").size(), 1U);
  // A negative int64 against a uint64 with the same bits.
  EXPECT_EQ(
      diffs("[-1]", "[18446744073709551615]"),
      std::vector<FieldDiff>{field("/0", FieldChange::Changed, "-1", "18446744073709551615")});
  EXPECT_EQ(diffs("[-9223372036854775808]", "[9223372036854775808]").size(), 1U);
  EXPECT_TRUE(diffs("[18446744073709551615]", "[ 18446744073709551615 ]").empty());
  EXPECT_TRUE(diffs("[-9223372036854775808]", "[ -9223372036854775808 ]").empty());
  EXPECT_TRUE(diverge("[18446744073709551615]", "[18446744073709551614]").has_value());
}

TEST(JsonCompare, NumbersBeyondSixtyFourBitsAreNotReadAndFallBackToBytes) {
  EXPECT_THROW((void)json::compare("[1]", "[18446744073709551616]"), json::ParseError);
  EXPECT_THROW((void)json::compare("[1e400]", "[1]"), json::ParseError);

  rs::BodyDiff body;
  ASSERT_NO_THROW(body = body_diff("[1]", "[18446744073709551616]"));
  EXPECT_TRUE(body.format.empty());
  EXPECT_TRUE(body.fields.empty());
  EXPECT_NE(body.fallback.find("json: shadow body is not valid JSON"), std::string::npos)
      << body.fallback;
  EXPECT_NE(body.fallback.find("number"), std::string::npos) << body.fallback;
  EXPECT_EQ(body.prefix_equal_bytes, 2U);  // `[1`

  ASSERT_NO_THROW(body = body_diff("[1e400]", "[1]"));
  EXPECT_NE(body.fallback.find("json: primary body is not valid JSON"), std::string::npos)
      << body.fallback;
  EXPECT_TRUE(body.fields.empty());
}

TEST(JsonCompare, IntegersAndDoublesCompareByExactValue) {
  // An integer equals a double only when the double is exactly that integer.
  EXPECT_TRUE(diffs("[9007199254740992]", "[9007199254740992.0]").empty());
  EXPECT_EQ(diffs("[9007199254740993]", "[9007199254740992.0]"),
            std::vector<FieldDiff>{
                field("/0", FieldChange::Changed, "9007199254740993", "9007199254740992.0")});
  // `9007199254740993.0` reads as the double 9007199254740992, and its excerpt says so.
  EXPECT_EQ(diffs("[9007199254740993]", "[9007199254740993.0]"),
            std::vector<FieldDiff>{
                field("/0", FieldChange::Changed, "9007199254740993", "9007199254740992.0")});
  EXPECT_TRUE(diffs("[9223372036854775808]", "[9223372036854775808.0]").empty());  // 2^63
  EXPECT_EQ(diffs("[9223372036854775807]", "[9223372036854775808.0]").size(), 1U);
  EXPECT_TRUE(diffs("[-9223372036854775808]", "[-9.223372036854775808e18]").empty());
  EXPECT_EQ(diffs("[18446744073709551615]", "[18446744073709551616.0]").size(), 1U);  // 2^64
  EXPECT_EQ(diffs("[3]", "[3.5]").size(), 1U);
  EXPECT_EQ(diffs("[-3]", "[-2.5]").size(), 1U);
  EXPECT_TRUE(diffs("[0]", "[-0.0]").empty());

  // Equality is an equivalence: reflexive, symmetric and transitive over every spelling here.
  const std::vector<std::string> numbers{"9007199254740993",
                                         "9007199254740992",
                                         "9007199254740992.0",
                                         "9007199254740993.0",
                                         "9.007199254740993e15",
                                         "9223372036854775807",
                                         "9223372036854775808",
                                         "9223372036854775808.0",
                                         "-9223372036854775808",
                                         "-9223372036854775808.0",
                                         "-9223372036854775809.0",
                                         "18446744073709551615",
                                         "18446744073709551616.0",
                                         "1.8446744073709552e19",
                                         "0",
                                         "-0",
                                         "0.0",
                                         "-0.0",
                                         "1e-400",
                                         "1",
                                         "1.0",
                                         "1e0",
                                         "0.5",
                                         "-1",
                                         "-1.0"};
  const std::size_t n = numbers.size();
  std::vector<std::vector<bool>> equal(n, std::vector<bool>(n));
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      equal[i][j] = diffs('[' + numbers[i] + ']', '[' + numbers[j] + ']').empty();
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(equal[i][i]) << numbers[i];
    for (std::size_t j = 0; j < n; ++j) {
      EXPECT_EQ(equal[i][j], equal[j][i]) << numbers[i] << " vs " << numbers[j];
      for (std::size_t k = 0; k < n; ++k) {
        if (equal[i][j] && equal[j][k]) {
          EXPECT_TRUE(equal[i][k]) << numbers[i] << " = " << numbers[j] << " = " << numbers[k];
        }
      }
    }
  }
}

TEST(JsonCompare, DigitsBeyondADoubleAreRoundedAwayAtBothEnds) {
  // Every number that is not an integer is the double nearest its text.
  EXPECT_TRUE(diffs("[0.1]", "[0.10000000000000000001]").empty());
  EXPECT_TRUE(diffs("[1e-400]", "[0]").empty());
  EXPECT_TRUE(diffs("[1e-400]", "[0.0]").empty());
  EXPECT_TRUE(diffs("[-1e-400]", "[0]").empty());
  EXPECT_TRUE(diffs("[1e-400]", "[2e-400]").empty());
  EXPECT_EQ(diffs("[5e-324]", "[0]"),  // the smallest double is not 0
            std::vector<FieldDiff>{field("/0", FieldChange::Changed, "5e-324", "0")});
  EXPECT_FALSE(diverge(R"({"tiny":1e-400})", R"({"tiny":0})").has_value());
  // Beyond the largest double there is no nearest one: the body is read as bytes.
  EXPECT_THROW((void)json::compare("[1e400]", "[1e400]"), json::ParseError);
  EXPECT_THROW((void)json::compare("[0]", "[-1e400]"), json::ParseError);
  EXPECT_TRUE(diffs("[1.7976931348623157e308]", "[17976931348623157e292]").empty());
  const rs::BodyDiff body = body_diff(R"({"huge":1e400})", R"({"huge":2e400})");
  EXPECT_TRUE(body.fields.empty());
  EXPECT_NE(body.fallback.find("json: primary body is not valid JSON"), std::string::npos)
      << body.fallback;
  EXPECT_EQ(body.prefix_equal_bytes, 8U);  // `{"huge":`
}

TEST(JsonCompare, AByteOrderMarkIsSkipped) {
  const std::string bom = "\xEF\xBB\xBF";
  EXPECT_TRUE(diffs(bom + R"({"a":1})", R"({"a":1})").empty());
  EXPECT_TRUE(diffs(R"({"a":1})", bom + R"( {"a":1.0})").empty());
  EXPECT_TRUE(diffs(bom + "[1]", bom + "[1]").empty());
  EXPECT_EQ(diffs(bom + R"({"a":1})", R"({"a":2})"),
            std::vector<FieldDiff>{field("/a", FieldChange::Changed, "1", "2")});
  EXPECT_FALSE(diverge(bom + R"({"a":1,"b":2})", R"({"b":2,"a":1})").has_value());

  // Only one, only at the start, and only UTF-8's.
  EXPECT_THROW((void)json::compare(bom + bom + "[1]", "[1]"), json::ParseError);
  EXPECT_THROW((void)json::compare("[1]", bom), json::ParseError);
  EXPECT_THROW((void)json::compare(" " + bom + "[1]", "[1]"), json::ParseError);
  EXPECT_THROW((void)json::compare("[1]" + bom, "[1]"), json::ParseError);
  EXPECT_THROW((void)json::compare("\xEF\xBB[1]", "[1]"), json::ParseError);
  const std::string utf16(
      "\xFF\xFE[\x00"
      "1\x00]\x00",
      8);
  EXPECT_THROW((void)json::compare(utf16, "[1]"), json::ParseError);
  const rs::BodyDiff body = body_diff(bom + bom + "[1]", "[1]");
  EXPECT_NE(body.fallback.find("json: primary body is not valid JSON"), std::string::npos)
      << body.fallback;
}

TEST(JsonCompare, StringsAndNamesCompareUnescaped) {
  EXPECT_TRUE(diffs(R"(["\u00e9"])", "[\"\xc3\xa9\"]").empty());
  EXPECT_TRUE(diffs(R"({"caf\u00e9":1})", "{\"caf\xc3\xa9\":1}").empty());
  EXPECT_TRUE(diffs(R"({"a\/b":"x\"y"})", R"({"a/b":"x\u0022y"})").empty());
  EXPECT_FALSE(diverge(R"({"caf\u00e9":"\u00e9"})", "{\"caf\xc3\xa9\":\"\xc3\xa9\"}"));
  EXPECT_EQ(diffs(R"({"s":"a"})", R"({"s":"b"})"),
            std::vector<FieldDiff>{field("/s", FieldChange::Changed, "\"a\"", "\"b\"")});
}

TEST(JsonCompare, InvalidJsonOnEitherSideFallsBackToBytes) {
  EXPECT_THROW((void)json::compare("{", "{}"), json::ParseError);
  try {
    (void)json::compare("{}", "[1,]");
    ADD_FAILURE() << "expected a ParseError";
  } catch (const json::ParseError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("shadow body is not valid JSON: ", 0), 0U) << e.what();
  }

  for (const auto& [primary, shadow, side] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"{", "{}", "primary"},
           {"{}", "[1,]", "shadow"},
           {R"({"a":1} x)", R"({"a":1})", "primary"},
           {"[1]", "[1] [2]", "shadow"},
           {"\"\\ud800\"", "\"x\"", "primary"},
           {"nul", "null", "primary"}}) {
    std::optional<Divergence> d;
    ASSERT_NO_THROW(d = diverge(primary, shadow)) << primary << " vs " << shadow;
    ASSERT_TRUE(d && d->body) << primary << " vs " << shadow;
    EXPECT_TRUE(d->body->format.empty());
    EXPECT_TRUE(d->body->fields.empty());
    EXPECT_EQ(d->body->fallback.rfind("json: " + side + " body is not valid JSON: ", 0), 0U)
        << d->body->fallback;
  }
}

TEST(JsonCompare, EmptyBodyIsNotJson) {
  EXPECT_THROW((void)json::compare("", "{}"), json::ParseError);
  const rs::BodyDiff body = body_diff("", "{}");
  EXPECT_EQ(body.fallback.rfind("json: primary body is not valid JSON", 0), 0U) << body.fallback;
  EXPECT_EQ(body.primary_len, 0U);
  EXPECT_EQ(body.shadow_len, 2U);
}

TEST(JsonCompare, DeepNestingFallsBackWithoutCrashing) {
  const std::string deep = nested_arrays(100'000);
  rs::BodyDiff body;
  ASSERT_NO_THROW(body = body_diff(deep, "[]"));
  EXPECT_NE(body.fallback.find("json: primary body is not valid JSON: "), std::string::npos);
  EXPECT_NE(body.fallback.find("too deep"), std::string::npos) << body.fallback;
  EXPECT_NE(body.fallback.find("max_depth 512"), std::string::npos) << body.fallback;

  ASSERT_NO_THROW(body = body_diff("[]", deep));
  EXPECT_NE(body.fallback.find("json: shadow body"), std::string::npos) << body.fallback;

  ASSERT_NO_THROW(body = body_diff(nested_arrays(100'000, "1"), nested_arrays(100'000, "2")));
  EXPECT_NE(body.fallback.find("too deep"), std::string::npos) << body.fallback;
}

TEST(JsonCompare, MaxDepthBoundsTheNestingThatIsRead) {
  // Depth counts the values on the deepest path: 7 arrays around a number are 8 deep.
  const json::Options shallow{.max_depth = 8};
  EXPECT_EQ(diffs(nested_arrays(7, "1"), nested_arrays(7, "2"), {}, shallow).size(), 1U);
  EXPECT_EQ(diffs(nested_arrays(8), nested_arrays(7, "2"), {}, shallow).size(), 1U);
  EXPECT_THROW((void)json::compare(nested_arrays(8, "1"), nested_arrays(7, "2"), {}, shallow),
               json::ParseError);
  EXPECT_THROW((void)json::compare("[]", nested_arrays(9), {}, shallow), json::ParseError);
  EXPECT_THROW((void)json::compare(R"({"a":[[[[[[[1]]]]]]]})", "{}", {}, shallow),
               json::ParseError);

  const auto config = json_config(shallow);
  const rs::BodyDiff read = body_diff(nested_arrays(7, "1"), nested_arrays(7, "2"), config);
  EXPECT_EQ(read.fields,
            std::vector<FieldDiff>{field("/0/0/0/0/0/0/0", FieldChange::Changed, "1", "2")});
  const rs::BodyDiff unread = body_diff(nested_arrays(9, "1"), nested_arrays(9, "2"), config);
  EXPECT_TRUE(unread.fields.empty());
  EXPECT_NE(unread.fallback.find("json: primary body is not valid JSON"), std::string::npos);
  EXPECT_NE(unread.fallback.find("max_depth 8"), std::string::npos) << unread.fallback;

  // The same thread then reads deeper documents again with the default.
  EXPECT_EQ(diffs(nested_arrays(500, "1"), nested_arrays(500, "2")).size(), 1U);
  EXPECT_THROW((void)json::compare(nested_arrays(512, "1"), "[]"), json::ParseError);
}

TEST(JsonCompare, AnyMaxDepthIsSafe) {
  // "Unlimited" is clamped to Options::deepest rather than allocated.
  const json::Options unlimited{.max_depth = std::numeric_limits<std::size_t>::max()};
  EXPECT_EQ(diffs(nested_arrays(1'000, "1"), nested_arrays(1'000, "2"), {}, unlimited).size(), 1U);
  EXPECT_THROW((void)json::compare(nested_arrays(json::Options::deepest, "1"), "[]", {}, unlimited),
               json::ParseError);
  // The parsers grown for it are freed again: the default still applies afterwards.
  EXPECT_THROW((void)json::compare(nested_arrays(600, "1"), "[]"), json::ParseError);
}

TEST(JsonCompare, DuplicateKeysKeepTheirLastValue) {
  EXPECT_TRUE(diffs(R"({"a":1,"a":2})", R"({"a":2})").empty());
  EXPECT_TRUE(diffs(R"({"a":2})", R"({"a":1,"a":2})").empty());
  EXPECT_EQ(diffs(R"({"a":1,"a":2})", R"({"a":1})"),
            std::vector<FieldDiff>{field("/a", FieldChange::Changed, "2", "1")});
  // The same keys in the same order on both sides: still the last one wins.
  EXPECT_TRUE(diffs(R"({"a":1,"a":2})", R"({"a":3,"a":2})").empty());
  EXPECT_EQ(diffs(R"({"a":1,"b":0,"a":2})", R"({"a":1,"b":0,"a":3})"),
            std::vector<FieldDiff>{field("/a", FieldChange::Changed, "2", "3")});
  EXPECT_FALSE(diverge(R"({"a":1,"a":2})", R"({"a":2})").has_value());
  EXPECT_TRUE(diverge(R"({"a":1,"a":2})", R"({"a":1})").has_value());

  // Objects with many members take another path to find duplicates.
  std::string wide = "{";
  for (int i = 0; i < 20; ++i) wide += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  EXPECT_TRUE(diffs(wide + R"("k3":0,"k3":3})", wide + R"("k3":1,"k3":3})").empty());
  EXPECT_EQ(diffs(wide + R"("k3":0,"k3":3})", wide + R"("k3":3,"k3":4})"),
            std::vector<FieldDiff>{field("/k3", FieldChange::Changed, "3", "4")});
}

namespace {

// `count` member names that std::hash<std::string_view> sends into the first 64th of a table of
// `slots` slots (a power of two) indexed by the hash's low bits: in such a table with linear
// probing, each name would probe past nearly all the names placed before it.
std::vector<std::string> names_colliding_under_std_hash(std::size_t count, std::size_t slots) {
  std::vector<std::string> names;
  const std::hash<std::string_view> hash;
  for (std::uint64_t i = 0; names.size() < count; ++i) {
    std::string name = "m" + std::to_string(i);
    if ((hash(name) & (slots - 1)) < slots / 64) names.push_back(std::move(name));
  }
  return names;
}

// The occupied slots that inserting `names` into such a table, keyed by std::hash, looks at.
std::size_t std_hash_probes(const std::vector<std::string>& names, std::size_t slots) {
  std::vector<bool> used(slots);
  std::size_t probes = 0;
  const std::hash<std::string_view> hash;
  for (const auto& name : names) {
    std::size_t at = hash(name) & (slots - 1);
    for (; used[at]; at = (at + 1) & (slots - 1)) ++probes;
    used[at] = true;
  }
  return probes;
}

std::string object_of(const std::vector<std::string>& names, std::string_view last_value) {
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += (i == 0 ? "\"" : ",\"") + names[i] + "\":";
    out += i + 1 == names.size() ? std::string(last_value) : std::to_string(i);
  }
  return out + "}";
}

}  // namespace

TEST(JsonNameTable, SipHashGivesItsReferenceValue) {
  // The SipHash paper's example: SipHash-2-4, key 00 01 .. 0f, message 00 01 .. 0e.
  json::detail::SipKey key;
  key.k0 = 0x0706050403020100ULL;
  key.k1 = 0x0f0e0d0c0b0a0908ULL;
  std::string message;
  for (char c = 0; c < 15; ++c) message += c;
  EXPECT_EQ((json::detail::siphash<2, 4>(key, message)), 0xa129ca6149be45e5ULL);
  // Another key, another hash.
  key.k0 ^= 1;
  EXPECT_NE((json::detail::siphash<2, 4>(key, message)), 0xa129ca6149be45e5ULL);
}

TEST(JsonNameTable, FindsRepeatedNames) {
  json::detail::NameTable table;
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i) names.push_back("k" + std::to_string(i));
  const auto at = [&names](std::size_t i) { return std::string_view(names[i]); };
  EXPECT_FALSE(table.has_duplicate(names.size(), at));
  names.emplace_back("");
  EXPECT_FALSE(table.has_duplicate(names.size(), at));
  names.emplace_back("k57");
  EXPECT_TRUE(table.has_duplicate(names.size(), at));
  names.pop_back();
  names.emplace_back("");
  EXPECT_TRUE(table.has_duplicate(names.size(), at));
  EXPECT_FALSE(table.has_duplicate(0, at));
}

TEST(JsonNameTable, NamesChosenToCollideDoNotPileUp) {
  // 2,048 names go into 4,096 slots. Under std::hash the chosen names would probe about
  // 2,048^2 / 2 times in all; under the keyed hash they probe as few times as any names do.
  constexpr std::size_t count = 2048;
  const auto names = names_colliding_under_std_hash(count, 2 * count);
  ASSERT_GT(std_hash_probes(names, 2 * count), count * count / 4);

  json::detail::NameTable table;
  EXPECT_FALSE(
      table.has_duplicate(count, [&names](std::size_t i) { return std::string_view(names[i]); }));
  EXPECT_LT(table.probes(), 2 * count);  // about count / 2 is expected

  // The same through the comparison: an object whose members keep their order on both sides
  // is checked for repeated names.
  const std::string a = object_of(names, "1");
  const std::string b = object_of(names, "2");
  EXPECT_EQ(diffs(a, b),
            std::vector<FieldDiff>{field("/" + names.back(), FieldChange::Changed, "1", "2")});
  EXPECT_LT(json::detail::scratch().names.probes(), 2 * count);
  // A repeated name among them is still found, and its last value kept.
  const std::string repeated = ",\"" + names.front() + "\":5}";
  EXPECT_EQ(diffs(a.substr(0, a.size() - 1) + repeated, b.substr(0, b.size() - 1) + repeated),
            std::vector<FieldDiff>{field("/" + names.back(), FieldChange::Changed, "1", "2")});
  EXPECT_EQ(diffs(a, b.substr(0, b.size() - 1) + repeated).size(), 2U);
}

TEST(JsonCompare, EachKindOfDifferenceAtItsPointer) {
  const auto found = diffs(R"({"keep":1,"gone":true,"n":1,"t":1,"a/b":{"m~n":1}})",
                           R"({"keep":1,"n":2,"t":"1","a/b":{"m~n":null},"new":[1]})");
  EXPECT_EQ(found, (std::vector<FieldDiff>{
                       field("/gone", FieldChange::Removed, "true", ""),
                       field("/n", FieldChange::Changed, "1", "2"),
                       field("/t", FieldChange::TypeChanged, "1", "\"1\""),
                       field("/a~1b/m~0n", FieldChange::TypeChanged, "1", "null"),
                       field("/new", FieldChange::Added, "", "[1]"),
                   }));
  const rs::BodyDiff body = body_diff(R"({"a/b":{"m~n":1}})", R"({"a/b":{"m~n":2}})");
  EXPECT_EQ(body.fields,
            std::vector<FieldDiff>{field("/a~1b/m~0n", FieldChange::Changed, "1", "2")});
}

TEST(JsonCompare, MembersInThePrimarysOrderThenTheShadowsNewOnes) {
  EXPECT_EQ(diffs(R"({"b":1,"a":1,"c":1})", R"({"e":1,"d":1,"c":2,"a":2})"),
            (std::vector<FieldDiff>{
                field("/b", FieldChange::Removed, "1", ""),
                field("/a", FieldChange::Changed, "1", "2"),
                field("/c", FieldChange::Changed, "1", "2"),
                field("/e", FieldChange::Added, "", "1"),
                field("/d", FieldChange::Added, "", "1"),
            }));
}

TEST(JsonCompare, ArraysCompareByPosition) {
  EXPECT_EQ(diffs(R"({"arr":[1,2,3]})", R"({"arr":[1,2,4,{"x":1}]})"),
            (std::vector<FieldDiff>{
                field("/arr/2", FieldChange::Changed, "3", "4"),
                field("/arr/3", FieldChange::Added, "", R"({"x":1})"),
            }));
  EXPECT_EQ(diffs(R"({"arr":[1,2,3]})", R"({"arr":[1]})"),
            (std::vector<FieldDiff>{
                field("/arr/1", FieldChange::Removed, "2", ""),
                field("/arr/2", FieldChange::Removed, "3", ""),
            }));
  // Same elements, another order: a difference at each moved position.
  EXPECT_EQ(diffs("[1,2]", "[2,1]").size(), 2U);
}

TEST(JsonCompare, AnAddedOrReplacedContainerIsOneDifference) {
  EXPECT_EQ(
      diffs(R"({"a":1})", R"({"a":1,"b":{"c":{"d":1},"e":[1,2]}})"),
      std::vector<FieldDiff>{field("/b", FieldChange::Added, "", R"({"c":{"d":1},"e":[1,2]})")});
  EXPECT_EQ(diffs(R"({"a":[1,2,3]})", R"({"a":{"0":1}})"),
            std::vector<FieldDiff>{field("/a", FieldChange::TypeChanged, "[1,2,3]", R"({"0":1})")});
  EXPECT_EQ(diffs(R"({"a":[{"x":1},{"y":2}]})", "{}"),
            std::vector<FieldDiff>{field("/a", FieldChange::Removed, R"([{"x":1},{"y":2}])", "")});
}

TEST(JsonCompare, ExcerptsAreShortAndPrintable) {
  const std::string long_text(200, 'x');
  const auto found = diffs("{}", R"({"s":")" + long_text + R"(","o":{"k":")" + long_text + "\"}}");
  ASSERT_EQ(found.size(), 2U);
  EXPECT_EQ(found[0].shadow, "\"" + std::string(47, 'x') + "...");
  EXPECT_EQ(found[1].shadow, R"({"k":")" + std::string(42, 'x') + "...");
  EXPECT_EQ(diffs(R"(["a\nb"])", R"(["a\"b"])"),
            std::vector<FieldDiff>{field("/0", FieldChange::Changed, R"("a\\nb")", R"("a\\"b")")});
}

TEST(JsonCompare, RootScalars) {
  EXPECT_TRUE(diffs("1", "1.0").empty());
  EXPECT_TRUE(diffs(" null ", "null").empty());
  EXPECT_EQ(diffs(R"("a")", R"("b")"),
            std::vector<FieldDiff>{field("", FieldChange::Changed, "\"a\"", "\"b\"")});
  EXPECT_EQ(diffs("null", "false"),
            std::vector<FieldDiff>{field("", FieldChange::TypeChanged, "null", "false")});
  EXPECT_EQ(diffs("true", "false"),
            std::vector<FieldDiff>{field("", FieldChange::Changed, "true", "false")});
  EXPECT_EQ(diffs("{}", "[]"),
            std::vector<FieldDiff>{field("", FieldChange::TypeChanged, "{}", "[]")});
  EXPECT_FALSE(diverge("1", "1e0").has_value());
  EXPECT_EQ(body_diff("1", "2").fields,
            std::vector<FieldDiff>{field("", FieldChange::Changed, "1", "2")});
}

TEST(JsonCompare, IgnoredPointersAreSkippedWithTheirSubtrees) {
  const std::string a = R"({"items":[{"id":1,"updated_at":"t1"},{"id":2,"updated_at":"t2"}],)"
                        R"("debug":{"host":"a","took":3},"total":2})";
  const std::string b =
      R"({"items":[{"id":1,"updated_at":"u1"},{"id":2,"updated_at":"u2","note":"x"}],)"
      R"("debug":["other"],"total":3})";

  rs::PointerPatterns ignored;
  ignored.add("/items/*/updated_at");
  ignored.add("/debug");
  EXPECT_EQ(diffs(a, b, ignored), (std::vector<FieldDiff>{
                                      field("/items/1/note", FieldChange::Added, "", "\"x\""),
                                      field("/total", FieldChange::Changed, "2", "3"),
                                  }));

  const auto config = json_config().ignore_pointer("/items/*/updated_at").ignore_pointer("/debug");
  EXPECT_EQ(body_diff(a, b, config).fields,
            (std::vector<FieldDiff>{
                field("/items/1/note", FieldChange::Added, "", "\"x\""),
                field("/total", FieldChange::Changed, "2", "3"),
            }));

  // With only ignored differences left, the responses match.
  const std::string c =
      R"({"total":2,"debug":null,"items":[{"updated_at":"x","id":1},{"id":2,"updated_at":3}]})";
  EXPECT_TRUE(diffs(a, c, ignored).empty());
  EXPECT_FALSE(diverge(a, c, config).has_value());

  rs::PointerPatterns everything;
  everything.add("");
  EXPECT_TRUE(diffs(a, b, everything).empty());
}

TEST(JsonCompare, ValuePlacesDropChangesOfValueBeforeTheCap) {
  // 100 items whose /id changed at a value place, then one real change: the cap of 3 counts only
  // what is listed, so the real change is still there and nothing is truncated.
  std::string a = R"({"items":[)";
  std::string b = a;
  for (int i = 0; i < 100; ++i) {
    a += (i == 0 ? "" : ",") + std::string(R"({"id":)") + std::to_string(i) + "}";
    b += (i == 0 ? "" : ",") + std::string(R"({"id":)") + std::to_string(i + 1000) + "}";
  }
  a += R"(],"price":10})";
  b += R"(],"price":99})";
  rs::PointerPatterns places;
  places.add_value_place("/items/0/id");
  const auto out = json::compare(a, b, places, {.max_differences = 3});
  EXPECT_FALSE(out.truncated);
  EXPECT_EQ(out.fields,
            (std::vector<FieldDiff>{field("/price", FieldChange::Changed, "10", "99")}));

  // Only a change of value is dropped: a removal and a change of type there are still listed.
  EXPECT_EQ(diffs(R"({"items":[{"id":1},{"id":2}]})", R"({"items":[{},{"id":"2"}]})", places),
            (std::vector<FieldDiff>{
                field("/items/0/id", FieldChange::Removed, "1", ""),
                field("/items/1/id", FieldChange::TypeChanged, "2", "\"2\""),
            }));
}

TEST(JsonCompare, MaxDifferencesCapsTheList) {
  std::string a = "[";
  std::string b = "[";
  for (int i = 0; i < 10; ++i) {
    a += (i == 0 ? "" : ",") + std::to_string(i);
    b += (i == 0 ? "" : ",") + std::to_string(i + 100);
  }
  a += "]";
  b += "]";
  const auto capped = json::compare(a, b, {}, {.max_differences = 3});
  EXPECT_EQ(capped.fields.size(), 3U);
  EXPECT_EQ(capped.fields.back().pointer, "/2");
  EXPECT_TRUE(capped.truncated);

  const auto exact = json::compare(a, b, {}, {.max_differences = 10});
  EXPECT_EQ(exact.fields.size(), 10U);
  EXPECT_FALSE(exact.truncated);

  const rs::BodyDiff body = body_diff(a, b, json_config({.max_differences = 3}));
  EXPECT_EQ(body.fields.size(), 3U);
  EXPECT_TRUE(body.fields_truncated);

  // 0 counts as 1: a divergence always names a place.
  const rs::BodyDiff none = body_diff(a, b, json_config({.max_differences = 0}));
  ASSERT_EQ(none.fields.size(), 1U);
  EXPECT_EQ(none.fields[0].pointer, "/0");
  EXPECT_TRUE(none.fields_truncated);
  EXPECT_EQ(none.format, "json");
}

namespace {

// A plain model of the comparison's rules, to check the fast paths against: every object member
// looked up by a linear search, the last of a repeated name kept.
class Reference {
 public:
  using Found = std::vector<std::pair<std::string, FieldChange>>;

  static Found compare(std::string_view a, std::string_view b) {
    simdjson::dom::parser pa;
    simdjson::dom::parser pb;
    Found out;
    walk("", pa.parse(a.data(), a.size()).value(), pb.parse(b.data(), b.size()).value(), out);
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  using Element = simdjson::dom::element;
  using Type = simdjson::dom::element_type;

  static int kind(Type t) {
    return t == Type::INT64 || t == Type::UINT64 || t == Type::DOUBLE ? 0 : static_cast<int>(t);
  }

  // An integer's exact decimal digits, or a double's when it is an integer; else empty.
  static std::string exact_integer(Element e) {
    if (e.is_int64()) return std::to_string(e.get_int64().value());
    if (e.is_uint64()) return std::to_string(e.get_uint64().value());
    const double d = e.get_double().value();
    if (d != std::floor(d)) return {};
    char buf[400];
    const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed, 0);
    std::string out(buf, r.ptr);
    return out == "-0" ? "0" : out;
  }

  static bool same_number(Element a, Element b) {
    if (a.type() == Type::DOUBLE && b.type() == Type::DOUBLE) {
      return a.get_double().value() == b.get_double().value();
    }
    const std::string x = exact_integer(a);
    return !x.empty() && x == exact_integer(b);
  }

  static std::vector<std::pair<std::string_view, Element>> last_wins(Element e) {
    std::vector<std::pair<std::string_view, Element>> members;
    const simdjson::dom::object object = e.get_object().value();  // not a temporary's member
    for (const auto field : object) {
      auto it = std::find_if(members.begin(), members.end(),
                             [&field](const auto& m) { return m.first == field.key; });
      if (it == members.end()) {
        members.emplace_back(field.key, field.value);
      } else {
        it->second = field.value;
      }
    }
    return members;
  }

  static void walk(const std::string& at, Element a, Element b, Found& out) {
    if (kind(a.type()) != kind(b.type())) {
      out.emplace_back(at, FieldChange::TypeChanged);
    } else if (a.type() == Type::OBJECT) {
      const auto ma = last_wins(a);
      const auto mb = last_wins(b);
      for (const auto& [key, value] : ma) {
        std::string child = at;
        rs::append_pointer_token(child, key);
        auto it = std::find_if(mb.begin(), mb.end(), [&](const auto& m) { return m.first == key; });
        if (it == mb.end()) {
          out.emplace_back(child, FieldChange::Removed);
        } else {
          walk(child, value, it->second, out);
        }
      }
      for (const auto& [key, value] : mb) {
        if (std::none_of(ma.begin(), ma.end(), [&](const auto& m) { return m.first == key; })) {
          std::string child = at;
          rs::append_pointer_token(child, key);
          out.emplace_back(child, FieldChange::Added);
        }
      }
    } else if (a.type() == Type::ARRAY) {
      const auto xa = a.get_array().value();
      const auto xb = b.get_array().value();
      const std::size_t na = xa.size();
      const std::size_t nb = xb.size();
      for (std::size_t i = 0; i < std::max(na, nb); ++i) {
        const std::string child = at + "/" + std::to_string(i);
        if (i >= nb) {
          out.emplace_back(child, FieldChange::Removed);
        } else if (i >= na) {
          out.emplace_back(child, FieldChange::Added);
        } else {
          walk(child, xa.at(i).value(), xb.at(i).value(), out);
        }
      }
    } else if (kind(a.type()) == 0) {
      if (!same_number(a, b)) out.emplace_back(at, FieldChange::Changed);
    } else if (a.type() == Type::STRING) {
      if (a.get_string().value() != b.get_string().value()) {
        out.emplace_back(at, FieldChange::Changed);
      }
    } else if (a.type() == Type::BOOL) {
      if (a.get_bool().value() != b.get_bool().value()) out.emplace_back(at, FieldChange::Changed);
    }
  }
};

// Random JSON texts, and variants of them: members reordered, repeated, added, dropped or
// changed, numbers and strings in other spellings, other whitespace.
class RandomJson {
 public:
  explicit RandomJson(std::uint32_t seed) : rng_(seed) {}

  // A document and a variant of it.
  std::pair<std::string, std::string> pair() {
    const std::uint32_t seed = next(1U << 30U);
    std::mt19937 saved = rng_;
    std::string a;
    std::string b;
    rng_.seed(seed);
    mutate_ = false;
    write(a, 0);
    rng_.seed(seed);
    mutate_ = true;
    write(b, 0);
    rng_ = saved;
    return {a, b};
  }

 private:
  std::uint32_t next(std::uint32_t n) { return static_cast<std::uint32_t>(rng_() % n); }
  bool chance(std::uint32_t percent) { return next(100) < percent; }
  // Mutations draw from their own generator, so both texts follow the same main sequence.
  bool mutation(std::uint32_t percent) {
    const bool hit = static_cast<std::uint32_t>(mutations_() % 100) < percent;
    return mutate_ && hit;
  }
  void space(std::string& out) {
    if (mutate_ && mutations_() % 3 == 0) out += " \n\t"[mutations_() % 3];
  }

  template <std::size_t N>
  std::string pick(const char* const (&options)[N], bool respell) {
    std::size_t i = next(static_cast<std::uint32_t>(N));
    if (respell) i = static_cast<std::size_t>(mutations_() % N);
    return options[i];
  }

  void scalar(std::string& out) {
    static constexpr const char* numbers[] = {"1",
                                              "1.0",
                                              "1e0",
                                              "2",
                                              "-1",
                                              "0",
                                              "-0",
                                              "0.5",
                                              "5e-1",
                                              "18446744073709551615",
                                              "9223372036854775807",
                                              "9223372036854775808",
                                              "-9223372036854775808",
                                              "9007199254740993",
                                              "9007199254740992.0",
                                              "1e-400"};
    static constexpr const char* strings[] = {
        R"("v")", R"("w")", R"("\u00e9")", "\"\xc3\xa9\"", R"("a\nb")", R"("q\"")", R"("")"};
    static constexpr const char* others[] = {"true", "false", "null"};
    const std::uint32_t type = next(3);
    const bool respell = mutation(15);
    if (type == 0) {
      out += pick(numbers, respell);
    } else if (type == 1) {
      out += pick(strings, respell);
    } else {
      out += pick(others, respell);
    }
  }

  void write(std::string& out, int depth) {
    space(out);
    const std::uint32_t shape = depth >= 4 ? 9 : next(10);  // 9: a scalar
    if (mutation(5)) {
      scalar(out);  // a different value, maybe of another type
      (void)next(1U << 20U);
    } else if (shape < 3) {
      array(out, depth);
    } else if (shape < 6) {
      object(out, depth);
    } else {
      scalar(out);
    }
    space(out);
  }

  void array(std::string& out, int depth) {
    std::uint32_t n = next(5);
    if (mutation(10)) n = n + 1;
    if (mutation(10) && n > 0) n = n - 1;
    out += '[';
    for (std::uint32_t i = 0; i < n; ++i) {
      if (i > 0) out += ',';
      write(out, depth + 1);
    }
    out += ']';
  }

  void object(std::string& out, int depth) {
    static constexpr const char* names[] = {"a", "b", "c", "id", "a/b", "m~n", "xy", "x\\u0079"};
    const bool wide = chance(15);
    const std::uint32_t n = wide ? 17 + next(6) : next(6);
    std::vector<std::string> members;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::string key = wide && chance(90) ? "k" + std::to_string(i) : pick(names, false);
      std::string value;
      write(value, depth + 1);
      if (mutation(8)) continue;  // dropped
      members.push_back('"' + key + "\":" + value);
      if (mutation(5)) members.push_back(R"("new":1)");
      if (mutation(4)) members.push_back('"' + key + "\":" + "[\"again\"]");  // repeated name
    }
    if (mutate_ && mutations_() % 3 != 0) {
      const auto how = mutations_() % 3;
      if (how == 0) {
        std::reverse(members.begin(), members.end());
      } else if (how == 1 && members.size() > 1) {
        std::rotate(members.begin(), members.begin() + 1, members.end());
      } else {
        std::shuffle(members.begin(), members.end(), mutations_);
      }
    }
    out += '{';
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i > 0) out += ',';
      space(out);
      out += members[i];
    }
    out += '}';
  }

  std::mt19937 rng_;
  std::mt19937 mutations_{12345};
  bool mutate_ = false;
};

}  // namespace

TEST(JsonCompare, AgreesWithAPlainModelOnRandomDocuments) {
  RandomJson random(2026);
  int compared = 0;
  int differing = 0;
  for (int i = 0; i < 3000; ++i) {
    const auto [a, b] = random.pair();
    simdjson::dom::parser check;
    if (check.parse(a).error() || check.parse(b).error()) continue;  // e.g. a lone "-" drawn
    ++compared;
    // The model compares arrays by position: so does the comparison without alignment.
    const json::Options positions{.max_differences = 100'000, .max_aligned_items = 0};
    const auto found = json::compare(a, b, {}, positions);
    ASSERT_FALSE(found.truncated);
    Reference::Found got;
    for (const auto& f : found.fields) got.emplace_back(f.pointer, f.change);
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, Reference::compare(a, b)) << "primary: " << a << "\nshadow:  " << b;
    if (!got.empty()) ++differing;
    // Comparing a document with itself, or with its own variant both ways, is consistent.
    ASSERT_TRUE(json::compare(a, a).fields.empty()) << a;
    ASSERT_EQ(json::compare(b, a, {}, positions).fields.size(), got.size());
  }
  EXPECT_GT(compared, 2500);
  EXPECT_GT(differing, 1000);
  EXPECT_LT(differing, compared);
}

TEST(JsonCompare, IgnorePatternsAgreeWithFilteringTheDifferences) {
  // Skipping ignored values during the walk must give exactly the differences that filtering
  // the full list with PointerPatterns::matches gives: the same places, the same order.
  RandomJson random(77);
  std::mt19937 rng(77);
  const json::Options all{.max_differences = 100'000};
  int checked = 0;
  for (int i = 0; i < 3000; ++i) {
    const auto [a, b] = random.pair();
    simdjson::dom::parser check;
    if (check.parse(a).error() || check.parse(b).error()) continue;
    const auto full = json::compare(a, b, {}, all).fields;
    if (full.empty()) continue;
    // Patterns made from the differences found: a prefix of one's tokens, some of them `*`.
    rs::PointerPatterns patterns;
    for (int k = 0; k < 2; ++k) {
      const std::string& pointer = full[rng() % full.size()].pointer;
      std::vector<std::string> tokens;
      for (std::size_t at = 0; at < pointer.size();) {
        const std::size_t end = pointer.find('/', at + 1);
        tokens.emplace_back(pointer.substr(at + 1, end == std::string::npos ? end : end - at - 1));
        at = end == std::string::npos ? pointer.size() : end;
      }
      if (tokens.empty()) continue;  // the root: tested elsewhere
      const std::size_t keep = 1 + rng() % tokens.size();
      std::string pattern;
      for (std::size_t t = 0; t < keep; ++t) pattern += '/' + (rng() % 3 == 0 ? "*" : tokens[t]);
      if (rng() % 8 == 0) pattern += "~";  // an invalid escape: matches nothing
      patterns.add(pattern);
    }
    std::vector<FieldDiff> expected;
    for (const auto& f : full) {
      if (!patterns.matches(f.pointer)) expected.push_back(f);
    }
    ASSERT_EQ(json::compare(a, b, patterns, all).fields, expected)
        << "primary: " << a << "\nshadow:  " << b << "\npattern: " << patterns.patterns()[0];
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

TEST(JsonCompare, SwappingTheSidesSwapsAddedAndRemoved) {
  // The same places, each seen from the other side: `added` and `removed` trade places, and so do
  // the excerpts; only the order (the primary's members first) may differ.
  const auto sorted = [](std::vector<FieldDiff> found) {
    std::sort(found.begin(), found.end(),
              [](const FieldDiff& x, const FieldDiff& y) { return x.pointer < y.pointer; });
    return found;
  };
  // By position: an alignment of arrays whose elements moved may break a tie either way.
  RandomJson random(31);
  const json::Options all{.max_differences = 100'000, .max_aligned_items = 0};
  int differing = 0;
  for (int i = 0; i < 2000; ++i) {
    const auto [a, b] = random.pair();
    simdjson::dom::parser check;
    if (check.parse(a).error() || check.parse(b).error()) continue;
    auto swapped = json::compare(b, a, {}, all).fields;
    for (auto& f : swapped) {
      if (f.change == FieldChange::Added) {
        f.change = FieldChange::Removed;
      } else if (f.change == FieldChange::Removed) {
        f.change = FieldChange::Added;
      }
      std::swap(f.primary, f.shadow);
    }
    const auto found = sorted(json::compare(a, b, {}, all).fields);
    ASSERT_EQ(sorted(swapped), found) << "primary: " << a << "\nshadow:  " << b;
    if (!found.empty()) ++differing;
  }
  EXPECT_GT(differing, 500);
}

TEST(JsonCompare, ACappedListIsAPrefixOfTheFullOne) {
  RandomJson random(57);
  int truncated = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto [a, b] = random.pair();
    simdjson::dom::parser check;
    if (check.parse(a).error() || check.parse(b).error()) continue;
    const auto full = json::compare(a, b, {}, {.max_differences = 100'000}).fields;
    for (const std::size_t cap : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{5},
                                  full.size(), full.size() + 1}) {
      const auto capped = json::compare(a, b, {}, {.max_differences = cap});
      const std::size_t kept = std::min(std::max<std::size_t>(cap, 1), full.size());
      ASSERT_EQ(capped.fields, std::vector<FieldDiff>(
                                   full.begin(), full.begin() + static_cast<std::ptrdiff_t>(kept)))
          << "cap " << cap << "\nprimary: " << a << "\nshadow:  " << b;
      ASSERT_EQ(capped.truncated, full.size() > kept) << "cap " << cap;
      if (capped.truncated) ++truncated;
    }
  }
  EXPECT_GT(truncated, 300);
}

TEST(JsonCompare, MangledBodiesThrowOnlyParseError) {
  // Cut, flipped, repeated or inserted bytes: each body is read, or is a ParseError, never
  // anything else; and whatever is read equals itself.
  RandomJson random(4242);
  std::mt19937 rng(4242);
  const char* const splices[] = {
      "\xEF\xBB\xBF", "\xFF", "\xC3", "\x00",    "\"",    "\\", "[", "{", "}", "]", ",", ":",
      "1e400",        "-",    "\\u",  "\\ud800", "1e-400"};
  int parsed = 0;
  int rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    auto [a, b] = random.pair();
    for (std::string* text : {&a, &b}) {
      const std::size_t edits = rng() % 3;
      for (std::size_t e = 0; e < edits && !text->empty(); ++e) {
        const std::size_t at = rng() % text->size();
        switch (rng() % 4) {
          case 0:
            text->resize(at);
            break;
          case 1:
            (*text)[at] = static_cast<char>(rng() % 256);
            break;
          case 2:
            text->insert(at, text->substr(at, rng() % 8));
            break;
          default: {
            const std::string_view splice = splices[rng() % std::size(splices)];
            text->insert(at, splice.empty() ? std::string(1, '\0') : std::string(splice));
          }
        }
      }
    }
    try {
      const auto found = json::compare(a, b, {}, {.max_differences = 1 + rng() % 4});
      (void)found;
      ++parsed;
      ASSERT_TRUE(json::compare(a, a).fields.empty()) << a;
      ASSERT_TRUE(json::compare(b, b).fields.empty()) << b;
    } catch (const json::ParseError&) {
      ++rejected;
    } catch (...) {
      FAIL() << "not a ParseError\nprimary: " << a << "\nshadow:  " << b;
    }
  }
  EXPECT_GT(parsed, 300);
  EXPECT_GT(rejected, 300);
}

TEST(JsonCompare, IgnorePatternsWithInvalidEscapesMatchNothing) {
  // `~` is written `~0` in a pointer: a pattern with a bare `~` names no written pointer, for the
  // walk exactly as for PointerPatterns::matches.
  for (const char* text : {"/a~b", "/a~", "/~2x"}) {
    rs::PointerPatterns p;
    p.add(text);
    EXPECT_FALSE(p.matches("/a~0b")) << text;
    EXPECT_EQ(diffs(R"({"a~b":1,"a~":1,"~2x":1})", R"({"a~b":2,"a~":2,"~2x":2})", p).size(), 3U)
        << text;
  }
  rs::PointerPatterns valid;
  valid.add("/a~0b");
  EXPECT_EQ(diffs(R"({"a~b":1,"a/b":1})", R"({"a~b":2,"a/b":2})", valid),
            (std::vector<FieldDiff>{field("/a~1b", FieldChange::Changed, "1", "2")}));
}

TEST(JsonCompare, IgnorePatternsMatchAtEveryDepth) {
  // 200 nested objects, each with a differing `k~/` member (escaped `~0~1` in a pointer).
  std::string a;
  std::string b;
  for (int d = 0; d < 200; ++d) {
    a += R"({"k~/":1,"n":)";
    b += R"({"k~/":2,"n":)";
  }
  a += "0";
  b += "1";
  for (int d = 0; d < 200; ++d) {
    a += "}";
    b += "}";
  }
  rs::PointerPatterns unrelated;
  unrelated.add("/nothing/here");
  EXPECT_EQ(json::compare(a, b, unrelated).fields, json::compare(a, b).fields);
  EXPECT_EQ(json::compare(a, b).fields.size(), 64U);  // the default cap
  // `~0~1` is the escaped `~/`: every level's `k~/` is ignored, only the innermost number left.
  rs::PointerPatterns keys;
  std::string wildcard_path;
  keys.add("/k~0~1");
  for (int d = 1; d < 200; ++d) {
    wildcard_path += "/n";
    keys.add(wildcard_path + "/k~0~1");
  }
  const auto left = json::compare(a, b, keys).fields;
  ASSERT_EQ(left.size(), 1U);
  EXPECT_EQ(left[0].change, FieldChange::Changed);
}

TEST(JsonCompare, LargeObjectsInAnotherOrder) {
  std::string a = "{";
  std::string b = "{\"z\":0";
  for (int i = 0; i < 30; ++i) {
    a += (i == 0 ? "\"k" : ",\"k") + std::to_string(i) + "\":" + std::to_string(i);
  }
  for (int i = 29; i >= 0; --i) {
    if (i == 7) continue;
    b += ",\"k" + std::to_string(i) + "\":" + std::to_string(i == 5 ? 50 : i);
  }
  a += "}";
  b += "}";
  EXPECT_EQ(diffs(a, b), (std::vector<FieldDiff>{
                             field("/k5", FieldChange::Changed, "5", "50"),
                             field("/k7", FieldChange::Removed, "7", ""),
                             field("/z", FieldChange::Added, "", "0"),
                         }));
}

TEST(JsonCompare, LargeBodiesAreReadAndTheirBuffersFreedAfterwards) {
  std::string a = R"({"items":[)";
  for (int i = 0; i < 40'000; ++i) {
    a += (i == 0 ? "" : ",") + (R"({"id":)" + std::to_string(i) + R"(,"name":"item"})");
  }
  a += "]}";
  std::string b = a;
  b.replace(b.find(R"("id":39999)"), 10, R"("id":40000)");
  ASSERT_GT(a.size(), std::size_t{1} << 20);
  EXPECT_EQ(diffs(a, b), std::vector<FieldDiff>{
                             field("/items/39999/id", FieldChange::Changed, "39999", "40000")});
  // A body over 1 MiB does not stay allocated in the thread's parsers.
  EXPECT_LE(json::detail::scratch().primary.capacity(), std::size_t{1} << 20);
  EXPECT_LE(json::detail::scratch().shadow.capacity(), std::size_t{1} << 20);
  EXPECT_EQ(diffs(R"({"a":1})", R"({"a":2})").size(), 1U);
}

TEST(JsonComparator, KnowsJsonContentTypes) {
  EXPECT_TRUE(json::is_json_content_type("application/json"));
  EXPECT_TRUE(json::is_json_content_type("application/json; charset=utf-8"));
  EXPECT_TRUE(json::is_json_content_type("Application/JSON;charset=UTF-8"));
  EXPECT_TRUE(json::is_json_content_type(" application/json "));
  EXPECT_TRUE(json::is_json_content_type("application/problem+json"));
  EXPECT_TRUE(json::is_json_content_type("application/vnd.api+JSON; ext=x"));
  EXPECT_FALSE(json::is_json_content_type(""));
  EXPECT_FALSE(json::is_json_content_type("text/plain"));
  EXPECT_FALSE(json::is_json_content_type("application/jsonp"));
  EXPECT_FALSE(json::is_json_content_type("application/json-seq"));
  EXPECT_FALSE(json::is_json_content_type("application/+json"));
  EXPECT_FALSE(json::is_json_content_type("json"));
  EXPECT_FALSE(json::is_json_content_type("application/xml; profile=+json"));
}

TEST(JsonComparator, AppliesWhenBothContentTypesAreJson) {
  const std::string a = R"({"a":1,"b":2})";
  const std::string b = R"({"b":2,"a":1})";
  auto config = json_config();
  config.ignore_header("content-type");
  EXPECT_FALSE(Divergence::compare(json_response(a, "application/json; charset=utf-8"),
                                   json_response(b, "application/json"), config));
  EXPECT_FALSE(Divergence::compare(json_response(a, "application/problem+json"),
                                   json_response(b, "application/problem+json"), config));

  for (const auto& [pct, sct] : std::vector<std::pair<std::string, std::string>>{
           {"text/plain", "text/plain"}, {"application/json", "text/plain"}, {"", ""}}) {
    const auto d = Divergence::compare(json_response(a, pct), json_response(b, sct), config);
    ASSERT_TRUE(d && d->body) << pct << " / " << sct;
    EXPECT_TRUE(d->body->format.empty());
    EXPECT_TRUE(d->body->fields.empty());
    EXPECT_TRUE(d->body->fallback.empty()) << d->body->fallback;
  }

  // Without content types, only `by_content_type = false` reads the bodies as JSON.
  EXPECT_TRUE(Divergence::compare(ResponseRecord::success(a), ResponseRecord::success(b), config));
  auto always = json_config({.by_content_type = false});
  always.ignore_header("content-type");
  EXPECT_FALSE(Divergence::compare(ResponseRecord::success(a), ResponseRecord::success(b), always));
  EXPECT_FALSE(
      Divergence::compare(json_response(a, "text/plain"), json_response(b, "text/html"), always));
  EXPECT_FALSE(json::comparator({.by_content_type = false}).applies);
  EXPECT_EQ(json::comparator().name, "json");
}

TEST(JsonComparator, ReportsThroughTheDivergenceAndItsSignature) {
  const auto d = diverge(R"({"user":"u","items":[{"p":1}]})",
                         R"({"items":[{"p":2}],"user":"u","tier":"gold"})");
  ASSERT_TRUE(d && d->body);
  EXPECT_EQ(d->body->fields, (std::vector<FieldDiff>{
                                 field("/items/0/p", FieldChange::Changed, "1", "2"),
                                 field("/tier", FieldChange::Added, "", "\"gold\""),
                             }));
  EXPECT_EQ(rs::signature(*d).text, "body json /items/*/p changed, /tier added");
}

TEST(JsonComparator, ConcurrentComparisonsEachUseTheirOwnParsers) {
  const auto comparator = json::comparator();
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (std::size_t t = 0; t < failures.size(); ++t) {
    threads.emplace_back([&comparator, &failures, t] {
      const std::string id = std::to_string(t);
      const std::string a = R"({"t":)" + id + R"(,"v":[1,2,{"x":"a"}]})";
      const std::string b = R"({"v":[1,2,{"x":"b"}],"t":)" + id + "}";
      for (int i = 0; i < 300; ++i) {
        const auto found = comparator.compare(a, b, {});
        if (found.fields !=
            std::vector<FieldDiff>{field("/v/2/x", FieldChange::Changed, "\"a\"", "\"b\"")}) {
          ++failures[t];
        }
        if (!comparator.compare(a, a, {}).fields.empty()) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}
