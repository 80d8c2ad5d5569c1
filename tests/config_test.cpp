// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/config.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <request_shadow/sampler.hpp>
#include <string>
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
