// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_ADAPTERS_HPP
#define REQUEST_SHADOW_ADAPTERS_HPP

/// @file
/// Adapters that make a `Backend` of a client that is not an Asio coroutine: a blocking function
/// run on a thread pool (`blocking_backend`), or a callback-style client (`callback_backend`).

#include <concepts>
#include <cstddef>
#include <exception>
#include <memory>
#include <request_shadow/asio.hpp>
#include <request_shadow/backend.hpp>
#include <request_shadow/detail/adapter_op.hpp>
#include <request_shadow/detail/blocking_queue.hpp>
#include <request_shadow/response_record.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

namespace detail {

// The completion signature of every adapter's operation.
using AdapterSignature = void(std::exception_ptr, ResponseRecord);

// Whether `f`, called with a request (and `Args`), returns something a `ResponseRecord` is made of.
template <class F, class... Args>
concept TextToRecord = TextInvocable<F, Args...> &&
    std::convertible_to<decltype(invoke_request(std::declval<const F&>(),
                                                std::declval<const std::string&>(),
                                                std::declval<Args>()...)),
                        ResponseRecord>;

// Whether `f` takes a request of another type, as `const Request&` (then `Args`); and whether it
// returns something a `ResponseRecord` is made of.
template <class F, class Request, class... Args>
concept RequestInvocable = OtherRequest<Request> &&
    (std::is_invocable_v<const F&, const std::decay_t<Request>&, Args...>);

template <class F, class Request>
concept RequestToRecord = RequestInvocable<F, Request> &&
    (std::is_invocable_r_v<ResponseRecord, const F&, const std::decay_t<Request>&>);

template <class Executor>
concept AnyExecutor =
    net::execution::is_executor<Executor>::value || net::is_executor<Executor>::value;

// Starts a blocking request: parks the caller and queues the request for a pool thread.
template <class Queue>
struct BlockingStart {
  std::shared_ptr<Queue> queue;

  template <class Handler, class Request>
  void operator()(Handler handler, Request request) const {
    using Op = BlockingOp<Queue, Handler, Request>;
    std::shared_ptr<Op> op(new Op(queue, std::move(handler), std::move(request)));
    op->listen(op);
    if (!AdapterOp::publish(op)) return;  // the caller's context has shut down
    queue->push(op);
  }
};

class CallbackDoneState;
template <class F>
struct CallbackStart;

}  // namespace detail

/// A `Backend` that runs a blocking function on an executor of its own, such as a thread pool's.
/**
 * Made by `blocking_backend(executor, f)`. `f` is a synchronous function from a request to a
 * `ResponseRecord` (an HTTP error is an answer; a transport failure is an exception); it is called
 * through a const reference, concurrently from every thread of the executor, so it must be
 * thread-safe.
 *
 * Each `call` copies the request, queues it and suspends the caller. A thread of the executor
 * calls `f` with the copy, and the caller is resumed with the answer, or with the exception `f`
 * threw, by a post to the caller's own executor (never on the executor's thread): one post there,
 * one on the way back. The request is copied before `call` returns, so the caller's buffer may be
 * gone by the time `f` runs.
 *
 * @par Threads
 * `f` holds one thread of the executor for as long as it runs, never the caller's thread. Calls
 * beyond the free threads wait, in order, in a queue of the adapter's own, which an abandoned
 * request leaves at once: the executor never holds more of the adapter's handlers than requests
 * ever waited at the same time, however many were abandoned.
 *
 * @par Under a Shadower: deadline, abandonment, bound
 * The deadline never slips: when it passes, the `Shadower` abandons the leg and releases its
 * caller, whatever `f` is doing. A request that has not started yet is then taken out of the
 * queue and `f` never sees it. A request already inside `f` keeps its thread until `f` returns
 * (a thread cannot be interrupted), and counts among `ShadowConfig::max_in_flight_shadows()`
 * until then: so that bound is also how many of the executor's threads one `Shadower`'s stuck
 * candidate can hold, and calls beyond it are shed without reaching the executor. When `f`
 * returns, its answer goes to the abandoned leg, which then ends; if the caller's context was
 * destroyed meanwhile, the answer is dropped.
 *
 * The adapter stops counting an abandoned request as work on the caller's execution context.
 * The `Shadower`'s shadow worker, a coroutine started with `co_spawn`, still counts as work until
 * the leg ends (as with any shadow that ignores cancellation), so `io_context::run()` returns only
 * once `f` has returned, or when the context is stopped; destroying the context is safe at any
 * time.
 *
 * @par Per-Operation Cancellation
 * A terminal, partial or total cancellation of the awaiting coroutine ends a request that waits
 * for a thread: it completes with `system_error(net::error::operation_aborted)` and never
 * runs. A request inside `f` is not interrupted: it completes when `f` returns, with `f`'s
 * result.
 *
 * @par Shutdown
 * A caller whose execution context is destroyed while its request waits or runs is destroyed with
 * it (its coroutine frames are freed); `f`'s answer, when it comes, is dropped. A request the
 * executor destroys without running it (the pool was destroyed first) completes with
 * `std::future_error(std::future_errc::broken_promise)`.
 *
 * Cheap to copy: copies share the executor, the function and the queue.
 */
