// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// The http backend over loopback nginx, one caller, keep-alive: caller latency (median and p99,
// as counters) and throughput (items_per_second) of
//   BM_CurlEasyBlocking    the floor: a blocking curl_easy_perform loop on one reused handle
//   BM_HttpBackendDirect   co_await http::Backend::call
//   BM_ShadowerCall        an inline Shadower::call, nginx as primary and as shadow
//   BM_ShadowerCallDetached  Shadower::call_detached, the same
//   BM_ShadowerCallDetachedOnPool  the same, the candidate on a thread pool of its own
//   BM_ShadowerCallDetachedAfterPrimary  the same, the candidate started once the primary has
//                                        answered (ShadowConfig::start_shadow_after_primary)
// Each of these runs its calls back to back: the caller's thread is saturated, so whatever work
// the candidate leaves on it (its transfer, the comparison) lands on the next call. The
// BM_OpenLoop/* cases instead start a call every 200 us, on a schedule, and count each call's
// latency from its scheduled start: the latency a service sees below saturation. Their counter
// `late_median_us` is how late the schedule's timer woke the caller, the same in every mode.
// Their detached cases run the candidate on the caller's thread, on a pool thread of its own
// (`_on_pool`), started with the primary or after it (`_after_primary`). HTTP_BENCH_POOL_CPU=n
// puts the pool's thread on CPU n, so that `taskset -c 0` can keep the caller alone on CPU 0.
//
// The binary starts its own nginx with tests/nginx/fixture.sh (free ports, files in a temporary
// directory) and stops it at exit. The figure that matters is a ratio to BM_HttpBackendDirect
// (BM_OpenLoop/direct for the open-loop cases).
//
// Idle CPUs: on a VM an idle vCPU halts, and waking it for the next loopback packet costs tens
// of microseconds, more than the library's whole share of a call. A caller that waits for a
// socket then measures the hypervisor. While it runs, the binary asks the kernel to keep CPUs
// out of idle states (a 0 us request on /dev/cpu_dma_latency, released at exit; it needs root)
// and reports whether it could as the counter `cpus_awake`.
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <request_shadow/asio.hpp>
#include <request_shadow/http/backend.hpp>
#include <request_shadow/shadower.hpp>
#include <string>
#include <vector>

#include "calibration.hpp"

namespace {

namespace http = request_shadow::http;
namespace rs = request_shadow;
namespace net = request_shadow::net;

// nginx for the run: started before the first case, stopped when the binary exits.
class Nginx {
 public:
  Nginx() {
    dir_ = (std::filesystem::temp_directory_path() /
            ("request_shadow_http_bench_" + std::to_string(::getpid())))
               .string();
    const std::string start =
        "bash " REQUEST_SHADOW_NGINX_FIXTURE " start '" + dir_ + "' > /dev/null";
    if (std::system(start.c_str()) != 0) {
      std::fprintf(stderr, "http_bench: could not start nginx (%s)\n", start.c_str());
      std::exit(1);
    }
    std::ifstream ports(dir_ + "/ports");
    int plain = 0;
    int tls = 0;
    ports >> plain >> tls;
    url_ = "http://127.0.0.1:" + std::to_string(plain);
  }
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;
  ~Nginx() {
    const std::string stop = "bash " REQUEST_SHADOW_NGINX_FIXTURE " stop '" + dir_ + "'";
    if (std::system(stop.c_str()) == 0) std::filesystem::remove_all(dir_);
  }
  [[nodiscard]] const std::string& url() const { return url_; }

