// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_HTTP_BACKEND_HPP
#define REQUEST_SHADOW_HTTP_BACKEND_HPP

/// @file
/// `http::Backend`: a ready `Backend` that sends an HTTP/1.1 request message to a server with
/// libcurl, driven by the caller's execution context (component `request_shadow::http`).

#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <request_shadow/asio.hpp>
#include <request_shadow/detail/curl_multi.hpp>
#include <request_shadow/detail/curl_transfer.hpp>
#include <request_shadow/http/request.hpp>
#include <request_shadow/response_record.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace http {

/// How an `http::Backend` connects and what it accepts.
struct Options {
  /// Connections kept open to one host, per execution context; more transfers wait for one.
  std::size_t max_connections_per_host = 8;
  /// Connections kept open in all, per execution context (also the size of the idle pool).
  std::size_t max_connections = 32;
  /// Offer HTTP/2 over TLS through ALPN (plain `http://` always uses HTTP/1.1).
  bool http2 = true;
  /// A file of CA certificates (PEM) to verify servers with, instead of the system's.
  std::string ca_file;
  /// A directory of CA certificates (hashed, as `openssl rehash` makes it).
  std::string ca_dir;
  /// Skip TLS verification of the server's certificate and name. Insecure: the constructor says
  /// so on stderr.
  bool insecure_skip_tls_verification = false;
  /// Time allowed to connect (TCP and TLS handshake).
  std::chrono::milliseconds connect_timeout{2000};
  /// Time allowed for a whole transfer, connection included.
  std::chrono::milliseconds total_timeout{30000};
  /// The largest response accepted, header section and body together; a larger one is a
  /// `TransferError`, and no more of it is kept.
  std::size_t max_response_bytes = std::size_t{64} << 20;
};

namespace detail {

// What the copies of a Backend share.
struct HttpCore {
  std::string base;  // scheme://host[:port][/prefix], without a trailing '/'
  Options options;
};

// Request fields that libcurl writes itself, or that hop-by-hop rules keep off the wire.
inline bool dropped_field(std::string_view name) {
  using request_shadow::detail::ascii_iequals;
  return ascii_iequals(name, "host") || ascii_iequals(name, "content-length") ||
         ascii_iequals(name, "connection") || ascii_iequals(name, "keep-alive") ||
         ascii_iequals(name, "proxy-connection") || ascii_iequals(name, "te") ||
         ascii_iequals(name, "upgrade") || ascii_iequals(name, "transfer-encoding");
}

// Set up `t` for `request` sent by `core`. Throws.
inline void prepare(request_shadow::detail::CurlTransfer& t, const HttpCore& core,
                    Request&& request) {
  const Options& o = core.options;
  t.init(o.max_response_bytes);
  t.url() = core.base + request.target;
  t.set(CURLOPT_URL, t.url().c_str());
  t.set(CURLOPT_PROTOCOLS_STR, "http,https");
  t.set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  t.set(CURLOPT_TIMEOUT_MS, static_cast<long>(o.total_timeout.count()));
  t.set(CURLOPT_HTTP_VERSION, o.http2 ? static_cast<long>(CURL_HTTP_VERSION_2TLS)
                                      : static_cast<long>(CURL_HTTP_VERSION_1_1));
  // Wait for a connection that may multiplex rather than open another, over TLS only: a plain
  // connection is HTTP/1.1, and a server that never answers would hold every transfer back.
  if (o.http2 && core.base.starts_with("https:")) t.set(CURLOPT_PIPEWAIT, 1L);
  t.set(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.max_response_bytes));
  t.set(CURLOPT_SSL_VERIFYPEER, o.insecure_skip_tls_verification ? 0L : 1L);
  t.set(CURLOPT_SSL_VERIFYHOST, o.insecure_skip_tls_verification ? 0L : 2L);
  if (!o.ca_file.empty()) t.set(CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.ca_dir.empty()) t.set(CURLOPT_CAPATH, o.ca_dir.c_str());

  bool has_type = false;
  bool has_accept = false;
  bool has_expect = false;
  for (const RequestField& f : request.fields) {
    if (dropped_field(f.name)) continue;
    has_type = has_type || request_shadow::detail::ascii_iequals(f.name, "content-type");
    has_accept = has_accept || request_shadow::detail::ascii_iequals(f.name, "accept");
    has_expect = has_expect || request_shadow::detail::ascii_iequals(f.name, "expect");
    // libcurl sends `Name;` as a field with an empty value.
    t.add_field(f.value.empty() ? f.name + ";" : f.name + ": " + f.value);
  }
  // Keep libcurl from adding fields the request did not have.
  if (!has_accept) t.add_field("Accept:");
  if (!has_expect) t.add_field("Expect:");

