// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Shared helpers for the tests: a coroutine runner and fake backends.
#ifndef REQUEST_SHADOW_TESTS_TEST_SUPPORT_HPP
#define REQUEST_SHADOW_TESTS_TEST_SUPPORT_HPP

#include <atomic>
#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/body_comparator.hpp>
#include <request_shadow/response_record.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

// The Asio in use (standalone or Boost), for the tests.
namespace net = request_shadow::net;

namespace request_shadow::test {

/// Run `task` on `ctx` until it completes, then stop `ctx`, leaving any abandoned shadow leg
/// pending. Returns the result or rethrows. Throws if `ctx` runs out of work first.
template <class T>
T run(net::io_context& ctx, net::awaitable<T> task) {
  std::optional<T> result;
  std::exception_ptr error;
  bool finished = false;
  net::co_spawn(ctx, std::move(task), [&](std::exception_ptr e, T value) {
    finished = true;
    error = e;
    if (!e) result.emplace(std::move(value));
    ctx.stop();
  });
  ctx.restart();
  ctx.run();
  if (!finished) throw std::logic_error("the io_context ran out of work before the task ended");
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

/// What a fake backend saw.
struct Probe {
  std::atomic<int> calls{0};      // calls started
  std::atomic<int> completed{0};  // calls that returned a response
  std::atomic<int> cancelled{0};  // calls that saw operation_aborted
  std::atomic<int> frames{0};     // call frames alive now
};

/// Counts a live call frame for as long as it exists.
class FrameGuard {
 public:
  explicit FrameGuard(std::shared_ptr<Probe> probe) : probe_(std::move(probe)) { ++probe_->frames; }
  FrameGuard(const FrameGuard&) = delete;
  FrameGuard& operator=(const FrameGuard&) = delete;
  ~FrameGuard() { --probe_->frames; }

 private:
  std::shared_ptr<Probe> probe_;
};

inline std::string text(std::span<const std::byte> input) {
  return {reinterpret_cast<const char*>(input.data()), input.size()};
}

/// Answers `response` at once.
struct ConstantBackend {
  ResponseRecord response;
  std::shared_ptr<Probe> probe = std::make_shared<Probe>();

  net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) {
    ++probe->calls;
    ++probe->completed;
    co_return response;
  }
};

/// Answers 200 with the input as body, plus `suffix` when the input contains `marker`.
struct EchoBackend {
  std::string marker;
  std::string suffix;
  std::shared_ptr<Probe> probe = std::make_shared<Probe>();

  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    ++probe->calls;
    std::string body = text(input);
    if (!marker.empty() && body.find(marker) != std::string::npos) body += suffix;
    ++probe->completed;
    co_return ResponseRecord::success(body);
  }
};

/// Throws `E(what)` at once.
template <class E = std::runtime_error>
struct ThrowingBackend {
  std::string what;
  std::shared_ptr<Probe> probe = std::make_shared<Probe>();

  net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) {
    ++probe->calls;
    if (!what.empty()) throw E(what);
    co_return ResponseRecord::success();
  }
};

/// Fails while `failing` is set; otherwise echoes the input once `open` is set (it looks every
/// millisecond, on its own executor). Copies share the flags and the count of calls.
struct GatedBackend {
  std::shared_ptr<std::atomic<bool>> failing = std::make_shared<std::atomic<bool>>(true);
  std::shared_ptr<std::atomic<bool>> open = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    ++*calls;
    if (*failing) throw std::runtime_error("candidate down");
    const auto ex = co_await net::this_coro::executor;
    while (!*open) {
      net::steady_timer tick(ex, std::chrono::milliseconds(1));
      co_await tick.async_wait(net::use_awaitable);
    }
    co_return ResponseRecord::success(text(input));
  }
};

/// Answers `response` after `delay`. With `honour_cancellation` false it ignores every
/// cancellation and always runs the full delay, like a client that never looks at it.
struct DelayedBackend {
  std::chrono::steady_clock::duration delay;
  bool honour_cancellation = true;
  ResponseRecord response = ResponseRecord::success("late");
  std::shared_ptr<Probe> probe = std::make_shared<Probe>();

