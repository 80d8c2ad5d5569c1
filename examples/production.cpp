// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Shadowing production traffic with a candidate that is sometimes slow, sometimes wrong and
// sometimes hangs: detached calls (the caller never waits for the candidate), a deadline, a bound
// on legs in flight, request rules (only safe methods reach the candidate, without their
// credentials, at a capped rate), a live change of the sample rate, noise cancellation (both
// services stamp each answer with their own request id, which a second production answer shows
// to be noise), and at the end the counters as Prometheus text, the last divergences as JSON
// lines, and the kinds of divergence with their shares and the noisy places with their rates.
//
//   production                 a summary, then every export
//   production --prometheus    only the Prometheus text
//   production --json-lines    only the JSON lines of the last divergences
//   production --summary       only the JSON lines of the kinds of divergence
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <request_shadow/asio.hpp>
#include <request_shadow/request_shadow.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace rs = request_shadow;
namespace net = request_shadow::net;
using namespace std::chrono_literals;

namespace {

std::string text(std::span<const std::byte> input) {
  return {reinterpret_cast<const char*>(input.data()), input.size()};
}

// The item of a request written as HTTP/1 text: the last segment of its path.
std::string item_of(std::string_view request) {
  const auto line = request.substr(0, request.find("\r\n"));
  const auto path = line.substr(0, line.rfind(' '));
  return std::string(path.substr(path.rfind('/') + 1));
}

// Requests that reached the candidate with credentials in them (there must be none).
std::atomic<int> leaked_credentials{0};

// A fresh request id for each answer of one service.
std::string request_id() {
  static std::atomic<unsigned> next{0};
  return std::to_string(next++);
}

// The production service: answers at once.
struct PriceService {
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> input) {
    co_return rs::ResponseRecord::success(R"({"item":")" + item_of(text(input)) +
                                          R"(","price":100})")
        .with_header("content-type", "application/json")
        .with_header("x-request-id", request_id());
  }
};

// The candidate: one request in 7 is slow (past the deadline), one in 5 answers a different
// price, one in 50 hangs and ignores cancellation.
struct CandidatePriceService {
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> input) {
    const std::string request = text(input);
    if (request.find("Authorization:") != std::string::npos) ++leaked_credentials;
    const std::string item = item_of(request);
    const unsigned n = static_cast<unsigned>(std::hash<std::string>{}(item));
    const auto ex = co_await net::this_coro::executor;
    if (n % 50 == 0) {
      co_await net::this_coro::throw_if_cancelled(false);
      net::steady_timer forever(ex, 1h);
      co_await forever.async_wait(
          net::bind_cancellation_slot(net::cancellation_slot(), net::use_awaitable));
    } else if (n % 7 == 0) {
      net::steady_timer slow(ex, 40ms);
      co_await slow.async_wait(net::use_awaitable);
    }
    const int price = n % 5 == 0 ? 101 : 100;
    co_return rs::ResponseRecord::success(R"({"item":")" + item + R"(","price":)" +
                                          std::to_string(price) + "}")
        .with_header("content-type", "application/json")
        .with_header("x-request-id", "c" + request_id());
  }
};

using PriceShadower = rs::Shadower<PriceService, CandidatePriceService>;

