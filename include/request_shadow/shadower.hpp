// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_SHADOWER_HPP
#define REQUEST_SHADOW_SHADOWER_HPP

#include <asio/awaitable.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/redirect_error.hpp>
#include <asio/system_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <request_shadow/backend.hpp>
#include <request_shadow/config.hpp>
#include <request_shadow/detail/shadow_call.hpp>
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
 * shadow leg runs concurrently, has its own deadline (`ShadowConfig::shadow_timeout`, counted
 * from the start of the call) and can never change what the caller gets: a shadow that throws,
 * returns garbage, hangs or ignores cancellation is reported in the `ShadowOutcome`, never to the
 * caller.
 *
 * A `Shadower` is cheap to copy: copies share the backends, the config, the divergence log and
 * the counters.
 *
 * @par Thread safety
 * A `Shadower` and its copies may be used from any number of coroutines on any number of
 * threads. The shadow leg of a call runs on the executor of the coroutine that awaits `call`, so
 * that executor must not run two handlers of the same call at once: use one thread, or give each
 * calling coroutine a strand (`asio::co_spawn(asio::make_strand(ctx), ...)`). Both backends are
 * called concurrently from every calling coroutine, so they must be thread-safe on those
 * executors.
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
   * out, only the primary is called. Otherwise the shadow leg is started on the caller's
   * executor (it runs once the caller first suspends, so the primary is issued first), the
   * primary is awaited, then the shadow is awaited until it answers or its deadline passes,
   * whichever comes first. A shadow answer is compared with `Divergence::compare`; a divergence
   * is counted and logged.
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
   * Terminal cancellation of the awaiting coroutine is passed to the primary's call and to the
   * shadow leg; the caller is released as soon as the primary returns (or at once, while waiting
   * for the shadow) with `asio::system_error(asio::error::operation_aborted)`, or the primary's
   * own exception. A shadow that ignores cancellation is abandoned and runs to completion on its
   * own; it keeps the backend and its input alive until then.
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

  /// The config this shadower was built with.
  [[nodiscard]] const ShadowConfig& config() const noexcept { return state_->config; }

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
        : primary(std::move(p)), shadow(std::move(s)), config(c) {}
    std::shared_ptr<Primary> primary;
    std::shared_ptr<Shadow> shadow;
    const ShadowConfig config;
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
  static void settle(State& s, std::span<const std::byte> input, detail::ShadowCall& call,
                     ShadowOutcome& out) noexcept {
    using C = detail::Counters;
    if (!call.response) {
      out.shadow_failed = ShadowFailure{ShadowFailureKind::Failed, std::move(call.error)};
      C::bump(s.counters.shadow_failed);
      return;
    }
    try {
      out.shadow = std::move(*call.response);
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
    C::bump(s.counters.shadow_ok);
    C::bump(out.divergence ? s.counters.diverged : s.counters.matched);
  }

  static asio::awaitable<ShadowOutcome> run(std::shared_ptr<State> state,
                                            std::span<const std::byte> input) {
    using C = detail::Counters;
    State& s = *state;
    C::bump(s.counters.calls);
    ShadowOutcome out;

    std::shared_ptr<detail::ShadowCall> call;
    if (s.config.should_shadow(input)) {
      const auto ex = co_await asio::this_coro::executor;
      try {
        call = detail::start_shadow(ex, s.shadow, input, s.config.shadow_timeout());
        C::bump(s.counters.sampled);
      } catch (const std::exception& e) {
        // Could not even start the shadow (out of memory): the primary goes on alone.
        C::bump(s.counters.sampled);
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
      if (call) {
        call->abandon();
        C::bump(s.counters.shadow_abandoned);
      }
      std::rethrow_exception(primary_error);
    }
    if (!call) co_return out;

    if (!call->done) {
      std::exception_ptr wait_error;
      try {
        // Completes when the shadow reports (the timer is cancelled) or at the deadline.
        std::error_code ec;
        co_await call->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      } catch (...) {
        // Thrown at once when the caller was cancelled before we got here.
        wait_error = std::current_exception();
      }
      if (!call->done) {
        const auto cancel_state = co_await asio::this_coro::cancellation_state;
        const bool cancelled = cancel_state.cancelled() != asio::cancellation_type::none;
        call->abandon();
        if (wait_error || cancelled) {
          C::bump(s.counters.cancelled);
          C::bump(s.counters.shadow_abandoned);
          if (wait_error) std::rethrow_exception(wait_error);
          throw asio::system_error(asio::error::operation_aborted);
        }
        C::bump(s.counters.shadow_timed_out);
        out.shadow_failed =
            ShadowFailure{ShadowFailureKind::TimedOut, timeout_message(s.config.shadow_timeout())};
        co_return out;
      }
    }
    settle(s, input, *call, out);
    co_return out;
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
