// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_ENGINE_PARK_HPP
#define REQUEST_SHADOW_DETAIL_ENGINE_PARK_HPP

// The engine, part 4 of 6: the park operation, how a coroutine waits for something another
// coroutine or a timer will do, without a timer or a channel of its own. Map of the engine: see
// slot.hpp.
//
// A parked coroutine is only its completion handler, kept in a "spot" (a std::optional<Parked>)
// guarded by a mutex. Whoever completes the wait takes the handler out under that mutex and
// resumes it after releasing the mutex. A caller parks on its slot (woken by its worker's report,
// the deadline sweep or its own cancellation); an idle worker parks on itself (woken by a job).

#include <cstdint>
#include <mutex>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/detail/adaptive_mutex.hpp>
#include <type_traits>
#include <utility>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// The completion handler of a coroutine suspended in one of our `void()` operations.
using Parked = net::async_result<net::use_awaitable_t<>, void()>::handler_type;

// The handler in `spot`, if any, leaving the spot empty. Under the spot's mutex.
[[nodiscard]] inline std::optional<Parked> unpark(std::optional<Parked>& spot) noexcept {
  std::optional<Parked> h;
  if (spot) {
    h.emplace(std::move(*spot));
    spot.reset();
  }
  return h;
}

// Move the handler in `spot`, if any, to the empty `out` (a handler cannot be assigned).
inline void unpark_into(std::optional<Parked>& spot, std::optional<Parked>& out) noexcept {
  if (spot) {
    out.emplace(std::move(*spot));
    spot.reset();
  }
}

// Resume a parked coroutine: inline when its executor is an io_context's (or a strand of one)
// that this thread is running already, else as net::dispatch does. Never under a lock.
inline void resume(Parked h) {
  const auto& ex = h.get_executor();
  if (const auto* io = target_as<net::io_context::executor_type>(ex)) {
    if (io->running_in_this_thread()) return std::move(h)();
  } else if (const auto* s = target_as<net::strand<net::io_context::executor_type>>(ex)) {
    if (s->running_in_this_thread()) return std::move(h)();
  }
  net::dispatch(std::move(h));
}

// Cancels a parked coroutine: takes its handler out of the spot and posts it, unless the spot was
// reused since (its generation moved on). Lives in the coroutine's cancellation slot, which is
// cleared when the coroutine resumes; whoever owns the spot must keep it alive until then.
class ParkCancel {
 public:
  ParkCancel(AdaptiveMutex* mutex, std::optional<Parked>* spot, const std::uint64_t* gen,
             std::uint64_t expected) noexcept
      : mutex_(mutex), spot_(spot), gen_(gen), expected_(expected) {}

  void operator()(net::cancellation_type type) const {
    if ((type & (net::cancellation_type::terminal | net::cancellation_type::partial |
                 net::cancellation_type::total)) == net::cancellation_type::none) {
      return;
    }
    std::optional<Parked> h;
    {
      const std::lock_guard lock(*mutex_);
      if (*gen_ == expected_) unpark_into(*spot_, h);
    }
    // Posted, not invoked: we are inside the canceller's emit().
    if (h) net::post(std::move(*h));
  }

 private:
  AdaptiveMutex* mutex_;
  std::optional<Parked>* spot_;
  const std::uint64_t* gen_;
  std::uint64_t expected_;
};

// Park the awaiting coroutine in `spot` until someone unparks and resumes it. If `ready()` holds
// (checked under `mutex`) it completes at once, posted. With `gen` not null the wait supports
// per-operation cancellation (terminal, partial or total): the cancel completes it, posted, if
// `*gen` still equals `expected`; with `gen` null a cancellation is ignored.
template <class Token, class Ready>
auto async_park(AdaptiveMutex& mutex, std::optional<Parked>& spot, Ready ready,
                const std::uint64_t* gen, std::uint64_t expected, Token&& token) {
  return net::async_initiate<Token, void()>(
      [&mutex, &spot, ready, gen, expected](auto handler) {
        static_assert(std::is_same_v<decltype(handler), Parked>);
        if (gen != nullptr) {
          auto cancel_slot = net::get_associated_cancellation_slot(handler);
          if (cancel_slot.is_connected()) {
            // Installed before the handler is published: it may be resumed on another thread.
            cancel_slot.template emplace<ParkCancel>(&mutex, &spot, gen, expected);
          }
        }
        std::unique_lock lock(mutex);
        if (ready()) {
          lock.unlock();
          net::post(std::move(handler));
          return;
        }
        spot.emplace(std::move(handler));
      },
      token);
}

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_ENGINE_PARK_HPP
