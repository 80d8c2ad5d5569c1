// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/shadower.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <request_shadow/asio.hpp>
#include <stdexcept>
#include <string>
#include <variant>

#include "test_support.hpp"

namespace rs = request_shadow;
using namespace std::chrono_literals;
using rs::ResponseRecord;
using rs::ShadowConfig;
using rs::test::ConstantBackend;
using rs::test::DelayedBackend;
using rs::test::EchoBackend;
using rs::test::Probe;
using rs::test::ThrowingBackend;
using Clock = std::chrono::steady_clock;

namespace {

// "Promptly", for a call whose slow alternative is an hour: a margin no loaded CI machine misses.
constexpr auto prompt = 10s;

// Owns its copies, so nothing it uses dies at a suspension.
template <class P, class S>
net::awaitable<rs::ShadowOutcome> call_owned(rs::Shadower<P, S> sh, std::string input) {
  co_return co_await sh.call(input);
}

template <class P, class S>
rs::ShadowOutcome call_once(net::io_context& ctx, const rs::Shadower<P, S>& shadower,
                            std::string input) {
  return rs::test::run(ctx, call_owned(shadower, std::move(input)));
}

template <class P, class S>
net::awaitable<rs::ShadowOutcome> call_bytes(rs::Shadower<P, S> sh, std::string input) {
  co_return co_await sh.call(std::as_bytes(std::span(input.data(), input.size())));
}

}  // namespace

TEST(Shadower, IdenticalResponsesGiveNoDivergence) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{});
  const auto out = call_once(ctx, sh, "ping");
  EXPECT_EQ(out.primary.body, "ping");
  ASSERT_TRUE(out.shadow);
  EXPECT_EQ(out.shadow->body, "ping");
  EXPECT_FALSE(out.divergence);
  EXPECT_FALSE(out.skipped_by_sampler);
  EXPECT_FALSE(out.shadow_failed);
  EXPECT_EQ(sh.divergence_count(), 0U);
  EXPECT_TRUE(sh.divergences().empty());
  EXPECT_EQ(sh.stats().matched, 1U);
}

TEST(Shadower, ReportsBodyDivergenceAndReturnsPrimary) {
  net::io_context ctx;
  rs::Shadower sh(ConstantBackend{ResponseRecord::success("hello world")},
                  ConstantBackend{ResponseRecord::success("hello earth")});
  const auto out = call_once(ctx, sh, "req");
  EXPECT_EQ(out.primary.body, "hello world");
  ASSERT_TRUE(out.divergence && out.divergence->body);
  EXPECT_EQ(*out.divergence->body,
            (rs::BodyDiff{11, 11, 6, "hello world", "hello earth", {}, {}, false, {}}));
  EXPECT_EQ(sh.divergence_count(), 1U);
  const auto log = sh.divergences();
  ASSERT_EQ(log.size(), 1U);
  EXPECT_EQ(log[0].key, "req");
  EXPECT_EQ(log[0].divergence, *out.divergence);
}

TEST(Shadower, ReportsStatusAndHeaderDivergence) {
  net::io_context ctx;
  rs::Shadower sh(
      ConstantBackend{ResponseRecord::success("{}").with_header("Content-Type", "text/plain")},
      ConstantBackend{ResponseRecord::failure(500, "{}")
                          .with_header("content-type", "application/json")
                          .with_header("X-V2", "1")});
  const auto out = call_once(ctx, sh, "req");
  EXPECT_EQ(out.primary.status, 200);
  ASSERT_TRUE(out.divergence);
  ASSERT_TRUE(out.divergence->status);
  EXPECT_EQ(out.divergence->status->primary, 200);
  EXPECT_EQ(out.divergence->status->shadow, 500);
  ASSERT_TRUE(out.divergence->headers);
  EXPECT_EQ(out.divergence->headers->changed, std::vector<std::string>{"content-type"});
  EXPECT_EQ(out.divergence->headers->added, std::vector<std::string>{"x-v2"});
  EXPECT_FALSE(out.divergence->body);
  const auto stats = sh.stats();
  EXPECT_EQ(stats.diverged_status, 1U);
  EXPECT_EQ(stats.diverged_headers, 1U);
  EXPECT_EQ(stats.diverged_body, 0U);
}

