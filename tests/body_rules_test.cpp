// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/divergence.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <memory>
#include <request_shadow/log.hpp>
#include <request_shadow/pointer.hpp>
#include <stdexcept>
#include <string>

#include "test_support.hpp"

namespace rs = request_shadow;
using rs::Divergence;
using rs::FieldChange;
using rs::ResponseRecord;
using rs::ShadowConfig;

namespace {

ResponseRecord kv(std::string_view body) {
  return ResponseRecord::success(body).with_header("Content-Type", "text/kv");
}

}  // namespace

TEST(Pointer, TokensAreEscapedAsRfc6901Says) {
  std::string p;
  rs::append_pointer_token(p, "a/b");
  rs::append_pointer_token(p, "m~n");
  rs::append_pointer_token(p, "");
  EXPECT_EQ(p, "/a~1b/m~0n/");
}

TEST(Pointer, DigitTokensFoldToAStar) {
  EXPECT_EQ(rs::fold_indices("/items/12/price"), "/items/*/price");
  EXPECT_EQ(rs::fold_indices("/0/1/x2/3a"), "/*/*/x2/3a");
  EXPECT_EQ(rs::fold_indices(""), "");
  EXPECT_EQ(rs::fold_indices("/"), "/");
}

TEST(Pointer, PatternsMatchWildcardsAndWholeSubtrees) {
  rs::PointerPatterns p;
  p.add("/items/*/updated_at");
  p.add("/debug");
  EXPECT_TRUE(p.matches("/items/0/updated_at"));
  EXPECT_TRUE(p.matches("/items/17/updated_at/nanos"));
  EXPECT_FALSE(p.matches("/items/0/price"));
  EXPECT_FALSE(p.matches("/items/0"));
  EXPECT_FALSE(p.matches("/items"));
  EXPECT_TRUE(p.matches("/debug"));
  EXPECT_TRUE(p.matches("/debug/trace/3"));
  EXPECT_FALSE(p.matches("/debugger"));
  EXPECT_FALSE(p.matches(""));
  rs::PointerPatterns root;
  root.add("");
  EXPECT_TRUE(root.matches("/anything"));
  EXPECT_TRUE(root.matches(""));
  EXPECT_FALSE(rs::PointerPatterns().matches(""));
}

TEST(Pointer, EscapedTokensMatchEscapedPatterns) {
  rs::PointerPatterns p;
  p.add("/a~1b");
  EXPECT_TRUE(p.matches("/a~1b/c"));
  EXPECT_FALSE(p.matches("/a/b"));
}

TEST(Pointer, AValuePlaceIsReadLiterallyButForIndices) {
  rs::PointerPatterns p;
  p.add_value_place("/*");
  p.add_value_place("/items/3/id");
  p.add_value_place("/a~1b");
  EXPECT_TRUE(p.patterns().empty());
  EXPECT_TRUE(p.has_value_places());
  EXPECT_FALSE(p.empty());
  // Never a pattern: nothing is matched whole, with what is inside it.
  EXPECT_FALSE(p.matches("/*"));
  EXPECT_FALSE(p.matches("/price"));
  // A member named `*` is only itself, neither a wildcard nor an index.
  EXPECT_TRUE(p.ignores_value_change("/*"));
  EXPECT_FALSE(p.ignores_value_change("/price"));
  EXPECT_FALSE(p.ignores_value_change("/0"));
  EXPECT_FALSE(p.ignores_value_change("/*/x"));
  // Digit-only tokens stand for any index; nothing below or above the place is covered.
  EXPECT_TRUE(p.ignores_value_change("/items/0/id"));
  EXPECT_TRUE(p.ignores_value_change("/items/17/id"));
  EXPECT_FALSE(p.ignores_value_change("/items/*/id"));
  EXPECT_FALSE(p.ignores_value_change("/items/0/id/x"));
  EXPECT_FALSE(p.ignores_value_change("/items/0"));
  // Escapes are compared as written: `a/b` is not `a~1b`, nor `a` then `b`.
  EXPECT_TRUE(p.ignores_value_change("/a~1b"));
  EXPECT_FALSE(p.ignores_value_change("/a~01b"));
  EXPECT_FALSE(p.ignores_value_change("/a/b"));
  EXPECT_FALSE(p.ignores_value_change(""));
  EXPECT_THROW(p.add_value_place("x"), std::invalid_argument);
}