template <class Executor, class F>
class BlockingBackend {
  using Queue = detail::BlockingQueue<Executor, F>;

 public:
  /// The executor that runs `f`.
  using executor_type = Executor;
  /// The function's type.
  using function_type = F;

  /// Run `f` on `executor`; prefer `blocking_backend(executor, f)`.
  BlockingBackend(Executor executor, F f)
      : queue_(std::make_shared<Queue>(std::move(executor), std::move(f))) {}

  /// Run `f` with a copy of these bytes; complete with its answer or its exception.
  /**
   * `f` receives the copy as `std::span<const std::byte>`, `std::string_view` or
   * `const std::string&`, the first it accepts. Completion: the `ResponseRecord` `f` returned, or
   * the exception it threw, rethrown in the awaiting coroutine on the coroutine's own executor.
   * See the class for threads, deadlines, cancellation and shutdown.
   */
  [[nodiscard]] net::awaitable<ResponseRecord> call(
      std::span<const std::byte> request) const requires detail::TextToRecord<F> {
    return start(detail::own_request(request));
  }

  /// Run `f` with a copy of this text; see the byte overload.
  [[nodiscard]] net::awaitable<ResponseRecord> call(
      std::string_view request) const requires detail::TextToRecord<F> {
    return start(std::string(request));
  }

  /// Run `f` with a copy of a request of any other copyable type, as `const Request&`.
  /**
   * For direct use (a `Shadower` passes bytes); otherwise as the byte overload.
   */
  template <class Request>
  requires detail::RequestToRecord<F, Request>
  [[nodiscard]] net::awaitable<ResponseRecord> call(const Request& request) const {
    return start(std::decay_t<Request>(request));
  }

  /// The executor that runs `f`.
  [[nodiscard]] const executor_type& get_executor() const noexcept { return queue_->executor(); }

 private:
  template <class Owned>
  net::awaitable<ResponseRecord> start(Owned request) const {
    return net::async_initiate<const net::use_awaitable_t<>&, detail::AdapterSignature>(
        detail::BlockingStart<Queue>{queue_}, net::use_awaitable, std::move(request));
  }

  std::shared_ptr<Queue> queue_;
};

/// Make a `Backend` that runs the blocking function `f` on `executor` (a thread pool's, say).
/**
 * `f` takes the request (`std::span<const std::byte>`, `std::string_view`, `const std::string&`,
 * or for direct calls any copyable request type) and returns a `ResponseRecord`, or throws. See
 * `BlockingBackend` for what holds a thread and what the deadline does; in short, at most
 * `ShadowConfig::max_in_flight_shadows()` threads of the pool can be stuck in `f` for one
 * `Shadower`, and its deadline is always kept.
 * @code
 * net::thread_pool pool(4);
 * auto v2 = rs::blocking_backend(pool.get_executor(), [](std::string_view request) {
 *   return rs::ResponseRecord::success(legacy_sync_client.get(request));
 * });
 * @endcode
 */
