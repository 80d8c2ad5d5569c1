// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/shadower.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <request_shadow/asio.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace rs = request_shadow;
using namespace std::chrono_literals;
using rs::ResponseRecord;
using rs::test::EchoBackend;

namespace {

// Diverges on keys that contain "odd"; hangs (ignoring cancellation) on keys that contain "hang".
struct MixedShadow {
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    const std::string key = rs::test::text(input);
    const auto ex = co_await net::this_coro::executor;
    if (key.find("hang") != std::string::npos) {
      co_await rs::test::hang_ignoring_cancellation();
    } else if (key.find("slow") != std::string::npos) {
      net::steady_timer t(ex, 1ms);
      co_await t.async_wait(net::use_awaitable);
    }
    co_return ResponseRecord::success(key.find("odd") != std::string::npos ? key + "!" : key);
  }
};

constexpr int callers = 16;
constexpr int calls_per_caller = 150;

template <class S>
net::awaitable<void> caller(S sh, int id, std::shared_ptr<std::atomic<int>> wrong_primary) {
  for (int i = 0; i < calls_per_caller; ++i) {
    std::string key = "c" + std::to_string(id) + "-" + std::to_string(i);
    if (i % 2 == 1) key += "-odd";
    if (i % 10 == 3) key += "-slow";
    if (i % 50 == 7) key += "-hang";
    const auto out = co_await sh.call(key);
    if (out.primary.body != key) ++*wrong_primary;
  }
}

// Runs `callers` coroutines on executors from `make_executor` on a 4-thread io_context and checks
// that every count adds up.
template <class MakeExecutor>
void run_shared_shadower(MakeExecutor make_executor) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, MixedShadow{},
                  rs::ShadowConfig::full_sample().shadow_timeout(50ms));
  sh.with_log(10'000);
  auto wrong_primary = std::make_shared<std::atomic<int>>(0);
  std::atomic<int> finished{0};
  for (int id = 0; id < callers; ++id) {
    net::co_spawn(make_executor(ctx), caller(sh, id, wrong_primary),
                  [&finished, &ctx](std::exception_ptr e) {
                    EXPECT_FALSE(e);
                    if (++finished == callers) ctx.stop();  // leave the hung shadows behind
                  });
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&ctx] { ctx.run(); });
  for (auto& t : threads) t.join();

  ASSERT_EQ(finished.load(), callers);
  EXPECT_EQ(wrong_primary->load(), 0);

  const auto [hang, odd] = rs::test::mixed_counts(calls_per_caller);
  const auto total = static_cast<std::uint64_t>(callers * calls_per_caller);
  const auto diverged = static_cast<std::uint64_t>(callers * odd);
  const auto timed_out = static_cast<std::uint64_t>(callers * hang);
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, total);
  EXPECT_EQ(s.sampled, total);
  EXPECT_EQ(s.shadow_timed_out, timed_out);
  EXPECT_EQ(s.shadow_ok, total - timed_out);
  EXPECT_EQ(s.diverged, diverged);
  EXPECT_EQ(s.matched, total - timed_out - diverged);
  EXPECT_EQ(sh.divergence_count(), diverged);
  EXPECT_EQ(sh.divergences().size(), diverged);
  EXPECT_EQ(sh.log()->total_pushed(), diverged);
  for (const auto& entry : sh.divergences()) {
    EXPECT_NE(entry.key.find("odd"), std::string::npos) << entry.key;
  }
}

}  // namespace

// Many coroutines, each on its own strand, share one Shadower on a 4-thread io_context.
TEST(ShadowerThreads, SharedShadowerIsRaceFreeAndCountsAddUp) {
  run_shared_shadower([](net::io_context& ctx) { return net::make_strand(ctx); });
}

// The same on the context's plain executor: a caller may resume on any of the threads.
TEST(ShadowerThreads, PlainMultiThreadedExecutorIsRaceFree) {
  run_shared_shadower([](net::io_context& ctx) { return ctx.get_executor(); });
}

