// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_ADAPTER_OP_HPP
#define REQUEST_SHADOW_DETAIL_ADAPTER_OP_HPP

// The operation behind the adapters of adapters.hpp: a coroutine parked until its result comes
// from another thread, and, in each execution context, a registry of the operations parked on it
// that destroys them when the context shuts down.
//
// Why a registry: ~io_context destroys only the handlers it holds. A handler parked here (while a
// pool thread runs the request, or until a client calls `done`) would otherwise keep the caller's
// coroutine frames alive for ever once the context is gone.
//
// Locking: the fields marked "guarded" are read and written under the AdapterCore mutex of the
// caller's execution context. Whoever finishes an operation (a result, a cancellation or the
// shutdown) does so once, under the mutex, and is from then on the only one to touch its handler.
//
// Posting a result races with the destruction of the caller's context. A result is posted
// without the mutex (a post may destroy the handler at once, and with it frames whose
// destructors may finish other operations), but counted in `posting`: the registry's shutdown()
// marks the context down and waits until no post is under way. After that no result is posted
// there any more. Before it, every service a post goes through is whole: Asio shuts services down
// in reverse order of creation, the scheduler is created with the context, and the registry
// creates the strand service (behind `net::strand`) before itself. Posting to a strand whose
// service has shut down races that shutdown inside Asio (TSan sees it). The scheduler destroys a
// posted handler that never runs.
//
// Ownership: a pending operation is owned by its context's registry (`self_`).

#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/response_record.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

class AdapterOp;

// The registry's state, shared with every operation it ever held: an operation that outlives its
// context (a pool thread still runs its request) still locks it to learn that it is finished.
struct AdapterCore {
  std::mutex mutex;
  std::condition_variable posted;  // `posting` fell to 0 while `down`
  bool down = false;               // guarded: the context is shutting down
  std::size_t posting = 0;         // guarded: results being posted to the context now
  AdapterOp* head = nullptr;       // guarded: the operations pending on this context
};

// One per execution context: destroys the operations parked on it when it shuts down.
class AdapterRegistry final : public net::execution_context::service {
 public:
  using key_type = AdapterRegistry;
  inline static net::execution_context::id id;

  explicit AdapterRegistry(net::execution_context& ctx)
      : net::execution_context::service(ctx), core_(std::make_shared<AdapterCore>()) {
    // Older than this registry, so it shuts down after it: see "Posting a result" above.
    (void)net::use_service<net::detail::strand_executor_service>(ctx);
  }

  [[nodiscard]] const std::shared_ptr<AdapterCore>& core() const noexcept { return core_; }

 private:
  void shutdown() override;

  std::shared_ptr<AdapterCore> core_;
};

// The registry of the execution context `ex` runs on.
template <class Executor>
std::shared_ptr<AdapterCore> adapter_core(const Executor& ex) {
  return net::use_service<AdapterRegistry>(net::query(ex, net::execution::context)).core();
}

// The errors an operation can end with besides its own result. Never throw: out of memory, the
// bad_alloc itself is the error.
inline std::exception_ptr aborted_error() noexcept {
  try {
    return std::make_exception_ptr(system_error(net::error::operation_aborted));
  } catch (...) {
    return std::current_exception();
  }
}

inline std::exception_ptr broken_promise_error() noexcept {
  try {
    return std::make_exception_ptr(std::future_error(std::future_errc::broken_promise));
  } catch (...) {
    return std::current_exception();
  }
}

// A coroutine waiting for a `ResponseRecord` produced elsewhere.
class AdapterOp {
 public:
  enum class Phase : std::uint8_t {
    Waiting,   // not started (a blocking request still queued for a pool thread)
    Running,   // started: its result will come from another thread
    Finished,  // its caller was resumed (or posted), or destroyed at shutdown
  };

  AdapterOp(const AdapterOp&) = delete;
  AdapterOp& operator=(const AdapterOp&) = delete;
  AdapterOp(AdapterOp&&) = delete;
  AdapterOp& operator=(AdapterOp&&) = delete;
  virtual ~AdapterOp() = default;

  // Hand `op` to its context's registry. False if that context has shut down already: `op` is
  // then finished, and its handler goes with it.
  static bool publish(const std::shared_ptr<AdapterOp>& op) noexcept {
    AdapterCore& core = *op->core_;
    const std::lock_guard lock(core.mutex);
    if (core.down) {
      op->phase_ = Phase::Finished;
      return false;
    }
    op->self_ = op;
    op->next_ = core.head;
    if (core.head != nullptr) core.head->prev_ = op.get();
    core.head = op.get();
    return true;
  }

  // Resume the caller with this result, on its own executor; ignored once finished. Any thread.
  void complete(std::exception_ptr error, ResponseRecord&& response) noexcept {
    std::shared_ptr<AdapterOp> self;
    {
      const std::lock_guard lock(core_->mutex);
      if (phase_ == Phase::Finished) return;
      self = finish_locked();
    }
    post_result(std::move(error), std::move(response));
  }

