// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/http/backend.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>
#include <netdb.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/backend.hpp>
#include <request_shadow/shadower.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http_test_server.hpp"
#include "test_support.hpp"

namespace {

namespace http = request_shadow::http;
using request_shadow::ResponseRecord;
using request_shadow::test::HttpTestServer;
using request_shadow::test::run;
using namespace std::chrono_literals;

static_assert(request_shadow::Backend<http::Backend>);

std::string get(std::string_view path) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

net::awaitable<ResponseRecord> call(http::Backend backend, std::string message) {
  co_return co_await backend.call(std::string_view(message));
}

// The error a call ends with: its what(), or "" if it answered.
std::string failure_of(net::io_context& ctx, const http::Backend& backend, std::string message) {
  try {
    (void)run(ctx, call(backend, std::move(message)));
  } catch (const http::TransferError& e) {
    return e.what();
  }
  return "";
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Sockets of this process's network namespace in TIME_WAIT towards 127.0.0.1:`port`.
std::size_t time_wait_to(unsigned short port) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // the header
  char remote[16];
  std::snprintf(remote, sizeof remote, "0100007F:%04X", port);
  std::size_t n = 0;
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string slot, local, peer, state;
    fields >> slot >> local >> peer >> state;
    n += peer == remote && state == "06";
  }
  return n;
}

// Wait (at most 5 s) until `done()` holds.
template <class F>
bool eventually(F done) {
  for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(10ms);
  return done();
}

TEST(HttpBackend, AnswersStatusRepeatedHeadersAndBody) {
  HttpTestServer server;
  net::io_context ctx;
  const http::Backend backend(server.url());
  const ResponseRecord r = run(ctx, call(backend, get("/ok")));
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  const auto reps = r.headers.values("x-rep");
  ASSERT_EQ(reps.size(), 2U);
  EXPECT_EQ(reps[0], "a");
  EXPECT_EQ(reps[1], "b");
  const ResponseRecord missing = run(ctx, call(backend, get("/nothing")));
  EXPECT_FALSE(missing.ok);
  EXPECT_EQ(missing.status, 404);
}

TEST(HttpBackend, SendsMethodFieldsAndBodyAsGiven) {
  HttpTestServer server;
  net::io_context ctx;
  const http::Backend backend(server.url() + "/");
  const std::string body("a\0b\xff", 4);
  const ResponseRecord r =
      run(ctx, call(backend,
                    "PATCH /echo HTTP/1.1\r\nHost: original\r\nX-One: 1\r\nX-One: 2\r\n"
                    "X-Empty:\r\nContent-Length: 4\r\nConnection: close\r\n\r\n" +
                        body));
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.starts_with("PATCH /echo HTTP/1.1\r\n")) << r.body;
  EXPECT_NE(r.body.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("\r\nX-One: 1\r\nX-One: 2\r\n"), std::string::npos);
  EXPECT_NE(r.body.find("\r\nX-Empty:\r\n"), std::string::npos);
  EXPECT_NE(r.body.find("\r\nContent-Length: 4\r\n"), std::string::npos);
  EXPECT_EQ(r.body.find("original"), std::string::npos);
  EXPECT_EQ(r.body.find("Accept"), std::string::npos);
  EXPECT_EQ(r.body.find("Expect"), std::string::npos);
  EXPECT_EQ(r.body.find("Content-Type"), std::string::npos);
  EXPECT_EQ(r.body.find("Connection"), std::string::npos);
  EXPECT_TRUE(r.body.ends_with("\r\n\r\n" + body));
}

TEST(HttpBackend, DecodesAChunkedBinaryBody) {
  HttpTestServer server;
  net::io_context ctx;
  const ResponseRecord r = run(ctx, call(http::Backend(server.url()), get("/chunked")));
  EXPECT_EQ(r.body, std::string("a\0b\xff\n", 5));
}

