// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_BREAKER_HPP
#define REQUEST_SHADOW_DETAIL_BREAKER_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <request_shadow/config.hpp>
#include <request_shadow/detail/flavour.hpp>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// The circuit breaker behind ShadowConfig::auto_stop. Closed: every sampled call shadows, and
// the outcomes of the last `window` legs are kept. When the share of failed ones (timed out or
// threw) reaches the threshold it opens: no call shadows until the cool-down has passed. Then
// exactly one call probes, and no other call shadows while that probe is out: its success closes
// the breaker, its failure opens it again, and a probe whose result is unknown (its caller left,
// its primary threw, it was shed) lets the next call probe at once.
//
// A probe is out until it reports. Each probe has a ticket, and only the current ticket's report
// counts; the Shadower reports every probe it starts, also when the call's coroutine is
// destroyed before it ends. As a last resort, for a call that is never resumed nor destroyed, a
// probe is given up when its shadow deadline and then a cool-down have passed, as if it had timed
// out; a report that comes after that is ignored.
class Breaker {
 public:
  enum class Admit : std::uint8_t { Yes, No, Probe };
  enum class Result : std::uint8_t { Success, Failure, Unknown };
  using Clock = std::chrono::steady_clock;

  explicit Breaker(const AutoStop& config)
      : config_(sanitized(config)), ring_(config_.window, false) {}

  // Whether every sampled call shadows now: the check on the call path, one relaxed load.
  //
  // Relaxed is enough because the load guards no other data. A call admitted here reads nothing
  // that closing the breaker published: the ring of outcomes is read and written under the mutex
  // (record() takes it), and `until_` is read only once the breaker is seen open. Acquire would
  // not make the value any fresher either: a call that races with the breaker opening may shadow
  // either way, and its outcome is ignored once the breaker is open. A stale "open" only sends the
  // call to admit(), which decides again under the mutex.
  [[nodiscard]] bool closed() const noexcept {
    return state_.load(std::memory_order_relaxed) == State::Closed;
  }

  // Whether a sampled call may start its shadow while the breaker is not closed() (or was not a
  // moment ago). On Probe, `probe` is set to the probe's ticket (never 0); `timeout` is the
  // shadow deadline the call will use. Lock-free unless a probe may be due.
  Admit admit(Clock::duration timeout, std::uint64_t& probe) noexcept {
    // A stale `until_` either sends the call to the mutex, where it is read again, or stops a call
    // that could have probed a moment earlier; the mutex orders everything that matters.
    const auto now = Clock::now().time_since_epoch().count();
    if (state_.load(std::memory_order_relaxed) != State::Closed &&
        now < until_.load(std::memory_order_relaxed)) {
      return Admit::No;
    }
    std::lock_guard lock(mutex_);
    const State s = state_.load(std::memory_order_relaxed);
    if (s == State::Closed) return Admit::Yes;
    if (now < until_.load(std::memory_order_relaxed)) return Admit::No;
    // The cool-down has passed (Open), or the probe out was given up (Probing): probe.
    probe = ++probe_id_;
    until_.store(saturated_add(now, timeout, config_.cooldown), std::memory_order_relaxed);
    state_.store(State::Probing, std::memory_order_relaxed);
    return Admit::Probe;
  }

  // The outcome of a leg admitted with Yes (`probe` 0) or Probe (`probe` its ticket). Returns
  // whether this outcome opened the breaker.
  bool record(Result result, std::uint64_t probe) noexcept {
    if (probe != 0) {
      std::lock_guard lock(mutex_);
      // A probe given up already reports nothing: another one is out, or the breaker moved on.
      if (probe != probe_id_ || state_.load(std::memory_order_relaxed) != State::Probing) {
        return false;
      }
      if (result == Result::Success) {
        clear();
        state_.store(State::Closed, std::memory_order_relaxed);
        return false;
      }
      // A failed probe opens again for a cool-down; an undecided one lets the next call probe.
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
  [[nodiscard]] bool stopped() const noexcept { return !closed(); }

 private:
  enum class State : std::uint8_t { Closed, Open, Probing };

  // Under the mutex.
  void open(Clock::duration cooldown) noexcept {
    until_.store(
        saturated_add(Clock::now().time_since_epoch().count(), cooldown, Clock::duration::zero()),
        std::memory_order_relaxed);
    state_.store(State::Open, std::memory_order_relaxed);
  }

  // `now` + `a` + `b`, capped at the clock's end (a shadow timeout may be huge).
  static Clock::rep saturated_add(Clock::rep now, Clock::duration a, Clock::duration b) noexcept {
    constexpr auto max = std::numeric_limits<Clock::rep>::max();
    Clock::rep t = now;
    for (const Clock::rep d : {a.count(), b.count()}) {
      if (d <= 0) continue;
      t = d >= max - t ? max : t + d;
    }
    return t;
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
  // Written under the mutex, read without it on the lock-free paths.
  std::atomic<State> state_{State::Closed};
  // Open: when the cool-down ends. Probing: when the probe out is given up.
  std::atomic<Clock::rep> until_{0};
  std::mutex mutex_;
  std::uint64_t probe_id_ = 0;  // the ticket of the latest probe; guarded by mutex_
  std::vector<bool> ring_;      // guarded by mutex_
  std::size_t filled_ = 0;
  std::size_t bad_ = 0;
  std::size_t next_ = 0;
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_BREAKER_HPP
