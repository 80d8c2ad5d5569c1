// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_SAMPLER_HPP
#define REQUEST_SHADOW_SAMPLER_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <request_shadow/detail/flavour.hpp>
#include <request_shadow/detail/sha256.hpp>
#include <span>
#include <string_view>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

/// The bucket `sample_bucket` once returned when OpenSSL failed to hash; no longer returned
/// (the digest cannot fail), kept for source compatibility.
inline constexpr std::uint32_t no_bucket = 100;

/// Parts per million in one percent.
inline constexpr std::uint32_t ppm_per_percent = 10'000;

/// The full sample rate: one million parts per million.
inline constexpr std::uint32_t full_rate_ppm = 1'000'000;

/// The first four bytes of SHA-256(salt || key), big-endian; never empty.
/**
 * About 45 ns for a key of up to 55 bytes on a CPU with the x86 SHA extensions (our own code),
 * then about 45 ns per 64 bytes; elsewhere OpenSSL's, about 130 ns more. The optional is a
 * remnant of a digest that could fail: it is always set. Allocates nothing (OpenSSL's path: one
 * context per thread, once).
 */
[[nodiscard]] inline std::optional<std::uint32_t> sample_hash(
    std::span<const std::byte> key, std::span<const std::byte> salt = {}) noexcept {
  detail::Sha256Digest digest;
  detail::sha256(salt, key, digest);
  return (std::uint32_t{digest[0]} << 24U) | (std::uint32_t{digest[1]} << 16U) |
         (std::uint32_t{digest[2]} << 8U) | std::uint32_t{digest[3]};
}

/// The sticky sampling bucket of a key, in 0..99.
/**
 * The first four bytes of SHA-256(key), read big-endian, modulo 100: the same bucket as the
 * request-shadow-rs reference, so a fleet that mixes both samples the same cohort. A key is
 * shadowed when its bucket is below the sample rate in percent.
 */
[[nodiscard]] inline std::uint32_t sample_bucket(std::span<const std::byte> key) noexcept {
  const auto head = sample_hash(key);
  return head ? *head % 100U : no_bucket;
}

/// The sticky sampling bucket of a text key, in 0..99.
[[nodiscard]] inline std::uint32_t sample_bucket(std::string_view key) noexcept {
  return sample_bucket(std::as_bytes(std::span(key.data(), key.size())));
}

/// Whether a key whose `sample_hash` is `head` is in at `rate_ppm` parts per million.
/**
 * The whole percents of the rate select buckets `head % 100` below them, exactly as the
 * reference does; the remaining parts select a proportional share of the next bucket by
 * `head / 100 % 10000`. So whole-percent rates stay bucket-compatible, and raising the rate
 * never drops a key that was in.
 */
[[nodiscard]] constexpr bool sampled_at(std::uint32_t head, std::uint32_t rate_ppm) noexcept {
  const std::uint32_t whole = rate_ppm / ppm_per_percent;
  const std::uint32_t part = rate_ppm % ppm_per_percent;
  const std::uint32_t bucket = head % 100U;
  return bucket < whole || (bucket == whole && head / 100U % ppm_per_percent < part);
}

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_SAMPLER_HPP