  t.body() = std::move(request.body);
  const bool with_body = !t.body().empty() || request.method == "POST" || request.method == "PUT" ||
                         request.method == "PATCH";
  if (request.method == "GET" && !with_body) {
    t.set(CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD" && !with_body) {
    t.set(CURLOPT_NOBODY, 1L);
  } else {
    t.set(CURLOPT_CUSTOMREQUEST, request.method.c_str());  // copied by libcurl
  }
  if (with_body) {
    if (!has_type) t.add_field("Content-Type:");
    t.set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.body().size()));
    t.set(CURLOPT_POSTFIELDS, t.body().data());
  }
  t.set(CURLOPT_HTTPHEADER, t.fields());
}

// The executor under any strands: the multi's sockets and timer need no strand of a caller.
template <class Executor>
net::any_io_executor base_executor(const Executor& ex) {
  if constexpr (requires { ex.get_inner_executor(); }) {
    return base_executor(ex.get_inner_executor());
  } else {
    return net::any_io_executor(ex);
  }
}

// Starts a transfer: parks the caller on it and hands it to the multi of the caller's context.
struct HttpStart {
  std::shared_ptr<const HttpCore> core;

  template <class Handler>
  void operator()(Handler handler, Request request) const {
    using Transfer = request_shadow::detail::CurlTransferFor<Handler>;
    const auto ex = net::get_associated_executor(handler);
    net::execution_context& ctx = net::query(ex, net::execution::context);
    auto& service = net::use_service<request_shadow::detail::CurlService>(ctx);
    std::shared_ptr<Transfer> t = std::make_shared<Transfer>(std::move(handler));
    try {
      prepare(*t, *core, std::move(request));
      const std::shared_ptr<request_shadow::detail::CurlMulti> multi =
          service.multi(core, [this, &ex] {
            return std::make_shared<request_shadow::detail::CurlMulti>(
                base_executor(ex), request_shadow::detail::CurlLimits{
                                       static_cast<long>(core->options.max_connections_per_host),
                                       static_cast<long>(core->options.max_connections)});
          });
      if (!multi) {  // the context is shutting down
        t->drop();
        return;
      }
      t->listen(t);
      if (!multi->add(t)) t->drop();
    } catch (...) {
      t->resume(std::current_exception(), ResponseRecord{});
    }
  }
};

inline std::string checked_base_url(std::string_view url) {
  CURLU* u = curl_url();
  if (u == nullptr) throw std::bad_alloc();
  const std::string text(url);
  const CURLUcode rc = curl_url_set(u, CURLUPART_URL, text.c_str(), 0);
  char* scheme = nullptr;
  char* query = nullptr;
  char* fragment = nullptr;
  if (rc == CURLUE_OK) {
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0);
  }
  const std::string s = scheme != nullptr ? scheme : "";
  const bool extra = query != nullptr || fragment != nullptr;
  curl_free(scheme);
  curl_free(query);
  curl_free(fragment);
  curl_url_cleanup(u);
  if (rc != CURLUE_OK) {
    throw std::invalid_argument("request_shadow::http: invalid base URL \"" + text +
                                "\": " + curl_url_strerror(rc));
  }
  if (s != "http" && s != "https") {
    throw std::invalid_argument("request_shadow::http: base URL \"" + text +
                                "\" is not http:// or https://");
  }
  if (extra) {
    throw std::invalid_argument("request_shadow::http: base URL \"" + text +
                                "\" has a query or fragment");
  }
  std::string base = text;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

inline void global_init() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    throw std::runtime_error(std::string("request_shadow::http: curl_global_init: ") +
                             curl_easy_strerror(rc));
  }
}

}  // namespace detail