// The sample rate is turned from another thread while callers run: no lock, no race.
TEST(ShadowerThreads, SampleRateTurnedWhileCallsRun) {
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, EchoBackend{"odd", "!"});
  std::atomic<bool> done{false};
  std::atomic<int> finished{0};
  constexpr int n = 8;
  for (int id = 0; id < n; ++id) {
    net::co_spawn(
        net::make_strand(ctx),
        [](rs::Shadower<EchoBackend, EchoBackend> s, int c) -> net::awaitable<void> {
          for (int i = 0; i < 300; ++i) {
            const std::string key = "c" + std::to_string(c) + "-" + std::to_string(i);
            const auto out = co_await s.call(key);
            if (out.primary.body != key) throw std::logic_error("wrong primary");
          }
        }(sh, id),
        [&](std::exception_ptr e) {
          EXPECT_FALSE(e);
          if (++finished == n) done = true;
        });
  }
  std::thread dial([&] {
    for (int r = 0; !done; r = (r + 7) % 101) sh.set_sample_rate(r);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) threads.emplace_back([&ctx] { ctx.run(); });
  for (auto& t : threads) t.join();
  done = true;
  dial.join();
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, static_cast<std::uint64_t>(n * 300));
  EXPECT_EQ(s.sampled + s.skipped_by_sampler, s.calls);
  EXPECT_EQ(s.matched + s.diverged, s.shadow_ok);
}

namespace {

// Stamps a fresh id on every answer (header and body, `text/kv`); the candidate (`marks`) also
// changes `v` on keys that contain "odd".
struct Stamping {
  std::shared_ptr<std::atomic<int>> next;
  bool marks = false;
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    const std::string key = rs::test::text(input);
    const std::string id = std::to_string((*next)++);
    const bool mark = marks && key.find("odd") != std::string::npos;
    co_return ResponseRecord::success("id=" + id + ";v=" + key + (mark ? "!" : ""))
        .with_header("content-type", "text/kv")
        .with_header("x-request-id", id);
  }
};

}  // namespace