template <class Executor, class F>
requires detail::AnyExecutor<Executor>
[[nodiscard]] BlockingBackend<Executor, std::decay_t<F>> blocking_backend(const Executor& executor,
                                                                          F&& f) {
  return BlockingBackend<Executor, std::decay_t<F>>(executor, std::forward<F>(f));
}

/// Make a `Backend` that runs the blocking function `f` on an execution context's executor (an
/// `net::thread_pool`, say); see the executor overload.
template <class ExecutionContext, class F>
requires std::is_convertible_v<ExecutionContext&, net::execution_context&>
[[nodiscard]] BlockingBackend<typename ExecutionContext::executor_type, std::decay_t<F>>
blocking_backend(ExecutionContext& context, F&& f) {
  return BlockingBackend<typename ExecutionContext::executor_type, std::decay_t<F>>(
      context.get_executor(), std::forward<F>(f));
}

/// The completion callback a `callback_backend` client calls once with its result.
/**
 * Call it once, from any thread, with the `ResponseRecord` (an HTTP error is an answer) or with
 * an `std::exception_ptr` for a failure (a transport error, say), which the awaiting coroutine
 * gets rethrown. The first call wins: later calls, and calls after the leg was abandoned at its
 * deadline or its execution context destroyed, are ignored. Copies share one result, so any copy
 * may be the one called; calling it never blocks on the caller and never runs the caller inline
 * (the caller is resumed by a post to its own executor).
 *
 * When the last copy is destroyed without having been called, the call fails with
 * `std::future_error(std::future_errc::broken_promise)`.
 *
 * A `CallbackDone` holds the adapter's copy of the request (which `f` may still read) and a weak
 * reference to the pending call: keeping one after its call has ended, for ever if need be, keeps
 * no coroutine, handler or execution context alive.
 */
class CallbackDone {
 public:
  /// Complete the call with this answer; ignored if the call has already ended.
  void operator()(ResponseRecord response) const noexcept;

  /// Fail the call with this exception (a null one fails it with `std::invalid_argument`);
  /// ignored if the call has already ended.
  void operator()(std::exception_ptr error) const noexcept;

  /// Whether the call still waits for a result: false once a result was given, the leg abandoned
  /// or cancelled, or the caller's execution context destroyed. A client may skip work for a call
  /// that no longer waits.
  [[nodiscard]] bool waiting() const noexcept;

 private:
  template <class F>
  friend struct detail::CallbackStart;
  explicit CallbackDone(std::shared_ptr<detail::CallbackDoneState> state) noexcept
      : state_(std::move(state)) {}

  std::shared_ptr<detail::CallbackDoneState> state_;
};

namespace detail {

// What the copies of a CallbackDone share: the pending call, weakly. Destroyed uncalled, it
// breaks its promise.
class CallbackDoneState {
 public:
  explicit CallbackDoneState(std::weak_ptr<AdapterOp> op) noexcept : op_(std::move(op)) {}
  CallbackDoneState(const CallbackDoneState&) = delete;
  CallbackDoneState& operator=(const CallbackDoneState&) = delete;
  CallbackDoneState(CallbackDoneState&&) = delete;
  CallbackDoneState& operator=(CallbackDoneState&&) = delete;
  virtual ~CallbackDoneState() { complete(broken_promise_error(), ResponseRecord{}); }

  void complete(std::exception_ptr error, ResponseRecord&& response) const noexcept {
    if (const auto op = op_.lock()) op->complete(std::move(error), std::move(response));
  }