TEST(HttpBackend, MalformedRequestThrowsRequestErrorAndSendsNothing) {
  HttpTestServer server;
  net::io_context ctx;
  EXPECT_THROW(run(ctx, call(http::Backend(server.url()), "GET / HTTP/1.1\r\n\r\n")),
               http::RequestError);
  EXPECT_EQ(server.accepts(), 0U);
}

TEST(HttpBackend, RejectsBadBaseUrls) {
  EXPECT_THROW(http::Backend("ftp://127.0.0.1"), std::invalid_argument);
  EXPECT_THROW(http::Backend("http://127.0.0.1/?q"), std::invalid_argument);
  EXPECT_THROW(http::Backend("not a url"), std::invalid_argument);
}

TEST(HttpBackend, EachFaultIsATransferErrorWithCurlsText) {
  HttpTestServer server;
  net::io_context ctx;
  http::Options options;
  options.total_timeout = 300ms;
  const http::Backend backend(server.url(), options);
  EXPECT_NE(failure_of(ctx, backend, get("/reset")), "");
  EXPECT_NE(failure_of(ctx, backend, get("/garbage")).find("HTTP/0.9"), std::string::npos);
  EXPECT_NE(failure_of(ctx, backend, get("/midbody")).find("Transferred a partial file"),
            std::string::npos);
  EXPECT_NE(failure_of(ctx, backend, get("/bigheader")), "");
  EXPECT_NE(failure_of(ctx, backend, get("/hang")).find("Timeout was reached"), std::string::npos);
  EXPECT_NE(failure_of(ctx, backend, get("/slow")).find("Timeout was reached"), std::string::npos);
  // Refused: a port nothing listens on.
  net::ip::tcp::acceptor closed(ctx, net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const auto port = closed.local_endpoint().port();
  closed.close();
  EXPECT_NE(failure_of(ctx, http::Backend("http://127.0.0.1:" + std::to_string(port)), get("/"))
                .find("Couldn't connect"),
            std::string::npos);
  // The faults leave no transfer behind.
  EXPECT_EQ(backend.connection_stats(ctx).transfers_running, 0U);
}

TEST(HttpBackend, ALargerResponseThanTheLimitIsAFailure) {
  HttpTestServer server;
  net::io_context ctx;
  http::Options options;
  options.max_response_bytes = 10000;
  const http::Backend backend(server.url(), options);
  EXPECT_EQ(run(ctx, call(backend, get("/big/5000"))).body.size(), 5000U);
  // Announced by Content-Length, and arriving without it (the header section counts).
  EXPECT_NE(failure_of(ctx, backend, get("/big/20000")), "");
  EXPECT_NE(failure_of(ctx, backend, get("/big/9990")).find("max_response_bytes"),
            std::string::npos);
}

TEST(HttpBackend, KeepAliveReusesAFewConnections) {
  HttpTestServer server;
  net::io_context ctx;
  const http::Backend backend(server.url());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(run(ctx, call(backend, get("/ok"))).status, 200);
  EXPECT_LE(server.accepts(), 2U);
  EXPECT_LE(backend.connection_stats(ctx).sockets_opened, 2U);
}

TEST(HttpBackend, ConcurrentCallsStayWithinTheConnectionBound) {
  HttpTestServer server;
  net::io_context ctx;
  http::Options options;
  options.max_connections_per_host = 4;
  const http::Backend backend(server.url(), options);
  auto many = [&]() -> net::awaitable<int> {
    int ok = 0;
    for (int i = 0; i < 25; ++i) ok += (co_await backend.call(std::string_view(get("/ok")))).ok;
    co_return ok;
  };
  std::atomic<int> total{0};
  for (int c = 0; c < 40; ++c) {
    net::co_spawn(ctx, many, [&](std::exception_ptr e, int n) {
      EXPECT_FALSE(e);
      total += n;
    });
  }
  ctx.run();
  EXPECT_EQ(total.load(), 1000);
  EXPECT_LE(server.accepts(), 4U);
}

TEST(HttpBackend, CancellationRemovesTheTransferAtOnceAndNeverReusesItsConnection) {
  HttpTestServer server;
  net::io_context ctx;
  const http::Backend backend(server.url());
  ASSERT_EQ(run(ctx, call(backend, get("/ok"))).status, 200);  // a connection in the pool
  net::cancellation_signal signal;
  std::optional<std::exception_ptr> ended;
  auto started = std::chrono::steady_clock::now();
  net::co_spawn(
      ctx, call(backend, get("/hang")),
      net::bind_cancellation_slot(signal.slot(),
                                  [&](std::exception_ptr e, const ResponseRecord&) { ended = e; }));
  net::steady_timer timer(ctx, 100ms);
  timer.async_wait([&](const request_shadow::error_code&) {
    EXPECT_EQ(backend.connection_stats(ctx).transfers_running, 1U);
    signal.emit(net::cancellation_type::terminal);
    EXPECT_EQ(backend.connection_stats(ctx).transfers_running, 0U);  // removed at once
  });
  ctx.restart();
  ctx.run();  // returns: nothing is left in flight
  ASSERT_TRUE(ended.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  try {
    std::rethrow_exception(*ended);
  } catch (const request_shadow::system_error& e) {
    EXPECT_EQ(e.code(), net::error::operation_aborted);
  } catch (...) {
    ADD_FAILURE() << "not operation_aborted";
  }
  const auto stats = backend.connection_stats(ctx);
  EXPECT_EQ(stats.transfers_abandoned, 1U);
  EXPECT_EQ(stats.sockets_reset, 1U);  // the connection that carried it, closed with a reset
  EXPECT_TRUE(eventually([&] { return server.open() == 0; }));
  ASSERT_EQ(run(ctx, call(backend, get("/ok"))).status, 200);
  EXPECT_EQ(server.accepts(), 2U);  // a new connection: the abandoned one was not reused
}

TEST(HttpBackend, TimerZeroRunsFromTheEventLoop) {
  HttpTestServer server;
  net::io_context ctx;
  const http::Backend backend(server.url());
  // Adding a transfer makes libcurl ask for a 0 ms timer from inside curl_multi_add_handle; it
  // must run later, from the loop: nothing ran before the loop did.
  std::optional<ResponseRecord> got;
  net::co_spawn(ctx, call(backend, get("/ok")),
                [&](std::exception_ptr, ResponseRecord r) { got = std::move(r); });
  ctx.poll_one();  // starts the coroutine: the transfer is added, and its timer armed
  EXPECT_GE(backend.connection_stats(ctx).zero_timeouts, 1U);
  EXPECT_EQ(backend.connection_stats(ctx).sockets_opened, 0U);  // libcurl has not run yet
  ctx.run();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 200);
}

// A loopback name that goes through libcurl's threaded resolver (not an IP, not "localhost").
std::optional<std::pair<std::string, net::ip::address>> resolvable_loopback_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return std::nullopt;
  net::io_context ctx;
  net::ip::tcp::resolver resolver(ctx);
  request_shadow::error_code ec;
  for (const auto& entry : resolver.resolve(net::ip::tcp::v4(), name, "80", ec)) {
    const auto address = entry.endpoint().address();
    if (address.is_loopback()) return std::make_pair(std::string(name), address);
  }
  return std::nullopt;
}

