// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/json_lines.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>

namespace rs = request_shadow;

namespace {

rs::DivergenceEntry entry(std::string key, rs::Divergence d) {
  rs::DivergenceEntry e;
  e.key_size = key.size();
  e.key = std::move(key);
  e.at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'795'799'640'123));
  e.divergence = std::move(d);
  e.signature = rs::signature(e.divergence);
  return e;
}

}  // namespace

TEST(JsonLines, EveryAspect) {
  rs::Divergence d;
  d.status = rs::StatusDiff{200, 500, true, false};
  d.headers = rs::HeaderDiff{{"x-v2"}, {}, {"content-type", "etag"}};
  d.body = rs::BodyDiff{11, 11, 6, "hello world", "hello earth", {}, {}, false, {}};
  EXPECT_EQ(rs::to_json_line(entry("GET /users/42", d)),
            R"({"ts":"2026-11-27T17:14:00.123Z","key":"GET /users/42","key_size":13,)"
            R"("key_truncated":false,"divergence":{"status":{"primary":200,"shadow":500,)"
            R"("primary_ok":true,"shadow_ok":false},"headers":{"added":["x-v2"],"removed":[],)"
            R"("changed":["content-type","etag"]},"body":{"primary_len":11,"shadow_len":11,)"
            R"("prefix_equal_bytes":6,"primary_excerpt":"hello world","shadow_excerpt":)"
            R"("hello earth","format":null,"fields":[],"fields_truncated":false,)"
            R"("fallback":null}},"signature":"41b2aec413be2aa1","signature_text":)"
            R"("status 200->500(!ok); headers +x-v2 ~content-type ~etag; body bytes"})");
}

TEST(JsonLines, AbsentAspectsAreNull) {
  rs::Divergence d;
  d.body = rs::BodyDiff{0, 1, 0, "", "x", {}, {}, false, {}};
  EXPECT_EQ(rs::to_json_line(entry("k", d)),
            R"({"ts":"2026-11-27T17:14:00.123Z","key":"k","key_size":1,"key_truncated":false,)"
            R"("divergence":{"status":null,"headers":null,"body":{"primary_len":0,)"
            R"("shadow_len":1,"prefix_equal_bytes":0,"primary_excerpt":"","shadow_excerpt":"x",)"
            R"("format":null,"fields":[],"fields_truncated":false,"fallback":null}},)"
            R"("signature":"db31d97f29a934da","signature_text":"body bytes"})");
}

TEST(JsonLines, KeyBytesAreEscapedToAscii) {
  rs::Divergence d;
  d.body = rs::BodyDiff{1, 2, 1, "a", "ab", {}, {}, false, {}};
  const std::string key("a\"b\\c\n\0\x7f\xff\xc3\xa9", 11);
  const auto line = rs::to_json_line(entry(key, d));
  EXPECT_NE(line.find(R"("key":"a\"b\\c\u000a\u0000\u007f\u00ff\u00c3\u00a9")"), std::string::npos)
      << line;
  for (const char c : line) {
    EXPECT_GE(static_cast<unsigned char>(c), 0x20U);
    EXPECT_LT(static_cast<unsigned char>(c), 0x7fU);
  }
}

TEST(JsonLines, TruncatedKeyIsFlagged) {
  rs::DivergenceLog log(1);
  log.push(std::string(1000, 'k'),
           rs::Divergence{{}, {}, rs::BodyDiff{1, 2, 1, "a", "ab", {}, {}, false, {}}});
  const auto line = rs::to_json_line(log.snapshot().at(0));
  EXPECT_NE(line.find(R"("key_size":1000,"key_truncated":true)"), std::string::npos) << line;
}

TEST(JsonLines, OneLinePerEntry) {
  rs::Divergence d;
  d.body = rs::BodyDiff{1, 2, 1, "a", "ab", {}, {}, false, {}};
  std::ostringstream os;
  rs::write_json_lines(os, {entry("a", d), entry("b", d), entry("c\nd", d)});
  const std::string text = os.str();
  std::size_t lines = 0;
  for (const char c : text) lines += c == '\n' ? 1 : 0;
  EXPECT_EQ(lines, 3U);
  EXPECT_EQ(text.back(), '\n');
}

TEST(JsonLines, StructuredBodyListsItsFields) {
  rs::Divergence d;
  d.body = rs::BodyDiff{9, 10, 1, "x", "y", "json", {}, true, "shadow: \"bad\""};
  d.body->fields.push_back(rs::FieldDiff{"/a~1b", rs::FieldChange::TypeChanged, "1", "\"1\""});
  d.body->fields.push_back(rs::FieldDiff{"/tier", rs::FieldChange::Added, "", "\"gold\""});
  const auto line = rs::to_json_line(entry("k", d));
  EXPECT_NE(line.find(R"("format":"json","fields":[{"pointer":"/a~1b","change":"type_changed",)"
                      R"("primary":"1","shadow":"\"1\""},{"pointer":"/tier","change":"added",)"
                      R"("primary":"","shadow":"\"gold\""}],"fields_truncated":true,)"
                      R"("fallback":"shadow: \"bad\""})"),
            std::string::npos)
      << line;
}

