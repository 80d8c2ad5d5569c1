// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/divergence.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace rs = request_shadow;
using rs::Divergence;
using rs::ResponseRecord;

TEST(Divergence, IdenticalResponsesDoNotDiverge) {
  const auto a = ResponseRecord::success("hello").with_header("content-type", "text/plain");
  const auto b = ResponseRecord::success("hello").with_header("Content-Type", "text/plain");
  EXPECT_FALSE(Divergence::compare(a, b, {}).has_value());
}

TEST(Divergence, BodyDifferenceReportsLengthsAndSharedPrefix) {
  const auto d = Divergence::compare(ResponseRecord::success("hello world"),
                                     ResponseRecord::success("hello earth"), {});
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->body.has_value());
  EXPECT_EQ(d->body->primary_len, 11U);
  EXPECT_EQ(d->body->shadow_len, 11U);
  EXPECT_EQ(d->body->prefix_equal_bytes, 6U);
  EXPECT_FALSE(d->status.has_value());
  EXPECT_FALSE(d->headers.has_value());
}

TEST(Divergence, StatusDifference) {
  const auto d =
      Divergence::compare(ResponseRecord::success("x"), ResponseRecord::failure(500, "x"));
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->status.has_value());
  EXPECT_EQ(d->status->primary, 200);
  EXPECT_EQ(d->status->shadow, 500);
  EXPECT_TRUE(d->status->primary_ok);
  EXPECT_FALSE(d->status->shadow_ok);
  EXPECT_FALSE(d->body.has_value());
}

TEST(Divergence, OkFlagAloneIsAStatusDifference) {
  auto a = ResponseRecord::success("x");
  auto b = ResponseRecord::success("x");
  a.status = b.status = 0;  // a non-HTTP backend
  b.ok = false;
  const auto d = Divergence::compare(a, b);
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->status.has_value());
  EXPECT_EQ(d->status->primary, 0);
  EXPECT_EQ(d->status->shadow, 0);
  EXPECT_FALSE(d->status->shadow_ok);
}

TEST(Divergence, HeaderChangedAddedAndRemoved) {
  const auto a = ResponseRecord::success("x")
                     .with_header("Content-Type", "text/plain")
                     .with_header("x-old", "1")
                     .with_header("x-same", "s");
  const auto b = ResponseRecord::success("x")
                     .with_header("content-type", "application/json")
                     .with_header("X-New", "1")
                     .with_header("x-same", "s");
  const auto d = Divergence::compare(a, b);
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->headers.has_value());
  EXPECT_EQ(d->headers->changed, std::vector<std::string>{"content-type"});
  EXPECT_EQ(d->headers->added, std::vector<std::string>{"x-new"});
  EXPECT_EQ(d->headers->removed, std::vector<std::string>{"x-old"});
  EXPECT_FALSE(d->body.has_value());
  EXPECT_FALSE(d->status.has_value());
}

TEST(Divergence, RepeatedHeaderValuesCompareInOrderAndCount) {
  auto base = [] {
    return ResponseRecord::success().with_header("set-cookie", "a").with_header("set-cookie", "b");
  };
  EXPECT_FALSE(Divergence::compare(base(), base()).has_value());
  const auto reordered =
      ResponseRecord::success().with_header("set-cookie", "b").with_header("set-cookie", "a");
  const auto fewer = ResponseRecord::success().with_header("set-cookie", "a");
  for (const auto& other : {reordered, fewer}) {
    const auto d = Divergence::compare(base(), other);
    ASSERT_TRUE(d && d->headers);
    EXPECT_EQ(d->headers->changed, std::vector<std::string>{"set-cookie"});
  }
}