TEST(Pointer, ARootValuePlaceIsTheRootAlone) {
  rs::PointerPatterns p;
  p.add_value_place("");
  EXPECT_TRUE(p.ignores_value_change(""));
  EXPECT_FALSE(p.ignores_value_change("/a"));
  // A pattern also covers a change of value inside what it matches.
  rs::PointerPatterns q;
  q.add("/debug");
  EXPECT_TRUE(q.ignores_value_change("/debug/level"));
}

TEST(Pointer, APatternMustStartWithASlash) {
  EXPECT_THROW(ShadowConfig().ignore_pointer("items/*/id"), std::invalid_argument);
  EXPECT_NO_THROW(ShadowConfig().ignore_pointer(""));
}

TEST(Normalizer, RunsOnBothSidesBeforeComparing) {
  // Drop a trailing "; at=<time>" on both sides.
  auto drop_time = [](std::string_view body) {
    const auto at = body.find("; at=");
    return std::string(body.substr(0, at));
  };
  const auto config = ShadowConfig().body_normalizer(drop_time);
  EXPECT_FALSE(Divergence::compare(ResponseRecord::success("v=1; at=10:00"),
                                   ResponseRecord::success("v=1; at=10:01"), config));
  const auto d = Divergence::compare(ResponseRecord::success("v=1; at=10:00"),
                                     ResponseRecord::success("v=2; at=10:01"), config);
  ASSERT_TRUE(d && d->body);
  EXPECT_EQ(d->body->primary_len, 3U);  // as compared
  EXPECT_EQ(d->body->primary_excerpt, "v=1");
  EXPECT_EQ(d->body->shadow_excerpt, "v=2");
  EXPECT_TRUE(d->body->fallback.empty());
}

TEST(Normalizer, RunInTheOrderAdded) {
  const auto config =
      ShadowConfig()
          .body_normalizer([](std::string_view b) { return std::string(b) + "!"; })
          .body_normalizer([](std::string_view b) { return std::string(b.substr(1)); });
  const auto d =
      Divergence::compare(ResponseRecord::success("ab"), ResponseRecord::success("ac"), config);
  ASSERT_TRUE(d && d->body);
  EXPECT_EQ(d->body->primary_excerpt, "b!");
}

TEST(Normalizer, OneThatThrowsFallsBackToTheRawBytesAndSaysSo) {
  const auto config = ShadowConfig().body_normalizer(
      [](std::string_view) -> std::string { throw std::runtime_error("bad clock"); });
  EXPECT_FALSE(Divergence::compare(ResponseRecord::success("same"), ResponseRecord::success("same"),
                                   config));
  const auto d =
      Divergence::compare(ResponseRecord::success("a"), ResponseRecord::success("b"), config);
  ASSERT_TRUE(d && d->body);
  EXPECT_EQ(d->body->fallback, "normalizer 1 of 1 failed: bad clock");
}

TEST(Normalizer, OnlyTheOneThatThrowsIsSkipped) {
  // The first drops a timestamp; the second fails: the timestamp is still dropped.
  const auto config =
      ShadowConfig()
          .body_normalizer([](std::string_view b) { return std::string(b.substr(0, b.find(';'))); })
          .body_normalizer([](std::string_view) -> std::string { throw std::runtime_error("no"); });
  const auto d = Divergence::compare(ResponseRecord::success("v=1;t=100"),
                                     ResponseRecord::success("v=1;t=200"), config);
  EXPECT_FALSE(d) << rs::to_string(*d);
  const auto real = Divergence::compare(ResponseRecord::success("v=1;t=100"),
                                        ResponseRecord::success("v=2;t=200"), config);
  ASSERT_TRUE(real && real->body);
  EXPECT_EQ(real->body->fallback, "normalizer 2 of 2 failed: no");
}