TEST(Shadower, IgnoreBodySilencesABodyDifference) {
  net::io_context ctx;
  rs::Shadower sh(ConstantBackend{ResponseRecord::success("a")},
                  ConstantBackend{ResponseRecord::success("b")},
                  ShadowConfig::full_sample().ignore(rs::IgnoreField::Body));
  const auto out = call_once(ctx, sh, "req");
  EXPECT_TRUE(out.shadow);
  EXPECT_FALSE(out.divergence);
  EXPECT_EQ(sh.divergence_count(), 0U);
}

TEST(Shadower, SamplingAtZeroNeverCallsTheShadow) {
  net::io_context ctx;
  auto shadow = std::make_shared<EchoBackend>();
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().sample_rate(0));
  for (int i = 0; i < 50; ++i) {
    const auto out = call_once(ctx, sh, "req-" + std::to_string(i));
    EXPECT_TRUE(out.skipped_by_sampler);
    EXPECT_FALSE(out.shadow);
    EXPECT_EQ(out.primary.body, "req-" + std::to_string(i));
  }
  EXPECT_EQ(shadow->probe->calls.load(), 0);
  EXPECT_EQ(sh.stats().skipped_by_sampler, 50U);
  EXPECT_EQ(sh.stats().calls, 50U);
}

TEST(Shadower, SamplingIsStickyPerKey) {
  net::io_context ctx;
  auto shadow = std::make_shared<EchoBackend>();
  const auto cfg = ShadowConfig::full_sample().sample_rate(50);
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow, cfg);
  int expected_calls = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string key = "user-" + std::to_string(i);
    const bool in = cfg.should_shadow(key);
    for (int repeat = 0; repeat < 3; ++repeat) {
      const auto out = call_once(ctx, sh, key);
      EXPECT_EQ(out.skipped_by_sampler, !in) << key;
      EXPECT_EQ(out.shadow.has_value(), in) << key;
      expected_calls += in ? 1 : 0;
    }
  }
  EXPECT_EQ(shadow->probe->calls.load(), expected_calls);
}

TEST(Shadower, SlowShadowTimesOutWithoutBlockingThePrimary) {
  net::io_context ctx;
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{1h});
  rs::Shadower sh(std::make_shared<ConstantBackend>(ConstantBackend{ResponseRecord::success("v1")}),
                  shadow, ShadowConfig::full_sample().shadow_timeout(50ms));
  const auto out = call_once(ctx, sh, "req");
  EXPECT_EQ(out.primary.body, "v1");
  ASSERT_TRUE(out.shadow_failed);
  EXPECT_TRUE(out.shadow_failed->timed_out());
  EXPECT_NE(out.shadow_failed->message.find("timed out"), std::string::npos);
  EXPECT_FALSE(out.shadow);
  EXPECT_FALSE(out.divergence);
  EXPECT_EQ(sh.divergence_count(), 0U);
  // The abandoned shadow was asked to stop, and it did.
  ctx.restart();
  ctx.run();
  EXPECT_EQ(shadow->probe->cancelled.load(), 1);
  EXPECT_EQ(sh.stats().shadow_timed_out, 1U);
}

// The deadline holds against a shadow that ignores cancellation and finishes after 2 s.
TEST(Shadower, DeadlineHoldsAgainstAShadowThatIgnoresCancellation) {
  net::io_context ctx;
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{2s, false});
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().shadow_timeout(50ms));
  const auto start = Clock::now();
  const auto out = call_once(ctx, sh, "req");
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, 50ms);
  EXPECT_LT(elapsed, 1500ms) << "the caller waited for the stubborn shadow";
  ASSERT_TRUE(out.shadow_failed);
  EXPECT_TRUE(out.shadow_failed->timed_out());
  EXPECT_EQ(out.primary.body, "req");
  EXPECT_EQ(shadow->probe->completed.load(), 0);

  // The abandoned shadow finishes on its own later; its late answer is dropped.
  ctx.restart();
  ctx.run();
  EXPECT_EQ(shadow->probe->completed.load(), 1);
  EXPECT_EQ(shadow->probe->frames.load(), 0);
  const auto stats = sh.stats();
  EXPECT_EQ(stats.shadow_timed_out, 1U);
  EXPECT_EQ(stats.shadow_ok, 0U);
  EXPECT_EQ(stats.diverged + stats.matched, 0U);
}

