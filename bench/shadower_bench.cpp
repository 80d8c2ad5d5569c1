// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Shadower::call beside a direct co_await of the primary, with trivial in-memory backends, on
// one thread, with 1 and 64 concurrent callers. Time is per call; `allocs` is heap allocations
// per call, counted by the interposed allocation functions below.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/http_rules.hpp>
#include <request_shadow/shadower.hpp>
#include <string>
#include <string_view>

#include "calibration.hpp"

namespace rs = request_shadow;
namespace net = request_shadow::net;

namespace {
std::atomic<std::uint64_t> allocations{0};
}  // namespace

// Count every heap allocation of the process (the benchmark runs on one thread): operator new
// goes through malloc, and Asio's recycling allocator calls aligned_alloc directly, so both are
// interposed here and forwarded to glibc.
extern "C" {
void* __libc_malloc(std::size_t size);                       // NOLINT(bugprone-reserved-identifier)
void* __libc_memalign(std::size_t align, std::size_t size);  // NOLINT(bugprone-reserved-identifier)

void* malloc(std::size_t size) {  // NOLINT(cert-dcl37-c,cert-dcl51-cpp)
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}

void* aligned_alloc(std::size_t align, std::size_t size) {  // NOLINT(cert-dcl37-c,cert-dcl51-cpp)
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(align, size);
}

int posix_memalign(void** out, std::size_t align, std::size_t size) {  // NOLINT
  allocations.fetch_add(1, std::memory_order_relaxed);
  *out = __libc_memalign(align, size);
  return *out != nullptr ? 0 : ENOMEM;
}
}
namespace {

// Answers a ready record whose 14-byte body fits the string's inline buffer, so the backends
// themselves allocate nothing and every allocation counted is the mechanism's.
struct TrivialBackend {
  rs::ResponseRecord response = rs::ResponseRecord::success("hello, shadow!");
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> /*input*/) {
    co_return response;
  }
};

using TrivialShadower = rs::Shadower<TrivialBackend, TrivialBackend>;

net::awaitable<void> direct_loop(std::shared_ptr<TrivialBackend> primary, std::string input,
                                 std::int64_t calls) {
  const auto bytes = std::as_bytes(std::span(input.data(), input.size()));
  for (std::int64_t i = 0; i < calls; ++i) {
    auto r = co_await primary->call(bytes);
    benchmark::DoNotOptimize(r);
  }
}

net::awaitable<void> detached_loop(TrivialShadower sh, std::string input, std::int64_t calls) {
  const auto bytes = std::as_bytes(std::span(input.data(), input.size()));
  for (std::int64_t i = 0; i < calls; ++i) {
    auto primary = co_await sh.call_detached(bytes);
    benchmark::DoNotOptimize(primary);
  }
}

net::awaitable<void> shadower_loop(TrivialShadower sh, std::string input, std::int64_t calls) {
  const auto bytes = std::as_bytes(std::span(input.data(), input.size()));
  for (std::int64_t i = 0; i < calls; ++i) {
    auto out = co_await sh.call(bytes);
    benchmark::DoNotOptimize(out);
  }
}

// range(0): concurrent callers; range(1): input bytes.
template <class Spawn>
void run_callers(benchmark::State& state, Spawn spawn) {
  const std::int64_t callers = state.range(0);
  const std::string input(static_cast<std::size_t>(state.range(1)), 'x');
  constexpr std::int64_t calls_per_caller = 200;
  net::io_context ctx(1);
  std::uint64_t allocs = 0;
  while (state.KeepRunningBatch(callers * calls_per_caller)) {
    const auto before = allocations.load(std::memory_order_relaxed);
    for (std::int64_t c = 0; c < callers; ++c) spawn(ctx, input, calls_per_caller);
    ctx.restart();
    ctx.run();
    allocs += allocations.load(std::memory_order_relaxed) - before;
  }
  state.SetItemsProcessed(state.iterations());
  // Includes the per-batch cost of spawning the callers (and workers), spread over the batch.
  state.counters["allocs"] =
      benchmark::Counter(static_cast<double>(allocs), benchmark::Counter::kAvgIterations);
}

void BM_DirectPrimaryCall(benchmark::State& state) {
  auto primary = std::make_shared<TrivialBackend>();
  run_callers(state, [&](net::io_context& ctx, const std::string& input, std::int64_t n) {
    net::co_spawn(ctx, direct_loop(primary, input, n), net::detached);
  });
}

