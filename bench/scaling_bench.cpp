// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Multi-thread scaling: throughput of 64 concurrent callers spread over 1, 2 and
// hardware_concurrency() threads, with trivial in-memory backends and one Shadower shared by
// every thread. The scaling of a mode is its throughput at N threads over its throughput at 1
// thread, in the same layout.
//
// Cases: BM_Scaling/<layout>/<mode>/threads:N.
//   layout context_per_thread: one io_context per thread, each run by its own thread;
//          shared_context:     one io_context run by all N threads.
//   mode   direct:    co_await the primary only;
//          post:      the primary, then one net::post of the caller (the baseline: the same extra
//                     scheduler turn as the shadow leg's);
//          inline:    Shadower::call, every call sampled;
//          detached:  Shadower::call_detached, every call sampled; an iteration ends only once
//                     every shadow has settled;
//          unsampled: Shadower::call with sample rate 0.
// The shadow backend suspends once (one net::post) before it answers.
//
// One iteration: 64 callers in all, divided over the threads, each co_spawned on its own strand
// of its thread's context, each making 250 calls. The threads live for the whole case and meet
// at a std::barrier before and after each iteration; the Shadower, the contexts and the strands
// are made once per case, outside the timed loop.
//
// Two throughputs per case. items_per_second: calls over the real time of the iterations, which
// also holds each round's fixed cost (the barriers' thread wake-ups, restarting the contexts,
// spawning 64 callers: 40-80 us a round on the 2-core VM, up to 10 % of a direct round).
// calls_per_s: calls over the time the calls took, from the first thread's entry into run() to
// the last thread's return from it, summed over the rounds; scaling_table.py uses this one.
//   ./scaling_bench --benchmark_format=json | python3 scaling_table.py
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <request_shadow/asio.hpp>
#include <request_shadow/shadower.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "calibration.hpp"

namespace rs = request_shadow;
namespace net = request_shadow::net;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::int64_t total_callers = 64;
constexpr std::int64_t calls_per_caller = 250;
constexpr std::int64_t calls_per_iteration = total_callers * calls_per_caller;

// Answers at once, with a 14-byte body that fits the string's inline buffer.
struct PrimaryBackend {
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> /*input*/) {
    co_return rs::ResponseRecord::success("hello, shadow!");
  }
};

// Suspends once (one post to its own executor), then answers as the primary does.
struct ShadowBackend {
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> /*input*/) {
    // A named local, not a nested co_await: g++ 12 and temporaries in co_await expressions
    // (ASIO-NOTES.md).
    const auto ex = co_await net::this_coro::executor;
    co_await net::post(ex, net::use_awaitable);
    co_return rs::ResponseRecord::success("hello, shadow!");
  }
};

using ScalingShadower = rs::Shadower<PrimaryBackend, ShadowBackend>;

enum class Layout { context_per_thread, shared_context };
enum class Mode { direct, post, inline_call, detached, unsampled };

const char* name_of(Layout layout) {
  return layout == Layout::context_per_thread ? "context_per_thread" : "shared_context";
}

const char* name_of(Mode mode) {
  switch (mode) {
    case Mode::direct:
      return "direct";
    case Mode::post:
      return "post";
    case Mode::inline_call:
      return "inline";
    case Mode::detached:
      return "detached";
    case Mode::unsampled:
      return "unsampled";
  }
  return "?";
}

// What every caller of a case shares; outlives every caller (the pool's threads are joined, and
// its contexts destroyed, before it is).
struct Shared {
  std::shared_ptr<PrimaryBackend> primary;
  ScalingShadower shadower;
  std::string input;
  std::atomic<std::int64_t> completed{0};  // calls made by callers that finished their loop
};

