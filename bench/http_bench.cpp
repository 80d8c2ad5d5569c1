// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// The http backend over loopback nginx, one caller, keep-alive: caller latency (median and p99,
// as counters) and throughput (items_per_second) of
//   BM_CurlEasyBlocking    the floor: a blocking curl_easy_perform loop on one reused handle
//   BM_HttpBackendDirect   co_await http::Backend::call
//   BM_ShadowerCall        an inline Shadower::call, nginx as primary and as shadow
//   BM_ShadowerCallDetached  Shadower::call_detached, the same
//   BM_ShadowerCallDetachedOnPool  the same, the candidate on a thread pool of its own
// The binary starts its own nginx with tests/nginx/fixture.sh (free ports, files in a temporary
// directory) and stops it at exit. The figure that matters is a ratio to BM_HttpBackendDirect.
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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

const std::string request = "GET /hello.txt HTTP/1.1\r\nHost: bench\r\n\r\n";

// Caller latency counters from per-call samples (nanoseconds).
void report(benchmark::State& state, std::vector<double>& ns) {
  if (ns.empty()) return;
  std::sort(ns.begin(), ns.end());
  state.counters["median_us"] = ns[ns.size() / 2] / 1000.0;
  state.counters["p99_us"] = ns[std::min(ns.size() - 1, ns.size() * 99 / 100)] / 1000.0;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

std::size_t body_size(char*, std::size_t size, std::size_t n, void*) { return size * n; }

void BM_CurlEasyBlocking(benchmark::State& state) {
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

void BM_ShadowerCall(benchmark::State& state) {
  net::io_context ctx;
  const rs::Shadower shadower(http::Backend(nginx().url()), http::Backend(nginx().url()),
                              rs::ShadowConfig::full_sample()
                                  .shadow_timeout(std::chrono::milliseconds(200))
                                  .ignore_noisy_headers());
  run_loop(state, ctx, [&shadower]() { return primary_of(shadower); });
  state.counters["diverged"] = static_cast<double>(shadower.stats().diverged);
}
BENCHMARK(BM_ShadowerCall)->UseRealTime();

void BM_ShadowerCallDetached(benchmark::State& state) {
  net::io_context ctx;
  const rs::Shadower shadower(http::Backend(nginx().url()), http::Backend(nginx().url()),
                              rs::ShadowConfig::full_sample()
                                  .shadow_timeout(std::chrono::milliseconds(200))
                                  .ignore_noisy_headers());
  run_loop(state, ctx, [&shadower]() { return shadower.call_detached(std::string_view(request)); });
  const auto stats = shadower.stats();
  state.counters["shadow_ok"] = static_cast<double>(stats.shadow_ok);
  state.counters["shed"] = static_cast<double>(stats.shed);
}
BENCHMARK(BM_ShadowerCallDetached)->UseRealTime();

// The same, with the candidate's transfers on a thread of their own (ShadowConfig::
// shadow_executor): its sockets, libcurl's work and the comparison leave the caller's thread.
void BM_ShadowerCallDetachedOnPool(benchmark::State& state) {
  net::thread_pool pool(1);
  {
    net::io_context ctx;
    const rs::Shadower shadower(http::Backend(nginx().url()), http::Backend(nginx().url()),
                                rs::ShadowConfig::full_sample()
                                    .shadow_timeout(std::chrono::milliseconds(200))
                                    .ignore_noisy_headers()
                                    .shadow_executor(pool.get_executor()));
    run_loop(state, ctx,
             [&shadower]() { return shadower.call_detached(std::string_view(request)); });
    const auto stats = shadower.stats();
    state.counters["shadow_ok"] = static_cast<double>(stats.shadow_ok);
    state.counters["shed"] = static_cast<double>(stats.shed);
  }
  pool.join();  // the last legs settle; idle workers leave the pool
}
BENCHMARK(BM_ShadowerCallDetachedOnPool)->UseRealTime();

}  // namespace