 private:
  std::string dir_;
  std::string url_;
};

const Nginx& nginx() {
  static const Nginx n;
  return n;
}

// Keeps CPUs out of idle states while the binary runs, where the kernel allows it (root).
class CpusAwake {
 public:
  CpusAwake() : fd_(::open("/dev/cpu_dma_latency", O_WRONLY | O_CLOEXEC)) {
    const std::int32_t zero_us = 0;
    if (fd_ >= 0 && ::write(fd_, &zero_us, sizeof zero_us) != sizeof zero_us) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  CpusAwake(const CpusAwake&) = delete;
  CpusAwake& operator=(const CpusAwake&) = delete;
  ~CpusAwake() {
    if (fd_ >= 0) ::close(fd_);  // the request ends with the descriptor
  }
  [[nodiscard]] bool held() const { return fd_ >= 0; }

 private:
  int fd_;
};

bool cpus_awake() {
  static const CpusAwake awake;
  return awake.held();
}

const std::string request = "GET /hello.txt HTTP/1.1\r\nHost: bench\r\n\r\n";

// Caller latency counters from per-call samples (nanoseconds).
void report(benchmark::State& state, std::vector<double>& ns) {
  if (ns.empty()) return;
  std::sort(ns.begin(), ns.end());
  state.counters["median_us"] = ns[ns.size() / 2] / 1000.0;
  state.counters["p99_us"] = ns[std::min(ns.size() - 1, ns.size() * 99 / 100)] / 1000.0;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["cpus_awake"] = cpus_awake() ? 1 : 0;
}

std::size_t body_size(char*, std::size_t size, std::size_t n, void*) { return size * n; }

void BM_CurlEasyBlocking(benchmark::State& state) {
  (void)cpus_awake();
  CURL* easy = curl_easy_init();
  const std::string url = nginx().url() + "/hello.txt";
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &body_size);
  std::vector<double> ns;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    if (curl_easy_perform(easy) != CURLE_OK) state.SkipWithError("curl_easy_perform failed");
    ns.push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
  curl_easy_cleanup(easy);
  report(state, ns);
}
BENCHMARK(BM_CurlEasyBlocking)->UseRealTime();

// Runs `call(input)` once per iteration in one coroutine, timing each call.
template <class Call>
net::awaitable<void> loop(benchmark::State& state, Call call, std::vector<double>& ns) {
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const rs::ResponseRecord r = co_await call();
    if (r.status != 200) state.SkipWithError("not 200");
    ns.push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
}

template <class Call>
void run_loop(benchmark::State& state, net::io_context& ctx, Call call) {
  (void)cpus_awake();
  std::vector<double> ns;
  ns.reserve(1 << 16);
  net::co_spawn(ctx, loop(state, std::move(call), ns), net::detached);
  ctx.run();
  report(state, ns);
}

void BM_HttpBackendDirect(benchmark::State& state) {
  net::io_context ctx;
  const http::Backend backend(nginx().url());
  run_loop(state, ctx, [&backend]() { return backend.call(std::string_view(request)); });
}
BENCHMARK(BM_HttpBackendDirect)->UseRealTime();

net::awaitable<rs::ResponseRecord> primary_of(
    const rs::Shadower<http::Backend, http::Backend>& shadower) {
  const rs::ShadowOutcome out = co_await shadower.call(std::string_view(request));
  co_return out.primary;
}

// Every shadowed case's configuration: all calls sampled, a 200 ms deadline, and the headers
// that differ on every answer (date, say) left out of the comparison.
rs::ShadowConfig bench_config() {
  return rs::ShadowConfig::full_sample()
      .shadow_timeout(std::chrono::milliseconds(200))
      .ignore_noisy_headers();
}

template <class Shadower>
void count_shadows(benchmark::State& state, const Shadower& shadower) {
  const auto stats = shadower.stats();
  state.counters["shadow_ok"] = static_cast<double>(stats.shadow_ok);
  state.counters["shed"] = static_cast<double>(stats.shed);
}

void BM_ShadowerCall(benchmark::State& state) {
  net::io_context ctx;
  const rs::Shadower shadower(http::Backend(nginx().url()), http::Backend(nginx().url()),
                              bench_config());
  run_loop(state, ctx, [&shadower]() { return primary_of(shadower); });
  state.counters["diverged"] = static_cast<double>(shadower.stats().diverged);
}
BENCHMARK(BM_ShadowerCall)->UseRealTime();

// Detached calls back to back with `config`; `pool`, if any, is where `config` runs the shadow:
// it is joined before the counters are read, so that its last legs have settled.
void run_detached(benchmark::State& state, rs::ShadowConfig config,
                  net::thread_pool* pool = nullptr) {
  net::io_context ctx;
  const rs::Shadower shadower(http::Backend(nginx().url()), http::Backend(nginx().url()),
                              std::move(config));
  run_loop(state, ctx, [&shadower]() { return shadower.call_detached(std::string_view(request)); });
  if (pool != nullptr) pool->join();  // idle workers leave the pool
  count_shadows(state, shadower);
}

void BM_ShadowerCallDetached(benchmark::State& state) { run_detached(state, bench_config()); }
BENCHMARK(BM_ShadowerCallDetached)->UseRealTime();

// The same, with the candidate's transfers on a thread of their own (ShadowConfig::
// shadow_executor): its sockets, libcurl's work and the comparison leave the caller's thread.
void BM_ShadowerCallDetachedOnPool(benchmark::State& state) {
  net::thread_pool pool(1);
  run_detached(state, bench_config().shadow_executor(pool.get_executor()), &pool);
}
BENCHMARK(BM_ShadowerCallDetachedOnPool)->UseRealTime();

void BM_ShadowerCallDetachedAfterPrimary(benchmark::State& state) {
  run_detached(state, bench_config().start_shadow_after_primary(true));
}
BENCHMARK(BM_ShadowerCallDetachedAfterPrimary)->UseRealTime();

// Open loop: one call every `period`, on a schedule; a call's latency counts from its scheduled
// start, so time spent waiting behind the previous call (or the candidate's work) is counted.
constexpr auto period = std::chrono::microseconds(200);

template <class Call>
net::awaitable<void> open_loop(benchmark::State& state, Call call, std::vector<double>& ns,
                               std::vector<double>& late) {
  net::steady_timer timer(co_await net::this_coro::executor);
  auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    start += period;
    timer.expires_at(start);
    co_await timer.async_wait(net::use_awaitable);
    const auto woke = std::chrono::steady_clock::now();
    const rs::ResponseRecord r = co_await call();
    if (r.status != 200) state.SkipWithError("not 200");
    ns.push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count());
    late.push_back(std::chrono::duration<double, std::nano>(woke - start).count());
  }
}

