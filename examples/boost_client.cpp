// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Shadowing a client written on Boost.Asio, as a Beast, Boost.MySQL or Boost.Redis service would
// be: the backends are boost::asio coroutines, and the program links request_shadow::boost. The
// "cache" client answers from memory after a simulated round trip on a boost::asio timer; its
// candidate answers through a boost::asio::deferred operation (new in Asio 1.24, so Boost only)
// and drops the trailing newline of one key. No network.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <request_shadow/request_shadow.hpp>
#include <string>
#include <string_view>
#include <type_traits>

namespace asio = boost::asio;
namespace rs = request_shadow;
using namespace std::chrono_literals;

// The library's door picked Boost.Asio: its awaitables are this program's awaitables.
static_assert(std::is_same_v<rs::net::io_context, asio::io_context>);

namespace {

using Store = std::map<std::string, std::string, std::less<>>;

std::string_view text(std::span<const std::byte> input) {
  return {reinterpret_cast<const char*>(input.data()), input.size()};
}

// The production client: a lookup after a 1 ms round trip.
struct CacheClient {
  std::shared_ptr<const Store> store;
  asio::awaitable<rs::ResponseRecord> call(std::span<const std::byte> input) {
    asio::steady_timer round_trip(co_await asio::this_coro::executor, 1ms);
    co_await round_trip.async_wait(asio::use_awaitable);
    const auto it = store->find(text(input));
    if (it == store->end()) co_return rs::ResponseRecord::failure(404);
    co_return rs::ResponseRecord::success(it->second);
  }
};

// The candidate: the same lookup, its round trip an asio::deferred operation; it trims values.
struct TrimmingCacheClient {
  std::shared_ptr<const Store> store;
  asio::awaitable<rs::ResponseRecord> call(std::span<const std::byte> input) {
    asio::steady_timer round_trip(co_await asio::this_coro::executor, 1ms);
    auto wait = round_trip.async_wait(asio::deferred);
    co_await std::move(wait)(asio::use_awaitable);
    const auto it = store->find(text(input));
    if (it == store->end()) co_return rs::ResponseRecord::failure(404);
    std::string value = it->second;
    while (!value.empty() && value.back() == '\n') value.pop_back();
    co_return rs::ResponseRecord::success(value);
  }
};

static_assert(rs::Backend<CacheClient> && rs::Backend<TrimmingCacheClient>);

asio::awaitable<void> serve(rs::Shadower<CacheClient, TrimmingCacheClient> shadower) {
  for (const std::string_view key : {"user:1", "user:2", "motd", "user:9"}) {
    const rs::ShadowOutcome out = co_await shadower.call(key);
    std::printf("GET %.*s -> %d, %zu bytes: %s\n", static_cast<int>(key.size()), key.data(),
                out.primary.status, out.primary.body.size(),
                out.divergence ? rs::to_string(*out.divergence).c_str() : "same answer");
  }
}

}  // namespace

int main() {
  const auto store = std::make_shared<const Store>(
      Store{{"user:1", "ada"}, {"user:2", "grace"}, {"motd", "hello\n"}});
  rs::Shadower shadower(CacheClient{store}, TrimmingCacheClient{store},
                        rs::ShadowConfig::full_sample().shadow_timeout(100ms));
  asio::io_context ctx;
  asio::co_spawn(ctx, serve(shadower), asio::detached);
  ctx.run();
  const rs::ShadowStats stats = shadower.stats();
  std::printf("calls %llu, matched %llu, diverged %llu\n",
              static_cast<unsigned long long>(stats.calls),
              static_cast<unsigned long long>(stats.matched),
              static_cast<unsigned long long>(stats.diverged));
  return stats.calls == 4 && stats.matched == 3 && stats.diverged == 1 ? 0 : 1;
}
