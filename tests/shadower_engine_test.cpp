// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// The machinery behind Shadower::call: the shared deadline queue, pooled workers, the bound on
// shadow legs in flight, and shutdown.
#include <request_shadow/shadower.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <request_shadow/asio.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace rs = request_shadow;
using namespace std::chrono_literals;
using rs::ResponseRecord;
using rs::ShadowConfig;
using rs::test::DelayedBackend;
using rs::test::EchoBackend;
using rs::test::Probe;
using Clock = std::chrono::steady_clock;

namespace {

using StubbornShadower = rs::Shadower<EchoBackend, DelayedBackend>;

std::shared_ptr<DelayedBackend> stubborn() {
  return std::make_shared<DelayedBackend>(DelayedBackend{1h, false});
}

struct Finish {
  Clock::duration elapsed{};
  bool timed_out = false;
  bool done = false;
};

// One call; records when it ended and whether the shadow timed out.
net::awaitable<void> timed_call(StubbornShadower sh, std::string key, std::shared_ptr<Finish> f) {
  const auto start = Clock::now();
  const auto out = co_await sh.call(key);
  f->elapsed = Clock::now() - start;
  f->timed_out = out.shadow_failed && out.shadow_failed->timed_out();
  f->done = true;
}

// A completion handler that stops the context once `n` coroutines have ended, leaving the
// abandoned shadows behind.
struct StopAfter {
  net::io_context* ctx;
  std::shared_ptr<int> left;
  void operator()(const std::exception_ptr& e) const {
    EXPECT_FALSE(e);
    if (--*left == 0) ctx->stop();
  }
};

StopAfter stop_after(net::io_context& ctx, int n) { return {&ctx, std::make_shared<int>(n)}; }

}  // namespace

TEST(ShadowerEngine, LoweredTimeoutReleasesTheNewCallerAtItsOwnDeadline) {
  net::io_context ctx;
  StubbornShadower sh(std::make_shared<EchoBackend>(), stubborn(),
                      ShadowConfig::full_sample().shadow_timeout(800ms));
  auto first = std::make_shared<Finish>();
  auto second = std::make_shared<Finish>();
  const auto done = stop_after(ctx, 2);
  net::co_spawn(ctx, timed_call(sh, "a", first), done);
  ctx.poll();  // the first call is parked, the timer armed for 800 ms
  sh.set_shadow_timeout(50ms);
  EXPECT_EQ(sh.shadow_timeout(), 50ms);
  net::co_spawn(ctx, timed_call(sh, "b", second), done);
  ctx.run_for(5s);
  ASSERT_TRUE(first->done && second->done);
  EXPECT_TRUE(first->timed_out);
  EXPECT_TRUE(second->timed_out);
  EXPECT_GE(second->elapsed, 50ms);
  EXPECT_LT(second->elapsed, 600ms) << "the second caller waited for the first one's deadline";
  EXPECT_GE(first->elapsed, 800ms);
}

TEST(ShadowerEngine, RaisedTimeoutDoesNotDelayTheEarlierCaller) {
  net::io_context ctx;
  StubbornShadower sh(std::make_shared<EchoBackend>(), stubborn(),
                      ShadowConfig::full_sample().shadow_timeout(50ms));
  auto first = std::make_shared<Finish>();
  auto second = std::make_shared<Finish>();
  const auto done = stop_after(ctx, 2);
  net::co_spawn(ctx, timed_call(sh, "a", first), done);
  ctx.poll();
  sh.set_shadow_timeout(800ms);
  net::co_spawn(ctx, timed_call(sh, "b", second), done);
  ctx.run_for(5s);
  ASSERT_TRUE(first->done && second->done);
  EXPECT_GE(first->elapsed, 50ms);
  EXPECT_LT(first->elapsed, 600ms) << "the first caller waited for the second one's deadline";
  EXPECT_GE(second->elapsed, 800ms);
}