TEST(HttpBackend, WatchesSocketsLibcurlOpenedItself) {
  const auto name = resolvable_loopback_name();
  if (!name) GTEST_SKIP() << "the host name does not resolve to a loopback address";
  HttpTestServer server(name->second);
  net::io_context ctx;
  // A new backend has a new multi handle, so an empty DNS cache: each call resolves the name on
  // libcurl's resolver thread, and libcurl asks to watch the thread's socket when the answer is
  // not there at once.
  std::size_t foreign = 0;
  for (int i = 0; i < 20; ++i) {
    const http::Backend backend(server.url(name->first));
    EXPECT_EQ(run(ctx, call(backend, get("/ok"))).status, 200);
    const auto stats = backend.connection_stats(ctx);
    EXPECT_EQ(stats.sockets_opened, 1U);
    foreign += stats.foreign_sockets;
  }
  EXPECT_GE(foreign, 1U);
}

TEST(HttpBackend, DestroyingTheContextMidFlightClosesEverything) {
  HttpTestServer server;
  const std::size_t fds_before = open_fds();
  std::size_t opened = 0;
  {
    net::io_context ctx;
    http::Options options;
    options.max_connections_per_host = 16;
    const http::Backend backend(server.url(), options);
    ASSERT_EQ(run(ctx, call(backend, get("/ok"))).status, 200);
    for (int i = 0; i < 20; ++i) {
      net::co_spawn(ctx, call(backend, get(i % 2 == 0 ? "/hang" : "/slow")), net::detached);
    }
    ctx.restart();
    ctx.run_for(200ms);
    opened = backend.connection_stats(ctx).sockets_opened;
    EXPECT_EQ(backend.connection_stats(ctx).transfers_running, 20U);
  }  // ~io_context: the transfers and their callers are dropped, libcurl's cleanup closes all
  EXPECT_GE(opened, 16U);
  // The server's ends close once ours have (the server runs in this process).
  EXPECT_TRUE(eventually([&] { return server.open() == 0; }));
  EXPECT_EQ(open_fds(), fds_before);
}

