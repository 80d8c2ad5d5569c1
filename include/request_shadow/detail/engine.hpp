// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_ENGINE_HPP
#define REQUEST_SHADOW_DETAIL_ENGINE_HPP

// The machinery behind Shadower::call: the operations of the engine over its parts in
// detail/engine/ (read those first, in the order of the map at the top of engine/slot.hpp).
//
// Why: a per-call steady_timer costs a timerfd syscall and a co_spawn per call costs a frame and
// a scheduler turn; together they made a sampled call cost microseconds. Here a call takes a
// pooled slot, is linked in its lane's deadline queue, is run by a pooled worker, and its caller
// parks on the slot until the worker's report or the deadline's sweep.
//
// Locking: every operation below takes the mutex of one lane (the caller's, or the slot's or the
// worker's, which is the same lane for life), and never invokes a completion handler while
// holding it. The engine itself keeps only the list of lanes and the budget of admissions.
//
// Lifetimes: slots live in their lane's pool and are reused; workers are shared by their
// coroutine and the lane; the engine is kept alive by everything that can call back into it
// (callers' frames, worker frames, the timer's, dispatcher's and reaper's handlers). A
// LaneRegistry service in each execution_context tears down that context's lane when the context
// shuts down: parked callers and idle workers are destroyed, the timer is destroyed.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/detail/engine/budget.hpp>
#include <request_shadow/detail/engine/deadline_queue.hpp>
#include <request_shadow/detail/engine/lane.hpp>
#include <request_shadow/detail/engine/park.hpp>
#include <request_shadow/detail/engine/slot.hpp>
#include <request_shadow/detail/engine/worker.hpp>
#include <request_shadow/divergence.hpp>
#include <request_shadow/outcome.hpp>
#include <request_shadow/response_record.hpp>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// The type-independent part of the engine; Engine<Shadow> adds the backend and the worker body.
class EngineBase : public LaneOwner, public std::enable_shared_from_this<EngineBase> {
 public:
  using Result = LegResult;

  // `shadow_executor`, when not empty, runs the workers instead of the callers' contexts.
  explicit EngineBase(std::size_t max_workers, bool measure = false,
                      net::any_io_executor shadow_executor = {})
      : measure_(measure), shadow_executor_(std::move(shadow_executor)), budget_(max_workers) {}

  // Whether workers time their backend calls.
  const bool measure_;
  // Where workers run, if not on their callers' contexts.
  const net::any_io_executor shadow_executor_;
  EngineBase(const EngineBase&) = delete;
  EngineBase& operator=(const EngineBase&) = delete;
  // Touches no execution context: the last hold on the engine may be released on a thread of
  // the shadow executor while a callers' context is being destroyed. The registries hold the
  // engine weakly and skip (then forget) its lanes.
  virtual ~EngineBase() = default;

  /// Shadow legs running now (including abandoned ones still inside the backend).
  [[nodiscard]] std::size_t in_flight() const noexcept {
    std::size_t n = 0;
    for (const Lane* l = lanes_.head(); l != nullptr; l = l->next_lane)
      n += l->busy.load(std::memory_order_relaxed);
    return n;
  }

  // ---- caller side ------------------------------------------------------------------------

