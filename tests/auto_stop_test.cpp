// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// ShadowConfig::auto_stop: the circuit breaker that stops shadowing a failing candidate.
#include <request_shadow/shadower.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <request_shadow/asio.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace rs = request_shadow;
using namespace std::chrono_literals;
using rs::ResponseRecord;
using rs::ShadowConfig;
using rs::test::EchoBackend;

namespace {

// Fails while `failing` is set, echoes otherwise.
struct Flaky {
  std::shared_ptr<std::atomic<bool>> failing = std::make_shared<std::atomic<bool>>(true);
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    ++*calls;
    if (*failing) throw std::runtime_error("candidate down");
    co_return ResponseRecord::success(rs::test::text(input));
  }
};

using FlakyShadower = rs::Shadower<EchoBackend, Flaky>;

rs::ShadowOutcome call(net::io_context& ctx, const FlakyShadower& sh, std::string key) {
  return rs::test::run(ctx,
                       [](FlakyShadower s, std::string k) -> net::awaitable<rs::ShadowOutcome> {
                         co_return co_await s.call(k);
                       }(sh, std::move(key)));
}

ShadowConfig stop_after_ten(std::chrono::steady_clock::duration cooldown) {
  return ShadowConfig::full_sample().auto_stop(rs::AutoStop{0.5, 10, cooldown});
}

using Gated = rs::test::GatedBackend;
using GatedShadower = rs::Shadower<EchoBackend, Gated>;

net::awaitable<rs::ShadowOutcome> call_once(GatedShadower sh, std::string key) {
  co_return co_await sh.call(key);
}

// Runs `ctx` until `done()`, for at most 10 s.
template <class F>
void run_until(net::io_context& ctx, F done) {
  ctx.restart();
  for (int i = 0; i < 10'000 && !done(); ++i) ctx.run_for(1ms);
}

// Collects what the observers saw.
struct Seen {
  std::mutex mutex;
  std::vector<rs::ShadowOutcome> outcomes;
  void operator()(const rs::ShadowOutcome& out) {
    std::lock_guard lock(mutex);
    outcomes.push_back(out);
  }
};

}  // namespace

TEST(AutoStop, StopsShadowingACandidateThatKeepsFailing) {
  net::io_context ctx;
  Flaky shadow;
  FlakyShadower sh(EchoBackend{}, shadow, stop_after_ten(1h));
  for (int i = 0; i < 30; ++i) {
    const auto out = call(ctx, sh, "k" + std::to_string(i));
    EXPECT_EQ(out.primary.body, "k" + std::to_string(i));
    ASSERT_TRUE(out.shadow_failed);
    if (i < 10) {
      EXPECT_EQ(out.shadow_failed->kind, rs::ShadowFailureKind::Failed) << i;
    } else {
      EXPECT_TRUE(out.shadow_failed->stopped()) << i;
    }
  }
  EXPECT_EQ(shadow.calls->load(), 10);
  const auto s = sh.stats();
  EXPECT_EQ(s.shadow_failed, 10U);
  EXPECT_EQ(s.stopped, 20U);
  EXPECT_EQ(s.auto_stops, 1U);
  EXPECT_TRUE(s.auto_stopped);
  EXPECT_EQ(s.sampled, 30U);
}

TEST(AutoStop, DoesNotStopBelowTheRatio) {
  net::io_context ctx;
  Flaky shadow;
  FlakyShadower sh(EchoBackend{}, shadow, stop_after_ten(1h));
  for (int i = 0; i < 100; ++i) {
    shadow.failing->store(i % 3 == 0);  // a third fail: below one half
    (void)call(ctx, sh, "k" + std::to_string(i));
  }
  EXPECT_EQ(shadow.calls->load(), 100);
  EXPECT_EQ(sh.stats().auto_stops, 0U);
  EXPECT_FALSE(sh.stats().auto_stopped);
}

TEST(AutoStop, ResumesWhenAProbeSucceedsAfterTheCooldown) {
  net::io_context ctx;
  Flaky shadow;
  FlakyShadower sh(EchoBackend{}, shadow, stop_after_ten(20ms));
  for (int i = 0; i < 12; ++i) (void)call(ctx, sh, "k" + std::to_string(i));
  EXPECT_TRUE(sh.stats().auto_stopped);
  shadow.failing->store(false);
  std::this_thread::sleep_for(200ms);  // ten times the cool-down
  const auto probe = call(ctx, sh, "probe");
  ASSERT_TRUE(probe.shadow) << "the probe was not shadowed";
  EXPECT_FALSE(sh.stats().auto_stopped);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(call(ctx, sh, "after" + std::to_string(i)).shadow);
  EXPECT_EQ(shadow.calls->load(), 10 + 1 + 5);
}

