// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_ENGINE_HPP
#define REQUEST_SHADOW_DETAIL_ENGINE_HPP

// The machinery behind Shadower::call: pooled per-call slots, pooled shadow worker coroutines,
// one deadline queue and one steady_timer per execution context, and a "park" operation by which
// a caller waits for its shadow or its deadline.
//
// Why: a per-call steady_timer costs a timerfd syscall and a co_spawn per call costs a frame and
// a scheduler turn; together they made a sampled call cost microseconds. Deadlines all use the
// same timeout (or a few, if it is changed at run time), so they are non-decreasing in start
// order: a FIFO per timeout value and one timer armed for the oldest entry is enough, and the
// timer fires about once per timeout period instead of once per call.
//
// Locking: the engine's state is divided by execution context, one Lane each, so that threads
// running different contexts share nothing on the call path. Every field of a Slot, a Worker and
// a Lane marked "guarded" is read and written under the mutex of the lane it belongs to (a slot
// and a worker belong to one lane for life). The engine itself keeps only the list of lanes
// (found without a lock, added under `lanes_mutex_`) and the budget of `max_in_flight_shadows`
// admissions, which lanes take a chunk at a time. Completion handlers are never invoked with a
// lock held.
//
// Lifetimes: slots live in a deque owned by the engine and are reused; workers are shared by
// their coroutine and the engine's lists; the engine is kept alive by everything that can call
// back into it (callers' frames, worker frames, the timer's and the reaper's handlers). A
// LaneRegistry service in each execution_context tears down that context's lane when the context
// shuts down: parked callers and idle workers are destroyed, the timer is destroyed.

#include <algorithm>
#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <asio/execution_context.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <request_shadow/divergence.hpp>
#include <request_shadow/outcome.hpp>
#include <request_shadow/response_record.hpp>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace request_shadow::detail {

using Clock = std::chrono::steady_clock;

// The completion handler of a coroutine suspended in one of our `void()` operations.
using Parked = asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;

class EngineBase;
struct Lane;
struct Worker;
struct Slot;
struct LegResult;

// Finishes a detached call: compares, counts, logs and notifies, from the shadow's answer or its
// deadline. Implemented by the Shadower's shared state.
class Settler {
 public:
  virtual void settle(Slot& slot, LegResult& result) noexcept = 0;
  // The call cannot be finished (its execution context shut down first): count it as abandoned
  // and release its auto-stop probe (`probe`, 0 if it is none). Called once, without the engine's
  // lock, instead of settle().
  virtual void dropped(std::uint64_t probe) noexcept = 0;

 protected:
  ~Settler() = default;
};

// The state one sampled call shares with the worker that runs its shadow leg.
struct Slot {
  enum class State : std::uint8_t {
    Running,    // the shadow has not reported and the deadline has not passed
    Done,       // the shadow reported: `response`, or `error` when `failed`
    TimedOut,   // the deadline passed first
    Abandoned,  // the caller left first (primary threw, or the caller was cancelled)
    Shed,       // never started: every worker was busy
  };

  // Guarded.
  std::string input;  // the shadow's own copy of the request; capacity is reused
  std::optional<ResponseRecord> response;
  std::optional<ResponseRecord> secondary;  // the second primary answer, for noise cancellation
  // The shadow's outcome is in the slot (`response`, or `error` when `failed`) while its
  // secondary is still out: the deadline settles the call with it (an answer is compared without
  // a secondary) rather than as a timeout.
  bool shadow_reported = false;
  // Timed out before a worker took it: the candidate never saw the request.
  bool expired_in_queue = false;
  std::string error;
  bool failed = false;
  std::atomic<State> state{State::Running};  // written under the mutex, readable without it
  bool detached = false;  // the caller left with its primary; `settler` finishes the call
  bool settling = false;  // `settler` is running: the slot is not given back until it is done
  std::shared_ptr<Settler> settler;
  std::optional<std::string> key;  // the sampling key, when it is not the request
  std::uint64_t probe = 0;         // the Shadower's auto-stop probe ticket, or 0
  Clock::duration elapsed{};       // how long the backend took (when the engine measures)
  // Not guarded: the caller's outcome, touched only by the caller while it holds the slot (it
  // lives here to keep the caller's coroutine frame small enough to be recycled).
  ShadowOutcome outcome;
  bool caller_gone = true;  // the slot is free when both are gone
  bool worker_gone = true;
  std::uint64_t gen = 0;         // bumped on every reuse; stale references compare it
  Lane* lane = nullptr;          // the lane whose pool the slot belongs to, for its whole life
  bool free = true;              // in its lane's free list
  Worker* worker = nullptr;      // assigned to run this job (alive while `worker_gone` is false)
  std::optional<Parked> parked;  // the caller, while it waits
  Clock::time_point deadline{};
  Clock::duration timeout{};
  std::size_t fifo = 0;  // index of the deadline FIFO it is linked in, when `linked`
  bool linked = false;
  Slot* prev = nullptr;
  Slot* next = nullptr;
  Slot* next_free = nullptr;
  Slot* next_pending = nullptr;  // in its lane's queue of jobs waiting for a worker
};

// What a caller (or a Settler) finds in its slot when the shadow leg settles.
struct LegResult {
  Slot::State state = Slot::State::Running;
  ResponseRecord* response = nullptr;   // in the slot; to move from until the slot is given back
  ResponseRecord* secondary = nullptr;  // likewise, when a secondary answered
  std::string error;
  bool failed = false;
  bool expired_in_queue = false;  // TimedOut before a worker took it
  Clock::duration timeout{};      // the slot's own timeout
  Clock::duration elapsed{};      // how long the shadow backend took, if measured
};

// A detached call the engine cannot finish (its context shut down first). Destroying it tells
// the settler, so the call is still counted once; never destroyed under the engine's lock.
class DroppedCall {
 public:
  DroppedCall(std::shared_ptr<Settler> settler, std::uint64_t probe) noexcept
      : settler_(std::move(settler)), probe_(probe) {}
  DroppedCall(DroppedCall&& other) noexcept
      : settler_(std::move(other.settler_)), probe_(other.probe_) {}
  DroppedCall& operator=(DroppedCall&&) = delete;
  DroppedCall(const DroppedCall&) = delete;
  DroppedCall& operator=(const DroppedCall&) = delete;
  ~DroppedCall() {
    if (settler_) settler_->dropped(probe_);
  }

 private:
  std::shared_ptr<Settler> settler_;
  std::uint64_t probe_;
};

// A long-lived shadow worker coroutine: takes a job, runs the backend, reports, waits for more.
struct Worker : std::enable_shared_from_this<Worker> {
  explicit Worker(asio::any_io_executor e) : ex(std::move(e)) {}
  asio::any_io_executor ex;          // the worker's own strand
  asio::cancellation_signal cancel;  // bound to the worker coroutine; emitted on `ex` only
  bool cancel_sent = false;          // a cancel reached the current job (touched on `ex` only)
  // Guarded.
  Lane* lane = nullptr;
  Slot* job = nullptr;           // assigned, not yet taken
  Slot* running = nullptr;       // being run
  std::optional<Parked> parked;  // while it waits for a job
  bool idle = false;             // in its lane's idle list
  bool retire = false;           // exit instead of waiting
};

