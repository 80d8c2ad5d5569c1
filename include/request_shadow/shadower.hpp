// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_SHADOWER_HPP
#define REQUEST_SHADOW_SHADOWER_HPP

#include <algorithm>
#include <asio/awaitable.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/redirect_error.hpp>
#include <asio/system_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <request_shadow/backend.hpp>
#include <request_shadow/config.hpp>
#include <request_shadow/detail/engine.hpp>
#include <request_shadow/divergence.hpp>
#include <request_shadow/log.hpp>
#include <request_shadow/outcome.hpp>
#include <request_shadow/stats.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace request_shadow {

/// Sends each request to a primary and a shadow backend and compares their answers.
/**
 * The caller always gets the primary's response (or the primary's exception, unchanged). The
 * shadow leg runs concurrently, has its own deadline (`shadow_timeout()`, counted from the start
 * of the call) and can never change what the caller gets: a shadow that throws, returns garbage,
 * hangs or ignores cancellation is reported in the `ShadowOutcome`, never to the caller.
 *
 * A `Shadower` is cheap to copy: copies share the backends, the config, the divergence log, the
 * counters and the shadow workers.
 *
 * Shadow legs run on a pool of reusable worker coroutines, at most
 * `ShadowConfig::max_in_flight_shadows()` at a time; the deadlines of one execution context
 * share one queue and one `steady_timer`. In steady state a sampled call allocates nothing and
 * makes no system call. Idle workers are retired, and the timer disarmed, as soon as no call is
 * in flight on their execution context, so `io_context::run()` returns once the last call is
 * done (a shadow that ignores cancellation still runs to its end first).
 *
 * @par Thread safety
 * A `Shadower` and its copies may be used from any number of coroutines on any number of
 * threads, on any executors. Each shadow worker runs on its own strand of the caller's execution
 * context. Both backends are called concurrently from every calling coroutine and worker, so
 * they must be thread-safe.
 */
template <Backend Primary, Backend Shadow>
class Shadower {
 public:
  /// The primary backend type.
  using primary_type = Primary;
  /// The shadow backend type.
  using shadow_type = Shadow;

  /// Share ownership of both backends; throws `std::invalid_argument` if either is null.
  Shadower(std::shared_ptr<Primary> primary, std::shared_ptr<Shadow> shadow,
           ShadowConfig config = ShadowConfig::full_sample())
      : state_(std::make_shared<State>(checked(std::move(primary), "primary"),
                                       checked(std::move(shadow), "shadow"), config)) {}

  /// Take both backends by value.
  Shadower(Primary primary, Shadow shadow, ShadowConfig config = ShadowConfig::full_sample())
      : Shadower(std::make_shared<Primary>(std::move(primary)),
                 std::make_shared<Shadow>(std::move(shadow)), config) {}

  /// Call both backends with `input`; complete with the primary's response and the comparison.
  /**
   * The request key for sampling and for the log is `input`. When the sampler leaves the key
   * out, only the primary is called. Otherwise the shadow leg is handed to a worker (it starts
   * once the caller first suspends, so the primary is issued first), the primary is awaited,
   * then the shadow is awaited until it answers or its deadline passes, whichever comes first.
   * A shadow answer is compared with `Divergence::compare`; a divergence is counted and logged.
   *
   * The shadow receives its own copy of `input`; the primary gets `input` itself, which must stay
   * valid until the returned awaitable completes.
   *
   * Completion: the `ShadowOutcome`, or the primary's exception rethrown unchanged. The shadow's
   * failures never throw.
   *
   * Latency: the primary's latency, or the shadow's if it is longer, but never more than the
   * shadow deadline plus the comparison when the primary is faster than the deadline.
   *
   * @par Cancellation
   * Cancellation of the awaiting coroutine (terminal, partial or total) reaches the primary's
   * call first, as Asio passes it to any awaited operation. Once the primary has returned (at
   * once if it honours the cancellation), the caller is released with
   * `asio::system_error(asio::error::operation_aborted)`, or with the primary's own exception,
   * and the shadow leg is abandoned and sent a terminal cancellation. While the caller waits for
   * the shadow, a cancellation releases it at once. A shadow that ignores cancellation runs to
   * completion on its own; it keeps the backend and its input alive until then.
   */
  [[nodiscard]] asio::awaitable<ShadowOutcome> call(std::span<const std::byte> input) const {
    return run(state_, input);
  }

  /// Call both backends with text input; see the byte overload.
  [[nodiscard]] asio::awaitable<ShadowOutcome> call(std::string_view input) const {
    return run(state_, std::as_bytes(std::span(input.data(), input.size())));
  }