TEST(Shadower, AbandonedShadowIsSafeWhenTheIoContextDiesFirst) {
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{1h, false});
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().shadow_timeout(20ms));
  {
    net::io_context ctx;
    const auto out = call_once(ctx, sh, "req");
    ASSERT_TRUE(out.shadow_failed);
    EXPECT_TRUE(out.shadow_failed->timed_out());
    EXPECT_EQ(shadow->probe->frames.load(), 1);  // still running
  }
  // Destroying the io_context destroyed the pending shadow frame, and nothing else.
  EXPECT_EQ(shadow->probe->frames.load(), 0);
  EXPECT_EQ(shadow->probe->completed.load(), 0);
  EXPECT_EQ(sh.stats().shadow_timed_out, 1U);
}

TEST(Shadower, FailingShadowDoesNotWaitForTheDeadline) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, ThrowingBackend<>{"candidate exploded"},
                  ShadowConfig::full_sample().shadow_timeout(1h));
  const auto start = Clock::now();
  const auto out = call_once(ctx, sh, "req");
  EXPECT_LT(Clock::now() - start, prompt);
  EXPECT_EQ(out.primary.body, "req");
  ASSERT_TRUE(out.shadow_failed);
  EXPECT_FALSE(out.shadow_failed->timed_out());
  EXPECT_EQ(out.shadow_failed->message, "candidate exploded");
  EXPECT_EQ(sh.stats().shadow_failed, 1U);
}

TEST(Shadower, ShadowThrowingANonStandardExceptionIsReported) {
  net::io_context ctx;
  struct Weird {  // not a std::exception
    explicit Weird(const std::string&) {}
  };
  rs::Shadower weird(EchoBackend{}, ThrowingBackend<Weird>{"x"});
  const auto out = call_once(ctx, weird, "req");
  ASSERT_TRUE(out.shadow_failed);
  EXPECT_EQ(out.shadow_failed->message, "unknown exception");
  EXPECT_EQ(out.primary.body, "req");
}

namespace {
struct PrimaryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace

TEST(Shadower, PrimaryExceptionReachesTheCallerUnchangedAndPromptly) {
  net::io_context ctx;
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{1h, false});
  rs::Shadower sh(
      std::make_shared<ThrowingBackend<PrimaryError>>(ThrowingBackend<PrimaryError>{"boom"}),
      shadow, ShadowConfig::full_sample().shadow_timeout(1h));
  const auto start = Clock::now();
  try {
    (void)call_once(ctx, sh, "req");
    FAIL() << "the primary's exception was swallowed";
  } catch (const PrimaryError& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
  EXPECT_LT(Clock::now() - start, prompt);
  const auto stats = sh.stats();
  EXPECT_EQ(stats.primary_failed, 1U);
  EXPECT_EQ(stats.shadow_abandoned, 1U);
}

TEST(Shadower, PrimaryExceptionWithSamplingOff) {
  net::io_context ctx;
  rs::Shadower sh(ThrowingBackend<PrimaryError>{"down"}, EchoBackend{},
                  ShadowConfig::full_sample().sample_rate(0));
  EXPECT_THROW((void)call_once(ctx, sh, "req"), PrimaryError);
  EXPECT_EQ(sh.stats().primary_failed, 1U);
}

namespace {

// Races `call` against the caller's own 20 ms timer; returns which side won.
template <class P, class S>
net::awaitable<std::size_t> race_with_timer(rs::Shadower<P, S> sh, std::string key = "req") {
  using namespace net::experimental::awaitable_operators;
  const auto ex = co_await net::this_coro::executor;
  net::steady_timer timer(ex, 20ms);
  auto call = sh.call(key);
  auto wait = timer.async_wait(net::use_awaitable);
  const auto winner = co_await (std::move(call) || std::move(wait));
  co_return winner.index();
}

}  // namespace

TEST(Shadower, CallerCancellationCancelsThePrimaryAndReleasesTheCaller) {
  net::io_context ctx;
  auto primary = std::make_shared<DelayedBackend>(DelayedBackend{1h, true});
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{1h, false});
  rs::Shadower sh(primary, shadow, ShadowConfig::full_sample().shadow_timeout(1h));
  const auto start = Clock::now();
  EXPECT_EQ(rs::test::run(ctx, race_with_timer(sh)), 1U);  // the caller's timer won
  EXPECT_LT(Clock::now() - start, prompt);
  EXPECT_EQ(primary->probe->cancelled.load(), 1);
  EXPECT_EQ(sh.stats().cancelled, 1U);
  EXPECT_EQ(sh.stats().shadow_abandoned, 1U);
  EXPECT_EQ(sh.stats().primary_failed, 0U);
}