template <Mode M>
net::awaitable<void> caller(Shared* shared, std::int64_t calls) {
  const auto bytes = std::as_bytes(std::span(shared->input.data(), shared->input.size()));
  const auto ex = co_await net::this_coro::executor;  // this caller's strand
  for (std::int64_t i = 0; i < calls; ++i) {
    if constexpr (M == Mode::direct) {
      auto r = co_await shared->primary->call(bytes);
      benchmark::DoNotOptimize(r);
    } else if constexpr (M == Mode::post) {
      auto r = co_await shared->primary->call(bytes);
      benchmark::DoNotOptimize(r);
      co_await net::post(ex, net::use_awaitable);
    } else if constexpr (M == Mode::detached) {
      auto r = co_await shared->shadower.call_detached(bytes);
      benchmark::DoNotOptimize(r);
    } else {  // inline_call, unsampled
      auto out = co_await shared->shadower.call(bytes);
      benchmark::DoNotOptimize(out);
    }
  }
  shared->completed.fetch_add(calls, std::memory_order_relaxed);
}

// N threads kept for a whole case. Each round, every thread waits at `start_`, spawns its share
// of the callers (on a Run round), runs its context until it is out of work, and waits at `end_`.
// The benchmark's own thread restarts the contexts between rounds, when no thread runs them.
// Each thread notes when it enters run() and when it leaves it.
class Pool {
 public:
  enum class Command { Run, Drain, Stop };

  Pool(Layout layout, Mode mode, int threads, Shared& shared)
      : layout_(layout),
        mode_(mode),
        shared_(shared),
        start_(threads + 1),
        end_(threads + 1),
        spawned_(threads),
        spans_(static_cast<std::size_t>(threads)) {
    const int contexts = layout == Layout::context_per_thread ? threads : 1;
    for (int c = 0; c < contexts; ++c) {
      contexts_.push_back(
          std::make_unique<net::io_context>(layout == Layout::context_per_thread ? 1 : threads));
    }
    // Callers divided as evenly as possible: thread t owns callers [first_[t], first_[t + 1]).
    for (int t = 0; t <= threads; ++t) first_.push_back(total_callers * t / threads);
    for (int t = 0; t < threads; ++t) {
      net::io_context& ctx = context_of(t);
      for (auto c = first_[static_cast<std::size_t>(t)];
           c < first_[static_cast<std::size_t>(t) + 1]; ++c) {
        strands_.push_back(net::make_strand(ctx));
      }
    }
    threads_.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this, t] { thread_main(t); });
  }

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  ~Pool() {
    command_ = Command::Stop;
    start_.arrive_and_wait();
    for (auto& t : threads_) t.join();
  }

  // One round on every thread, once every thread's context has run out of work; returns the
  // seconds from the first thread's entry into run() to the last thread's return from it.
  double round(Command command) {
    for (auto& ctx : contexts_) ctx->restart();
    command_ = command;  // published to the threads by the barrier, as `spans_` is back
    start_.arrive_and_wait();
    end_.arrive_and_wait();
    auto begin = spans_.front().begin;
    auto end = spans_.front().end;
    for (const Span& span : spans_) {
      begin = std::min(begin, span.begin);
      end = std::max(end, span.end);
    }
    return std::chrono::duration<double>(end - begin).count();
  }

 private:
  net::io_context& context_of(int thread) {
    return *contexts_[layout_ == Layout::context_per_thread ? static_cast<std::size_t>(thread) : 0];
  }

  void spawn_callers(int thread) {
    for (auto c = first_[static_cast<std::size_t>(thread)];
         c < first_[static_cast<std::size_t>(thread) + 1]; ++c) {
      const auto& strand = strands_[static_cast<std::size_t>(c)];
      switch (mode_) {
        case Mode::direct:
          net::co_spawn(strand, caller<Mode::direct>(&shared_, calls_per_caller), net::detached);
          break;
        case Mode::post:
          net::co_spawn(strand, caller<Mode::post>(&shared_, calls_per_caller), net::detached);
          break;
        case Mode::inline_call:
        case Mode::unsampled:
          net::co_spawn(strand, caller<Mode::inline_call>(&shared_, calls_per_caller),
                        net::detached);
          break;
        case Mode::detached:
          net::co_spawn(strand, caller<Mode::detached>(&shared_, calls_per_caller), net::detached);
          break;
      }
    }
  }

  void thread_main(int thread) {
    net::io_context& ctx = context_of(thread);
    for (;;) {
      start_.arrive_and_wait();
      const Command command = command_;
      if (command == Command::Stop) return;
      if (command == Command::Run) spawn_callers(thread);
      // One shared context: every caller is queued before any thread runs it, or a thread that
      // ran out of work early would stop the context under the others.
      if (layout_ == Layout::shared_context) spawned_.arrive_and_wait();
      Span& span = spans_[static_cast<std::size_t>(thread)];
      span.begin = Clock::now();
      ctx.run();
      span.end = Clock::now();
      end_.arrive_and_wait();
    }
  }

  const Layout layout_;
  const Mode mode_;
  Shared& shared_;
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<net::strand<net::io_context::executor_type>> strands_;  // one per caller
  std::vector<std::int64_t> first_;
  Command command_ = Command::Run;
  std::barrier<> start_, end_, spawned_;
  struct alignas(64) Span {  // one cache line per thread
    Clock::time_point begin, end;
  };
  std::vector<Span> spans_;           // written by each thread in a round, read between rounds
  std::vector<std::thread> threads_;  // last: started once everything above exists
};

