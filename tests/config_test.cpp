// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/config.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <request_shadow/sampler.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace rs = request_shadow;
using namespace std::chrono_literals;

TEST(ShadowConfig, FullSampleDefaults) {
  const auto c = rs::ShadowConfig::full_sample();
  EXPECT_EQ(c.sample_rate(), 100U);
  EXPECT_EQ(c.shadow_timeout(), 2s);
  EXPECT_EQ(c.ignored(), rs::IgnoreField::None);
  EXPECT_FALSE(c.ignores(rs::IgnoreField::Body));
}

TEST(ShadowConfig, FramingHeadersAreLeftOutUntilOptedIn) {
  auto c = rs::ShadowConfig::full_sample();
  EXPECT_FALSE(c.compare_framing_headers());
  EXPECT_TRUE(c.compare_framing_headers(true).compare_framing_headers());
  EXPECT_FALSE(c.compare_framing_headers(false).compare_framing_headers());
  EXPECT_TRUE(c.ignored_headers().empty());  // not listed among the headers ignored one by one
}

TEST(ShadowConfig, FramingHeadersAreTheSevenThatDescribeTheMessage) {
  const std::vector<std::string_view> expected = {
      "connection", "content-length",    "keep-alive", "te",
      "trailer",    "transfer-encoding", "upgrade"};
  EXPECT_EQ(rs::ShadowConfig::framing_headers(), expected);
  for (const auto name : expected) EXPECT_TRUE(rs::detail::is_framing_header(name)) << name;
  for (const std::string_view other :
       {"", "t", "tf", "trailers", "upgrades", "content-type", "content-lengths", "connectio",
        "keep_alive", "transfer-encodinG", "proxy-connection", "x-content-length"}) {
    EXPECT_FALSE(rs::detail::is_framing_header(other)) << other;
  }
}

TEST(ShadowConfig, SampleRateIsClamped) {
  auto c = rs::ShadowConfig::full_sample();
  EXPECT_EQ(c.sample_rate(250).sample_rate(), 100U);
  EXPECT_EQ(c.sample_rate(-5).sample_rate(), 0U);
  EXPECT_EQ(c.sample_rate(37).sample_rate(), 37U);
}

TEST(ShadowConfig, SettersChain) {
  const auto c = rs::ShadowConfig::full_sample().sample_rate(10).shadow_timeout(50ms).ignore(
      rs::IgnoreField::Headers | rs::IgnoreField::Body);
  EXPECT_EQ(c.sample_rate(), 10U);
  EXPECT_EQ(c.shadow_timeout(), 50ms);
  EXPECT_TRUE(c.ignores(rs::IgnoreField::Headers));
  EXPECT_TRUE(c.ignores(rs::IgnoreField::Body));
  EXPECT_TRUE(c.ignores(rs::IgnoreField::Headers | rs::IgnoreField::Body));
  EXPECT_FALSE(c.ignores(rs::IgnoreField::Status));
  EXPECT_FALSE(c.ignores(rs::IgnoreField::Status | rs::IgnoreField::Body));
}

TEST(ShadowConfig, NegativeTimeoutBecomesZero) {
  auto c = rs::ShadowConfig::full_sample();
  EXPECT_EQ(c.shadow_timeout(-3s).shadow_timeout(), std::chrono::steady_clock::duration::zero());
}

// Buckets computed by the request-shadow-rs reference: a fleet mixing both must agree.
TEST(Sampler, BucketsMatchTheReference) {
  EXPECT_EQ(rs::sample_bucket("my-key"), 90U);
  EXPECT_EQ(rs::sample_bucket("req-key-1"), 52U);
  EXPECT_EQ(rs::sample_bucket("hello"), 14U);
  EXPECT_EQ(rs::sample_bucket(""), 10U);
}

TEST(Sampler, ShadowsExactlyTheKeysBelowTheRate) {
  auto c = rs::ShadowConfig::full_sample();
  c.sample_rate(90);
  EXPECT_FALSE(c.should_shadow("my-key"));  // bucket 90
  c.sample_rate(91);
  EXPECT_TRUE(c.should_shadow("my-key"));
  c.sample_rate(14);
  EXPECT_FALSE(c.should_shadow("hello"));  // bucket 14
  c.sample_rate(15);
  EXPECT_TRUE(c.should_shadow("hello"));
  c.sample_rate(11);
  EXPECT_TRUE(c.should_shadow(""));  // bucket 10
}

TEST(Sampler, RateZeroNeverAndRateHundredAlways) {
  auto none = rs::ShadowConfig::full_sample().sample_rate(0);
  auto all = rs::ShadowConfig::full_sample().sample_rate(100);
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "key-" + std::to_string(i);
    EXPECT_FALSE(none.should_shadow(key));
    EXPECT_TRUE(all.should_shadow(key));
  }
}