void shadower_call(benchmark::State& state, int sample_rate) {
  TrivialShadower sh(TrivialBackend{}, TrivialBackend{},
                     rs::ShadowConfig::full_sample().sample_rate(sample_rate));
  run_callers(state, [&](net::io_context& ctx, const std::string& input, std::int64_t n) {
    net::co_spawn(ctx, shadower_loop(sh, input, n), net::detached);
  });
  const auto stats = sh.stats();
  if (stats.shadow_ok + stats.skipped_by_sampler != stats.calls) state.SkipWithError("lost calls");
}

void BM_ShadowerCall(benchmark::State& state) { shadower_call(state, 100); }

// A sampled call with every request rule set, each as cheap as it can be: a predicate that lets
// everything through, a rewrite that copies the request, and a rate cap never reached. What is
// left is what the rules themselves cost the call path.
void BM_ShadowerCallWithRules(benchmark::State& state) {
  TrivialShadower sh(TrivialBackend{}, TrivialBackend{},
                     rs::ShadowConfig::full_sample()
                         .shadow_if([](std::string_view) { return true; })
                         .shadow_request([](std::string_view r) { return std::string(r); })
                         .max_shadows_per_second(1e12));
  run_callers(state, [&](net::io_context& ctx, const std::string& input, std::int64_t n) {
    net::co_spawn(ctx, shadower_loop(sh, input, n), net::detached);
  });
  const auto stats = sh.stats();
  if (stats.shadow_ok != stats.calls) state.SkipWithError("lost calls");
}

// The HTTP rules on a typical request: 5 header fields, one of them removed.
const std::string http_request =
    "GET /api/v1/prices?item=sku-123 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: bench/1.0\r\n"
    "Accept: application/json\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc\r\n"
    "X-User: user-42\r\n\r\n";

void BM_HttpSafeMethods(benchmark::State& state) {
  const auto safe = rs::http_safe_methods();
  for (auto _ : state) benchmark::DoNotOptimize(safe(http_request));
}

void BM_HttpStripHeaders(benchmark::State& state) {
  const auto strip = rs::http_strip_headers({"authorization", "cookie"});
  for (auto _ : state) benchmark::DoNotOptimize(strip(http_request));
}

void BM_HttpHeaderKey(benchmark::State& state) {
  const auto key = rs::http_header_key("x-user");
  for (auto _ : state) benchmark::DoNotOptimize(key(http_request));
}
BENCHMARK(BM_HttpSafeMethods);
BENCHMARK(BM_HttpStripHeaders);
BENCHMARK(BM_HttpHeaderKey);

// The caller's cost of a detached call (the shadow and the comparison run after it returns, in
// the same thread, and are included in the batch's time too: this is the throughput figure).
void BM_ShadowerCallDetached(benchmark::State& state) {
  // Callers that never suspend queue every leg of a batch: let the bound hold them all.
  TrivialShadower sh(TrivialBackend{}, TrivialBackend{},
                     rs::ShadowConfig::full_sample().max_in_flight_shadows(1'000'000));
  run_callers(state, [&](net::io_context& ctx, const std::string& input, std::int64_t n) {
    net::co_spawn(ctx, detached_loop(sh, input, n), net::detached);
  });
  const auto stats = sh.stats();
  if (stats.shadow_ok != stats.calls) state.SkipWithError("lost calls");
}
void BM_ShadowerCallUnsampled(benchmark::State& state) { shadower_call(state, 0); }

// ---- the mechanism's floor: Asio's coroutines alone, nothing of the library ------------------
//
// The mechanics of a sampled inline call written as barely as Asio's public API allows, with
// none of the library: one long-lived worker coroutine runs the shadow; the caller reads the
// clock (any deadline needs the start), copies the request into a reused buffer (a shadow that
// may be abandoned cannot borrow the caller's), hands the worker its job, runs its primary and
// parks (one async_initiate with use_awaitable) until the worker has answered and resumed it;
// both answers are moved into a ShadowOutcome returned through an awaitable, as
// Shadower::call's are. No lock, no deadline queue, no comparison, no counter: one thread, one
// caller, backends that are never abandoned. The worker resumes its caller inline without
// checking that it runs on the caller's executor, which only one thread allows. What
// BM_ShadowerCall adds over this is the library's own work; what this adds over
// BM_DirectPrimaryCall is the coroutines' price, the shadow's own call, the clock read and the
// copy.
struct FloorLegs {
  // The library's own type and unpark() (engine/park.hpp): a handler moved out of an optional.
  using Parked = rs::detail::Parked;
  TrivialBackend primary;
  TrivialBackend shadow;
  std::optional<Parked> worker_parked;
  std::optional<Parked> caller_parked;
  std::string copy;      // the shadow's copy of the request; capacity is reused
  bool has_job = false;  // the worker has a request to send, in `copy`
  bool answered = false;
  bool stop = false;
  std::optional<rs::ResponseRecord> answer;
  rs::ShadowOutcome outcome;
  std::chrono::steady_clock::time_point started;
};