TEST(Shadower, CallerCancellationWhileWaitingForTheShadow) {
  net::io_context ctx;
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{1h, false});
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().shadow_timeout(1h));
  const auto start = Clock::now();
  EXPECT_EQ(rs::test::run(ctx, race_with_timer(sh)), 1U);
  EXPECT_LT(Clock::now() - start, prompt);
  EXPECT_EQ(sh.stats().cancelled, 1U);
  EXPECT_EQ(sh.stats().shadow_abandoned, 1U);
  EXPECT_EQ(shadow->probe->frames.load(), 1);  // abandoned, still running on its own
}

TEST(Shadower, FastCallIsNotCancelledByTheLosingTimer) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{});
  EXPECT_EQ(rs::test::run(ctx, race_with_timer(sh)), 0U);
  EXPECT_EQ(sh.stats().matched, 1U);
  EXPECT_EQ(sh.stats().cancelled, 0U);
}

TEST(Shadower, LogRecordsTheMostRecentDivergences) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{"-", "!"});
  sh.with_log(3);
  EXPECT_EQ(sh.log()->capacity(), 3U);
  for (int i = 0; i < 6; ++i) (void)call_once(ctx, sh, "k-" + std::to_string(i));
  (void)call_once(ctx, sh, "same");  // matches: not logged
  const auto log = sh.divergences();
  ASSERT_EQ(log.size(), 3U);
  EXPECT_EQ(log[0].key, "k-3");
  EXPECT_EQ(log[1].key, "k-4");
  EXPECT_EQ(log[2].key, "k-5");
  EXPECT_EQ(sh.divergence_count(), 6U);
}

TEST(Shadower, CopiesShareLogAndCounters) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{"x", "!"});
  auto copy = sh;
  copy.with_log(0);  // installs on both
  (void)call_once(ctx, sh, "x");
  (void)call_once(ctx, copy, "x");
  EXPECT_EQ(sh.divergence_count(), 2U);
  EXPECT_EQ(copy.divergence_count(), 2U);
  EXPECT_TRUE(sh.divergences().empty());
  EXPECT_EQ(sh.log(), copy.log());
  EXPECT_THROW(sh.with_log(std::shared_ptr<rs::DivergenceLog>{}), std::invalid_argument);
}

TEST(Shadower, CallWithBytes) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{});
  const std::string input("a\0b", 3);
  const auto out = rs::test::run(ctx, call_bytes(sh, input));
  EXPECT_EQ(out.primary.body, input);
  EXPECT_FALSE(out.divergence);
}

