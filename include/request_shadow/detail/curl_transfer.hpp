// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_CURL_TRANSFER_HPP
#define REQUEST_SHADOW_DETAIL_CURL_TRANSFER_HPP

// The HTTP backend, part 1 of 2: one transfer, a libcurl easy handle and the response it fills,
// and the coroutine parked on it. Part 2 (curl_multi.hpp) drives transfers on an execution
// context.
//
// No exception crosses a libcurl callback: each callback catches everything, keeps the first
// exception and tells libcurl to abort the transfer (returns 0), which then ends with that
// exception.

#include <curl/curl.h>

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/detail/adapter_op.hpp>
#include <request_shadow/response_record.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace http {

/// A transport failure: the request got no complete HTTP response.
/**
 * Refused, reset, timed out, TLS failure, a malformed response, a response over
 * `Options::max_response_bytes`. `what()` holds libcurl's error text (and, for a response that is
 * too large, the limit); `code()` is libcurl's `CURLcode`.
 */
class TransferError : public std::runtime_error {
 public:
  /// Make the error with libcurl's code and the message.
  TransferError(CURLcode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  /// libcurl's result code for the transfer.
  [[nodiscard]] CURLcode code() const noexcept { return code_; }

 private:
  CURLcode code_;
};

}  // namespace http
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

class CurlMulti;

// One transfer: its easy handle and what libcurl's callbacks fill. The multi that runs it owns it
// while it runs (under the multi's mutex); the parked caller's cancellation holds it weakly.
class CurlTransfer {
 public:
  CurlTransfer() = default;
  CurlTransfer(const CurlTransfer&) = delete;
  CurlTransfer& operator=(const CurlTransfer&) = delete;
  CurlTransfer(CurlTransfer&&) = delete;
  CurlTransfer& operator=(CurlTransfer&&) = delete;
  virtual ~CurlTransfer() {
    if (easy_ != nullptr) curl_easy_cleanup(easy_);
    if (fields_ != nullptr) curl_slist_free_all(fields_);
  }