// The direct call, then (once it has returned) a second call on another backend, not awaited.
net::awaitable<void> discard(const http::Backend& b) {
  // co_spawn runs a coroutine's first step at once: start only after the timed call has
  // returned, as the library's posted worker does.
  const auto ex = co_await net::this_coro::executor;
  co_await net::post(ex, net::use_awaitable);
  try {
    (void)co_await b.call(std::string_view(request));
  } catch (...) {  // NOLINT(bugprone-empty-catch): a baseline's failure shows in its latency
  }
}

net::awaitable<rs::ResponseRecord> then_second(const http::Backend& first,
                                               const http::Backend& second,
                                               net::any_io_executor ex) {
  rs::ResponseRecord r = co_await first.call(std::string_view(request));
  net::co_spawn(ex, discard(second), net::detached);
  co_return r;
}

enum class Open {
  direct,
  direct_then_second,
  detached,
  detached_on_pool,
  detached_after_primary,
  detached_after_primary_on_pool
};

// With HTTP_BENCH_POOL_CPU=n in the environment, the pool's thread runs on CPU n only, whatever
// CPUs the rest of the process may use (`taskset -c 0 ./http_bench` keeps the caller on CPU 0
// while the candidate's thread has CPU n).
void pin_pool(net::thread_pool& pool) {
  const char* cpu = std::getenv("HTTP_BENCH_POOL_CPU");
  if (cpu == nullptr) return;
  const std::size_t n = std::strtoul(cpu, nullptr, 10);
  std::promise<void> pinned;
  net::post(pool, [n, &pinned] {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(n, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    pinned.set_value();
  });
  pinned.get_future().wait();
}

void BM_OpenLoop(benchmark::State& state, Open mode) {
  (void)cpus_awake();
  net::thread_pool pool(1);
  pin_pool(pool);
  std::vector<double> ns;
  std::vector<double> late;
  ns.reserve(1 << 16);
  late.reserve(1 << 16);
  {
    net::io_context ctx;
    const http::Backend direct(nginx().url());
    const http::Backend second(nginx().url());
    auto config = bench_config();
    if (mode == Open::detached_on_pool || mode == Open::detached_after_primary_on_pool) {
      config.shadow_executor(pool.get_executor());
    }
    if (mode == Open::detached_after_primary || mode == Open::detached_after_primary_on_pool) {
      config.start_shadow_after_primary(true);
    }
    const rs::Shadower shadower(http::Backend(nginx().url()), http::Backend(nginx().url()),
                                std::move(config));
    const auto start = [&](auto call) {
      net::co_spawn(ctx, open_loop(state, std::move(call), ns, late), net::detached);
    };
    if (mode == Open::direct) {
      start([&direct]() { return direct.call(std::string_view(request)); });
    } else if (mode == Open::direct_then_second) {
      // The work of a candidate started after the primary, without the library: once the timed
      // call has returned, a second call to another backend (its own connection), not awaited.
      start([&direct, &second, &ctx]() { return then_second(direct, second, ctx.get_executor()); });
    } else {
      start([&shadower]() { return shadower.call_detached(std::string_view(request)); });
    }
    ctx.run();
    pool.join();  // the last legs on the pool settle; idle workers leave it
    if (mode != Open::direct && mode != Open::direct_then_second) count_shadows(state, shadower);
  }
  report(state, ns);
  if (!late.empty()) {
    std::sort(late.begin(), late.end());
    state.counters["late_median_us"] = late[late.size() / 2] / 1000.0;
  }
}
BENCHMARK_CAPTURE(BM_OpenLoop, direct, Open::direct)->UseRealTime();
BENCHMARK_CAPTURE(BM_OpenLoop, direct_then_second, Open::direct_then_second)->UseRealTime();
BENCHMARK_CAPTURE(BM_OpenLoop, detached, Open::detached)->UseRealTime();
BENCHMARK_CAPTURE(BM_OpenLoop, detached_on_pool, Open::detached_on_pool)->UseRealTime();
BENCHMARK_CAPTURE(BM_OpenLoop, detached_after_primary, Open::detached_after_primary)->UseRealTime();
BENCHMARK_CAPTURE(BM_OpenLoop, detached_after_primary_on_pool, Open::detached_after_primary_on_pool)
    ->UseRealTime();

}  // namespace
