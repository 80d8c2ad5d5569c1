// Built against the installed package by .ci/run: exits 0 only if the http component is usable:
// it parses a request, and a call to a port nothing listens on fails with libcurl's text.
#include <cstdio>
#include <request_shadow/asio.hpp>
#include <request_shadow/http/backend.hpp>
#include <string>

namespace http = request_shadow::http;
namespace net = request_shadow::net;

net::awaitable<int> check(http::Backend backend) {
  try {
    (void)co_await backend.call(std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  } catch (const http::TransferError& e) {
    co_return std::string(e.what()).find("onnect") != std::string::npos ? 0 : 1;
  }
  co_return 1;
}

int main() {
  const auto parsed =
      http::parse_request("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi");
  if (parsed.body != "hi") return 4;
  net::io_context ctx;
  int rc = 2;
  // Port 1 on loopback: refused.
  net::co_spawn(ctx, check(http::Backend("http://127.0.0.1:1")),
                [&rc](std::exception_ptr e, int r) { rc = e ? 3 : r; });
  ctx.run();
  std::printf("http consumer: %s\n", rc == 0 ? "ok" : "FAILED");
  return rc;
}
