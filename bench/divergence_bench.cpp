// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Divergence::compare beside BM_Memcmp4K, the memcmp of two equal 4096-byte buffers, the size of
// the bodies compared (calibration.hpp), and noise cancellation's comparison beside it.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <request_shadow/detail/noise.hpp>
#include <request_shadow/divergence.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calibration.hpp"

namespace rs = request_shadow;

namespace {

// A copy of `content` whose bytes start `offset` bytes past a 64-byte boundary (a multiple of
// 16), or an empty string if the heap never gives one. memcmp's time depends on where its two
// inputs sit in their cache lines (calibration.hpp), so the bodies are placed as the calibration's
// buffers are, or 16 bytes apart for the slower case, never wherever the heap happens to put them.
std::string placed(std::string_view content, std::size_t offset) {
  std::vector<std::string> misses;  // kept until the end, so that each try gets a new address
  for (int i = 0; i < 64; ++i) {
    std::string s(content);
    if (reinterpret_cast<std::uintptr_t>(s.data()) % 64 == offset) return s;
    misses.push_back(std::move(s));
  }
  return {};
}

// The reference's own case: equal 4096-byte bodies, two headers, one value differing. The
// shadow's body starts `shadow_offset` bytes into a cache line, the primary's at the start of one.
struct Pair {
  rs::ResponseRecord primary;
  rs::ResponseRecord shadow;
};

Pair make_pair(std::size_t body_size, bool header_differs, std::size_t shadow_offset = 0) {
  std::string body(body_size, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  Pair p{rs::ResponseRecord{true, 200, {}, placed(body, 0)},
         rs::ResponseRecord{true, 200, {}, placed(body, shadow_offset)}};
  p.primary.with_header("content-type", "application/json").with_header("x-version", "1");
  p.shadow.with_header("content-type", "application/json")
      .with_header("x-version", header_differs ? "2" : "1");
  return p;
}

// Runs `compare` on the pair, or reports that the bodies could not be placed.
void run_compare(benchmark::State& state, const Pair& p) {
  if (p.primary.body.size() != 4096 || p.shadow.body.size() != 4096) {
    state.SkipWithError("could not place the bodies");
    return;
  }
  const auto config = rs::ShadowConfig::full_sample();
  for (auto _ : state) {
    auto d = rs::Divergence::compare(p.primary, p.shadow, config);
    benchmark::DoNotOptimize(d);
  }
}

void BM_DivergenceCompare4K(benchmark::State& state) { run_compare(state, make_pair(4096, true)); }
BENCHMARK(BM_DivergenceCompare4K);

void BM_DivergenceCompareEqual4K(benchmark::State& state) {
  run_compare(state, make_pair(4096, false));
}
BENCHMARK(BM_DivergenceCompareEqual4K);

// What the API asks of any divergence with one changed header: a `std::vector<std::string>` of
// one short name, built and destroyed (one allocation and one free).
void BM_HeaderListOfOne(benchmark::State& state) {
  const std::string name = "x-version";
  for (auto _ : state) {
    std::vector<std::string> list;
    list.reserve(1);
    list.emplace_back(name);
    benchmark::DoNotOptimize(list);
  }
}
BENCHMARK(BM_HeaderListOfOne);

// Noise cancellation's comparison of the same pair, with a secondary whose `x-version` differs
// too (so the shadow's difference is noise, cancelled on the call), under the default rule: two
// comparisons, the place counted over the window and judged by its rates, and the cancellation,
// beside BM_DivergenceCompare4K's one comparison.
void BM_NoiseCompare4K(benchmark::State& state) {
  const Pair p = make_pair(4096, true);
  rs::ResponseRecord secondary = p.primary;
  secondary.headers.erase("x-version");
  secondary.with_header("x-version", "3");
  if (p.primary.body.size() != 4096 || p.shadow.body.size() != 4096) {
    state.SkipWithError("could not place the bodies");
    return;
  }
  const auto config = rs::ShadowConfig::full_sample();
  rs::detail::NoiseTracker tracker(rs::NoiseCancellation{}, config);
  for (auto _ : state) {
    auto out = tracker.compare(config, p.primary, p.shadow, &secondary);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_NoiseCompare4K);

// The slower placement: the bodies 16 bytes apart in their cache lines, beside a memcmp of
// buffers placed the same way.
void BM_Memcmp4KOffset16(benchmark::State& state) { memcmp_4k(state, 16); }
BENCHMARK(BM_Memcmp4KOffset16);

void BM_DivergenceCompare4KOffset16(benchmark::State& state) {
  run_compare(state, make_pair(4096, true, 16));
}
BENCHMARK(BM_DivergenceCompare4KOffset16);

}  // namespace
