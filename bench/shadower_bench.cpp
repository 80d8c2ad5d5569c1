// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Shadower::call beside a direct co_await of the primary, with trivial in-memory backends, on
// one thread, with 1 and 64 concurrent callers. Time is per call.
#include <benchmark/benchmark.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <cstdint>
#include <request_shadow/shadower.hpp>
#include <string>

namespace rs = request_shadow;

namespace {

// Answers a ready 16-byte record.
struct TrivialBackend {
  rs::ResponseRecord response = rs::ResponseRecord::success("0123456789abcdef");
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
  while (state.KeepRunningBatch(callers * calls_per_caller)) {
    for (std::int64_t c = 0; c < callers; ++c) spawn(ctx, input, calls_per_caller);
    ctx.restart();
    ctx.run();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_DirectPrimaryCall(benchmark::State& state) {
  auto primary = std::make_shared<TrivialBackend>();
  run_callers(state, [&](asio::io_context& ctx, const std::string& input, std::int64_t n) {
    asio::co_spawn(ctx, direct_loop(primary, input, n), asio::detached);
  });
}

void shadower_call(benchmark::State& state, int sample_rate) {
  TrivialShadower sh(TrivialBackend{}, TrivialBackend{},
                     rs::ShadowConfig::full_sample().sample_rate(sample_rate));
  run_callers(state, [&](asio::io_context& ctx, const std::string& input, std::int64_t n) {
    asio::co_spawn(ctx, shadower_loop(sh, input, n), asio::detached);
  });
  const auto stats = sh.stats();
  if (stats.shadow_ok + stats.skipped_by_sampler != stats.calls) state.SkipWithError("lost calls");
}

void BM_ShadowerCall(benchmark::State& state) { shadower_call(state, 100); }
void BM_ShadowerCallUnsampled(benchmark::State& state) { shadower_call(state, 0); }

void caller_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"callers", "input"});
  for (std::int64_t callers : {1, 64}) {
    for (std::int64_t input : {16, 4096}) b->Args({callers, input});
  }
}

BENCHMARK(BM_DirectPrimaryCall)->Apply(caller_args);
BENCHMARK(BM_ShadowerCall)->Apply(caller_args);
BENCHMARK(BM_ShadowerCallUnsampled)->Apply(caller_args);

}  // namespace