TEST(Shadower, TenMegabyteResponsesEndToEnd) {
  net::io_context ctx;
  std::string big(10U * 1024U * 1024U, 'a');
  std::string other = big;
  other[other.size() - 3] = '\0';
  rs::Shadower sh(ConstantBackend{ResponseRecord::success(big)},
                  ConstantBackend{ResponseRecord::success(other)});
  const auto out = call_once(ctx, sh, "big");
  EXPECT_EQ(out.primary.body.size(), big.size());
  ASSERT_TRUE(out.divergence && out.divergence->body);
  EXPECT_EQ(out.divergence->body->primary_len, big.size());
  EXPECT_EQ(out.divergence->body->shadow_len, big.size());
  EXPECT_EQ(out.divergence->body->prefix_equal_bytes, big.size() - 3);
  EXPECT_EQ(out.divergence->body->shadow_excerpt, "...aaaaaaaaaaaaaaaa\\x00aa");
}

TEST(Shadower, StatsAddUp) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{"odd", "!"},
                  ShadowConfig::full_sample().sample_rate(60));
  for (int i = 0; i < 100; ++i) {
    (void)call_once(ctx, sh, (i % 2 == 0 ? "even-" : "odd-") + std::to_string(i));
  }
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, 100U);
  EXPECT_EQ(s.sampled + s.skipped_by_sampler, s.calls);
  EXPECT_EQ(
      s.shadow_ok + s.shadow_failed + s.shadow_timed_out + s.expired_in_queue + s.shadow_abandoned,
      s.sampled);
  EXPECT_EQ(s.matched + s.diverged, s.shadow_ok);
  EXPECT_GT(s.diverged, 0U);
  EXPECT_GT(s.matched, 0U);
  EXPECT_EQ(s.diverged, sh.divergence_count());
}

TEST(Shadower, CancelledCallerIsReleasedWhenAPrimaryThatIgnoresCancellationReturns) {
  net::io_context ctx;
  // The primary ignores cancellation (and turns off throw-on-cancel) and answers after 100 ms.
  auto primary = std::make_shared<DelayedBackend>(DelayedBackend{100ms, false});
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{1h, false});
  rs::Shadower sh(primary, shadow, ShadowConfig::full_sample().shadow_timeout(30s));
  const auto start = Clock::now();
  EXPECT_EQ(rs::test::run(ctx, race_with_timer(sh)), 1U);
  EXPECT_LT(Clock::now() - start, prompt) << "the cancelled caller waited for the shadow deadline";
  EXPECT_EQ(primary->probe->completed.load(), 1);
  EXPECT_EQ(sh.stats().cancelled, 1U);
  EXPECT_EQ(sh.stats().shadow_abandoned, 1U);
}

TEST(Shadower, CallerCancellationReachesAShadowThatHonoursIt) {
  net::io_context ctx;
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{1h, true});
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().shadow_timeout(1h));
  EXPECT_EQ(rs::test::run(ctx, race_with_timer(sh)), 1U);
  ctx.restart();
  ctx.run();  // returns only once the cancelled shadow has unwound
  EXPECT_EQ(shadow->probe->calls.load(), 1);
  EXPECT_EQ(shadow->probe->cancelled.load(), 1);
  EXPECT_EQ(shadow->probe->frames.load(), 0);
}

namespace {
// Throws the same exception object on every call.
struct SameErrorBackend {
  std::exception_ptr error = std::make_exception_ptr(PrimaryError("same"));
  net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) {
    std::rethrow_exception(error);
    co_return ResponseRecord{};
  }
};
}  // namespace

TEST(Shadower, PrimaryExceptionIsTheSameObject) {
  net::io_context ctx;
  auto primary = std::make_shared<SameErrorBackend>();
  rs::Shadower sh(primary, std::make_shared<EchoBackend>());
  try {
    (void)call_once(ctx, sh, "req");
    FAIL() << "no exception";
  } catch (...) {
    EXPECT_EQ(std::current_exception(), primary->error);
  }
}

namespace {
// Fails, hangs or diverges depending on the key.
struct MoodyShadow {
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    const std::string key = rs::test::text(input);
    if (key.starts_with("fail")) throw std::runtime_error("no");
    if (key.starts_with("hang")) {
      const auto ex = co_await net::this_coro::executor;
      net::steady_timer t(ex, 1h);
      co_await t.async_wait(net::use_awaitable);
    }
    co_return ResponseRecord::success(key.starts_with("odd") ? key + "!" : key);
  }
};