TEST(ShadowerEngine, ManyAbandonedStubbornShadows) {
  auto shadow = stubborn();
  StubbornShadower sh(std::make_shared<EchoBackend>(), shadow,
                      ShadowConfig::full_sample().shadow_timeout(10ms));
  constexpr int callers = 25;
  constexpr int calls_each = 8;
  std::vector<std::shared_ptr<Finish>> finishes;
  {
    net::io_context ctx;
    const auto done = stop_after(ctx, callers);
    for (int c = 0; c < callers; ++c) {
      net::co_spawn(
          ctx,
          [](StubbornShadower s, int id,
             std::vector<std::shared_ptr<Finish>>* out) -> net::awaitable<void> {
            for (int i = 0; i < calls_each; ++i) {
              auto f = std::make_shared<Finish>();
              out->push_back(f);
              co_await timed_call(s, "k" + std::to_string(id) + "-" + std::to_string(i), f);
            }
          }(sh, c, &finishes),
          done);
    }
    ctx.run_for(20s);
    ASSERT_EQ(finishes.size(), static_cast<std::size_t>(callers * calls_each));
    for (const auto& f : finishes) {
      EXPECT_TRUE(f->done);
      EXPECT_TRUE(f->timed_out);
    }
    // Every leg either reached the stubborn shadow, which still holds it, or (on a loaded
    // machine, with a 10 ms deadline) expired while queued for a worker and never started.
    const int started = shadow->probe->frames.load();
    const auto stats = sh.stats();
    EXPECT_GT(started, 0);
    EXPECT_EQ(sh.in_flight_shadows(), static_cast<std::size_t>(started));
    EXPECT_EQ(stats.shadow_timed_out, static_cast<std::uint64_t>(started));
    EXPECT_EQ(stats.shadow_timed_out + stats.expired_in_queue,
              static_cast<std::uint64_t>(callers * calls_each));
  }
  // Destroying the context destroyed every abandoned leg and nothing else.
  EXPECT_EQ(shadow->probe->frames.load(), 0);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
}

TEST(ShadowerEngine, ShedsShadowsBeyondTheBound) {
  net::io_context ctx;
  auto shadow = stubborn();
  StubbornShadower sh(std::make_shared<EchoBackend>(), shadow,
                      ShadowConfig::full_sample().shadow_timeout(5ms).max_in_flight_shadows(3));
  for (int i = 0; i < 10; ++i) {
    const std::string key = "k" + std::to_string(i);
    const auto out = rs::test::run(
        ctx, [](StubbornShadower s, std::string k) -> net::awaitable<rs::ShadowOutcome> {
          co_return co_await s.call(k);
        }(sh, key));
    EXPECT_EQ(out.primary.body, key);
    ASSERT_TRUE(out.shadow_failed);
    if (i < 3) {
      EXPECT_TRUE(out.shadow_failed->timed_out()) << i;
    } else {
      EXPECT_TRUE(out.shadow_failed->shed()) << i;
    }
    EXPECT_LE(sh.in_flight_shadows(), 3U);
  }
  EXPECT_EQ(shadow->probe->calls.load(), 3);
  const auto stats = sh.stats();
  EXPECT_EQ(stats.shed, 7U);
  EXPECT_EQ(stats.shadow_timed_out, 3U);
  EXPECT_EQ(stats.sampled, 10U);
}

namespace {

// Hangs, ignoring cancellation, on a request that starts with `hang`; echoes any other at once.
struct HangOn {
  std::string hang;
  std::shared_ptr<Probe> probe = std::make_shared<Probe>();
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    const rs::test::FrameGuard frame(probe);
    const std::string key = rs::test::text(input);
    if (key.starts_with(hang)) {
      co_await rs::test::hang_ignoring_cancellation();
    }
    co_return ResponseRecord::success(key);
  }
};

}  // namespace

