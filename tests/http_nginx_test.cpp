// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// The http backend against a real nginx on loopback, plain and TLS (HTTP/2), started and stopped
// by the CTest fixture tests/nginx/fixture.sh; its directory is in REQUEST_SHADOW_NGINX_DIR.
#include <request_shadow/http/backend.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <request_shadow/asio.hpp>
#include <request_shadow/shadower.hpp>
#include <set>
#include <sstream>
#include <string>

#include "test_support.hpp"

#ifdef REQUEST_SHADOW_TEST_JSON
#include <request_shadow/json.hpp>
#endif

namespace {

namespace http = request_shadow::http;
using request_shadow::ResponseRecord;
using request_shadow::test::run;
using namespace std::chrono_literals;

struct Nginx {
  std::string dir;
  std::string plain;  // http://127.0.0.1:<port>
  std::string tls;    // https://127.0.0.1:<port>
};

const Nginx& nginx() {
  static const Nginx n = [] {
    const char* dir = std::getenv("REQUEST_SHADOW_NGINX_DIR");
    if (dir == nullptr) throw std::runtime_error("REQUEST_SHADOW_NGINX_DIR is not set");
    std::ifstream ports(std::string(dir) + "/ports");
    int plain = 0;
    int tls = 0;
    if (!(ports >> plain >> tls)) throw std::runtime_error("no ports file: is nginx started?");
    return Nginx{dir, "http://127.0.0.1:" + std::to_string(plain),
                 "https://127.0.0.1:" + std::to_string(tls)};
  }();
  return n;
}

std::string file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string get(std::string_view path) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

net::awaitable<ResponseRecord> call(http::Backend backend, std::string message) {
  co_return co_await backend.call(std::string_view(message));
}

http::Options with_ca() {
  http::Options o;
  o.ca_file = nginx().dir + "/ca.pem";
  return o;
}

TEST(HttpNginx, PlainRepeatedHeadersAndBody) {
  net::io_context ctx;
  const http::Backend backend(nginx().plain);
  const ResponseRecord r = run(ctx, call(backend, get("/repeated")));
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "repeated\n");
  const auto reps = r.headers.values("x-rep");
  ASSERT_EQ(reps.size(), 2U);
  EXPECT_EQ(reps[0], "one");
  EXPECT_EQ(reps[1], "two");
  EXPECT_EQ(r.headers.get("server").substr(0, 6), "nginx/");
  EXPECT_EQ(run(ctx, call(backend, get("/protocol"))).body, "HTTP/1.1");
  EXPECT_EQ(run(ctx, call(backend, get("/missing"))).status, 404);
}

TEST(HttpNginx, TenMegabyteBinaryBody) {
  net::io_context ctx;
  const std::string expected = file(nginx().dir + "/html/big.bin");
  ASSERT_EQ(expected.size(), 10485760U);
  const ResponseRecord plain = run(ctx, call(http::Backend(nginx().plain), get("/big.bin")));
  EXPECT_TRUE(plain.body == expected);
  const ResponseRecord tls = run(ctx, call(http::Backend(nginx().tls, with_ca()), get("/big.bin")));
  EXPECT_TRUE(tls.body == expected);
}

TEST(HttpNginx, ChunkedBody) {
  net::io_context ctx;
  const ResponseRecord r = run(ctx, call(http::Backend(nginx().plain), get("/chunked/hello.txt")));
  EXPECT_EQ(r.headers.get("transfer-encoding"), "chunked");
  EXPECT_EQ(r.body, "HELLO from nginx\n");
}

TEST(HttpNginx, MaxResponseSizeIsAFailure) {
  net::io_context ctx;
  http::Options o;
  o.max_response_bytes = 1 << 20;
  try {
    (void)run(ctx, call(http::Backend(nginx().plain, o), get("/big.bin")));
    ADD_FAILURE() << "a 10 MB response went through a 1 MB limit";
  } catch (const http::TransferError& e) {
    EXPECT_EQ(e.code(), CURLE_FILESIZE_EXCEEDED) << e.what();
  }
}

