// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Shadower::call beside a direct co_await of the primary, with trivial in-memory backends, on
// one thread, with 1 and 64 concurrent callers. Time is per call; `allocs` is heap allocations
// per call, counted by the interposed allocation functions below.
#include <benchmark/benchmark.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <request_shadow/shadower.hpp>
#include <string>

namespace rs = request_shadow;

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
  asio::awaitable<rs::ResponseRecord> call(std::span<const std::byte> /*input*/) {
    co_return response;
  }
};

using TrivialShadower = rs::Shadower<TrivialBackend, TrivialBackend>;

asio::awaitable<void> direct_loop(std::shared_ptr<TrivialBackend> primary, std::string input,
                                  std::int64_t calls) {
  const auto bytes = std::as_bytes(std::span(input.data(), input.size()));
  for (std::int64_t i = 0; i < calls; ++i) {
    auto r = co_await primary->call(bytes);
    benchmark::DoNotOptimize(r);
  }
}

asio::awaitable<void> shadower_loop(TrivialShadower sh, std::string input, std::int64_t calls) {
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
  asio::io_context ctx(1);
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
  run_callers(state, [&](asio::io_context& ctx, const std::string& input, std::int64_t n) {
    asio::co_spawn(ctx, direct_loop(primary, input, n), asio::detached);
  });
}

void shadower_call(benchmark::State& state, int sample_rate,
                   rs::StartOrder order = rs::StartOrder::PrimaryFirst) {
  TrivialShadower sh(TrivialBackend{}, TrivialBackend{},
                     rs::ShadowConfig::full_sample().sample_rate(sample_rate).start_order(order));
  run_callers(state, [&](asio::io_context& ctx, const std::string& input, std::int64_t n) {
    asio::co_spawn(ctx, shadower_loop(sh, input, n), asio::detached);
  });
  const auto stats = sh.stats();
  if (stats.shadow_ok + stats.skipped_by_sampler != stats.calls) state.SkipWithError("lost calls");
}

void BM_ShadowerCall(benchmark::State& state) { shadower_call(state, 100); }
void BM_ShadowerCallUnsampled(benchmark::State& state) { shadower_call(state, 0); }
void BM_ShadowerCallShadowFirst(benchmark::State& state) {
  shadower_call(state, 100, rs::StartOrder::ShadowFirst);
}

void caller_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"callers", "input"});
  for (std::int64_t callers : {1, 64}) {
    for (std::int64_t input : {16, 4096}) b->Args({callers, input});
  }
}

BENCHMARK(BM_DirectPrimaryCall)->Apply(caller_args);
BENCHMARK(BM_ShadowerCall)->Apply(caller_args);
BENCHMARK(BM_ShadowerCallShadowFirst)->Apply(caller_args);
BENCHMARK(BM_ShadowerCallUnsampled)->Apply(caller_args);

}  // namespace
