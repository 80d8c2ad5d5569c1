// Built against the installed package by .ci/run, in each flavour (request_shadow::request_shadow
// and request_shadow::boost): exits 0 only if a call shadows and compares.
#include <cstdio>
#include <request_shadow/asio.hpp>
#include <request_shadow/request_shadow.hpp>

namespace rs = request_shadow;
namespace net = request_shadow::net;

struct Fixed {
  const char* body;
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte>) {
    co_return rs::ResponseRecord::success(body);
  }
};

net::awaitable<int> check(rs::Shadower<Fixed, Fixed> sh) {
  const auto out = co_await sh.call("hello");
  co_return (out.primary.body == "v1" && out.divergence && out.divergence->body) ? 0 : 1;
}

int main() {
  net::io_context ctx;
  int rc = 2;
  net::co_spawn(ctx, check(rs::Shadower(Fixed{"v1"}, Fixed{"v2"})),
                [&rc](std::exception_ptr e, int r) { rc = e ? 3 : r; });
  ctx.run();
  std::printf("consumer (%s Asio): %s\n", REQUEST_SHADOW_BOOST_ASIO ? "Boost" : "standalone",
              rc == 0 ? "ok" : "FAILED");
  return rc;
}
