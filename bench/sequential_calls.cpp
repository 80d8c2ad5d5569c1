// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Makes N sequential calls on one thread, for counting system calls with strace:
//
//   strace -c -f -e trace=timerfd_settime,epoll_wait ./sequential_calls shadower 20000
//   strace -c -f -e trace=timerfd_settime,epoll_wait ./sequential_calls per-call-timer 20000
//
// `shadower` goes through Shadower::call; `per-call-timer` is the baseline it replaces: each call
// arms its own steady_timer for the shadow deadline and cancels it when the shadow answers. Both
// use a shadow that suspends once (a scheduler turn), so every caller really waits for it.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <request_shadow/asio.hpp>
#include <request_shadow/shadower.hpp>
#include <string>
#include <string_view>

namespace rs = request_shadow;
namespace net = request_shadow::net;
using namespace std::chrono_literals;

namespace {

struct Instant {
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> /*input*/) {
    co_return rs::ResponseRecord::success("ok");
  }
};

// Answers after one scheduler turn.
struct Yielding {
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> /*input*/) {
    const auto ex = co_await net::this_coro::executor;
    co_await net::post(ex, net::use_awaitable);
    co_return rs::ResponseRecord::success("ok");
  }
};

net::awaitable<void> through_shadower(rs::Shadower<Instant, Yielding> sh, long calls) {
  for (long i = 0; i < calls; ++i) (void)co_await sh.call("request");
}

// The per-call design: a timer per call, cancelled by the shadow's completion.
net::awaitable<void> per_call_timer(long calls) {
  const auto ex = co_await net::this_coro::executor;
  Yielding shadow;
  for (long i = 0; i < calls; ++i) {
    net::steady_timer deadline(ex, 2s);
    bool done = false;
    auto leg = [&shadow, &done, &deadline]() -> net::awaitable<void> {
      (void)co_await shadow.call({});
      done = true;
      deadline.cancel();
    };
    net::co_spawn(ex, leg, net::detached);
    if (!done) {
      rs::error_code ec;
      co_await deadline.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "shadower";
  const long calls = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 20000;
  net::io_context ctx(1);
  const auto start = std::chrono::steady_clock::now();
  if (mode == "shadower") {
    rs::Shadower sh(Instant{}, Yielding{});
    net::co_spawn(ctx, through_shadower(sh, calls), net::detached);
    ctx.run();
    std::printf("%ld calls through Shadower::call, %llu matched", calls,
                static_cast<unsigned long long>(sh.stats().matched));
  } else if (mode == "per-call-timer") {
    net::co_spawn(ctx, per_call_timer(calls), net::detached);
    ctx.run();
    std::printf("%ld calls with a timer each", calls);
  } else {
    std::fprintf(stderr, "usage: sequential_calls [shadower|per-call-timer] [calls]\n");
    return 2;
  }
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::printf(", %.1f us per call\n", static_cast<double>(us) / static_cast<double>(calls));
  return 0;
}
