// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// ShadowConfig::shadow_executor: shadow legs on a thread pool of their own, off the callers'
// threads, with the deadline, the bound, the counters and shutdown as on the callers' contexts.
#include <request_shadow/shadower.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <request_shadow/asio.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace rs = request_shadow;
using namespace std::chrono_literals;
using rs::ResponseRecord;
using rs::test::EchoBackend;
using Clock = std::chrono::steady_clock;

namespace {

// The threads a backend ran on.
struct Threads {
  std::mutex mutex;
  std::set<std::thread::id> seen;
  void add() {
    const std::lock_guard lock(mutex);
    seen.insert(std::this_thread::get_id());
  }
};

// Spends `busy` of CPU (a candidate that parses), then diverges on keys that contain "odd" and
// hangs, ignoring cancellation, on keys that contain "hang".
struct WorkingShadow {
  std::shared_ptr<Threads> threads = std::make_shared<Threads>();
  std::chrono::microseconds busy{20};

  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    threads->add();
    const auto until = Clock::now() + busy;
    while (Clock::now() < until) {
    }
    const std::string key = rs::test::text(input);
    if (key.find("hang") != std::string::npos) {
      co_await rs::test::hang_ignoring_cancellation();
    }
    co_return ResponseRecord::success(key.find("odd") != std::string::npos ? key + "!" : key);
  }
};

using PoolShadower = rs::Shadower<EchoBackend, WorkingShadow>;

constexpr int callers = 8;
constexpr int calls_per_caller = 100;

std::string key_of(int id, int i) {
  std::string key = "c" + std::to_string(id) + "-" + std::to_string(i);
  if (i % 2 == 1) key += "-odd";
  if (i % 50 == 7) key += "-hang";
  return key;
}

net::awaitable<void> inline_caller(PoolShadower sh, int id, std::shared_ptr<Threads> callers_seen,
                                   std::shared_ptr<std::atomic<int>> wrong) {
  for (int i = 0; i < calls_per_caller; ++i) {
    const std::string key = key_of(id, i);
    const auto out = co_await sh.call(key);
    callers_seen->add();
    if (out.primary.body != key) ++*wrong;
  }
}

net::awaitable<void> detached_caller(PoolShadower sh, int id, std::shared_ptr<Threads> callers_seen,
                                     std::shared_ptr<std::atomic<int>> wrong) {
  for (int i = 0; i < calls_per_caller; ++i) {
    const std::string key = key_of(id, i);
    const auto primary = co_await sh.call_detached(key);
    callers_seen->add();
    if (primary.body != key) ++*wrong;
  }
}