  // Waiting -> Running; false if the operation is no longer waiting. Any thread.
  [[nodiscard]] bool start() noexcept {
    const std::lock_guard lock(core_->mutex);
    if (phase_ != Phase::Waiting) return false;
    phase_ = Phase::Running;
    return true;
  }

  // A cancellation of the caller, on the caller's executor (inside its emit()). Any type ends a
  // waiting operation; `abort_running_` types end a running one; `untrack_running_` types leave
  // it running but no longer counted as work, so that the caller's io_context can return from
  // run() without it.
  void cancel(net::cancellation_type_t type) noexcept {
    constexpr auto any = net::cancellation_type::terminal | net::cancellation_type::partial |
                         net::cancellation_type::total;
    std::shared_ptr<AdapterOp> self;
    bool left_waiting = false;
    {
      const std::lock_guard lock(core_->mutex);
      if (phase_ == Phase::Finished) return;
      const auto ends = phase_ == Phase::Waiting ? any : abort_running_;
      if ((type & ends) == net::cancellation_type::none) {
        if ((type & untrack_running_) != net::cancellation_type::none) untrack_locked();
        return;
      }
      left_waiting = phase_ == Phase::Waiting;
      self = finish_locked();
    }
    post_result(aborted_error(), ResponseRecord{});
    if (left_waiting) left_queue();
  }

  // Whether the caller still waits for a result.
  [[nodiscard]] bool pending() const noexcept {
    const std::lock_guard lock(core_->mutex);
    return phase_ != Phase::Finished;
  }

 protected:
  AdapterOp(std::shared_ptr<AdapterCore> core, Phase phase, net::cancellation_type_t abort_running,
            net::cancellation_type_t untrack_running) noexcept
      : core_(std::move(core)),
        abort_running_(abort_running),
        untrack_running_(untrack_running),
        phase_(phase) {}

  // Post the caller with this result and stop counting it as work. Once, by whoever finished
  // the operation, without the mutex. May throw (out of memory): the handler is then destroyed.
  virtual void resume(std::exception_ptr error, ResponseRecord&& response) = 0;
  // Stop counting the caller as work on its execution context. Under the mutex.
  virtual void untrack_locked() noexcept = 0;
  // Destroy the caller's handler. At shutdown, without the mutex, once the operation is finished.
  virtual void drop_caller() noexcept = 0;
  // The operation was finished before it started (cancelled or shut down while waiting): leave
  // any queue it waits in. Without the mutex; may be called when it is in no queue.
  virtual void left_queue() noexcept {}

 private:
  friend class AdapterRegistry;

  // Finish the operation and take it from the registry; its result is to be posted.
  std::shared_ptr<AdapterOp> finish_locked() noexcept {
    phase_ = Phase::Finished;
    ++core_->posting;
    if (prev_ != nullptr) {
      prev_->next_ = next_;
    } else if (core_->head == this) {
      core_->head = next_;
    }
    if (next_ != nullptr) next_->prev_ = prev_;
    prev_ = next_ = nullptr;
    return std::move(self_);
  }

  // Post the result of an operation this thread finished, then let a waiting shutdown go on.
  void post_result(std::exception_ptr error, ResponseRecord&& response) noexcept {
    try {
      resume(std::move(error), std::move(response));
    } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory: the caller is destroyed instead
    }
    const std::lock_guard lock(core_->mutex);
    if (--core_->posting == 0 && core_->down) core_->posted.notify_all();
  }

  std::shared_ptr<AdapterCore> core_;
  const net::cancellation_type_t abort_running_;
  const net::cancellation_type_t untrack_running_;
  Phase phase_;                      // guarded
  AdapterOp* prev_ = nullptr;        // guarded
  AdapterOp* next_ = nullptr;        // guarded
  std::shared_ptr<AdapterOp> self_;  // guarded: the registry's hold, while linked
};

inline void AdapterRegistry::shutdown() {
  AdapterOp* doomed = nullptr;
  {
    std::unique_lock lock(core_->mutex);
    core_->down = true;
    doomed = std::exchange(core_->head, nullptr);
    for (AdapterOp* op = doomed; op != nullptr; op = op->next_) {
      op->phase_ = AdapterOp::Phase::Finished;
    }
    core_->posted.wait(lock, [this] { return core_->posting == 0; });
  }
  // Finished, so no one else touches these operations' links or handlers any more. Destroying a
  // handler destroys the caller's frames, which may finish other operations: never under the
  // mutex, and each operation stays owned (`self`) until its handler is gone.
  while (doomed != nullptr) {
    AdapterOp* op = doomed;
    doomed = op->next_;
    op->prev_ = op->next_ = nullptr;
    const std::shared_ptr<AdapterOp> self = std::move(op->self_);
    op->left_queue();
    op->drop_caller();
  }
}