// Slots waiting for their shadow, in start order, all with the same timeout.
struct Fifo {
  Clock::duration timeout{};
  Slot* head = nullptr;
  Slot* tail = nullptr;
};

// One execution context's share of an engine: its slots, deadline queue, timer and workers,
// under a lock of its own, so that calls on different contexts never meet.
struct alignas(64) Lane {
  // Set before the lane is published; read without a lock by threads looking for their lane.
  asio::execution_context* context = nullptr;
  Lane* next_lane = nullptr;      // the engine's lanes, newest first
  std::atomic<bool> alive{true};  // false once the context has shut down; written under `mutex`

  // On a cache line of its own: the lines above are read by every thread looking for its lane.
  alignas(64) std::mutex mutex;  // guards the rest of the lane, its slots and its workers
  asio::any_io_executor home;    // runs the timer and the reaper
  std::optional<asio::steady_timer> timer;
  bool armed = false;
  Clock::time_point armed_at{};
  std::uint64_t arm_gen = 0;
  std::vector<Fifo> fifos;
  std::vector<Worker*> idle;     // most recently idle last; a worker leaves it before it exits
  Slot* pending_head = nullptr;  // jobs waiting for a worker, oldest first
  Slot* pending_tail = nullptr;
  bool dispatch_posted = false;
  std::size_t workers = 0;    // worker coroutines alive on this lane
  std::size_t in_flight = 0;  // callers holding a slot
  bool reaper_posted = false;
  std::deque<Slot> slots;  // the lane's slot pool; a slot never moves
  Slot* free_slots = nullptr;
  std::size_t credits = 0;  // admissions taken from the engine's budget and not in use
  // Legs in flight on this lane (queued, assigned or running): written under `mutex`, read
  // without it by EngineBase::in_flight().
  std::atomic<std::size_t> busy{0};
};

// One per execution_context: shuts down the lanes of that context when the context does.
class LaneRegistry final : public asio::execution_context::service {
 public:
  using key_type = LaneRegistry;
  inline static asio::execution_context::id id;

  explicit LaneRegistry(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

  void add(std::weak_ptr<EngineBase> engine, Lane* lane) {
    std::lock_guard lock(mutex_);
    entries_.push_back({std::move(engine), lane});
  }

  void remove(Lane* lane) {
    std::lock_guard lock(mutex_);
    std::erase_if(entries_, [lane](const Entry& e) { return e.lane == lane; });
  }

 private:
  struct Entry {
    std::weak_ptr<EngineBase> engine;
    Lane* lane;
  };

  void shutdown() override;

  std::mutex mutex_;
  std::vector<Entry> entries_;
};

// The type-independent part of the engine; Engine<Shadow> adds the backend and the worker body.
class EngineBase : public std::enable_shared_from_this<EngineBase> {
 public:
  using Result = LegResult;

  explicit EngineBase(std::size_t max_workers, bool measure = false)
      : measure_(measure),
        max_workers_(std::max<std::size_t>(max_workers, 1)),
        chunk_(std::clamp<std::size_t>(max_workers_ / 128, 1, 32)),
        budget_(max_workers_) {}

  // Whether workers time their backend calls.
  const bool measure_;
  EngineBase(const EngineBase&) = delete;
  EngineBase& operator=(const EngineBase&) = delete;
  virtual ~EngineBase() {
    for (auto& lane : lanes_) {
      if (lane->alive) asio::use_service<LaneRegistry>(*lane->context).remove(lane.get());
    }
  }

  /// Shadow legs running now (including abandoned ones still inside the backend).
  [[nodiscard]] std::size_t in_flight() const noexcept {
    std::size_t n = 0;
    for (const Lane* l = lane_list_.load(std::memory_order_acquire); l != nullptr; l = l->next_lane)
      n += l->busy.load(std::memory_order_relaxed);
    return n;
  }

  // ---- caller side ------------------------------------------------------------------------

  // Start a shadow leg for `input`. When `max_workers_` legs are already busy the slot comes back
  // in state Shed, with nothing started.
  Slot* submit(const asio::any_io_executor& caller, std::span<const std::byte> input,
               Clock::duration timeout, std::uint64_t& gen) {
    std::shared_ptr<Worker> spawn;
    std::optional<Parked> parked_worker;
    Lane* dispatch = nullptr;
    Slot* slot = nullptr;
    Lane* found = &lane_for(caller);
    std::unique_lock lock(found->mutex);
    while (!found->alive) {  // the context shut down and another took its address since
      lock.unlock();
      found = &lane_for(caller);
      lock = std::unique_lock(found->mutex);
    }
    Lane& lane = *found;
    {
      slot = take_slot(lane);  // may throw (memory): nothing is counted yet
      if (!admit(lane)) {
        // Shed: the caller still gets a slot, to keep its outcome, but no worker and no deadline.
        slot->state = Slot::State::Shed;
        slot->worker_gone = true;
        ++lane.in_flight;
        gen = slot->gen;
        return slot;
      }
      bool linking = false;
      try {
        slot->input.assign(reinterpret_cast<const char*>(input.data()), input.size());
        if (lane.idle.empty() && lane.workers == 0) spawn = new_worker(lane);
        slot->timeout = timeout;
        slot->deadline = deadline_after(timeout);
        linking = true;
        link(lane, *slot, timeout);
      } catch (...) {
        // Out of memory: undo everything, so that the bound and the worker count stay true.
        if (linking) {
          unlink(*slot);
          lane.armed = false;  // the timer may be left without a wait: the next link re-arms it
        }
        if (spawn) --lane.workers;
        slot->caller_gone = slot->worker_gone = true;
        give_back(*slot);
        leg_done(lane);
        throw;
      }
      ++lane.in_flight;
      gen = slot->gen;
      if (spawn) {
        assign(*slot, *spawn);
      } else if (!lane.idle.empty()) {
        Worker* worker = lane.idle.back();
        lane.idle.pop_back();
        worker->idle = false;
        assign(*slot, *worker);
        if (worker->parked) {
          parked_worker.emplace(std::move(*worker->parked));
          worker->parked.reset();
        }
      } else {
        // Every worker is busy: queue the job. A busy worker takes it when it finishes; if the
        // workers are suspended in their backends, the dispatcher adds one (see dispatch_pending).
        push_pending(lane, *slot);
        if (!std::exchange(lane.dispatch_posted, true)) dispatch = &lane;
      }
    }
    lock.unlock();
    // The primary goes first: a parked worker is resumed by post and a new one starts by post, so
    // the shadow's synchronous work runs only once the caller suspends; an idle worker still
    // unwinding below the caller picks the job up when the caller suspends.
    if (parked_worker) asio::post(std::move(*parked_worker));
    if (spawn) start_or_drop(std::move(spawn));
    if (dispatch != nullptr) post_dispatcher(dispatch);
    return slot;
  }

  // Start a new worker; if even that fails (out of memory), its job fails and it is forgotten.
  void start_or_drop(std::shared_ptr<Worker> w) noexcept {
    try {
      start_worker(w);
    } catch (...) {
      worker_exit(*w);
    }
  }

  // now + timeout, saturated rather than overflowing for a huge timeout.
  static Clock::time_point deadline_after(Clock::duration timeout) noexcept {
    const auto now = Clock::now();
    return timeout >= Clock::time_point::max() - now ? Clock::time_point::max() : now + timeout;
  }

