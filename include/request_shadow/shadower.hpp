// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_SHADOWER_HPP
#define REQUEST_SHADOW_SHADOWER_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/backend.hpp>
#include <request_shadow/config.hpp>
#include <request_shadow/detail/breaker.hpp>
#include <request_shadow/detail/engine.hpp>
#include <request_shadow/detail/noise.hpp>
#include <request_shadow/detail/rate_limiter.hpp>
#include <request_shadow/divergence.hpp>
#include <request_shadow/log.hpp>
#include <request_shadow/outcome.hpp>
#include <request_shadow/stats.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

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
 * context, or of `ShadowConfig::shadow_executor()` when one is set. Both backends are called
 * concurrently from every calling coroutine and worker, so they must be thread-safe.
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

  /// Also share a secondary backend for noise cancellation: a second instance of the primary's
  /// implementation, called with each sampled request alongside the shadow.
  /**
   * Turns noise cancellation on with `config.noise_cancellation()`, or its defaults when the
   * config does not set it; see `NoiseCancellation`. Throws `std::invalid_argument` if any
   * backend is null. (Without a secondary, `ShadowConfig::noise_cancellation` calls the primary a
   * second time instead.)
   */
  template <Backend Secondary>
  Shadower(std::shared_ptr<Primary> primary, std::shared_ptr<Shadow> shadow,
           std::shared_ptr<Secondary> secondary, ShadowConfig config = ShadowConfig::full_sample())
      : state_(std::make_shared<State>(
            checked(std::move(primary), "primary"), checked(std::move(shadow), "shadow"),
            with_noise(std::move(config)),
            secondary_call(checked(std::move(secondary), "secondary")))) {}

  /// Call both backends with `input`; complete with the primary's response and the comparison.
  /**
   * The request key for sampling and for the log is `input`; the sampling decision is made here,
   * when `call` is invoked. When the sampler leaves the key out, only the primary is called; so
   * too when `ShadowConfig::shadow_if` refuses the request, or the call would exceed
   * `ShadowConfig::max_shadows_per_second`.
   * Otherwise the shadow leg is handed to a worker (it starts once the caller first suspends, so
   * the primary is issued first), the primary is awaited, then the shadow is awaited until it
   * answers or its deadline passes, whichever comes first. A shadow answer is compared with
   * `Divergence::compare`; a divergence is counted and logged.
   *
   * The shadow receives its own copy of `input` (or of `ShadowConfig::shadow_request`'s rewrite
   * of it); the primary gets `input` itself, which must stay valid until the returned awaitable
   * completes.
   *
   * Completion: the `ShadowOutcome`, or the primary's exception rethrown unchanged. The shadow's
   * failures never throw. Only in test mode (`ShadowConfig::raise_on_mismatch`) does a divergence
   * throw, as `MismatchError`.
   *
   * Latency: the primary's latency, or the shadow's if it is longer (with noise cancellation,
   * the secondary's too), but never more than the shadow deadline plus the comparison when the
   * primary is faster than the deadline.
   *
   * @par Cancellation
   * Cancellation of the awaiting coroutine (terminal, partial or total) reaches the primary's
   * call first, as Asio passes it to any awaited operation. Once the primary has returned (at
   * once if it honours the cancellation), the caller is released with
   * `system_error(net::error::operation_aborted)`, or with the primary's own exception,
   * and the shadow leg is abandoned and sent a terminal cancellation. While the caller waits for
   * the shadow, a cancellation releases it at once. A shadow that ignores cancellation runs to
   * completion on its own; it keeps the backend and its input alive until then.
   */
  [[nodiscard]] net::awaitable<ShadowOutcome> call(std::span<const std::byte> input) const {
    std::optional<std::string> key;
    std::uint64_t probe = 0;
    const Decision d = decide(input, key, probe);
    if (d != Decision::Sampled && d != Decision::Probe) return run_primary<false>(state_, input, d);
    return run_sampled<false>(Ticket(state_, probe), input, std::move(key));
  }

  /// Call both backends with text input; see the byte overload.
  [[nodiscard]] net::awaitable<ShadowOutcome> call(std::string_view input) const {
    return call(std::as_bytes(std::span(input.data(), input.size())));
  }

  /// Call both backends, but complete as soon as the primary has answered.
  /**
   * Like `call`, except that the caller gets the primary's response (or its exception) the moment
   * the primary completes. The caller never waits for the shadow; on a thread that runs both
   * legs, though, the candidate's synchronous work (building and sending its request) runs while
   * the primary is in flight, unless `ShadowConfig::start_shadow_after_primary` defers the shadow
   * leg until the primary has answered. The shadow leg, its deadline and the comparison go on in
   * the background; their outcome reaches the counters, the log and the observers (`on_outcome`)
   * when the shadow answers or its deadline passes. The comparison needs the primary's response
   * too, so it is copied once. Test mode (`raise_on_mismatch`) does not apply.
   *
   * Use it for production traffic; use `call` where the caller itself wants the outcome (tests,
   * tools, or when the divergence decides what to do next).
   *
   * @par Cancellation
   * Cancellation of the awaiting coroutine reaches the primary's call, as for `call`; once the
   * primary has returned there is nothing left to wait for. A caller whose primary threw or was
   * cancelled abandons its shadow leg.
   */
  [[nodiscard]] net::awaitable<ResponseRecord> call_detached(
      std::span<const std::byte> input) const {
    std::optional<std::string> key;
    std::uint64_t probe = 0;
    const Decision d = decide(input, key, probe);
    if (d != Decision::Sampled && d != Decision::Probe) return run_primary<true>(state_, input, d);
    if (state_->config.start_shadow_after_primary()) {
      return run_after_primary(Ticket(state_, probe), input, std::move(key));
    }
    return run_sampled<true>(Ticket(state_, probe), input, std::move(key));
  }

  /// Call detached with text input; see the byte overload.
  [[nodiscard]] net::awaitable<ResponseRecord> call_detached(std::string_view input) const {
    return call_detached(std::as_bytes(std::span(input.data(), input.size())));
  }

  /// A copy of the recent divergences, oldest first.
  [[nodiscard]] std::vector<DivergenceEntry> divergences() const { return log()->snapshot(); }

  /// How many calls diverged since construction (not bounded by the log's capacity).
  [[nodiscard]] std::uint64_t divergence_count() const noexcept {
    return state_->counters.total(&detail::CounterShard::diverged);
  }

  /// A snapshot of the counters, with the noise counts and the divergence signatures.
  [[nodiscard]] ShadowStats stats() const {
    ShadowStats s = state_->counters.snapshot();
    if (state_->noise) s.noise = state_->noise->snapshot();
    const auto divergence_log = log();
    s.signatures = divergence_log->signatures();
    s.untracked_signatures = divergence_log->untracked_signatures();
    s.in_flight_shadows = state_->engine->in_flight();
    s.sample_rate_ppm = sample_rate_ppm();
    s.auto_stopped = state_->breaker && state_->breaker->stopped();
    return s;
  }

  /// Shadow legs running now, abandoned ones included.
  [[nodiscard]] std::size_t in_flight_shadows() const noexcept {
    return state_->engine->in_flight();
  }

  /// The config this shadower was built with (see `shadow_timeout()` for the live deadline).
  [[nodiscard]] const ShadowConfig& config() const noexcept { return state_->config; }

  /// The sample rate that new calls use, in parts per million.
  [[nodiscard]] std::uint32_t sample_rate_ppm() const noexcept {
    return state_->rate_ppm.load(std::memory_order_relaxed);
  }

  /// Change the sample rate for calls made from now on, in this shadower and its copies.
  /**
   * Lock-free and safe while calls run; clamped to 0..100. Sampling stays sticky: raising the
   * rate keeps every key that was already in, lowering it drops only keys above the new rate.
   */
  void set_sample_rate(int percent) noexcept {
    set_sample_rate_ppm(static_cast<std::uint32_t>(std::clamp(percent, 0, 100)) * ppm_per_percent);
  }

  /// Change the sample rate in parts per million (clamped to 1,000,000); see `set_sample_rate`.
  void set_sample_rate_ppm(std::uint32_t ppm) noexcept {
    state_->rate_ppm.store(std::min(ppm, full_rate_ppm), std::memory_order_relaxed);
  }

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

  /// Receives the outcome of every sampled call once its shadow has settled.
  using Observer = std::function<void(const ShadowOutcome&)>;

  /// Register an observer, for this shadower and its copies.
  /**
   * Called once per sampled call whose primary answered, inline or detached, shadowed, stopped
   * by `auto_stop` or over `max_shadows_per_second`, after the outcome is counted and logged, so
   * `ShadowOutcome::primary` is always the primary's real response: in the caller's coroutine for
   * `call` and for a stopped call, otherwise for `call_detached` on the worker's strand, in the
   * deadline timer's handler, or in a handler posted to the caller's execution context. Not called
   * for a call whose primary threw, that was cancelled, or that was dropped with its `io_context`.
   * Observers run concurrently from several threads, must be quick, and an exception they throw is
   * swallowed. Registration is thread-safe.
   */
  Shadower& on_outcome(Observer observer) {
    std::lock_guard lock(state_->log_mutex);
    auto next = std::make_shared<std::vector<Observer>>(
        state_->observers ? *state_->observers : std::vector<Observer>{});
    next->push_back(std::move(observer));
    state_->observers = std::move(next);
    state_->any_observers.store(true, std::memory_order_release);
    return *this;
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
  struct State final : detail::Settler {
    State(std::shared_ptr<Primary> p, std::shared_ptr<Shadow> s, ShadowConfig c,
          detail::SecondaryCall secondary = {})
        : primary(std::move(p)),
          config(std::move(c)),
          engine(std::make_shared<detail::Engine<Shadow>>(
              std::move(s), config.max_in_flight_shadows(), config.latency_histograms(),
              config.noise_cancellation() && !secondary ? secondary_call(primary)
                                                        : std::move(secondary),
              config.shadow_executor())),
          timeout(config.shadow_timeout().count()),
          rate_ppm(config.sample_rate_ppm()),
          breaker(config.auto_stop() ? std::make_unique<detail::Breaker>(*config.auto_stop())
                                     : nullptr),
          noise(config.noise_cancellation()
                    ? std::make_unique<detail::NoiseTracker>(*config.noise_cancellation(), config)
                    : nullptr) {}
    std::shared_ptr<Primary> primary;
    const ShadowConfig config;
    std::shared_ptr<detail::EngineBase> engine;
    std::atomic<std::chrono::steady_clock::rep> timeout;
    std::atomic<std::uint32_t> rate_ppm;
    std::unique_ptr<detail::Breaker> breaker;     // auto_stop, when configured
    std::unique_ptr<detail::NoiseTracker> noise;  // noise_cancellation, when configured

    // The bucket of max_shadows_per_second, when configured.
    std::unique_ptr<detail::RateLimiter> limiter =
        config.max_shadows_per_second()
            ? std::make_unique<detail::RateLimiter>(config.max_shadows_per_second()->per_second,
                                                    config.max_shadows_per_second()->burst)
            : nullptr;

    detail::Counters counters;
    mutable std::mutex log_mutex;  // guards `log` and `observers`
    std::shared_ptr<DivergenceLog> log = std::make_shared<DivergenceLog>();
    std::shared_ptr<const std::vector<Observer>> observers;
    std::atomic<bool> any_observers{false};  // spares calls the lock while there are none

    // A detached call's shadow settled: finish it as an inline call would have.
    void settle(detail::Slot& slot, detail::LegResult& result) noexcept override {
      const auto key = slot.key ? std::as_bytes(std::span(slot.key->data(), slot.key->size()))
                                : std::as_bytes(std::span(slot.input.data(), slot.input.size()));
      (void)settle_outcome(*this, key, slot.outcome, result, false, nullptr, slot.probe);
    }

    // A detached call dropped with its execution context: still counted, once.
    void dropped(std::uint64_t probe) noexcept override { abandoned(*this, probe); }
  };

  // A sampled call that ended without a fate: count it as abandoned, release its probe.
  static void abandoned(State& s, std::uint64_t probe) noexcept {
    detail::Counters::bump(s.counters.local().shadow_abandoned);
    if (probe != 0) judge(s, detail::Breaker::Result::Unknown, probe);
  }

  // A sampled call's promise to be counted once, and to release its auto-stop probe, however it
  // ends: moved into the call's coroutine frame, it counts the call as abandoned if the frame is
  // destroyed before the call's fate is recorded (its io_context destroyed with the call
  // pending). A frame destroyed before it ever ran (the awaitable dropped unawaited) only
  // releases the probe: that call never started, and is not counted.
  class Ticket {
   public:
    Ticket(std::shared_ptr<State> state, std::uint64_t probe) noexcept
        : state_(std::move(state)), probe_(probe) {}
    Ticket(Ticket&& other) noexcept
        : state_(std::move(other.state_)),
          probe_(other.probe_),
          open_(std::exchange(other.open_, false)),
          started_(other.started_) {}
    Ticket& operator=(Ticket&&) = delete;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() {
      if (!open_) return;
      if (started_) {
        abandoned(*state_, probe_);
      } else if (probe_ != 0) {
        judge(*state_, detail::Breaker::Result::Unknown, probe_);
      }
    }

    [[nodiscard]] State& state() const noexcept { return *state_; }
    [[nodiscard]] const std::shared_ptr<State>& shared() const noexcept { return state_; }
    // The auto-stop probe ticket, or 0.
    [[nodiscard]] std::uint64_t probe() const noexcept { return probe_; }

    // The call starts: count it.
    void start() noexcept {
      started_ = true;
      detail::Counters::bump(state_->counters.local().started);
    }

    // The call's fate is recorded (and its probe reported), or handed over to the engine.
    void close() noexcept { open_ = false; }

   private:
    std::shared_ptr<State> state_;
    std::uint64_t probe_;
    bool open_ = true;
    bool started_ = false;
  };

  template <class T>
  static std::shared_ptr<T> checked(std::shared_ptr<T> p, const char* which) {
    if (!p) {
      throw std::invalid_argument(std::string("request_shadow::Shadower: null ") + which +
                                  " backend");
    }
    return p;
  }

  static ShadowConfig with_noise(ShadowConfig config) {
    if (!config.noise_cancellation()) config.noise_cancellation(NoiseCancellation{});
    return config;
  }

  // Call `backend` as the secondary; it stays alive as long as the engine does.
  template <class B>
  static detail::SecondaryCall secondary_call(std::shared_ptr<B> backend) {
    return [backend = std::move(backend)](std::span<const std::byte> input) {
      return backend->call(input);
    };
  }

  static std::string timeout_message(std::chrono::steady_clock::duration timeout) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
    return "shadow timed out after " + std::to_string(us / 1000) + "." +
           std::to_string(us % 1000 / 100) + " ms";
  }

  // The coroutines are kept small: a frame must stay under the 1020 bytes that Asio's per-thread
  // frame cache recycles, or every call pays a heap allocation. So the sampled path keeps its
  // outcome in its pooled slot, and the work between suspension points is done by the plain
  // functions below.

  // Start the shadow leg. If even that fails (out of memory), the lease holds no slot and its
  // outcome already says why; the primary goes on alone.
  static detail::Lease begin_shadow(State& s, const net::any_io_executor& ex,
                                    std::span<const std::byte> input) noexcept {
    return begin_shadow(s, ex, input, current_timeout(s));
  }

  // The shadow deadline a call starting now gets (`set_shadow_timeout` changes it for later calls).
  static std::chrono::steady_clock::duration current_timeout(const State& s) noexcept {
    return std::chrono::steady_clock::duration(s.timeout.load(std::memory_order_relaxed));
  }

  static detail::Lease begin_shadow(State& s, const net::any_io_executor& ex,
                                    std::span<const std::byte> input,
                                    std::chrono::steady_clock::duration timeout) noexcept {
    try {
      if (s.config.shadow_request()) return begin_rewritten(s, ex, input, timeout);
      return detail::start_shadow(s.engine, ex, input, timeout);
    } catch (const std::exception& e) {
      detail::Counters::bump(s.counters.local().shadow_failed);
      try {
        auto spare = std::make_unique<ShadowOutcome>();
        spare->shadow_failed =
            failure(ShadowFailureKind::Failed, "could not start shadow: ", e.what());
        return detail::Lease(std::move(spare));
      } catch (...) {
        std::terminate();  // not even a few hundred bytes left
      }
    }
  }

  // Start the shadow leg with the rewritten request (`shadow_request`). The rewrite lives here only
  // until the engine has copied it into the leg's own buffer.
  static detail::Lease begin_rewritten(State& s, const net::any_io_executor& ex,
                                       std::span<const std::byte> input,
                                       std::chrono::steady_clock::duration timeout) {
    std::string rewritten;
    try {
      rewritten = s.config.shadow_request()(
          std::string_view(reinterpret_cast<const char*>(input.data()), input.size()));
    } catch (...) {
      auto spare = std::make_unique<ShadowOutcome>();
      spare->shadow_failed =
          failure(ShadowFailureKind::Failed,
                  "shadow_request threw: ", detail::what_of(std::current_exception()));
      detail::Counters::bump(s.counters.local().rule_errors);
      detail::Counters::bump(s.counters.local().shadow_failed);
      return detail::Lease(std::move(spare));
    }
    return detail::start_shadow(
        s.engine, ex, std::as_bytes(std::span(rewritten.data(), rewritten.size())), timeout);
  }

  // The primary threw: count it and abandon the shadow leg.
  static void primary_failed(State& s, detail::Lease* lease, bool cancelled) noexcept {
    using C = detail::Counters;
    C::bump(cancelled ? s.counters.local().cancelled : s.counters.local().primary_failed);
    if (lease != nullptr) {
      if (lease->probe() != 0) judge(s, detail::Breaker::Result::Unknown, lease->probe());
      lease->reset();  // abandons the shadow and cancels it
      C::bump(s.counters.local().shadow_abandoned);
    }
  }

  // Take what the shadow produced, compare and record it into the lease's outcome. Returns false
  // when the caller was cancelled before the shadow settled (the leg is abandoned). Never throws.
  static bool end_shadow(State& s, std::span<const std::byte> key, detail::Lease& lease,
                         bool cancelled, const std::exception_ptr& wait_error) noexcept {
    using C = detail::Counters;
    using detail::Slot;
    ShadowOutcome& out = lease.outcome();
    if (!lease) {  // never submitted; the outcome says why
      notify(s, out);
      return true;
    }
    detail::EngineBase::Result result;
    try {
      result = lease.collect();
    } catch (const std::exception& e) {
      C::bump(s.counters.local().shadow_failed);
      out.shadow_failed =
          failure(ShadowFailureKind::Failed, "could not collect the shadow: ", e.what());
      notify(s, out);
      return true;
    }
    return settle_outcome(s, key, out, result, cancelled, wait_error, lease.probe());
  }

  // Fill `out` from what the shadow produced, count it, log a divergence and tell the observers.
  // Returns false when the caller was cancelled before the shadow settled. Never throws.
  static bool settle_outcome(State& s, std::span<const std::byte> key, ShadowOutcome& out,
                             detail::LegResult& result, bool cancelled,
                             const std::exception_ptr& wait_error, std::uint64_t probe) noexcept {
    const bool known = record(s, key, out, result, cancelled, wait_error);
    if (known) notify(s, out);
    if (s.breaker) {
      using B = detail::Breaker;
      B::Result verdict = B::Result::Unknown;
      if (known && out.shadow) {
        verdict = B::Result::Success;
      } else if (known && out.shadow_failed &&
                 // A leg that expired in the queue says nothing of the candidate.
                 ((out.shadow_failed->kind == ShadowFailureKind::TimedOut &&
                   !result.expired_in_queue) ||
                  out.shadow_failed->kind == ShadowFailureKind::Failed)) {
        verdict = B::Result::Failure;
      }
      judge(s, verdict, probe);
    }
    return known;
  }

  // Tell the auto-stop breaker how a leg went (`probe`: the probe's ticket, or 0).
  static void judge(State& s, detail::Breaker::Result verdict, std::uint64_t probe) noexcept {
    if (s.breaker && s.breaker->record(verdict, probe))
      detail::Counters::bump(s.counters.local().auto_stops);
  }

  static void notify(State& s, const ShadowOutcome& out) noexcept {
    if (!s.any_observers.load(std::memory_order_acquire)) return;
    std::shared_ptr<const std::vector<Observer>> observers;
    {
      std::lock_guard lock(s.log_mutex);
      observers = s.observers;
    }
    if (!observers) return;
    for (const auto& observer : *observers) {
      try {
        observer(out);
      } catch (...) {  // NOLINT(bugprone-empty-catch): an observer never costs the caller
      }
    }
  }

  static bool record(State& s, std::span<const std::byte> key, ShadowOutcome& out,
                     detail::LegResult& result, bool cancelled,
                     const std::exception_ptr& wait_error) noexcept {
    using C = detail::Counters;
    using detail::Slot;
    if (result.state == Slot::State::Shed) {
      C::bump(s.counters.local().shed);
      out.shadow_failed =
          failure(ShadowFailureKind::Shed, std::to_string(s.config.max_in_flight_shadows()),
                  " shadow legs were already in flight: shed");
      return true;
    }
    if (result.state == Slot::State::TimedOut && result.expired_in_queue) {
      C::bump(s.counters.local().expired_in_queue);
      out.shadow_failed = failure(ShadowFailureKind::TimedOut, timeout_message(result.timeout),
                                  " while queued for a worker: the candidate never saw it");
      return true;
    }
    if (result.state == Slot::State::TimedOut) {
      C::bump(s.counters.local().shadow_timed_out);
      out.shadow_failed = failure(ShadowFailureKind::TimedOut, timeout_message(result.timeout), "");
      return true;
    }
    if (result.state != Slot::State::Done) {
      // Released without an answer or a deadline: the caller was cancelled, or the wait itself
      // failed (out of memory), in which case the caller still gets the primary.
      if (cancelled) {
        C::bump(s.counters.local().cancelled);
        C::bump(s.counters.local().shadow_abandoned);
        return false;
      }
      C::bump(s.counters.local().shadow_failed);
      out.shadow_failed =
          failure(ShadowFailureKind::Failed, "could not wait for the shadow: ",
                  wait_error ? detail::what_of(wait_error) : std::string("woken early"));
      return true;
    }
    if (result.failed || !result.response) {
      C::bump(s.counters.local().shadow_failed);
      out.shadow_failed = ShadowFailure{ShadowFailureKind::Failed, std::move(result.error)};
      return true;
    }
    try {
      out.shadow = std::move(*result.response);
      compare(s, out, result.secondary);
      if (out.divergence) {
        std::shared_ptr<DivergenceLog> log;
        {
          std::lock_guard lock(s.log_mutex);
          log = s.log;
        }
        log->push(key, *out.divergence);
      }
    } catch (const std::exception& e) {
      out.shadow.reset();
      out.divergence.reset();
      out.noise.reset();
      C::bump(s.counters.local().shadow_failed);
      out.shadow_failed = failure(ShadowFailureKind::Failed, "comparison failed: ", e.what());
      return true;
    }
    C::bump(out.divergence ? s.counters.local().diverged : s.counters.local().matched);
    if (s.config.latency_histograms()) {
      s.counters.local().shadow_latency.record(
          std::chrono::duration_cast<std::chrono::nanoseconds>(result.elapsed));
    }
    if (out.divergence) {
      if (out.divergence->status) C::bump(s.counters.local().diverged_status);
      if (out.divergence->headers) C::bump(s.counters.local().diverged_headers);
      if (out.divergence->body) C::bump(s.counters.local().diverged_body);
    }
    return true;
  }

  // Compare the primary with the shadow; with noise cancellation, also with the secondary, and
  // take the differences they share out of the divergence.
  static void compare(State& s, ShadowOutcome& out, const ResponseRecord* secondary) {
    if (!s.noise) {
      out.divergence = Divergence::compare(out.primary, *out.shadow, s.config);
      return;
    }
    auto found = s.noise->compare(s.config, out.primary, *out.shadow, secondary);
    if (found.probed) detail::Counters::bump(s.counters.local().noise_probes);
    if (found.noise) detail::Counters::bump(s.counters.local().noise_cancelled);
    out.divergence = std::move(found.divergence);
    out.noise = std::move(found.noise);
  }

  static ShadowFailure failure(ShadowFailureKind kind, std::string_view what,
                               std::string_view detail) noexcept {
    try {
      std::string text(what);
      text += detail;
      return ShadowFailure{kind, std::move(text)};
    } catch (...) {
      return ShadowFailure{kind, {}};
    }
  }

  // What a call does: the primary alone (skipped by the sampler, stopped by `auto_stop`, refused
  // by `shadow_if` or by a `shadow_if` that threw, over the rate cap), or both legs.
  enum class Decision : std::uint8_t {
    Skip,
    Stopped,
    Filtered,
    FilterFailed,
    RateLimited,
    Sampled,
    Probe
  };

  // What this call does; `key` is set to the extracted key when there is an extractor, `probe` to
  // the auto-stop probe's ticket when this call probes.
  Decision decide(std::span<const std::byte> input, std::optional<std::string>& key,
                  std::uint64_t& probe) const {
    if (state_->config.shadow_if()) {
      const Decision allowed = filter(input);
      if (allowed != Decision::Sampled) return allowed;
    }
    if (!sample(input, key)) return Decision::Skip;
    Decision d = Decision::Sampled;
    if (state_->breaker && !state_->breaker->closed()) {
      switch (state_->breaker->admit(shadow_timeout(), probe)) {
        case detail::Breaker::Admit::Yes:
          break;
        case detail::Breaker::Admit::Probe:
          d = Decision::Probe;
          break;
        case detail::Breaker::Admit::No:
          return Decision::Stopped;
      }
    }
    if (state_->limiter && !state_->limiter->try_take(std::chrono::steady_clock::now())) {
      if (d == Decision::Probe) {  // the probe is given up: the next call may probe at once
        judge(*state_, detail::Breaker::Result::Unknown, probe);
        probe = 0;
      }
      return Decision::RateLimited;
    }
    return d;
  }

  // Whether `shadow_if` lets the request through (Sampled), refuses it, or throws.
  Decision filter(std::span<const std::byte> input) const noexcept {
    try {
      return state_->config.shadow_if()(
                 std::string_view(reinterpret_cast<const char*>(input.data()), input.size()))
                 ? Decision::Sampled
                 : Decision::Filtered;
    } catch (...) {
      return Decision::FilterFailed;  // a rule that throws never costs the primary
    }
  }

  // Whether this call is sampled; `key` is set to the extracted key when there is an extractor.
  bool sample(std::span<const std::byte> input, std::optional<std::string>& key) const noexcept {
    const ShadowConfig& config = state_->config;
    const std::uint32_t rate = state_->rate_ppm.load(std::memory_order_relaxed);
    if (rate == 0) return false;
    if (!config.key_extractor()) return config.should_shadow(input, rate);
    try {
      key.emplace(config.key_extractor()(
          std::string_view(reinterpret_cast<const char*>(input.data()), input.size())));
    } catch (...) {
      return false;  // a key extractor that throws never costs the primary
    }
    return config.should_shadow(std::as_bytes(std::span(key->data(), key->size())), rate);
  }

  // What a call completes with: the whole outcome inline, the primary's response detached.
  template <bool Detached>
  using Result = std::conditional_t<Detached, ResponseRecord, ShadowOutcome>;

  // The outcome of a call that reached only the primary. A plain function, so that the outcome
  // is built on the stack: `run_primary`'s frame holds only the response, which keeps the frame
  // small enough for Asio's per-thread frame cache to recycle it (blocks up to 1020 bytes).
  static ShadowOutcome primary_only(ResponseRecord&& primary, Decision why) {
    ShadowOutcome out;
    out.primary = std::move(primary);
    switch (why) {
      case Decision::Stopped:
        out.shadow_failed = ShadowFailure{ShadowFailureKind::Stopped, "auto-stopped"};
        break;
      case Decision::Filtered:
        out.shadow_failed = ShadowFailure{ShadowFailureKind::Filtered, "refused by shadow_if"};
        break;
      case Decision::FilterFailed:
        out.shadow_failed = ShadowFailure{ShadowFailureKind::Filtered, "shadow_if threw"};
        break;
      case Decision::RateLimited:
        out.shadow_failed =
            ShadowFailure{ShadowFailureKind::RateLimited, "over max_shadows_per_second"};
        break;
      default:
        out.skipped_by_sampler = true;
        break;
    }
    return out;
  }

  // Whether a call that reached only the primary is a sampled one, which observers see.
  static constexpr bool observed(Decision why) noexcept {
    return why == Decision::Stopped || why == Decision::RateLimited;
  }

  // The same, for an inline call; the observers of a sampled call see it, primary included.
  static ShadowOutcome primary_only(State& s, ResponseRecord&& primary, Decision why) {
    ShadowOutcome out = primary_only(std::move(primary), why);
    if (observed(why)) notify(s, out);
    return out;
  }

  // Tell the observers of a sampled detached call that reached only the primary, with a copy of
  // its primary's response.
  static void notify_primary_only(State& s, const ResponseRecord& primary, Decision why) noexcept {
    if (!s.any_observers.load(std::memory_order_acquire)) return;
    try {
      notify(s, primary_only(ResponseRecord(primary), why));
    } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory; the caller gets its primary
    }
  }

  // Count a call that reaches only the primary, when it starts.
  static void count_primary_only(State& s, Decision why) noexcept {
    detail::CounterShard& c = s.counters.local();
    switch (why) {
      case Decision::Stopped:
        detail::Counters::bump(c.stopped);
        break;
      case Decision::FilterFailed:
        detail::Counters::bump(c.rule_errors);
        [[fallthrough]];
      case Decision::Filtered:
        detail::Counters::bump(c.filtered);
        break;
      case Decision::RateLimited:
        detail::Counters::bump(c.rate_limited);
        break;
      default:
        detail::Counters::bump(c.skipped_by_sampler);
        break;
    }
  }

  // The primary alone, for the reason `why`. The call is counted when it starts; the observers of
  // a sampled one (stopped, rate-limited) are told once its primary has answered.
  template <bool Detached>
  static net::awaitable<Result<Detached>> run_primary(std::shared_ptr<State> state,
                                                      std::span<const std::byte> input,
                                                      Decision why) {
    State& s = *state;
    count_primary_only(s, why);
    ResponseRecord primary;
    std::exception_ptr error;
    try {
      primary = co_await s.primary->call(input);
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      const auto cs = co_await net::this_coro::cancellation_state;
      primary_failed(s, nullptr, cs.cancelled() != net::cancellation_type::none);
      std::rethrow_exception(error);
    }
    if constexpr (Detached) {
      if (observed(why)) notify_primary_only(s, primary, why);
      co_return std::move(primary);
    } else {
      co_return primary_only(s, std::move(primary), why);
    }
  }

  // A sampled call. `key` is the extracted sampling key, if there is an extractor. `call` is
  // closed as soon as the call's fate is recorded, or handed over to the engine.
  template <bool Detached>
  static net::awaitable<Result<Detached>> run_sampled(Ticket call, std::span<const std::byte> input,
                                                      std::optional<std::string> key) {
    State& s = call.state();
    call.start();
    detail::Lease lease;
    {
      const auto ex = co_await net::this_coro::executor;
      lease = begin_shadow(s, ex, input);
    }
    submitted(call, lease);
    ShadowOutcome& out = lease.outcome();

    const bool timed = s.config.latency_histograms();
    const auto primary_started =
        timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    std::exception_ptr error;
    try {
      out.primary = co_await s.primary->call(input);
    } catch (...) {
      error = std::current_exception();
    }
    if (timed && !error) record_primary_latency(s, primary_started);
    // Read once: nothing below replaces the coroutine's cancellation state (the primary, which
    // could, has returned), and each `co_await` costs the frame room for its temporaries, which
    // must stay under Asio's limit for recycled frames (see "Small frames" in README.md).
    const net::cancellation_state cs = co_await net::this_coro::cancellation_state;
    if (error) {
      primary_failed(s, lease ? &lease : nullptr, cs.cancelled() != net::cancellation_type::none);
      call.close();
      std::rethrow_exception(error);
    }
    if constexpr (Detached) {
      co_return hand_over(call, lease, std::move(key), input);
    } else {
      bool cancelled = false;
      if (!lease.settled()) {
        // A cancellation that arrived while the primary ran reached only the primary; a primary
        // that ignored it may also have turned off throw-on-cancel. Check before waiting.
        cancelled = cs.cancelled() != net::cancellation_type::none;
        if (!cancelled) {
          try {
            // Completes when the shadow reports, at the deadline, or when the caller is cancelled.
            co_await lease.async_wait(net::use_awaitable);
          } catch (...) {
            error = std::current_exception();
          }
          cancelled = cs.cancelled() != net::cancellation_type::none;
        }
      }
      const auto log_key = key ? std::as_bytes(std::span(key->data(), key->size())) : input;
      const bool known = end_shadow(s, log_key, lease, cancelled, error);
      call.close();
      if (!known) throw system_error(net::error::operation_aborted);
      if (out.divergence && s.config.raise_on_mismatch()) throw MismatchError(std::move(out));
      co_return std::move(out);  // before the lease gives the slot back
    }
  }

  // After `begin_shadow`: a leg not even submitted (counted as failed already) closes the call,
  // and its probe learnt nothing; a submitted one carries the probe.
  static void submitted(Ticket& call, detail::Lease& lease) noexcept {
    if (!lease) {
      if (call.probe() != 0) judge(call.state(), detail::Breaker::Result::Unknown, call.probe());
      call.close();
    } else if (call.probe() != 0) {
      lease.mark_probe(call.probe());
    }
  }

  static void record_primary_latency(State& s,
                                     std::chrono::steady_clock::time_point started) noexcept {
    s.counters.local().primary_latency.record(std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now() - started));
  }

  // A sampled detached call whose shadow leg starts once the primary has answered
  // (`ShadowConfig::start_shadow_after_primary`). `call` is closed as in `run_sampled`.
  static net::awaitable<ResponseRecord> run_after_primary(Ticket call,
                                                          std::span<const std::byte> input,
                                                          std::optional<std::string> key) {
    State& s = call.state();
    call.start();
    // The deadline's length is the one in force when the call started, counted from the start of
    // the shadow leg.
    const auto timeout = current_timeout(s);
    const bool timed = s.config.latency_histograms();
    const auto primary_started =
        timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    ResponseRecord primary;
    std::exception_ptr error;
    try {
      primary = co_await s.primary->call(input);
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      const auto cs = co_await net::this_coro::cancellation_state;
      primary_failed(s, nullptr, cs.cancelled() != net::cancellation_type::none);
      abandoned(s, call.probe());  // its shadow was never started
      call.close();
      std::rethrow_exception(error);
    }
    if (timed) record_primary_latency(s, primary_started);
    const auto ex = co_await net::this_coro::executor;
    detail::Lease lease = begin_shadow(s, ex, input, timeout);
    submitted(call, lease);
    lease.outcome().primary = std::move(primary);
    co_return hand_over(call, lease, std::move(key), input);
  }

  // The caller's copy of the primary; the engine finishes the call with the slot's copy (and
  // counts it, even if it has to drop it).
  // `input` is the original request: the log keeps it when the shadow's copy was rewritten.
  static ResponseRecord hand_over(Ticket& call, detail::Lease& lease,
                                  std::optional<std::string> key,
                                  std::span<const std::byte> input) {
    ResponseRecord primary = lease.outcome().primary;
    if (!lease) {  // never submitted: the outcome says why
      notify(call.state(), lease.outcome());
      return primary;
    }
    if (!key && call.state().config.shadow_request()) {
      try {
        key.emplace(reinterpret_cast<const char*>(input.data()), input.size());
      } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory: the log keys the rewrite
      }
    }
    call.close();
    try {
      lease.detach(call.shared(), std::move(key));
    } catch (...) {  // NOLINT(bugprone-empty-catch): the lease abandons the shadow; primary wins
    }
    return primary;
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

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_SHADOWER_HPP
