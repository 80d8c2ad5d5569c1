// Built against the installed package by .ci/run: exits 0 only if a call shadows and compares.
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <cstdio>
#include <request_shadow/request_shadow.hpp>

namespace rs = request_shadow;

struct Fixed {
  const char* body;
  asio::awaitable<rs::ResponseRecord> call(std::span<const std::byte>) {
    co_return rs::ResponseRecord::success(body);
  }
};

asio::awaitable<int> check(rs::Shadower<Fixed, Fixed> sh) {
  const auto out = co_await sh.call("hello");
  co_return (out.primary.body == "v1" && out.divergence && out.divergence->body) ? 0 : 1;
}

int main() {
  asio::io_context ctx;
  int rc = 2;
  asio::co_spawn(ctx, check(rs::Shadower(Fixed{"v1"}, Fixed{"v2"})),
                 [&rc](std::exception_ptr e, int r) { rc = e ? 3 : r; });
  ctx.run();
  std::printf("consumer: %s\n", rc == 0 ? "ok" : "FAILED");
  return rc;
}