net::awaitable<void> serve(PriceShadower sh, int client, int requests) {
  for (int i = 0; i < requests; ++i) {
    const std::string item = "sku-" + std::to_string(client) + "-" + std::to_string(i);
    // One request in 10 changes the cart: never shadowed, or it would be made twice.
    const std::string request = std::string(i % 10 == 9 ? "POST /cart/" : "GET /price/") + item +
                                " HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer client-" +
                                std::to_string(client) + "\r\n\r\n";
    // The caller gets the price as soon as the production service answers.
    const rs::ResponseRecord price = co_await sh.call_detached(request);
    if (price.status != 200) throw std::logic_error("the caller lost its primary");
    const auto ex = co_await net::this_coro::executor;
    net::steady_timer next_request(ex, 1ms);
    co_await next_request.async_wait(net::use_awaitable);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  net::io_context ctx;
  PriceShadower shadower(PriceService{}, CandidatePriceService{},
                         rs::ShadowConfig::full_sample()
                             .sample_rate(25)
                             .shadow_timeout(20ms)
                             .max_in_flight_shadows(256)
                             .salt("pricing-v2")
                             .shadow_if(rs::http_safe_methods())
                             .shadow_request(rs::http_strip_headers({"authorization", "cookie"}))
                             .max_shadows_per_second(3000, 300)
                             .latency_histograms(true)
                             .auto_stop(rs::AutoStop{0.9, 200, 1s})
                             .noise_cancellation({}));
  shadower.with_log(32);

  constexpr int clients = 16;
  constexpr int requests = 200;
  for (int c = 0; c < clients; ++c) {
    net::co_spawn(net::make_strand(ctx), serve(shadower, c, requests), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
  // Detached calls settle in the background (by answer or by deadline); stop once every call has
  // started and every sampled one is decided, leaving the hung legs behind.
  net::steady_timer drained(ctx);
  std::function<void(rs::error_code)> poll = [&](rs::error_code) {
    const rs::ShadowStats now = shadower.stats();
    if (now.calls == static_cast<std::uint64_t>(clients * requests) &&
        now.sampled_in_progress == 0) {
      ctx.stop();
      return;
    }
    drained.expires_after(5ms);
    drained.async_wait(poll);
  };
  poll({});
  // An operator turns the dial while traffic flows.
  net::steady_timer dial(ctx, 30ms);
  dial.async_wait([&shadower](rs::error_code) { shadower.set_sample_rate(100); });

  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&ctx] { ctx.run(); });
  for (auto& t : threads) t.join();

  const rs::ShadowStats stats = shadower.stats();
  if (leaked_credentials.load() != 0) {
    std::fprintf(stderr, "%d requests reached the candidate with credentials\n",
                 leaked_credentials.load());
    return 1;
  }
  if (mode == "--prometheus") {
    std::cout << rs::to_prometheus(stats, "pricing-v2");
    return 0;
  }
  if (mode == "--json-lines") {
    rs::write_json_lines(std::cout, shadower.divergences());
    return 0;
  }
  if (mode == "--summary") {
    rs::write_summary_lines(std::cout, stats);
    return 0;
  }
  std::printf(
      "%llu calls: %llu filtered (unsafe methods), %llu skipped by the sampler, %llu over the "
      "rate cap, %llu matched, %llu diverged, %llu timed out, %llu expired in the queue, %llu "
      "shed; %zu shadow legs still hanging\n\n",
      static_cast<unsigned long long>(stats.calls), static_cast<unsigned long long>(stats.filtered),
      static_cast<unsigned long long>(stats.skipped_by_sampler),
      static_cast<unsigned long long>(stats.rate_limited),
      static_cast<unsigned long long>(stats.matched),
      static_cast<unsigned long long>(stats.diverged),
      static_cast<unsigned long long>(stats.shadow_timed_out),
      static_cast<unsigned long long>(stats.expired_in_queue),
      static_cast<unsigned long long>(stats.shed), shadower.in_flight_shadows());
  auto ms = [](std::chrono::nanoseconds d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  for (const auto& [leg, h] :
       {std::pair{"primary", stats.primary_latency}, std::pair{"shadow ", stats.shadow_latency}}) {
    std::printf("%s latency: p50 <= %.3f ms, p90 <= %.3f ms, p99 <= %.3f ms (%llu legs)\n", leg,
                ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)),
                static_cast<unsigned long long>(h.count));
  }
  for (const auto& kind : stats.signatures) {
    std::printf("%5.1f%% of divergences: %s\n",
                100.0 * static_cast<double>(kind.count) / static_cast<double>(stats.diverged),
                kind.signature.text.c_str());
  }
  std::printf("\n");
  std::cout << rs::to_prometheus(stats, "pricing-v2") << '\n';
  rs::write_json_lines(std::cout, shadower.divergences());
  rs::write_summary_lines(std::cout, stats);
  return 0;
}