// Destroying the context with parked callers, abandoned stubborn shadows, armed timers and idle
// workers frees all of it; the shadower then works on a new context.
TEST(ShadowerEngine, ShutdownWithParkedCallersAndIdleWorkers) {
  auto shadow = std::make_shared<HangOn>(HangOn{"h"});
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().shadow_timeout(1h));
  // Same backend, short deadline: its hanging legs are abandoned and keep running.
  rs::Shadower quick(std::make_shared<EchoBackend>(), shadow,
                     ShadowConfig::full_sample().shadow_timeout(10ms));
  auto callers = std::make_shared<Probe>();
  auto run_one = [](rs::Shadower<EchoBackend, HangOn> s, std::string key,
                    std::shared_ptr<Probe> live) -> net::awaitable<void> {
    const rs::test::FrameGuard frame(live);
    (void)co_await s.call(key);
  };
  {
    net::io_context ctx;
    for (int i = 0; i < 5; ++i) {
      net::co_spawn(ctx, run_one(sh, "h" + std::to_string(i), callers), net::detached);
    }
    for (int i = 0; i < 3; ++i) {
      net::co_spawn(ctx, run_one(sh, "n" + std::to_string(i), callers), net::detached);
      net::co_spawn(ctx, run_one(quick, "h-quick" + std::to_string(i), callers), net::detached);
    }
    for (int i = 0;
         i < 2000 && (callers->frames.load() != 5 || quick.stats().shadow_timed_out != 3); ++i) {
      ctx.run_for(1ms);
    }
    EXPECT_EQ(callers->frames.load(), 5);        // the ones on `sh` with hanging shadows are parked
    EXPECT_EQ(shadow->probe->frames.load(), 8);  // 5 waited for, 3 abandoned
    EXPECT_EQ(sh.in_flight_shadows(), 5U);
    EXPECT_EQ(quick.in_flight_shadows(), 3U);
    EXPECT_EQ(quick.stats().shadow_timed_out, 3U);
  }
  EXPECT_EQ(callers->frames.load(), 0);
  EXPECT_EQ(shadow->probe->frames.load(), 0);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
  EXPECT_EQ(quick.in_flight_shadows(), 0U);
  EXPECT_EQ(sh.stats().matched, 3U);

  net::io_context again;
  const auto out = rs::test::run(
      again, [](rs::Shadower<EchoBackend, HangOn> s) -> net::awaitable<rs::ShadowOutcome> {
        co_return co_await s.call("after");
      }(sh));
  ASSERT_TRUE(out.shadow);
  EXPECT_EQ(out.shadow->body, "after");
}

// No idle worker and no stale timer keeps io_context::run() going after the last call.
TEST(ShadowerEngine, RunReturnsOnceTheLastCallIsDone) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{"odd", "!"},
                  ShadowConfig::full_sample().shadow_timeout(1h));
  int completed = 0;
  for (int c = 0; c < 64; ++c) {
    net::co_spawn(
        ctx,
        [](rs::Shadower<EchoBackend, EchoBackend> s, int id) -> net::awaitable<void> {
          for (int i = 0; i < 20; ++i) {
            (void)co_await s.call((id % 2 == 0 ? "even-" : "odd-") + std::to_string(i));
          }
        }(sh, c),
        [&completed](std::exception_ptr e) {
          EXPECT_FALSE(e);
          ++completed;
        });
  }
  const auto start = Clock::now();
  ctx.run_for(30s);
  EXPECT_TRUE(ctx.stopped()) << "run() did not return: something still holds the context";
  EXPECT_LT(Clock::now() - start, 20s);
  EXPECT_EQ(completed, 64);
  EXPECT_EQ(sh.stats().shadow_ok, 64U * 20U);
  EXPECT_EQ(sh.stats().diverged, 32U * 20U);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
}

TEST(ShadowerEngine, RunReturnsAfterATimeoutToo) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, DelayedBackend{1h, true},
                  ShadowConfig::full_sample().shadow_timeout(20ms));
  const auto out = rs::test::run(
      ctx, [](rs::Shadower<EchoBackend, DelayedBackend> s) -> net::awaitable<rs::ShadowOutcome> {
        co_return co_await s.call("x");
      }(sh));
  ASSERT_TRUE(out.shadow_failed && out.shadow_failed->timed_out());
  // The timed-out shadow honours cancellation, so nothing is left once it has unwound.
  ctx.restart();
  const auto start = Clock::now();
  ctx.run_for(30s);
  EXPECT_TRUE(ctx.stopped());
  EXPECT_LT(Clock::now() - start, 20s);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
}