TEST(Sampler, IsStickyPerKeyAndAcrossCopies) {
  const auto c = rs::ShadowConfig::full_sample().sample_rate(50);
  const auto copy = c;
  int in = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "user-" + std::to_string(i);
    const bool first = c.should_shadow(key);
    for (int repeat = 0; repeat < 3; ++repeat) ASSERT_EQ(c.should_shadow(key), first) << key;
    ASSERT_EQ(copy.should_shadow(key), first) << key;
    in += first ? 1 : 0;
  }
  // A fair hash puts about half the keys in; 2000 draws stay well within 40%..60%.
  EXPECT_GT(in, 800);
  EXPECT_LT(in, 1200);
}

TEST(Sampler, RaisingTheRateKeepsEveryKeyThatWasIn) {
  for (int i = 0; i < 500; ++i) {
    const std::string key = "k" + std::to_string(i);
    const auto bucket = rs::sample_bucket(key);
    ASSERT_LT(bucket, 100U);
    for (int rate = 0; rate <= 100; rate += 5) {
      ASSERT_EQ(rs::ShadowConfig{}.sample_rate(rate).should_shadow(key),
                bucket < static_cast<unsigned>(rate));
    }
  }
}

TEST(Sampler, HashesBinaryAndLongKeys) {
  std::vector<std::byte> binary(4096);
  for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<std::byte>(i * 7);
  const auto b = rs::sample_bucket(binary);
  EXPECT_LT(b, 100U);
  EXPECT_EQ(rs::sample_bucket(binary), b);
  const std::string with_nul("a\0b", 3);
  EXPECT_NE(rs::sample_bucket(with_nul), rs::no_bucket);
}

TEST(Sampler, SampledAtSplitsTheNextBucketByParts) {
  // head % 100 is the bucket; head / 100 % 10000 picks the share of the next bucket.
  static_assert(rs::sampled_at(5, 60'000));                 // bucket 5 < 6 %
  static_assert(!rs::sampled_at(6, 60'000));                // bucket 6, no parts
  static_assert(rs::sampled_at(6 + 100 * 4'999, 65'000));   // bucket 6, part 4999 < 5000
  static_assert(!rs::sampled_at(6 + 100 * 5'000, 65'000));  // bucket 6, part 5000
  static_assert(!rs::sampled_at(7, 65'000));
  static_assert(!rs::sampled_at(0, 0));
  static_assert(rs::sampled_at(99, 1'000'000));
}

TEST(Sampler, WholePercentsInPartsPerMillionMatchTheReferenceBuckets) {
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "k" + std::to_string(i);
    const auto bucket = rs::sample_bucket(key);
    for (unsigned percent : {1U, 13U, 50U, 99U}) {
      const auto cfg = rs::ShadowConfig{}.sample_rate_ppm(percent * rs::ppm_per_percent);
      ASSERT_EQ(cfg.should_shadow(key), bucket < percent) << key;
      ASSERT_EQ(cfg.sample_rate(), percent);
    }
  }
}

TEST(Sampler, PartsPerMillionSelectAProportionalShare) {
  const auto cfg = rs::ShadowConfig{}.sample_rate_ppm(105'000);  // 10.5 %
  int in = 0;
  constexpr int keys = 40'000;
  for (int i = 0; i < keys; ++i) {
    const std::string key = "user-" + std::to_string(i);
    const bool chosen = cfg.should_shadow(key);
    const auto bucket = rs::sample_bucket(key);
    if (bucket < 10) {
      ASSERT_TRUE(chosen) << key;
    }
    if (bucket > 10) {
      ASSERT_FALSE(chosen) << key;
    }
    in += chosen ? 1 : 0;
  }
  // 10.5 % of 40,000 is 4,200; a fair hash stays well within +-300.
  EXPECT_GT(in, 3900);
  EXPECT_LT(in, 4500);
  EXPECT_EQ(rs::ShadowConfig{}.sample_rate_ppm(5'000'000).sample_rate_ppm(), rs::full_rate_ppm);
}

TEST(Sampler, RaisingThePartsPerMillionKeepsEveryKeyThatWasIn) {
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "k" + std::to_string(i);
    bool was_in = false;
    for (std::uint32_t ppm = 0; ppm <= rs::full_rate_ppm; ppm += 7'919) {
      const bool in = rs::ShadowConfig{}.sample_rate_ppm(ppm).should_shadow(key);
      ASSERT_TRUE(in || !was_in) << key << " dropped at " << ppm;
      was_in = in;
    }
  }
}

TEST(Sampler, SaltPicksAnIndependentStickyCohort) {
  const auto plain = rs::ShadowConfig{}.sample_rate(50);
  const auto a = rs::ShadowConfig{}.sample_rate(50).salt("experiment-a");
  const auto b = rs::ShadowConfig{}.sample_rate(50).salt("experiment-b");
  EXPECT_EQ(rs::ShadowConfig{}.sample_rate(50).salt("").should_shadow("my-key"),
            plain.should_shadow("my-key"));
  int differ = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "user-" + std::to_string(i);
    ASSERT_EQ(a.should_shadow(key), a.should_shadow(key));
    differ += a.should_shadow(key) != b.should_shadow(key) ? 1 : 0;
  }
  // Independent halves disagree on about half of the keys.
  EXPECT_GT(differ, 800);
  EXPECT_LT(differ, 1200);
  EXPECT_EQ(a.salt(), "experiment-a");
}
