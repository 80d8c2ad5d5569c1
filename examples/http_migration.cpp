// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// A migration of a small JSON API served by nginx: v1 answers the callers, v2 is shadowed in
// detached mode (the caller never waits for it), compared as JSON. Unsafe methods never reach the
// candidate: `shadow_if(http_safe_methods())` sends them to v1 alone. Prints the divergences and
// the Prometheus text, and exits 0 only if it found exactly the one real change (item 2's price).
//
//   http_migration [base URL, default http://127.0.0.1:18481]   (nginx with
//   examples/http_migration.nginx.conf; see README)
#include <cstdio>
#include <iostream>
#include <memory>
#include <request_shadow/asio.hpp>
#include <request_shadow/http/backend.hpp>
#include <request_shadow/http_rules.hpp>
#include <request_shadow/json.hpp>
#include <request_shadow/prometheus.hpp>
#include <request_shadow/request_shadow.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace rs = request_shadow;
namespace http = request_shadow::http;
namespace net = request_shadow::net;

namespace {

using Migration = rs::Shadower<http::Backend, http::Backend>;

// A coroutine takes its arguments by value: copies of a Shadower and a backend share their state.
net::awaitable<void> serve(Migration migration, std::vector<std::string> requests,
                           std::shared_ptr<int> failures) {
  for (const std::string& request : requests) {
    try {
      // Only safe methods are shadowed (the config's rule); an order goes to v1 alone.
      const rs::ResponseRecord answer = co_await migration.call_detached(request);
      std::printf("%-28.*s -> %u %s\n", static_cast<int>(request.find('\r')), request.data(),
                  answer.status, answer.body.c_str());
    } catch (const std::exception& e) {
      ++*failures;
      std::printf("v1 failed: %s\n", e.what());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string base = argc > 1 ? argv[1] : "http://127.0.0.1:18481";
  const http::Backend v1(base + "/v1");
  const http::Backend v2(base + "/v2");
  rs::ShadowConfig config = rs::ShadowConfig::full_sample();
  config.shadow_timeout(std::chrono::milliseconds(500))
      .ignore_noisy_headers()
      .shadow_if(rs::http_safe_methods())  // GET, HEAD, OPTIONS, TRACE only
      .body_comparator(rs::json::comparator());
  const Migration migration(v1, v2, config);

  std::vector<std::string> requests;
  for (int round = 0; round < 3; ++round) {
    for (int item = 1; item <= 3; ++item) {
      requests.push_back("GET /items/" + std::to_string(item) +
                         " HTTP/1.1\r\nHost: shop\r\nAccept: application/json\r\n\r\n");
    }
  }
  requests.push_back(
      "POST /orders HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"
      "Content-Length: 11\r\n\r\n{\"item\":2}\n");

  net::io_context ctx;
  const auto failures = std::make_shared<int>(0);
  net::co_spawn(ctx, serve(migration, requests, failures), net::detached);
  ctx.run();  // returns once every detached shadow leg has settled

  std::printf("\ndivergences:\n");
  for (const rs::DivergenceEntry& entry : migration.divergences()) {
    std::printf("  %.*s: %s\n", static_cast<int>(entry.key.find('\r')), entry.key.c_str(),
                rs::to_string(entry.divergence).c_str());
  }
  const rs::ShadowStats stats = migration.stats();
  std::printf("\n");
  std::cout << rs::to_prometheus(stats, "shop-v2");

  const bool as_expected = *failures == 0 && stats.calls == 10 && stats.filtered == 1 &&
                           stats.shadow_ok == 9 && stats.diverged == 3 &&
                           stats.signatures.size() == 1 &&
                           stats.signatures[0].signature.text == "body json /price changed";
  std::printf("\n%s\n",
              as_expected ? "as expected: one real change, item 2's price" : "NOT as expected");
  return as_expected ? 0 : 1;
}
