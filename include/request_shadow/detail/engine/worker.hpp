// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_ENGINE_WORKER_HPP
#define REQUEST_SHADOW_DETAIL_ENGINE_WORKER_HPP

// The engine, part 3 of 6: the worker pool and the job queue. Map of the engine: see slot.hpp.
//
// Why: a co_spawn per call costs a frame and a scheduler turn. Shadow legs run instead on
// long-lived worker coroutines, each looping: take a job, call the backend, report, take the next
// queued job or park until one is assigned. A lane keeps its idle workers in a stack (the most
// recently idle, whose frame is warm, is used first) and its waiting jobs in a FIFO.

#include <algorithm>
#include <memory>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/detail/engine/park.hpp>
#include <request_shadow/detail/engine/slot.hpp>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// A long-lived shadow worker coroutine: takes a job, runs the backend, reports, waits for more.
// Shared by its coroutine (which keeps it alive while it runs) and the engine's operations.
struct Worker : std::enable_shared_from_this<Worker> {
  explicit Worker(net::any_io_executor e) : ex(std::move(e)) {}
  net::any_io_executor ex;          // the worker's own strand
  net::cancellation_signal cancel;  // bound to the worker coroutine; emitted on `ex` only
  bool cancel_sent = false;         // a cancel reached the current job (touched on `ex` only)
  // Guarded by its lane's mutex.
  Lane* lane = nullptr;
  Slot* job = nullptr;           // assigned, not yet taken
  Slot* running = nullptr;       // being run
  std::optional<Parked> parked;  // while it waits for a job
  bool idle = false;             // in its lane's idle stack
  bool retire = false;           // exit instead of waiting
  bool unwinding = false;        // between finish() and its next take_job() (Lane::unwinding)
};

// Give `job` to `w`; the worker takes it when it next looks (take_job).
inline void assign(Slot& job, Worker& w) noexcept {
  job.worker = &w;
  w.job = &job;
}

// A worker's own strand on the caller's execution context, so any idle worker can serve any
// caller of that context and a cancel can be delivered without racing the worker.
[[nodiscard]] inline net::any_io_executor worker_executor(const net::any_io_executor& caller) {
  if (const auto* io = target_as<net::io_context::executor_type>(caller)) {
    return net::make_strand(*io);
  }
  if (const auto* s = target_as<net::strand<net::io_context::executor_type>>(caller)) {
    return net::make_strand(s->get_inner_executor());
  }
  return net::make_strand(caller);
}

// Jobs waiting for a worker, oldest first, linked through Slot::next_pending. Guarded by the
// lane's mutex.
class JobQueue {
 public:
  void push(Slot& job) noexcept {
    job.next_pending = nullptr;
    (tail_ != nullptr ? tail_->next_pending : head_) = &job;
    tail_ = &job;
  }

  // The oldest job, taken out; nullptr when there is none.
  Slot* pop() noexcept {
    Slot* job = head_;
    if (job == nullptr) return nullptr;
    head_ = job->next_pending;
    if (head_ == nullptr) tail_ = nullptr;
    job->next_pending = nullptr;
    return job;
  }

  [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }

 private:
  Slot* head_ = nullptr;
  Slot* tail_ = nullptr;
};

// A lane's idle workers, most recently idle on top. Guarded by the lane's mutex.
class IdleWorkers {
 public:
  // May throw (memory) only while the stack grows past its largest size so far.
  void push(Worker& w) {
    stack_.push_back(&w);
    w.idle = true;
  }

  // The most recently idle worker, no longer idle; nullptr when there is none.
  Worker* pop() noexcept {
    if (stack_.empty()) return nullptr;
    Worker* w = stack_.back();
    stack_.pop_back();
    w->idle = false;
    return w;
  }

  // Take `w` out, wherever it is (it is exiting).
  void remove(Worker& w) noexcept {
    if (!w.idle) return;
    std::erase_if(stack_, [&w](const Worker* p) { return p == &w; });
    w.idle = false;
  }

  // Tell every idle worker to exit: each is no longer idle and marked `retire`; the handlers of
  // those parked go to `wake`, to be posted outside the lock.
  void retire_all(std::vector<Parked>& wake) {
    for (Worker* w : stack_) {
      w->idle = false;
      w->retire = true;
      if (auto h = unpark(w->parked)) wake.push_back(std::move(*h));
    }
    stack_.clear();
  }

  [[nodiscard]] bool empty() const noexcept { return stack_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return stack_.size(); }

 private:
  std::vector<Worker*> stack_;
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_ENGINE_WORKER_HPP