namespace {

// Resident memory of this process, in bytes (0 where /proc is missing).
std::size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0;
  unsigned long resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<std::size_t>(resident) * 4096U : 0U;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool resident_memory_is_meaningful = false;  // the sanitizers keep freed memory
#else
constexpr bool resident_memory_is_meaningful = true;
#endif

net::awaitable<void> hammer(StubbornShadower sh, int calls, int* wrong, std::size_t* max_in_flight,
                            std::size_t* rss_at_10k) {
  for (int i = 0; i < calls; ++i) {
    const std::string key = "k" + std::to_string(i);
    const auto out = co_await sh.call(key);
    if (out.primary.body != key) ++*wrong;
    *max_in_flight = std::max(*max_in_flight, sh.in_flight_shadows());
    if (i == 10'000) *rss_at_10k = resident_bytes();
  }
}

}  // namespace

// A shadow that never completes cannot pile up work: legs in flight stay at the bound, memory
// stays flat, and every caller gets its primary.
TEST(ShadowerEngine, AdmissionControlAgainstAShadowThatNeverCompletes) {
  constexpr std::size_t bound = 16;
  constexpr int calls = 100'000;
  auto shadow = stubborn();
  StubbornShadower sh(std::make_shared<EchoBackend>(), shadow,
                      ShadowConfig::full_sample().shadow_timeout(1ms).max_in_flight_shadows(bound));
  int wrong = 0;
  std::size_t max_in_flight = 0;
  std::size_t rss_at_10k = 0;
  {
    net::io_context ctx;
    net::co_spawn(ctx, hammer(sh, calls, &wrong, &max_in_flight, &rss_at_10k), stop_after(ctx, 1));
    ctx.run();
    const std::size_t rss_at_end = resident_bytes();
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(max_in_flight, bound);
    EXPECT_EQ(sh.in_flight_shadows(), bound);
    const auto stats = sh.stats();
    EXPECT_EQ(stats.calls, static_cast<std::uint64_t>(calls));
    EXPECT_EQ(stats.shadow_timed_out, bound);
    EXPECT_EQ(stats.shed, calls - bound);
    EXPECT_EQ(shadow->probe->calls.load(), static_cast<int>(bound));
    if (resident_memory_is_meaningful && rss_at_10k != 0) {
      EXPECT_LT(rss_at_end, rss_at_10k + 4U * 1024U * 1024U)
          << "memory grew from " << rss_at_10k << " to " << rss_at_end << " bytes";
    }
  }
  EXPECT_EQ(shadow->probe->frames.load(), 0);
}

namespace {

// Records the order in which the legs start.
struct Order {
  std::mutex mutex;
  std::vector<std::string> events;
  void note(std::string e) {
    std::lock_guard lock(mutex);
    events.push_back(std::move(e));
  }
};

struct NotingBackend {
  std::shared_ptr<Order> order;
  std::string name;
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    order->note(name);
    co_return ResponseRecord::success(rs::test::text(input));
  }
};

}  // namespace

// A worker started for the call must not run the shadow before the primary starts.
TEST(ShadowerEngine, PrimaryStartsFirstEvenOnANewWorker) {
  net::io_context ctx;
  auto order = std::make_shared<Order>();
  rs::Shadower sh(NotingBackend{order, "primary"}, NotingBackend{order, "shadow"});
  const auto out = rs::test::run(
      ctx, [](rs::Shadower<NotingBackend, NotingBackend> s) -> net::awaitable<rs::ShadowOutcome> {
        co_return co_await s.call("x");
      }(sh));
  EXPECT_FALSE(out.divergence);
  ASSERT_EQ(order->events.size(), 2U);
  EXPECT_EQ(order->events[0], "primary");
  EXPECT_EQ(order->events[1], "shadow");
}

namespace {

// Shared by a primary that waits for the shadow leg to begin and the shadow that tells it.
struct Rendezvous {
  std::mutex mutex;
  bool shadow_entered = false;
  net::steady_timer* primary_wait = nullptr;  // set while the primary waits
};

// "wait": waits (up to 5 s) until the shadow leg has begun; anything else answers at once.
struct WaitForShadow {
  std::shared_ptr<Rendezvous> r;
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    const std::string key = rs::test::text(input);
    if (key == "wait") {
      const auto ex = co_await net::this_coro::executor;
      net::steady_timer t(ex, 5s);
      {
        std::lock_guard lock(r->mutex);
        if (!r->shadow_entered) r->primary_wait = &t;
      }
      rs::error_code ec;
      co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
      std::lock_guard lock(r->mutex);
      r->primary_wait = nullptr;
    }
    co_return ResponseRecord::success(key);
  }
};

