// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_ENGINE_SLOT_HPP
#define REQUEST_SHADOW_DETAIL_ENGINE_SLOT_HPP

// The engine behind Shadower::call, part 1 of 6: a call's slot and the slot pool.
//
// A map of the engine, in the order to read it (each part is one header in detail/engine/):
//
//   slot.hpp            Slot: what one sampled call shares with the worker running its shadow
//                       leg (input copy, answer, state, parked caller). SlotPool: a lane's slots,
//                       reused; a slot never moves.
//   deadline_queue.hpp  DeadlineQueue: slots waiting for their shadow, one FIFO per timeout,
//                       oldest first. DeadlineTimer: the lane's one steady_timer, armed for the
//                       oldest deadline only.
//   worker.hpp          Worker: a long-lived coroutine that runs shadow legs one after another.
//                       JobQueue: jobs waiting for a free worker.
//   park.hpp            async_park: how a caller waits for "answered or deadline" and an idle
//                       worker for a job, without a timer of its own; resume.
//   budget.hpp          AdmissionBudget: the bound of max_in_flight_shadows, shared by lanes a
//                       chunk of admissions at a time.
//   lane.hpp            Lane: one execution context's share of an engine (all of the above,
//                       under one mutex). LaneList: lanes found without a lock. LaneRegistry:
//                       the service that shuts a context's lanes down with the context.
//   ../engine.hpp       EngineBase: the operations on those parts (submit, park, collect,
//                       detach, the workers' take/finish, the sweep, shutdown); Engine<Shadow>:
//                       the worker's body; Lease: a caller's hold on its slot.
//
// Locks. The only lock on a call's path is its lane's mutex: it guards the lane, its slots and
// its workers (fields marked "guarded"). It is a detail::AdaptiveMutex (../adaptive_mutex.hpp),
// which spins briefly before it sleeps, as the threads of one io_context share a lane. Two more
// locks are taken off the path: the LaneList's mutex to add a lane, and the LaneRegistry's to
// register one. Completion handlers are never invoked with a lock held; no thread holds two lane
// mutexes at once except with try_lock. A post to a lane's context from a worker that may be
// outside it (on a shadow executor) is counted in the lane under its mutex (OutsidePost), and the
// lane's shutdown waits for it: the context is not destroyed under the post.
//
// One inline call's path: Shadower::call -> EngineBase::submit (the caller's lane, found without
// a lock; a slot from the SlotPool; an admission from the budget; the request copied into the
// slot; the slot linked in the DeadlineQueue; the job given to an idle Worker, or queued) ->
// the caller runs its primary -> async_park on its slot -> the Worker runs the backend and
// `finish`es (slot Done, unlinked, parked caller resumed) or the DeadlineTimer's sweep expires
// the slot first (TimedOut, caller resumed, worker sent a cancel) -> the caller `collect`s and
// compares -> the Lease gives the slot back to the pool.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <request_shadow/detail/engine/park.hpp>
#include <request_shadow/detail/flavour.hpp>
#include <request_shadow/outcome.hpp>
#include <request_shadow/response_record.hpp>
#include <string>
#include <utility>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

using Clock = std::chrono::steady_clock;

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
  // Written under the mutex, never seq_cst; read without it only by the slot's caller (acquire:
  // Done and TimedOut are stored with release, after the result).
  std::atomic<State> state{State::Running};
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
  bool free = true;              // in its pool's free list
  Worker* worker = nullptr;      // assigned to run this job (alive while `worker_gone` is false)
  std::optional<Parked> parked;  // the caller, while it waits
  // The deadline queue's (deadline_queue.hpp).
  Clock::time_point deadline{};
  Clock::duration timeout{};
  std::size_t fifo = 0;  // index of the deadline FIFO it is linked in, when `linked`
  bool linked = false;
  Slot* prev = nullptr;
  Slot* next = nullptr;
  // The pool's and the job queue's (worker.hpp).
  Slot* next_free = nullptr;
  Slot* next_pending = nullptr;
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
// the settler, so the call is still counted once; never destroyed under a lock.
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

// A lane's slots: made on demand, reused, never moved (callers and workers hold pointers), and
// freed with the lane. Guarded by the lane's mutex.
class SlotPool {
 public:
  // Input buffers larger than this are freed when their slot comes back.
  static constexpr std::size_t keep_bytes = 64 * 1024;

  // A slot ready for a new call, owned by `lane`: state Running, held by both caller and worker,
  // nothing left of its previous call but buffer capacity. May throw (memory) only when the pool
  // has to grow.
  Slot& take(Lane* lane) {
    Slot* s = free_;
    if (s != nullptr) {
      free_ = s->next_free;
    } else {
      s = &slots_.emplace_back();
      s->lane = lane;
    }
    s->free = false;
    s->next_free = nullptr;
    // Relaxed: the only reader without the lock is the slot's own caller, which comes after
    // this store; a seq_cst one would cost a locked instruction on every call.
    s->state.store(Slot::State::Running, std::memory_order_relaxed);
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
    return *s;
  }

  // Put a slot back, once its caller and its worker are both done with it. With `reuse` false
  // (the lane is dead) it keeps no buffers, since it will never be taken again.
  void give_back(Slot& s, bool reuse) noexcept {
    if (!reuse) {
      drop_buffers(s);
    } else if (s.input.capacity() > keep_bytes) {
      std::string().swap(s.input);
    }
    s.response.reset();
    s.secondary.reset();
    s.key.reset();
    ++s.gen;
    s.free = true;
    s.next_free = free_;
    free_ = &s;
  }

  // Free what a slot that will never be reused holds.
  static void drop_buffers(Slot& s) noexcept {
    std::string().swap(s.input);
    s.outcome = ShadowOutcome{};
  }

  // Every slot of the pool, free or not.
  [[nodiscard]] std::deque<Slot>& all() noexcept { return slots_; }

  // How many slots the pool has made.
  [[nodiscard]] std::size_t size() const noexcept { return slots_.size(); }

 private:
  std::deque<Slot> slots_;
  Slot* free_ = nullptr;
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_ENGINE_SLOT_HPP
