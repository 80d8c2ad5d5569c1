// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_ENGINE_DEADLINE_QUEUE_HPP
#define REQUEST_SHADOW_DETAIL_ENGINE_DEADLINE_QUEUE_HPP

// The engine, part 2 of 6: the deadline queue and its timer. Map of the engine: see slot.hpp.
//
// Why: a per-call steady_timer costs a timerfd syscall per call. Every call uses the same
// timeout (or a few, if it is changed at run time), so deadlines are non-decreasing in start
// order within one timeout: a FIFO per timeout value, and one timer armed for the oldest entry,
// is enough. A slot whose shadow answers unlinks itself in O(1); the timer fires about once per
// timeout period instead of once per call.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/detail/engine/slot.hpp>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// Slots waiting for their shadow, one FIFO per timeout value, each in start order. Guarded by
// the lane's mutex. The clock is the caller's: `expire` takes the time, so it can be tested with
// any clock.
class DeadlineQueue {
 public:
  // Link `s`, whose `timeout` and `deadline` are set, at the tail of its timeout's FIFO. May throw
  // (memory) only when a new timeout needs a new FIFO; `s` is then not linked.
  void link(Slot& s) {
    std::size_t i = 0;
    while (i < fifos_.size() && fifos_[i].timeout != s.timeout) ++i;
    if (i == fifos_.size()) {
      // Reuse an empty FIFO left by an old timeout before growing.
      i = 0;
      while (i < fifos_.size() && fifos_[i].head != nullptr) ++i;
      if (i == fifos_.size()) fifos_.emplace_back();
      fifos_[i].timeout = s.timeout;
    }
    Fifo& f = fifos_[i];
    s.fifo = i;
    s.linked = true;
    s.next = nullptr;
    s.prev = f.tail;
    (f.tail != nullptr ? f.tail->next : f.head) = &s;
    f.tail = &s;
  }

  // Take `s` out of its FIFO, if it is linked.
  void unlink(Slot& s) noexcept {
    if (!s.linked) return;
    Fifo& f = fifos_[s.fifo];
    (s.prev != nullptr ? s.prev->next : f.head) = s.next;
    (s.next != nullptr ? s.next->prev : f.tail) = s.prev;
    s.prev = s.next = nullptr;
    s.linked = false;
  }

  // Unlink every slot whose deadline is at or before `now` and pass it to `on_expired(Slot&)`,
  // oldest first within each timeout. Returns the earliest deadline left, if any.
  template <class F>
  std::optional<Clock::time_point> expire(Clock::time_point now, F&& on_expired) {
    std::optional<Clock::time_point> next;
    for (Fifo& f : fifos_) {
      while (f.head != nullptr && f.head->deadline <= now) {
        Slot& s = *f.head;
        unlink(s);
        on_expired(s);
      }
      if (f.head != nullptr && (!next || f.head->deadline < *next)) next = f.head->deadline;
    }
    return next;
  }

  // The earliest deadline linked, if any.
  [[nodiscard]] std::optional<Clock::time_point> earliest() const noexcept {
    std::optional<Clock::time_point> next;
    for (const Fifo& f : fifos_) {
      if (f.head != nullptr && (!next || f.head->deadline < *next)) next = f.head->deadline;
    }
    return next;
  }

  // How many FIFOs exist (one per distinct timeout in use at once, at most).
  [[nodiscard]] std::size_t fifo_count() const noexcept { return fifos_.size(); }

 private:
  struct Fifo {
    Clock::duration timeout{};
    Slot* head = nullptr;
    Slot* tail = nullptr;
  };
  std::vector<Fifo> fifos_;
};

// now + timeout, saturated rather than overflowing for a huge timeout.
[[nodiscard]] inline Clock::time_point deadline_after(Clock::time_point now,
                                                      Clock::duration timeout) noexcept {
  return timeout >= Clock::time_point::max() - now ? Clock::time_point::max() : now + timeout;
}

// A lane's one steady_timer, armed for the earliest deadline of its queue. Each arming has a
// generation, so a wait that completes after the timer was re-armed or disarmed is recognised as
// stale. Guarded by the lane's mutex. The wait itself is started by the engine, whose handler
// keeps it alive.
class DeadlineTimer {
 public:
  // Whether the timer must be (re)armed to fire no later than `at`. Re-arming is rare: deadlines
  // arrive in order, so only a timeout lowered at run time moves the timer earlier.
  [[nodiscard]] bool needs(Clock::time_point at) const noexcept {
    return !armed_ || at < armed_at_;
  }

  // Set the timer to `at` (made on `home` on first use) and return the generation the wait must
  // carry; the caller then starts `timer().async_wait`.
  std::uint64_t set(const net::any_io_executor& home, Clock::time_point at) {
    if (!timer_) timer_.emplace(home);
    armed_ = true;
    armed_at_ = at;
    timer_->expires_at(at);
    return ++gen_;
  }

  // The timer, once set.
  [[nodiscard]] net::steady_timer& timer() noexcept { return *timer_; }

  // Whether a wait armed with generation `gen` is the current one. If so, the timer counts as
  // no longer armed: the wait has fired.
  [[nodiscard]] bool fired(std::uint64_t gen) noexcept {
    if (gen != gen_) return false;
    armed_ = false;
    return true;
  }

  // Forget the current wait (its handler will find itself stale) and cancel it.
  void disarm() {
    if (!armed_) return;
    armed_ = false;
    ++gen_;
    timer_->cancel();
  }

  // Forget the current wait without touching the timer: a link that failed left it unset.
  void forget() noexcept { armed_ = false; }

  // Take the timer out, for destruction outside the lock; the current wait becomes stale.
  std::optional<net::steady_timer> release() noexcept {
    armed_ = false;
    ++gen_;
    return std::exchange(timer_, std::nullopt);
  }

 private:
  std::optional<net::steady_timer> timer_;
  bool armed_ = false;
  Clock::time_point armed_at_{};
  std::uint64_t gen_ = 0;
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_ENGINE_DEADLINE_QUEUE_HPP