TEST(HttpNginx, KeepAliveTenThousandCallsOnAHandfulOfConnections) {
  net::io_context ctx;
  const http::Backend backend(nginx().plain);
  const std::string log = nginx().dir + "/logs/keepalive.log";
  const std::size_t before = file(log).size();
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(run(ctx, call(backend, get("/keepalive"))).body, "ka");
  // nginx logs the connection serial number of each request: count them on its side.
  std::istringstream lines(file(log).substr(before));
  std::set<std::string> connections;
  std::size_t requests = 0;
  for (std::string line; std::getline(lines, line); ++requests) connections.insert(line);
  EXPECT_EQ(requests, 10000U);
  EXPECT_LE(connections.size(), 3U);
  EXPECT_LE(backend.connection_stats(ctx).sockets_opened, 3U);
}

TEST(HttpNginx, TlsWithTheTestCaSpeaksHttp2) {
  net::io_context ctx;
  const http::Backend backend(nginx().tls, with_ca());
  EXPECT_EQ(run(ctx, call(backend, get("/protocol"))).body, "HTTP/2.0");
  const ResponseRecord r = run(ctx, call(backend, get("/repeated")));
  EXPECT_EQ(r.headers.values("x-rep").size(), 2U);
  http::Options h1 = with_ca();
  h1.http2 = false;
  EXPECT_EQ(run(ctx, call(http::Backend(nginx().tls, h1), get("/protocol"))).body, "HTTP/1.1");
}

TEST(HttpNginx, TlsWithoutTheCaFailsVerification) {
  net::io_context ctx;
  try {
    (void)run(ctx, call(http::Backend(nginx().tls), get("/protocol")));
    ADD_FAILURE() << "an unknown CA was trusted";
  } catch (const http::TransferError& e) {
    EXPECT_EQ(e.code(), CURLE_PEER_FAILED_VERIFICATION) << e.what();
    EXPECT_NE(std::string(e.what()).find("certificate"), std::string::npos) << e.what();
  }
  http::Options insecure;
  insecure.insecure_skip_tls_verification = true;  // says so on stderr
  EXPECT_EQ(run(ctx, call(http::Backend(nginx().tls, insecure), get("/protocol"))).body,
            "HTTP/2.0");
}

TEST(HttpNginx, ShadowerOverPlainPrimaryAndTlsShadow) {
  net::io_context ctx;
  request_shadow::Shadower shadower(
      http::Backend(nginx().plain), http::Backend(nginx().tls, with_ca()),
      request_shadow::ShadowConfig::full_sample()
          .shadow_timeout(2s)
          .ignore_noisy_headers()
          .ignore_header("connection"));  // HTTP/1.1's hop-by-hop field, which HTTP/2 lacks
  const auto same = run(ctx, shadower.call(std::string_view(get("/hello.txt"))));
  EXPECT_EQ(same.primary.body, "hello from nginx\n");
  ASSERT_TRUE(same.shadow.has_value());
  EXPECT_FALSE(same.divergence.has_value())
      << request_shadow::to_string(same.divergence.value_or(request_shadow::Divergence{}));
  const auto diff = run(ctx, shadower.call(std::string_view(get("/protocol"))));
  ASSERT_TRUE(diff.divergence.has_value());
  ASSERT_TRUE(diff.divergence->body.has_value());
  EXPECT_EQ(shadower.stats().diverged, 1U);
}

#ifdef REQUEST_SHADOW_TEST_JSON
TEST(HttpNginx, JsonComparatorFindsTheRealDifferenceBetweenTwoLocations) {
  net::io_context ctx;
  request_shadow::ShadowConfig config = request_shadow::ShadowConfig::full_sample();
  config.shadow_timeout(2s).ignore_noisy_headers().body_comparator(
      request_shadow::json::comparator());
  request_shadow::Shadower shadower(http::Backend(nginx().plain + "/v1"),
                                    http::Backend(nginx().plain + "/v2"), config);
  const auto out = run(ctx, shadower.call(std::string_view(get("/item"))));
  ASSERT_TRUE(out.shadow.has_value());
  ASSERT_TRUE(out.divergence.has_value());
  const auto& d = *out.divergence;
  EXPECT_FALSE(d.status.has_value());
  ASSERT_TRUE(d.body.has_value());
  EXPECT_EQ(d.body->format, "json");
  ASSERT_EQ(d.body->fields.size(), 1U);  // member order is no difference
  EXPECT_EQ(d.body->fields[0].pointer, "/price");
  EXPECT_EQ(d.body->fields[0].primary, "10");
  EXPECT_EQ(d.body->fields[0].shadow, "12");
}
#endif

}  // namespace