// Callers on strands of a 2-thread io_context, shadows on a 2-thread pool: every leg runs on the
// pool, every count adds up, the deadline (200 ms, generous for the sanitizer builds) releases the
// callers of hung shadows.
template <class Caller>
void run_on_pool(Caller caller, bool detached) {
  net::thread_pool pool(2);
  WorkingShadow shadow;
  auto shadow_threads = shadow.threads;
  auto caller_threads = std::make_shared<Threads>();
  auto wrong = std::make_shared<std::atomic<int>>(0);
  {
    net::io_context ctx;
    PoolShadower sh(
        EchoBackend{}, shadow,
        rs::ShadowConfig::full_sample().shadow_timeout(200ms).shadow_executor(pool.get_executor()));
    sh.with_log(10'000);
    std::atomic<int> finished{0};
    for (int id = 0; id < callers; ++id) {
      auto body = caller(sh, id, caller_threads, wrong);
      net::co_spawn(net::make_strand(ctx), std::move(body),
                    [&finished](const std::exception_ptr& e) {
                      EXPECT_FALSE(e);
                      ++finished;
                    });
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) threads.emplace_back([&ctx] { ctx.run(); });
    for (auto& t : threads) t.join();  // run() returns: the hung legs hold the pool, not ctx
    ASSERT_EQ(finished.load(), callers);
    EXPECT_EQ(wrong->load(), 0);

    const auto [hang, odd] = rs::test::mixed_counts(calls_per_caller);
    const auto total = static_cast<std::uint64_t>(callers * calls_per_caller);
    const auto s = sh.stats();
    EXPECT_EQ(s.calls, total);
    EXPECT_EQ(s.sampled, total);
    EXPECT_EQ(s.shadow_timed_out, static_cast<std::uint64_t>(callers * hang));
    EXPECT_EQ(s.diverged, static_cast<std::uint64_t>(callers * odd));
    EXPECT_EQ(s.sampled_in_progress, 0U) << (detached ? "detached" : "inline");
    EXPECT_EQ(sh.divergences().size(), static_cast<std::uint64_t>(callers * odd));
  }
  // Every leg ran on the pool, none on a caller's thread.
  {
    const std::lock_guard a(shadow_threads->mutex);
    const std::lock_guard b(caller_threads->mutex);
    EXPECT_FALSE(shadow_threads->seen.empty());
    for (const auto& id : shadow_threads->seen) EXPECT_EQ(caller_threads->seen.count(id), 0U);
  }
  pool.stop();  // the hung legs would keep join() waiting
  pool.join();
}

TEST(ShadowExecutor, InlineCallsRunTheirLegsOnThePoolAndCountsAddUp) {
  run_on_pool(inline_caller, false);
}

TEST(ShadowExecutor, DetachedCallsAreSettledOnThePoolAndCountsAddUp) {
  run_on_pool(detached_caller, true);
}

// A candidate that blocks its pool thread (1 thread, 300 ms per leg) never holds a caller past
// its 20 ms deadline, and once the bound of legs is held the next calls are shed at once.
TEST(ShadowExecutor, ABlockedPoolHoldsNoCallerAndLegsAreShedAtTheBound) {
  struct Blocking {
    net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) {
      std::this_thread::sleep_for(300ms);
      co_return ResponseRecord::success("late");
    }
  };
  net::thread_pool pool(1);
  net::io_context ctx;
  rs::Shadower sh(
      EchoBackend{}, Blocking{},
      rs::ShadowConfig::full_sample().shadow_timeout(20ms).max_in_flight_shadows(2).shadow_executor(
          pool.get_executor()));
  std::vector<Clock::duration> took;
  std::vector<bool> shed;
  net::co_spawn(
      ctx,
      [&]() -> net::awaitable<void> {
        for (int i = 0; i < 4; ++i) {
          const std::string key = "k" + std::to_string(i);
          const auto start = Clock::now();
          const auto out = co_await sh.call(key);
          took.push_back(Clock::now() - start);
          shed.push_back(out.shadow_failed && out.shadow_failed->shed());
        }
      },
      net::detached);
  ctx.run();
  ASSERT_EQ(took.size(), 4U);
  // Generous margins: the deadline is 20 ms, a leg holds the pool for 300 ms.
  for (const auto t : took) EXPECT_LT(t, 250ms);
  EXPECT_FALSE(shed[0]);
  EXPECT_FALSE(shed[1]);
  EXPECT_TRUE(shed[2]);  // two legs still hold the bound
  EXPECT_TRUE(shed[3]);
  EXPECT_EQ(sh.stats().shed, 2U);
  pool.join();
}

net::awaitable<void> detached_once(PoolShadower sh, int n, std::atomic<int>* got) {
  const std::string key = "k" + std::to_string(n) + (n % 2 == 0 ? "-hang" : "");
  const auto r = co_await sh.call_detached(key);
  if (r.body == key) ++*got;
}

// The callers' context is destroyed while legs hang on the pool, then the pool is stopped and
// destroyed: everything is freed (the sanitizer builds check it) and the drops are counted.
TEST(ShadowExecutor, ShutdownWithLegsInFlightOnThePoolIsClean) {
  auto pool = std::make_unique<net::thread_pool>(2);
  WorkingShadow shadow;
  PoolShadower sh(
      EchoBackend{}, shadow,
      rs::ShadowConfig::full_sample().shadow_timeout(1h).shadow_executor(pool->get_executor()));
  std::atomic<int> primaries{0};
  {
    net::io_context ctx;
    for (int i = 0; i < 6; ++i) {
      auto body = detached_once(sh, i, &primaries);
      net::co_spawn(ctx, std::move(body), net::detached);
    }
    // Run until every detached caller has its primary; the hung legs stay on the pool.
    while (primaries.load() < 6) ctx.run_one();
  }
  pool->stop();
  pool.reset();
  const auto s = sh.stats();
  EXPECT_EQ(primaries.load(), 6);
  EXPECT_EQ(s.calls, 6U);
  EXPECT_EQ(s.sampled_in_progress, 0U);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
}

// An io_context's executor whose posts from threads outside the context take `delay` before they
// reach it: the window in which a thread outside a context holds a copy of its executor. It does
// not track outstanding work: a coroutine spawned on it keeps run() going only while it has an
// operation pending (the test below has the deadline's timer).
struct SlowFromOutside {
  net::io_context::executor_type inner;
  std::chrono::milliseconds delay;

