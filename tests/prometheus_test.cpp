// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/prometheus.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <cstddef>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

namespace rs = request_shadow;

namespace {

rs::ShadowStats sample_stats() {
  rs::ShadowStats s;
  s.skipped_by_sampler = 5;
  s.matched = 7;
  s.diverged = 2;
  s.shadow_timed_out = 1;
  s.expired_in_queue = 11;
  s.shadow_failed = 3;
  s.shadow_abandoned = 4;
  s.shed = 6;
  s.primary_failed = 8;
  s.cancelled = 9;
  s.shadow_ok = 9;
  s.sampled_in_progress = 13;
  s.rate_limited = 14;
  s.sampled = 50;
  s.filtered = 15;
  s.rule_errors = 16;
  s.calls = 70;
  s.diverged_status = 1;
  s.diverged_headers = 0;
  s.diverged_body = 2;
  s.in_flight_shadows = 11;
  s.sample_rate_ppm = 125'000;
  s.noise_probes = 12;
  s.noise_cancelled = 10;
  rs::SignatureCount kind;
  kind.signature.id = 0x79affe05726e748aULL;
  kind.signature.text = "body json /items/*/price changed, /tier added";
  kind.count = 2;
  s.signatures.push_back(kind);
  rs::NoiseCount place{rs::NoiseKind::Pointer, "/items/*/updated_at", 40, false};
  place.window_requests = 30;
  place.shadow_differed = 10;
  place.secondary_differed = 9;
  place.judged_noise = true;
  s.noise.push_back(place);
  return s;
}

// Whether `text` is well-formed UTF-8 (Unicode, table 3-7), checked code point by code point.
bool is_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80          ? 1
                               : lead >> 5U == 0x6  ? 2
                               : lead >> 4U == 0xe  ? 3
                               : lead >> 3U == 0x1e ? 4
                                                    : 0;
    if (length == 0 || i + length > text.size()) return false;
    unsigned long code = length == 1 ? lead : lead & (0x7fU >> length);
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if (next >> 6U != 0x2) return false;
      code = code << 6U | (next & 0x3fU);
    }
    const unsigned long least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < least[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

TEST(Prometheus, EverySampleCarriesTheExperimentAndItsValue) {
  const auto text = rs::to_prometheus(sample_stats(), "codec-v2");
  for (const char* line : {
           R"(request_shadow_calls_total{experiment="codec-v2"} 70)",
           R"(request_shadow_filtered_total{experiment="codec-v2"} 15)",
           R"(request_shadow_shadow_results_total{experiment="codec-v2",result="rate_limited"} 14)",
           R"(request_shadow_rule_errors_total{experiment="codec-v2"} 16)",
           "# TYPE request_shadow_filtered_total counter",
           "# TYPE request_shadow_rule_errors_total counter",
           R"(request_shadow_skipped_total{experiment="codec-v2"} 5)",
           R"(request_shadow_shadow_results_total{experiment="codec-v2",result="ok"} 9)",
           R"(request_shadow_shadow_results_total{experiment="codec-v2",result="timed_out"} 1)",
           R"(request_shadow_shadow_results_total{experiment="codec-v2",)"
           R"(result="expired_in_queue"} 11)",
           R"(request_shadow_shadow_results_total{experiment="codec-v2",result="failed"} 3)",
           R"(request_shadow_shadow_results_total{experiment="codec-v2",result="abandoned"} 4)",
           R"(request_shadow_shadow_results_total{experiment="codec-v2",result="shed"} 6)",
           R"(request_shadow_comparisons_total{experiment="codec-v2",result="matched"} 7)",
           R"(request_shadow_comparisons_total{experiment="codec-v2",result="diverged"} 2)",
           R"(request_shadow_divergences_total{experiment="codec-v2",aspect="status"} 1)",
           R"(request_shadow_divergences_total{experiment="codec-v2",aspect="headers"} 0)",
           R"(request_shadow_divergences_total{experiment="codec-v2",aspect="body"} 2)",
           R"(request_shadow_primary_failures_total{experiment="codec-v2"} 8)",
           R"(request_shadow_noise_probes_total{experiment="codec-v2"} 12)",
           R"(request_shadow_noise_cancelled_total{experiment="codec-v2"} 10)",
           R"(request_shadow_divergence_kinds{experiment="codec-v2"} 1)",
           R"(request_shadow_signature_divergences_total{experiment="codec-v2",)"
           R"(signature="79affe05726e748a"} 2)",
           R"(request_shadow_noise_place_window_requests{experiment="codec-v2",kind="pointer",)"
           R"(place="/items/*/updated_at"} 30)",
           R"(request_shadow_noise_place_shadow_rate{experiment="codec-v2",kind="pointer",)"
           R"(place="/items/*/updated_at"} 0.333333)",
           R"(request_shadow_noise_place_secondary_rate{experiment="codec-v2",kind="pointer",)"
           R"(place="/items/*/updated_at"} 0.3)",
           R"(request_shadow_noise_place_judged_noise{experiment="codec-v2",kind="pointer",)"
           R"(place="/items/*/updated_at"} 1)",
           "# TYPE request_shadow_noise_place_shadow_rate gauge",
           R"(request_shadow_cancelled_total{experiment="codec-v2"} 9)",
           R"(request_shadow_shadows_in_flight{experiment="codec-v2"} 11)",
           R"(request_shadow_sampled_in_progress{experiment="codec-v2"} 13)",
           R"(request_shadow_sample_rate_ratio{experiment="codec-v2"} 0.125000)",
           "# TYPE request_shadow_calls_total counter",
           "# TYPE request_shadow_shadows_in_flight gauge",
           "# TYPE request_shadow_sampled_in_progress gauge",
       }) {
    EXPECT_NE(text.find(std::string(line) + "\n"), std::string::npos) << line << "\n" << text;
  }
}

TEST(Prometheus, EachFamilyIsDeclaredOnceBeforeItsSamples) {
  const auto text = rs::to_prometheus(sample_stats(), "x");
  std::istringstream in(text);
  std::string line;
  std::string declared;
  int types = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      declared = line.substr(7, line.find(' ', 7) - 7);
      ++types;
    } else if (line.rfind("# HELP ", 0) != 0) {
      const bool in_family =
          line.rfind(declared + "{", 0) == 0 || line.rfind(declared + "_bucket{", 0) == 0 ||
          line.rfind(declared + "_sum{", 0) == 0 || line.rfind(declared + "_count{", 0) == 0;
      EXPECT_TRUE(in_family) << line << " is not in family " << declared;
    }
  }
  EXPECT_EQ(types, 23);
}