  /// A copy of the recent divergences, oldest first.
  [[nodiscard]] std::vector<DivergenceEntry> divergences() const { return log()->snapshot(); }

  /// How many calls diverged since construction (not bounded by the log's capacity).
  [[nodiscard]] std::uint64_t divergence_count() const noexcept {
    return state_->counters.diverged.load(std::memory_order_relaxed);
  }

  /// A snapshot of the counters.
  [[nodiscard]] ShadowStats stats() const noexcept { return state_->counters.snapshot(); }

  /// Shadow legs running now, abandoned ones included.
  [[nodiscard]] std::size_t in_flight_shadows() const noexcept {
    return state_->engine->in_flight();
  }

  /// The config this shadower was built with (see `shadow_timeout()` for the live deadline).
  [[nodiscard]] const ShadowConfig& config() const noexcept { return state_->config; }

  /// The shadow deadline that new calls use.
  [[nodiscard]] std::chrono::steady_clock::duration shadow_timeout() const noexcept {
    return std::chrono::steady_clock::duration(state_->timeout.load(std::memory_order_relaxed));
  }

  /// Change the shadow deadline for calls started from now on, in this shadower and its copies.
  /**
   * Lock-free and safe while calls run; calls already started keep their own deadline. Negative
   * is 0.
   */
  void set_shadow_timeout(std::chrono::steady_clock::duration timeout) noexcept {
    state_->timeout.store(std::max(timeout, std::chrono::steady_clock::duration::zero()).count(),
                          std::memory_order_relaxed);
  }

  /// Install a new, empty log of this capacity (0 disables logging), for this shadower and its
  /// copies.
  Shadower& with_log(std::size_t capacity) {
    return with_log(std::make_shared<DivergenceLog>(capacity));
  }

  /// Install this log, which may be shared with other shadowers; throws if it is null.
  Shadower& with_log(std::shared_ptr<DivergenceLog> log) {
    if (!log) throw std::invalid_argument("request_shadow::Shadower::with_log: null log");
    std::lock_guard lock(state_->log_mutex);
    state_->log = std::move(log);
    return *this;
  }

  /// The log in use.
  [[nodiscard]] std::shared_ptr<DivergenceLog> log() const {
    std::lock_guard lock(state_->log_mutex);
    return state_->log;
  }

 private:
  struct State {
    State(std::shared_ptr<Primary> p, std::shared_ptr<Shadow> s, ShadowConfig c)
        : primary(std::move(p)),
          config(c),
          engine(std::make_shared<detail::Engine<Shadow>>(std::move(s), c.max_in_flight_shadows())),
          timeout(c.shadow_timeout().count()) {}
    std::shared_ptr<Primary> primary;
    const ShadowConfig config;
    std::shared_ptr<detail::EngineBase> engine;
    std::atomic<std::chrono::steady_clock::rep> timeout;
    detail::Counters counters;
    mutable std::mutex log_mutex;
    std::shared_ptr<DivergenceLog> log = std::make_shared<DivergenceLog>();
  };

  template <class T>
  static std::shared_ptr<T> checked(std::shared_ptr<T> p, const char* which) {
    if (!p) {
      throw std::invalid_argument(std::string("request_shadow::Shadower: null ") + which +
                                  " backend");
    }
    return p;
  }