TEST(HttpBackend, OneBackendServesSeveralContextsAndOutlivesThem) {
  HttpTestServer server;
  const http::Backend backend(server.url());
  for (int round = 0; round < 3; ++round) {
    net::io_context ctx;
    EXPECT_EQ(run(ctx, call(backend, get("/ok"))).status, 200);
    EXPECT_EQ(backend.connection_stats(ctx).sockets_opened, 1U);  // a pool of its own
  }
  EXPECT_TRUE(eventually([&] { return server.open() == 0; }));
}

TEST(HttpBackend, TwoThreadsOnOneContext) {
  HttpTestServer server;
  net::io_context ctx;
  const http::Backend backend(server.url());
  std::atomic<int> ok{0};
  auto calls = [&]() -> net::awaitable<void> {
    for (int i = 0; i < 50; ++i) {
      ok += (co_await backend.call(std::string_view(get(i % 10 == 0 ? "/chunked" : "/ok")))).ok;
    }
  };
  for (int c = 0; c < 8; ++c) net::co_spawn(net::make_strand(ctx), calls, net::detached);
  std::thread other([&] { ctx.run(); });
  ctx.run();
  other.join();
  EXPECT_EQ(ok.load(), 400);
}

// ---- under a Shadower ---------------------------------------------------------------------

TEST(HttpShadower, HttpPrimaryAndShadowEndToEnd) {
  HttpTestServer server;
  net::io_context ctx;
  request_shadow::Shadower shadower(http::Backend(server.url()), http::Backend(server.url()),
                                    request_shadow::ShadowConfig::full_sample().shadow_timeout(2s));
  const auto same = run(ctx, shadower.call(std::string_view(get("/ok"))));
  EXPECT_EQ(same.primary.body, "ok");
  ASSERT_TRUE(same.shadow.has_value());
  EXPECT_FALSE(same.divergence.has_value());
  request_shadow::Shadower differs(http::Backend(server.url()),
                                   http::Backend(server.url() + "/big"),
                                   request_shadow::ShadowConfig::full_sample().shadow_timeout(2s));
  const auto diff = run(ctx, differs.call(std::string_view(get("/3"))));
  ASSERT_TRUE(diff.divergence.has_value());  // 404 against 200 "xxx"
}

TEST(HttpShadower, EachFaultIsAShadowFailureNeverAnException) {
  HttpTestServer server;
  net::io_context ctx;
  http::Options options;
  options.total_timeout = 1s;
  const char* faults[] = {"/reset", "/garbage", "/midbody", "/bigheader", "/hang", "/slow"};
  int failures = 0;
  for (const char* path : faults) {
    request_shadow::Shadower one(http::Backend(server.url()),
                                 http::Backend(server.url() + path, options),
                                 request_shadow::ShadowConfig::full_sample().shadow_timeout(500ms));
    // The shadow's base URL names the fault; the primary answers a 404.
    const auto out = run(ctx, one.call(std::string_view(get("/"))));
    EXPECT_TRUE(out.shadow_failed.has_value()) << path;
    failures += out.shadow_failed.has_value();
    const auto stats = one.stats();
    EXPECT_EQ(stats.shadow_failed + stats.shadow_timed_out, 1U) << path;
  }
  EXPECT_EQ(failures, 6);
}

