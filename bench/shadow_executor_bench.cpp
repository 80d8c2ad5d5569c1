// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// The caller's latency when the shadow does real work: a direct call of the primary (the
// baseline) beside detached and inline shadowed calls whose shadow runs on the callers' context
// or on a pool of its own (ShadowConfig::shadow_executor).
//
// The shadow spends 20 us of CPU (a candidate that parses, say), then suspends once, then
// answers. Four callers share one io_context run by the benchmark's thread; each one's requests
// arrive every 100 us, so the shadow's work is about 80 % of a core. The latency of a request
// counts from its arrival, so it includes the time it waited for a thread busy with shadow work.
// The pool has one thread of its own. Reported: mean latency as the time, and p50/p99 counters in
// microseconds.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <request_shadow/asio.hpp>
#include <request_shadow/shadower.hpp>
#include <string>
#include <vector>

#include "calibration.hpp"

namespace rs = request_shadow;
namespace net = request_shadow::net;
using Clock = std::chrono::steady_clock;

namespace {

struct Primary {
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> /*input*/) {
    co_return rs::ResponseRecord::success("hello, shadow!");
  }
};

struct WorkingShadow {
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> /*input*/) {
    const auto until = Clock::now() + std::chrono::microseconds(20);
    while (Clock::now() < until) {
    }
    const auto ex = co_await net::this_coro::executor;
    co_await net::post(ex, net::use_awaitable);
    co_return rs::ResponseRecord::success("hello, shadow!");
  }
};

using WorkShadower = rs::Shadower<Primary, WorkingShadow>;

enum class Mode { direct, detached, inline_call };

constexpr int callers = 4;
constexpr int calls_per_caller = 100;
constexpr auto pause = std::chrono::microseconds(100);

net::awaitable<void> caller(Mode mode, WorkShadower sh, std::shared_ptr<Primary> primary,
                            std::vector<double>* latencies) {
  const std::string input(16, 'x');
  const auto bytes = std::as_bytes(std::span(input.data(), input.size()));
  net::steady_timer timer(co_await net::this_coro::executor);
  auto arrival = Clock::now();
  for (int i = 0; i < calls_per_caller; ++i) {
    // Requests arrive on a schedule: the latency counts from the arrival, so the time a request
    // waits for a thread busy with shadow work is counted too.
    arrival += pause;
    timer.expires_at(arrival);
    co_await timer.async_wait(net::use_awaitable);
    if (mode == Mode::direct) {
      auto r = co_await primary->call(bytes);
      benchmark::DoNotOptimize(r);
    } else if (mode == Mode::detached) {
      auto r = co_await sh.call_detached(bytes);
      benchmark::DoNotOptimize(r);
    } else {
      auto r = co_await sh.call(bytes);
      benchmark::DoNotOptimize(r);
    }
    latencies->push_back(std::chrono::duration<double>(Clock::now() - arrival).count());
  }
}

double percentile(std::vector<double>& v, double p) {
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// range(0): 1 to run the shadow on a pool of its own.
void run(benchmark::State& state, Mode mode) {
  const bool on_pool = state.range(0) != 0;
  net::thread_pool pool(1);
  auto config = rs::ShadowConfig::full_sample();
  if (on_pool) config.shadow_executor(pool.get_executor());
  auto primary = std::make_shared<Primary>();
  WorkShadower sh(primary, std::make_shared<WorkingShadow>(), config);
  std::vector<double> latencies;
  net::io_context ctx(1);
  while (state.KeepRunningBatch(callers * calls_per_caller)) {
    std::vector<double> batch;
    batch.reserve(callers * calls_per_caller);
    for (int c = 0; c < callers; ++c) {
      net::co_spawn(ctx, caller(mode, sh, primary, &batch), net::detached);
    }
    ctx.restart();
    ctx.run();
    double sum = 0;
    for (const double l : batch) sum += l;
    state.SetIterationTime(sum);
    latencies.insert(latencies.end(), batch.begin(), batch.end());
  }
  state.counters["p50_us"] = percentile(latencies, 0.50) * 1e6;
  state.counters["p99_us"] = percentile(latencies, 0.99) * 1e6;
  pool.join();
}

void BM_CallerLatencyDirect(benchmark::State& state) { run(state, Mode::direct); }
void BM_CallerLatencyDetached(benchmark::State& state) { run(state, Mode::detached); }
void BM_CallerLatencyInline(benchmark::State& state) { run(state, Mode::inline_call); }

BENCHMARK(BM_CallerLatencyDirect)->Arg(0)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CallerLatencyDetached)
    ->ArgName("on_pool")
    ->Arg(0)
    ->Arg(1)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CallerLatencyInline)
    ->ArgName("on_pool")
    ->Arg(0)
    ->Arg(1)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