  [[nodiscard]] bool waiting() const noexcept {
    const auto op = op_.lock();
    return op && op->pending();
  }

 private:
  std::weak_ptr<AdapterOp> op_;
};

// The same with the adapter's copy of the request, which `f` was given a view of.
template <class Request>
class CallbackDoneStateFor final : public CallbackDoneState {
 public:
  CallbackDoneStateFor(std::weak_ptr<AdapterOp> op, Request&& request)
      : CallbackDoneState(std::move(op)), request_(std::move(request)) {}
  [[nodiscard]] const Request& request() const noexcept { return request_; }

 private:
  const Request request_;
};

// A caller parked until a callback client calls `done`. Terminal and partial cancellations end
// it at once (the client's later `done` is ignored); a total one is not supported (the request
// may have had effects).
template <class Handler>
class CallbackOp final : public AdapterOp {
 public:
  explicit CallbackOp(Handler&& handler)
      : AdapterOp(adapter_core(net::get_associated_executor(handler)), Phase::Running,
                  net::cancellation_type::terminal | net::cancellation_type::partial,
                  net::cancellation_type::none),
        caller_(std::move(handler)) {}

  void listen(const std::shared_ptr<AdapterOp>& self) { caller_.listen(self); }

 private:
  void resume(std::exception_ptr error, ResponseRecord&& response) override {
    caller_.resume(std::move(error), std::move(response));
  }
  void untrack_locked() noexcept override { caller_.untrack(); }
  void drop_caller() noexcept override { caller_.drop(); }

  ParkedCaller<Handler> caller_;
};

// Starts a callback request: parks the caller, then lets `f` start the request.
template <class F>
struct CallbackStart {
  std::shared_ptr<const F> f;

  template <class Handler, class Request>
  void operator()(Handler handler, Request request) const {
    using Op = CallbackOp<Handler>;
    std::shared_ptr<Op> op(new Op(std::move(handler)));
    op->listen(op);
    if (!AdapterOp::publish(op)) return;  // the caller's context has shut down
    std::shared_ptr<CallbackDoneStateFor<Request>> state;
    try {
      state = std::make_shared<CallbackDoneStateFor<Request>>(op, std::move(request));
    } catch (...) {
      op->complete(std::current_exception(), ResponseRecord{});
      return;
    }
    // Ours, until `f` returns: the request it was given a view of lives as long as a copy does.
    const request_shadow::CallbackDone done(state);
    try {
      invoke_request(*f, state->request(), request_shadow::CallbackDone(done));
    } catch (...) {
      done(std::current_exception());
    }
  }
};

}  // namespace detail

/// A `Backend` made of a callback-style client: `f(request, done)` starts the request, and the
/// client calls `done` with the result, from any thread.
/**
 * Made by `callback_backend(f)`. `f` is called through a const reference on the caller's thread
 * (for a `Shadower`, on the shadow worker's strand), inside `call`'s initiation; it should start
 * the request and return. A `ResponseRecord` or exception given to `done` (see `CallbackDone`)
 * resumes the caller by a post to the caller's own executor, whatever thread `done` is called
 * from; an exception `f` throws before it has called `done` fails the call the same way. While
 * it waits, the call counts as work on the caller's execution context.
 *
 * `f` receives the request as `std::span<const std::byte>`, `std::string_view` or
 * `const std::string&` (the first it accepts), a view of the adapter's own copy that stays valid
 * for as long as a copy of `done` exists, then `done` itself.
 *
 * @par Threads
 * No thread is held: the adapter only waits for `done`.
 *
 * @par Under a Shadower: deadline and abandonment
 * If `done` is not called by the deadline, the leg times out: the `Shadower` abandons it with a
 * terminal cancellation, which completes the call at once. Its handler and the adapter's state
 * are freed then; a `done` called later is ignored, and `done` may be kept for ever. An abandoned
 * leg no longer counts among `max_in_flight_shadows()`, so that bound does not limit how many
 * requests a client that never answers has pending: a client keeps its own bound.
 *
 * @par Per-Operation Cancellation
 * Terminal and partial cancellation: the call completes at once with
 * `system_error(net::error::operation_aborted)`; the client's request is not told (see
 * `CallbackDone::waiting()`). Total cancellation is not supported.
 *
 * @par Shutdown
 * A call pending when its execution context is destroyed is destroyed with it (its coroutine
 * frames are freed), and a later `done` is ignored.
 *
 * Cheap to copy: copies share `f`.
 */