// Answers at once, after telling a waiting primary that it began.
struct TellPrimary {
  std::shared_ptr<Rendezvous> r;
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    {
      std::lock_guard lock(r->mutex);
      r->shadow_entered = true;
      if (r->primary_wait != nullptr) r->primary_wait->cancel();
    }
    co_return ResponseRecord::success(rs::test::text(input));
  }
};

}  // namespace

// The shadow leg runs while the primary waits, also on a worker that has just served the same
// caller's earlier calls (it runs below the caller and takes the job when the caller suspends).
TEST(ShadowerEngine, TheShadowRunsWhileThePrimaryWaits) {
  net::io_context ctx;
  auto r = std::make_shared<Rendezvous>();
  rs::Shadower sh(WaitForShadow{r}, TellPrimary{r});
  const auto elapsed =
      rs::test::run(ctx,
                    [](rs::Shadower<WaitForShadow, TellPrimary> s,
                       std::shared_ptr<Rendezvous> rv) -> net::awaitable<Clock::duration> {
                      for (int i = 0; i < 3; ++i)
                        (void)co_await s.call("quick");  // the worker is warm
                      {
                        std::lock_guard lock(rv->mutex);
                        rv->shadow_entered = false;
                      }
                      const auto start = Clock::now();
                      const auto out = co_await s.call("wait");
                      EXPECT_TRUE(out.shadow);
                      co_return Clock::now() - start;
                    }(sh, r));
  EXPECT_LT(elapsed, 2s);  // 5 s if the shadow began only after the primary
  EXPECT_EQ(sh.stats().matched, 4U);
}

namespace {

// "spin": runs 1 s without suspending, then waits 10 s, honouring cancellation; anything else
// answers at once.
struct SpinThenWait {
  std::shared_ptr<Probe> probe = std::make_shared<Probe>();
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    const std::string key = rs::test::text(input);
    if (key == "spin") {
      ++probe->calls;
      const auto until = Clock::now() + 1s;
      while (Clock::now() < until) {
      }
      const auto ex = co_await net::this_coro::executor;
      net::steady_timer t(ex, 10s);
      try {
        co_await t.async_wait(net::use_awaitable);
      } catch (...) {
        ++probe->cancelled;
        throw;
      }
    }
    co_return ResponseRecord::success(key);
  }
};

}  // namespace

// On an io_context run by two threads, a shadow busy in synchronous work holds one thread; the
// deadline, swept on the other, releases the caller there at once, and its cancel reaches the
// shadow as soon as the shadow suspends. (A design that ran the shadow on its caller's own stack
// held the caller for the whole synchronous part.)
TEST(ShadowerEngine, ADeadlineReleasesTheCallerOfAShadowBusyOnTheOtherThread) {
  net::io_context ctx;
  SpinThenWait shadow;
  auto probe = shadow.probe;
  rs::Shadower sh(EchoBackend{}, shadow, ShadowConfig::full_sample().shadow_timeout(50ms));
  auto work = net::make_work_guard(ctx);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&ctx] { ctx.run(); });
  std::promise<rs::ShadowOutcome> done;
  auto outcome = done.get_future();
  auto call_time = std::make_shared<Clock::duration>();
  net::co_spawn(
      ctx,
      [](rs::Shadower<EchoBackend, SpinThenWait> s,
         std::shared_ptr<Clock::duration> elapsed) -> net::awaitable<rs::ShadowOutcome> {
        for (int i = 0; i < 3; ++i) (void)co_await s.call("quick");  // the worker is warm
        const auto start = Clock::now();
        auto out = co_await s.call("spin");
        *elapsed = Clock::now() - start;
        co_return out;
      }(sh, call_time),
      [&done](const std::exception_ptr& e, rs::ShadowOutcome o) {
        if (e) {
          done.set_exception(e);
        } else {
          done.set_value(std::move(o));
        }
      });
  const auto stop = [&] {
    work.reset();
    ctx.stop();
    for (auto& t : threads) t.join();
  };
  if (outcome.wait_for(5s) != std::future_status::ready) {
    stop();
    FAIL() << "the call did not end";
  }
  rs::ShadowOutcome out;
  try {
    out = outcome.get();
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  EXPECT_TRUE(out.shadow_failed && out.shadow_failed->timed_out());
  EXPECT_LT(*call_time, 700ms);  // the deadline is 50 ms; the shadow's synchronous part 1 s
  const auto deadline = Clock::now() + 5s;
  while (sh.in_flight_shadows() != 0 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);  // 10 s if the cancel was lost
  EXPECT_EQ(probe->calls.load(), 1);
  EXPECT_EQ(probe->cancelled.load(), 1);
  stop();
}