TEST(JsonLines, SummaryHasTheResultsThenOneLinePerKindThenPerNoisyPlace) {
  rs::DivergenceLog log;
  rs::Divergence tier;
  tier.body = rs::BodyDiff{1, 2, 1, "a", "ab", "json", {}, false, {}};
  tier.body->fields.push_back(rs::FieldDiff{"/tier", rs::FieldChange::Added, "", "1"});
  rs::Divergence status;
  status.status = rs::StatusDiff{200, 500, true, false};
  for (int i = 0; i < 3; ++i) log.push("GET /u/" + std::to_string(i), tier);
  log.push("GET /x", status);
  rs::ShadowStats stats;
  stats.diverged = 4;
  stats.matched = 2;
  stats.shadow_ok = 6;
  stats.expired_in_queue = 3;
  stats.rate_limited = 0;
  stats.sampled = 9;
  stats.skipped_by_sampler = 1;
  stats.filtered = 2;
  stats.rule_errors = 1;
  stats.calls = 12;
  stats.signatures = log.signatures();
  stats.noise.push_back(rs::NoiseCount{rs::NoiseKind::Pointer, "/request_id", 12, true});
  std::ostringstream os;
  rs::write_summary_lines(os, stats);
  std::istringstream in(os.str());
  std::string results;
  ASSERT_TRUE(std::getline(in, results));
  EXPECT_EQ(results, R"({"results":{"calls":12,"sampled":9,"in_progress":0,"ok":6,"matched":2,)"
                     R"("diverged":4,"timed_out":0,"expired_in_queue":3,"failed":0,"abandoned":0,)"
                     R"("shed":0,"stopped":0,"rate_limited":0,"skipped":1,"filtered":2,)"
                     R"("rule_errors":1}})");
  std::string first;
  std::string second;
  std::string third;
  ASSERT_TRUE(std::getline(in, first) && std::getline(in, second) && std::getline(in, third));
  EXPECT_NE(first.find(R"("text":"body json /tier added","count":3,"share":0.750,)"),
            std::string::npos)
      << first;
  EXPECT_NE(first.find(R"("exemplar_keys":["GET /u/0","GET /u/1","GET /u/2"]})"), std::string::npos)
      << first;
  EXPECT_NE(second.find(R"("count":1,"share":0.250)"), std::string::npos) << second;
  EXPECT_EQ(third, R"({"noise":"pointer","name":"/request_id","count":12,"auto_ignored":true,)"
                   R"("window_requests":0,"shadow_differed":0,"secondary_differed":0,)"
                   R"("shadow_rate":0,"secondary_rate":0,"judged_noise":false})");
}

