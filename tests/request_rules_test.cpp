// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Request rules for the shadow leg: shadow_if, shadow_request and max_shadows_per_second.
#include <request_shadow/shadower.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <request_shadow/asio.hpp>
#include <request_shadow/detail/rate_limiter.hpp>
#include <request_shadow/http_rules.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace rs = request_shadow;
using namespace std::chrono_literals;
using rs::ResponseRecord;
using rs::ShadowConfig;
using rs::test::EchoBackend;

namespace {

template <class P, class S>
net::awaitable<rs::ShadowOutcome> call_owned(rs::Shadower<P, S> sh, std::string input) {
  co_return co_await sh.call(input);
}

template <class P, class S>
rs::ShadowOutcome call_once(net::io_context& ctx, const rs::Shadower<P, S>& sh, std::string input) {
  return rs::test::run(ctx, call_owned(sh, std::move(input)));
}

template <class P, class S>
net::awaitable<ResponseRecord> detached_owned(rs::Shadower<P, S> sh, std::string input) {
  co_return co_await sh.call_detached(input);
}

template <class P, class S>
ResponseRecord call_detached(net::io_context& ctx, const rs::Shadower<P, S>& sh,
                             std::string input) {
  return rs::test::run(ctx, detached_owned(sh, std::move(input)));
}

// Echoes the request it was given, but reads it only after suspending twice: by then the
// caller's request, and anything the call made from it on the caller's side, may be gone.
struct LateEchoBackend {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    ++*calls;
    const auto ex = co_await net::this_coro::executor;
    co_await net::post(ex, net::use_awaitable);
    co_await net::post(ex, net::use_awaitable);
    co_return ResponseRecord::success(rs::test::text(input));
  }
};

// Collects the outcomes the observers saw.
struct Seen {
  std::mutex mutex;
  std::vector<rs::ShadowOutcome> outcomes;
  void add(const rs::ShadowOutcome& out) {
    std::lock_guard lock(mutex);
    outcomes.push_back(out);
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return outcomes.size();
  }
};

void run_until_settled(net::io_context& ctx, const auto& sh) {
  ctx.restart();
  for (int i = 0; i < 10'000 && sh.stats().sampled_in_progress != 0; ++i) ctx.run_for(1ms);
}

void expect_sums(const rs::ShadowStats& s) {
  EXPECT_EQ(s.calls, s.sampled + s.skipped_by_sampler + s.filtered);
  EXPECT_EQ(s.sampled, s.shadow_ok + s.shadow_timed_out + s.expired_in_queue + s.shadow_failed +
                           s.shadow_abandoned + s.shed + s.stopped + s.rate_limited +
                           s.sampled_in_progress);
}

const std::string get_request = "GET /api HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer s\r\n\r\n";
const std::string post_request = "POST /api HTTP/1.1\r\nHost: a\r\n\r\nbody";

}  // namespace

// ---- the token bucket, on a clock of the test's own ------------------------------------------

TEST(RateLimiter, HoldsBurstTokensAndRefillsAtTheRate) {
  using Clock = rs::detail::RateLimiter::Clock;
  rs::detail::RateLimiter bucket(10, 3);  // 10 per second, 3 at once
  const Clock::time_point t0{std::chrono::hours(1)};
  EXPECT_TRUE(bucket.try_take(t0));
  EXPECT_TRUE(bucket.try_take(t0));
  EXPECT_TRUE(bucket.try_take(t0));
  EXPECT_FALSE(bucket.try_take(t0));
  EXPECT_FALSE(bucket.try_take(t0 + 99ms));
  EXPECT_TRUE(bucket.try_take(t0 + 100ms));  // one token back after 1/10 s
  EXPECT_FALSE(bucket.try_take(t0 + 100ms));
  // A long quiet spell fills the bucket up to its depth, no more.
  const auto later = t0 + 1h;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.try_take(later)) << i;
  EXPECT_FALSE(bucket.try_take(later));
}

TEST(RateLimiter, AFractionalRateAndAClockThatGoesBackDoNotBreakIt) {
  using Clock = rs::detail::RateLimiter::Clock;
  rs::detail::RateLimiter bucket(0.5, 1);  // one every 2 s
  const Clock::time_point t0{std::chrono::hours(1)};
  EXPECT_TRUE(bucket.try_take(t0));
  EXPECT_FALSE(bucket.try_take(t0 + 1999ms));
  EXPECT_FALSE(bucket.try_take(t0 - 1h));
  EXPECT_TRUE(bucket.try_take(t0 + 2s));
  rs::detail::RateLimiter tiny(1e-300, 1e300);  // clamped, not overflowed
  EXPECT_TRUE(tiny.try_take(t0));
  rs::detail::RateLimiter huge(1e300, 1);
  EXPECT_TRUE(huge.try_take(t0));
  EXPECT_TRUE(huge.try_take(t0 + 1ns));
}