template <class Token>
auto floor_park(std::optional<FloorLegs::Parked>& spot, Token&& token) {
  return net::async_initiate<Token, void()>([&spot](auto h) { spot.emplace(std::move(h)); }, token);
}

net::awaitable<void> floor_worker(FloorLegs& legs) {
  while (!legs.stop) {
    if (!legs.has_job) {
      co_await floor_park(legs.worker_parked, net::use_awaitable);
      continue;
    }
    legs.has_job = false;
    const auto input = std::as_bytes(std::span(legs.copy.data(), legs.copy.size()));
    auto answer = co_await legs.shadow.call(input);
    legs.answer.emplace(std::move(answer));
    legs.answered = true;
    if (auto caller = rs::detail::unpark(legs.caller_parked)) std::move (*caller)();
  }
}

// The outcome is built outside the frame, as Shadower::call builds it in its slot: a frame
// holding a ShadowOutcome would be constructed and destroyed on every call.
net::awaitable<rs::ShadowOutcome> floor_call(FloorLegs& legs, std::span<const std::byte> input) {
  legs.started = std::chrono::steady_clock::now();
  legs.answered = false;
  legs.copy.assign(reinterpret_cast<const char*>(input.data()), input.size());
  legs.has_job = true;
  if (auto worker = rs::detail::unpark(legs.worker_parked)) net::post(std::move(*worker));
  legs.outcome.primary = co_await legs.primary.call(input);
  if (!legs.answered) co_await floor_park(legs.caller_parked, net::use_awaitable);
  legs.outcome.shadow = std::move(legs.answer);
  co_return std::move(legs.outcome);
}

net::awaitable<void> floor_loop(FloorLegs& legs, std::string input, std::int64_t calls) {
  const auto bytes = std::as_bytes(std::span(input.data(), input.size()));
  for (std::int64_t i = 0; i < calls; ++i) {
    auto out = co_await floor_call(legs, bytes);
    benchmark::DoNotOptimize(out);
  }
  legs.stop = true;
  if (auto worker = rs::detail::unpark(legs.worker_parked)) net::post(std::move(*worker));
}

// range(0): callers, which must be 1 (one worker, one pair of parking spots); range(1): input.
void BM_MechanismFloor(benchmark::State& state) {
  if (state.range(0) != 1) {
    state.SkipWithError("the floor has one caller");
    return;
  }
  FloorLegs legs;
  run_callers(state, [&](net::io_context& ctx, const std::string& input, std::int64_t n) {
    legs.stop = false;
    net::co_spawn(ctx, floor_worker(legs), net::detached);
    net::co_spawn(ctx, floor_loop(legs, input, n), net::detached);
  });
}

void caller_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"callers", "input"});
  for (std::int64_t callers : {1, 64}) {
    for (std::int64_t input : {16, 4096}) b->Args({callers, input});
  }
}

// ---- start order: how long the primary's start waits -------------------------------------

using Clock = std::chrono::steady_clock;

// Notes when its call begins.
struct StampingPrimary {
  std::shared_ptr<Clock::time_point> started = std::make_shared<Clock::time_point>();
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> /*input*/) {
    *started = Clock::now();
    co_return rs::ResponseRecord::success("hello, shadow!");
  }
};

// Spends 1 us of synchronous work (say, serialising the request) before it first suspends.
struct BusyShadow {
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> /*input*/) {
    const auto until = Clock::now() + std::chrono::microseconds(1);
    while (Clock::now() < until) {
    }
    const auto ex = co_await net::this_coro::executor;
    co_await net::post(ex, net::use_awaitable);
    co_return rs::ResponseRecord::success("hello, shadow!");
  }
};

using StartShadower = rs::Shadower<StampingPrimary, BusyShadow>;

