// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Detached calls: the caller gets the primary at once; the shadow, its deadline and the
// comparison finish in the background.
#include <request_shadow/shadower.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
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
using rs::test::ThrowingBackend;

namespace {

// Collects what the observers saw.
struct Seen {
  std::mutex mutex;
  std::vector<rs::ShadowOutcome> outcomes;
  std::atomic<int> count{0};
  void operator()(const rs::ShadowOutcome& out) {
    std::lock_guard lock(mutex);
    outcomes.push_back(out);
    ++count;
  }
};

template <class P, class S>
net::awaitable<ResponseRecord> detached_once(rs::Shadower<P, S> sh, std::string input) {
  co_return co_await sh.call_detached(input);
}

template <class P, class S>
ResponseRecord call_detached(net::io_context& ctx, const rs::Shadower<P, S>& sh, std::string in) {
  return rs::test::run(ctx, detached_once(sh, std::move(in)));
}

// Runs the context until `done()` or 10 s.
template <class F>
void run_until(net::io_context& ctx, F done) {
  ctx.restart();
  for (int i = 0; i < 10'000 && !done(); ++i) ctx.run_for(1ms);
}

}  // namespace

TEST(ShadowerDetached, ReturnsThePrimaryBeforeTheShadowAnswers) {
  net::io_context ctx;
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{200ms, true});
  shadow->response = ResponseRecord::success("req");
  auto seen = std::make_shared<Seen>();
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().shadow_timeout(5s));
  sh.on_outcome([seen](const rs::ShadowOutcome& out) { (*seen)(out); });
  const auto primary = call_detached(ctx, sh, "req");
  EXPECT_EQ(primary.body, "req");
  EXPECT_EQ(shadow->probe->completed.load(), 0);  // the caller did not wait for it
  EXPECT_EQ(sh.in_flight_shadows(), 1U);
  EXPECT_EQ(sh.stats().calls, 1U);                // counted when it started
  EXPECT_EQ(sh.stats().sampled_in_progress, 1U);  // its fate is not known yet

  run_until(ctx, [&] { return seen->count.load() == 1; });
  ASSERT_EQ(seen->count.load(), 1);
  EXPECT_EQ(sh.stats().matched, 1U);
  EXPECT_EQ(seen->outcomes[0].primary.body, "req");
  ASSERT_TRUE(seen->outcomes[0].shadow);
  EXPECT_FALSE(seen->outcomes[0].divergence);
}

TEST(ShadowerDetached, DivergenceReachesCountersLogAndObservers) {
  net::io_context ctx;
  auto seen = std::make_shared<Seen>();
  rs::Shadower sh(EchoBackend{}, EchoBackend{"v", "!"});
  sh.on_outcome([seen](const rs::ShadowOutcome& out) { (*seen)(out); });
  EXPECT_EQ(call_detached(ctx, sh, "v1").body, "v1");
  run_until(ctx, [&] { return seen->count.load() == 1; });
  EXPECT_EQ(sh.divergence_count(), 1U);
  const auto log = sh.divergences();
  ASSERT_EQ(log.size(), 1U);
  EXPECT_EQ(log[0].key, "v1");
  ASSERT_EQ(seen->count.load(), 1);
  ASSERT_TRUE(seen->outcomes[0].divergence && seen->outcomes[0].divergence->body);
  EXPECT_EQ(*seen->outcomes[0].divergence->body,
            (rs::BodyDiff{2, 3, 2, "v1", "v1!", {}, {}, false, {}}));
  EXPECT_EQ(seen->outcomes[0].shadow->body, "v1!");
}

TEST(ShadowerDetached, DeadlinePassesInTheBackground) {
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{1h, false});
  auto seen = std::make_shared<Seen>();
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().shadow_timeout(20ms));
  sh.on_outcome([seen](const rs::ShadowOutcome& out) { (*seen)(out); });
  {
    net::io_context ctx;
    EXPECT_EQ(call_detached(ctx, sh, "req").body, "req");
    run_until(ctx, [&] { return seen->count.load() == 1; });
    ASSERT_EQ(seen->count.load(), 1);
    ASSERT_TRUE(seen->outcomes[0].shadow_failed);
    EXPECT_TRUE(seen->outcomes[0].shadow_failed->timed_out());
    EXPECT_EQ(sh.stats().shadow_timed_out, 1U);
    EXPECT_EQ(shadow->probe->frames.load(), 1);  // still running, abandoned
  }
  EXPECT_EQ(shadow->probe->frames.load(), 0);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
}