  // Whether the shadow reported or the deadline passed.
  [[nodiscard]] static bool settled(const Slot& slot) noexcept {
    return slot.state.load(std::memory_order_acquire) != Slot::State::Running;
  }

  // Wait until the slot settles or the awaiting coroutine is cancelled.
  template <class Token>
  auto async_park(Slot& slot, std::uint64_t gen, Token&& token) {
    return asio::async_initiate<Token, void()>(
        [this, &slot, gen](auto handler) {
          static_assert(std::is_same_v<decltype(handler), Parked>);
          auto cancel_slot = asio::get_associated_cancellation_slot(handler);
          if (cancel_slot.is_connected()) {
            // Installed before the handler is published: it may be resumed on another thread.
            cancel_slot.template emplace<ParkCancel>(this, &slot, gen);
          }
          std::unique_lock lock(slot.lane->mutex);
          if (slot.state != Slot::State::Running) {
            lock.unlock();
            asio::post(std::move(handler));
            return;
          }
          slot.parked.emplace(std::move(handler));
        },
        token);
  }

  // Take what the shadow produced, if it settled. A shadow still running is abandoned and sent a
  // terminal cancellation. The caller keeps the slot until release().
  Result collect(Slot& slot) {
    Result result;
    std::shared_ptr<Worker> cancel_worker;
    std::uint64_t gen = 0;
    {
      std::lock_guard lock(slot.lane->mutex);
      result.state = slot.state;
      result.timeout = slot.timeout;
      result.expired_in_queue = slot.expired_in_queue;
      if (slot.state == Slot::State::Done) {
        if (slot.response) result.response = &*slot.response;
        if (slot.secondary) result.secondary = &*slot.secondary;
        result.error = std::move(slot.error);
        result.failed = slot.failed;
        result.elapsed = slot.elapsed;
      } else if (slot.state == Slot::State::Running) {
        abandon(slot, cancel_worker, gen);
      }
    }
    if (cancel_worker) send_cancel(std::move(cancel_worker), &slot, gen);
    return result;
  }

  // Give the slot back, abandoning and cancelling a shadow still running.
  void release(Slot& slot) {
    std::shared_ptr<Worker> cancel_worker;
    std::uint64_t gen = 0;
    bool reap = false;
    Lane* lane = nullptr;
    {
      std::lock_guard lock(slot.lane->mutex);
      lane = slot.lane;
      if (slot.state == Slot::State::Running) abandon(slot, cancel_worker, gen);
      unlink(slot);
      slot.caller_gone = true;
      if (slot.worker_gone) give_back(slot);
      --lane->in_flight;
      reap = reap_due(*lane);
    }
    if (cancel_worker) send_cancel(std::move(cancel_worker), &slot, gen);
    if (reap) post_reaper(lane);
  }

  // The caller leaves with its primary: the engine finishes the call through `settler` when the
  // shadow answers or its deadline passes (at once, posted, if that already happened).
  void detach(Slot& slot, std::shared_ptr<Settler> settler, std::optional<std::string> key) {
    asio::any_io_executor home;
    {
      std::lock_guard lock(slot.lane->mutex);
      slot.caller_gone = true;
      slot.detached = true;
      slot.key = std::move(key);
      if (slot.state != Slot::State::Running) {
        // Settled already: finish it from a posted handler, which owns the settler, so that a
        // context destroyed before it runs breaks no cycle (settler -> state -> engine -> slot).
        slot.settling = true;
        home = slot.lane->home;
      } else {
        slot.settler = std::move(settler);
      }
    }
    if (home) asio::post(home, SettleLater{shared_from_this(), &slot, std::move(settler)});
  }

  // Settles a detached call whose shadow settled before its caller left. Destroyed unrun (its
  // context shut down first), it tells the settler that the call was dropped.
  struct SettleLater {
    std::shared_ptr<EngineBase> engine;
    Slot* slot;
    std::shared_ptr<Settler> settler;  // declared last: released before the engine

    SettleLater(std::shared_ptr<EngineBase> e, Slot* s, std::shared_ptr<Settler> t) noexcept
        : engine(std::move(e)), slot(s), settler(std::move(t)) {}
    SettleLater(SettleLater&&) noexcept = default;
    SettleLater& operator=(SettleLater&&) = delete;
    SettleLater(const SettleLater&) = delete;
    SettleLater& operator=(const SettleLater&) = delete;
    ~SettleLater() {
      // The slot is not reused while `settling` is set, and the probe was set before it was.
      if (settler) settler->dropped(slot->probe);
    }

    void operator()() { engine->settle_detached(*slot, std::move(settler)); }
  };

  // Run the settler of a detached slot whose `settling` flag this thread set, then give the slot
  // back if its worker is done with it.
  void settle_detached(Slot& slot, std::shared_ptr<Settler> settler = nullptr) noexcept {
    LegResult result;
    {
      std::lock_guard lock(slot.lane->mutex);
      if (!settler) settler = std::move(slot.settler);
      result.state = slot.state;
      result.timeout = slot.timeout;
      result.expired_in_queue = slot.expired_in_queue;
      if (slot.state == Slot::State::Done) {
        if (slot.response) result.response = &*slot.response;
        if (slot.secondary) result.secondary = &*slot.secondary;
        result.failed = slot.failed;
        result.error = slot.error;
        result.elapsed = slot.elapsed;
      }
    }
    if (settler) settler->settle(slot, result);
    settler.reset();
    Lane* lane = nullptr;
    bool reap = false;
    {
      std::lock_guard lock(slot.lane->mutex);
      lane = slot.lane;
      slot.settling = false;
      slot.detached = false;
      --lane->in_flight;
      reap = reap_due(*lane);
      if (slot.worker_gone) give_back(slot);
    }
    if (reap) post_reaper(lane);
  }

  // ---- worker side ------------------------------------------------------------------------

  // The job assigned to `w`, now marked running; nullptr if none. A job abandoned before it
  // started is reported at once without calling the backend.
  Slot* take_job(const std::shared_ptr<Worker>& worker) {
    Worker& w = *worker;
    for (;;) {
      std::unique_lock lock(w.lane->mutex);
      Slot* job = std::exchange(w.job, nullptr);
      if (job == nullptr && !w.retire && w.lane->alive) {
        job = pop_pending(*w.lane);
        if (job != nullptr) job->worker = &w;
      }
      if (job == nullptr) return nullptr;
      if (job->state == Slot::State::Running) {
        w.running = job;
        return job;
      }
      lock.unlock();
      finish(worker, *job, nullptr, nullptr, false);
    }
  }

  // Wait for a job, or for retirement.
  template <class Token>
  auto async_wait_job(Worker& w, Token&& token) {
    return asio::async_initiate<Token, void()>(
        [this, &w](auto handler) {
          std::unique_lock lock(w.lane->mutex);
          if (w.job != nullptr || w.retire) {
            lock.unlock();
            asio::post(std::move(handler));
            return;
          }
          w.parked.emplace(std::move(handler));
        },
        token);
  }

  // Whether the worker should exit rather than wait.
  [[nodiscard]] bool retiring(Worker& w) {
    std::lock_guard lock(w.lane->mutex);
    return w.retire && w.job == nullptr;
  }

