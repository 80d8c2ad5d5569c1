// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// The engine's parts, each alone: the slot pool, the deadline queue (with a clock the test
// controls) and its timer, the job queue and idle workers, the park operation, the admission
// budget, and the lanes with their shutdown service. The engine over them is tested through
// Shadower in shadower_engine_test.
#include <request_shadow/detail/engine/lane.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/detail/adaptive_mutex.hpp>
#include <request_shadow/detail/engine/budget.hpp>
#include <request_shadow/detail/engine/deadline_queue.hpp>
#include <request_shadow/detail/engine/park.hpp>
#include <request_shadow/detail/engine/slot.hpp>
#include <request_shadow/detail/engine/worker.hpp>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace net = request_shadow::net;

namespace d = request_shadow::detail;
using namespace std::chrono_literals;
using d::Clock;

namespace {

// ---- the slot pool ------------------------------------------------------------------------

TEST(SlotPool, ReusesAGivenBackSlotAtTheSameAddressWithANewGeneration) {
  d::SlotPool pool;
  d::Lane owner;
  d::Lane* lane = &owner;
  d::Slot& a = pool.take(lane);
  EXPECT_EQ(a.lane, lane);
  EXPECT_FALSE(a.free);
  EXPECT_FALSE(a.caller_gone);
  EXPECT_FALSE(a.worker_gone);
  const std::uint64_t first = a.gen;
  pool.give_back(a, true);
  EXPECT_TRUE(a.free);
  d::Slot& b = pool.take(lane);
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(b.gen, first + 2);  // once when given back, once when taken
  EXPECT_EQ(pool.size(), 1U);
}

TEST(SlotPool, ATakenSlotKeepsNothingOfItsPreviousCall) {
  d::SlotPool pool;
  d::Slot& s = pool.take(nullptr);
  s.state = d::Slot::State::TimedOut;
  s.response.emplace(request_shadow::ResponseRecord::success("old"));
  s.error = "old failure";
  s.failed = true;
  s.expired_in_queue = true;
  s.detached = true;
  s.probe = 7;
  s.outcome.skipped_by_sampler = true;
  s.key = "old key";
  pool.give_back(s, true);
  d::Slot& again = pool.take(nullptr);
  ASSERT_EQ(&again, &s);
  EXPECT_EQ(again.state.load(), d::Slot::State::Running);
  EXPECT_FALSE(again.response);
  EXPECT_TRUE(again.error.empty());
  EXPECT_FALSE(again.failed);
  EXPECT_FALSE(again.expired_in_queue);
  EXPECT_FALSE(again.detached);
  EXPECT_EQ(again.probe, 0U);
  EXPECT_FALSE(again.outcome.skipped_by_sampler);
  EXPECT_FALSE(again.key);
}

TEST(SlotPool, KeepsSmallInputBuffersAndFreesLargeOnes) {
  d::SlotPool pool;
  d::Slot& small = pool.take(nullptr);
  d::Slot& large = pool.take(nullptr);
  small.input.assign(1000, 'x');
  large.input.assign(d::SlotPool::keep_bytes + 1, 'x');
  pool.give_back(small, true);
  pool.give_back(large, true);
  EXPECT_GE(small.input.capacity(), 1000U);
  EXPECT_LT(large.input.capacity(), 1000U);
}

TEST(SlotPool, ASlotThatWillNotBeReusedKeepsNoBuffers) {
  d::SlotPool pool;
  d::Slot& s = pool.take(nullptr);
  s.input.assign(1000, 'x');
  pool.give_back(s, false);
  EXPECT_LT(s.input.capacity(), 1000U);
}

TEST(SlotPool, SlotsNeverMoveWhileThePoolGrows) {
  d::SlotPool pool;
  std::vector<d::Slot*> taken;
  for (int i = 0; i < 1000; ++i) taken.push_back(&pool.take(nullptr));
  std::size_t i = 0;
  for (d::Slot& s : pool.all()) EXPECT_EQ(&s, taken[i++]);
  EXPECT_EQ(pool.size(), 1000U);
}

// ---- the deadline queue, on a clock the test sets -----------------------------------------

const Clock::time_point t0{};  // the test's "now"

d::Slot& linked(std::deque<d::Slot>& slots, d::DeadlineQueue& q, Clock::duration timeout,
                Clock::time_point start) {
  d::Slot& s = slots.emplace_back();
  s.timeout = timeout;
  s.deadline = start + timeout;
  q.link(s);
  return s;
}

std::vector<d::Slot*> expire(d::DeadlineQueue& q, Clock::time_point now,
                             std::optional<Clock::time_point>* next = nullptr) {
  std::vector<d::Slot*> out;
  auto left = q.expire(now, [&](d::Slot& s) {
    EXPECT_FALSE(s.linked);
    out.push_back(&s);
  });
  if (next != nullptr) *next = left;
  return out;
}

TEST(DeadlineQueue, ExpiresInStartOrderExactlyAtTheDeadline) {
  std::deque<d::Slot> slots;
  d::DeadlineQueue q;
  d::Slot& a = linked(slots, q, 50ms, t0);
  d::Slot& b = linked(slots, q, 50ms, t0 + 10ms);
  d::Slot& c = linked(slots, q, 50ms, t0 + 20ms);
  EXPECT_EQ(q.earliest(), t0 + 50ms);

  std::optional<Clock::time_point> next;
  EXPECT_TRUE(expire(q, t0 + 49ms, &next).empty());
  EXPECT_EQ(next, t0 + 50ms);
  EXPECT_EQ(expire(q, t0 + 60ms, &next), (std::vector<d::Slot*>{&a, &b}));
  EXPECT_EQ(next, t0 + 70ms);
  EXPECT_TRUE(c.linked);
  EXPECT_EQ(expire(q, t0 + 70ms, &next), (std::vector<d::Slot*>{&c}));
  EXPECT_FALSE(next);
  EXPECT_FALSE(q.earliest());
}

TEST(DeadlineQueue, AnUnlinkedSlotNeverExpires) {
  std::deque<d::Slot> slots;
  d::DeadlineQueue q;
  d::Slot& a = linked(slots, q, 50ms, t0);
  d::Slot& b = linked(slots, q, 50ms, t0 + 1ms);
  d::Slot& c = linked(slots, q, 50ms, t0 + 2ms);
  q.unlink(b);
  q.unlink(b);  // twice is harmless
  EXPECT_FALSE(b.linked);
  EXPECT_EQ(expire(q, t0 + 1h), (std::vector<d::Slot*>{&a, &c}));
  q.unlink(a);  // after it expired: harmless
  EXPECT_FALSE(q.earliest());
}

TEST(DeadlineQueue, EachTimeoutHasItsOwnFifoAndTheEarliestDeadlineWins) {
  std::deque<d::Slot> slots;
  d::DeadlineQueue q;
  d::Slot& slow = linked(slots, q, 1s, t0);
  d::Slot& fast = linked(slots, q, 10ms, t0 + 5ms);  // timeout lowered at run time
  EXPECT_EQ(q.fifo_count(), 2U);
  EXPECT_EQ(q.earliest(), t0 + 15ms);
  std::optional<Clock::time_point> next;
  EXPECT_EQ(expire(q, t0 + 20ms, &next), (std::vector<d::Slot*>{&fast}));
  EXPECT_EQ(next, t0 + 1s);
  EXPECT_EQ(expire(q, t0 + 1s), (std::vector<d::Slot*>{&slow}));
}

TEST(DeadlineQueue, AnEmptyFifoIsReusedByANewTimeout) {
  std::deque<d::Slot> slots;
  d::DeadlineQueue q;
  for (int i = 0; i < 100; ++i) {
    // A timeout changed a hundred times, each drained before the next: FIFOs do not pile up.
    const auto timeout = std::chrono::milliseconds(10 + i);
    linked(slots, q, timeout, t0);
    EXPECT_EQ(expire(q, t0 + timeout).size(), 1U);
  }
  EXPECT_EQ(q.fifo_count(), 1U);
}

TEST(DeadlineQueue, ADeadlineFarAwaySaturatesInsteadOfOverflowing) {
  const auto now = Clock::now();
  EXPECT_EQ(d::deadline_after(now, Clock::duration::max()), Clock::time_point::max());
  EXPECT_EQ(d::deadline_after(now, 5ms), now + 5ms);
}

TEST(DeadlineTimer, ArmsOnlyForAnEarlierDeadlineAndKnowsAStaleWait) {
  net::io_context ctx;
  d::DeadlineTimer timer;
  const auto at = Clock::now() + 1h;
  EXPECT_TRUE(timer.needs(at));
  const std::uint64_t first = timer.set(ctx.get_executor(), at);
  EXPECT_FALSE(timer.needs(at + 1s));  // later deadlines wait for the sweep
  EXPECT_TRUE(timer.needs(at - 1s));   // an earlier one re-arms
  const std::uint64_t second = timer.set(ctx.get_executor(), at - 1s);
  EXPECT_FALSE(timer.fired(first));  // the first wait is stale
  EXPECT_FALSE(timer.needs(at));
  EXPECT_TRUE(timer.fired(second));
  EXPECT_TRUE(timer.needs(at));  // fired: the next link arms again
}

TEST(DeadlineTimer, FiresOnTheContextAndADisarmedWaitIsStale) {
  net::io_context ctx;
  d::DeadlineTimer timer;
  std::vector<bool> fired;
  const std::uint64_t gen = timer.set(ctx.get_executor(), Clock::now());
  timer.timer().async_wait([&](request_shadow::error_code) { fired.push_back(timer.fired(gen)); });
  ctx.run();
  ASSERT_EQ(fired.size(), 1U);
  EXPECT_TRUE(fired[0]);

  ctx.restart();
  const std::uint64_t later = timer.set(ctx.get_executor(), Clock::now() + 1h);
  request_shadow::error_code seen;
  timer.timer().async_wait([&](request_shadow::error_code ec) {
    seen = ec;
    fired.push_back(timer.fired(later));
  });
  timer.disarm();
  ctx.run();  // returns at once: the wait was cancelled
  ASSERT_EQ(fired.size(), 2U);
  EXPECT_FALSE(fired[1]);
  EXPECT_EQ(seen, net::error::operation_aborted);
}

// ---- the job queue and the idle workers ---------------------------------------------------

TEST(JobQueue, HandsJobsOutOldestFirst) {
  std::deque<d::Slot> slots(3);
  d::JobQueue q;
  EXPECT_TRUE(q.empty());
  for (d::Slot& s : slots) q.push(s);
  EXPECT_EQ(q.pop(), &slots[0]);
  q.push(slots[0]);
  EXPECT_EQ(q.pop(), &slots[1]);
  EXPECT_EQ(q.pop(), &slots[2]);
  EXPECT_EQ(q.pop(), &slots[0]);
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_TRUE(q.empty());
}

TEST(IdleWorkers, TheMostRecentlyIdleWorkerGoesFirst) {
  net::io_context ctx;
  d::Worker a(ctx.get_executor());
  d::Worker b(ctx.get_executor());
  d::Worker c(ctx.get_executor());
  d::IdleWorkers idle;
  idle.push(a);
  idle.push(b);
  idle.push(c);
  EXPECT_TRUE(b.idle);
  idle.remove(b);  // exiting
  EXPECT_FALSE(b.idle);
  EXPECT_EQ(idle.pop(), &c);
  EXPECT_EQ(idle.pop(), &a);
  EXPECT_EQ(idle.pop(), nullptr);
  EXPECT_FALSE(a.idle);
}

TEST(IdleWorkers, RetiringWakesTheParkedOnesAndMarksEveryOne) {
  net::io_context ctx;
  d::AdaptiveMutex mutex;
  auto w = std::make_shared<d::Worker>(ctx.get_executor());
  d::Worker other(ctx.get_executor());
  d::IdleWorkers idle;
  idle.push(*w);
  idle.push(other);
  bool woke = false;
  net::co_spawn(
      ctx,
      [&]() -> net::awaitable<void> {
        co_await d::async_park(
            mutex, w->parked, [&] { return w->retire; }, nullptr, 0, net::use_awaitable);
        woke = true;
      },
      net::detached);
  ctx.poll();
  ASSERT_TRUE(w->parked);
  std::vector<d::Parked> wake;
  {
    const std::lock_guard lock(mutex);
    idle.retire_all(wake);
  }
  EXPECT_TRUE(w->retire);
  EXPECT_TRUE(other.retire);
  EXPECT_TRUE(idle.empty());
  ASSERT_EQ(wake.size(), 1U);  // only the parked one
  for (auto& h : wake) net::post(std::move(h));
  ctx.run();
  EXPECT_TRUE(woke);
}

// ---- the park operation -------------------------------------------------------------------

struct Spot {
  d::AdaptiveMutex mutex;
  std::optional<d::Parked> parked;
  std::uint64_t gen = 1;
  bool ready = false;
};

net::awaitable<void> park_on(Spot& spot, std::uint64_t gen, int& resumed) {
  co_await d::async_park(
      spot.mutex, spot.parked, [&spot] { return spot.ready; }, &spot.gen, gen, net::use_awaitable);
  ++resumed;
}

TEST(Park, WaitsUntilUnparkedAndResumed) {
  net::io_context ctx;
  Spot spot;
  int resumed = 0;
  net::co_spawn(ctx, park_on(spot, spot.gen, resumed), net::detached);
  ctx.poll();
  EXPECT_EQ(resumed, 0);
  ASSERT_TRUE(spot.parked);
  std::optional<d::Parked> h;
  {
    const std::lock_guard lock(spot.mutex);
    d::unpark_into(spot.parked, h);
  }
  EXPECT_FALSE(spot.parked);
  ASSERT_TRUE(h);
  net::post(ctx, [&h] { d::resume(std::move(*h)); });  // inline: on the context's thread
  ctx.run();
  EXPECT_EQ(resumed, 1);
}

TEST(Park, CompletesAtOnceWhenAlreadyReady) {
  net::io_context ctx;
  Spot spot;
  spot.ready = true;
  int resumed = 0;
  net::co_spawn(ctx, park_on(spot, spot.gen, resumed), net::detached);
  ctx.run();
  EXPECT_EQ(resumed, 1);
  EXPECT_FALSE(spot.parked);
}

TEST(Park, ACancelledWaitResumesAndLeavesTheSpotEmpty) {
  net::io_context ctx;
  Spot spot;
  int resumed = 0;
  net::cancellation_signal cancel;
  net::co_spawn(ctx, park_on(spot, spot.gen, resumed),
                net::bind_cancellation_slot(cancel.slot(), net::detached));
  ctx.poll();
  ASSERT_TRUE(spot.parked);
  cancel.emit(net::cancellation_type::terminal);
  ctx.run();
  EXPECT_EQ(resumed, 1);
  EXPECT_FALSE(spot.parked);
}

TEST(Park, ACancelForAReusedSpotIsIgnored) {
  net::io_context ctx;
  Spot spot;
  int resumed = 0;
  net::cancellation_signal cancel;
  net::co_spawn(ctx, park_on(spot, spot.gen, resumed),
                net::bind_cancellation_slot(cancel.slot(), net::detached));
  ctx.poll();
  ASSERT_TRUE(spot.parked);
  ++spot.gen;  // the spot now belongs to another wait
  cancel.emit(net::cancellation_type::terminal);
  ctx.poll();
  EXPECT_EQ(resumed, 0);
  ASSERT_TRUE(spot.parked);
  std::optional<d::Parked> h = d::unpark(spot.parked);
  net::post(std::move(*h));
  ctx.run();
  EXPECT_EQ(resumed, 1);
}

// ---- the admission budget -----------------------------------------------------------------

TEST(AdmissionBudget, ChunksGrowWithTheBound) {
  EXPECT_EQ(d::AdmissionBudget(0).bound(), 1U);
  EXPECT_EQ(d::AdmissionBudget(100).chunk(), 1U);
  EXPECT_EQ(d::AdmissionBudget(1024).chunk(), 8U);
  EXPECT_EQ(d::AdmissionBudget(100000).chunk(), 32U);
}

TEST(AdmissionBudget, TheBoundHoldsAcrossLanes) {
  for (const std::size_t bound : {1U, 7U, 256U, 1000U, 5000U}) {
    d::AdmissionBudget budget(bound);
    std::vector<std::size_t> credits(3, 0);
    std::size_t admitted = 0;
    // Lanes take in turn until every one is refused.
    for (bool any = true; any;) {
      any = false;
      for (auto& c : credits) {
        if (budget.admit(c, [&] {
              for (auto& other : credits) {
                if (&other != &c) budget.give_back(other);
              }
            })) {
          ++admitted;
          any = true;
        }
      }
    }
    EXPECT_EQ(admitted, bound) << "bound " << bound;
    // Everything in use, nothing spare anywhere.
    EXPECT_EQ(budget.left(), 0U);
  }
}

TEST(AdmissionBudget, SparesAreCappedAndGoBackWhenALaneIsDead) {
  d::AdmissionBudget budget(4096);  // chunk 32
  std::size_t credits = 0;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(budget.admit(credits, [] {}));
  for (int i = 0; i < 100; ++i) budget.done(credits, true);
  EXPECT_LE(credits, 2 * budget.chunk());
  EXPECT_EQ(budget.left() + credits, budget.bound());
  ASSERT_TRUE(budget.admit(credits, [] {}));
  budget.done(credits, false);  // its context is gone: keeps nothing
  EXPECT_EQ(credits, 0U);
  EXPECT_EQ(budget.left(), budget.bound());
}

TEST(AdmissionBudget, AnEmptyBudgetTakesBackOtherLanesSpares) {
  d::AdmissionBudget budget(512);  // chunk 4
  std::size_t a = 0;
  std::size_t b = 0;
  for (std::size_t i = 0; i < 510; ++i) ASSERT_TRUE(budget.admit(a, [] {}));
  for (int i = 0; i < 8; ++i) budget.done(a, true);  // a keeps its spares
  ASSERT_GT(a, 0U);
  std::size_t in_use = 502;
  // b finds the budget short and takes back a's spares through the reclaim callback.
  while (budget.admit(b, [&] { budget.give_back(a); })) ++in_use;
  EXPECT_EQ(in_use, budget.bound());
  EXPECT_EQ(a, 0U);
  // While the budget is low, a lane whose leg ends keeps no spare.
  budget.done(b, true);
  EXPECT_EQ(b, 0U);
}

// ---- the lane's mutex ---------------------------------------------------------------------

TEST(AdaptiveMutex, TryLockFailsWhileHeldAndSucceedsOnceFree) {
  d::AdaptiveMutex m;
  ASSERT_TRUE(m.try_lock());
  EXPECT_FALSE(m.try_lock());
  m.unlock();
  EXPECT_TRUE(m.try_lock());
  m.unlock();
  {
    const std::unique_lock lock(m, std::try_to_lock);
    EXPECT_TRUE(lock.owns_lock());
    EXPECT_FALSE(m.try_lock());
  }
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

TEST(AdaptiveMutex, ThreadsNeverOverlapInsideIt) {
  d::AdaptiveMutex m;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  long total = 0;  // plain: only ever touched under the mutex
  constexpr int threads = 4;
  constexpr int rounds = 50'000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < rounds; ++i) {
        const std::lock_guard lock(m);
        if (inside.fetch_add(1, std::memory_order_relaxed) != 0) overlaps.fetch_add(1);
        ++total;
        inside.fetch_sub(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(total, long{threads} * rounds);
}

// Waiters held out far longer than they spin go to sleep; each unlock must wake one of them.
TEST(AdaptiveMutex, SleepingWaitersAreWokenOneUnlockAfterAnother) {
  auto m = std::make_shared<d::AdaptiveMutex>();  // shared: a thread left behind keeps it alive
  constexpr int waiters = 3;
  std::vector<std::future<void>> got;
  std::vector<std::thread> pool;
  m->lock();
  for (int i = 0; i < waiters; ++i) {
    std::promise<void> p;
    got.push_back(p.get_future());
    pool.emplace_back([m, p = std::move(p)]() mutable {
      m->lock();
      p.set_value();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the others sleep meanwhile
      m->unlock();
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // long past any spinning
  for (auto& f : got) EXPECT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  m->unlock();
  bool all = true;
  for (auto& f : got) {
    all = all && f.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  }
  EXPECT_TRUE(all) << "a waiter was never woken";
  for (auto& t : pool) {
    if (all) {
      t.join();
    } else {
      t.detach();
    }
  }
}

// ---- lanes and their shutdown service -----------------------------------------------------

struct FakeOwner final : d::LaneOwner {
  std::vector<d::Lane*> shut;
  void shutdown_lane(d::Lane& lane) override { shut.push_back(&lane); }
};

TEST(LaneList, MakesOneLanePerContextAndSkipsDeadOnes) {
  net::io_context a;
  net::io_context b;
  d::LaneList lanes;
  int made = 0;
  auto make_for = [&](net::io_context& ctx) {
    return [&made, &ctx] {
      ++made;
      auto lane = std::make_unique<d::Lane>();
      lane->context = &ctx;
      return lane;
    };
  };
  EXPECT_EQ(lanes.find(&a), nullptr);
  d::Lane& la = lanes.find_or_add(&a, make_for(a));
  EXPECT_EQ(&lanes.find_or_add(&a, make_for(a)), &la);
  d::Lane& lb = lanes.find_or_add(&b, make_for(b));
  EXPECT_NE(&la, &lb);
  EXPECT_EQ(made, 2);
  EXPECT_EQ(lanes.head(), &lb);
  EXPECT_EQ(lb.next_lane, &la);
  la.alive = false;  // its context shut down
  EXPECT_EQ(lanes.find(&a), nullptr);
  d::Lane& again = lanes.find_or_add(&a, make_for(a));
  EXPECT_NE(&again, &la);
  EXPECT_EQ(made, 3);
}

TEST(LaneRegistry, ShutsDownTheLanesOfLiveOwnersWithTheirContext) {
  auto live = std::make_shared<FakeOwner>();
  auto gone = std::make_shared<FakeOwner>();
  auto forgotten = std::make_shared<FakeOwner>();
  auto later = std::make_shared<FakeOwner>();
  d::Lane one;
  d::Lane two;
  d::Lane three;
  d::Lane four;
  {
    net::io_context ctx;
    auto& registry = net::use_service<d::LaneRegistry>(ctx);
    registry.add(live, &one);
    registry.add(forgotten, &three);
    forgotten.reset();  // its engine was destroyed: the next add forgets its lane
    registry.add(gone, &two);
    EXPECT_EQ(registry.size(), 2U);
    registry.add(later, &four);
    EXPECT_EQ(registry.size(), 3U);
    gone.reset();  // destroyed after the last add: skipped at shutdown
    EXPECT_TRUE(live->shut.empty());
  }
  EXPECT_EQ(live->shut, (std::vector<d::Lane*>{&one}));
  EXPECT_EQ(later->shut, (std::vector<d::Lane*>{&four}));
}

}  // namespace
