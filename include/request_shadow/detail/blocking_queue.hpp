// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_BLOCKING_QUEUE_HPP
#define REQUEST_SHADOW_DETAIL_BLOCKING_QUEUE_HPP

// The queue behind BlockingBackend: requests waiting for a thread of the blocking executor, and
// the runners posted to that executor to take them.
//
// Why a queue of our own instead of one post per request: a request abandoned while it waits
// (its deadline passed while every pool thread was stuck) must leave the executor's queue at
// once, or a pool that never frees a thread would pile up one queued handler per call. Requests
// wait here, where an abandoned one is unlinked; the executor holds only runners, and a runner is
// posted only while fewer runners than waiting requests are on their way. So the executor never
// holds more runners than requests ever waited here at once, which `max_in_flight_shadows`
// bounds. Each runner takes the oldest waiting request, runs it and exits.
//
// Locking: fields marked "guarded" are under BlockingQueue::mutex_. The queue's mutex and the
// AdapterCore's mutex are never held together.

#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <request_shadow/asio.hpp>
#include <request_shadow/detail/adapter_op.hpp>
#include <request_shadow/response_record.hpp>
#include <utility>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// A blocking request: an operation that waits in `Queue` until a runner starts it.
template <class Queue>
class BlockingJob : public AdapterOp {
 public:
  // Call the function with the request, on a thread of the blocking executor.
  virtual ResponseRecord run(const Queue& queue) = 0;

 protected:
  explicit BlockingJob(std::shared_ptr<AdapterCore> core, std::shared_ptr<Queue> queue) noexcept
      : AdapterOp(std::move(core), Phase::Waiting, net::cancellation_type::none,
                  net::cancellation_type::terminal | net::cancellation_type::partial |
                      net::cancellation_type::total),
        queue_(std::move(queue)) {}

  void left_queue() noexcept override { queue_->remove(*this); }

 private:
  friend Queue;
  std::shared_ptr<Queue> queue_;
  BlockingJob* qprev_ = nullptr;              // guarded by the queue
  BlockingJob* qnext_ = nullptr;              // guarded by the queue
  std::shared_ptr<BlockingJob> queued_self_;  // guarded by the queue: its hold, while queued
};

// One caller's blocking request, with the caller's handler and the adapter's copy of the request.
template <class Queue, class Handler, class Request>
class BlockingOp final : public BlockingJob<Queue> {
 public:
  BlockingOp(std::shared_ptr<Queue> queue, Handler&& handler, Request&& request)
      : BlockingJob<Queue>(adapter_core(net::get_associated_executor(handler)), std::move(queue)),
        caller_(std::move(handler)),
        request_(std::move(request)) {}

  void listen(const std::shared_ptr<AdapterOp>& self) { caller_.listen(self); }

  ResponseRecord run(const Queue& queue) override {
    return invoke_request(queue.function(), request_);
  }

 private:
  void resume(std::exception_ptr error, ResponseRecord&& response) override {
    caller_.resume(std::move(error), std::move(response));
  }
  void untrack_locked() noexcept override { caller_.untrack(); }
  void drop_caller() noexcept override { caller_.drop(); }

  ParkedCaller<Handler> caller_;
  const Request request_;
};

// The requests of one BlockingBackend (and its copies) waiting for a thread of its executor.
template <class Executor, class F>
class BlockingQueue : public std::enable_shared_from_this<BlockingQueue<Executor, F>> {
 public:
  using Job = BlockingJob<BlockingQueue>;

  BlockingQueue(Executor executor, F f) : executor_(std::move(executor)), f_(std::move(f)) {}

  [[nodiscard]] const Executor& executor() const noexcept { return executor_; }
  [[nodiscard]] const F& function() const noexcept { return f_; }

  // Queue `job` and make sure a runner is on its way for it.
  void push(const std::shared_ptr<Job>& job) {
    bool post = false;
    {
      const std::lock_guard lock(mutex_);
      job->queued_self_ = job;
      job->qprev_ = tail_;
      if (tail_ != nullptr) {
        tail_->qnext_ = job.get();
      } else {
        head_ = job.get();
      }
      tail_ = job.get();
      ++waiting_;
      post = runners_ < waiting_;
      if (post) ++runners_;
    }
    if (!post) return;
    try {
      net::post(executor_, Runner(this->shared_from_this()));
    } catch (...) {  // NOLINT(bugprone-empty-catch): the unposted runner fails a request instead
    }
  }

  // Take `job` out of the queue, if it is still there.
  void remove(Job& job) noexcept {
    std::shared_ptr<Job> hold;  // released after the mutex
    const std::lock_guard lock(mutex_);
    if (!job.queued_self_) return;
    hold = unlink_locked(job);
  }

 private:
  // Posted to the executor: runs the oldest waiting request. Destroyed unrun (the executor shut
  // down first, or the post failed), it fails that request instead, as a broken promise.
  class Runner {
   public:
    explicit Runner(std::shared_ptr<BlockingQueue> queue) noexcept : queue_(std::move(queue)) {}
    Runner(Runner&& other) noexcept = default;
    Runner& operator=(Runner&&) = delete;
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;
    ~Runner() {
      if (queue_) queue_->run_one(false);
    }

    void operator()() { std::exchange(queue_, nullptr)->run_one(true); }

   private:
    std::shared_ptr<BlockingQueue> queue_;
  };

  // One runner's turn: start the oldest waiting request (skipping any finished meanwhile) and run
  // it, or with `run` false fail it.
  void run_one(bool run) noexcept {
    std::shared_ptr<Job> job;
    {
      const std::lock_guard lock(mutex_);
      --runners_;
    }
    for (;;) {
      {
        const std::lock_guard lock(mutex_);
        if (head_ == nullptr) return;
        job = unlink_locked(*head_);
      }
      if (job->start()) break;
    }
    ResponseRecord response;
    std::exception_ptr error;
    if (run) {
      try {
        response = job->run(*this);
      } catch (...) {
        error = std::current_exception();
      }
    } else {
      error = broken_promise_error();
    }
    job->complete(std::move(error), std::move(response));
  }

  std::shared_ptr<Job> unlink_locked(Job& job) noexcept {
    if (job.qprev_ != nullptr) {
      job.qprev_->qnext_ = job.qnext_;
    } else {
      head_ = job.qnext_;
    }
    if (job.qnext_ != nullptr) {
      job.qnext_->qprev_ = job.qprev_;
    } else {
      tail_ = job.qprev_;
    }
    job.qprev_ = job.qnext_ = nullptr;
    --waiting_;
    return std::move(job.queued_self_);
  }

  const Executor executor_;
  const F f_;
  std::mutex mutex_;
  Job* head_ = nullptr;      // guarded: oldest first
  Job* tail_ = nullptr;      // guarded
  std::size_t waiting_ = 0;  // guarded: requests queued
  std::size_t runners_ = 0;  // guarded: runners posted and not yet started, never < waiting_
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_BLOCKING_QUEUE_HPP
