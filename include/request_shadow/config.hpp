// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_CONFIG_HPP
#define REQUEST_SHADOW_CONFIG_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <request_shadow/sampler.hpp>
#include <span>
#include <string_view>

namespace request_shadow {

/// Aspects of a response that a comparison can ignore; combine them with `|`.
enum class IgnoreField : std::uint8_t {
  None = 0,     ///< Compare everything.
  Status = 1,   ///< Ignore `ok` and the status code.
  Headers = 2,  ///< Ignore every header.
  Body = 4,     ///< Ignore the body.
};

/// The union of two sets of ignored fields.
[[nodiscard]] constexpr IgnoreField operator|(IgnoreField a, IgnoreField b) noexcept {
  return static_cast<IgnoreField>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}

/// The intersection of two sets of ignored fields.
[[nodiscard]] constexpr IgnoreField operator&(IgnoreField a, IgnoreField b) noexcept {
  return static_cast<IgnoreField>(static_cast<std::uint8_t>(a) & static_cast<std::uint8_t>(b));
}

/// How a `Shadower` samples, how long the shadow leg may take, and what a comparison ignores.
/**
 * A value type with chainable setters:
 * @code
 * auto config = ShadowConfig::full_sample().sample_rate(10).shadow_timeout(50ms);
 * @endcode
 * A `Shadower` copies its config at construction.
 */
class ShadowConfig {
 public:
  /// The sample rate of `full_sample()`, in percent.
  static constexpr unsigned default_sample_rate = 100;
  /// The shadow deadline of `full_sample()`.
  static constexpr std::chrono::steady_clock::duration default_shadow_timeout =
      std::chrono::seconds(2);

  /// Same as `full_sample()`.
  constexpr ShadowConfig() noexcept = default;

  /// Shadow every request, a 2 s shadow deadline, nothing ignored.
  [[nodiscard]] static constexpr ShadowConfig full_sample() noexcept { return ShadowConfig{}; }

  /// Set the share of keys that are shadowed, in percent; clamped to 0..100.
  constexpr ShadowConfig& sample_rate(int percent) noexcept {
    rate_ = static_cast<unsigned>(std::clamp(percent, 0, 100));
    return *this;
  }

  /// The share of keys that are shadowed, in percent (0..100).
  [[nodiscard]] constexpr unsigned sample_rate() const noexcept { return rate_; }

  /// Set how long the shadow leg may run, counted from the start of the call; negative is 0.
  constexpr ShadowConfig& shadow_timeout(std::chrono::steady_clock::duration timeout) noexcept {
    timeout_ = std::max(timeout, std::chrono::steady_clock::duration::zero());
    return *this;
  }

  /// How long the shadow leg may run, counted from the start of the call.
  [[nodiscard]] constexpr std::chrono::steady_clock::duration shadow_timeout() const noexcept {
    return timeout_;
  }

  /// The bound of `max_in_flight_shadows()` in `full_sample()`.
  static constexpr std::size_t default_max_in_flight_shadows = 1024;

  /// Set how many shadow legs may run at once (at least 1), abandoned ones included.
  /**
   * A call that finds this many shadow legs still running (for example against a candidate that
   * hangs and ignores cancellation) skips its shadow and reports it as shed, so a stuck candidate
   * cannot pile up work. Each running leg holds one reusable worker coroutine.
   */
  constexpr ShadowConfig& max_in_flight_shadows(std::size_t n) noexcept {
    max_in_flight_ = std::max<std::size_t>(n, 1);
    return *this;
  }

  /// How many shadow legs may run at once.
  [[nodiscard]] constexpr std::size_t max_in_flight_shadows() const noexcept {
    return max_in_flight_;
  }

  /// Add `fields` to the set of ignored fields.
  constexpr ShadowConfig& ignore(IgnoreField fields) noexcept {
    ignored_ = ignored_ | fields;
    return *this;
  }

  /// The set of ignored fields.
  [[nodiscard]] constexpr IgnoreField ignored() const noexcept { return ignored_; }

  /// Whether every field in `fields` is ignored.
  [[nodiscard]] constexpr bool ignores(IgnoreField fields) const noexcept {
    return (ignored_ & fields) == fields;
  }

  /// Whether the request with this key is shadowed; sticky: the same key always answers the same.
  /**
   * Rate 0 never hashes and answers false; rate 100 never hashes and answers true; otherwise
   * `sample_bucket(key) < sample_rate()`.
   */
  [[nodiscard]] bool should_shadow(std::span<const std::byte> key) const noexcept {
    if (rate_ == 0) return false;
    if (rate_ >= 100) return true;
    return sample_bucket(key) < rate_;
  }

  /// Whether the request with this text key is shadowed.
  [[nodiscard]] bool should_shadow(std::string_view key) const noexcept {
    return should_shadow(std::as_bytes(std::span(key.data(), key.size())));
  }

 private:
  unsigned rate_ = default_sample_rate;
  std::chrono::steady_clock::duration timeout_ = default_shadow_timeout;
  IgnoreField ignored_ = IgnoreField::None;
  std::size_t max_in_flight_ = default_max_in_flight_shadows;
};

}  // namespace request_shadow

#endif  // REQUEST_SHADOW_CONFIG_HPP
