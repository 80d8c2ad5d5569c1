// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_ENGINE_BUDGET_HPP
#define REQUEST_SHADOW_DETAIL_ENGINE_BUDGET_HPP

// The engine, part 5 of 6: the bound of max_in_flight_shadows, shared by lanes. Map of the
// engine: see slot.hpp.
//
// Why: one counter of legs in flight, written by every call on every thread, is one contended
// cache line. Lanes instead take admissions from a shared budget a chunk at a time (one at a time
// below a bound of 256, so the bound is shared exactly; up to 32 above it) and keep what they do
// not use as `credits`. The bound always holds: admissions in use + lanes' credits + budget =
// the bound.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <request_shadow/detail/flavour.hpp>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// The admissions of one engine. A lane's `credits` are guarded by the lane's mutex; the budget
// itself is atomic.
class AdmissionBudget {
 public:
  explicit AdmissionBudget(std::size_t bound) noexcept
      : bound_(std::max<std::size_t>(bound, 1)),
        chunk_(std::clamp<std::size_t>(bound_ / 128, 1, 32)),
        left_(bound_) {}

  AdmissionBudget(const AdmissionBudget&) = delete;
  AdmissionBudget& operator=(const AdmissionBudget&) = delete;

  // The bound: at most this many admissions are in use at once.
  [[nodiscard]] std::size_t bound() const noexcept { return bound_; }

  // How many admissions a lane takes from the budget at a time.
  [[nodiscard]] std::size_t chunk() const noexcept { return chunk_; }

  // Admissions held by no lane.
  [[nodiscard]] std::size_t left() const noexcept { return left_.load(std::memory_order_relaxed); }

  // Take one admission for a lane whose spare admissions are `credits` (under that lane's lock),
  // from them or from the budget. When the budget is empty, `reclaim_others()` is called once to
  // move other lanes' spares back (see give_back) before giving up. False: the bound is reached.
  template <class Reclaim>
  bool admit(std::size_t& credits, Reclaim&& reclaim_others) noexcept {
    if (credits == 0) {
      std::size_t left = left_.load(std::memory_order_relaxed);
      bool reclaimed = false;
      for (;;) {
        if (left == 0) {
          // Lanes keep no spares until the budget refills; take back those free to give them
          // now (once); the others give theirs back as their legs end (see done).
          if (!reclaim_.load(std::memory_order_relaxed))
            reclaim_.store(true, std::memory_order_relaxed);
          if (reclaimed) return false;
          reclaim_others();
          reclaimed = true;
          left = left_.load(std::memory_order_relaxed);
          continue;
        }
        const std::size_t take = std::min(left, chunk_);
        if (left_.compare_exchange_weak(left, left - take, std::memory_order_relaxed)) {
          // Plenty left again: lanes may keep spares once more.
          if (left >= bound_ / 2 && reclaim_.load(std::memory_order_relaxed))
            reclaim_.store(false, std::memory_order_relaxed);
          credits = take;
          break;
        }
      }
    }
    --credits;
    return true;
  }

  // A leg of a lane ended (under the lane's lock): its admission becomes a spare. The lane keeps
  // at most two chunks spare while `keep_spares` (its context is alive); the rest goes back to
  // the budget. Everything goes back when some lane found the budget empty, and always with a
  // chunk of one.
  void done(std::size_t& credits, bool keep_spares) noexcept {
    ++credits;
    const std::size_t keep =
        chunk_ > 1 && keep_spares && !reclaim_.load(std::memory_order_relaxed) ? chunk_ : 0;
    if (credits > 2 * keep) {
      left_.fetch_add(credits - keep, std::memory_order_relaxed);
      credits = keep;
    }
  }

  // Every spare admission of a lane goes back to the budget (under the lane's lock).
  void give_back(std::size_t& credits) noexcept {
    if (credits == 0) return;
    left_.fetch_add(credits, std::memory_order_relaxed);
    credits = 0;
  }

 private:
  const std::size_t bound_;
  const std::size_t chunk_;
  std::atomic<std::size_t> left_;
  // Set when a lane found the budget empty: lanes then keep no spare admissions until it is half
  // full again.
  std::atomic<bool> reclaim_{false};
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_ENGINE_BUDGET_HPP