TEST(Prometheus, LabelValuesAreEscaped) {
  const auto text = rs::to_prometheus(sample_stats(), "a\"b\\c\nd");
  EXPECT_NE(text.find(R"(experiment="a\"b\\c\nd")"), std::string::npos) << text;
}

TEST(Prometheus, NoisyPlacesAreLabelledByKindAndEscapedName) {
  auto s = sample_stats();
  // A header name and a pointer come from the responses: any bytes at all.
  rs::NoiseCount header{rs::NoiseKind::Header, "x-\"odd\"\\name\n\xff", 3, false};
  s.noise.push_back(header);
  const auto text = rs::to_prometheus(s, "x");
  const std::string labels = R"({experiment="x",kind="header",place="x-\"odd\"\\name\n)"
                             "\xef\xbf\xbd"
                             R"("})";
  EXPECT_NE(text.find("request_shadow_noise_place_judged_noise" + labels + " 0\n"),
            std::string::npos)
      << text;
  // An empty window reads as rates of 0.
  EXPECT_NE(text.find("request_shadow_noise_place_shadow_rate" + labels + " 0\n"),
            std::string::npos);
  EXPECT_TRUE(is_utf8(text));
}

TEST(Prometheus, FullRateIsOne) {
  auto s = sample_stats();
  s.sample_rate_ppm = 1'000'000;
  EXPECT_NE(rs::to_prometheus(s, "x").find("sample_rate_ratio{experiment=\"x\"} 1.000000\n"),
            std::string::npos);
}