namespace {

// "off": turns throw-on-cancel off and answers. "wait": waits an hour, honouring cancellation,
// then (if it got past that) waits two more seconds.
struct CancelStateShadow {
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    const std::string key = rs::test::text(input);
    if (key == "off") {
      co_await net::this_coro::throw_if_cancelled(false);
      co_return ResponseRecord::success(key);
    }
    const auto ex = co_await net::this_coro::executor;
    net::steady_timer t(ex, 1h);
    try {
      co_await t.async_wait(net::use_awaitable);
    } catch (...) {  // NOLINT(bugprone-empty-catch): a sloppy backend carries on
    }
    net::steady_timer more(ex, 2s);
    co_await more.async_wait(net::use_awaitable);  // throws at once if throw-on-cancel is on
    co_return ResponseRecord::success(key);
  }
};

}  // namespace

// One job's coroutine settings do not leak into the next job on the same worker.
TEST(ShadowerEngine, EachJobStartsWithThrowOnCancel) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, CancelStateShadow{},
                  ShadowConfig::full_sample().shadow_timeout(20ms));
  // Both calls in one coroutine, so that the same worker runs both jobs.
  const auto both =
      rs::test::run(ctx, [](rs::Shadower<EchoBackend, CancelStateShadow> s) -> net::awaitable<int> {
        const auto first = co_await s.call("off");
        const auto second = co_await s.call("wait");
        co_return (first.shadow ? 1 : 0) + (second.shadow_failed ? 2 : 0);
      }(sh));
  EXPECT_EQ(both, 3);
  const auto start = Clock::now();
  ctx.restart();
  ctx.run();  // the cancelled job must unwind at once, not after its 2 s wait
  EXPECT_LT(Clock::now() - start, 1500ms);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
}

TEST(ShadowerEngine, HugeTimeoutDoesNotOverflow) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, DelayedBackend{5ms, true, ResponseRecord::success("x")},
                  ShadowConfig::full_sample().shadow_timeout(Clock::duration::max()));
  const auto out = rs::test::run(
      ctx, [](rs::Shadower<EchoBackend, DelayedBackend> s) -> net::awaitable<rs::ShadowOutcome> {
        co_return co_await s.call("x");
      }(sh));
  ASSERT_TRUE(out.shadow) << (out.shadow_failed ? out.shadow_failed->message : "");
  EXPECT_FALSE(out.divergence);
}

// A detached call whose shadow settled first, left unfinished when its context is destroyed,
// keeps nothing alive.
TEST(ShadowerEngine, DetachedCallDroppedAtShutdownKeepsNothingAlive) {
  auto shadow = std::make_shared<EchoBackend>();
  std::weak_ptr<EchoBackend> watch = shadow;
  {
    rs::Shadower sh(std::make_shared<DelayedBackend>(DelayedBackend{5ms, true}), shadow);
    shadow.reset();
    net::io_context ctx;
    const auto primary = rs::test::run(
        ctx, [](rs::Shadower<DelayedBackend, EchoBackend> s) -> net::awaitable<ResponseRecord> {
          co_return co_await s.call_detached("x");
        }(sh));
    EXPECT_EQ(primary.body, "late");
    // The shadow answered during the primary's 5 ms; the settling is posted and never runs.
  }
  EXPECT_TRUE(watch.expired()) << "the shadower's state outlived it";
}