  static std::string timeout_message(std::chrono::steady_clock::duration timeout) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
    return "shadow timed out after " + std::to_string(us / 1000) + "." +
           std::to_string(us % 1000 / 100) + " ms";
  }

  // Compare and record; never throws, so the caller always gets the primary's response.
  static void settle(State& s, std::span<const std::byte> input, detail::EngineBase::Result& result,
                     ShadowOutcome& out) noexcept {
    using C = detail::Counters;
    if (result.failed || !result.response) {
      out.shadow_failed = ShadowFailure{ShadowFailureKind::Failed, std::move(result.error)};
      C::bump(s.counters.shadow_failed);
      return;
    }
    try {
      out.shadow = std::move(*result.response);
      out.divergence = Divergence::compare(out.primary, *out.shadow, s.config);
      if (out.divergence) {
        std::shared_ptr<DivergenceLog> log;
        {
          std::lock_guard lock(s.log_mutex);
          log = s.log;
        }
        log->push(input, *out.divergence);
      }
    } catch (const std::exception& e) {
      out.shadow.reset();
      out.divergence.reset();
      out.shadow_failed =
          ShadowFailure{ShadowFailureKind::Failed, std::string("comparison failed: ") + e.what()};
      C::bump(s.counters.shadow_failed);
      return;
    }
    C::bump(out.divergence ? s.counters.diverged : s.counters.matched);
  }

  static asio::awaitable<ShadowOutcome> run(std::shared_ptr<State> state,
                                            std::span<const std::byte> input) {
    using C = detail::Counters;
    State& s = *state;
    ShadowOutcome out;

    detail::Lease lease;
    if (s.config.should_shadow(input)) {
      const auto ex = co_await asio::this_coro::executor;
      const std::chrono::steady_clock::duration timeout(s.timeout.load(std::memory_order_relaxed));
      try {
        lease = detail::start_shadow(s.engine, ex, input, timeout,
                                     s.config.start_order() == StartOrder::ShadowFirst);
        if (!lease) {
          C::bump(s.counters.shed);
          out.shadow_failed = ShadowFailure{
              ShadowFailureKind::Shed, "shed: " + std::to_string(s.config.max_in_flight_shadows()) +
                                           " shadow legs already in flight"};
        }
      } catch (const std::exception& e) {
        // Could not even start the shadow (out of memory): the primary goes on alone.
        C::bump(s.counters.shadow_failed);
        out.shadow_failed = ShadowFailure{ShadowFailureKind::Failed,
                                          std::string("could not start shadow: ") + e.what()};
      }
    } else {
      C::bump(s.counters.skipped_by_sampler);
      out.skipped_by_sampler = true;
    }

    std::exception_ptr primary_error;
    try {
      out.primary = co_await s.primary->call(input);
    } catch (...) {
      primary_error = std::current_exception();
    }
    if (primary_error) {
      const auto cancel_state = co_await asio::this_coro::cancellation_state;
      C::bump(cancel_state.cancelled() != asio::cancellation_type::none
                  ? s.counters.cancelled
                  : s.counters.primary_failed);
      if (lease) {
        lease.reset();  // abandons the shadow and cancels it
        C::bump(s.counters.shadow_abandoned);
      }
      std::rethrow_exception(primary_error);
    }
    if (!lease) co_return out;

    std::exception_ptr wait_error;
    if (!lease.settled()) {
      // A cancellation that arrived while the primary ran reached only the primary; a primary
      // that ignored it may also have turned off throw-on-cancel. Check before waiting.
      const auto cancel_state = co_await asio::this_coro::cancellation_state;
      if (cancel_state.cancelled() == asio::cancellation_type::none) {
        try {
          // Completes when the shadow reports, at the deadline, or when the caller is cancelled.
          co_await lease.async_wait(asio::use_awaitable);
        } catch (...) {
          wait_error = std::current_exception();
        }
      }
    }
    auto result = lease.release();
    switch (result.state) {
      case detail::Slot::State::Done:
        settle(s, input, result, out);
        co_return out;
      case detail::Slot::State::TimedOut:
        C::bump(s.counters.shadow_timed_out);
        out.shadow_failed =
            ShadowFailure{ShadowFailureKind::TimedOut, timeout_message(result.timeout)};
        co_return out;
      case detail::Slot::State::Running:
      case detail::Slot::State::Abandoned:
        break;
    }
    // Released without an answer or a deadline: the caller was cancelled, or the wait itself
    // failed (out of memory), in which case the caller still gets the primary.
    const auto cancel_state = co_await asio::this_coro::cancellation_state;
    if (cancel_state.cancelled() == asio::cancellation_type::none) {
      C::bump(s.counters.shadow_failed);
      out.shadow_failed = ShadowFailure{
          ShadowFailureKind::Failed,
          "could not wait for the shadow: " +
              (wait_error ? detail::EngineBase::describe(wait_error) : std::string("woken early"))};
      co_return out;
    }
    C::bump(s.counters.cancelled);
    C::bump(s.counters.shadow_abandoned);
    throw asio::system_error(asio::error::operation_aborted);
  }

  std::shared_ptr<State> state_;
};

/// Deduce the backend types from shared pointers.
template <class Primary, class Shadow>
Shadower(std::shared_ptr<Primary>, std::shared_ptr<Shadow>) -> Shadower<Primary, Shadow>;
/// Deduce the backend types from shared pointers and a config.
template <class Primary, class Shadow>
Shadower(std::shared_ptr<Primary>, std::shared_ptr<Shadow>, ShadowConfig)
    -> Shadower<Primary, Shadow>;

}  // namespace request_shadow

#endif  // REQUEST_SHADOW_SHADOWER_HPP