TEST(JsonLines, ANoisyPlaceCarriesItsRatesOverTheWindow) {
  rs::NoiseCount place{rs::NoiseKind::Header, "age", 900, false};
  place.window_requests = 600;
  place.shadow_differed = 200;
  place.secondary_differed = 150;
  place.judged_noise = false;
  EXPECT_EQ(rs::to_json_line(place),
            R"({"noise":"header","name":"age","count":900,"auto_ignored":false,)"
            R"("window_requests":600,"shadow_differed":200,"secondary_differed":150,)"
            R"("shadow_rate":0.333333,"secondary_rate":0.25,"judged_noise":false})");
}

TEST(JsonLines, KeyTruncatedSaysWhetherTheKeyWasCut) {
  const rs::Divergence d{{}, {}, rs::BodyDiff{1, 2, 1, "a", "ab", {}, {}, false, {}}};
  rs::DivergenceLog log(4);
  const std::string whole = "GET /a\r\nAuthorization: Bearer " + std::string(38, 's');
  ASSERT_EQ(whole.size(), 68U);
  log.push(whole, d);
  std::string cut;
  while (cut.size() < 304) cut += "Cookie:\n";
  ASSERT_EQ(cut.size(), 304U);
  log.push(cut, d);
  const auto entries = log.snapshot();
  const auto first = rs::to_json_line(entries.at(0));
  EXPECT_NE(first.find(R"("key_size":68,"key_truncated":false)"), std::string::npos) << first;
  const auto second = rs::to_json_line(entries.at(1));
  EXPECT_NE(second.find(R"("key_size":304,"key_truncated":true)"), std::string::npos) << second;
}

TEST(JsonLines, ShareIsClampedToOne) {
  rs::SignatureCount kind;
  kind.signature.text = "body bytes";
  for (const auto& [count, total] : {std::pair<std::uint64_t, std::uint64_t>{10'000'000'000'000, 1},
                                     {5, 2},
                                     {~std::uint64_t{0}, 3}}) {
    kind.count = count;
    const auto line = rs::to_json_line(kind, total);
    EXPECT_NE(line.find(",\"share\":1.000,"), std::string::npos) << line;
  }
  kind.count = 2;
  EXPECT_NE(rs::to_json_line(kind, 0).find(",\"share\":0.000,"), std::string::npos);
  EXPECT_NE(rs::to_json_line(kind, 3).find(",\"share\":0.667,"), std::string::npos);
}

TEST(JsonLines, InvalidUtf8InAnyStringIsEscapedToAscii) {
  const std::string bad("\xff\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82", 12);
  rs::Divergence d;
  d.headers = rs::HeaderDiff{{bad}, {bad}, {bad}};
  d.body = rs::BodyDiff{9, 10, 1, bad, bad, "json", {}, false, bad};
  d.body->fields.push_back(rs::FieldDiff{"/" + bad, rs::FieldChange::Changed, bad, bad});
  auto e = entry(bad, d);
  e.signature.text = bad;
  rs::SignatureCount kind;
  kind.signature.text = bad;
  kind.count = 1;
  kind.exemplars.push_back(e);
  const rs::NoiseCount noise{rs::NoiseKind::Pointer, bad, 1, false};
  const std::string escaped = R"(\u00ff\u00c0\u00af\u00ed\u00a0\u0080\u00f4\u0090\u0080\u0080)"
                              R"(\u00e2\u0082)";
  for (const auto& line :
       {rs::to_json_line(e), rs::to_json_line(kind, 1), rs::to_json_line(noise)}) {
    EXPECT_NE(line.find(escaped), std::string::npos) << line;
    for (const char c : line) {
      EXPECT_GE(static_cast<unsigned char>(c), 0x20U) << line;
      EXPECT_LT(static_cast<unsigned char>(c), 0x7fU) << line;
    }
  }
}
