// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_RATE_LIMITER_HPP
#define REQUEST_SHADOW_DETAIL_RATE_LIMITER_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <request_shadow/detail/flavour.hpp>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// A token bucket with no lock, kept as one atomic "theoretical arrival time" (the generic cell
// rate algorithm): a token is taken when that time, pushed one interval forward, is no further
// ahead of `now` than the bucket's depth allows. A full bucket holds `burst` tokens and refills
// at `per_second`. The caller passes the time, so a test can drive it with a clock of its own.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `per_second` must be finite and positive, `burst` at least 1 (the config checks both).
  RateLimiter(double per_second, double burst) noexcept {
    // One token per `interval_`; bounded so that `tolerance_` and the arithmetic below stay far
    // from overflowing (an interval of up to about 11.6 days, a depth of up to about 116 years).
    constexpr double max_interval = 1e15;
    constexpr double max_tolerance = 3.6e18;
    const double interval = std::clamp(1e9 / per_second, 1.0, max_interval);
    interval_ = static_cast<std::int64_t>(interval);
    tolerance_ = static_cast<std::int64_t>(
        std::min((std::max(burst, 1.0) - 1.0) * static_cast<double>(interval_), max_tolerance));
  }

  // Take a token at `now`; false when the bucket is empty. Lock-free; safe from any thread.
  [[nodiscard]] bool try_take(Clock::time_point now) noexcept {
    const std::int64_t t =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    std::int64_t tat = next_.load(std::memory_order_relaxed);
    for (;;) {
      const std::int64_t base = std::max(tat, t);
      if (base - t > tolerance_) return false;
      if (next_.compare_exchange_weak(tat, base + interval_, std::memory_order_relaxed)) {
        return true;
      }
    }
  }

 private:
  std::int64_t interval_ = 1;   // nanoseconds per token
  std::int64_t tolerance_ = 0;  // how far ahead of now the arrival time may run: (burst - 1) tokens
  std::atomic<std::int64_t> next_{std::numeric_limits<std::int64_t>::min() / 2};
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_RATE_LIMITER_HPP