TEST(ShadowerDetached, PrimaryExceptionReachesTheCaller) {
  net::io_context ctx;
  rs::Shadower sh(ThrowingBackend<std::runtime_error>{"down"}, DelayedBackend{1h, false});
  EXPECT_THROW((void)call_detached(ctx, sh, "req"), std::runtime_error);
  EXPECT_EQ(sh.stats().primary_failed, 1U);
  EXPECT_EQ(sh.stats().shadow_abandoned, 1U);
}

TEST(ShadowerDetached, UnsampledCallsOnlyCallThePrimary) {
  net::io_context ctx;
  auto shadow = std::make_shared<EchoBackend>();
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().sample_rate(0));
  EXPECT_EQ(call_detached(ctx, sh, "req").body, "req");
  EXPECT_EQ(shadow->probe->calls.load(), 0);
  EXPECT_EQ(sh.stats().skipped_by_sampler, 1U);
}

TEST(ShadowerDetached, ShedBeyondTheBound) {
  net::io_context ctx;
  auto seen = std::make_shared<Seen>();
  rs::Shadower sh(std::make_shared<EchoBackend>(),
                  std::make_shared<DelayedBackend>(DelayedBackend{1h, false}),
                  ShadowConfig::full_sample().shadow_timeout(1h).max_in_flight_shadows(2));
  sh.on_outcome([seen](const rs::ShadowOutcome& out) { (*seen)(out); });
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(call_detached(ctx, sh, "r" + std::to_string(i)).body, "r" + std::to_string(i));
  run_until(ctx, [&] { return seen->count.load() == 3; });
  EXPECT_EQ(sh.stats().shed, 3U);
  EXPECT_EQ(sh.in_flight_shadows(), 2U);
  for (const auto& out : seen->outcomes) {
    ASSERT_TRUE(out.shadow_failed);
    EXPECT_TRUE(out.shadow_failed->shed());
  }
}

// Destroying the context with detached calls still waiting for their shadows frees everything.
TEST(ShadowerDetached, ShutdownWithPendingDetachedCalls) {
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{1h, false});
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().shadow_timeout(1h));
  {
    net::io_context ctx;
    for (int i = 0; i < 10; ++i) (void)call_detached(ctx, sh, "r" + std::to_string(i));
    ctx.restart();
    ctx.run_for(10ms);
    EXPECT_EQ(shadow->probe->frames.load(), 10);
  }
  EXPECT_EQ(shadow->probe->frames.load(), 0);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
  // Dropped with their context, never settled: still counted, each once, as abandoned.
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, 10U);
  EXPECT_EQ(s.shadow_abandoned, 10U);
  EXPECT_EQ(s.sampled_in_progress, 0U);
}