// Lives in the caller's cancellation slot until the caller resumes; holds the operation weakly,
// so a slot that outlives it (its signal is destroyed later) holds nothing.
class AdapterCancel {
 public:
  explicit AdapterCancel(std::weak_ptr<AdapterOp> op) noexcept : op_(std::move(op)) {}
  void operator()(net::cancellation_type_t type) const noexcept {
    if (const auto op = op_.lock()) op->cancel(type);
  }

 private:
  std::weak_ptr<AdapterOp> op_;
};

// Runs on the caller's executor: clears the caller's cancellation slot (on the executor its
// cancellations are emitted from), then resumes it.
template <class Handler>
class AdapterResume {
 public:
  AdapterResume(Handler&& handler, net::associated_cancellation_slot_t<Handler> slot,
                std::exception_ptr error, ResponseRecord&& response)
      : handler_(std::move(handler)),
        slot_(std::move(slot)),
        error_(std::move(error)),
        response_(std::move(response)) {}

  void operator()() {
    if (slot_.is_connected()) slot_.clear();
    std::move(handler_)(std::move(error_), std::move(response_));
  }

 private:
  Handler handler_;
  net::associated_cancellation_slot_t<Handler> slot_;
  std::exception_ptr error_;
  ResponseRecord response_;
};

// The caller's completion handler, kept as outstanding work on its executor until resumed,
// cancelled or destroyed. `listen` runs before the operation is published, `untrack` under the
// mutex while it is pending, the others once it is finished, by the one who finished it.
template <class Handler>
class ParkedCaller {
 public:
  using executor_type = net::associated_executor_t<Handler>;
  using slot_type = net::associated_cancellation_slot_t<Handler>;

  explicit ParkedCaller(Handler&& handler)
      : work_(net::prefer(net::get_associated_executor(handler),
                          net::execution::outstanding_work.tracked)),
        slot_(net::get_associated_cancellation_slot(handler)),
        handler_(std::move(handler)) {}

  // Install the cancellation handler; before the operation is published, as the result may then
  // come at once from another thread.
  void listen(const std::shared_ptr<AdapterOp>& op) {
    if (slot_.is_connected()) slot_.template emplace<AdapterCancel>(std::weak_ptr<AdapterOp>(op));
  }

  // Post the caller with its result; the post counts as work until it runs, then ours ends.
  void resume(std::exception_ptr error, ResponseRecord&& response) {
    const executor_type ex = net::get_associated_executor(*handler_);
    net::post(ex, AdapterResume<Handler>(std::move(*handler_), slot_, std::move(error),
                                         std::move(response)));
    handler_.reset();
    work_.reset();
  }

  void untrack() noexcept { work_.reset(); }

  void drop() noexcept {
    handler_.reset();
    work_.reset();
  }

 private:
  using work_type = std::decay_t<decltype(net::prefer(std::declval<const executor_type&>(),
                                                      net::execution::outstanding_work.tracked))>;

  std::optional<work_type> work_;
  slot_type slot_;
  std::optional<Handler> handler_;
};

// ---- requests --------------------------------------------------------------------------------

// Whether `F`, called through a const reference, takes a text or byte request followed by `Args`:
// as `std::span<const std::byte>`, `std::string_view` or `const std::string&` (tried in that
// order).
template <class F, class... Args>
concept TextInvocable = std::invocable<const F&, std::span<const std::byte>, Args...> ||
    std::invocable<const F&, std::string_view, Args...> ||
    std::invocable<const F&, const std::string&, Args...>;

// A request of another type than text or bytes, which an adapter copies as it is.
template <class Request>
concept OtherRequest = std::copy_constructible<std::decay_t<Request>> &&
                       !std::convertible_to<const Request&, std::string_view> &&
                       !std::convertible_to<const Request&, std::span<const std::byte>>;

// Call `f` with the adapter's own copy of the request (`std::string` for text and bytes), then
// `args`.
template <class F, class Request, class... Args>
decltype(auto) invoke_request(const F& f, const Request& request, Args&&... args) {
  if constexpr (!std::is_same_v<Request, std::string>) {
    return std::invoke(f, request, std::forward<Args>(args)...);
  } else if constexpr (std::invocable<const F&, std::span<const std::byte>, Args...>) {
    return std::invoke(f, std::as_bytes(std::span(request.data(), request.size())),
                       std::forward<Args>(args)...);
  } else if constexpr (std::invocable<const F&, std::string_view, Args...>) {
    return std::invoke(f, std::string_view(request), std::forward<Args>(args)...);
  } else {
    return std::invoke(f, request, std::forward<Args>(args)...);
  }
}

// The adapter's own copy of a text or byte request.
inline std::string own_request(std::span<const std::byte> request) {
  return {reinterpret_cast<const char*>(request.data()), request.size()};
}

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_ADAPTER_OP_HPP
