// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Backends made of clients that are not Asio coroutines: a blocking function on a thread pool,
// and a callback-style client. Deadlines, shedding, cancellation, shutdown and threads.
#include <request_shadow/adapters.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/shadower.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace rs = request_shadow;
using namespace std::chrono_literals;
using rs::ResponseRecord;
using rs::ShadowConfig;
using rs::test::EchoBackend;
using Clock = std::chrono::steady_clock;

namespace {

// ---- helpers -----------------------------------------------------------------------------------

// A latch the test opens at its end, so that a "blocking" function blocks only as long as needed.
class Gate {
 public:
  void open() {
    {
      const std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Waits until open, or `limit` (a safety net, far beyond any test's wait).
  void wait(std::chrono::seconds limit = 60s) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, limit, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Polls `done` for up to 20 s.
template <class Pred>
bool eventually(Pred done) {
  const auto until = Clock::now() + 20s;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Echoes the request once the gate opens; counts calls started and returned.
struct Stuck {
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  std::shared_ptr<std::atomic<int>> started = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<int>> finished = std::make_shared<std::atomic<int>>(0);

  ResponseRecord operator()(std::string_view request) const {
    ++*started;
    gate->wait();
    ++*finished;
    return ResponseRecord::success(request);
  }
};

class CustomError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether the coroutine runs on the strand of an io_context it was spawned on.
net::awaitable<bool> on_its_strand() {
  const auto ex = co_await net::this_coro::executor;
  const auto* strand = rs::detail::target_as<net::strand<net::io_context::executor_type>>(ex);
  co_return strand != nullptr && strand->running_in_this_thread();
}

struct Seen {
  std::string body;
  bool on_strand = false;
  std::thread::id thread;
  std::string error;
};

// Calls `backend` with `request`; records the answer (or the error's text), and where it resumed.
template <class B>
net::awaitable<void> call_and_see(B backend, std::string request, std::shared_ptr<Seen> seen) {
  try {
    const ResponseRecord answer = co_await backend.call(request);
    seen->body = answer.body;
  } catch (const std::exception& e) {
    seen->error = e.what();
  }
  seen->on_strand = co_await on_its_strand();
  seen->thread = std::this_thread::get_id();
}

template <class B>
net::awaitable<ResponseRecord> call_text(B backend, std::string request) {
  co_return co_await backend.call(request);
}

template <class S>
net::awaitable<rs::ShadowOutcome> shadow_call(S sh, std::string key) {
  co_return co_await sh.call(key);
}

template <class S>
rs::ShadowOutcome run_shadowed(net::io_context& ctx, const S& sh, const std::string& key) {
  return rs::test::run(ctx, shadow_call(sh, key));
}

ResponseRecord shout(std::string_view request) {
  std::string out(request);
  for (char& c : out) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return ResponseRecord::success(out);
}

// ---- concepts ----------------------------------------------------------------------------------

struct TakesView {
  ResponseRecord operator()(std::string_view r) const { return ResponseRecord::success(r); }
};
struct TakesBytes {
  ResponseRecord operator()(std::span<const std::byte> r) const {
    return ResponseRecord::success(r);
  }
};
struct TakesNothingUseful {
  ResponseRecord operator()(int) const { return {}; }
};
struct StartsWithView {
  void operator()(std::string_view, rs::CallbackDone) const {}
};

using PoolExecutor = net::thread_pool::executor_type;
using StuckBackend = rs::BlockingBackend<PoolExecutor, Stuck>;

static_assert(rs::Backend<rs::BlockingBackend<PoolExecutor, TakesView>>);
static_assert(rs::Backend<rs::BlockingBackend<PoolExecutor, TakesBytes>>);
static_assert(!rs::Backend<rs::BlockingBackend<PoolExecutor, TakesNothingUseful>>);
static_assert(rs::Backend<rs::CallbackBackend<StartsWithView>>);
static_assert(!rs::Backend<rs::CallbackBackend<TakesView>>);

}  // namespace

// ---- blocking_backend --------------------------------------------------------------------------

TEST(BlockingBackend, RunsOnThePoolAndResumesTheCallerOnItsOwnStrand) {
  net::thread_pool pool(2);
  net::io_context ctx;
  auto f_thread = std::make_shared<std::atomic<std::thread::id>>();
  auto backend = rs::blocking_backend(pool, [f_thread](std::string_view request) {
    *f_thread = std::this_thread::get_id();
    return shout(request);
  });
  auto seen = std::make_shared<Seen>();
  net::co_spawn(net::make_strand(ctx), call_and_see(backend, "hello", seen), net::detached);
  ctx.run();
  EXPECT_EQ(seen->body, "HELLO");
  EXPECT_EQ(seen->error, "");
  EXPECT_TRUE(seen->on_strand);
  EXPECT_EQ(seen->thread, std::this_thread::get_id());  // the thread that ran the io_context
  EXPECT_NE(f_thread->load(), std::this_thread::get_id());
}

TEST(BlockingBackend, AnExceptionFromFReachesTheCaller) {
  net::thread_pool pool(1);
  net::io_context ctx;
  auto backend = rs::blocking_backend(pool.get_executor(), [](std::string_view) -> ResponseRecord {
    throw CustomError("connection refused");
  });
  const auto outcome = rs::test::run(ctx, [](decltype(backend) b) -> net::awaitable<std::string> {
    try {
      (void)co_await b.call(std::string_view("x"));
    } catch (const CustomError& e) {
      co_return std::string("CustomError: ") + e.what();
    }
    co_return std::string("no exception");
  }(backend));
  EXPECT_EQ(outcome, "CustomError: connection refused");
}

// `f` runs after the caller's buffer is gone: the adapter has its own copy (ASan checks).
TEST(BlockingBackend, CopiesTheRequest) {
  net::thread_pool pool(1);
  net::io_context ctx;
  auto backend = rs::blocking_backend(pool, TakesBytes{});
  const auto body = rs::test::run(ctx, [](decltype(backend) b) -> net::awaitable<std::string> {
    auto buffer = std::make_unique<std::string>("a request that is long enough to be on the heap");
    auto pending = b.call(std::as_bytes(std::span(buffer->data(), buffer->size())));
    buffer.reset();
    const ResponseRecord answer = co_await std::move(pending);
    co_return answer.body;
  }(backend));
  EXPECT_EQ(body, "a request that is long enough to be on the heap");
}

namespace {
struct Order {
  int id = 0;
  std::string item;
};
}  // namespace

TEST(BlockingBackend, TakesTextBytesOrAnyCopyableRequest) {
  net::thread_pool pool(2);
  net::io_context ctx;
  auto by_string = rs::blocking_backend(pool, [](const std::string& r) { return shout(r); });
  auto by_order = rs::blocking_backend(pool, [](const Order& o) {
    return ResponseRecord::success(std::to_string(o.id) + ":" + o.item);
  });
  EXPECT_EQ(rs::test::run(ctx, call_text(by_string, "abc")).body, "ABC");
  const auto order = rs::test::run(ctx, [](decltype(by_order) b) -> net::awaitable<ResponseRecord> {
    const Order o{7, "tea"};
    co_return co_await b.call(o);
  }(by_order));
  EXPECT_EQ(order.body, "7:tea");
}

// The shadow blocks (until the end of the test): every call still returns at its deadline with
// the primary's answer, and the legs stuck in `f` are the only ones in flight (those queued
// behind them leave at their deadline). Then `f` returns, the legs finish, nothing holds the
// context any more, and the shadow answers again.
TEST(BlockingBackend, AStuckShadowNeverDelaysTheCaller) {
  net::thread_pool pool(2);
  const Stuck stuck;
  auto shadow = rs::blocking_backend(pool, stuck);
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, shadow, ShadowConfig::full_sample().shadow_timeout(50ms));
  for (int i = 0; i < 6; ++i) {
    const std::string key = "k" + std::to_string(i);
    const auto out = run_shadowed(ctx, sh, key);
    EXPECT_EQ(out.primary.body, key);
    ASSERT_TRUE(out.shadow_failed) << i;
    EXPECT_TRUE(out.shadow_failed->timed_out()) << i;
    // Both threads busy: later legs wait in the queue until their deadline takes them out.
    if (i < 2) {
      ASSERT_TRUE(eventually([&] { return *stuck.started == i + 1; }));
    }
  }
  EXPECT_EQ(*stuck.finished, 0) << "the calls returned only once the block ended";
  EXPECT_EQ(*stuck.started, 2);
  EXPECT_EQ(sh.in_flight_shadows(), 2U);
  EXPECT_EQ(sh.stats().shadow_timed_out, 6U);

  // The context runs on: the callers are free, the stuck legs wait for `f`.
  ctx.restart();
  ctx.run_for(100ms);
  EXPECT_EQ(sh.in_flight_shadows(), 2U);

  stuck.gate->open();
  ASSERT_TRUE(eventually([&] { return *stuck.finished == 2; }));
  EXPECT_EQ(*stuck.started, 2) << "a request abandoned in the queue was run";
  // The late answers reach their abandoned legs, which end; then nothing holds the context.
  ctx.restart();
  ctx.run_for(20s);
  EXPECT_TRUE(ctx.stopped());
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
  const auto out = run_shadowed(ctx, sh, "after");
  ASSERT_TRUE(out.shadow);
  EXPECT_EQ(out.shadow->body, "after");
  EXPECT_FALSE(out.divergence);
}

// With max_in_flight_shadows(2), two legs stuck in `f` hold two pool threads and every further
// leg is shed, without reaching the pool.
TEST(BlockingBackend, LegsBeyondTheBoundAreShed) {
  net::thread_pool pool(2);
  const Stuck stuck;
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, rs::blocking_backend(pool, stuck),
                  ShadowConfig::full_sample().shadow_timeout(50ms).max_in_flight_shadows(2));
  for (int i = 0; i < 8; ++i) {
    const std::string key = "k" + std::to_string(i);
    const auto out = run_shadowed(ctx, sh, key);
    EXPECT_EQ(out.primary.body, key);
    ASSERT_TRUE(out.shadow_failed) << i;
    if (i < 2) {
      EXPECT_TRUE(out.shadow_failed->timed_out()) << i;
      ASSERT_TRUE(eventually([&] { return *stuck.started == i + 1; }));
    } else {
      EXPECT_TRUE(out.shadow_failed->shed()) << i;
    }
    EXPECT_LE(sh.in_flight_shadows(), 2U);
  }
  EXPECT_EQ(*stuck.started, 2);
  EXPECT_EQ(*stuck.finished, 0);
  EXPECT_EQ(sh.stats().shed, 6U);

  stuck.gate->open();
  ASSERT_TRUE(eventually([&] { return *stuck.finished == 2; }));
  ctx.restart();
  ctx.run();
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
  const auto out = run_shadowed(ctx, sh, "after");
  ASSERT_TRUE(out.shadow) << (out.shadow_failed ? out.shadow_failed->message : "");
  EXPECT_EQ(*stuck.started, 3);
}

// A pool that never frees a thread does not pile up one queued handler per call: the executor
// sees one runner, however many requests were queued and abandoned one after the other.
TEST(BlockingBackend, AbandonedRequestsLeaveTheExecutorsQueue) {
  net::io_context jobs;  // never run during the calls: an executor with no free thread
  auto calls = std::make_shared<std::atomic<int>>(0);
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{},
                  rs::blocking_backend(jobs.get_executor(),
                                       [calls](std::string_view r) {
                                         ++*calls;
                                         return ResponseRecord::success(r);
                                       }),
                  ShadowConfig::full_sample().shadow_timeout(1ms));
  for (int i = 0; i < 200; ++i) {
    const auto out = run_shadowed(ctx, sh, "k" + std::to_string(i));
    ASSERT_TRUE(out.shadow_failed && out.shadow_failed->timed_out()) << i;
  }
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
  EXPECT_EQ(jobs.poll(), 1U);
  EXPECT_EQ(*calls, 0);
}

// Destroyed with a request still running: the caller's frames are freed with the context, and
// `f`'s late answer is dropped.
TEST(BlockingBackend, ContextDestroyedBeforeThePool) {
  net::thread_pool pool(2);
  const Stuck stuck;
  auto callers = std::make_shared<rs::test::Probe>();
  rs::Shadower sh(EchoBackend{}, rs::blocking_backend(pool, stuck),
                  ShadowConfig::full_sample().shadow_timeout(50ms));
  {
    net::io_context ctx;
    for (int i = 0; i < 3; ++i) {
      const auto out = run_shadowed(ctx, sh, "k" + std::to_string(i));
      EXPECT_TRUE(out.shadow_failed && out.shadow_failed->timed_out());
      if (i < 2) {
        ASSERT_TRUE(eventually([&] { return *stuck.started == i + 1; }));
      }
    }
    // And a direct caller, parked in a running request when the context goes.
    net::co_spawn(
        ctx,
        [](StuckBackend b, std::shared_ptr<rs::test::Probe> probe) -> net::awaitable<void> {
          const rs::test::FrameGuard frame(probe);
          (void)co_await b.call(std::string_view("direct"));
        }(rs::blocking_backend(pool, stuck), callers),
        net::detached);
    ctx.restart();
    ctx.poll();
    EXPECT_EQ(callers->frames, 1);
    EXPECT_EQ(sh.in_flight_shadows(), 2U);
  }
  EXPECT_EQ(callers->frames, 0);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
  stuck.gate->open();
  pool.join();
  EXPECT_EQ(*stuck.finished, *stuck.started);
}

// The pool ends first: `f` returns, its answers are posted to the context, which is then
// destroyed without running them.
TEST(BlockingBackend, PoolDestroyedBeforeTheContext) {
  net::io_context ctx;
  const Stuck stuck;
  std::optional<rs::Shadower<EchoBackend, StuckBackend>> sh;
  {
    net::thread_pool pool(2);
    sh.emplace(EchoBackend{}, rs::blocking_backend(pool, stuck),
               ShadowConfig::full_sample().shadow_timeout(50ms));
    for (int i = 0; i < 3; ++i) {
      const auto out = run_shadowed(ctx, *sh, "k" + std::to_string(i));
      EXPECT_TRUE(out.shadow_failed && out.shadow_failed->timed_out());
      if (i < 2) {
        ASSERT_TRUE(eventually([&] { return *stuck.started == i + 1; }));
      }
    }
    stuck.gate->open();
    pool.join();
    EXPECT_EQ(*stuck.finished, 2);
  }
  EXPECT_EQ(sh->in_flight_shadows(), 2U);  // answered, not yet resumed: the context is not run
  sh.reset();
}

// A request the executor destroys without running it fails the call as a broken promise.
TEST(BlockingBackend, ARequestTheExecutorDropsIsABrokenPromise) {
  net::io_context ctx;
  std::optional<net::io_context> jobs(std::in_place);
  auto error = std::make_shared<std::string>();
  net::co_spawn(
      ctx,
      [](rs::BlockingBackend<net::io_context::executor_type, TakesView> b,
         std::shared_ptr<std::string> out) -> net::awaitable<void> {
        try {
          (void)co_await b.call(std::string_view("x"));
          *out = "answered";
        } catch (const std::future_error& e) {
          *out = e.code() == std::future_errc::broken_promise ? "broken promise" : e.what();
        }
      }(rs::blocking_backend(jobs->get_executor(), TakesView{}), error),
      net::detached);
  ctx.poll();  // queued on `jobs`, which never runs
  jobs.reset();
  ctx.run();
  EXPECT_EQ(*error, "broken promise");
}

// A cancelled request that waits for a thread completes at once and never runs; one that runs
// completes when `f` returns.
TEST(BlockingBackend, CancellationEndsAWaitingRequestButNotARunningOne) {
  net::thread_pool pool(1);
  const Stuck stuck;
  auto backend = rs::blocking_backend(pool, stuck);
  net::io_context ctx;
  struct Result {
    std::string body;
    std::string error;
    bool done = false;
  };
  auto caller = [](decltype(backend) b, std::string request,
                   std::shared_ptr<Result> r) -> net::awaitable<void> {
    try {
      const ResponseRecord answer = co_await b.call(request);
      r->body = answer.body;
    } catch (const rs::system_error& e) {
      r->error = e.code() == net::error::operation_aborted ? "aborted" : e.what();
    }
    r->done = true;
  };
  net::cancellation_signal running_signal;
  net::cancellation_signal waiting_signal;
  auto running = std::make_shared<Result>();
  auto waiting = std::make_shared<Result>();
  net::co_spawn(ctx, caller(backend, "running", running),
                net::bind_cancellation_slot(running_signal.slot(), net::detached));
  ASSERT_TRUE(eventually([&] {
    ctx.poll();
    return *stuck.started == 1;
  }));
  net::co_spawn(ctx, caller(backend, "waiting", waiting),
                net::bind_cancellation_slot(waiting_signal.slot(), net::detached));
  ctx.restart();
  ctx.poll();
  waiting_signal.emit(net::cancellation_type::terminal);
  ctx.restart();
  ctx.poll();
  EXPECT_TRUE(waiting->done);
  EXPECT_EQ(waiting->error, "aborted");

  running_signal.emit(net::cancellation_type::terminal);
  ctx.restart();
  ctx.run_for(100ms);
  EXPECT_FALSE(running->done);

  stuck.gate->open();
  ASSERT_TRUE(eventually([&] { return *stuck.finished == 1; }));
  ctx.restart();
  ctx.run();
  EXPECT_TRUE(running->done);
  EXPECT_EQ(running->body, "running");
  pool.join();
  EXPECT_EQ(*stuck.started, 1) << "the cancelled request ran";
}

// ---- callback_backend --------------------------------------------------------------------------

TEST(CallbackBackend, DoneFromAnotherThreadResumesTheCallerOnItsOwnStrand) {
  net::thread_pool client(2);
  net::io_context ctx;
  auto backend = rs::callback_backend([&client](std::string_view request, rs::CallbackDone done) {
    net::post(client, [done, r = std::string(request)] { done(shout(r)); });
  });
  std::vector<std::shared_ptr<Seen>> seen;
  for (int i = 0; i < 8; ++i) {
    seen.push_back(std::make_shared<Seen>());
    net::co_spawn(net::make_strand(ctx),
                  call_and_see(backend, "call" + std::to_string(i), seen.back()), net::detached);
  }
  ctx.run();
  for (int i = 0; i < 8; ++i) {
    const auto& s = *seen[static_cast<std::size_t>(i)];
    EXPECT_EQ(s.body, "CALL" + std::to_string(i));
    EXPECT_TRUE(s.on_strand);
    EXPECT_EQ(s.thread, std::this_thread::get_id());
  }
}

TEST(CallbackBackend, TheFirstDoneWinsAndLaterOnesAreIgnored) {
  net::thread_pool client(2);
  net::io_context ctx;
  auto kept = std::make_shared<std::optional<rs::CallbackDone>>();
  auto backend = rs::callback_backend([kept](std::string_view, rs::CallbackDone done) {
    EXPECT_TRUE(done.waiting());
    *kept = done;
    done(ResponseRecord::success("first"));
    EXPECT_FALSE(done.waiting());
    done(ResponseRecord::success("second"));
    done(std::make_exception_ptr(CustomError("third")));
  });
  EXPECT_EQ(rs::test::run(ctx, call_text(backend, "x")).body, "first");
  (**kept)(ResponseRecord::success("after the caller resumed"));
  EXPECT_FALSE(kept->value().waiting());

  // Two threads racing, each calling twice.
  auto racing = rs::callback_backend([&client](std::string_view, rs::CallbackDone done) {
    for (int t = 0; t < 2; ++t) {
      net::post(client, [done, t] {
        done(ResponseRecord::success("t" + std::to_string(t)));
        done(ResponseRecord::success("again"));
      });
    }
  });
  for (int i = 0; i < 50; ++i) {
    const auto body = rs::test::run(ctx, call_text(racing, "x")).body;
    EXPECT_TRUE(body == "t0" || body == "t1") << body;
  }
  client.join();
}

TEST(CallbackBackend, FailuresReachTheCallerAsExceptions) {
  net::io_context ctx;
  auto what = [&ctx](auto backend) {
    return rs::test::run(ctx, [](decltype(backend) b) -> net::awaitable<std::string> {
      try {
        (void)co_await b.call(std::string_view("x"));
      } catch (const CustomError& e) {
        co_return std::string("CustomError: ") + e.what();
      } catch (const std::invalid_argument&) {
        co_return std::string("invalid_argument");
      } catch (const std::future_error& e) {
        co_return e.code() == std::future_errc::broken_promise ? "broken promise" : e.what();
      }
      co_return std::string("no exception");
    }(backend));
  };
  EXPECT_EQ(what(rs::callback_backend([](std::string_view, rs::CallbackDone done) {
              done(std::make_exception_ptr(CustomError("refused")));
            })),
            "CustomError: refused");
  EXPECT_EQ(what(rs::callback_backend(
                [](std::string_view, rs::CallbackDone done) { done(std::exception_ptr()); })),
            "invalid_argument");
  EXPECT_EQ(what(rs::callback_backend(
                [](std::string_view, const rs::CallbackDone&) { throw CustomError("at once"); })),
            "CustomError: at once");
  EXPECT_EQ(what(rs::callback_backend([](std::string_view, const rs::CallbackDone&) {})),
            "broken promise");
  // `done` first, then a throw: the result given first wins.
  EXPECT_EQ(what(rs::callback_backend([](std::string_view, rs::CallbackDone done) {
              done(ResponseRecord::success("ok"));
              throw CustomError("too late");
            })),
            "no exception");
}

TEST(CallbackBackend, TakesTextBytesOrAnyCopyableRequest) {
  net::io_context ctx;
  auto by_string = rs::callback_backend(
      [](const std::string& r, const rs::CallbackDone& done) { done(shout(r)); });
  auto by_bytes = rs::callback_backend([](std::span<const std::byte> r, rs::CallbackDone done) {
    done(ResponseRecord::success(r));
  });
  auto by_order = rs::callback_backend([](const Order& o, const rs::CallbackDone& done) {
    done(ResponseRecord::success(std::to_string(o.id) + ":" + o.item));
  });
  static_assert(rs::Backend<decltype(by_string)> && rs::Backend<decltype(by_bytes)>);
  static_assert(!rs::Backend<decltype(by_order)>);
  EXPECT_EQ(rs::test::run(ctx, call_text(by_string, "abc")).body, "ABC");
  EXPECT_EQ(rs::test::run(ctx, call_text(by_bytes, "abc")).body, "abc");
  const auto order = rs::test::run(ctx, [](decltype(by_order) b) -> net::awaitable<ResponseRecord> {
    const Order o{7, "tea"};
    co_return co_await b.call(o);
  }(by_order));
  EXPECT_EQ(order.body, "7:tea");
}

// The client reads the request after the caller's buffer is gone: it reads the adapter's copy,
// valid while it keeps `done` (ASan checks).
TEST(CallbackBackend, TheRequestLivesAsLongAsDone) {
  net::thread_pool client(1);
  net::io_context ctx;
  auto backend =
      rs::callback_backend([&client](std::span<const std::byte> request, rs::CallbackDone done) {
        net::post(client, [request, done] {
          std::this_thread::sleep_for(2ms);
          done(ResponseRecord::success(request));
        });
      });
  const auto body = rs::test::run(ctx, [](decltype(backend) b) -> net::awaitable<std::string> {
    auto buffer = std::make_unique<std::string>("a request that is long enough to be on the heap");
    auto pending = b.call(std::as_bytes(std::span(buffer->data(), buffer->size())));
    buffer.reset();
    const ResponseRecord answer = co_await std::move(pending);
    co_return answer.body;
  }(backend));
  EXPECT_EQ(body, "a request that is long enough to be on the heap");
}

namespace {

// A client that never answers and keeps every `done` it was given, for ever.
struct Hoarder {
  std::mutex mutex;
  std::vector<rs::CallbackDone> dones;
  void keep(rs::CallbackDone done) {
    const std::lock_guard lock(mutex);
    dones.push_back(std::move(done));
  }
};

}  // namespace

// `done` is never called: each leg times out at its deadline and is freed when it is abandoned,
// though the client keeps `done` for ever (kept past the end of the test: LSan would see a leak
// of anything it still held).
TEST(CallbackBackend, ANeverCalledDoneTimesOutAndIsFreedWhenAbandoned) {
  static auto* const forever = new Hoarder;  // NOLINT: reachable for ever, on purpose
  auto client = std::make_shared<int>(0);
  const std::weak_ptr<int> client_alive = client;
  const std::size_t before = forever->dones.size();
  {
    net::io_context ctx;
    rs::Shadower sh(EchoBackend{},
                    rs::callback_backend([client](std::string_view, rs::CallbackDone done) {
                      forever->keep(std::move(done));
                    }),
                    ShadowConfig::full_sample().shadow_timeout(50ms));
    client.reset();
    for (int i = 0; i < 5; ++i) {
      const std::string key = "k" + std::to_string(i);
      const auto out = run_shadowed(ctx, sh, key);
      EXPECT_EQ(out.primary.body, key);
      ASSERT_TRUE(out.shadow_failed);
      EXPECT_TRUE(out.shadow_failed->timed_out());
    }
    ctx.restart();
    const auto start = Clock::now();
    ctx.run_for(20s);
    EXPECT_TRUE(ctx.stopped());
    EXPECT_LT(Clock::now() - start, 10s);
    EXPECT_EQ(sh.in_flight_shadows(), 0U);
    const std::lock_guard lock(forever->mutex);
    ASSERT_EQ(forever->dones.size(), before + 5);
    for (std::size_t i = before; i < forever->dones.size(); ++i) {
      EXPECT_FALSE(forever->dones[i].waiting());
    }
  }
  EXPECT_TRUE(client_alive.expired()) << "a kept done keeps the backend alive";
  // Late answers, after the context and the shadower are gone, are ignored.
  const std::lock_guard lock(forever->mutex);
  for (std::size_t i = before; i < forever->dones.size(); ++i) {
    forever->dones[i](ResponseRecord::success("late"));
  }
}

// A call pending when its context is destroyed is destroyed with it; a later `done` is ignored.
TEST(CallbackBackend, APendingCallIsDestroyedWithItsContext) {
  auto hoarder = std::make_shared<Hoarder>();
  auto backend = rs::callback_backend(
      [hoarder](std::string_view, rs::CallbackDone done) { hoarder->keep(std::move(done)); });
  auto callers = std::make_shared<rs::test::Probe>();
  rs::Shadower sh(EchoBackend{}, backend, ShadowConfig::full_sample().shadow_timeout(1h));
  {
    net::io_context ctx;
    net::co_spawn(
        ctx,
        [](decltype(backend) b, std::shared_ptr<rs::test::Probe> probe) -> net::awaitable<void> {
          const rs::test::FrameGuard frame(probe);
          (void)co_await b.call(std::string_view("direct"));
        }(backend, callers),
        net::detached);
    net::co_spawn(
        ctx,
        [](decltype(sh) s, std::shared_ptr<rs::test::Probe> probe) -> net::awaitable<void> {
          const rs::test::FrameGuard frame(probe);
          (void)co_await s.call("shadowed");
        }(sh, callers),
        net::detached);
    for (int i = 0; i < 2000 && hoarder->dones.size() < 2; ++i) ctx.run_for(1ms);
    ASSERT_EQ(hoarder->dones.size(), 2U);
    EXPECT_EQ(callers->frames, 2);
    EXPECT_EQ(sh.in_flight_shadows(), 1U);
    EXPECT_TRUE(hoarder->dones[0].waiting());
  }
  EXPECT_EQ(callers->frames, 0);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
  for (const auto& done : hoarder->dones) {
    EXPECT_FALSE(done.waiting());
    done(ResponseRecord::success("late"));
  }
}

// Many calls from strands of a 2-thread io_context; each answered by two client threads racing
// (each `done` called twice), a third of them after the shadow deadline, so `done` also races
// the cancellation. TSan checks.
TEST(CallbackBackend, ManyDonesFromOtherThreadsInParallel) {
  net::io_context client;
  auto client_work = net::make_work_guard(client);
  std::vector<std::thread> client_threads;
  for (int t = 0; t < 2; ++t) client_threads.emplace_back([&client] { client.run(); });

  auto backend = rs::callback_backend([&client](std::string_view request, rs::CallbackDone done) {
    const std::string r(request);
    const bool late = r.find("late") != std::string::npos;
    for (int t = 0; t < 2; ++t) {
      if (late) {
        auto timer = std::make_shared<net::steady_timer>(client, 3ms);
        timer->async_wait([timer, done, r](rs::error_code) {
          done(ResponseRecord::success(r));
          done(ResponseRecord::success("again"));
        });
      } else {
        net::post(client, [done, r] {
          done(ResponseRecord::success(r));
          done(ResponseRecord::success("again"));
        });
      }
    }
  });
  constexpr int callers = 8;
  constexpr int calls_each = 150;
  net::io_context ctx;
  rs::Shadower sh(EchoBackend{}, backend, ShadowConfig::full_sample().shadow_timeout(2ms));
  auto wrong = std::make_shared<std::atomic<int>>(0);
  std::atomic<int> finished{0};
  for (int c = 0; c < callers; ++c) {
    net::co_spawn(
        net::make_strand(ctx),
        [](decltype(sh) s, int id, std::shared_ptr<std::atomic<int>> bad) -> net::awaitable<void> {
          for (int i = 0; i < calls_each; ++i) {
            std::string key = "c" + std::to_string(id) + "-" + std::to_string(i);
            if (i % 3 == 0) key += "-late";
            const auto out = co_await s.call(key);
            if (out.primary.body != key) ++*bad;
            if (out.shadow && out.shadow->body != key) ++*bad;
            if (!out.shadow && !(out.shadow_failed && out.shadow_failed->timed_out())) ++*bad;
          }
        }(sh, c, wrong),
        [&finished](const std::exception_ptr& e) {
          EXPECT_FALSE(e);
          ++finished;
        });
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&ctx] { ctx.run(); });
  for (auto& t : threads) t.join();
  client_work.reset();
  for (auto& t : client_threads) t.join();
  EXPECT_EQ(finished, callers);
  EXPECT_EQ(*wrong, 0);
  const auto stats = sh.stats();
  EXPECT_EQ(stats.calls, static_cast<std::uint64_t>(callers * calls_each));
  EXPECT_EQ(stats.shadow_ok + stats.shadow_timed_out + stats.expired_in_queue, stats.calls);
  EXPECT_EQ(sh.in_flight_shadows(), 0U);
}

// `done` called from another thread while the caller's context is being destroyed: each call is
// either resumed or destroyed, once, and nothing is touched after it is freed (TSan, ASan).
TEST(CallbackBackend, DoneRacesTheContextsDestruction) {
  for (int round = 0; round < 20; ++round) {
    auto hoarder = std::make_shared<Hoarder>();
    auto backend = rs::callback_backend(
        [hoarder](std::string_view, rs::CallbackDone done) { hoarder->keep(std::move(done)); });
    auto callers = std::make_shared<rs::test::Probe>();
    constexpr int calls = 100;
    std::thread answering;
    {
      net::io_context ctx;
      for (int i = 0; i < calls; ++i) {
        // The first call is on the context itself, so that the adapter's registry exists before
        // any strand: the strands shut down first, and a late post to one destroys its handler.
        if (i == 1) ctx.poll();
        net::co_spawn(
            i == 0 ? net::any_io_executor(ctx.get_executor())
                   : net::any_io_executor(net::make_strand(ctx)),
            [](decltype(backend) b,
               std::shared_ptr<rs::test::Probe> probe) -> net::awaitable<void> {
              const rs::test::FrameGuard frame(probe);
              (void)co_await b.call(std::string_view("x"));
              ++probe->completed;
            }(backend, callers),
            net::detached);
      }
      ctx.poll();
      ASSERT_EQ(hoarder->dones.size(), static_cast<std::size_t>(calls));
      answering = std::thread([hoarder] {
        for (const auto& done : hoarder->dones) done(ResponseRecord::success("y"));
      });
      ctx.run_for(std::chrono::microseconds(100 * round));
    }
    answering.join();
    EXPECT_EQ(callers->frames, 0);
    EXPECT_LE(callers->completed, calls);
  }
}