TEST(Divergence, IgnoreSilencesEachAspect) {
  const auto a = ResponseRecord::success("hello world").with_header("x", "1");
  const auto b = ResponseRecord::failure(500, "hello earth").with_header("x", "2");
  using rs::IgnoreField;
  const auto cfg = [](IgnoreField f) { return rs::ShadowConfig::full_sample().ignore(f); };

  const auto no_body = Divergence::compare(a, b, cfg(IgnoreField::Body));
  ASSERT_TRUE(no_body);
  EXPECT_FALSE(no_body->body);
  EXPECT_TRUE(no_body->status);
  EXPECT_TRUE(no_body->headers);

  const auto no_status = Divergence::compare(a, b, cfg(IgnoreField::Status));
  ASSERT_TRUE(no_status);
  EXPECT_FALSE(no_status->status);

  const auto no_headers = Divergence::compare(a, b, cfg(IgnoreField::Headers));
  ASSERT_TRUE(no_headers);
  EXPECT_FALSE(no_headers->headers);

  EXPECT_FALSE(Divergence::compare(
      a, b, cfg(IgnoreField::Body | IgnoreField::Status | IgnoreField::Headers)));
  EXPECT_FALSE(Divergence::compare(ResponseRecord::success("hello world"),
                                   ResponseRecord::success("hello earth"), cfg(IgnoreField::Body)));
}

TEST(Divergence, EmptyBodies) {
  EXPECT_FALSE(Divergence::compare(ResponseRecord::success(""), ResponseRecord::success("")));
  const auto d = Divergence::compare(ResponseRecord::success(""), ResponseRecord::success("x"));
  ASSERT_TRUE(d && d->body);
  EXPECT_EQ(*d->body, (rs::BodyDiff{0, 1, 0, "", "x", {}, {}, false, {}}));
}

TEST(Divergence, BinaryBodiesWithEveryByteValue) {
  std::string bytes;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  }
  EXPECT_FALSE(Divergence::compare(ResponseRecord::success(bytes), ResponseRecord::success(bytes)));
  // Every position, so the block and the byte paths of the prefix scan are both exercised.
  for (std::size_t pos = 0; pos < bytes.size(); pos += 13) {
    std::string other = bytes;
    other[pos] = static_cast<char>(other[pos] ^ 0x01);
    const auto d =
        Divergence::compare(ResponseRecord::success(bytes), ResponseRecord::success(other));
    ASSERT_TRUE(d && d->body) << pos;
    EXPECT_EQ(d->body->prefix_equal_bytes, pos);
  }
}

TEST(Divergence, TenMegabyteBodies) {
  const std::size_t size = 10U * 1024U * 1024U;
  std::string big(size, '\0');
  for (std::size_t i = 0; i < size; ++i) big[i] = static_cast<char>((i * 31U) & 0xFFU);
  EXPECT_FALSE(Divergence::compare(ResponseRecord::success(big), ResponseRecord::success(big)));

  std::string last = big;
  last.back() = static_cast<char>(last.back() ^ 0x80);
  auto d = Divergence::compare(ResponseRecord::success(big), ResponseRecord::success(last));
  ASSERT_TRUE(d && d->body);
  EXPECT_EQ(d->body->primary_len, size);
  EXPECT_EQ(d->body->shadow_len, size);
  EXPECT_EQ(d->body->prefix_equal_bytes, size - 1);
  EXPECT_LE(d->body->shadow_excerpt.size(), 3U + 4U * 64U);

  const std::string longer = big + "!";
  d = Divergence::compare(ResponseRecord::success(big), ResponseRecord::success(longer));
  ASSERT_TRUE(d && d->body);
  EXPECT_EQ(d->body->primary_len, size);
  EXPECT_EQ(d->body->shadow_len, size + 1);
  EXPECT_EQ(d->body->prefix_equal_bytes, size);
  EXPECT_EQ(d->body->shadow_excerpt.substr(d->body->shadow_excerpt.size() - 1), "!");

  d = Divergence::compare(ResponseRecord::success(longer), ResponseRecord::success(big));
  ASSERT_TRUE(d && d->body);
  EXPECT_EQ(d->body->primary_len, size + 1);
  EXPECT_EQ(d->body->shadow_len, size);
  EXPECT_EQ(d->body->prefix_equal_bytes, size);
}

TEST(Divergence, ToStringNamesEveryPart) {
  const auto d = Divergence::compare(
      ResponseRecord::success("hello world").with_header("a", "1"),
      ResponseRecord::failure(500, "hello earth").with_header("a", "2").with_header("b", "1"));
  ASSERT_TRUE(d);
  EXPECT_EQ(
      rs::to_string(*d),
      "status 200->500(!ok); headers added [b] changed [a]; body 11 vs 11 bytes, equal for 6");
}