// Threads racing for the tokens of one instant take exactly the bucket's depth between them.
TEST(RateLimiter, ThreadsTakeExactlyTheBurstBetweenThem) {
  rs::detail::RateLimiter bucket(1e-3, 100);
  const auto now = rs::detail::RateLimiter::Clock::now();
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (bucket.try_take(now)) ++taken;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(taken.load(), 100);
}

TEST(ShadowConfig, RateCapIsCheckedAndItsBurstDefaultsToOneSecond) {
  EXPECT_THROW(ShadowConfig().max_shadows_per_second(0), std::invalid_argument);
  EXPECT_THROW(ShadowConfig().max_shadows_per_second(-1), std::invalid_argument);
  EXPECT_THROW(ShadowConfig().max_shadows_per_second(std::nan("")), std::invalid_argument);
  EXPECT_THROW(ShadowConfig().max_shadows_per_second(std::numeric_limits<double>::infinity()),
               std::invalid_argument);
  EXPECT_THROW(ShadowConfig().max_shadows_per_second(1, -1), std::invalid_argument);
  EXPECT_FALSE(ShadowConfig().max_shadows_per_second());
  const auto cap = ShadowConfig().max_shadows_per_second(2.5).max_shadows_per_second();
  ASSERT_TRUE(cap);
  EXPECT_EQ(cap->per_second, 2.5);
  EXPECT_EQ(cap->burst, 3);
  EXPECT_EQ(ShadowConfig().max_shadows_per_second(0.1).max_shadows_per_second()->burst, 1);
  EXPECT_EQ(ShadowConfig().max_shadows_per_second(5, 0.5).max_shadows_per_second()->burst, 1);
  EXPECT_EQ(ShadowConfig().max_shadows_per_second(5, 20).max_shadows_per_second()->burst, 20);
}

// ---- shadow_if -------------------------------------------------------------------------------

TEST(ShadowIf, ARefusedRequestIsNeverShadowedAndIsCountedAsFiltered) {
  net::io_context ctx;
  auto shadow = std::make_shared<EchoBackend>();
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().shadow_if(rs::http_safe_methods()));
  const auto refused = call_once(ctx, sh, post_request);
  EXPECT_EQ(refused.primary.body, post_request);
  EXPECT_FALSE(refused.shadow);
  EXPECT_FALSE(refused.skipped_by_sampler);
  ASSERT_TRUE(refused.shadow_failed);
  EXPECT_TRUE(refused.shadow_failed->filtered());
  EXPECT_EQ(shadow->probe->calls.load(), 0);
  EXPECT_EQ(call_detached(ctx, sh, post_request).body, post_request);
  EXPECT_EQ(shadow->probe->calls.load(), 0);

  const auto allowed = call_once(ctx, sh, get_request);
  ASSERT_TRUE(allowed.shadow);
  EXPECT_EQ(shadow->probe->calls.load(), 1);
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, 3U);
  EXPECT_EQ(s.filtered, 2U);
  EXPECT_EQ(s.sampled, 1U);
  EXPECT_EQ(s.skipped_by_sampler, 0U);
  EXPECT_EQ(s.rule_errors, 0U);
  expect_sums(s);
}

TEST(ShadowIf, RunsBeforeTheSamplerWhichNeverSeesARefusedRequest) {
  net::io_context ctx;
  auto keys = std::make_shared<std::atomic<int>>(0);
  rs::Shadower sh(EchoBackend{}, EchoBackend{},
                  ShadowConfig::full_sample()
                      .sample_rate(50)
                      .shadow_if(rs::http_safe_methods())
                      .key_extractor([keys](std::string_view request) {
                        ++*keys;
                        return std::string(request);
                      }));
  (void)call_once(ctx, sh, post_request);
  EXPECT_EQ(keys->load(), 0);
  (void)call_once(ctx, sh, get_request);
  EXPECT_EQ(keys->load(), 1);
  const auto s = sh.stats();
  EXPECT_EQ(s.filtered, 1U);
  EXPECT_EQ(s.skipped_by_sampler + s.sampled, 1U);
  expect_sums(s);
}