struct MoodyPrimary {
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    const std::string key = rs::test::text(input);
    if (key.starts_with("pfail")) throw PrimaryError("primary down");
    co_return ResponseRecord::success(key);
  }
};
}  // namespace

TEST(Shadower, StatsAddUpOnEveryPath) {
  net::io_context ctx;
  rs::Shadower sh(MoodyPrimary{}, MoodyShadow{}, ShadowConfig::full_sample().shadow_timeout(200ms));
  const std::vector<std::string> keys = {"same",  "odd1", "fail1", "hang1", "pfail1",
                                         "same2", "odd2", "fail2", "hang2", "pfail2"};
  int primary_errors = 0;
  for (const auto& key : keys) {
    try {
      (void)call_once(ctx, sh, key);
    } catch (const PrimaryError&) {
      ++primary_errors;
    }
  }
  EXPECT_EQ(rs::test::run(ctx, race_with_timer(sh, "hang-cancelled")), 1U);
  const auto s = sh.stats();
  EXPECT_EQ(primary_errors, 2);
  EXPECT_EQ(s.calls, keys.size() + 1);
  EXPECT_EQ(s.cancelled, 1U);
  EXPECT_EQ(s.matched, 2U);
  EXPECT_EQ(s.diverged, 2U);
  EXPECT_EQ(s.shadow_failed, 2U);
  EXPECT_EQ(s.shadow_timed_out, 2U);
  EXPECT_EQ(s.primary_failed, 2U);
  EXPECT_EQ(s.shadow_abandoned, 3U);
  EXPECT_EQ(s.sampled + s.skipped_by_sampler, s.calls);
  EXPECT_EQ(s.shadow_ok + s.shadow_timed_out + s.expired_in_queue + s.shadow_failed +
                s.shadow_abandoned + s.shed,
            s.sampled);
  EXPECT_EQ(s.matched + s.diverged, s.shadow_ok);
}

namespace {
// "user=<id>;<rest>" -> "<id>"
std::string user_of(std::string_view request) {
  const auto start = request.find("user=");
  if (start == std::string_view::npos) throw std::invalid_argument("no user");
  const auto end = request.find(';', start);
  return std::string(
      request.substr(start + 5, end == std::string_view::npos ? end : end - start - 5));
}
}  // namespace

TEST(Shadower, KeyExtractorSamplesAndLogsByUser) {
  net::io_context ctx;
  const auto cfg = ShadowConfig::full_sample().sample_rate(50).key_extractor(user_of);
  rs::Shadower sh(EchoBackend{}, EchoBackend{"user", "!"}, cfg);
  for (int user = 0; user < 30; ++user) {
    const std::string id = std::to_string(user);
    const bool in = cfg.should_shadow(id);
    for (const char* route : {"/a", "/b", "/c"}) {
      const auto out = call_once(ctx, sh, "user=" + id + ";" + route);
      EXPECT_EQ(out.skipped_by_sampler, !in) << id;
    }
  }
  for (const auto& entry : sh.divergences()) {
    EXPECT_EQ(entry.key.find("user="), std::string::npos) << "logged the request, not the key";
  }
  EXPECT_GT(sh.divergence_count(), 0U);
}

TEST(Shadower, KeyExtractorThatThrowsCostsOnlyTheShadow) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{}, ShadowConfig::full_sample().key_extractor(user_of));
  const auto out = call_once(ctx, sh, "no user here");
  EXPECT_EQ(out.primary.body, "no user here");
  EXPECT_TRUE(out.skipped_by_sampler);
}