  // The shadow answered while its secondary is still out: keep the answer in the slot, so that
  // the deadline settles the call with it instead of as a timeout.
  void shadow_answered(Slot& job, ResponseRecord& response, Clock::duration elapsed) {
    std::lock_guard lock(job.lane->mutex);
    if (job.state != Slot::State::Running) return;
    job.response.emplace(std::move(response));
    job.elapsed = elapsed;
    job.shadow_reported = true;
  }

  // The shadow failed while its secondary is still out: keep the failure in the slot, likewise.
  // The call settles when the group ends (its condition cancels the secondary at once), so the
  // caller is woken with the worker free again, or at the deadline if the secondary ignores the
  // cancellation.
  void shadow_failed(Slot& job, const std::exception_ptr& error, Clock::duration elapsed) {
    std::string text = error_text_of(error);
    std::lock_guard lock(job.lane->mutex);
    if (job.state != Slot::State::Running) return;
    job.response.reset();
    job.failed = true;
    job.error = std::move(text);
    job.elapsed = elapsed;
    job.shadow_reported = true;
  }

  // Report the job's outcome, wake its caller, and make the worker idle. A job whose shadow
  // reported already (`shadow_reported`) passes neither `response` nor `error`.
  void finish(const std::shared_ptr<Worker>& worker, Slot& job, ResponseRecord* response,
              const std::exception_ptr& error, bool ran, Clock::duration elapsed = {},
              ResponseRecord* secondary = nullptr) {
    Worker& w = *worker;
    std::optional<Parked> caller;
    bool reap = false;
    bool settle = false;
    const std::string error_text = error_text_of(error);
    Lane* lane = w.lane;
    {
      std::lock_guard lock(lane->mutex);
      if (ran) {
        w.running = nullptr;
      }
      settle_locked(job, response, error ? &error_text : nullptr, elapsed, secondary, caller,
                    settle);
      job.worker = nullptr;
      job.worker_gone = true;
      if (job.caller_gone && !job.settling) give_back(job);
      leg_done(*lane);
      if (lane->alive && !w.retire) {
        if (Slot* next = pop_pending(*lane)) {
          assign(*next, w);  // stay busy: the queue drains without waking anyone
        } else {
          w.idle = true;
          lane->idle.push_back(&w);
          reap = reap_due(*lane);
        }
      } else {
        w.retire = true;
      }
    }
    if (reap) post_reaper(lane);
    if (settle) settle_detached(job);
    // Inline when the caller's executor allows it: the caller then often starts its next call
    // on this same worker before the worker would have parked.
    if (caller) resume(std::move(*caller));
  }

  static std::string error_text_of(const std::exception_ptr& error) noexcept {
    if (!error) return {};
    try {
      return what_of(error);
    } catch (...) {  // out of memory: report without the text
      return {};
    }
  }

  // Under the lock: settle a running job with the shadow's answer (`response`, or the one kept
  // by `shadow_answered`) or its failure (`error`, or the one kept by `shadow_failed`); take its
  // parked caller, and say whether a detached call is to be settled.
  void settle_locked(Slot& job, ResponseRecord* response, const std::string* error,
                     Clock::duration elapsed, ResponseRecord* secondary,
                     std::optional<Parked>& caller, bool& settle) {
    if (job.state != Slot::State::Running) return;
    job.state = Slot::State::Done;
    if (error != nullptr) {
      job.failed = true;
      job.elapsed = elapsed;
      job.response.reset();
      job.error = *error;
    } else if (response != nullptr || job.shadow_reported) {
      if (response != nullptr) {
        job.response.emplace(std::move(*response));
        job.elapsed = elapsed;
      }
      if (secondary != nullptr && !job.failed) job.secondary.emplace(std::move(*secondary));
    } else {
      job.failed = true;
      job.error = "the shadow leg ended without an answer";
    }
    unlink(job);
    if (job.parked) {
      caller.emplace(std::move(*job.parked));
      job.parked.reset();
    }
    settle = job.detached && !job.settling;
    if (settle) job.settling = true;
  }

  // The worker coroutine is gone (it exited, or its frame was destroyed at shutdown).
  void worker_exit(Worker& w) {
    Lane* redispatch = nullptr;
    {
      std::vector<DroppedCall> doomed;
      worker_exit_locked(w, doomed, redispatch);
      // `doomed` is destroyed here, after the lock was released.
    }
    // A job queued while this worker was retiring found it still counted; start another.
    if (redispatch != nullptr) post_dispatcher(redispatch);
  }

  void worker_exit_locked(Worker& w, std::vector<DroppedCall>& doomed, Lane*& redispatch) {
    std::lock_guard lock(w.lane->mutex);
    --w.lane->workers;
    if (w.lane->alive && w.lane->pending_head != nullptr &&
        !std::exchange(w.lane->dispatch_posted, true)) {
      redispatch = w.lane;
    }
    if (w.idle) {
      std::erase_if(w.lane->idle, [&w](const Worker* p) { return p == &w; });
      w.idle = false;
    }
    if (Slot* job = std::exchange(w.job, nullptr)) drop_job(*job, doomed);
    if (Slot* job = std::exchange(w.running, nullptr)) drop_job(*job, doomed);
  }

  // The lane's context is shutting down: destroy what waits on it, outside the lock.
  void shutdown_lane(Lane& lane) {
    std::vector<Parked> doomed;
    std::vector<DroppedCall> settlers;
    std::optional<asio::steady_timer> timer;
    {
      std::lock_guard lock(lane.mutex);
      if (!lane.alive) return;
      lane.alive = false;
      for (Slot& s : lane.slots) {
        if (s.free) drop_buffers(s);  // never reused
        if (s.parked) {
          doomed.push_back(std::move(*s.parked));
          s.parked.reset();
        }
        drop_detached(s, settlers);
        if (s.caller_gone && s.worker_gone && !s.settling && !s.free) give_back(s);
      }
      retire_idle(lane, doomed);
      while (Slot* job = pop_pending(lane))
        drop_job(*job, settlers, "shadow leg dropped at shutdown");
      return_credits(lane);
      lane.armed = false;
      ++lane.arm_gen;
      timer = std::move(lane.timer);
      lane.timer.reset();
      lane.home = asio::any_io_executor();
    }
    auto keep_alive = shared_from_this();
    settlers.clear();
    doomed.clear();  // destroys the parked coroutines, which release their slots
    timer.reset();
  }

 protected:
  virtual void start_worker(std::shared_ptr<Worker> w) = 0;