template <class F>
class CallbackBackend {
 public:
  /// The function's type.
  using function_type = F;

  /// Start requests with `f`; prefer `callback_backend(f)`.
  explicit CallbackBackend(F f) : f_(std::make_shared<const F>(std::move(f))) {}

  /// Start the request with a copy of these bytes; complete with what the client gives `done`.
  /**
   * Completion: the `ResponseRecord` given to `done`, or the exception given to it (or thrown by
   * `f`), rethrown in the awaiting coroutine on the coroutine's own executor. See the class for
   * deadlines, cancellation and shutdown.
   */
  [[nodiscard]] net::awaitable<ResponseRecord> call(
      std::span<const std::byte> request) const requires detail::TextInvocable<F, CallbackDone> {
    return start(detail::own_request(request));
  }

  /// Start the request with a copy of this text; see the byte overload.
  [[nodiscard]] net::awaitable<ResponseRecord> call(
      std::string_view request) const requires detail::TextInvocable<F, CallbackDone> {
    return start(std::string(request));
  }

  /// Start the request with a copy of a request of any other copyable type, given to `f` as
  /// `const Request&` (for direct use; a `Shadower` passes bytes); see the byte overload.
  template <class Request>
  requires detail::RequestInvocable<F, Request, CallbackDone>
  [[nodiscard]] net::awaitable<ResponseRecord> call(const Request& request) const {
    return start(std::decay_t<Request>(request));
  }

 private:
  template <class Owned>
  net::awaitable<ResponseRecord> start(Owned request) const {
    return net::async_initiate<const net::use_awaitable_t<>&, detail::AdapterSignature>(
        detail::CallbackStart<F>{f_}, net::use_awaitable, std::move(request));
  }

  std::shared_ptr<const F> f_;
};

/// Make a `Backend` of a callback-style client: `f(request, done)` starts the request and the
/// client calls `done(result)` once, from any thread.
/**
 * `result` is a `ResponseRecord`, or an `std::exception_ptr` for a failure. See
 * `CallbackBackend` and `CallbackDone`: no thread is held, the deadline ends the call and frees
 * its state even if `done` is never called, and a late `done` is ignored.
 * @code
 * auto v2 = rs::callback_backend([client](std::string_view request, rs::CallbackDone done) {
 *   client->get(request, [done](std::error_code ec, std::string body) {
 *     if (ec) return done(std::make_exception_ptr(std::system_error(ec)));
 *     done(rs::ResponseRecord::success(body));
 *   });
 * });
 * @endcode
 */
template <class F>
[[nodiscard]] CallbackBackend<std::decay_t<F>> callback_backend(F&& f) {
  return CallbackBackend<std::decay_t<F>>(std::forward<F>(f));
}

inline void CallbackDone::operator()(ResponseRecord response) const noexcept {
  if (state_) state_->complete(nullptr, std::move(response));
}

inline void CallbackDone::operator()(std::exception_ptr error) const noexcept {
  if (!state_) return;
  if (!error) {
    try {
      error = std::make_exception_ptr(
          std::invalid_argument("request_shadow::CallbackDone: a null exception_ptr"));
    } catch (...) {
      error = std::current_exception();
    }
  }
  state_->complete(std::move(error), ResponseRecord{});
}

inline bool CallbackDone::waiting() const noexcept { return state_ && state_->waiting(); }

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_ADAPTERS_HPP
