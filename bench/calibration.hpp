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
//
// Both buffers start on a 64-byte boundary. Where two buffers sit in their cache lines changes
// memcmp's time: on the project's machine, 38 ns when their offsets agree modulo 32, 48 ns when
// they are 16 bytes apart (every other 32-byte load of one side then spans two lines). Left to
// the heap, the offsets, and so the unit, changed from one binary to the next; aligned, the unit
// is always the faster case.
#ifndef REQUEST_SHADOW_BENCH_CALIBRATION_HPP
#define REQUEST_SHADOW_BENCH_CALIBRATION_HPP

#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>

// A memcmp of two equal 4 KB buffers, the first starting on a cache line, the second `shift`
// bytes into one.
inline void memcmp_4k(benchmark::State& state, std::size_t shift) {
  struct alignas(64) Buffer {
    char bytes[4096 + 64];  // NOLINT(modernize-avoid-c-arrays): the alignment is the point
  };
  const auto a = std::make_unique<Buffer>();
  const auto b = std::make_unique<Buffer>();
  std::memset(a->bytes, 'x', sizeof a->bytes);
  std::memset(b->bytes, 'x', sizeof b->bytes);
  for (auto _ : state) {
    const char* x = a->bytes;
    const char* y = b->bytes + shift;
    benchmark::DoNotOptimize(x);
    benchmark::DoNotOptimize(y);
    benchmark::DoNotOptimize(std::memcmp(x, y, 4096));
  }
}

void BM_Memcmp4K(benchmark::State& state);

void BM_Memcmp4K(benchmark::State& state) { memcmp_4k(state, 0); }
BENCHMARK(BM_Memcmp4K);

#endif  // REQUEST_SHADOW_BENCH_CALIBRATION_HPP