 private:
  // Cancels a parked caller.
  // Lives in the caller's cancellation slot, which is cleared when the caller resumes; the
  // caller's frame keeps the engine alive until then.
  struct ParkCancel {
    EngineBase* engine;
    Slot* slot;
    std::uint64_t gen;
    ParkCancel(EngineBase* e, Slot* s, std::uint64_t g) : engine(e), slot(s), gen(g) {}
    void operator()(asio::cancellation_type type) const {
      if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                   asio::cancellation_type::total)) == asio::cancellation_type::none) {
        return;
      }
      std::optional<Parked> caller;
      {
        std::lock_guard lock(slot->lane->mutex);
        if (slot->gen == gen && slot->parked) {
          caller.emplace(std::move(*slot->parked));
          slot->parked.reset();
        }
      }
      // Posted, not invoked: we are inside the canceller's emit().
      if (caller) asio::post(std::move(*caller));
    }
  };

  // asio::dispatch, without boxing the handler when its executor is an io_context's (or a strand
  // of one) that this thread is already running.
  static void resume(Parked h) {
    const auto& ex = h.get_executor();
    if (const auto* io = ex.target<asio::io_context::executor_type>()) {
      if (io->running_in_this_thread()) return std::move(h)();
    } else if (const auto* s = ex.target<asio::strand<asio::io_context::executor_type>>()) {
      if (s->running_in_this_thread()) return std::move(h)();
    }
    asio::dispatch(std::move(h));
  }

  // The worker's own strand on the caller's execution context, so any idle worker can serve any
  // caller of that context and a cancel can be delivered without racing the worker.
  static asio::any_io_executor worker_executor(const asio::any_io_executor& caller) {
    if (const auto* io = caller.target<asio::io_context::executor_type>()) {
      return asio::make_strand(*io);
    }
    if (const auto* s = caller.target<asio::strand<asio::io_context::executor_type>>()) {
      return asio::make_strand(s->get_inner_executor());
    }
    return asio::make_strand(caller);
  }

  static asio::any_io_executor home_executor(const asio::any_io_executor& caller) {
    if (const auto* s = caller.target<asio::strand<asio::io_context::executor_type>>()) {
      return s->get_inner_executor();
    }
    return caller;
  }

  // The live lane of the caller's execution context, made on first use. Found without a lock:
  // lanes are only ever added, at the head of a list whose links never change.
  Lane& lane_for(const asio::any_io_executor& caller) {
    asio::execution_context* ctx = &asio::query(caller, asio::execution::context);
    if (Lane* lane = find_lane(ctx)) return *lane;
    std::lock_guard lock(lanes_mutex_);
    if (Lane* lane = find_lane(ctx)) return *lane;  // another thread made it meanwhile
    lanes_.reserve(lanes_.size() + 1);
    auto lane = std::make_unique<Lane>();
    lane->context = ctx;
    lane->home = home_executor(caller);
    lane->next_lane = lane_list_.load(std::memory_order_relaxed);
    asio::use_service<LaneRegistry>(*ctx).add(weak_from_this(), lane.get());
    Lane& made = *lanes_.emplace_back(std::move(lane));
    lane_list_.store(&made, std::memory_order_release);
    return made;
  }

  Lane* find_lane(asio::execution_context* ctx) const noexcept {
    for (Lane* l = lane_list_.load(std::memory_order_acquire); l != nullptr; l = l->next_lane) {
      if (l->context == ctx && l->alive.load(std::memory_order_relaxed)) return l;
    }
    return nullptr;
  }

  // Under the lane's lock: take one admission for a new leg, from the lane's spare ones or from
  // the engine's budget, a few at a time; false when `max_workers_` legs are in flight already.
  bool admit(Lane& lane) noexcept {
    if (lane.credits == 0) {
      std::size_t left = budget_.load(std::memory_order_relaxed);
      bool reclaimed = false;
      for (;;) {
        if (left == 0) {
          // Take back the spares of the lanes that are free to give them now (once); the others
          // give theirs back as their legs end (see leg_done).
          if (!reclaim_.load(std::memory_order_relaxed))
            reclaim_.store(true, std::memory_order_relaxed);
          if (reclaimed || !reclaim_spares(lane)) return false;
          reclaimed = true;
          left = budget_.load(std::memory_order_relaxed);
          continue;
        }
        const std::size_t take = std::min(left, chunk_);
        if (budget_.compare_exchange_weak(left, left - take, std::memory_order_relaxed)) {
          // Plenty left again: lanes may keep spares once more.
          if (left >= max_workers_ / 2 && reclaim_.load(std::memory_order_relaxed))
            reclaim_.store(false, std::memory_order_relaxed);
          lane.credits = take;
          break;
        }
      }
    }
    --lane.credits;
    lane.busy.store(lane.busy.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return true;
  }

  // Under the lane's lock: a leg ended. Its admission stays with the lane while the lane keeps
  // no more than two chunks spare; the rest goes back to the budget. Everything goes back when
  // the lane's context is gone, when some lane found the budget empty (`reclaim_`), and always
  // with a chunk of one (a bound below 256).
  void leg_done(Lane& lane) noexcept {
    lane.busy.store(lane.busy.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    ++lane.credits;
    const std::size_t keep =
        chunk_ > 1 && lane.alive && !reclaim_.load(std::memory_order_relaxed) ? chunk_ : 0;
    if (lane.credits > 2 * keep) {
      budget_.fetch_add(lane.credits - keep, std::memory_order_relaxed);
      lane.credits = keep;
    }
  }

  // Under `own`'s lock: move the spare admissions of the other lanes whose locks are free back to
  // the budget (try_lock: never waits while holding a lock). Whether the budget is not empty.
  bool reclaim_spares(Lane& own) noexcept {
    for (Lane* l = lane_list_.load(std::memory_order_acquire); l != nullptr; l = l->next_lane) {
      if (l == &own) continue;
      const std::unique_lock other(l->mutex, std::try_to_lock);
      if (other.owns_lock()) return_credits(*l);
    }
    return budget_.load(std::memory_order_relaxed) != 0;
  }

  // Under the lane's lock: the lane has nothing in flight; its spare admissions go back.
  void return_credits(Lane& lane) noexcept {
    if (lane.credits == 0) return;
    budget_.fetch_add(lane.credits, std::memory_order_relaxed);
    lane.credits = 0;
  }

  void assign(Slot& job, Worker& w) {
    job.worker = &w;
    w.job = &job;
  }

  std::shared_ptr<Worker> new_worker(Lane& lane) {
    auto w = std::make_shared<Worker>(worker_executor(lane.home));
    w->lane = &lane;
    ++lane.workers;
    return w;
  }

  static void push_pending(Lane& lane, Slot& job) {
    job.next_pending = nullptr;
    (lane.pending_tail != nullptr ? lane.pending_tail->next_pending : lane.pending_head) = &job;
    lane.pending_tail = &job;
  }

  static Slot* pop_pending(Lane& lane) {
    Slot* job = lane.pending_head;
    if (job == nullptr) return nullptr;
    lane.pending_head = job->next_pending;
    if (lane.pending_head == nullptr) lane.pending_tail = nullptr;
    job->next_pending = nullptr;
    return job;
  }

  void post_dispatcher(Lane* lane) {
    post_home(lane, [engine = shared_from_this(), lane] { engine->dispatch_pending(*lane); });
  }

  // Post `f` to the lane's home executor; nothing once the lane's context has shut down.
  template <class F>
  void post_home(Lane* lane, F f) {
    asio::any_io_executor home;
    {
      std::lock_guard lock(lane->mutex);
      home = lane->home;
    }
    if (home) asio::post(home, std::move(f));
  }

  // Runs once the thread that queued jobs has moved on. Queued jobs go to idle workers; if some
  // are still waiting (every worker is suspended in its backend), one more worker is started, and
  // the dispatcher looks again after it has run. A worker that never suspends drains the queue by
  // itself, so a burst of calls does not start a worker per call.
  void dispatch_pending(Lane& lane) {
    std::vector<Parked> wake;
    std::shared_ptr<Worker> spawn;
    bool again = false;
    {
      std::lock_guard lock(lane.mutex);
      lane.dispatch_posted = false;
      if (!lane.alive) return;
      while (lane.pending_head != nullptr && !lane.idle.empty()) {
        Worker* w = lane.idle.back();
        lane.idle.pop_back();
        w->idle = false;
        assign(*pop_pending(lane), *w);
        if (w->parked) {
          wake.push_back(std::move(*w->parked));
          w->parked.reset();
        }
      }
      if (lane.pending_head != nullptr && lane.workers < max_workers_) {
        spawn = new_worker(lane);
        assign(*pop_pending(lane), *spawn);
        again = lane.pending_head != nullptr && !std::exchange(lane.dispatch_posted, true);
      }
    }
    for (auto& h : wake) asio::post(std::move(h));
    if (spawn) start_or_drop(std::move(spawn));
    if (again) post_dispatcher(&lane);
  }

  static Slot* take_slot(Lane& lane) {
    Slot* s = lane.free_slots;
    if (s != nullptr) {
      lane.free_slots = s->next_free;
    } else {
      s = &lane.slots.emplace_back();
      s->lane = &lane;
    }
    s->free = false;
    s->next_free = nullptr;
    s->state = Slot::State::Running;
    s->detached = false;
    s->settling = false;
    s->probe = 0;
    s->worker = nullptr;
    s->caller_gone = false;
    s->worker_gone = false;
    s->failed = false;
    s->shadow_reported = false;
    s->expired_in_queue = false;
    s->response.reset();
    s->secondary.reset();
    s->error.clear();
    // Only what a finished call may have left; `primary` is always assigned.
    s->outcome.shadow.reset();
    s->outcome.divergence.reset();
    s->outcome.noise.reset();
    s->outcome.shadow_failed.reset();
    s->outcome.skipped_by_sampler = false;
    ++s->gen;
    return s;
  }

  // A slot of a dead lane is never reused: it keeps no buffers.
  static void drop_buffers(Slot& s) {
    std::string().swap(s.input);
    s.outcome = ShadowOutcome{};
  }

  static void give_back(Slot& s) {
    constexpr std::size_t keep_bytes = 64 * 1024;
    if (!s.lane->alive) {
      drop_buffers(s);
    } else if (s.input.capacity() > keep_bytes) {
      std::string().swap(s.input);
    }
    s.response.reset();
    s.secondary.reset();
    s.key.reset();
    ++s.gen;
    s.free = true;
    s.next_free = s.lane->free_slots;
    s.lane->free_slots = &s;
  }

  void abandon(Slot& slot, std::shared_ptr<Worker>& cancel_worker, std::uint64_t& gen) {
    slot.state = Slot::State::Abandoned;
    unlink(slot);
    if (slot.worker != nullptr && slot.worker->running == &slot) {
      cancel_worker = slot.worker->shared_from_this();
      gen = slot.gen;
    }
  }

  // The worker of `job` is gone without reporting (its frame was destroyed with its context). A
  // detached call is dropped: its settler goes to `doomed`, told (and released) unlocked.
  void drop_job(Slot& job, std::vector<DroppedCall>& doomed,
                const char* why = "shadow worker destroyed") {
    if (job.state == Slot::State::Running) {
      job.state = Slot::State::Done;
      job.failed = true;
      job.error = why;
      unlink(job);
    }
    drop_detached(job, doomed);
    job.worker = nullptr;
    job.worker_gone = true;
    leg_done(*job.lane);
    if (job.caller_gone && !job.settling) give_back(job);
  }

  void drop_detached(Slot& slot, std::vector<DroppedCall>& doomed) {
    if (!slot.detached || slot.settling) return;
    doomed.emplace_back(std::move(slot.settler), slot.probe);
    slot.detached = false;
    --slot.lane->in_flight;
  }

  void link(Lane& lane, Slot& s, Clock::duration timeout) {
    std::size_t i = 0;
    while (i < lane.fifos.size() && lane.fifos[i].timeout != timeout) ++i;
    if (i == lane.fifos.size()) {
      // Reuse an empty FIFO left by an old timeout before growing.
      i = 0;
      while (i < lane.fifos.size() && lane.fifos[i].head != nullptr) ++i;
      if (i == lane.fifos.size()) lane.fifos.emplace_back();
      lane.fifos[i].timeout = timeout;
    }
    Fifo& f = lane.fifos[i];
    s.fifo = i;
    s.linked = true;
    s.next = nullptr;
    s.prev = f.tail;
    if (f.tail != nullptr) {
      f.tail->next = &s;
    } else {
      f.head = &s;
    }
    f.tail = &s;
    arm(lane, s.deadline);
  }

  void unlink(Slot& s) {
    if (!s.linked) return;
    Fifo& f = s.lane->fifos[s.fifo];
    (s.prev != nullptr ? s.prev->next : f.head) = s.next;
    (s.next != nullptr ? s.next->prev : f.tail) = s.prev;
    s.prev = s.next = nullptr;
    s.linked = false;
  }

  // Make sure the lane's timer fires no later than `at`. Re-arming is rare: deadlines arrive in
  // order, so only a timeout lowered at run time moves the timer earlier.
  void arm(Lane& lane, Clock::time_point at) {
    if (lane.armed && lane.armed_at <= at) return;
    if (!lane.timer) lane.timer.emplace(lane.home);
    lane.armed = true;
    lane.armed_at = at;
    const std::uint64_t gen = ++lane.arm_gen;
    lane.timer->expires_at(at);
    lane.timer->async_wait(Sweep{shared_from_this(), &lane, gen});
  }

  struct Sweep {
    std::shared_ptr<EngineBase> engine;
    Lane* lane;
    std::uint64_t gen;
    void operator()(const std::error_code& /*ec*/) const { engine->sweep(*lane, gen); }
  };

  // The deadline passed for the oldest slots: release their callers and cancel their shadows.
  void sweep(Lane& lane, std::uint64_t gen) {
    std::vector<Parked> wake;
    std::vector<std::pair<std::shared_ptr<Worker>, std::pair<Slot*, std::uint64_t>>> cancels;
    std::vector<Slot*> settle;
    {
      std::lock_guard lock(lane.mutex);
      if (!lane.alive || gen != lane.arm_gen) return;  // re-armed or cancelled since
      lane.armed = false;
      const auto now = Clock::now();
      std::optional<Clock::time_point> next;
      for (Fifo& f : lane.fifos) {
        while (f.head != nullptr && f.head->deadline <= now) {
          Slot& s = *f.head;
          unlink(s);
          // A shadow that answered in time is not late because its secondary is.
          s.state = s.shadow_reported ? Slot::State::Done : Slot::State::TimedOut;
          // Still queued, or assigned to a worker that has not taken it yet.
          s.expired_in_queue =
              !s.shadow_reported && (s.worker == nullptr || s.worker->running != &s);
          if (s.parked) {
            wake.push_back(std::move(*s.parked));
            s.parked.reset();
          }
          if (s.worker != nullptr && s.worker->running == &s) {
            cancels.push_back({s.worker->shared_from_this(), {&s, s.gen}});
          }
          if (s.detached && !s.settling) {
            s.settling = true;
            settle.push_back(&s);
          }
        }
        if (f.head != nullptr && (!next || f.head->deadline < *next)) next = f.head->deadline;
      }
      if (next) arm(lane, *next);
    }
    for (auto& [w, job] : cancels) send_cancel(std::move(w), job.first, job.second);
    for (auto& h : wake) asio::post(std::move(h));
    for (Slot* slot : settle) settle_detached(*slot);
  }

  // Ask the worker to stop its job, on the worker's strand, only if it is still on that job.
  void send_cancel(std::shared_ptr<Worker> w, Slot* job, std::uint64_t gen) {
    auto ex = w->ex;
    asio::dispatch(ex, [engine = shared_from_this(), w = std::move(w), job, gen] {
      {
        std::lock_guard lock(w->lane->mutex);
        if (w->running != job || job->gen != gen) return;
      }
      w->cancel_sent = true;
      w->cancel.emit(asio::cancellation_type::terminal);
    });
  }

  // Once no call is in flight on a lane, retire its idle workers and disarm its timer, so that
  // io_context::run() can return. Posted, so that a caller that starts its next call in the same
  // turn keeps its worker.
  void post_reaper(Lane* lane) {
    post_home(lane, [engine = shared_from_this(), lane] { engine->reap(*lane); });
  }

  // Whether the lane has no call in flight and no reaper on its way; marks one as posted.
  static bool reap_due(Lane& lane) noexcept {
    return lane.in_flight == 0 && lane.alive && !std::exchange(lane.reaper_posted, true);
  }

  // Tell every idle worker of the lane to exit; the parked ones' handlers go to `wake`.
  static void retire_idle(Lane& lane, std::vector<Parked>& wake) {
    for (Worker* w : lane.idle) {
      w->idle = false;
      w->retire = true;
      if (w->parked) wake.push_back(*std::exchange(w->parked, std::nullopt));
    }
    lane.idle.clear();
  }

  void reap(Lane& lane) {
    std::vector<Parked> wake;
    {
      std::lock_guard lock(lane.mutex);
      lane.reaper_posted = false;
      if (!lane.alive || lane.in_flight != 0) return;
      retire_idle(lane, wake);
      return_credits(lane);
      if (lane.armed) {
        lane.armed = false;
        ++lane.arm_gen;
        lane.timer->cancel();
      }
    }
    for (auto& h : wake) asio::post(std::move(h));
  }

 private:
  friend class LaneRegistry;

  const std::size_t max_workers_;
  // Admissions a lane takes from the budget at a time: one below a bound of 256, so the bound is
  // shared exactly; up to 32 above it, so that lanes seldom touch the shared counter.
  const std::size_t chunk_;
  // Admissions held by no lane: `max_workers_` less the legs in flight and the lanes' spares.
  std::atomic<std::size_t> budget_;
  // Set when a lane found the budget empty: lanes then keep no spare admissions until it refills.
  std::atomic<bool> reclaim_{false};
  std::mutex lanes_mutex_;                    // taken only to add a lane
  std::vector<std::unique_ptr<Lane>> lanes_;  // owns every lane; guarded by lanes_mutex_
  std::atomic<Lane*> lane_list_{nullptr};     // the same lanes, newest first, for lookups
};

inline void LaneRegistry::shutdown() {
  std::vector<Entry> entries;
  {
    std::lock_guard lock(mutex_);
    entries.swap(entries_);
  }
  for (auto& e : entries) {
    if (auto engine = e.engine.lock()) engine->shutdown_lane(*e.lane);
  }
}

// A second call of the primary side, for noise cancellation.
using SecondaryCall = std::function<asio::awaitable<ResponseRecord>(std::span<const std::byte>)>;

// The engine of one Shadower: the backend and the worker coroutine body.
template <class Shadow>
class Engine final : public EngineBase {
 public:
  Engine(std::shared_ptr<Shadow> backend, std::size_t max_workers, bool measure,
         SecondaryCall secondary = {})
      : EngineBase(max_workers, measure),
        backend_(std::move(backend)),
        secondary_(std::move(secondary)) {}

 private:
  // Keeps the worker known to the engine for exactly as long as its frame exists.
  struct ExitGuard {
    std::shared_ptr<Engine> engine;
    std::shared_ptr<Worker> worker;
    ExitGuard(std::shared_ptr<Engine> e, std::shared_ptr<Worker> w)
        : engine(std::move(e)), worker(std::move(w)) {}
    ExitGuard(const ExitGuard&) = delete;
    ExitGuard& operator=(const ExitGuard&) = delete;
    ~ExitGuard() { engine->worker_exit(*worker); }
  };

  // The worker's completion handler; owns the worker so its cancellation signal outlives the
  // coroutine that is bound to it.
  struct Exited {
    std::shared_ptr<Worker> worker;
    void operator()(const std::exception_ptr& /*e*/) const {}
  };

  static asio::awaitable<void> work(std::shared_ptr<Engine> engine, std::shared_ptr<Worker> self) {
    const ExitGuard guard(engine, self);
    Worker& w = *self;
    for (;;) {
      Slot* job = engine->take_job(self);
      if (job == nullptr) {
        if (engine->retiring(w)) co_return;
        co_await engine->async_wait_job(w, asio::use_awaitable);
        continue;
      }
      ResponseRecord answer;
      std::optional<ResponseRecord> second;
      std::exception_ptr error;
      // Each job starts with a clean coroutine: a previous job may have turned throw-on-cancel
      // off, or been cancelled.
      if (w.cancel_sent) {
        w.cancel_sent = false;
        co_await asio::this_coro::reset_cancellation_state();
      }
      co_await asio::this_coro::throw_if_cancelled(true);
      const auto input = std::as_bytes(std::span(job->input.data(), job->input.size()));
      const auto started = engine->measure_ ? Clock::now() : Clock::time_point{};
      bool reported = false;  // the shadow's answer or failure is in the slot already
      try {
        if (engine->secondary_) {
          co_await call_both(*engine, *job, input, started, second);
          reported = true;
        } else {
          answer = co_await engine->backend_->call(input);
        }
      } catch (...) {
        error = std::current_exception();
      }
      const auto elapsed = engine->measure_ ? Clock::now() - started : Clock::duration{};
      if (w.cancel_sent) {
        // A cancelled coroutine throws at every later co_await until its state is reset.
        w.cancel_sent = false;
        co_await asio::this_coro::reset_cancellation_state();
      }
      co_await asio::this_coro::throw_if_cancelled(true);
      engine->finish(self, *job, error || reported ? nullptr : &answer, error, true, elapsed,
                     second ? &*second : nullptr);
    }
  }

  // The shadow and the secondary side by side, in a parallel group. The shadow's part reports
  // to the slot as soon as it has an answer or a failure (kept for the deadline, see
  // `shadow_answered` and `shadow_failed`; a failure also makes the group cancel the
  // secondary); the group then waits for the secondary, which the engine's deadline bounds by
  // abandoning the whole job, so the secondary's lateness is never the shadow's. A secondary
  // that fails leaves `second` empty.
  static asio::awaitable<void> call_both(Engine& engine, Slot& job,
                                         std::span<const std::byte> input,
                                         Clock::time_point started,
                                         std::optional<ResponseRecord>& second) {
    const auto ex = co_await asio::this_coro::executor;
    auto shadow_part = shadow_then_report(&engine, &job, input, started);
    auto secondary_part = call_secondary(&engine, input);
    auto group = asio::experimental::make_parallel_group(
        asio::co_spawn(ex, std::move(shadow_part), asio::experimental::deferred),
        asio::co_spawn(ex, std::move(secondary_part), asio::experimental::deferred));
    auto results = co_await group.async_wait(CancelOnShadowFailure{}, asio::use_awaitable);
    if (!std::get<2>(results)) second.emplace(std::move(std::get<3>(results)));
  }

  // The group's cancellation condition: a failed shadow cancels the secondary; nothing else
  // cancels anything.
  struct CancelOnShadowFailure {
    asio::cancellation_type_t operator()(const std::exception_ptr& shadow_error) const noexcept {
      return shadow_error ? asio::cancellation_type::terminal : asio::cancellation_type::none;
    }
    asio::cancellation_type_t operator()(const std::exception_ptr& /*secondary_error*/,
                                         const ResponseRecord& /*secondary*/) const noexcept {
      return asio::cancellation_type::none;
    }
  };

  // The shadow's part of `call_both`: call it and report its answer or failure to the slot at
  // once. Rethrows the failure, so that the group cancels the secondary.
  static asio::awaitable<void> shadow_then_report(Engine* engine, Slot* job,
                                                  std::span<const std::byte> input,
                                                  Clock::time_point started) {
    ResponseRecord answer;
    std::exception_ptr error;
    try {
      answer = co_await engine->backend_->call(input);
    } catch (...) {
      error = std::current_exception();
    }
    const auto elapsed = engine->measure_ ? Clock::now() - started : Clock::duration{};
    if (error) {
      engine->shadow_failed(*job, error, elapsed);
      std::rethrow_exception(error);
    }
    engine->shadow_answered(*job, answer, elapsed);
  }

  // The secondary's part of `call_both`, in a coroutine of its own: a `call` that throws before
  // it returns an awaitable fails this part only, never the shadow's.
  static asio::awaitable<ResponseRecord> call_secondary(Engine* engine,
                                                        std::span<const std::byte> input) {
    co_return co_await engine->secondary_(input);
  }

  // Starts a worker from a posted handler: co_spawn on the worker's new strand would otherwise
  // run the worker, and so the shadow's synchronous part, inline before the caller's primary. A
  // handler destroyed unrun (its context shut down first) or a co_spawn that fails forgets the
  // worker, so its job and the counts are released.
  struct StartWorker {
    std::shared_ptr<Engine> engine;
    std::shared_ptr<Worker> worker;
    bool started = false;

    StartWorker(std::shared_ptr<Engine> e, std::shared_ptr<Worker> w)
        : engine(std::move(e)), worker(std::move(w)) {}
    StartWorker(StartWorker&&) noexcept = default;
    StartWorker& operator=(StartWorker&&) = delete;
    StartWorker(const StartWorker&) = delete;
    StartWorker& operator=(const StartWorker&) = delete;
    ~StartWorker() {
      if (engine && !started) engine->worker_exit(*worker);
    }

    void operator()() {
      try {
        auto strand = worker->ex;
        auto body = work(engine, worker);
        auto done = asio::bind_cancellation_slot(worker->cancel.slot(), Exited{worker});
        asio::co_spawn(strand, std::move(body), std::move(done));
        started = true;
      } catch (...) {  // NOLINT(bugprone-empty-catch): the destructor forgets the worker
      }
    }
  };

  void start_worker(std::shared_ptr<Worker> w) override {
    auto ex = w->ex;
    asio::post(ex, StartWorker(std::static_pointer_cast<Engine>(shared_from_this()), std::move(w)));
  }

  std::shared_ptr<Shadow> backend_;
  SecondaryCall secondary_;
};

// A caller's hold on its slot; gives the slot back (abandoning a running shadow) when dropped.
class Lease {
 public:
  Lease() = default;
  // A lease with no slot: the shadow could not even be submitted; the outcome lives on the heap.
  explicit Lease(std::unique_ptr<ShadowOutcome> spare) noexcept : spare_(std::move(spare)) {}
  // The engine must outlive the lease (the caller's frame holds the Shadower's state).
  Lease(EngineBase* engine, Slot* slot, std::uint64_t gen) noexcept
      : engine_(engine), slot_(slot), gen_(gen) {}
  Lease(Lease&& other) noexcept
      : engine_(other.engine_),
        slot_(std::exchange(other.slot_, nullptr)),
        gen_(other.gen_),
        spare_(std::move(other.spare_)) {}
  Lease& operator=(Lease&& other) noexcept {
    if (this != &other) {
      reset();
      engine_ = other.engine_;
      slot_ = std::exchange(other.slot_, nullptr);
      gen_ = other.gen_;
      spare_ = std::move(other.spare_);
    }
    return *this;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { reset(); }

  // Whether a slot (and so possibly a shadow leg) is held.
  explicit operator bool() const noexcept { return slot_ != nullptr; }

  [[nodiscard]] bool settled() const noexcept {
    return slot_ == nullptr || EngineBase::settled(*slot_);
  }

  // Wait until the shadow reports, the deadline passes, or the awaiting coroutine is cancelled.
  template <class Token>
  auto async_wait(Token&& token) {
    return engine_->async_park(*slot_, gen_, std::forward<Token>(token));
  }

  // What the shadow produced, if it settled; a running shadow is abandoned.
  EngineBase::Result collect() { return engine_->collect(*slot_); }

  // Mark this call as the auto-stop probe with this ticket.
  void mark_probe(std::uint64_t ticket) noexcept {
    if (slot_ != nullptr) slot_->probe = ticket;
  }

  // The auto-stop probe ticket of this call, or 0 if it is no probe.
  [[nodiscard]] std::uint64_t probe() const noexcept { return slot_ != nullptr ? slot_->probe : 0; }

  // The caller's outcome, kept in the slot until the lease ends.
  [[nodiscard]] ShadowOutcome& outcome() const noexcept {
    return slot_ != nullptr ? slot_->outcome : *spare_;
  }

  // Leave the call to the engine: `settler` finishes it when the shadow settles.
  void detach(std::shared_ptr<Settler> settler, std::optional<std::string> key) {
    engine_->detach(*std::exchange(slot_, nullptr), std::move(settler), std::move(key));
  }

  // Give the slot back, abandoning and cancelling a shadow still running.
  void reset() noexcept {
    if (slot_ != nullptr) {
      try {
        engine_->release(*std::exchange(slot_, nullptr));
      } catch (...) {  // NOLINT(bugprone-empty-catch): only a failed cancel post can throw
      }
    }
  }

 private:
  EngineBase* engine_ = nullptr;
  Slot* slot_ = nullptr;
  std::uint64_t gen_ = 0;
  std::unique_ptr<ShadowOutcome> spare_;
};

// Start a shadow leg (or record that it was shed).
inline Lease start_shadow(const std::shared_ptr<EngineBase>& engine,
                          const asio::any_io_executor& ex, std::span<const std::byte> input,
                          Clock::duration timeout) {
  std::uint64_t gen = 0;
  Slot* slot = engine->submit(ex, input, timeout, gen);
  return Lease(engine.get(), slot, gen);
}

}  // namespace request_shadow::detail

#endif  // REQUEST_SHADOW_DETAIL_ENGINE_HPP