  net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) {
    FrameGuard frame(probe);
    ++probe->calls;
    const auto ex = co_await net::this_coro::executor;
    net::steady_timer timer(ex, delay);
    if (honour_cancellation) {
      try {
        co_await timer.async_wait(net::use_awaitable);
      } catch (...) {
        ++probe->cancelled;
        throw;
      }
    } else {
      co_await net::this_coro::throw_if_cancelled(false);
      co_await timer.async_wait(
          net::bind_cancellation_slot(net::cancellation_slot(), net::use_awaitable));
    }
    ++probe->completed;
    co_return response;
  }
};

/// Parses `k1=v1;k2=v2` into a map; throws on a part without `=`.
inline std::map<std::string, std::string> parse_kv(std::string_view body) {
  std::map<std::string, std::string> out;
  while (!body.empty()) {
    const auto end = body.find(';');
    const auto part = body.substr(0, end);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) throw std::invalid_argument("not k=v: " + std::string(part));
    out[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
    body = end == std::string_view::npos ? std::string_view{} : body.substr(end + 1);
  }
  return out;
}

/// A comparator for a `k1=v1;k2=v2` format in which order does not matter: each key is a
/// pointer `/k`, or with `paths` a pointer written without its leading `/` (`items/0/price`).
/// Applies when the primary's `content-type` is `text/kv`, or always if `any`.
inline BodyComparator kv_comparator(bool any = false, bool paths = false) {
  BodyComparator c;
  c.name = paths ? "paths" : "kv";
  if (!any) {
    c.applies = [](const ResponseRecord& p, const ResponseRecord&) {
      return p.headers.get("content-type") == "text/kv";
    };
  }
  c.compare = [paths](std::string_view a, std::string_view b, const PointerPatterns& /*ignored*/) {
    const auto x = parse_kv(a);
    const auto y = parse_kv(b);
    BodyComparison out;
    auto pointer = [paths](const std::string& k) {
      if (paths) return "/" + k;
      std::string p;
      append_pointer_token(p, k);
      return p;
    };
    for (const auto& [k, v] : x) {
      const auto it = y.find(k);
      if (it == y.end()) {
        out.fields.push_back(FieldDiff{pointer(k), FieldChange::Removed, v, ""});
      } else if (it->second != v) {
        out.fields.push_back(FieldDiff{pointer(k), FieldChange::Changed, v, it->second});
      }
    }
    for (const auto& [k, v] : y) {
      if (!x.contains(k)) out.fields.push_back(FieldDiff{pointer(k), FieldChange::Added, "", v});
    }
    return out;
  };
  return c;
}

// A shadow that hangs: suspends for an hour, ignoring cancellation (and so keeping the awaiting
// coroutine from throwing on cancellation).
inline net::awaitable<void> hang_ignoring_cancellation() {
  const auto ex = co_await net::this_coro::executor;
  co_await net::this_coro::throw_if_cancelled(false);
  net::steady_timer forever(ex, std::chrono::hours(1));
  co_await forever.async_wait(
      net::bind_cancellation_slot(net::cancellation_slot(), net::use_awaitable));
}

// Of the calls 0 to `calls - 1` of a caller whose keys mix outcomes (call 7 of every 50 hangs,
// the other odd ones diverge), how many hang and how many diverge.
struct MixedCounts {
  int hang = 0;
  int odd = 0;
};

inline MixedCounts mixed_counts(int calls) {
  MixedCounts n;
  for (int i = 0; i < calls; ++i) {
    const bool hangs = i % 50 == 7;
    n.hang += hangs ? 1 : 0;
    n.odd += (!hangs && i % 2 == 1) ? 1 : 0;
  }
  return n;
}

}  // namespace request_shadow::test

#endif  // REQUEST_SHADOW_TESTS_TEST_SUPPORT_HPP