TEST(Divergence, IgnoreHeaderSilencesOneHeaderCaseInsensitively) {
  const auto a = ResponseRecord::success("x").with_header("Date", "Mon").with_header("x-v", "1");
  const auto b = ResponseRecord::success("x")
                     .with_header("date", "Tue")
                     .with_header("X-Request-Id", "7")
                     .with_header("x-v", "1");
  auto cfg = rs::ShadowConfig::full_sample().ignore_header("DATE");
  const auto d = Divergence::compare(a, b, cfg);
  ASSERT_TRUE(d && d->headers);
  EXPECT_TRUE(d->headers->changed.empty());
  EXPECT_EQ(d->headers->added, std::vector<std::string>{"x-request-id"});
  cfg.ignore_header("x-request-id");
  EXPECT_FALSE(Divergence::compare(a, b, cfg));
  EXPECT_EQ(cfg.ignored_headers(), (std::vector<std::string>{"date", "x-request-id"}));
}

TEST(Divergence, NoisyHeaderPresetIsOptIn) {
  const auto a = ResponseRecord::success("x")
                     .with_header("Date", "Mon")
                     .with_header("Server", "v1")
                     .with_header("ETag", "a")
                     .with_header("Content-Type", "text/plain");
  const auto b = ResponseRecord::success("x")
                     .with_header("Date", "Tue")
                     .with_header("Server", "v2")
                     .with_header("traceparent", "00-1")
                     .with_header("Content-Type", "application/json");
  const auto plain = Divergence::compare(a, b);
  ASSERT_TRUE(plain && plain->headers);
  EXPECT_EQ(plain->headers->changed, (std::vector<std::string>{"content-type", "date", "server"}));
  const auto quiet =
      Divergence::compare(a, b, rs::ShadowConfig::full_sample().ignore_noisy_headers());
  ASSERT_TRUE(quiet && quiet->headers);
  EXPECT_EQ(quiet->headers->changed, std::vector<std::string>{"content-type"});
  EXPECT_TRUE(quiet->headers->added.empty());
  EXPECT_TRUE(quiet->headers->removed.empty());
}

TEST(Divergence, BodyExcerptsShowTheFirstDifferencePrintably) {
  const std::string base = "0123456789abcdefghijklmnopqrstuvwxyz" + std::string(100, '.');
  std::string other = base;
  other[30] = '\n';
  other[31] = '\x01';
  const auto d = Divergence::compare(ResponseRecord::success(base), ResponseRecord::success(other));
  ASSERT_TRUE(d && d->body);
  EXPECT_EQ(d->body->prefix_equal_bytes, 30U);
  // 16 bytes before the difference, 48 from it, "..." where the body goes on.
  EXPECT_EQ(d->body->primary_excerpt, "...efghijklmnopqrstuvwxyz" + std::string(42, '.') + "...");
  EXPECT_EQ(d->body->shadow_excerpt,
            "...efghijklmnopqrst\\n\\x01wxyz" + std::string(42, '.') + "...");
}

TEST(Divergence, AValuePlaceHidesOnlyAChangeOfValueThere) {
  // `path=value` bodies in which a value of digits is a number: `a=x` to `a=1` changes type.
  rs::BodyComparator typed = rs::test::kv_comparator(/*any=*/true, /*paths=*/true);
  typed.compare = [inner = typed.compare](std::string_view a, std::string_view b,
                                          const rs::PointerPatterns& ignored) {
    rs::BodyComparison out = inner(a, b, ignored);
    for (auto& f : out.fields) {
      const bool was = f.primary.find_first_not_of("0123456789") == std::string::npos;
      const bool is = f.shadow.find_first_not_of("0123456789") == std::string::npos;
      if (f.change == rs::FieldChange::Changed && was != is) {
        f.change = rs::FieldChange::TypeChanged;
      }
    }
    return out;
  };
  const auto config = rs::ShadowConfig().body_comparator(typed);
  rs::PointerPatterns places;
  places.add_value_place("/id");
  const auto compare = [&](std::string_view a, std::string_view b) {
    return Divergence::compare(ResponseRecord::success(a), ResponseRecord::success(b), config, {},
                               places);
  };
  EXPECT_FALSE(compare("id=a;n=1", "id=b;n=1"));
  const std::vector<std::pair<std::string, rs::FieldChange>> expected[] = {
      {{"/id", rs::FieldChange::Removed}},
      {{"/id", rs::FieldChange::TypeChanged}},
      {{"/id/x", rs::FieldChange::Added}},
  };
  const std::string_view shadows[] = {"n=1", "id=5;n=1", "id=a;id/x=1;n=1"};
  for (std::size_t i = 0; i < std::size(shadows); ++i) {
    const auto d = compare("id=a;n=1", shadows[i]);
    ASSERT_TRUE(d && d->body) << shadows[i];
    std::vector<std::pair<std::string, rs::FieldChange>> found;
    for (const auto& f : d->body->fields) found.emplace_back(f.pointer, f.change);
    EXPECT_EQ(found, expected[i]) << shadows[i];
  }
}

