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
  EXPECT_EQ(log.snapshot().at(0).key, std::string(240, 'a') + "\nCookie: [redact");
  const std::string past_the_scan =
      "GET /a\nCookie: " + std::string(rs::DivergenceLog::key_scan_bytes, 'z') + "\nHost: x";
  log.push(past_the_scan, body_divergence(1));
  EXPECT_EQ(log.snapshot().at(0).key, "GET /a\nCookie: [redacted]");
}

TEST(DivergenceLog, RedactsFoldedAndCarriageReturnSeparatedValues) {
  rs::DivergenceLog log(2);
  log.push("Cookie: a=1;\r\n  session=SECRET1\r\nHost: x\rAuthorization: Bearer SECRET2",
           body_divergence(1));
  const auto key = log.snapshot().at(0).key;
  EXPECT_EQ(key.find("SECRET"), std::string::npos) << key;
  EXPECT_EQ(key, "Cookie: [redacted]\r\n [redacted]\r\nHost: x\rAuthorization: [redacted]");
}

TEST(DivergenceLog, KeyNeverExceedsTheCapWhateverItHolds) {
  std::string cookies;
  while (cookies.size() < rs::DivergenceLog::max_key_bytes) cookies += "Cookie:\n";
  std::string folds = "Cookie: a\n";
  while (folds.size() < rs::DivergenceLog::max_key_bytes) folds += " \n";
  folds.resize(rs::DivergenceLog::max_key_bytes);
  std::string crlf_folds = "Authorization: x\r\n";
  while (crlf_folds.size() < 100'000) crlf_folds += "\t\r\n";
  std::string many_cookies;
  while (many_cookies.size() < 100'000) many_cookies += "cookie:\r";
  rs::DivergenceLog log(8);
  for (const std::string& key : {cookies, folds, crlf_folds, many_cookies}) {
    log.push(key, body_divergence(1));
    const auto kept = log.snapshot().back();
    EXPECT_LE(kept.key.size(), rs::DivergenceLog::max_key_bytes) << kept.key;
    EXPECT_EQ(kept.key_size, key.size());
    EXPECT_EQ(kept.key.find('x'), std::string::npos) << kept.key;
  }
}

TEST(DivergenceLog, KeyIsRedactedBeforeItIsCut) {
  rs::DivergenceLog log(1);
  const std::string key = "GET /a\r\nCookie: " + std::string(1000, 'z') + "\r\nHost: visible";
  log.push(key, body_divergence(1));
  EXPECT_EQ(log.snapshot().at(0).key, "GET /a\r\nCookie: [redacted]\r\nHost: visible");
}

TEST(DivergenceLog, CutNeverRevealsAValue) {
  rs::DivergenceLog log(1);
  for (std::size_t filler = 200; filler < 300; ++filler) {
    for (const std::string& header :
         {std::string("\r\nAuthorization: Bearer SECRET"), std::string("\nCookie: a\n SECRET"),
          std::string("\r\nSet-Cookie:\r\n\tSECRET\r\n SECRET")}) {
      const std::string key = std::string(filler, 'a') + header + std::string(filler, 'b');
      log.push(key, body_divergence(1));
      const std::string kept = log.snapshot().at(0).key;
      EXPECT_LE(kept.size(), rs::DivergenceLog::max_key_bytes);
      EXPECT_EQ(kept.find("SECRET"), std::string::npos) << kept;
      EXPECT_EQ(kept.find("Bearer"), std::string::npos) << kept;
      EXPECT_EQ(kept.find(" a"), std::string::npos) << kept;
    }
  }
}

TEST(DivergenceLog, RedactsAHeaderOnAFirstLineThatStartsWithWhitespace) {
  rs::DivergenceLog log(1);
  const std::pair<std::string, std::string> cases[] = {
      {" Authorization: Bearer x", " Authorization: [redacted]"},
      {"\tCookie: s=x", "\tCookie: [redacted]"},
      {" \t set-COOKIE \t: s=x\r\n more=x", " \t set-COOKIE \t: [redacted]\r\n [redacted]"},
      {"\r\n COOKIE: s=x", "\r\n COOKIE: [redacted]"},
      {"\n\tProxy-Authorization:x\r\tx", "\n\tProxy-Authorization: [redacted]\r [redacted]"},
      {"X-Other: a\r\n Cookie: s=x", "X-Other: a\r\n Cookie: [redacted]"},
      {" not a header, x", " not a header, x"},
  };
  for (const auto& [key, expected] : cases) {
    log.push(key, body_divergence(1));
    EXPECT_EQ(log.snapshot().at(0).key, expected);
  }
}

TEST(DivergenceLog, RedactsWhatABareCarriageReturnMayFold) {
  rs::DivergenceLog log(1);
  log.push("Cookie: a\rb=SECRET\r\nHost: x\rAuthorization: y\r\rz", body_divergence(1));
  EXPECT_EQ(log.snapshot().at(0).key,
            "Cookie: [redacted]\r [redacted]\r\nHost: x\rAuthorization: [redacted]\r\r [redacted]");
}

TEST(DivergenceLog, KeyTruncatedSaysWhetherTheKeyWasCut) {
  rs::DivergenceLog log(1);
  const auto truncated = [&log](const std::string& key) {
    log.push(key, body_divergence(1));
    const auto entry = log.snapshot().at(0);
    EXPECT_EQ(entry.key_size, key.size());
    return entry.key_truncated;
  };
  EXPECT_FALSE(truncated("GET /a"));
  EXPECT_FALSE(truncated("Cookie: " + std::string(5000, 'z') + "\nHost: x"));
  EXPECT_FALSE(truncated(std::string(rs::DivergenceLog::max_key_bytes, 'x')));
  EXPECT_TRUE(truncated(std::string(rs::DivergenceLog::max_key_bytes + 1, 'x')));
  EXPECT_TRUE(truncated(std::string(200, 'x') + "\nCookie:\nCookie:\nCookie:\nCookie:"));
  EXPECT_TRUE(truncated("Cookie: " + std::string(rs::DivergenceLog::key_scan_bytes, 'z')));
  rs::DivergenceLog plain(1, {});
  plain.push(std::string(rs::DivergenceLog::max_key_bytes + 1, 'x'), body_divergence(1));
  EXPECT_TRUE(plain.snapshot().at(0).key_truncated);
  plain.push("Cookie: x", body_divergence(1));
  EXPECT_FALSE(plain.snapshot().at(0).key_truncated);
}

TEST(DivergenceLog, KeepsThePrefixOfTheRedactedKey) {
  // Keys made of pieces that matter to redaction, checked against a redaction of the whole key.
  const std::string pieces[] = {"Cookie", "authorization", "Host", ":",     " ", "\t", "\r",
                                "\n",     "\r\n",          "v",    "SECRET"};
  const std::vector<std::string> names = rs::default_redacted_headers();
  rs::DivergenceLog log(1);
  std::uint32_t state = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string key;
    const std::size_t count = 1 + static_cast<std::size_t>(round) % 97;
    for (std::size_t i = 0; i < count; ++i) {
      state = state * 1'664'525U + 1'013'904'223U;
      key += pieces[(state >> 16U) % std::size(pieces)];
    }
    const std::string whole = rs::detail::redact_header_values(key, names);
    for (std::size_t cut = 0; cut <= key.size(); cut += 7) {
      const std::string part = rs::detail::redact_header_values(key.substr(0, cut), names);
      ASSERT_EQ(whole.compare(0, part.size(), part), 0) << key << "\n" << cut;
    }
    log.push(key, body_divergence(1));
    const auto entry = log.snapshot().at(0);
    EXPECT_EQ(entry.key, whole.substr(0, rs::DivergenceLog::max_key_bytes)) << key;
    EXPECT_EQ(entry.key_truncated, whole.size() > rs::DivergenceLog::max_key_bytes) << key;
  }
}
