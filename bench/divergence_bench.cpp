// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Divergence::compare beside BM_Memcmp4K, the memcmp of two equal 4096-byte buffers, the size of
// the bodies compared (calibration.hpp).
#include <benchmark/benchmark.h>

#include <request_shadow/divergence.hpp>
#include <string>

#include "calibration.hpp"

namespace rs = request_shadow;

namespace {

// The reference's own case: equal 4096-byte bodies, two headers, one value differing.
struct Pair {
  rs::ResponseRecord primary;
  rs::ResponseRecord shadow;
};

Pair make_pair(std::size_t body_size, bool header_differs) {
  std::string body(body_size, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  Pair p{rs::ResponseRecord::success(body), rs::ResponseRecord::success(body)};
  p.primary.with_header("content-type", "application/json").with_header("x-version", "1");
  p.shadow.with_header("content-type", "application/json")
      .with_header("x-version", header_differs ? "2" : "1");
  return p;
}

void BM_DivergenceCompare4K(benchmark::State& state) {
  const auto p = make_pair(4096, true);
  const auto config = rs::ShadowConfig::full_sample();
  for (auto _ : state) {
    auto d = rs::Divergence::compare(p.primary, p.shadow, config);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DivergenceCompare4K);

void BM_DivergenceCompareEqual4K(benchmark::State& state) {
  const auto p = make_pair(4096, false);
  const auto config = rs::ShadowConfig::full_sample();
  for (auto _ : state) {
    auto d = rs::Divergence::compare(p.primary, p.shadow, config);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DivergenceCompareEqual4K);

}  // namespace