// Short bodies are compared inline, by overlapping words: one differing byte anywhere in any
// length up to 40 is found, and equal bytes are equal.
TEST(Divergence, EveryByteOfShortBodiesCounts) {
  for (std::size_t n = 0; n <= 40; ++n) {
    const std::string body(n, 'b');
    ASSERT_FALSE(Divergence::compare(ResponseRecord::success(body), ResponseRecord::success(body)))
        << n;
    for (std::size_t at = 0; at < n; ++at) {
      std::string other = body;
      other[at] = 'c';
      const auto d =
          Divergence::compare(ResponseRecord::success(body), ResponseRecord::success(other));
      ASSERT_TRUE(d && d->body) << n << " " << at;
      EXPECT_EQ(d->body->prefix_equal_bytes, at);
    }
  }
}

// More differing headers than the walk notes before allocating: every one is listed, in order.
TEST(Divergence, ListsEveryHeaderWhenManyDiffer) {
  ResponseRecord primary = ResponseRecord::success("x");
  ResponseRecord shadow = ResponseRecord::success("x");
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> changed;
  for (int i = 10; i < 40; ++i) {
    const std::string name = "h" + std::to_string(i);
    switch (i % 4) {
      case 0:
        shadow.with_header(name, "v");
        added.push_back(name);
        break;
      case 1:
        primary.with_header(name, "v");
        removed.push_back(name);
        break;
      case 2:
        primary.with_header(name, "v").with_header(name, "w");
        shadow.with_header(name, "v").with_header(name, "W");
        changed.push_back(name);
        break;
      default:
        primary.with_header(name, "same value, longer than sixteen bytes");
        shadow.with_header(name, "same value, longer than sixteen bytes");
    }
  }
  const auto d = Divergence::compare(primary, shadow);
  ASSERT_TRUE(d && d->headers);
  EXPECT_EQ(d->headers->added, added);
  EXPECT_EQ(d->headers->removed, removed);
  EXPECT_EQ(d->headers->changed, changed);
  EXPECT_FALSE(d->status);
  EXPECT_FALSE(d->body);
}

// Both sides with the same names in the same order: each changed name once, wherever in a run of
// repeated names its values differ.
TEST(Divergence, SameNamesInSameOrderListEachChangedNameOnce) {
  const auto primary = ResponseRecord::success("x")
                           .with_header("a", "1")
                           .with_header("b", "1")
                           .with_header("b", "2")
                           .with_header("b", "3")
                           .with_header("c", "1")
                           .with_header("d", "1")
                           .with_header("d", "2");
  const auto shadow = ResponseRecord::success("x")
                          .with_header("a", "1")
                          .with_header("b", "1")
                          .with_header("b", "2")
                          .with_header("b", "4")
                          .with_header("c", "1")
                          .with_header("d", "9")
                          .with_header("d", "8");
  const auto d = Divergence::compare(primary, shadow);
  ASSERT_TRUE(d && d->headers);
  EXPECT_EQ(d->headers->changed, (std::vector<std::string>{"b", "d"}));
  EXPECT_TRUE(d->headers->added.empty());
  EXPECT_TRUE(d->headers->removed.empty());
}

// As many fields on each side, a value differing before the names part: the names still decide.
TEST(Divergence, SameCountOfFieldsWithOtherNames) {
  const auto primary =
      ResponseRecord::success("x").with_header("a", "1").with_header("b", "x").with_header("c",
                                                                                           "1");
  const auto shadow =
      ResponseRecord::success("x").with_header("a", "2").with_header("b", "x").with_header("d",
                                                                                           "1");
  const auto d = Divergence::compare(primary, shadow);
  ASSERT_TRUE(d && d->headers);
  EXPECT_EQ(d->headers->changed, std::vector<std::string>{"a"});
  EXPECT_EQ(d->headers->removed, std::vector<std::string>{"c"});
  EXPECT_EQ(d->headers->added, std::vector<std::string>{"d"});
}