TEST(Normalizer, EqualBytesAreEqualWhateverTheNormalizerDoes) {
  // A normalizer with state (or garbage output) cannot make identical bodies differ.
  auto calls = std::make_shared<int>(0);
  const auto config = ShadowConfig().body_normalizer(
      [calls](std::string_view) { return std::to_string((*calls)++); });
  EXPECT_FALSE(Divergence::compare(ResponseRecord::success("same"), ResponseRecord::success("same"),
                                   config));
  EXPECT_EQ(*calls, 0);
}

TEST(Comparator, APointerThatIsNotOneIsTheComparatorsFailure) {
  rs::BodyComparator sloppy;
  sloppy.name = "sloppy";
  sloppy.compare = [](std::string_view, std::string_view, const rs::PointerPatterns&) {
    rs::BodyComparison out;
    out.fields.push_back({"price", FieldChange::Changed, "1", "2"});  // no leading '/'
    return out;
  };
  const auto config = ShadowConfig().body_comparator(sloppy).ignore_pointer("/rice");
  const auto d =
      Divergence::compare(ResponseRecord::success("a"), ResponseRecord::success("b"), config);
  ASSERT_TRUE(d && d->body);
  EXPECT_TRUE(d->body->fields.empty());
  EXPECT_EQ(d->body->fallback,
            "sloppy: reported \"price\", not a JSON Pointer (one starts with '/')");
  EXPECT_EQ(rs::signature(*d).text, "body bytes");
}

TEST(Comparator, DifferencesFoundButNoneListedAreStillADivergence) {
  rs::BodyComparator capped;
  capped.name = "capped";
  capped.compare = [](std::string_view, std::string_view, const rs::PointerPatterns&) {
    return rs::BodyComparison{{{"/noise", FieldChange::Changed, "1", "2"}}, true};
  };
  const auto config = ShadowConfig().body_comparator(capped).ignore_pointer("/noise");
  const auto d =
      Divergence::compare(ResponseRecord::success("a"), ResponseRecord::success("b"), config);
  ASSERT_TRUE(d && d->body);
  EXPECT_TRUE(d->body->fields.empty());
  EXPECT_TRUE(d->body->fields_truncated);
  EXPECT_EQ(rs::signature(*d).text, "body capped unlisted");
}

TEST(Comparator, ReadsTheBodiesItAppliesTo) {
  const auto config = ShadowConfig().body_comparator(rs::test::kv_comparator());
  // Order does not matter to this format.
  EXPECT_FALSE(Divergence::compare(kv("a=1;b=2"), kv("b=2;a=1"), config));
  const auto d = Divergence::compare(kv("a=1;b=2;c=3"), kv("b=20;a=1;d=4"), config);
  ASSERT_TRUE(d && d->body);
  EXPECT_EQ(d->body->format, "kv");
  ASSERT_EQ(d->body->fields.size(), 3U);
  EXPECT_EQ(d->body->fields[0], (rs::FieldDiff{"/b", FieldChange::Changed, "2", "20"}));
  EXPECT_EQ(d->body->fields[1], (rs::FieldDiff{"/c", FieldChange::Removed, "3", ""}));
  EXPECT_EQ(d->body->fields[2], (rs::FieldDiff{"/d", FieldChange::Added, "", "4"}));
  EXPECT_EQ(rs::to_string(*d),
            "body 11 vs 12 bytes, equal for 0; kv: /b changed, /c removed, /d added");
}