  // Start a shadow leg for `input`. When `max_workers` legs are already busy the slot comes back
  // in state Shed, with nothing started.
  Slot* submit(const net::any_io_executor& caller, std::span<const std::byte> input,
               Clock::duration timeout, std::uint64_t& gen) {
    std::shared_ptr<Worker> spawn;
    std::optional<Parked> parked_worker;
    Lane* dispatch = nullptr;
    Lane* found = &lane_for(caller);
    std::unique_lock lock(found->mutex);
    while (!found->alive) {  // the context shut down and another took its address since
      lock.unlock();
      found = &lane_for(caller);
      lock = std::unique_lock(found->mutex);
    }
    Lane& lane = *found;
    Slot& slot = lane.slots.take(&lane);  // may throw (memory): nothing is counted yet
    if (!admit(lane)) {
      // Shed: the caller still gets a slot, to keep its outcome, but no worker and no deadline.
      slot.state.store(Slot::State::Shed, std::memory_order_release);
      slot.worker_gone = true;
      ++lane.in_flight;
      gen = slot.gen;
      return &slot;
    }
    bool linking = false;
    try {
      slot.input.assign(reinterpret_cast<const char*>(input.data()), input.size());
      if (lane.idle.empty() && lane.workers == 0) spawn = new_worker(lane);
      slot.timeout = timeout;
      slot.deadline = deadline_after(Clock::now(), timeout);
      linking = true;
      link(lane, slot);
    } catch (...) {
      // Out of memory: undo everything, so that the bound and the worker count stay true.
      if (linking) {
        lane.deadlines.unlink(slot);
        lane.timer.forget();  // the timer may be left without a wait: the next link re-arms it
      }
      if (spawn) --lane.workers;
      slot.caller_gone = slot.worker_gone = true;
      give_back(slot);
      leg_done(lane);
      throw;
    }
    ++lane.in_flight;
    gen = slot.gen;
    if (spawn) {
      assign(slot, *spawn);
    } else if (Worker* worker = lane.idle.pop()) {
      assign(slot, *worker);
      unpark_into(worker->parked, parked_worker);
    } else {
      // Every worker is busy: queue the job. A busy worker takes it when it finishes; if the
      // workers are suspended in their backends, the dispatcher adds one (see dispatch_pending).
      lane.pending.push(slot);
      if (!std::exchange(lane.dispatch_posted, true)) dispatch = &lane;
    }
    lock.unlock();
    // The primary goes first: a parked worker is resumed by post and a new one starts by post, so
    // the shadow's synchronous work runs only once the caller suspends; an idle worker still
    // unwinding below the caller picks the job up when the caller suspends.
    if (parked_worker) net::post(std::move(*parked_worker));
    if (spawn) start_or_drop(std::move(spawn));
    if (dispatch != nullptr) post_dispatcher(dispatch);
    return &slot;
  }

  // Start a new worker; if even that fails (out of memory), its job fails and it is forgotten.
  void start_or_drop(std::shared_ptr<Worker> w) noexcept {
    try {
      start_worker(w);
    } catch (...) {
      worker_exit(*w);
    }
  }

  // Whether the shadow reported or the deadline passed.
  [[nodiscard]] static bool settled(const Slot& slot) noexcept {
    return slot.state.load(std::memory_order_acquire) != Slot::State::Running;
  }

  // Wait until the slot settles or the awaiting coroutine is cancelled (park.hpp).
  template <class Token>
  auto async_park(Slot& slot, std::uint64_t gen, Token&& token) {
    const Slot* s = &slot;
    return detail::async_park(
        slot.lane->mutex, slot.parked, [s] { return s->state != Slot::State::Running; }, &slot.gen,
        gen, std::forward<Token>(token));
  }

  // Take what the shadow produced, if it settled. A shadow still running is abandoned and sent a
  // terminal cancellation. The caller keeps the slot until release().
  Result collect(Slot& slot) {
    // Settled already, the usual case: whoever settled it stored the result before the state and
    // writes no more of it, and only this caller reads it. No lock.
    if (const auto state = slot.state.load(std::memory_order_acquire);
        state != Slot::State::Running) {
      return settled_result(slot, state);
    }
    Result result;
    std::shared_ptr<Worker> cancel_worker;
    std::uint64_t gen = 0;
    {
      const std::lock_guard lock(slot.lane->mutex);
      if (slot.state == Slot::State::Running) {
        result.state = Slot::State::Running;
        result.timeout = slot.timeout;
        abandon(slot, cancel_worker, gen);
      } else {
        result = settled_result(slot, slot.state);
      }
    }
    if (cancel_worker) send_cancel(std::move(cancel_worker), &slot, gen);
    return result;
  }