TEST(Shadower, SampleRateChangesLiveForEveryCopy) {
  net::io_context ctx;
  auto shadow = std::make_shared<EchoBackend>();
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().sample_rate(0));
  auto copy = sh;
  EXPECT_TRUE(call_once(ctx, sh, "k").skipped_by_sampler);
  copy.set_sample_rate(100);
  EXPECT_EQ(sh.sample_rate_ppm(), rs::full_rate_ppm);
  EXPECT_FALSE(call_once(ctx, sh, "k").skipped_by_sampler);
  sh.set_sample_rate_ppm(0);
  EXPECT_TRUE(call_once(ctx, copy, "k").skipped_by_sampler);
  EXPECT_EQ(shadow->probe->calls.load(), 1);

  // Raising the rate keeps every key that was in.
  sh.set_sample_rate(20);
  std::vector<std::string> in;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "key-" + std::to_string(i);
    if (!call_once(ctx, sh, key).skipped_by_sampler) in.push_back(key);
  }
  sh.set_sample_rate(35);
  for (const auto& key : in) EXPECT_FALSE(call_once(ctx, sh, key).skipped_by_sampler) << key;
}

TEST(Shadower, TestModeThrowsMismatchErrorOnDivergence) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{"bad", "!"},
                  ShadowConfig::full_sample().raise_on_mismatch(true));
  EXPECT_EQ(call_once(ctx, sh, "good").primary.body, "good");  // matches: no throw
  try {
    (void)call_once(ctx, sh, "bad");
    FAIL() << "no MismatchError";
  } catch (const rs::MismatchError& e) {
    EXPECT_EQ(e.outcome().primary.body, "bad");
    ASSERT_TRUE(e.outcome().shadow);
    EXPECT_EQ(e.outcome().shadow->body, "bad!");
    ASSERT_TRUE(e.outcome().divergence && e.outcome().divergence->body);
    EXPECT_NE(std::string(e.what()).find("body 3 vs 4 bytes"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sh.divergence_count(), 1U);
  EXPECT_EQ(sh.divergences().size(), 1U);
}

TEST(LatencyHistogram, BucketsAndQuantiles) {
  using H = rs::LatencyHistogram;
  EXPECT_EQ(H::bucket_of(std::chrono::nanoseconds(0)), 0U);
  EXPECT_EQ(H::bucket_of(std::chrono::microseconds(1)), 0U);
  EXPECT_EQ(H::bucket_of(std::chrono::nanoseconds(1001)), 1U);
  EXPECT_EQ(H::bucket_of(std::chrono::milliseconds(20)), 15U);  // <= 32.768 ms
  EXPECT_EQ(H::bucket_of(std::chrono::hours(1)), H::bucket_count - 1);
  H h;
  h.buckets[2] = 90;  // <= 4 us
  h.buckets[12] = 9;  // <= 4.096 ms
  h.buckets[20] = 1;  // <= 1.048576 s
  h.count = 100;
  EXPECT_EQ(h.quantile(0.5), std::chrono::microseconds(4));
  EXPECT_EQ(h.quantile(0.9), std::chrono::microseconds(4));
  EXPECT_EQ(h.quantile(0.99), std::chrono::microseconds(4096));
  EXPECT_EQ(h.quantile(1.0), std::chrono::microseconds(1 << 20));
  EXPECT_EQ(H{}.quantile(0.5), std::chrono::nanoseconds(0));
}

TEST(Shadower, LatencyHistogramsShowTheSlowerLeg) {
  net::io_context ctx;
  auto shadow = std::make_shared<DelayedBackend>(DelayedBackend{30ms, true});
  rs::Shadower sh(std::make_shared<EchoBackend>(), shadow,
                  ShadowConfig::full_sample().latency_histograms(true));
  for (int i = 0; i < 5; ++i) (void)call_once(ctx, sh, "k" + std::to_string(i));
  const auto s = sh.stats();
  EXPECT_EQ(s.primary_latency.count, 5U);
  EXPECT_EQ(s.shadow_latency.count, 5U);
  EXPECT_GE(s.shadow_latency.quantile(0.5), 30ms);
  EXPECT_LT(s.primary_latency.quantile(0.99), s.shadow_latency.quantile(0.5));

  rs::Shadower off(EchoBackend{}, EchoBackend{});
  (void)call_once(ctx, off, "k");
  EXPECT_EQ(off.stats().shadow_latency.count, 0U);
}