TEST(Prometheus, LatencyHistogramsAreCumulative) {
  auto s = sample_stats();
  s.shadow_latency.buckets[0] = 2;                                       // <= 1 us
  s.shadow_latency.buckets[10] = 3;                                      // <= 1.024 ms
  s.shadow_latency.buckets[rs::LatencyHistogram::bucket_count - 1] = 1;  // beyond
  s.shadow_latency.count = 6;
  s.shadow_latency.sum = std::chrono::milliseconds(1500);
  const auto text = rs::to_prometheus(s, "x");
  for (
      const char* line : {
          R"(request_shadow_leg_duration_seconds_bucket{experiment="x",leg="shadow",le="0.000001"} 2)",
          R"(request_shadow_leg_duration_seconds_bucket{experiment="x",leg="shadow",le="0.001024"} 5)",
          R"(request_shadow_leg_duration_seconds_bucket{experiment="x",leg="shadow",le="+Inf"} 6)",
          R"(request_shadow_leg_duration_seconds_sum{experiment="x",leg="shadow"} 1.500000000)",
          R"(request_shadow_leg_duration_seconds_count{experiment="x",leg="shadow"} 6)",
          R"(request_shadow_leg_duration_seconds_count{experiment="x",leg="primary"} 0)",
      }) {
    EXPECT_NE(text.find(std::string(line) + "\n"), std::string::npos) << line;
  }
}

TEST(Prometheus, ExperimentIsWrittenAsValidUtf8) {
  const std::string r = "\xef\xbf\xbd";  // U+FFFD
  const std::pair<std::string, std::string> cases[] = {
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xf4\x8f\xbf\xbf",
       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xf4\x8f\xbf\xbf"},
      {"a\xff"
       "b",
       "a" + r + "b"},
      {"\x80", r},
      {"\xc0\xaf", r + r},                       // overlong '/'
      {"\xc1\xbf", r + r},                       // overlong
      {"\xe0\x80\xaf", r + r + r},               // overlong
      {"\xf0\x80\x80\xaf", r + r + r + r},       // overlong
      {"\xed\xa0\x80", r + r + r},               // surrogate U+D800
      {"\xed\xbf\xbf", r + r + r},               // surrogate U+DFFF
      {"\xf4\x90\x80\x80", r + r + r + r},       // U+110000
      {"\xf5\x80\x80\x80", r + r + r + r},       // never a lead byte
      {"\xe2\x82", r},                           // cut off at the end
      {"\xe2\x82x", r + "x"},                    // cut off by an ASCII byte
      {"\xf0\x9d\x84\xc3\xa9", r + "\xc3\xa9"},  // cut off by another lead byte
      {"\xe2\x82\xac\xac", "\xe2\x82\xac" + r},  // a stray continuation byte
      {"\xef\xbf\xbd", r},                       // U+FFFD itself is kept
      {std::string("n\0l", 3), std::string("n\0l", 3)},
  };
  for (const auto& [experiment, expected] : cases) {
    const auto text = rs::to_prometheus(sample_stats(), experiment);
    EXPECT_TRUE(is_utf8(text)) << experiment;
    EXPECT_NE(text.find("calls_total{experiment=\"" + expected + "\"} 70\n"), std::string::npos)
        << experiment;
  }
}

TEST(Prometheus, EveryShortByteSequenceBecomesValidUtf8) {
  const unsigned char edges[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
                                 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
  const auto check = [](const std::string& bytes) {
    const std::string out = rs::detail::valid_utf8(bytes);
    ASSERT_TRUE(is_utf8(out));
    ASSERT_EQ(out == bytes, is_utf8(bytes));
  };
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      check({static_cast<char>(a), static_cast<char>(b)});
    }
  }
  for (const unsigned char a : edges) {
    for (const unsigned char b : edges) {
      for (const unsigned char c : edges) {
        for (const unsigned char d : edges) {
          check({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                 static_cast<char>(d)});
        }
      }
    }
  }
}