  // The result of a slot whose state is `state`, not Running.
  static Result settled_result(Slot& slot, Slot::State state) noexcept {
    Result result;
    result.state = state;
    result.timeout = slot.timeout;
    result.expired_in_queue = slot.expired_in_queue;
    if (state == Slot::State::Done) {
      if (slot.response) result.response = &*slot.response;
      if (slot.secondary) result.secondary = &*slot.secondary;
      result.error = std::move(slot.error);
      result.failed = slot.failed;
      result.elapsed = slot.elapsed;
    }
    return result;
  }

  // Give the slot back, abandoning and cancelling a shadow still running.
  void release(Slot& slot) {
    std::shared_ptr<Worker> cancel_worker;
    std::uint64_t gen = 0;
    bool reap = false;
    Lane& lane = *slot.lane;
    {
      const std::lock_guard lock(lane.mutex);
      if (slot.state == Slot::State::Running) abandon(slot, cancel_worker, gen);
      lane.deadlines.unlink(slot);
      slot.caller_gone = true;
      if (slot.worker_gone) give_back(slot);
      --lane.in_flight;
      reap = reap_due(lane);
    }
    if (cancel_worker) send_cancel(std::move(cancel_worker), &slot, gen);
    if (reap) post_reaper(&lane);
  }

  // The caller leaves with its primary: the engine finishes the call through `settler` when the
  // shadow answers or its deadline passes (at once, posted, if that already happened).
  void detach(Slot& slot, std::shared_ptr<Settler> settler, std::optional<std::string> key) {
    net::any_io_executor home;
    {
      const std::lock_guard lock(slot.lane->mutex);
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
    if (home) net::post(home, SettleLater{shared_from_this(), &slot, std::move(settler)});
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
    Lane& lane = *slot.lane;
    {
      const std::lock_guard lock(lane.mutex);
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
    bool reap = false;
    {
      const std::lock_guard lock(lane.mutex);
      slot.settling = false;
      slot.detached = false;
      --lane.in_flight;
      reap = reap_due(lane);
      if (slot.worker_gone) give_back(slot);
    }
    if (reap) post_reaper(&lane);
  }

  // ---- worker side ------------------------------------------------------------------------

  // The job assigned to `w`, now marked running; nullptr if none. A job abandoned before it
  // started is reported at once without calling the backend.
  Slot* take_job(const std::shared_ptr<Worker>& worker) {
    Worker& w = *worker;
    for (;;) {
      std::unique_lock lock(w.lane->mutex);
      stop_unwinding(w);
      Slot* job = std::exchange(w.job, nullptr);
      if (job == nullptr && !w.retire && w.lane->alive) {
        job = w.lane->pending.pop();
        if (job != nullptr) job->worker = &w;
      }
      if (job == nullptr) {
        // About to wait: the lane's last call, if that was it, has run whatever its caller did
        // synchronously after it (a caller resumed inline from finish() starts its next call
        // before this), so this is where an idle lane is noticed, rather than posting a reaper
        // on each call that leaves no other in flight.
        const bool reap = reap_due(*w.lane);
        lock.unlock();
        if (reap) post_reaper(w.lane);
        return nullptr;
      }
      if (job->state == Slot::State::Running) {
        w.running = job;
        return job;
      }
      lock.unlock();
      finish(worker, *job, nullptr, nullptr, false);
    }
  }

  // Wait for a job, or for retirement (park.hpp; not cancellable).
  template <class Token>
  auto async_wait_job(Worker& w, Token&& token) {
    const Worker* p = &w;
    return detail::async_park(
        w.lane->mutex, w.parked, [p] { return p->job != nullptr || p->retire; }, nullptr, 0,
        std::forward<Token>(token));
  }

  // Whether the worker should exit rather than wait.
  [[nodiscard]] bool retiring(Worker& w) {
    const std::lock_guard lock(w.lane->mutex);
    return w.retire && w.job == nullptr;
  }

  // The shadow answered while its secondary is still out: keep the answer in the slot, so that
  // the deadline settles the call with it instead of as a timeout.
  void shadow_answered(Slot& job, ResponseRecord& response, Clock::duration elapsed) {
    const std::lock_guard lock(job.lane->mutex);
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
    const std::lock_guard lock(job.lane->mutex);
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
    std::optional<OutsidePost> visit;  // declared first: ends once `caller` is gone
    std::optional<Parked> caller;
    bool settle = false;
    const std::string error_text = error_text_of(error);
    Lane* lane = w.lane;
    {
      const std::lock_guard lock(lane->mutex);
      if (ran) {
        w.running = nullptr;
      }
      settle_locked(job, response, error ? &error_text : nullptr, elapsed, secondary, caller,
                    settle);
      // A worker on a shadow executor is outside its caller's context, which must outlive the
      // caller's wake-up and the detached call's settling (whose settler may release the last
      // hold on the Shadower's state, and with it the backends' I/O objects on that context).
      // The lane is alive: its shutdown takes the parked callers and drops the detached calls.
      if ((caller || settle) && shadow_executor_) visit.emplace(*lane);
      job.worker = nullptr;
      job.worker_gone = true;
      if (job.caller_gone && !job.settling) give_back(job);
      leg_done(*lane);
      if (!std::exchange(w.unwinding, true)) ++lane->unwinding;
      if (lane->alive && !w.retire) {
        if (Slot* next = lane->pending.pop()) {
          assign(*next, w);  // stay busy: the queue drains without waking anyone
        } else if (shadow_executor_ && lane->in_flight == 0) {
          // No call in flight: the reaper may have run already, and the callers' context may
          // have returned from run(); an idle worker would then keep the shadow executor's
          // context busy for ever. It exits instead.
          w.retire = true;
        } else {
          lane->idle.push(w);  // take_job, next, posts the reaper if the lane is idle then
        }
      } else {
        w.retire = true;
      }
    }
    if (settle) settle_detached(job);
    // Inline when the caller's executor allows it: the caller then often starts its next call
    // on this same worker before the worker would have parked. (A worker on a shadow executor is
    // not on that executor: it posts, under `visit`.)
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
  static void settle_locked(Slot& job, ResponseRecord* response, const std::string* error,
                            Clock::duration elapsed, ResponseRecord* secondary,
                            std::optional<Parked>& caller, bool& settle) {
    if (job.state != Slot::State::Running) return;
    // The result first, the state last: a caller that reads a settled state reads the result
    // without the lock (collect).
    try {
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
    } catch (...) {
      job.state.store(Slot::State::Done, std::memory_order_release);
      throw;
    }
    job.state.store(Slot::State::Done, std::memory_order_release);
    job.lane->deadlines.unlink(job);
    unpark_into(job.parked, caller);
    settle = job.detached && !job.settling;
    if (settle) job.settling = true;
  }

  // The worker coroutine is gone (it exited, or its frame was destroyed with the context it runs
  // on). A caller parked on its job is woken with the job failed.
  void worker_exit(Worker& w) noexcept {
    Lane* redispatch = nullptr;
    std::optional<OutsidePost> visit;  // declared first: ends once `wake` is gone
    std::vector<Parked> wake;
    bool reap = false;
    {
      std::vector<DroppedCall> doomed;
      worker_exit_locked(w, doomed, redispatch, wake, reap, visit);
      // `doomed` is destroyed here, after the lock was released.
    }
    try {
      for (auto& h : wake) net::post(std::move(h));
      // A job queued while this worker was retiring found it still counted; start another.
      if (redispatch != nullptr) post_dispatcher(redispatch);
      // It left between finish() and take_job(), where it would have noticed an idle lane.
      if (reap) post_reaper(w.lane);
    } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory; the callers not yet woken are
                     // destroyed with `wake`, which releases their slots
    }
  }

  void worker_exit_locked(Worker& w, std::vector<DroppedCall>& doomed, Lane*& redispatch,
                          std::vector<Parked>& wake, bool& reap,
                          std::optional<OutsidePost>& visit) noexcept {
    Lane& lane = *w.lane;
    const std::lock_guard lock(lane.mutex);
    const bool unwinding = w.unwinding;
    stop_unwinding(w);
    reap = unwinding && reap_due(lane);
    --lane.workers;
    if (lane.alive && !lane.pending.empty() && !std::exchange(lane.dispatch_posted, true)) {
      redispatch = &lane;
    }
    lane.idle.remove(w);
    try {
      wake.reserve(2);
      doomed.reserve(2);
    } catch (...) {  // NOLINT(bugprone-empty-catch): then nobody is woken early, nor told
    }
    if (Slot* job = std::exchange(w.job, nullptr)) drop_job(*job, doomed, &wake);
    if (Slot* job = std::exchange(w.running, nullptr)) drop_job(*job, doomed, &wake);
    // The worker may be outside the context of the callers it wakes and of the detached calls it
    // drops (whose settlers may release the last hold on the Shadower's state); the lane is
    // alive if there are any: its shutdown takes the parked callers and drops the detached calls.
    if (!wake.empty() || !doomed.empty()) visit.emplace(lane);
  }

  // The lane's context is shutting down: destroy what waits on it, outside the lock.
  void shutdown_lane(Lane& lane) override {
    std::vector<Parked> doomed;
    std::vector<DroppedCall> settlers;
    std::optional<net::steady_timer> timer;
    {
      const std::lock_guard lock(lane.mutex);
      if (!lane.alive) return;
      lane.alive = false;
      for (Slot& s : lane.slots.all()) {
        if (s.free) SlotPool::drop_buffers(s);  // never reused
        if (auto h = unpark(s.parked)) doomed.push_back(std::move(*h));
        drop_detached(s, settlers);
        if (s.caller_gone && s.worker_gone && !s.settling && !s.free) give_back(s);
      }
      lane.idle.retire_all(doomed);
      while (Slot* job = lane.pending.pop())
        drop_job(*job, settlers, nullptr, "shadow leg dropped at shutdown");
      budget_.give_back(lane.credits);
      timer = lane.timer.release();
      lane.home = net::any_io_executor();
    }
    // A worker outside this context may be posting to it: the context outlives that post.
    lane.wait_for_outside_posts();
    auto keep_alive = shared_from_this();
    settlers.clear();
    doomed.clear();  // destroys the parked coroutines, which release their slots
    timer.reset();
  }

 protected:
  virtual void start_worker(std::shared_ptr<Worker> w) = 0;

  // The deadline passed for the oldest slots of `lane` (at `now`): release their callers and
  // cancel their shadows. `gen` is the timer's arming; a stale one does nothing.
  void sweep(Lane& lane, std::uint64_t gen, Clock::time_point now) {
    std::vector<Parked> wake;
    std::vector<std::pair<std::shared_ptr<Worker>, std::pair<Slot*, std::uint64_t>>> cancels;
    std::vector<Slot*> settle;
    {
      const std::lock_guard lock(lane.mutex);
      if (!lane.alive || !lane.timer.fired(gen)) return;  // re-armed or cancelled since
      const auto next = lane.deadlines.expire(now, [&](Slot& s) {
        // A shadow that answered in time is not late because its secondary is.
        // Still queued, or assigned to a worker that has not taken it yet.
        s.expired_in_queue = !s.shadow_reported && (s.worker == nullptr || s.worker->running != &s);
        // The state last (see settle_locked).
        s.state.store(s.shadow_reported ? Slot::State::Done : Slot::State::TimedOut,
                      std::memory_order_release);
        if (auto h = unpark(s.parked)) wake.push_back(std::move(*h));
        if (s.worker != nullptr && s.worker->running == &s) {
          cancels.push_back({s.worker->shared_from_this(), {&s, s.gen}});
        }
        if (s.detached && !s.settling) {
          s.settling = true;
          settle.push_back(&s);
        }
      });
      if (next) arm(lane, *next);
    }
    for (auto& [w, job] : cancels) send_cancel(std::move(w), job.first, job.second);
    for (auto& h : wake) net::post(std::move(h));
    for (Slot* slot : settle) settle_detached(*slot);
  }

 private:
  static net::any_io_executor home_executor(const net::any_io_executor& caller) {
    if (const auto* s = target_as<net::strand<net::io_context::executor_type>>(caller)) {
      return s->get_inner_executor();
    }
    return caller;
  }

  // The live lane of the caller's execution context, made on first use.
  Lane& lane_for(const net::any_io_executor& caller) {
    net::execution_context* ctx = &net::query(caller, net::execution::context);
    return lanes_.find_or_add(ctx, [&] {
      auto lane = std::make_unique<Lane>();
      lane->context = ctx;
      lane->home = home_executor(caller);
      net::use_service<LaneRegistry>(*ctx).add(weak_from_this(), lane.get());
      return lane;
    });
  }

  // Under the lane's lock: take one admission for a new leg (budget.hpp); false when the bound
  // is reached.
  bool admit(Lane& lane) noexcept {
    if (!budget_.admit(lane.credits, [&] { reclaim_spares(lane); })) return false;
    lane.busy.store(lane.busy.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return true;
  }

  // Under the lane's lock: a leg ended.
  void leg_done(Lane& lane) noexcept {
    lane.busy.store(lane.busy.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    budget_.done(lane.credits, lane.alive);
  }

  // Under `own`'s lock: move the spare admissions of the other lanes whose locks are free back to
  // the budget (try_lock: never waits while holding a lock).
  void reclaim_spares(Lane& own) noexcept {
    for (Lane* l = lanes_.head(); l != nullptr; l = l->next_lane) {
      if (l == &own) continue;
      const std::unique_lock other(l->mutex, std::try_to_lock);
      if (other.owns_lock()) budget_.give_back(l->credits);
    }
  }

  std::shared_ptr<Worker> new_worker(Lane& lane) {
    auto w =
        std::make_shared<Worker>(worker_executor(shadow_executor_ ? shadow_executor_ : lane.home));
    w->lane = &lane;
    ++lane.workers;
    return w;
  }

  void post_dispatcher(Lane* lane) {
    post_home(lane, [engine = shared_from_this(), lane] { engine->dispatch_pending(*lane); });
  }

  // Post `f` to the lane's home executor; nothing once the lane's context has shut down. The
  // caller may be a worker outside that context, which another thread may be destroying.
  template <class F>
  static void post_home(Lane* lane, F f) {
    std::optional<OutsidePost> visit;  // declared first: ends once `home` is gone
    net::any_io_executor home;
    {
      const std::lock_guard lock(lane->mutex);
      if (!lane->alive) return;
      visit.emplace(*lane);
      home = lane->home;
    }
    net::post(home, std::move(f));
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
      const std::lock_guard lock(lane.mutex);
      lane.dispatch_posted = false;
      if (!lane.alive) return;
      while (!lane.pending.empty() && !lane.idle.empty()) {
        Worker* w = lane.idle.pop();
        assign(*lane.pending.pop(), *w);
        if (auto h = unpark(w->parked)) wake.push_back(std::move(*h));
      }
      if (!lane.pending.empty() && lane.workers < budget_.bound()) {
        spawn = new_worker(lane);
        assign(*lane.pending.pop(), *spawn);
        again = !lane.pending.empty() && !std::exchange(lane.dispatch_posted, true);
      }
    }
    for (auto& h : wake) net::post(std::move(h));
    if (spawn) start_or_drop(std::move(spawn));
    if (again) post_dispatcher(&lane);
  }

  // Under the lock: the slot's caller and worker are both done with it.
  static void give_back(Slot& s) noexcept { s.lane->slots.give_back(s, s.lane->alive); }

  static void abandon(Slot& slot, std::shared_ptr<Worker>& cancel_worker, std::uint64_t& gen) {
    slot.state.store(Slot::State::Abandoned, std::memory_order_release);
    slot.lane->deadlines.unlink(slot);
    if (slot.worker != nullptr && slot.worker->running == &slot) {
      cancel_worker = slot.worker->shared_from_this();
      gen = slot.gen;
    }
  }

  // The worker of `job` is gone without reporting (its frame was destroyed with its context). A
  // detached call is dropped: its settler goes to `doomed`, told (and released) unlocked. A
  // parked caller goes to `wake`, if given and if it has room.
  void drop_job(Slot& job, std::vector<DroppedCall>& doomed, std::vector<Parked>* wake = nullptr,
                const char* why = "shadow worker destroyed") noexcept {
    if (job.state == Slot::State::Running) {
      job.failed = true;
      try {
        job.error = why;
      } catch (...) {  // NOLINT(bugprone-empty-catch): reported without the text
      }
      job.state.store(Slot::State::Done, std::memory_order_release);  // last (see settle_locked)
      job.lane->deadlines.unlink(job);
      if (wake != nullptr && job.parked && wake->size() < wake->capacity()) {
        wake->push_back(std::move(*job.parked));
        job.parked.reset();
      }
    }
    drop_detached(job, doomed);
    job.worker = nullptr;
    job.worker_gone = true;
    leg_done(*job.lane);
    if (job.caller_gone && !job.settling) give_back(job);
  }

  // A detached call whose lane or worker is gone: its settler goes to `doomed` (if there is no
  // room, it is told at once, which is safe: its settler takes no engine lock).
  static void drop_detached(Slot& slot, std::vector<DroppedCall>& doomed) noexcept {
    if (!slot.detached || slot.settling) return;
    try {
      doomed.emplace_back(std::move(slot.settler), slot.probe);
    } catch (...) {
      DroppedCall now(std::move(slot.settler), slot.probe);
    }
    slot.detached = false;
    --slot.lane->in_flight;
  }

  // Under the lock: link a slot whose deadline is set, and make sure the timer fires by then.
  void link(Lane& lane, Slot& s) {
    lane.deadlines.link(s);
    arm(lane, s.deadline);
  }

  // Make sure the lane's timer fires no later than `at`.
  void arm(Lane& lane, Clock::time_point at) {
    if (!lane.timer.needs(at)) return;
    const std::uint64_t gen = lane.timer.set(lane.home, at);
    lane.timer.timer().async_wait(Sweep{shared_from_this(), &lane, gen});
  }

  struct Sweep {
    std::shared_ptr<EngineBase> engine;
    Lane* lane;
    std::uint64_t gen;
    void operator()(const error_code& /*ec*/) const { engine->sweep(*lane, gen, Clock::now()); }
  };

  // Ask the worker to stop its job, on the worker's strand, only if it is still on that job.
  void send_cancel(std::shared_ptr<Worker> w, Slot* job, std::uint64_t gen) {
    auto ex = w->ex;
    net::dispatch(ex, [engine = shared_from_this(), w = std::move(w), job, gen] {
      {
        const std::lock_guard lock(w->lane->mutex);
        if (w->running != job || job->gen != gen) return;
      }
      w->cancel_sent = true;
      w->cancel.emit(net::cancellation_type::terminal);
    });
  }

  // Once no call is in flight on a lane, retire its idle workers and disarm its timer, so that
  // io_context::run() can return. Posted, so that a caller that starts its next call in the same
  // turn keeps its worker.
  void post_reaper(Lane* lane) {
    post_home(lane, [engine = shared_from_this(), lane] { engine->reap(*lane); });
  }

  // Whether the lane has no call in flight, no worker that will notice it (Lane::unwinding) and
  // no reaper on its way; marks one as posted.
  static bool reap_due(Lane& lane) noexcept {
    return lane.in_flight == 0 && lane.unwinding == 0 && lane.alive &&
           !std::exchange(lane.reaper_posted, true);
  }

  // Under the lock: `w` reached take_job() (or exited) after finish().
  static void stop_unwinding(Worker& w) noexcept {
    if (std::exchange(w.unwinding, false)) --w.lane->unwinding;
  }

  void reap(Lane& lane) {
    std::vector<Parked> wake;
    {
      const std::lock_guard lock(lane.mutex);
      lane.reaper_posted = false;
      if (!lane.alive || lane.in_flight != 0) return;
      lane.idle.retire_all(wake);
      budget_.give_back(lane.credits);
      lane.timer.disarm();
    }
    for (auto& h : wake) net::post(std::move(h));
  }

  AdmissionBudget budget_;
  LaneList lanes_;
};

// A second call of the primary side, for noise cancellation.
using SecondaryCall = std::function<net::awaitable<ResponseRecord>(std::span<const std::byte>)>;

// The engine of one Shadower: the backend and the worker coroutine body.
template <class Shadow>
class Engine final : public EngineBase {
 public:
  Engine(std::shared_ptr<Shadow> backend, std::size_t max_workers, bool measure,
         SecondaryCall secondary = {}, net::any_io_executor shadow_executor = {})
      : EngineBase(max_workers, measure, std::move(shadow_executor)),
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

  static net::awaitable<void> work(std::shared_ptr<Engine> engine, std::shared_ptr<Worker> self) {
    const ExitGuard guard(engine, self);
    Worker& w = *self;
    for (;;) {
      Slot* job = engine->take_job(self);
      if (job == nullptr) {
        if (engine->retiring(w)) co_return;
        co_await engine->async_wait_job(w, net::use_awaitable);
        continue;
      }
      ResponseRecord answer;
      std::optional<ResponseRecord> second;
      std::exception_ptr error;
      // Each job starts with a clean coroutine: a previous job may have turned throw-on-cancel
      // off, or been cancelled.
      if (w.cancel_sent) {
        w.cancel_sent = false;
        co_await net::this_coro::reset_cancellation_state();
      }
      co_await net::this_coro::throw_if_cancelled(true);
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
        co_await net::this_coro::reset_cancellation_state();
      }
      co_await net::this_coro::throw_if_cancelled(true);
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
  static net::awaitable<void> call_both(Engine& engine, Slot& job, std::span<const std::byte> input,
                                        Clock::time_point started,
                                        std::optional<ResponseRecord>& second) {
    const auto ex = co_await net::this_coro::executor;
    auto shadow_part = shadow_then_report(&engine, &job, input, started);
    auto secondary_part = call_secondary(&engine, input);
    auto group = net::experimental::make_parallel_group(
        net::co_spawn(ex, std::move(shadow_part), detail::deferred),
        net::co_spawn(ex, std::move(secondary_part), detail::deferred));
    auto results = co_await group.async_wait(CancelOnShadowFailure{}, net::use_awaitable);
    if (!std::get<2>(results)) second.emplace(std::move(std::get<3>(results)));
  }

  // The group's cancellation condition: a failed shadow cancels the secondary; nothing else
  // cancels anything.
  struct CancelOnShadowFailure {
    net::cancellation_type_t operator()(const std::exception_ptr& shadow_error) const noexcept {
      return shadow_error ? net::cancellation_type::terminal : net::cancellation_type::none;
    }
    net::cancellation_type_t operator()(const std::exception_ptr& /*secondary_error*/,
                                        const ResponseRecord& /*secondary*/) const noexcept {
      return net::cancellation_type::none;
    }
  };

  // The shadow's part of `call_both`: call it and report its answer or failure to the slot at
  // once. Rethrows the failure, so that the group cancels the secondary.
  static net::awaitable<void> shadow_then_report(Engine* engine, Slot* job,
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
  static net::awaitable<ResponseRecord> call_secondary(Engine* engine,
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
        auto done = net::bind_cancellation_slot(worker->cancel.slot(), Exited{worker});
        net::co_spawn(strand, std::move(body), std::move(done));
        started = true;
      } catch (...) {  // NOLINT(bugprone-empty-catch): the destructor forgets the worker
      }
    }
  };

  void start_worker(std::shared_ptr<Worker> w) override {
    auto ex = w->ex;
    net::post(ex, StartWorker(std::static_pointer_cast<Engine>(shared_from_this()), std::move(w)));
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
inline Lease start_shadow(const std::shared_ptr<EngineBase>& engine, const net::any_io_executor& ex,
                          std::span<const std::byte> input, Clock::duration timeout) {
  std::uint64_t gen = 0;
  Slot* slot = engine->submit(ex, input, timeout, gen);
  return Lease(engine.get(), slot, gen);
}

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_ENGINE_HPP