// Detached callers on 4 threads; every outcome is settled exactly once.
TEST(ShadowerDetached, ManyThreadsSettleEveryCallOnce) {
  net::io_context ctx;
  auto seen = std::make_shared<std::atomic<int>>(0);
  // Detached callers never wait, so a burst queues every leg: allow them all.
  rs::Shadower sh(EchoBackend{}, EchoBackend{"odd", "!"},
                  ShadowConfig::full_sample().max_in_flight_shadows(100'000));
  sh.with_log(10'000);
  sh.on_outcome([seen](const rs::ShadowOutcome&) { ++*seen; });
  constexpr int callers = 12;
  constexpr int each = 100;
  std::atomic<int> wrong{0};
  for (int c = 0; c < callers; ++c) {
    net::co_spawn(
        net::make_strand(ctx),
        [](rs::Shadower<EchoBackend, EchoBackend> s, int id,
           std::atomic<int>* bad) -> net::awaitable<void> {
          for (int i = 0; i < each; ++i) {
            const std::string key =
                "c" + std::to_string(id) + "-" + std::to_string(i) + (i % 3 == 0 ? "-odd" : "");
            const auto primary = co_await s.call_detached(key);
            if (primary.body != key) ++*bad;
          }
        }(sh, c, &wrong),
        net::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&ctx] { ctx.run(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(seen->load(), callers * each);
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, static_cast<std::uint64_t>(callers * each));
  EXPECT_EQ(s.shed, 0U);
  EXPECT_EQ(s.diverged, static_cast<std::uint64_t>(callers * 34));
  EXPECT_EQ(sh.divergence_count(), sh.divergences().size());
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
}

// Sequential detached calls on two threads with a bound of one leg: a job queued while the only
// worker was retiring must still run, or every later call would be shed.
TEST(ShadowerDetached, JobQueuedWhileTheWorkerRetiresStillRuns) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{},
                  ShadowConfig::full_sample().max_in_flight_shadows(1).shadow_timeout(1s));
  auto work = net::make_work_guard(ctx);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&ctx] { ctx.run(); });
  constexpr int calls = 5000;
  for (int i = 0; i < calls; ++i) {
    std::promise<void> done;
    net::co_spawn(
        net::make_strand(ctx),
        [](rs::Shadower<EchoBackend, EchoBackend> s, int n) -> net::awaitable<void> {
          (void)co_await s.call_detached("r" + std::to_string(n));
        }(sh, i),
        [&done](std::exception_ptr) { done.set_value(); });
    done.get_future().wait();
    for (int spin = 0; spin < 20'000 && sh.in_flight_shadows() != 0; ++spin) {
      std::this_thread::sleep_for(50us);
    }
    if (sh.in_flight_shadows() != 0) {
      ADD_FAILURE() << "a leg is stuck after call " << i;
      break;
    }
  }
  work.reset();
  ctx.stop();
  for (auto& t : threads) t.join();
  EXPECT_EQ(sh.stats().shed, 0U);
  EXPECT_EQ(sh.stats().matched, static_cast<std::uint64_t>(calls));
}

// ShadowConfig::start_shadow_after_primary: the candidate sees the request only once the caller
// has the primary's response; by default both legs start together.
namespace {

template <class P, class S>
net::awaitable<int> shadow_calls_seen_by_caller(rs::Shadower<P, S> sh,
                                                std::shared_ptr<rs::test::Probe> probe,
                                                std::string input) {
  (void)co_await sh.call_detached(input);
  co_return probe->calls.load();  // read the moment the caller is resumed
}

}  // namespace

TEST(ShadowerDetachedAfterPrimary, ShadowStartsOnlyOnceTheCallerHasThePrimary) {
  for (const bool after : {false, true}) {
    SCOPED_TRACE(after ? "after the primary" : "together");
    net::io_context ctx;
    auto primary = std::make_shared<DelayedBackend>(DelayedBackend{200ms, true});
    primary->response = ResponseRecord::success("req");
    auto shadow = std::make_shared<EchoBackend>();
    auto seen = std::make_shared<Seen>();
    rs::Shadower sh(
        primary, shadow,
        ShadowConfig::full_sample().shadow_timeout(5s).start_shadow_after_primary(after));
    sh.on_outcome([seen](const rs::ShadowOutcome& out) { (*seen)(out); });
    std::optional<int> at_return;
    net::co_spawn(ctx, shadow_calls_seen_by_caller(sh, shadow->probe, "req"),
                  [&](std::exception_ptr e, int n) {
                    if (!e) at_return = n;
                  });
    ctx.run_for(50ms);  // the primary is still waiting for its 200 ms
    EXPECT_EQ(primary->probe->calls.load(), 1);
    EXPECT_EQ(shadow->probe->calls.load(), after ? 0 : 1);
    run_until(ctx, [&] { return seen->count.load() == 1; });
    ASSERT_TRUE(at_return.has_value());
    EXPECT_EQ(*at_return, after ? 0 : 1);  // the caller was resumed before the candidate started
    ASSERT_EQ(seen->count.load(), 1);
    EXPECT_EQ(shadow->probe->calls.load(), 1);
    EXPECT_EQ(seen->outcomes[0].primary.body, "req");
    ASSERT_TRUE(seen->outcomes[0].shadow);
    EXPECT_EQ(seen->outcomes[0].shadow->body, "req");
    const auto s = sh.stats();
    EXPECT_EQ(s.calls, 1U);
    EXPECT_EQ(s.matched, 1U);
    EXPECT_EQ(s.sampled_in_progress, 0U);
  }
}

// A primary that throws once it has suspended: the default mode has started the shadow by then.
struct LateThrowingBackend {
  std::shared_ptr<rs::test::Probe> probe = std::make_shared<rs::test::Probe>();

  net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) {
    ++probe->calls;
    const auto ex = co_await net::this_coro::executor;
    net::steady_timer timer(ex, 20ms);
    co_await timer.async_wait(net::use_awaitable);
    throw std::runtime_error("down");
  }
};