namespace {

using HangShadower = rs::Shadower<HangOn, HangOn>;

net::awaitable<void> inline_call(HangShadower sh, std::string key) { (void)co_await sh.call(key); }

net::awaitable<void> detached_call(HangShadower sh, std::string key) {
  (void)co_await sh.call_detached(key);
}

}  // namespace

// Calls still pending when their io_context is destroyed are counted, each once, as abandoned:
// inline callers waiting for their shadow or their primary, and detached calls whose shadow is out.
TEST(ShadowerEngine, CallsPendingOnADestroyedContextAreCounted) {
  auto primary = std::make_shared<HangOn>(HangOn{"p"});
  auto shadow = std::make_shared<HangOn>(HangOn{"s"});
  rs::Shadower sh(primary, shadow, ShadowConfig::full_sample().shadow_timeout(1h));
  {
    net::io_context ctx;
    for (int i = 0; i < 2; ++i)
      net::co_spawn(ctx, inline_call(sh, "ok" + std::to_string(i)), net::detached);
    for (int i = 0; i < 4; ++i)
      net::co_spawn(ctx, inline_call(sh, "s" + std::to_string(i)), net::detached);
    for (int i = 0; i < 3; ++i)
      net::co_spawn(ctx, inline_call(sh, "p" + std::to_string(i)), net::detached);
    for (int i = 0; i < 5; ++i) {
      net::co_spawn(ctx, detached_call(sh, "s-detached" + std::to_string(i)), net::detached);
    }
    for (int i = 0;
         i < 10'000 && (shadow->probe->frames.load() != 9 || primary->probe->frames.load() != 3);
         ++i) {
      ctx.run_for(1ms);
    }
    ASSERT_EQ(shadow->probe->frames.load(), 9);  // 4 inline, 5 detached
    ASSERT_EQ(primary->probe->frames.load(), 3);
    EXPECT_EQ(sh.stats().matched, 2U);
  }
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, 14U);
  EXPECT_EQ(s.sampled, 14U);
  EXPECT_EQ(s.shadow_abandoned, 12U);
  EXPECT_EQ(s.matched, 2U);
  EXPECT_EQ(s.shadow_ok + s.shadow_timed_out + s.expired_in_queue + s.shadow_failed +
                s.shadow_abandoned + s.shed + s.stopped,
            s.sampled);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
}

// A detached call whose shadow settled before its caller left, dropped with its context before
// the posted settling ran, is counted once, as abandoned.
TEST(ShadowerEngine, ADetachedCallDroppedBeforeItsSettlingRanIsCounted) {
  auto primary = std::make_shared<DelayedBackend>(DelayedBackend{5ms, true});
  rs::Shadower sh(primary, std::make_shared<EchoBackend>());
  {
    net::io_context ctx;
    const auto out = rs::test::run(
        ctx, [](rs::Shadower<DelayedBackend, EchoBackend> s) -> net::awaitable<ResponseRecord> {
          co_return co_await s.call_detached("x");
        }(sh));
    EXPECT_EQ(out.body, "late");
  }
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, 1U);
  EXPECT_EQ(s.shadow_abandoned, 1U);
}

// A call is counted when it starts; until its fate is decided it is in progress.
TEST(ShadowerEngine, CallsInProgressAreCountedWhenTheyStart) {
  net::io_context ctx;
  auto shadow = std::make_shared<HangOn>(HangOn{"s"});
  rs::Shadower sh(std::make_shared<HangOn>(HangOn{"p"}), shadow,
                  ShadowConfig::full_sample().shadow_timeout(1h));
  net::co_spawn(ctx, inline_call(sh, "s-waits"), net::detached);
  for (int i = 0; i < 10'000 && shadow->probe->frames.load() != 1; ++i) ctx.run_for(1ms);
  auto s = sh.stats();
  EXPECT_EQ(s.calls, 1U);
  EXPECT_EQ(s.sampled, 1U);
  EXPECT_EQ(s.sampled_in_progress, 1U);
  EXPECT_EQ(s.shadow_ok + s.shadow_abandoned, 0U);
  sh.set_sample_rate(0);
  net::co_spawn(ctx, inline_call(sh, "p-unsampled"), net::detached);
  ctx.run_for(10ms);
  s = sh.stats();
  EXPECT_EQ(s.calls, 2U);
  EXPECT_EQ(s.skipped_by_sampler, 1U);
  EXPECT_EQ(s.sampled_in_progress, 1U);
}

namespace {

// Answers with the input after blocking its thread for 1 ms, without ever suspending: the
// caller's thread runs nothing else meanwhile, so shadow legs queue up behind it.
struct BlockingPrimary {
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    std::this_thread::sleep_for(1ms);
    co_return ResponseRecord::success(rs::test::text(input));
  }
};

net::awaitable<void> blocking_burst(rs::Shadower<BlockingPrimary, DelayedBackend> sh, int n) {
  for (int i = 0; i < n; ++i) {
    const auto primary = co_await sh.call_detached("k" + std::to_string(i));
    EXPECT_EQ(primary.body, "k" + std::to_string(i));
  }
}

}  // namespace

