// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// ShouldShadow beside OpenSSL's one-shot SHA256() of the same key, and the calibration memcmp
// (calibration.hpp).
#include <benchmark/benchmark.h>
#include <openssl/sha.h>

#include <request_shadow/config.hpp>
#include <string>

#include "calibration.hpp"

namespace rs = request_shadow;

namespace {

std::string key_of(benchmark::State& state) {
  return std::string(static_cast<std::size_t>(state.range(0)), 'k');
}

// Baseline: the plainest OpenSSL call, which looks the algorithm up on every digest.
void BM_Sha256OneShot(benchmark::State& state) {
  const std::string key = key_of(state);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  for (auto _ : state) {
    SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
    benchmark::DoNotOptimize(digest);
  }
}
BENCHMARK(BM_Sha256OneShot)->Arg(16)->Arg(4096);

void BM_ShouldShadow(benchmark::State& state) {
  const std::string key = key_of(state);
  const auto config = rs::ShadowConfig::full_sample().sample_rate(50);
  for (auto _ : state) benchmark::DoNotOptimize(config.should_shadow(key));
}
BENCHMARK(BM_ShouldShadow)->Arg(16)->Arg(4096);

// With a salt, the digest covers two pieces (salt, then key).
void BM_ShouldShadowSalted(benchmark::State& state) {
  const std::string key = key_of(state);
  const auto config = rs::ShadowConfig::full_sample().sample_rate(50).salt("checkout-v2");
  for (auto _ : state) benchmark::DoNotOptimize(config.should_shadow(key));
}
BENCHMARK(BM_ShouldShadowSalted)->Arg(16)->Arg(4096);

}  // namespace
