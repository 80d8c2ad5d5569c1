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
#include <atomic>
#include <cstdint>
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
  // Given a job while parked, on a thread where something below the caller will look again once
  // the caller suspends (a "kicker", see EngineBase::submit): its handler stays in `parked`, and
  // its own caller starts it once the primary has answered, or the kicker does.
  bool deferred = false;
  bool listed = false;  // in its lane's DeferredWorkers (maybe no longer deferred)
  Worker* next_listed = nullptr;
  Slot* handed = nullptr;  // a job whoever started it took for it: it runs it without take_job
  bool leave = false;      // its last wait found it retiring: it exits
  bool stolen = false;     // its current job was started by that job's own caller
  bool sync_hint = true;   // its last stolen job answered before its caller needed the answer
  std::uint8_t probe = 0;  // counts the finishes that did not try the caller-first order
  // A cancel for `cancel_job` (of generation `cancel_gen`) that arrived while the worker was
  // borrowed; whoever borrowed it sends it again once it is back on its strand.
  Slot* cancel_job = nullptr;
  std::uint64_t cancel_gen = 0;
  std::uint64_t borrows = 0;  // how many times it was borrowed (numbers each borrowing)
  // Not guarded. While it runs on the thread of whoever started it from `parked` (a caller or a
  // kicker), outside its strand, until it first suspends or parks: that borrowing's number, else
  // 0. A cancel must wait for it to be back on its strand.
  std::atomic<std::uint64_t> borrowed{0};
  std::atomic<bool> cancel_waiting{false};  // `cancel_job` is set
};

// Give `job` to `w`; the worker takes it when it next looks (take_job).
inline void assign(Slot& job, Worker& w) noexcept {
  job.worker = &w;
  w.job = &job;
}

// A worker's own strand on the caller's execution context, so any idle worker can serve any
// caller of that context and a cancel can be delivered without racing the worker.
[[nodiscard]] inline net::any_io_executor worker_executor(const net::any_io_executor& caller) {
  if (const auto* io = caller.target<net::io_context::executor_type>()) {
    return net::make_strand(*io);
  }
  if (const auto* s = caller.target<net::strand<net::io_context::executor_type>>()) {
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

// A lane's deferred workers, for its kicker to start. A worker started by its caller first only
// stops being `deferred`; it stays listed until popped, so that no worker is ever linked twice.
// Guarded by the lane's mutex.
class DeferredWorkers {
 public:
  void push(Worker& w) noexcept {
    w.deferred = true;
    if (std::exchange(w.listed, true)) return;
    w.next_listed = head_;
    head_ = &w;
  }

  // The next worker still deferred, no longer deferred nor listed; nullptr when there is none.
  Worker* pop() noexcept {
    while (head_ != nullptr) {
      Worker* w = head_;
      head_ = std::exchange(w->next_listed, nullptr);
      w->listed = false;
      if (std::exchange(w->deferred, false)) return w;
    }
    return nullptr;
  }

  // Take `w` out, wherever it is (it is exiting).
  void remove(Worker& w) noexcept {
    w.deferred = false;
    if (!std::exchange(w.listed, false)) return;
    for (Worker** p = &head_; *p != nullptr; p = &(*p)->next_listed) {
      if (*p == &w) {
        *p = std::exchange(w.next_listed, nullptr);
        return;
      }
    }
  }

  [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }

 private:
  Worker* head_ = nullptr;
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