/// A `Backend` that sends an HTTP/1.1 request message to one server, with libcurl.
/**
 * Its input is one complete HTTP/1.1 request message (request line, header fields, a body by
 * `Content-Length`), which `parse_request` checks strictly. The request goes to the base URL
 * given at construction (`scheme://host:port/prefix`) followed by the request's target, with the
 * same method, header fields and body; `Host` names the base URL's host, and libcurl writes the
 * framing fields (`Content-Length`) itself. Hop-by-hop fields (`Connection`, `Keep-Alive`, `TE`,
 * `Upgrade`, `Transfer-Encoding`) are not sent.
 *
 * The answer is a `ResponseRecord`: the status; every header field of the final response
 * (repeated ones kept, names lower-cased); the body, binary-safe and de-chunked; `ok` for 2xx and
 * 3xx. Redirects are not followed. An HTTP error status is an answer, not an exception.
 *
 * @par Failures
 * A malformed request throws `RequestError` (naming what is wrong) before anything is sent. A
 * transport failure (refused, reset, timeout, TLS failure, a malformed response, a response over
 * `Options::max_response_bytes`) throws `TransferError`, whose `what()` is libcurl's error text.
 * Under a `Shadower`, the shadow's failures are data; the primary's reach the caller unchanged.
 *
 * @par Execution contexts and connections
 * There is no thread of its own and no polling: libcurl's multi-socket API runs on the caller's
 * execution context. Each context that calls a backend gets its own multi handle and connection
 * pool for it, kept in a service of that context: they go when the context is destroyed (every
 * transfer still in flight is dropped then, its socket closed) or, once idle, after the backend
 * is gone. So one `Backend` may serve several contexts and outlive them. Several threads may run
 * one context: the multi handle is used under a mutex.
 *
 * @par Per-Operation Cancellation
 * Terminal and partial cancellation remove the transfer from the multi handle at once and
 * complete with `request_shadow::system_error(net::error::operation_aborted)`. An unfinished
 * HTTP/1.1 connection is then closed (never reused) with a reset, so abandoned calls leave no
 * TIME_WAIT sockets behind; an HTTP/2 connection only has the stream reset. Total cancellation is
 * refused (the request may already have had its effect). An abandoned `Shadower` leg is cancelled
 * this way at its deadline.
 *
 * Cheap to copy: copies share the base URL and options (and so the connection pools).
 */
class Backend {
 public:
  /// Send to `base_url` (`http://host:port` or `https://host:port/prefix`); throws
  /// `std::invalid_argument` for a URL that is not http or https, or has a query or fragment.
  explicit Backend(std::string_view base_url, Options options = {}) {
    detail::global_init();
    if (options.max_connections_per_host == 0 || options.max_connections == 0) {
      throw std::invalid_argument("request_shadow::http: connection limits must be positive");
    }
    if (options.insecure_skip_tls_verification) {
      std::fprintf(stderr,
                   "request_shadow::http: WARNING: TLS certificate verification is OFF for %.*s: "
                   "anyone on the path can read and change this traffic\n",
                   static_cast<int>(base_url.size()), base_url.data());
    }
    core_ = std::make_shared<const detail::HttpCore>(
        detail::HttpCore{detail::checked_base_url(base_url), std::move(options)});
  }

  /// Send this HTTP/1.1 request message; complete with the response.
  /**
   * Completion: the `ResponseRecord`, or `RequestError` for a malformed message, `TransferError`
   * for a transport failure. The bytes are copied before the first suspension. See the class for
   * cancellation.
   */
  [[nodiscard]] net::awaitable<ResponseRecord> call(std::span<const std::byte> message) const {
    return call(std::string_view(reinterpret_cast<const char*>(message.data()), message.size()));
  }

  /// Send this HTTP/1.1 request message, as text; see the byte overload.
  [[nodiscard]] net::awaitable<ResponseRecord> call(std::string_view message) const {
    // Parsed before the coroutine starts: a malformed message throws at the co_await.
    std::exception_ptr error;
    Request request;
    try {
      request = parse_request(message);
    } catch (...) {
      error = std::current_exception();
    }
    return send(core_, std::move(request), std::move(error));
  }

  /// Send a parsed request; see the byte overload.
  [[nodiscard]] net::awaitable<ResponseRecord> call(Request request) const {
    return send(core_, std::move(request), nullptr);
  }

  /// The base URL requests go to, without a trailing `/`.
  [[nodiscard]] const std::string& base_url() const noexcept { return core_->base; }

  /// The options given at construction.
  [[nodiscard]] const Options& options() const noexcept { return core_->options; }

  /// What this backend's connections on `ctx` did so far (all zero if it never ran there).
  [[nodiscard]] ConnectionStats connection_stats(net::execution_context& ctx) const {
    const auto multi = net::use_service<request_shadow::detail::CurlService>(ctx).find(core_);
    return multi ? multi->stats() : ConnectionStats{};
  }

 private:
  static net::awaitable<ResponseRecord> send(std::shared_ptr<const detail::HttpCore> core,
                                             Request request, std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
    detail::HttpStart start{std::move(core)};
    co_return co_await net::async_initiate<const net::use_awaitable_t<>&,
                                           void(std::exception_ptr, ResponseRecord)>(
        std::move(start), net::use_awaitable, std::move(request));
  }

  std::shared_ptr<const detail::HttpCore> core_;
};

}  // namespace http
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_HTTP_BACKEND_HPP
