// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// The calibration case of every benchmark binary: BM_Memcmp4K, a memcmp of two equal 4096-byte
// buffers, timed in the same run as the binary's other cases.
//
// Why: the project's machine is a VM whose speed drifts by up to 30 % between days, and other
// jobs may share its cores, so an absolute figure from one run says little about another run's.
// A figure compared across days, or with another library's run, is read as a multiple of this
// case's time in the same run; every *_bench binary therefore has it, exactly once.
//
// Include this header in exactly one .cpp of each benchmark binary. It is a header rather than a
// static library so that the linker cannot drop the registration (nothing refers to it). The
// function has external linkage on purpose: a second inclusion in the same binary is a "multiple
// definition" link error instead of a silently duplicated case.
#ifndef REQUEST_SHADOW_BENCH_CALIBRATION_HPP
#define REQUEST_SHADOW_BENCH_CALIBRATION_HPP

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

void BM_Memcmp4K(benchmark::State& state);

void BM_Memcmp4K(benchmark::State& state) {
  const std::string a(4096, 'x');
  const std::string b(4096, 'x');
  for (auto _ : state) {
    const char* x = a.data();
    const char* y = b.data();
    benchmark::DoNotOptimize(x);
    benchmark::DoNotOptimize(y);
    benchmark::DoNotOptimize(std::memcmp(x, y, 4096));
  }
}
BENCHMARK(BM_Memcmp4K);

#endif  // REQUEST_SHADOW_BENCH_CALIBRATION_HPP