TEST(HttpShadower, DeadlineHoldsAgainstAHangingServer) {
  HttpTestServer server;
  net::io_context ctx;
  request_shadow::Shadower hanging(
      http::Backend(server.url()), http::Backend(server.url() + "/hang"),
      request_shadow::ShadowConfig::full_sample().shadow_timeout(50ms));
  for (int i = 0; i < 10; ++i) {
    const auto started = std::chrono::steady_clock::now();
    const auto out = run(ctx, hanging.call(std::string_view(get("/"))));
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_GE(took, 45ms);
    EXPECT_LT(took, 1s);  // generous: released at the deadline, not when the server answers
    ASSERT_TRUE(out.shadow_failed.has_value());
    EXPECT_EQ(out.shadow_failed->kind, request_shadow::ShadowFailureKind::TimedOut);
  }
  EXPECT_EQ(hanging.stats().shadow_timed_out, 10U);
}

TEST(HttpShadower, TwentyThousandAbandonedLegsDoNotExhaustPorts) {
  HttpTestServer server;
  net::io_context ctx;
  http::Options options;
  options.max_connections_per_host = 8;
  const http::Backend hang(server.url() + "/hang", options);
  auto primary = std::make_shared<request_shadow::test::ConstantBackend>();
  primary->response = ResponseRecord::success("p");
  request_shadow::Shadower shadower(
      primary, std::make_shared<http::Backend>(hang),
      request_shadow::ShadowConfig::full_sample().shadow_timeout(5ms).max_in_flight_shadows(1000));
  // A first call makes the context's reactor and the multi handle (and its wake-up socket pair).
  (void)run(ctx, shadower.call(std::string_view(get("/"))));
  const std::size_t fds_before = open_fds();
  constexpr int callers = 200;
  constexpr int per_caller = 100;
  std::atomic<int> answered{0};
  auto caller = [&]() -> net::awaitable<void> {
    for (int i = 0; i < per_caller; ++i) {
      const auto out = co_await shadower.call(std::string_view(get("/")));
      answered += out.primary.body == "p";
    }
  };
  for (int c = 0; c < callers; ++c) net::co_spawn(ctx, caller, net::detached);
  ctx.restart();
  ctx.run();
  EXPECT_EQ(answered.load(), callers * per_caller);
  const auto stats = shadower.stats();
  EXPECT_EQ(stats.calls, 20001U);
  EXPECT_EQ(stats.shadow_ok, 0U);
  EXPECT_EQ(stats.shadow_failed, 0U);  // never "couldn't connect": no port ran out
  const auto c = hang.connection_stats(ctx);
  EXPECT_EQ(c.transfers_running, 0U);
  // Every connection libcurl closed through us was reset. (libcurl 7.88 closes some sockets
  // itself, without the close-socket callback: those count as opened, not closed.)
  EXPECT_GT(c.sockets_closed, 0U);
  EXPECT_GE(c.sockets_reset, c.sockets_closed);
  EXPECT_TRUE(eventually([&] { return server.open() == 0; }));
  EXPECT_LE(open_fds(), fds_before);
  // Far fewer connections than calls, and few of them left in TIME_WAIT. How many legs reach the
  // server before their 5 ms deadline depends on the machine's load: 60-300 connections on a
  // loaded 2-core machine, 1,000-1,300 on an idle one.
  EXPECT_LE(c.sockets_opened, 5000U);
  EXPECT_LE(time_wait_to(server.port()), c.sockets_opened - c.sockets_closed);
}

}  // namespace