bool settled(const ScalingShadower& shadower, std::int64_t expected) {
  const auto s = shadower.stats();
  return s.calls == static_cast<std::uint64_t>(expected) && s.sampled_in_progress == 0;
}

void BM_Scaling(benchmark::State& state, Layout layout, Mode mode, int threads) {
  auto config = rs::ShadowConfig::full_sample()
                    .sample_rate(mode == Mode::unsampled ? 0 : 100)
                    .max_in_flight_shadows(1'000'000)
                    .shadow_timeout(std::chrono::seconds(1));
  auto primary = std::make_shared<PrimaryBackend>();
  Shared shared{primary, ScalingShadower(primary, std::make_shared<ShadowBackend>(), config),
                std::string(16, 'x')};
  std::int64_t expected = 0;
  std::int64_t drain_rounds = 0;
  double calls_seconds = 0;
  {
    Pool pool(layout, mode, threads, shared);
    for (auto _ : state) {
      calls_seconds += pool.round(Pool::Command::Run);
      expected += calls_per_iteration;
      if (mode != Mode::detached) continue;
      // Every shadow settles inside run(), so this normally passes at once; if it does not, run
      // the contexts again (something was posted to them late) until it does.
      const auto give_up = Clock::now() + std::chrono::seconds(10);
      while (!settled(shared.shadower, expected)) {
        if (Clock::now() > give_up) {
          state.SkipWithError("detached shadows did not settle within 10 s");
          break;
        }
        ++drain_rounds;
        calls_seconds += pool.round(Pool::Command::Drain);
        std::this_thread::yield();
      }
      if (state.error_occurred()) break;
    }
  }  // threads joined, contexts destroyed
  if (state.error_occurred()) return;

  if (shared.completed.load() != expected) {
    state.SkipWithError("callers lost calls (a call threw, or a caller never ran)");
    return;
  }
  if (mode != Mode::direct && mode != Mode::post) {
    const auto s = shared.shadower.stats();
    const auto want = static_cast<std::uint64_t>(expected);
    const bool ok = mode == Mode::unsampled
                        ? s.calls == want && s.skipped_by_sampler == want
                        : s.calls == want && s.matched == want && s.sampled_in_progress == 0;
    if (!ok) {
      state.SkipWithError("shadower counters disagree: shadows lost, failed or timed out");
      return;
    }
  }
  state.SetItemsProcessed(expected);
  if (calls_seconds > 0)
    state.counters["calls_per_s"] = static_cast<double>(expected) / calls_seconds;
  if (mode == Mode::detached) state.counters["drain_rounds"] = static_cast<double>(drain_rounds);
}

std::vector<int> thread_counts() {
  std::vector<int> counts{1, 2};
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  if (hw > 2) counts.push_back(hw);
  return counts;
}

bool register_scaling() {
  for (const Layout layout : {Layout::context_per_thread, Layout::shared_context}) {
    for (const Mode mode :
         {Mode::direct, Mode::post, Mode::inline_call, Mode::detached, Mode::unsampled}) {
      for (const int threads : thread_counts()) {
        const std::string name = std::string("BM_Scaling/") + name_of(layout) + "/" +
                                 name_of(mode) + "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), BM_Scaling, layout, mode, threads)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  return true;
}

[[maybe_unused]] const bool registered = register_scaling();

}  // namespace
