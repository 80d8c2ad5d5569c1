// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/detail/sha256.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <request_shadow/config.hpp>
#include <request_shadow/sampler.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rs = request_shadow;
namespace detail = request_shadow::detail;

namespace {

using Bytes = std::span<const std::byte>;

Bytes bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string hex(const detail::Sha256Digest& d) {
  constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : d) {
    out += digits[c >> 4U];
    out += digits[c & 0xfU];
  }
  return out;
}

// OpenSSL's one-shot SHA256(), the reference every path is checked against.
detail::Sha256Digest reference(Bytes message) {
  detail::Sha256Digest out{};
  SHA256(reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data());
  return out;
}

// One way of computing the digest, by name.
struct Path {
  const char* name;
  bool available;
  detail::Sha256Digest (*digest)(Bytes prefix, Bytes data);
};

#if REQUEST_SHADOW_SHA_NI
detail::Sha256Digest sha_ni_path(Bytes prefix, Bytes data) {
  detail::Sha256Digest out{};
  detail::sha256_sha_ni(prefix, data, out);
  return out;
}
#endif

Path sha_ni() {
#if REQUEST_SHADOW_SHA_NI
  return {"sha_ni", detail::sha_ni_supported(), sha_ni_path};
#else
  return {"sha_ni", false, nullptr};
#endif
}

Path scalar() {
  return {"scalar", true, [](Bytes prefix, Bytes data) {
            detail::Sha256Digest out{};
            detail::sha256_scalar(prefix, data, out);
            return out;
          }};
}

Path openssl() {
  return {"openssl", true, [](Bytes prefix, Bytes data) {
            detail::Sha256Digest out{};
            EXPECT_TRUE(detail::sha256_openssl(prefix, data, out));
            return out;
          }};
}

Path dispatched() {
  return {"sha256", true, [](Bytes prefix, Bytes data) {
            detail::Sha256Digest out{};
            detail::sha256(prefix, data, out);
            return out;
          }};
}

class Sha256Path : public testing::TestWithParam<Path (*)()> {
 protected:
  void SetUp() override {
    path_ = GetParam()();
    if (!path_.available) GTEST_SKIP() << path_.name << ": this CPU lacks the SHA extensions";
  }

  std::string hex_of(std::string_view message) const {
    return hex(path_.digest({}, bytes_of(message)));
  }

  Path path_{};
};

// FIPS 180-4 examples and the long message of the NIST test vectors.
TEST_P(Sha256Path, NistVectors) {
  EXPECT_EQ(hex_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                   "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(hex_of(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Every length up to 300 (every way the last block can end, over four blocks), on random bytes
// that start at every alignment.
TEST_P(Sha256Path, EveryLengthMatchesOpenSsl) {
  std::mt19937 rng(42);
  std::vector<std::byte> buffer(300 + 16);
  for (auto& b : buffer) b = static_cast<std::byte>(rng());
  for (std::size_t n = 0; n <= 300; ++n) {
    const Bytes message = Bytes(buffer).subspan(n % 16, n);
    ASSERT_EQ(hex(path_.digest({}, message)), hex(reference(message))) << "length " << n;
    ASSERT_EQ(hex(path_.digest(message, {})), hex(reference(message))) << "length " << n;
  }
}

// The salt and the key are one message: every split of every length gives the same digest.
TEST_P(Sha256Path, PrefixAndDataSplitAtEveryPoint) {
  std::mt19937 rng(7);
  std::vector<std::byte> buffer(300);
  for (auto& b : buffer) b = static_cast<std::byte>(rng());
  for (std::size_t n = 0; n <= 300; ++n) {
    const Bytes message = Bytes(buffer).first(n);
    const std::string expected = hex(reference(message));
    for (std::size_t split = 0; split <= n; ++split) {
      ASSERT_EQ(hex(path_.digest(message.first(split), message.subspan(split))), expected)
          << "length " << n << ", split at " << split;
    }
  }
}

// Long messages of random lengths, split at random points.
TEST_P(Sha256Path, LongMessagesMatchOpenSsl) {
  std::mt19937 rng(99);
  std::vector<std::byte> buffer(20'000);
  for (auto& b : buffer) b = static_cast<std::byte>(rng());
  for (int i = 0; i < 200; ++i) {
    const std::size_t n = rng() % buffer.size();
    const std::size_t split = rng() % (n + 1);
    const Bytes message = Bytes(buffer).first(n);
    ASSERT_EQ(hex(path_.digest(message.first(split), message.subspan(split))),
              hex(reference(message)))
        << "length " << n << ", split at " << split;
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, Sha256Path,
                         testing::Values(&sha_ni, &scalar, &openssl, &dispatched),
                         [](const testing::TestParamInfo<Path (*)()>& param) {
                           return std::string(param.param().name);
                         });

TEST(Sha256, UsesTheShaExtensionsWhereTheCpuHasThem) {
#if REQUEST_SHADOW_SHA_NI
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool has_sha = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0 && (ebx & bit_SHA) != 0;
  EXPECT_EQ(detail::sha_ni_supported(), has_sha);
#else
  EXPECT_FALSE(detail::sha_ni_supported());
#endif
}

// The first four bytes of SHA-256(salt || key), computed with Python's hashlib: the sampler's
// decisions depend on nothing but the digest, whichever path computes it.
TEST(SampleHash, PinnedValues) {
  EXPECT_EQ(rs::sample_hash(bytes_of("user-42")), 0x6d894aa3U);
  EXPECT_EQ(rs::sample_hash(bytes_of("user-42"), bytes_of("checkout-v2")), 0x5baa763dU);
  EXPECT_EQ(rs::sample_hash(bytes_of(std::string(55, 'k'))), 0x94abcc11U);  // one block
  EXPECT_EQ(rs::sample_hash(bytes_of(std::string(56, 'k'))), 0x493a700bU);  // padding: two
  EXPECT_EQ(rs::sample_hash(bytes_of(std::string(64, 'k'))), 0x2519b49bU);
  EXPECT_EQ(rs::sample_hash(bytes_of(std::string(4096, 'k'))), 0xa1d2b474U);
  EXPECT_EQ(rs::sample_hash(bytes_of(std::string(100, 'k')), bytes_of(std::string(30, 's'))),
            0x1e7a4a44U);
  EXPECT_EQ(rs::sample_hash({}, bytes_of("salt-only")), 0x40b9bf3eU);
}

// Decisions at the edge of a key's share: 0x6d894aa3 is bucket 83, part 7140.
TEST(SampleHash, PinnedDecisions) {
  const auto at = [](std::uint32_t ppm) { return rs::ShadowConfig{}.sample_rate_ppm(ppm); };
  EXPECT_FALSE(at(837'140).should_shadow("user-42"));
  EXPECT_TRUE(at(837'141).should_shadow("user-42"));
  EXPECT_EQ(rs::sample_bucket("user-42"), 83U);
  // Salted with "checkout-v2": 0x5baa763d is bucket 45, part 8980.
  const auto salted = [](std::uint32_t ppm) {
    return rs::ShadowConfig{}.salt("checkout-v2").sample_rate_ppm(ppm);
  };
  EXPECT_FALSE(salted(458'980).should_shadow("user-42"));
  EXPECT_TRUE(salted(458'981).should_shadow("user-42"));
}

}  // namespace
