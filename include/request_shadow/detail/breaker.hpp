// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_BREAKER_HPP
#define REQUEST_SHADOW_DETAIL_BREAKER_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <request_shadow/config.hpp>
#include <vector>

namespace request_shadow::detail {

// The circuit breaker behind ShadowConfig::auto_stop. Closed: every sampled call shadows, and
// the outcomes of the last `window` legs are kept. When the share of failed ones (timed out or
// threw) reaches the threshold it opens: no call shadows until the cool-down has passed. Then
// exactly one call probes; its success closes the breaker, its failure opens it again.
class Breaker {
 public:
  enum class Admit : std::uint8_t { Yes, No, Probe };
  enum class Result : std::uint8_t { Success, Failure, Unknown };

  explicit Breaker(const AutoStop& config)
      : config_(sanitized(config)), ring_(config_.window, false) {}

  // Whether a sampled call may start its shadow. One relaxed load while closed.
  Admit admit() noexcept {
    State s = state_.load(std::memory_order_acquire);
    if (s == State::Closed) return Admit::Yes;
    // While probing, `open_until_` is when the probe is given up: a probe whose call was dropped
    // (never awaited, or its context destroyed) never reports.
    const auto now = Clock::now();
    if (now.time_since_epoch().count() < open_until_.load(std::memory_order_acquire)) {
      return Admit::No;
    }
    if (!state_.compare_exchange_strong(s, State::Probing, std::memory_order_acq_rel)) {
      return Admit::No;
    }
    open_until_.store((now + config_.cooldown).time_since_epoch().count(),
                      std::memory_order_release);
    return Admit::Probe;
  }

  // The outcome of a leg admitted with Yes (`probe` false) or Probe (`probe` true). Returns
  // whether this outcome opened the breaker.
  bool record(Result result, bool probe) noexcept {
    if (probe) {
      if (result == Result::Success) {
        std::lock_guard lock(mutex_);
        clear();
        state_.store(State::Closed, std::memory_order_release);
        return false;
      }
      // A failed probe opens again for a cool-down; an undecided one (its caller left) lets the
      // next call probe at once.
      open(result == Result::Failure ? config_.cooldown : Clock::duration::zero());
      return false;
    }
    if (result == Result::Unknown) return false;
    std::lock_guard lock(mutex_);
    if (state_.load(std::memory_order_relaxed) != State::Closed) return false;
    const bool failed = result == Result::Failure;
    if (filled_ == ring_.size()) {
      bad_ -= ring_[next_] ? 1U : 0U;
    } else {
      ++filled_;
    }
    ring_[next_] = failed;
    bad_ += failed ? 1U : 0U;
    next_ = (next_ + 1) % ring_.size();
    if (filled_ == ring_.size() &&
        static_cast<double>(bad_) >= config_.max_failure_ratio * static_cast<double>(filled_)) {
      clear();
      open(config_.cooldown);
      return true;
    }
    return false;
  }

  // Whether shadowing is stopped now (open or probing).
  [[nodiscard]] bool stopped() const noexcept {
    return state_.load(std::memory_order_relaxed) != State::Closed;
  }

 private:
  using Clock = std::chrono::steady_clock;
  enum class State : std::uint8_t { Closed, Open, Probing };

  void open(Clock::duration cooldown) noexcept {
    open_until_.store((Clock::now() + cooldown).time_since_epoch().count(),
                      std::memory_order_release);
    state_.store(State::Open, std::memory_order_release);
  }

  // A ratio in (0, 1] (NaN and non-positive become 0.5), a window of at least one leg, and no
  // negative cool-down.
  static AutoStop sanitized(AutoStop c) noexcept {
    if (!(c.max_failure_ratio > 0.0)) c.max_failure_ratio = 0.5;
    c.max_failure_ratio = std::min(c.max_failure_ratio, 1.0);
    c.window = std::max<std::size_t>(c.window, 1);
    c.cooldown = std::max(c.cooldown, Clock::duration::zero());
    return c;
  }

  void clear() noexcept {
    std::fill(ring_.begin(), ring_.end(), false);
    filled_ = bad_ = next_ = 0;
  }

  const AutoStop config_;
  std::atomic<State> state_{State::Closed};
  std::atomic<Clock::rep> open_until_{0};
  std::mutex mutex_;
  std::vector<bool> ring_;  // guarded by mutex_
  std::size_t filled_ = 0;
  std::size_t bad_ = 0;
  std::size_t next_ = 0;
};

}  // namespace request_shadow::detail

#endif  // REQUEST_SHADOW_DETAIL_BREAKER_HPP