TEST(Comparator, IsNotUsedWhereItDoesNotApply) {
  const auto config = ShadowConfig().body_comparator(rs::test::kv_comparator());
  const auto d = Divergence::compare(ResponseRecord::success("a=1;b=2"),
                                     ResponseRecord::success("b=2;a=1"), config);
  ASSERT_TRUE(d && d->body);
  EXPECT_TRUE(d->body->format.empty());
  EXPECT_TRUE(d->body->fields.empty());
  EXPECT_TRUE(d->body->fallback.empty());
}

TEST(Comparator, ThatThrowsFallsBackToBytesWithTheReason) {
  const auto config = ShadowConfig().body_comparator(rs::test::kv_comparator());
  std::optional<Divergence> d;
  ASSERT_NO_THROW(d = Divergence::compare(kv("a=1"), kv("garbage"), config));
  ASSERT_TRUE(d && d->body);
  EXPECT_TRUE(d->body->format.empty());
  EXPECT_EQ(d->body->fallback, "kv: not k=v: garbage");
  EXPECT_EQ(d->body->prefix_equal_bytes, 0U);
  EXPECT_NE(rs::to_string(*d).find("(fallback: kv: not k=v: garbage)"), std::string::npos);
}

TEST(Comparator, TheFirstThatAppliesWins) {
  rs::BodyComparator skipped = rs::test::kv_comparator(true);
  skipped.name = "skipped";
  skipped.applies = [](const ResponseRecord&, const ResponseRecord&) { return false; };
  rs::BodyComparator second = rs::test::kv_comparator(true);
  second.name = "second";
  const auto config = ShadowConfig()
                          .body_comparator(skipped)
                          .body_comparator(rs::test::kv_comparator(true))
                          .body_comparator(second);
  const auto d = Divergence::compare(kv("a=1"), kv("a=2"), config);
  ASSERT_TRUE(d && d->body);
  EXPECT_EQ(d->body->format, "kv");
}

TEST(Comparator, ASelectorThatThrowsFallsBackToBytesWithTheReason) {
  rs::BodyComparator broken = rs::test::kv_comparator(true);
  broken.name = "broken";
  broken.applies = [](const ResponseRecord&, const ResponseRecord&) -> bool {
    throw std::runtime_error("selector");
  };
  const auto config =
      ShadowConfig().body_comparator(broken).body_comparator(rs::test::kv_comparator(true));
  std::optional<Divergence> d;
  ASSERT_NO_THROW(d = Divergence::compare(kv("a=1"), kv("a=2"), config));
  ASSERT_TRUE(d && d->body);
  EXPECT_TRUE(d->body->format.empty());
  EXPECT_TRUE(d->body->fields.empty());
  EXPECT_EQ(d->body->fallback, "broken: applies failed: selector");
  EXPECT_EQ(d->body->prefix_equal_bytes, 2U);
  // Equal bytes never ask it.
  EXPECT_FALSE(Divergence::compare(kv("a=1"), kv("a=1"), config));
}

TEST(Comparator, IgnoredPointersAreDroppedWhateverTheComparatorReports) {
  const auto config = ShadowConfig()
                          .body_comparator(rs::test::kv_comparator())
                          .ignore_pointer("/updated_at")
                          .ignore_pointer("/*/deep");
  EXPECT_FALSE(Divergence::compare(kv("a=1;updated_at=1"), kv("a=1;updated_at=2"), config));
  const auto d = Divergence::compare(kv("a=1;updated_at=1"), kv("a=2;updated_at=2"), config);
  ASSERT_TRUE(d && d->body);
  ASSERT_EQ(d->body->fields.size(), 1U);
  EXPECT_EQ(d->body->fields[0].pointer, "/a");
}