net::awaitable<void> delay_loop(StartShadower sh, std::shared_ptr<Clock::time_point> started,
                                std::int64_t calls, double* delay_seconds) {
  for (std::int64_t i = 0; i < calls; ++i) {
    const auto before = Clock::now();
    auto out = co_await sh.call("request");
    benchmark::DoNotOptimize(out);
    *delay_seconds += std::chrono::duration<double>(*started - before).count();
  }
}

net::awaitable<void> direct_delay_loop(std::shared_ptr<StampingPrimary> primary, std::int64_t calls,
                                       double* delay_seconds) {
  const std::string input = "request";
  const auto bytes = std::as_bytes(std::span(input.data(), input.size()));
  for (std::int64_t i = 0; i < calls; ++i) {
    const auto before = Clock::now();
    auto out = co_await primary->call(bytes);
    benchmark::DoNotOptimize(out);
    *delay_seconds += std::chrono::duration<double>(*primary->started - before).count();
  }
}

// Manual time: from just before the call to the start of the primary's call. The baseline calls
// the primary directly; the variant goes through Shadower::call with a shadow that has 1 us of
// synchronous work, which must not run before the primary starts.
void BM_PrimaryStartDelay(benchmark::State& state, bool through_shadower) {
  auto primary = std::make_shared<StampingPrimary>();
  StartShadower sh(primary, std::make_shared<BusyShadow>());
  net::io_context ctx(1);
  constexpr std::int64_t batch = 100;
  while (state.KeepRunningBatch(batch)) {
    double delay = 0;
    if (through_shadower) {
      net::co_spawn(ctx, delay_loop(sh, primary->started, batch, &delay), net::detached);
    } else {
      net::co_spawn(ctx, direct_delay_loop(primary, batch, &delay), net::detached);
    }
    ctx.restart();
    ctx.run();
    state.SetIterationTime(delay);
  }
}
BENCHMARK_CAPTURE(BM_PrimaryStartDelay, direct, false)->UseManualTime();
BENCHMARK_CAPTURE(BM_PrimaryStartDelay, shadower, true)->UseManualTime();

BENCHMARK(BM_DirectPrimaryCall)->Apply(caller_args);
BENCHMARK(BM_ShadowerCall)->Apply(caller_args);
BENCHMARK(BM_MechanismFloor)->ArgNames({"callers", "input"})->Args({1, 16})->Args({1, 4096});
BENCHMARK(BM_ShadowerCallDetached)->Apply(caller_args);

// ---- caller latency: manual time from before the call to its return -------------------------

template <bool Detached>
net::awaitable<void> latency_loop(TrivialShadower sh, std::shared_ptr<TrivialBackend> primary,
                                  std::int64_t calls, double* seconds) {
  const std::string input(16, 'x');
  const auto bytes = std::as_bytes(std::span(input.data(), input.size()));
  for (std::int64_t i = 0; i < calls; ++i) {
    const auto before = std::chrono::steady_clock::now();
    if constexpr (Detached) {
      auto r = co_await sh.call_detached(bytes);
      benchmark::DoNotOptimize(r);
    } else {
      auto r = co_await primary->call(bytes);
      benchmark::DoNotOptimize(r);
    }
    *seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
  }
}

// range(0): concurrent callers. The baseline awaits the primary directly; the variant is a
// detached call, whose shadow and comparison run after the caller has its answer.
template <bool Detached>
void BM_CallerLatency(benchmark::State& state) {
  const std::int64_t callers = state.range(0);
  constexpr std::int64_t calls_per_caller = 200;
  auto primary = std::make_shared<TrivialBackend>();
  TrivialShadower sh(primary, std::make_shared<TrivialBackend>());
  net::io_context ctx(1);
  while (state.KeepRunningBatch(callers * calls_per_caller)) {
    double seconds = 0;
    for (std::int64_t c = 0; c < callers; ++c) {
      net::co_spawn(ctx, latency_loop<Detached>(sh, primary, calls_per_caller, &seconds),
                    net::detached);
    }
    ctx.restart();
    ctx.run();
    state.SetIterationTime(seconds);
  }
}
BENCHMARK(BM_CallerLatency<false>)
    ->Name("BM_CallerLatency/direct")
    ->Arg(1)
    ->Arg(64)
    ->UseManualTime();
BENCHMARK(BM_CallerLatency<true>)
    ->Name("BM_CallerLatency/detached")
    ->Arg(1)
    ->Arg(64)
    ->UseManualTime();
BENCHMARK(BM_ShadowerCallUnsampled)->Apply(caller_args);
BENCHMARK(BM_ShadowerCallWithRules)->Apply(caller_args);

}  // namespace