// Noise cancellation (the primary called twice) from many strands on 4 threads: the noise is
// learned and cancelled concurrently, and exactly the real differences are reported.
TEST(ShadowerThreads, NoiseCancellationIsRaceFree) {
  net::io_context ctx;
  rs::Shadower sh(Stamping{std::make_shared<std::atomic<int>>(0)},
                  Stamping{std::make_shared<std::atomic<int>>(1'000'000), true},
                  rs::ShadowConfig::full_sample()
                      .shadow_timeout(10s)
                      .body_comparator(rs::test::kv_comparator())
                      .noise_cancellation(rs::NoiseCancellation{5, 100}));
  constexpr int n = 8;
  constexpr int each = 200;
  std::atomic<int> finished{0};
  for (int id = 0; id < n; ++id) {
    net::co_spawn(
        net::make_strand(ctx),
        [](rs::Shadower<Stamping, Stamping> s, int c) -> net::awaitable<void> {
          for (int i = 0; i < each; ++i) {
            const std::string key =
                "c" + std::to_string(c) + "-" + std::to_string(i) + (i % 4 == 1 ? "-odd" : "");
            const auto out = co_await s.call(key);
            const bool odd = key.find("odd") != std::string::npos;
            if (out.divergence.has_value() != odd) throw std::logic_error("wrong verdict " + key);
          }
        }(sh, id),
        [&](std::exception_ptr e) {
          EXPECT_FALSE(e);
          ++finished;
        });
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&ctx] { ctx.run(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(finished.load(), n);
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, static_cast<std::uint64_t>(n * each));
  EXPECT_EQ(s.diverged, static_cast<std::uint64_t>(n * each / 4));
  EXPECT_EQ(s.noise_probes, s.calls);
  ASSERT_EQ(s.signatures.size(), 1U);
  EXPECT_EQ(s.signatures[0].signature.text, "body kv /v changed");
  for (const auto& noise : s.noise) EXPECT_TRUE(noise.auto_ignored) << noise.name;
}

namespace {

using GatedShadow = rs::test::GatedBackend;

using GatedShadower = rs::Shadower<EchoBackend, GatedShadow>;

net::awaitable<void> detached_caller(GatedShadower sh, int id, int calls,
                                     std::shared_ptr<std::atomic<int>> done) {
  const auto ex = co_await net::this_coro::executor;
  for (int i = 0; i < calls; ++i) {
    (void)co_await sh.call_detached("c" + std::to_string(id) + "-" + std::to_string(i));
    net::steady_timer pause(ex, 1ms);
    co_await pause.async_wait(net::use_awaitable);
  }
  ++*done;
}

}  // namespace

// Callers on 4 threads keep calling across many cool-downs while the probe's shadow is out: only
// the probe reaches the shadow, and its answer resumes shadowing.
TEST(ShadowerThreads, AutoStopProbesOnceAcrossThreads) {
  GatedShadow shadow;
  GatedShadower sh(EchoBackend{}, shadow,
                   rs::ShadowConfig::full_sample()
                       .auto_stop(rs::AutoStop{0.5, 4, 10ms})
                       .shadow_timeout(std::chrono::hours(1)));
  {
    net::io_context first;
    for (int i = 0; i < 4; ++i) {
      net::co_spawn(first, detached_caller(sh, -1 - i, 1, std::make_shared<std::atomic<int>>(0)),
                    net::detached);
    }
    first.run();
  }
  ASSERT_TRUE(sh.stats().auto_stopped);
  shadow.failing->store(false);
  std::this_thread::sleep_for(50ms);  // five cool-downs

  net::io_context ctx;
  auto guard = net::make_work_guard(ctx);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&ctx] { ctx.run(); });
  constexpr int n = 8;
  constexpr int each = 100;  // 100 ms or more per caller: ten cool-downs and more
  auto done = std::make_shared<std::atomic<int>>(0);
  for (int c = 0; c < n; ++c) {
    net::co_spawn(net::make_strand(ctx), detached_caller(sh, c, each, done), net::detached);
  }
  for (int i = 0; i < 10'000 && done->load() != n; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(done->load(), n);
  EXPECT_EQ(shadow.calls->load(), 4 + 1) << "only one call may probe while the probe is out";
  EXPECT_TRUE(sh.stats().auto_stopped);

  shadow.open->store(true);
  for (int i = 0; i < 10'000 && sh.stats().auto_stopped; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_FALSE(sh.stats().auto_stopped);
  guard.reset();
  for (auto& t : threads) t.join();
  const auto s = sh.stats();
  EXPECT_EQ(s.calls, static_cast<std::uint64_t>(4 + n * each));
  EXPECT_EQ(s.stopped, static_cast<std::uint64_t>(n * each - 1));
  EXPECT_EQ(s.matched, 1U);
  EXPECT_EQ(s.sampled_in_progress, 0U);
}

namespace {

// Holds every call until `open()`, then answers with the input. The waits are timers on the
// callers' contexts, cancelled from those contexts.
struct HeldBackend {
  struct Shared {
    std::atomic<int> calls{0};
    std::mutex mutex;
    std::vector<std::shared_ptr<net::steady_timer>> waiting;  // guarded by `mutex`
  };
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();

  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    if (rs::test::text(input).starts_with("quick"))
      co_return ResponseRecord::success(rs::test::text(input));
    ++shared->calls;
    auto wait = std::make_shared<net::steady_timer>(co_await net::this_coro::executor, 1h);
    {
      const std::lock_guard lock(shared->mutex);
      shared->waiting.push_back(wait);
    }
    rs::error_code ec;
    co_await wait->async_wait(net::redirect_error(net::use_awaitable, ec));
    co_return ResponseRecord::success(rs::test::text(input));
  }

  // Releases every call held now (their contexts must still be alive).
  void open() const {
    std::vector<std::shared_ptr<net::steady_timer>> waiting;
    {
      const std::lock_guard lock(shared->mutex);
      waiting.swap(shared->waiting);
    }
    for (auto& wait : waiting) net::post(wait->get_executor(), [wait] { wait->cancel(); });
  }
};

net::awaitable<void> detached_calls(rs::Shadower<EchoBackend, HeldBackend> sh, int first, int n) {
  for (int i = first; i < first + n; ++i) {
    const auto primary = co_await sh.call_detached("k" + std::to_string(i));
    EXPECT_EQ(primary.body, "k" + std::to_string(i));
  }
}

// Two contexts, each run by its own thread, start shadows at once through one Shadower: together
// they start exactly `bound` legs and shed the rest, whether the bound is shared one admission at
// a time (below 256) or taken by each context a chunk at a time. Then every admission comes
// back: each of `rounds` bursts, on new contexts, starts as many legs again.
void bound_holds_across_contexts(int bound, int rounds) {
  HeldBackend shadow;
  rs::Shadower sh(EchoBackend{}, shadow,
                  rs::ShadowConfig::full_sample().shadow_timeout(60s).max_in_flight_shadows(
                      static_cast<std::size_t>(bound)));
  const auto per_round = static_cast<std::uint64_t>(2 * bound);
  const auto bound_u = static_cast<std::uint64_t>(bound);
  for (int round = 1; round <= rounds; ++round) {
    const auto r = static_cast<std::uint64_t>(round);
    net::io_context a;
    net::io_context b;
    net::co_spawn(a, detached_calls(sh, 2 * bound * round, bound), net::detached);
    net::co_spawn(b, detached_calls(sh, 2 * bound * round + bound, bound), net::detached);
    std::thread ta([&a] { a.run(); });
    std::thread tb([&b] { b.run(); });
    for (int i = 0; i < 10'000; ++i) {
      if (sh.stats().shed == r * bound_u && shadow.shared->calls.load() == round * bound) break;
      std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(sh.in_flight_shadows(), static_cast<std::size_t>(bound)) << round;
    EXPECT_EQ(shadow.shared->calls.load(), round * bound) << round;
    shadow.open();
    ta.join();  // run() returns once the last shadow has answered
    tb.join();
    const auto s = sh.stats();
    EXPECT_EQ(s.calls, r * per_round);
    EXPECT_EQ(s.shed, r * bound_u);
    EXPECT_EQ(s.matched, r * bound_u);
    EXPECT_EQ(s.sampled_in_progress, 0U);
    EXPECT_EQ(sh.in_flight_shadows(), 0U);
  }
}

}  // namespace

TEST(ShadowerThreads, SmallBoundIsSharedExactlyAcrossContexts) {
  bound_holds_across_contexts(3, 3);
}

TEST(ShadowerThreads, LargeBoundIsSharedExactlyAcrossContexts) {
  bound_holds_across_contexts(300, 3);
}

namespace {

net::awaitable<void> named_calls(rs::Shadower<EchoBackend, HeldBackend> sh, std::string prefix,
                                 int n) {
  for (int i = 0; i < n; ++i) (void)co_await sh.call_detached(prefix + std::to_string(i));
}

}  // namespace

// A context keeps a few spare admissions while it has calls in flight. When another context finds
// the bound's budget empty, it takes those spares back: it starts exactly as many legs as the
// bound leaves, not a chunk fewer.
TEST(ShadowerThreads, SpareAdmissionsOfAQuietContextAreTakenBack) {
  constexpr int bound = 4096;  // a chunk of 32 admissions
  HeldBackend shadow;
  rs::Shadower sh(EchoBackend{}, shadow,
                  rs::ShadowConfig::full_sample().shadow_timeout(60s).max_in_flight_shadows(bound));
  net::io_context a;
  net::io_context b;
  net::co_spawn(a, named_calls(sh, "held-a", 1), net::detached);
  net::co_spawn(a, named_calls(sh, "quick", 40), net::detached);
  std::thread ta([&a] { a.run(); });
  for (int i = 0; i < 10'000 && sh.stats().matched != 40; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(sh.stats().matched, 40U);
  ASSERT_EQ(sh.in_flight_shadows(), 1U);

  net::co_spawn(b, named_calls(sh, "held-b", bound), net::detached);
  std::thread tb([&b] { b.run(); });
  const auto started_or_shed = [&] {
    return shadow.shared->calls.load() + static_cast<int>(sh.stats().shed);
  };
  for (int i = 0; i < 10'000 && started_or_shed() != bound + 1; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(shadow.shared->calls.load(), bound);
  EXPECT_EQ(sh.stats().shed, 1U);
  EXPECT_EQ(sh.in_flight_shadows(), static_cast<std::size_t>(bound));
  shadow.open();
  ta.join();
  tb.join();
  EXPECT_EQ(sh.stats().matched, static_cast<std::uint64_t>(40 + bound));
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
}