TEST(ShadowIf, APredicateThatThrowsRefusesTheRequestAndIsCounted) {
  net::io_context ctx;
  auto shadow = std::make_shared<EchoBackend>();
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().shadow_if([](std::string_view request) -> bool {
                    if (request == "bad") throw std::runtime_error("cannot read it");
                    if (request == "worse") throw 42;
                    return true;
                  }));
  auto seen = std::make_shared<Seen>();
  sh.on_outcome([seen](const rs::ShadowOutcome& out) { seen->add(out); });
  const auto out = call_once(ctx, sh, "bad");
  EXPECT_EQ(out.primary.body, "bad");
  ASSERT_TRUE(out.shadow_failed);
  EXPECT_TRUE(out.shadow_failed->filtered());
  EXPECT_EQ(out.shadow_failed->message, "shadow_if threw");
  EXPECT_EQ(call_detached(ctx, sh, "worse").body, "worse");
  EXPECT_EQ(shadow->probe->calls.load(), 0);
  EXPECT_EQ(seen->size(), 0U);  // not sampled: observers see no filtered call
  EXPECT_TRUE(call_once(ctx, sh, "fine").shadow);
  const auto s = sh.stats();
  EXPECT_EQ(s.filtered, 2U);
  EXPECT_EQ(s.rule_errors, 2U);
  EXPECT_EQ(s.matched, 1U);
  expect_sums(s);
}

// ---- shadow_request --------------------------------------------------------------------------

TEST(ShadowRequest, OnlyTheShadowGetsTheRewrittenRequestAndTheLogKeepsTheOriginal) {
  net::io_context ctx;
  rs::Shadower sh(
      EchoBackend{}, EchoBackend{},
      ShadowConfig::full_sample().shadow_request(rs::http_strip_headers({"authorization"})));
  const auto out = call_once(ctx, sh, get_request);
  EXPECT_EQ(out.primary.body, get_request);
  ASSERT_TRUE(out.shadow);
  EXPECT_EQ(out.shadow->body, "GET /api HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(out.divergence);  // the echo shows the difference the rewrite made
  const auto log = sh.divergences();
  ASSERT_EQ(log.size(), 1U);
  // The log redacts credentials in its key: the original's Authorization line is there.
  EXPECT_EQ(log[0].key, "GET /api HTTP/1.1\r\nHost: a\r\nAuthorization: [redacted]\r\n\r\n");
}

TEST(ShadowRequest, ADetachedShadowOwnsTheRewrittenRequestAndTheLogKeepsTheOriginal) {
  net::io_context ctx;
  LateEchoBackend shadow;
  auto seen = std::make_shared<Seen>();
  rs::Shadower sh(EchoBackend{}, shadow,
                  ShadowConfig::full_sample().shadow_request(
                      [](std::string_view request) { return std::string(request) + "+shadow"; }));
  sh.on_outcome([seen](const rs::ShadowOutcome& out) { seen->add(out); });
  for (int i = 0; i < 20; ++i) {
    // The caller's request and the rewrite both die before the shadow reads its copy.
    EXPECT_EQ(call_detached(ctx, sh, "req-" + std::to_string(i)).body, "req-" + std::to_string(i));
  }
  run_until_settled(ctx, sh);
  ASSERT_EQ(seen->size(), 20U);
  for (const auto& out : seen->outcomes) {
    ASSERT_TRUE(out.shadow);
    EXPECT_EQ(out.shadow->body, out.primary.body + "+shadow");
  }
  const auto log = sh.divergences();
  ASSERT_EQ(log.size(), 20U);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(log[static_cast<std::size_t>(i)].key, "req-" + std::to_string(i));
  EXPECT_EQ(*shadow.calls, 20);
}

TEST(ShadowRequest, ARewriteThatThrowsLeavesTheCallUnshadowedAndIsCounted) {
  net::io_context ctx;
  auto shadow = std::make_shared<EchoBackend>();
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample()
                      .auto_stop(rs::AutoStop{0.5, 2, 1h})
                      .shadow_request([](std::string_view request) -> std::string {
                        if (request.starts_with("bad")) throw std::runtime_error("no rewrite");
                        return std::string(request);
                      }));
  for (int i = 0; i < 4; ++i) {
    const auto out = call_once(ctx, sh, "bad-" + std::to_string(i));
    EXPECT_EQ(out.primary.body, "bad-" + std::to_string(i));
    ASSERT_TRUE(out.shadow_failed);
    EXPECT_EQ(out.shadow_failed->kind, rs::ShadowFailureKind::Failed);
    EXPECT_EQ(out.shadow_failed->message, "shadow_request threw: no rewrite");
  }
  EXPECT_EQ(call_detached(ctx, sh, "bad-detached").body, "bad-detached");
  EXPECT_EQ(shadow->probe->calls.load(), 0);
  // Not the candidate's failure: auto_stop did not stop shadowing.
  EXPECT_TRUE(call_once(ctx, sh, "good").shadow);
  const auto s = sh.stats();
  EXPECT_EQ(s.rule_errors, 5U);
  EXPECT_EQ(s.shadow_failed, 5U);
  EXPECT_EQ(s.auto_stops, 0U);
  EXPECT_EQ(s.matched, 1U);
  expect_sums(s);
}

