// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_SHA256_HPP
#define REQUEST_SHADOW_DETAIL_SHA256_HPP

// The library's only door to OpenSSL.
#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <memory>
#include <span>

namespace request_shadow::detail {

/// A SHA-256 digest.
using Sha256Digest = std::array<unsigned char, 32>;

// `EVP_sha256()` makes OpenSSL 3 look the algorithm up on every digest (about 200 ns); fetching
// it once and reusing one context per thread brings a 16-byte digest to about 80 ns.
inline const EVP_MD* sha256_algorithm() noexcept {
  struct Fetched {
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    Fetched() = default;
    Fetched(const Fetched&) = delete;
    Fetched& operator=(const Fetched&) = delete;
    ~Fetched() { EVP_MD_free(md); }
  };
  static const Fetched fetched;
  return fetched.md != nullptr ? fetched.md : EVP_sha256();
}

/// Hash `prefix` followed by `data` into `out`; false only if OpenSSL itself fails (e.g. out of
/// memory).
inline bool sha256(std::span<const std::byte> prefix, std::span<const std::byte> data,
                   Sha256Digest& out) noexcept {
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
  };
  thread_local const std::unique_ptr<EVP_MD_CTX, CtxFree> ctx{EVP_MD_CTX_new()};
  if (!ctx) return false;
  unsigned int len = 0;
  return EVP_DigestInit_ex2(ctx.get(), sha256_algorithm(), nullptr) == 1 &&
         (prefix.empty() || EVP_DigestUpdate(ctx.get(), prefix.data(), prefix.size()) == 1) &&
         EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
         EVP_DigestFinal_ex(ctx.get(), out.data(), &len) == 1 && len == out.size();
}

/// Hash `data` into `out`; false only if OpenSSL itself fails.
inline bool sha256(std::span<const std::byte> data, Sha256Digest& out) noexcept {
  return sha256({}, data, out);
}

}  // namespace request_shadow::detail

#endif  // REQUEST_SHADOW_DETAIL_SHA256_HPP
