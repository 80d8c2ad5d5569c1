// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_ADAPTIVE_MUTEX_HPP
#define REQUEST_SHADOW_DETAIL_ADAPTIVE_MUTEX_HPP

#include <atomic>
#include <request_shadow/detail/flavour.hpp>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// A mutex for critical sections of a few hundred nanoseconds that several threads may want at
// once (a lane's, when one io_context is run by several threads). A thread that finds it held
// spins for a moment before it sleeps.
//
// Why not std::mutex: glibc's sleeps at once. Two threads running one io_context then took turns
// putting each other to sleep on a lane's mutex: a futex wait and a wake-up for a hold of well
// under a microsecond, which on a VM costs tens of microseconds. Measured under `perf record -e
// sched:sched_switch`, nearly nine in ten of the benchmark's context switches were on that mutex,
// and such a run made a third as many calls as one that avoided the pattern.
//
// The states are those of the classic futex mutex: 0 free, 1 held, 2 held and a thread may be
// asleep on it; only an unlock that finds 2 wakes anyone, so the uncontended path is one
// compare-exchange to lock and one exchange to unlock, as with std::mutex. The sleep is
// std::atomic::wait (a futex on Linux). Lockable: use it with std::lock_guard and
// std::unique_lock, try_lock included.
class AdaptiveMutex {
 public:
  AdaptiveMutex() = default;
  AdaptiveMutex(const AdaptiveMutex&) = delete;
  AdaptiveMutex& operator=(const AdaptiveMutex&) = delete;

  void lock() noexcept {
    if (!try_lock()) lock_contended();
  }

  [[nodiscard]] bool try_lock() noexcept {
    int free = 0;
    return state_.compare_exchange_strong(free, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() noexcept {
    if (state_.exchange(0, std::memory_order_release) == 2) state_.notify_one();
  }

 private:
  // Spins before sleeping; none on a machine with one CPU, where the holder cannot run while we
  // spin.
  static int spin_limit() noexcept {
    static const int limit = std::thread::hardware_concurrency() > 1 ? 128 : 0;
    return limit;
  }

  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
  }

  void lock_contended() noexcept {
    for (int i = spin_limit(); i > 0; --i) {
      relax();
      int seen = state_.load(std::memory_order_relaxed);
      if (seen == 0 && state_.compare_exchange_weak(seen, 1, std::memory_order_acquire,
                                                    std::memory_order_relaxed)) {
        return;
      }
    }
    // Held still: mark it as having a sleeper, and sleep until an unlock finds the mark. Whoever
    // takes it from here leaves the mark, so that its unlock wakes the next sleeper, if any.
    while (state_.exchange(2, std::memory_order_acquire) != 0) {
      state_.wait(2, std::memory_order_relaxed);
    }
  }

  std::atomic<int> state_{0};
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_ADAPTIVE_MUTEX_HPP