TEST(ShadowerDetachedAfterPrimary, FailedPrimaryStartsNoShadow) {
  for (const bool after : {false, true}) {
    SCOPED_TRACE(after ? "after the primary" : "together");
    net::io_context ctx;
    auto shadow = std::make_shared<EchoBackend>();
    auto seen = std::make_shared<Seen>();
    rs::Shadower sh(std::make_shared<LateThrowingBackend>(), shadow,
                    ShadowConfig::full_sample().start_shadow_after_primary(after));
    sh.on_outcome([seen](const rs::ShadowOutcome& out) { (*seen)(out); });
    EXPECT_THROW((void)call_detached(ctx, sh, "req"), std::runtime_error);
    ctx.restart();
    ctx.run();
    EXPECT_EQ(shadow->probe->calls.load(), after ? 0 : 1);
    EXPECT_EQ(seen->count.load(), 0);  // a call whose primary threw reaches no observer
    const auto s = sh.stats();
    EXPECT_EQ(s.calls, 1U);
    EXPECT_EQ(s.primary_failed, 1U);
    EXPECT_EQ(s.shadow_abandoned, 1U);
    EXPECT_EQ(s.sampled_in_progress, 0U);
    EXPECT_EQ(sh.in_flight_shadows(), 0U);
  }
}

// The deadline counts from the start of the shadow leg, with the length in force when the call
// started: a 100 ms primary, a 60 ms deadline and a 5 ms candidate match, even though the
// deadline is long past the call's start when the candidate answers, and even though the
// deadline was cut to 1 ms while the primary ran.
TEST(ShadowerDetachedAfterPrimary, DeadlineCountsFromTheShadowsStart) {
  net::io_context ctx;
  auto primary = std::make_shared<DelayedBackend>(DelayedBackend{100ms, true});
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{5ms, true});
  auto seen = std::make_shared<Seen>();
  rs::Shadower sh(
      primary, shadow,
      ShadowConfig::full_sample().shadow_timeout(60ms).start_shadow_after_primary(true));
  sh.on_outcome([seen](const rs::ShadowOutcome& out) { (*seen)(out); });
  net::co_spawn(ctx, detached_once(sh, "req"), net::detached);
  ctx.run_for(20ms);  // the primary is still waiting for its 100 ms
  sh.set_shadow_timeout(1ms);
  run_until(ctx, [&] { return seen->count.load() == 1; });
  ASSERT_EQ(seen->count.load(), 1);
  EXPECT_FALSE(seen->outcomes[0].shadow_failed);
  EXPECT_EQ(sh.stats().matched, 1U);
}

// The leg started late still has its deadline, against a candidate that ignores cancellation,
// and the bound on legs in flight still sheds.
TEST(ShadowerDetachedAfterPrimary, DeadlineAndBoundStillHold) {
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{1h, false});
  auto seen = std::make_shared<Seen>();
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample()
                      .shadow_timeout(200ms)
                      .max_in_flight_shadows(2)
                      .start_shadow_after_primary(true));
  sh.on_outcome([seen](const rs::ShadowOutcome& out) { (*seen)(out); });
  {
    net::io_context ctx;
    for (int i = 0; i < 5; ++i)
      EXPECT_EQ(call_detached(ctx, sh, "r" + std::to_string(i)).body, "r" + std::to_string(i));
    run_until(ctx, [&] { return seen->count.load() == 5; });
    ASSERT_EQ(seen->count.load(), 5);
    const auto s = sh.stats();
    EXPECT_EQ(s.shadow_timed_out, 2U);
    EXPECT_EQ(s.shed, 3U);
    EXPECT_EQ(shadow->probe->frames.load(), 2);  // still running, abandoned
  }
  EXPECT_EQ(shadow->probe->frames.load(), 0);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
}
