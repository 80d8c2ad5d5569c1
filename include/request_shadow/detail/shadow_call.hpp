// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_SHADOW_CALL_HPP
#define REQUEST_SHADOW_DETAIL_SHADOW_CALL_HPP

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <request_shadow/response_record.hpp>
#include <span>
#include <string>
#include <utility>

namespace request_shadow::detail {

// The state one call shares with its shadow leg.
//
// The shadow leg runs as its own coroutine, spawned on the caller's executor, and reports into
// this state through its completion handler, which owns a reference. The caller waits on `wake`,
// which expires at the shadow's deadline and is cancelled early when the shadow reports. The
// caller can therefore stop waiting at the deadline, whatever the shadow does: a parallel_group
// (or `||`) would wait for the shadow to finish, even one that ignores cancellation.
//
// Only the caller's coroutine and the completion handler touch this state, both on the caller's
// executor, which must therefore not run them concurrently (one thread, or a strand).
struct ShadowCall {
  ShadowCall(const asio::any_io_executor& ex, std::chrono::steady_clock::duration timeout)
      : wake(ex, timeout) {}

  asio::steady_timer wake;           // expires at the deadline; cancelled when the shadow reports
  asio::cancellation_signal cancel;  // bound to the shadow coroutine
  std::optional<ResponseRecord> response;
  std::string error;
  bool done = false;       // the shadow reported (response or error is set)
  bool abandoned = false;  // the caller stopped waiting; a late report is dropped

  // Give up on the shadow: drop its late report and ask it to stop.
  void abandon() {
    if (done || abandoned) return;
    abandoned = true;
    cancel.emit(asio::cancellation_type::terminal);
  }

  void report(std::exception_ptr e, ResponseRecord r) {
    if (abandoned) return;
    done = true;
    if (e) {
      error = describe(e);
    } else {
      response.emplace(std::move(r));
    }
    wake.cancel();
  }

  static std::string describe(const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      return ex.what();
    } catch (...) {
      return "unknown exception";
    }
  }
};

// Completion handler of the shadow coroutine.
struct ShadowReport {
  std::shared_ptr<ShadowCall> call;
  void operator()(std::exception_ptr e, ResponseRecord r) const { call->report(e, std::move(r)); }
};

// The shadow leg. It owns everything it touches (the backend, its copy of the input), because an
// abandoned leg outlives its caller.
template <class Shadow>
asio::awaitable<ResponseRecord> run_shadow(std::shared_ptr<Shadow> backend, std::string input) {
  // Yield first, so that the primary is issued before the shadow's synchronous part runs.
  const auto ex = co_await asio::this_coro::executor;
  co_await asio::post(ex, asio::use_awaitable);
  co_return co_await backend->call(std::as_bytes(std::span(input.data(), input.size())));
}

// Start the shadow leg of one call; its deadline starts now.
template <class Shadow>
std::shared_ptr<ShadowCall> start_shadow(const asio::any_io_executor& ex,
                                         const std::shared_ptr<Shadow>& backend,
                                         std::span<const std::byte> input,
                                         std::chrono::steady_clock::duration timeout) {
  auto call = std::make_shared<ShadowCall>(ex, timeout);
  std::string copy(reinterpret_cast<const char*>(input.data()), input.size());
  auto leg = run_shadow(backend, std::move(copy));
  auto handler = asio::bind_cancellation_slot(call->cancel.slot(), ShadowReport{call});
  asio::co_spawn(ex, std::move(leg), std::move(handler));
  return call;
}

}  // namespace request_shadow::detail

#endif  // REQUEST_SHADOW_DETAIL_SHADOW_CALL_HPP