// More changed names than the walk notes before allocating, with the same names on both sides.
TEST(Divergence, ListsEveryChangedNameOfTheSameNames) {
  ResponseRecord primary = ResponseRecord::success("x");
  ResponseRecord shadow = ResponseRecord::success("x");
  std::vector<std::string> changed;
  for (int i = 10; i < 30; ++i) {
    const std::string name = "h" + std::to_string(i);
    primary.with_header(name, "v");
    shadow.with_header(name, i % 3 == 0 ? "v" : "w");
    if (i % 3 != 0) changed.push_back(name);
  }
  const auto d = Divergence::compare(primary, shadow);
  ASSERT_TRUE(d && d->headers);
  EXPECT_EQ(d->headers->changed, changed);
  EXPECT_TRUE(d->headers->added.empty());
  EXPECT_TRUE(d->headers->removed.empty());
}

// The framing headers describe the message, not the answer: by default a comparison leaves them
// out, whatever their case and whichever side sends them; other headers are still compared.
TEST(Divergence, FramingHeadersAreLeftOutByDefault) {
  for (const auto name : rs::ShadowConfig::framing_headers()) {
    std::string mixed(name);
    mixed[0] = static_cast<char>(mixed[0] - 'a' + 'A');
    const auto a = ResponseRecord::success("x").with_header(mixed, "1").with_header("x-v", "1");
    const auto b = ResponseRecord::success("x").with_header(name, "2").with_header("x-v", "1");
    const auto only_a =
        ResponseRecord::success("x").with_header(mixed, "1").with_header("x-v", "1");
    const auto none = ResponseRecord::success("x").with_header("x-v", "1");
    EXPECT_FALSE(Divergence::compare(a, b)) << name;
    EXPECT_FALSE(Divergence::compare(only_a, none)) << name;
    EXPECT_FALSE(Divergence::compare(none, only_a)) << name;

    const auto c = ResponseRecord::success("x").with_header(name, "3").with_header("x-v", "2");
    const auto d = Divergence::compare(a, c);
    ASSERT_TRUE(d && d->headers) << name;
    EXPECT_EQ(d->headers->changed, std::vector<std::string>{"x-v"}) << name;
    EXPECT_TRUE(d->headers->added.empty()) << name;
    EXPECT_TRUE(d->headers->removed.empty()) << name;
  }
}

TEST(Divergence, CompareFramingHeadersReportsThem) {
  const auto a = ResponseRecord::success("{\"a\": 1}")
                     .with_header("Content-Length", "8")
                     .with_header("Connection", "close")
                     .with_header("x-v", "1");
  const auto b = ResponseRecord::success("{\"a\":1}")
                     .with_header("content-length", "7")
                     .with_header("Transfer-Encoding", "chunked")
                     .with_header("x-v", "1");
  const auto plain = Divergence::compare(a, b);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->headers);
  EXPECT_TRUE(plain->body);

  auto config = rs::ShadowConfig::full_sample().compare_framing_headers(true);
  const auto framed = Divergence::compare(a, b, config);
  ASSERT_TRUE(framed && framed->headers);
  EXPECT_EQ(framed->headers->changed, std::vector<std::string>{"content-length"});
  EXPECT_EQ(framed->headers->added, std::vector<std::string>{"transfer-encoding"});
  EXPECT_EQ(framed->headers->removed, std::vector<std::string>{"connection"});
  EXPECT_EQ(rs::signature(*framed).text,
            "headers +transfer-encoding -connection ~content-length; body bytes");

  // One by one, an opted-in framing header can still be ignored.
  config.ignore_header("Content-Length");
  const auto fewer = Divergence::compare(a, b, config);
  ASSERT_TRUE(fewer && fewer->headers);
  EXPECT_TRUE(fewer->headers->changed.empty());
  EXPECT_EQ(fewer->headers->added, std::vector<std::string>{"transfer-encoding"});
}