TEST(AutoStop, AFailedProbeStopsAgain) {
  net::io_context ctx;
  Flaky shadow;
  FlakyShadower sh(EchoBackend{}, shadow, stop_after_ten(20ms));
  for (int i = 0; i < 10; ++i) (void)call(ctx, sh, "k" + std::to_string(i));
  std::this_thread::sleep_for(200ms);
  const auto probe = call(ctx, sh, "probe");
  ASSERT_TRUE(probe.shadow_failed);
  EXPECT_EQ(probe.shadow_failed->kind, rs::ShadowFailureKind::Failed);  // it was tried
  EXPECT_TRUE(call(ctx, sh, "next").shadow_failed->stopped());
  EXPECT_EQ(shadow.calls->load(), 11);
  EXPECT_TRUE(sh.stats().auto_stopped);
}

TEST(AutoStop, WorksForDetachedCalls) {
  net::io_context ctx;
  Flaky shadow;
  FlakyShadower sh(EchoBackend{}, shadow, stop_after_ten(1h));
  for (int i = 0; i < 30; ++i) {
    const auto primary =
        rs::test::run(ctx, [](FlakyShadower s, std::string k) -> net::awaitable<ResponseRecord> {
          co_return co_await s.call_detached(k);
        }(sh, "k" + std::to_string(i)));
    EXPECT_EQ(primary.body, "k" + std::to_string(i));
    ctx.restart();
    ctx.run();  // let the detached leg settle
  }
  EXPECT_EQ(shadow.calls->load(), 10);
  EXPECT_EQ(sh.stats().stopped, 20U);
  EXPECT_EQ(sh.stats().auto_stops, 1U);
}

// A probe whose call is dropped unawaited reports nothing; the next call probes at once.
TEST(AutoStop, ADroppedProbeLetsTheNextCallProbe) {
  net::io_context ctx;
  Flaky shadow;
  FlakyShadower sh(EchoBackend{}, shadow, stop_after_ten(300ms));
  for (int i = 0; i < 10; ++i) (void)call(ctx, sh, "k" + std::to_string(i));
  EXPECT_TRUE(sh.stats().auto_stopped);
  shadow.failing->store(false);
  std::this_thread::sleep_for(600ms);  // twice the cool-down
  { auto dropped = sh.call("probe that is never awaited"); }
  EXPECT_EQ(sh.stats().calls, 10U) << "a call that never ran is not counted";
  EXPECT_TRUE(call(ctx, sh, "next").shadow) << "the breaker stayed in its dropped probe";
  EXPECT_FALSE(sh.stats().auto_stopped);
  EXPECT_EQ(shadow.calls->load(), 11);
}

// While the probe is out (its shadow has not answered), no other call shadows, however many
// cool-downs pass; its answer then resumes shadowing.
TEST(AutoStop, OneCallProbesWhileTheProbeIsOut) {
  net::io_context ctx;
  Gated shadow;
  GatedShadower sh(EchoBackend{}, shadow,
                   ShadowConfig::full_sample()
                       .auto_stop(rs::AutoStop{0.5, 2, 50ms})
                       .shadow_timeout(std::chrono::hours(1)));
  for (int i = 0; i < 2; ++i) (void)rs::test::run(ctx, call_once(sh, "k" + std::to_string(i)));
  ASSERT_TRUE(sh.stats().auto_stopped);
  shadow.failing->store(false);
  std::this_thread::sleep_for(200ms);  // four cool-downs

  std::optional<rs::ShadowOutcome> probe;
  net::co_spawn(ctx, call_once(sh, "probe"),
                [&](std::exception_ptr, rs::ShadowOutcome out) { probe.emplace(std::move(out)); });
  run_until(ctx, [&] { return shadow.calls->load() == 3; });
  ASSERT_EQ(shadow.calls->load(), 3) << "the probe did not reach the shadow";

  // Detached, so that a call that probed too could not hold the test up.
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(100ms);  // two cool-downs between calls
    const auto primary =
        rs::test::run(ctx, [](GatedShadower s, std::string k) -> net::awaitable<ResponseRecord> {
          co_return co_await s.call_detached(k);
        }(sh, "c" + std::to_string(i)));
    EXPECT_EQ(primary.body, "c" + std::to_string(i));
  }
  ctx.restart();
  ctx.run_for(50ms);  // a shadow started by any of them starts now
  EXPECT_EQ(shadow.calls->load(), 3) << "only the probe may reach the shadow";
  EXPECT_EQ(sh.stats().stopped, 5U);
  EXPECT_FALSE(probe) << "the probe's caller waits for its shadow";
  EXPECT_TRUE(sh.stats().auto_stopped);

  shadow.open->store(true);  // the probe's shadow answers
  run_until(ctx, [&] { return probe.has_value(); });
  ASSERT_TRUE(probe);
  ASSERT_TRUE(probe->shadow) << (probe->shadow_failed ? probe->shadow_failed->message : "");
  EXPECT_FALSE(sh.stats().auto_stopped);
  const auto after = rs::test::run(ctx, call_once(sh, "after"));
  EXPECT_FALSE(after.shadow_failed);
  EXPECT_EQ(shadow.calls->load(), 4);
  EXPECT_EQ(sh.stats().calls, 2U + 1U + 5U + 1U);
}