  // Make the easy handle and set what does not depend on the multi. Throws.
  void init(std::size_t max_response_bytes) {
    easy_ = curl_easy_init();
    if (easy_ == nullptr) throw std::runtime_error("request_shadow::http: curl_easy_init failed");
    max_bytes_ = max_response_bytes;
    error_[0] = '\0';
    set(CURLOPT_PRIVATE, static_cast<void*>(this));
    set(CURLOPT_ERRORBUFFER, error_);
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_WRITEFUNCTION, &CurlTransfer::on_body);
    set(CURLOPT_WRITEDATA, static_cast<void*>(this));
    set(CURLOPT_HEADERFUNCTION, &CurlTransfer::on_header);
    set(CURLOPT_HEADERDATA, static_cast<void*>(this));
  }

  // Set an option; throws if libcurl refuses it.
  template <class T>
  void set(CURLoption option, T value) {
    const CURLcode rc = curl_easy_setopt(easy_, option, value);
    if (rc != CURLE_OK) {
      throw std::invalid_argument(std::string("request_shadow::http: curl_easy_setopt: ") +
                                  curl_easy_strerror(rc));
    }
  }

  // Add a request header line (`Name: value`); throws on out of memory.
  void add_field(const std::string& line) {
    curl_slist* next = curl_slist_append(fields_, line.c_str());
    if (next == nullptr) throw std::bad_alloc();
    fields_ = next;
  }

  [[nodiscard]] curl_slist* fields() const noexcept { return fields_; }
  [[nodiscard]] CURL* easy() const noexcept { return easy_; }
  std::string& body() noexcept { return body_; }
  std::string& url() noexcept { return url_; }

  // Free the easy handle, once it is out of the multi. Under the multi's mutex.
  void release_easy() noexcept {
    if (easy_ != nullptr) curl_easy_cleanup(easy_);
    easy_ = nullptr;
  }

  // The outcome of the finished transfer, from libcurl's result. Before release_easy().
  [[nodiscard]] std::exception_ptr outcome(CURLcode result, ResponseRecord& response) noexcept {
    try {
      if (callback_error_) return callback_error_;
      if (result != CURLE_OK) {
        std::string what = "request_shadow::http: ";
        what += url_;
        what += ": ";
        const std::string_view text = curl_easy_strerror(result);
        what += text;
        if (error_[0] != '\0' && std::string_view(error_) != text) {
          what += ": ";
          what += error_;
        }
        if (!limit_error_.empty()) {
          what += " (";
          what += limit_error_;
          what += ")";
        }
        return std::make_exception_ptr(http::TransferError(result, what));
      }
      long status = 0;
      curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
      response_.status = static_cast<std::uint16_t>(status);
      response_.ok = status >= 200 && status < 400;
      response = std::move(response_);
      return nullptr;
    } catch (...) {
      return std::current_exception();
    }
  }

  // Resume the caller with this result, by a post to its executor. Once.
  virtual void resume(std::exception_ptr error, ResponseRecord&& response) noexcept = 0;
  // Destroy the caller's handler without resuming it (its context is shutting down). Once.
  virtual void drop() noexcept = 0;

  // Guarded by the multi's mutex: whether the multi still runs this transfer.
  bool running = false;
  // The multi that runs it, for a cancellation to find.
  std::weak_ptr<CurlMulti> multi;

 private:
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) noexcept {
    auto& self = *static_cast<CurlTransfer*>(user);
    const std::size_t n = size * count;
    try {
      if (self.received_ + n > self.max_bytes_) {
        self.limit_error_ =
            "response larger than max_response_bytes = " + std::to_string(self.max_bytes_);
        return 0;
      }
      self.received_ += n;
      self.response_.body.append(data, n);
      return n;
    } catch (...) {
      if (!self.callback_error_) self.callback_error_ = std::current_exception();
      return 0;
    }
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t count,
                               void* user) noexcept {
    auto& self = *static_cast<CurlTransfer*>(user);
    const std::size_t n = size * count;
    try {
      if (self.received_ + n > self.max_bytes_) {
        self.limit_error_ = "response header section larger than max_response_bytes = " +
                            std::to_string(self.max_bytes_);
        return 0;
      }
      self.received_ += n;
      std::string_view line(data, n);
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
      if (line.starts_with("HTTP/")) {
        // A status line: an interim (1xx) response's fields are not the final response's.
        self.response_.headers = Headers{};
        return n;
      }
      if (line.empty()) return n;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) return n;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      self.response_.headers.add(line.substr(0, colon), value);
      return n;
    } catch (...) {
      if (!self.callback_error_) self.callback_error_ = std::current_exception();
      return 0;
    }
  }

  CURL* easy_ = nullptr;
  curl_slist* fields_ = nullptr;
  std::string url_;
  std::string body_;  // the request body; libcurl reads it in place
  ResponseRecord response_;
  std::size_t max_bytes_ = 0;
  std::size_t received_ = 0;
  std::string limit_error_;
  std::exception_ptr callback_error_;
  char error_[CURL_ERROR_SIZE] = {};
};

// Lives in the caller's cancellation slot; holds the transfer weakly.
class CurlCancel {
 public:
  explicit CurlCancel(std::weak_ptr<CurlTransfer> transfer) noexcept
      : transfer_(std::move(transfer)) {}
  void operator()(net::cancellation_type_t type) const noexcept;

 private:
  std::weak_ptr<CurlTransfer> transfer_;
};

// A transfer with the coroutine parked on it, counted as work on the caller's executor.
template <class Handler>
class CurlTransferFor final : public CurlTransfer {
 public:
  explicit CurlTransferFor(Handler&& handler)
      : work_(net::prefer(net::get_associated_executor(handler),
                          net::execution::outstanding_work.tracked)),
        slot_(net::get_associated_cancellation_slot(handler)),
        handler_(std::move(handler)) {}

  // Install the cancellation handler, before the transfer is handed to the multi.
  void listen(const std::shared_ptr<CurlTransfer>& self) {
    if (slot_.is_connected()) slot_.template emplace<CurlCancel>(std::weak_ptr<CurlTransfer>(self));
  }

  void resume(std::exception_ptr error, ResponseRecord&& response) noexcept override {
    if (!handler_) return;
    try {
      const auto ex = net::get_associated_executor(*handler_);
      net::post(ex, AdapterResume<Handler>(std::move(*handler_), slot_, std::move(error),
                                           std::move(response)));
    } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory: the caller is destroyed
    }
    handler_.reset();
    work_.reset();
  }

  void drop() noexcept override {
    handler_.reset();
    work_.reset();
  }

 private:
  using executor_type = net::associated_executor_t<Handler>;
  using work_type = std::decay_t<decltype(net::prefer(std::declval<const executor_type&>(),
                                                      net::execution::outstanding_work.tracked))>;

  std::optional<work_type> work_;
  net::associated_cancellation_slot_t<Handler> slot_;
  std::optional<Handler> handler_;
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_CURL_TRANSFER_HPP