TEST(Signature, SameKindSameIdWhateverTheValues) {
  const auto config = ShadowConfig().body_comparator(rs::test::kv_comparator());
  const auto a = Divergence::compare(kv("price=1;n=1"), kv("price=2;n=1;tier=gold"), config);
  const auto b = Divergence::compare(kv("price=7;n=1"), kv("price=9;n=1;tier=silver"), config);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(rs::signature(*a), rs::signature(*b));
  EXPECT_EQ(rs::signature(*a).text, "body kv /price changed, /tier added");
  const auto c = Divergence::compare(kv("price=1;n=1"), kv("price=1;n=2"), config);
  ASSERT_TRUE(c);
  EXPECT_NE(rs::signature(*a).id, rs::signature(*c).id);
}

TEST(Signature, FoldsIndicesAndListsEachPlaceOnce) {
  Divergence d;
  d.body = rs::BodyDiff{1, 2, 0, "", "", "json", {}, false, {}};
  d.body->fields = {{"/tier", FieldChange::Added, "", "1"},
                    {"/items/3/price", FieldChange::Changed, "1", "2"},
                    {"/items/0/price", FieldChange::Changed, "1", "2"}};
  const auto sig = rs::signature(d);
  EXPECT_EQ(sig.text, "body json /items/*/price changed, /tier added");
  // FNV-1a 64 of the text, computed independently: stable across runs and platforms.
  EXPECT_EQ(sig.hex(), "79affe05726e748a");
}

TEST(Signature, CoversStatusHeadersAndByteBodies) {
  Divergence d;
  d.status = rs::StatusDiff{200, 500, true, false};
  d.headers = rs::HeaderDiff{{"x-v2"}, {"x-old"}, {"content-type"}};
  d.body = rs::BodyDiff{1, 2, 0, "", "", {}, {}, false, {}};
  EXPECT_EQ(rs::signature(d).text,
            "status 200->500(!ok); headers +x-v2 -x-old ~content-type; body bytes");
  d.body->primary_len = 100;  // lengths and excerpts are values, not the kind
  d.body->primary_excerpt = "other";
  const auto again = rs::signature(d);
  d.status->shadow = 503;
  EXPECT_NE(rs::signature(d), again);
}

TEST(Signature, TheLogCountsKindsWithTheirFirstExamples) {
  rs::DivergenceLog log(2);
  Divergence body;
  body.body = rs::BodyDiff{1, 2, 0, "", "", {}, {}, false, {}};
  Divergence status;
  status.status = rs::StatusDiff{200, 500, true, true};
  for (int i = 0; i < 5; ++i) log.push("body-" + std::to_string(i), body);
  log.push("status-0", status);
  const auto kinds = log.signatures();
  ASSERT_EQ(kinds.size(), 2U);
  EXPECT_EQ(kinds[0].count, 5U);
  EXPECT_EQ(kinds[0].signature.text, "body bytes");
  ASSERT_EQ(kinds[0].exemplars.size(), rs::DivergenceLog::max_exemplars);
  EXPECT_EQ(kinds[0].exemplars[0].key, "body-0");
  EXPECT_EQ(kinds[0].exemplars[2].key, "body-2");
  EXPECT_EQ(kinds[1].count, 1U);
  EXPECT_EQ(log.size(), 2U);  // the ring buffer is bounded; the counts are not dropped
  EXPECT_EQ(log.snapshot().back().signature, kinds[1].signature);
}

TEST(Signature, KindsBeyondTheBoundAreCountedAsUntracked) {
  rs::DivergenceLog log(0);
  for (std::size_t i = 0; i < rs::DivergenceLog::max_signatures + 5; ++i) {
    Divergence d;
    d.status = rs::StatusDiff{200, static_cast<std::uint16_t>(300 + i), true, true};
    log.push("k", d);
    log.push("k", d);
  }
  EXPECT_EQ(log.signatures().size(), rs::DivergenceLog::max_signatures);
  EXPECT_EQ(log.untracked_signatures(), 10U);
  EXPECT_EQ(log.size(), 0U);
}