// A probe whose call is destroyed with its io_context, its shadow still out, is given up at
// once: the next call probes, without waiting for another cool-down.
TEST(AutoStop, AProbeDestroyedWithItsContextLetsTheNextCallProbe) {
  net::io_context ctx;
  Gated shadow;
  GatedShadower sh(EchoBackend{}, shadow,
                   ShadowConfig::full_sample()
                       .auto_stop(rs::AutoStop{0.5, 2, 300ms})
                       .shadow_timeout(std::chrono::hours(1)));
  for (int i = 0; i < 2; ++i) (void)rs::test::run(ctx, call_once(sh, "k" + std::to_string(i)));
  ASSERT_TRUE(sh.stats().auto_stopped);
  shadow.failing->store(false);
  std::this_thread::sleep_for(600ms);  // twice the cool-down
  {
    net::io_context doomed;
    net::co_spawn(doomed, call_once(sh, "probe"), net::detached);
    for (int i = 0; i < 10'000 && shadow.calls->load() != 3; ++i) doomed.run_for(1ms);
  }
  // The probe's call reached the shadow, and was destroyed with its context before it answered.
  EXPECT_EQ(shadow.calls->load(), 3);
  EXPECT_EQ(sh.stats().shadow_abandoned, 1U);
  EXPECT_EQ(sh.stats().calls, 3U);
  shadow.open->store(true);  // later shadows answer at once
  const auto next = rs::test::run(ctx, call_once(sh, "next"));
  ASSERT_FALSE(next.shadow_failed && next.shadow_failed->stopped()) << "the probe was not given up";
  EXPECT_TRUE(next.shadow);
  EXPECT_FALSE(sh.stats().auto_stopped);
}

// The observers of a call stopped by auto_stop see the primary's response.
TEST(AutoStop, ObserversOfAStoppedCallSeeThePrimary) {
  net::io_context ctx;
  Flaky shadow;
  FlakyShadower sh(EchoBackend{}, shadow, stop_after_ten(1h));
  for (int i = 0; i < 10; ++i) (void)call(ctx, sh, "k" + std::to_string(i));
  ASSERT_TRUE(sh.stats().auto_stopped);
  auto seen = std::make_shared<Seen>();
  sh.on_outcome([seen](const rs::ShadowOutcome& out) { (*seen)(out); });

  const auto inline_out = call(ctx, sh, "inline");
  EXPECT_EQ(inline_out.primary.body, "inline");
  const auto detached_primary =
      rs::test::run(ctx, [](FlakyShadower s) -> net::awaitable<ResponseRecord> {
        co_return co_await s.call_detached("detached");
      }(sh));
  EXPECT_EQ(detached_primary.body, "detached");
  ctx.restart();
  ctx.run();

  std::lock_guard lock(seen->mutex);
  ASSERT_EQ(seen->outcomes.size(), 2U);
  for (const auto& [out, body] :
       {std::pair{&seen->outcomes[0], "inline"}, std::pair{&seen->outcomes[1], "detached"}}) {
    EXPECT_EQ(out->primary.status, 200) << body;
    EXPECT_EQ(out->primary.body, body);
    ASSERT_TRUE(out->shadow_failed) << body;
    EXPECT_TRUE(out->shadow_failed->stopped()) << body;
  }
}

// A stopped call whose primary throws tells no observer: there is no primary response to show.
TEST(AutoStop, AStoppedCallWhosePrimaryThrowsTellsNoObserver) {
  struct FailOnBoom {
    net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
      if (rs::test::text(input) == "boom") throw std::runtime_error("primary down");
      co_return ResponseRecord::success(rs::test::text(input));
    }
  };
  net::io_context ctx;
  Flaky shadow;
  rs::Shadower<FailOnBoom, Flaky> sh(FailOnBoom{}, shadow, stop_after_ten(1h));
  auto once = [](rs::Shadower<FailOnBoom, Flaky> s,
                 std::string k) -> net::awaitable<rs::ShadowOutcome> {
    co_return co_await s.call(k);
  };
  for (int i = 0; i < 10; ++i) (void)rs::test::run(ctx, once(sh, "k" + std::to_string(i)));
  ASSERT_TRUE(sh.stats().auto_stopped);
  auto seen = std::make_shared<Seen>();
  sh.on_outcome([seen](const rs::ShadowOutcome& out) { (*seen)(out); });
  EXPECT_THROW((void)rs::test::run(ctx, once(sh, "boom")), std::runtime_error);
  std::lock_guard lock(seen->mutex);
  EXPECT_TRUE(seen->outcomes.empty());
  EXPECT_EQ(sh.stats().primary_failed, 1U);
  EXPECT_EQ(sh.stats().stopped, 1U);
}