  [[nodiscard]] net::execution_context& query(net::execution::context_t /*p*/) const noexcept {
    return inner.context();
  }
  static constexpr net::execution::blocking_t query(net::execution::blocking_t /*p*/) noexcept {
    return net::execution::blocking.never;
  }
  [[nodiscard]] SlowFromOutside require(net::execution::blocking_t::never_t /*p*/) const noexcept {
    return *this;
  }
  template <class F>
  void execute(F&& f) const {
    if (!inner.running_in_this_thread()) std::this_thread::sleep_for(delay);
    net::post(inner, std::forward<F>(f));
  }
  friend bool operator==(const SlowFromOutside& a, const SlowFromOutside& b) noexcept {
    return a.inner == b.inner && a.delay == b.delay;
  }
};

// Answers once `go` is set, spinning on its thread until then (never more than 10 s).
struct Released {
  std::shared_ptr<std::atomic<bool>> go;
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    const auto give_up = Clock::now() + 10s;  // never hangs the suite
    while (!go->load() && Clock::now() < give_up) {
    }
    co_return ResponseRecord::success(rs::test::text(input));
  }
};

// The callers' context is destroyed once its run() has returned, while a worker on the pool is on
// its way out of a leg that the deadline settled: what the worker sends to the context then (the
// reaper) is posted while the context is destroyed. The destruction must wait for that post: a
// post that reached a destroyed context is what the sanitizer builds catch here. (The engine must
// recognise the caller's executor as not an io_context's own for the post to take the slow path.)
TEST(ShadowExecutor, TheCallersContextOutlivesAPostFromThePool) {
  net::thread_pool pool(1);
  auto go = std::make_shared<std::atomic<bool>>(false);
  bool primary = false;
  {
    net::io_context ctx;
    rs::Shadower sh(
        EchoBackend{}, Released{go},
        rs::ShadowConfig::full_sample().shadow_timeout(200ms).shadow_executor(pool.get_executor()));
    net::co_spawn(
        SlowFromOutside{ctx.get_executor(), 300ms},
        [&sh, &primary]() -> net::awaitable<void> {
          const auto out = co_await sh.call_detached(std::string("key"));
          primary = out.body == "key";
        },
        net::detached);
    ctx.run();  // returns once the deadline has settled the call; the leg still runs
    EXPECT_TRUE(primary);
    EXPECT_EQ(sh.stats().shadow_timed_out, 1U);  // in the backend, not in the queue
    // The leg ends, and its worker posts the reaper; the context is destroyed meanwhile.
    go->store(true);
    std::this_thread::sleep_for(50ms);
  }
  pool.join();  // the worker retires: its lane has no call in flight
}

// A primary that owns an I/O object of the callers' context.
struct TimerPrimary {
  std::shared_ptr<net::steady_timer> timer;
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    co_return ResponseRecord::success(rs::test::text(input));
  }
};

// Every copy of a Shadower is gone while its detached call's leg still runs on the pool, so the
// call's settling, on the pool, releases the last hold on the Shadower's state and with it the
// primary's timer of the callers' context; an observer makes that settling last 300 ms, and the
// context is destroyed meanwhile. The destruction must wait for the settling.
TEST(ShadowExecutor, TheCallersContextOutlivesADetachedCallSettlingOnThePool) {
  net::thread_pool pool(1);
  auto go = std::make_shared<std::atomic<bool>>(false);
  auto observed = std::make_shared<std::atomic<int>>(0);
  {
    net::io_context ctx;
    {
      rs::Shadower sh(
          TimerPrimary{std::make_shared<net::steady_timer>(ctx)}, Released{go},
          rs::ShadowConfig::full_sample().shadow_timeout(10s).shadow_executor(pool.get_executor()));
      sh.on_outcome([observed](const rs::ShadowOutcome& /*out*/) {
        std::this_thread::sleep_for(300ms);
        ++*observed;
      });
      net::co_spawn(
          ctx,
          [sh]() -> net::awaitable<void> {
            const auto primary = co_await sh.call_detached(std::string("key"));
            EXPECT_EQ(primary.body, "key");
          },
          net::detached);
      ctx.run_for(100ms);  // the caller has its primary; the leg waits for `go`
    }
    go->store(true);
    std::this_thread::sleep_for(50ms);  // the settling is under way
  }
  EXPECT_EQ(observed->load(), 1);
  pool.join();
}

}  // namespace