// ---- max_shadows_per_second ------------------------------------------------------------------

// A rate of one per 1000 s with a depth of 2: exactly two legs start, however slow the machine.
TEST(MaxShadowsPerSecond, CallsOverTheCapArePrimaryOnlyAndCounted) {
  net::io_context ctx;
  auto shadow = std::make_shared<EchoBackend>();
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().max_shadows_per_second(1e-3, 2));
  auto seen = std::make_shared<Seen>();
  sh.on_outcome([seen](const rs::ShadowOutcome& out) { seen->add(out); });
  int shadowed = 0;
  for (int i = 0; i < 10; ++i) {
    const auto out = call_once(ctx, sh, "req-" + std::to_string(i));
    EXPECT_EQ(out.primary.body, "req-" + std::to_string(i));
    if (out.shadow) {
      ++shadowed;
    } else {
      ASSERT_TRUE(out.shadow_failed);
      EXPECT_TRUE(out.shadow_failed->rate_limited());
    }
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(call_detached(ctx, sh, "d").body, "d");
  EXPECT_EQ(shadowed, 2);
  EXPECT_EQ(shadow->probe->calls.load(), 2);
  EXPECT_EQ(seen->size(), 15U);  // sampled calls: observers see the rate-limited ones too
  const auto s = sh.stats();
  EXPECT_EQ(s.rate_limited, 13U);
  EXPECT_EQ(s.sampled, 15U);
  EXPECT_EQ(s.matched, 2U);
  expect_sums(s);
}

TEST(MaxShadowsPerSecond, CallsTheSamplerOrTheFilterLeaveOutTakeNoToken) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{},
                  ShadowConfig::full_sample()
                      .sample_rate(0)
                      .shadow_if(rs::http_safe_methods())
                      .max_shadows_per_second(1e-3, 1));
  for (int i = 0; i < 5; ++i) (void)call_once(ctx, sh, get_request);
  for (int i = 0; i < 5; ++i) (void)call_once(ctx, sh, post_request);
  sh.set_sample_rate(100);
  EXPECT_TRUE(call_once(ctx, sh, get_request).shadow);  // the one token is still there
  const auto last = call_once(ctx, sh, get_request);
  ASSERT_TRUE(last.shadow_failed);
  EXPECT_TRUE(last.shadow_failed->rate_limited());
  const auto s = sh.stats();
  EXPECT_EQ(s.skipped_by_sampler, 5U);
  EXPECT_EQ(s.filtered, 5U);
  EXPECT_EQ(s.rate_limited, 1U);
  expect_sums(s);
}

// ---- all of them, shared by threads -----------------------------------------------------------

// One config, its rules and its bucket shared by four threads, each with its own io_context.
TEST(RequestRules, AreSafeToShareBetweenThreads) {
  constexpr int threads_count = 4;
  constexpr int each = 200;
  rs::Shadower sh(EchoBackend{}, EchoBackend{},
                  ShadowConfig::full_sample()
                      .shadow_if(rs::http_safe_methods())
                      .shadow_request(rs::http_strip_headers({"authorization"}))
                      .key_extractor(rs::http_header_key("host"))
                      .max_shadows_per_second(1e-3, 100));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_count; ++t) {
    threads.emplace_back([&sh, &wrong] {
      net::io_context ctx;
      for (int i = 0; i < each; ++i) {
        const std::string& request = i % 2 == 0 ? get_request : post_request;
        const auto out = call_once(ctx, sh, request);
        if (out.primary.body != request) ++wrong;
        if (out.shadow && out.shadow->body != "GET /api HTTP/1.1\r\nHost: a\r\n\r\n") ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, static_cast<std::uint64_t>(threads_count * each));
  EXPECT_EQ(s.filtered, static_cast<std::uint64_t>(threads_count * each / 2));
  EXPECT_EQ(s.shadow_ok, 100U);
  EXPECT_EQ(s.rate_limited, static_cast<std::uint64_t>(threads_count * each / 2 - 100));
  expect_sums(s);
}