// 200 detached calls are made while their context's only thread is blocked for 200 ms, far past
// their 20 ms deadline: the first leg's worker has not even started. A leg whose deadline passed
// before a worker took it is counted as expired in the queue, not as the candidate's timeout;
// exactly the legs the candidate was called for are its timeouts.
TEST(ShadowerEngine, LegsThatExpireInTheQueueAreNotTheCandidatesTimeouts) {
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{1h, true});
  rs::Shadower sh(std::make_shared<BlockingPrimary>(), shadow,
                  ShadowConfig::full_sample().shadow_timeout(20ms));
  net::io_context ctx;
  constexpr int calls = 200;
  net::co_spawn(ctx, blocking_burst(sh, calls), net::detached);
  ctx.run();  // returns once every leg has settled
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, static_cast<std::uint64_t>(calls));
  EXPECT_EQ(s.sampled_in_progress, 0U);
  EXPECT_EQ(s.shadow_timed_out, static_cast<std::uint64_t>(shadow->probe->calls.load()));
  EXPECT_EQ(s.shadow_timed_out + s.expired_in_queue, static_cast<std::uint64_t>(calls));
  EXPECT_GE(s.expired_in_queue, static_cast<std::uint64_t>(calls / 2));
}

namespace {

// Calls on the strand `on`, and counts the calls that resumed off it.
net::awaitable<void> calls_on_strand(rs::Shadower<EchoBackend, EchoBackend> sh,
                                     net::strand<net::io_context::executor_type> on, int id,
                                     int calls, int* off_strand, int* together) {
  for (int i = 0; i < calls; ++i) {
    const std::string key = "c" + std::to_string(id) + "-" + std::to_string(i);
    const auto out = co_await sh.call(key);
    EXPECT_EQ(out.primary.body, key);
    if (!on.running_in_this_thread()) ++*off_strand;
    ++*together;  // not atomic: the strand is what orders these callers
  }
}

}  // namespace

// Callers that share a strand are resumed on it, never outside it, though the worker that answers
// one of them runs on a strand of its own, maybe on the same thread: the callers' own state,
// guarded by their strand alone, is never touched by two of them at once. One thread, then two.
TEST(ShadowerEngine, CallersOnAStrandAreResumedOnIt) {
  for (const int threads : {1, 2}) {
    net::io_context ctx;
    rs::Shadower sh(EchoBackend{}, EchoBackend{});
    auto strand = net::make_strand(ctx);
    constexpr int callers = 4;
    constexpr int calls = 200;
    int off_strand = 0;
    int together = 0;
    for (int id = 0; id < callers; ++id) {
      net::co_spawn(strand, calls_on_strand(sh, strand, id, calls, &off_strand, &together),
                    net::detached);
    }
    std::vector<std::thread> runners;
    for (int t = 1; t < threads; ++t) runners.emplace_back([&ctx] { ctx.run(); });
    ctx.run();
    for (auto& r : runners) r.join();
    EXPECT_EQ(off_strand, 0) << threads << " thread(s)";
    EXPECT_EQ(together, callers * calls) << threads << " thread(s)";
    EXPECT_EQ(sh.stats().shadow_ok, static_cast<std::uint64_t>(callers * calls));
  }
}
