// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// A small HTTP/1.1 server for the http backend's tests, on loopback, with a thread of its own.
// It behaves by path (the fault paths by prefix, so that a base URL may name them):
//   /ok        200, body "ok", two `X-Rep` fields; keeps the connection open
//   /echo      200, the request as it arrived (head and body) as the body
//   /chunked   200, a chunked binary body (NULs and 0xff included)
//   /big/<n>   200, n bytes
//   /hang      reads the request and never answers
//   /slow      answers 200 after 2 s
//   /reset     resets the connection
//   /garbage   answers bytes that are not HTTP, then closes
//   /midbody   announces 100 bytes, sends 10, closes
//   /bigheader a 1 MB header field
// It counts the connections it accepted, and those still open.
#ifndef REQUEST_SHADOW_TESTS_HTTP_TEST_SERVER_HPP
#define REQUEST_SHADOW_TESTS_HTTP_TEST_SERVER_HPP

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <memory>
#include <request_shadow/asio.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace request_shadow::test {

class HttpTestServer {
 public:
  explicit HttpTestServer(const net::ip::address& address = net::ip::make_address("127.0.0.1"))
      : acceptor_(ctx_, net::ip::tcp::endpoint(address, 0)) {
    acceptor_.listen(4096);
    net::co_spawn(ctx_, accept_loop(), net::detached);
    thread_ = std::thread([this] { ctx_.run(); });
  }
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;
  ~HttpTestServer() {
    ctx_.stop();
    thread_.join();
  }

  [[nodiscard]] unsigned short port() const { return acceptor_.local_endpoint().port(); }
  [[nodiscard]] std::string url(std::string_view host = "127.0.0.1") const {
    return "http://" + std::string(host) + ":" + std::to_string(port());
  }
  [[nodiscard]] std::size_t accepts() const { return accepts_.load(); }
  [[nodiscard]] std::size_t open() const { return open_.load(); }

 private:
  struct OpenGuard {
    std::atomic<std::size_t>& n;
    explicit OpenGuard(std::atomic<std::size_t>& c) : n(c) { ++n; }
    OpenGuard(const OpenGuard&) = delete;
    OpenGuard& operator=(const OpenGuard&) = delete;
    ~OpenGuard() { --n; }
  };

  net::awaitable<void> accept_loop() {
    for (;;) {
      net::ip::tcp::socket socket = co_await acceptor_.async_accept(net::use_awaitable);
      ++accepts_;
      net::co_spawn(ctx_, session(std::move(socket), &open_), net::detached);
    }
  }

  static std::string response(std::string_view status, std::string_view body,
                              std::string_view extra = {}) {
    std::string r = "HTTP/1.1 ";
    r += status;
    r += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    r += extra;
    r += "\r\n";
    r += body;
    return r;
  }

  static net::awaitable<void> session(net::ip::tcp::socket socket, std::atomic<std::size_t>* open) {
    const OpenGuard guard(*open);
    std::string buffer;
    try {
      for (;;) {
        const std::size_t head = co_await net::async_read_until(socket, net::dynamic_buffer(buffer),
                                                                "\r\n\r\n", net::use_awaitable);
        std::size_t length = 0;
        std::string lower = buffer.substr(0, head);
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (const auto at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
          length = std::stoul(lower.substr(at + 17));
        }
        if (buffer.size() < head + length) {
          co_await net::async_read(socket, net::dynamic_buffer(buffer),
                                   net::transfer_exactly(head + length - buffer.size()),
                                   net::use_awaitable);
        }
        const std::string request = buffer.substr(0, head + length);
        buffer.erase(0, head + length);
        const std::size_t sp = request.find(' ');
        const std::string path = request.substr(sp + 1, request.find(' ', sp + 1) - sp - 1);
        std::string out;
        if (path == "/ok") {
          out = response("200 OK", "ok", "X-Rep: a\r\nX-Rep: b\r\n");
        } else if (path == "/echo") {
          out = response("200 OK", request);
        } else if (path == "/chunked") {
          out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na";
          out += '\0';
          out += "b\r\n2\r\n\xff\n\r\n0\r\n\r\n";
        } else if (path.starts_with("/big/")) {
          out = response("200 OK", std::string(std::stoul(path.substr(5)), 'x'));
        } else if (path.starts_with("/hang")) {
          std::string rest;
          request_shadow::error_code ec;  // until the client goes
          co_await net::async_read(socket, net::dynamic_buffer(rest),
                                   net::redirect_error(net::use_awaitable, ec));
          co_return;
        } else if (path.starts_with("/slow")) {
          net::steady_timer timer(socket.get_executor(), std::chrono::seconds(2));
          co_await timer.async_wait(net::use_awaitable);
          out = response("200 OK", "slow");
        } else if (path.starts_with("/reset")) {
          socket.set_option(net::socket_base::linger(true, 0));
          socket.close();
          co_return;
        } else if (path.starts_with("/garbage")) {
          out = "this is not HTTP at all\r\n\r\n";
          co_await net::async_write(socket, net::buffer(out), net::use_awaitable);
          co_return;
        } else if (path.starts_with("/midbody")) {
          out = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
          co_await net::async_write(socket, net::buffer(out), net::use_awaitable);
          co_return;
        } else if (path.starts_with("/bigheader")) {
          out = response("200 OK", "", "X-Big: " + std::string(std::size_t{1} << 20, 'h') + "\r\n");
        } else {
          out = response("404 Not Found", "no such path");
        }
        co_await net::async_write(socket, net::buffer(out), net::use_awaitable);
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): the client went away
    }
  }

  net::io_context ctx_;
  net::ip::tcp::acceptor acceptor_;
  std::atomic<std::size_t> accepts_{0};
  std::atomic<std::size_t> open_{0};
  std::thread thread_;
};

}  // namespace request_shadow::test

#endif  // REQUEST_SHADOW_TESTS_HTTP_TEST_SERVER_HPP
