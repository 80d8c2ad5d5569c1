// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_ENGINE_LANE_HPP
#define REQUEST_SHADOW_DETAIL_ENGINE_LANE_HPP

// The engine, part 6 of 6: the lane, one execution context's share of an engine, and the service
// that shuts it down with its context. Map of the engine: see slot.hpp.
//
// Why: threads that run different execution contexts (an io_context per core, the layout that
// scales best with Asio) then share nothing on the call path: each lane has its own mutex, slots,
// deadline queue and timer, job queue and workers. Lanes are found without a lock, in a list that
// only grows at its head.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <request_shadow/asio.hpp>
#include <request_shadow/detail/adaptive_mutex.hpp>
#include <request_shadow/detail/engine/deadline_queue.hpp>
#include <request_shadow/detail/engine/slot.hpp>
#include <request_shadow/detail/engine/worker.hpp>
#include <thread>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// One execution context's share of an engine: its slots, deadline queue, timer and workers,
// under a lock of its own, so that calls on different contexts never meet.
struct alignas(64) Lane {
  // Set before the lane is published; read without a lock by threads looking for their lane.
  net::execution_context* context = nullptr;
  Lane* next_lane = nullptr;      // the engine's lanes, newest first
  std::atomic<bool> alive{true};  // false once the context has shut down; written under `mutex`

  // On a cache line of its own: the lines above are read by every thread looking for its lane.
  // Guards the rest of the lane, its slots and its workers. It spins before it sleeps: threads
  // that share one io_context share its lane (adaptive_mutex.hpp says why).
  alignas(64) AdaptiveMutex mutex;
  net::any_io_executor home;  // runs the timer, the dispatcher and the reaper
  DeadlineQueue deadlines;
  DeadlineTimer timer;
  SlotPool slots;
  JobQueue pending;  // jobs waiting for a worker
  IdleWorkers idle;
  bool dispatch_posted = false;
  std::size_t workers = 0;    // worker coroutines alive on this lane
  std::size_t in_flight = 0;  // callers holding a slot, and detached calls not yet settled
  bool reaper_posted = false;
  // Workers between finish() and their next take_job(): each notices an idle lane itself when it
  // gets there, after whatever its caller, resumed inline, did next; no reaper is posted for them.
  std::size_t unwinding = 0;
  std::size_t credits = 0;  // admissions taken from the engine's budget and not in use
  // Legs in flight on this lane (queued, assigned or running): written under `mutex`, read
  // without it by the engine's in_flight().
  std::atomic<std::size_t> busy{0};
  // Posts to this lane's context under way from threads that may be outside it (OutsidePost).
  std::atomic<std::size_t> outside_posts{0};

  // Once `alive` was cleared (under `mutex`), wait, unlocked, until the posts under way are done.
  void wait_for_outside_posts() const noexcept {
    while (outside_posts.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }
};

// A post to a lane's context from a thread that may be outside it (a worker on a shadow executor
// waking its caller, settling a detached call, posting the reaper or the dispatcher). Another
// thread may be destroying that context meanwhile; the lane's shutdown, which runs before the
// context's scheduler shuts down, waits for every OutsidePost to end. Made under the lane's lock
// while the lane is alive; ended, unlocked, once the post is done and every copy of the context's
// executor or handler is gone.
class OutsidePost {
 public:
  explicit OutsidePost(Lane& lane) noexcept : lane_(&lane) {
    lane.outside_posts.fetch_add(1, std::memory_order_relaxed);  // under the lane's lock
  }
  OutsidePost(const OutsidePost&) = delete;
  OutsidePost& operator=(const OutsidePost&) = delete;
  ~OutsidePost() { lane_->outside_posts.fetch_sub(1, std::memory_order_release); }

 private:
  Lane* lane_;
};

// The engine as the registry sees it: what shuts a lane down.
class LaneOwner {
 public:
  // The lane's context is shutting down: destroy what waits on it. Called once per lane, without
  // the lane's lock.
  virtual void shutdown_lane(Lane& lane) = 0;

 protected:
  ~LaneOwner() = default;
};

// One per execution_context: shuts down the lanes of that context when the context does (before
// its pending handlers are destroyed), for every engine that is still alive.
class LaneRegistry final : public net::execution_context::service {
 public:
  using key_type = LaneRegistry;
  inline static net::execution_context::id id;

  explicit LaneRegistry(net::execution_context& ctx) : net::execution_context::service(ctx) {}

  // Shut `lane` down with this context, if `owner` is alive then. The lanes of owners destroyed
  // since (an engine never calls back into a context from its destructor) are forgotten here.
  void add(std::weak_ptr<LaneOwner> owner, Lane* lane) {
    const std::lock_guard lock(mutex_);
    std::erase_if(entries_, [](const Entry& e) { return e.owner.expired(); });
    entries_.push_back({std::move(owner), lane});
  }

  // How many lanes are registered (some may belong to owners destroyed since the last add).
  [[nodiscard]] std::size_t size() {
    const std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  struct Entry {
    std::weak_ptr<LaneOwner> owner;
    Lane* lane;
  };

  void shutdown() override {
    std::vector<Entry> entries;
    {
      const std::lock_guard lock(mutex_);
      entries.swap(entries_);
    }
    for (auto& e : entries) {
      if (auto owner = e.owner.lock()) owner->shutdown_lane(*e.lane);
    }
  }

  std::mutex mutex_;
  std::vector<Entry> entries_;
};

// An engine's lanes: owned here, found without a lock (lanes are only ever added, at the head of
// a list whose links never change), added under a mutex.
class LaneList {
 public:
  // The live lane of `ctx`, or nullptr.
  [[nodiscard]] Lane* find(net::execution_context* ctx) const noexcept {
    for (Lane* l = head(); l != nullptr; l = l->next_lane) {
      if (l->context == ctx && l->alive.load(std::memory_order_relaxed)) return l;
    }
    return nullptr;
  }

  // The live lane of `ctx`; if there is none, `make()` makes one (a unique_ptr<Lane> with its
  // context set), which is published at the head. `make` runs under the list's mutex.
  template <class Make>
  Lane& find_or_add(net::execution_context* ctx, Make&& make) {
    if (Lane* lane = find(ctx)) return *lane;
    const std::lock_guard lock(mutex_);
    if (Lane* lane = find(ctx)) return *lane;  // another thread made it meanwhile
    owned_.reserve(owned_.size() + 1);
    std::unique_ptr<Lane> lane = make();
    lane->next_lane = head_.load(std::memory_order_relaxed);
    Lane& made = *owned_.emplace_back(std::move(lane));
    head_.store(&made, std::memory_order_release);
    return made;
  }

  // The newest lane; follow `next_lane` for the others.
  [[nodiscard]] Lane* head() const noexcept { return head_.load(std::memory_order_acquire); }

 private:
  std::mutex mutex_;                          // taken only to add a lane
  std::vector<std::unique_ptr<Lane>> owned_;  // guarded by mutex_
  std::atomic<Lane*> head_{nullptr};
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_ENGINE_LANE_HPP
