// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// ShadowConfig::auto_stop: the circuit breaker that stops shadowing a failing candidate.
#include <request_shadow/shadower.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

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
  asio::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    ++*calls;
    if (*failing) throw std::runtime_error("candidate down");
    co_return ResponseRecord::success(rs::test::text(input));
  }
};

using FlakyShadower = rs::Shadower<EchoBackend, Flaky>;

rs::ShadowOutcome call(asio::io_context& ctx, const FlakyShadower& sh, std::string key) {
  return rs::test::run(ctx,
                       [](FlakyShadower s, std::string k) -> asio::awaitable<rs::ShadowOutcome> {
                         co_return co_await s.call(k);
                       }(sh, std::move(key)));
}

ShadowConfig stop_after_ten(std::chrono::steady_clock::duration cooldown) {
  return ShadowConfig::full_sample().auto_stop(rs::AutoStop{0.5, 10, cooldown});
}

}  // namespace

TEST(AutoStop, StopsShadowingACandidateThatKeepsFailing) {
  asio::io_context ctx;
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
  asio::io_context ctx;
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
  asio::io_context ctx;
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
  asio::io_context ctx;
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
  asio::io_context ctx;
  Flaky shadow;
  FlakyShadower sh(EchoBackend{}, shadow, stop_after_ten(1h));
  for (int i = 0; i < 30; ++i) {
    const auto primary =
        rs::test::run(ctx, [](FlakyShadower s, std::string k) -> asio::awaitable<ResponseRecord> {
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

// A probe whose call is never awaited never reports; another call probes after a cool-down.
TEST(AutoStop, ADroppedProbeIsGivenUp) {
  asio::io_context ctx;
  Flaky shadow;
  FlakyShadower sh(EchoBackend{}, shadow, stop_after_ten(20ms));
  for (int i = 0; i < 10; ++i) (void)call(ctx, sh, "k" + std::to_string(i));
  EXPECT_TRUE(sh.stats().auto_stopped);
  shadow.failing->store(false);
  std::this_thread::sleep_for(200ms);
  { auto dropped = sh.call("probe that is never awaited"); }
  EXPECT_TRUE(call(ctx, sh, "while probing").shadow_failed->stopped());
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(call(ctx, sh, "second probe").shadow) << "the breaker stayed in its probe";
  EXPECT_FALSE(sh.stats().auto_stopped);
}
