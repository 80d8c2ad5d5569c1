// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/log.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace rs = request_shadow;

namespace {

rs::Divergence body_divergence(std::size_t n) {
  return rs::Divergence{{}, {}, rs::BodyDiff{n, n + 1, n, {}, {}, {}, {}, false, {}}};
}

std::vector<std::string> keys(const std::vector<rs::DivergenceEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.key);
  return out;
}

}  // namespace

TEST(DivergenceLog, DefaultCapacity) {
  rs::DivergenceLog log;
  EXPECT_EQ(log.capacity(), 128U);
  EXPECT_EQ(log.size(), 0U);
  EXPECT_TRUE(log.snapshot().empty());
}

TEST(DivergenceLog, KeepsEntriesOldestFirst) {
  rs::DivergenceLog log(4);
  log.push("a", body_divergence(1));
  log.push("b", body_divergence(2));
  const auto snap = log.snapshot();
  EXPECT_EQ(keys(snap), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(snap[1].divergence, body_divergence(2));
  EXPECT_EQ(snap[0].key_size, 1U);
}

TEST(DivergenceLog, DropsTheOldestWhenFull) {
  rs::DivergenceLog log(3);
  for (int i = 0; i < 8; ++i)
    log.push("k" + std::to_string(i), body_divergence(static_cast<std::size_t>(i)));
  EXPECT_EQ(log.size(), 3U);
  EXPECT_EQ(log.total_pushed(), 8U);
  const auto snap = log.snapshot();
  EXPECT_EQ(keys(snap), (std::vector<std::string>{"k5", "k6", "k7"}));
  EXPECT_EQ(snap[2].divergence, body_divergence(7));
}

TEST(DivergenceLog, CapacityZeroKeepsNothing) {
  rs::DivergenceLog log(0);
  log.push("a", body_divergence(1));
  EXPECT_EQ(log.size(), 0U);
  EXPECT_TRUE(log.snapshot().empty());
  EXPECT_EQ(log.total_pushed(), 1U);
}

TEST(DivergenceLog, CapsTheKey) {
  rs::DivergenceLog log(2);
  const std::string huge(1'000'000, 'x');
  log.push(huge, body_divergence(1));
  const auto snap = log.snapshot();
  ASSERT_EQ(snap.size(), 1U);
  EXPECT_EQ(snap[0].key.size(), rs::DivergenceLog::max_key_bytes);
  EXPECT_EQ(snap[0].key_size, huge.size());
}

TEST(DivergenceLog, StampsEntries) {
  rs::DivergenceLog log(2);
  const auto before = std::chrono::system_clock::now();
  log.push("a", body_divergence(1));
  const auto after = std::chrono::system_clock::now();
  const auto at = log.snapshot().at(0).at;
  EXPECT_LE(before, at);
  EXPECT_LE(at, after);
}

TEST(DivergenceLog, ConcurrentPushAndSnapshot) {
  rs::DivergenceLog log(64);
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&log, t] {
      for (int i = 0; i < per_thread; ++i) {
        log.push("t" + std::to_string(t), body_divergence(static_cast<std::size_t>(i)));
        if (i % 100 == 0) {
          const auto snap = log.snapshot();
          ASSERT_LE(snap.size(), 64U);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(log.total_pushed(), static_cast<std::uint64_t>(threads * per_thread));
  EXPECT_EQ(log.size(), 64U);
}

TEST(DivergenceLog, RedactsSensitiveHeaderValuesInKeys) {
  rs::DivergenceLog log(4);
  log.push(
      "GET /a HTTP/1.1\r\nHost: example\r\nAuthorization: Bearer s3cret\r\n"
      "cookie: id=42\r\nX-Trace: 7\r\nProxy-Authorization:Basic xyz",
      body_divergence(1));
  const auto key = log.snapshot().at(0).key;
  EXPECT_EQ(key,
            "GET /a HTTP/1.1\r\nHost: example\r\nAuthorization: [redacted]\r\n"
            "cookie: [redacted]\r\nX-Trace: 7\r\nProxy-Authorization: [redacted]");
  EXPECT_EQ(key.find("s3cret"), std::string::npos);
}

TEST(DivergenceLog, RedactionListIsConfigurable) {
  rs::DivergenceLog custom(4, {"x-api-key"});
  custom.push("X-Api-Key: k1\nAuthorization: visible", body_divergence(1));
  EXPECT_EQ(custom.snapshot().at(0).key, "X-Api-Key: [redacted]\nAuthorization: visible");
  rs::DivergenceLog none(4, {});
  none.push("Authorization: kept", body_divergence(1));
  EXPECT_EQ(none.snapshot().at(0).key, "Authorization: kept");
  EXPECT_EQ(rs::DivergenceLog{}.redacted_headers(), rs::default_redacted_headers());
}

TEST(DivergenceLog, RedactsAValueCutOffByTheKeyCap) {
  rs::DivergenceLog log(1);
  const std::string key = std::string(240, 'a') + "\nCookie: " + std::string(100, 'z');
  log.push(key, body_divergence(1));
  const auto kept = log.snapshot().at(0).key;
  EXPECT_EQ(kept.find('z'), std::string::npos) << kept;
  EXPECT_NE(kept.find("Cookie: [redacted]"), std::string::npos) << kept;
}

TEST(DivergenceLog, RedactsFoldedAndCarriageReturnSeparatedValues) {
  rs::DivergenceLog log(2);
  log.push("Cookie: a=1;\r\n  session=SECRET1\r\nHost: x\rAuthorization: Bearer SECRET2",
           body_divergence(1));
  const auto key = log.snapshot().at(0).key;
  EXPECT_EQ(key.find("SECRET"), std::string::npos) << key;
  EXPECT_EQ(key, "Cookie: [redacted]\r\n [redacted]\r\nHost: x\rAuthorization: [redacted]");
}
