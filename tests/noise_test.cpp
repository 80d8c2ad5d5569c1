// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/shadower.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <request_shadow/asio.hpp>
#include <stdexcept>
#include <string>

#include "test_support.hpp"

namespace rs = request_shadow;
using namespace std::chrono_literals;
using rs::NoiseKind;
using rs::ResponseRecord;
using rs::ShadowConfig;
using rs::test::Probe;

namespace {

// A service that stamps every answer with a fresh request id, in a header and in the body:
// `id=<n>;price=<price>` (`text/kv`); with `raises`, `price` is one more when the input says
// "raise".
struct StampingService {
  std::shared_ptr<std::atomic<int>> next = std::make_shared<std::atomic<int>>(0);
  int price = 10;
  std::uint16_t status = 200;
  bool raises = false;
  std::shared_ptr<Probe> probe = std::make_shared<Probe>();

  net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
    ++probe->calls;
    const int id = (*next)++;
    const bool raise = raises && rs::test::text(input).find("raise") != std::string::npos;
    ResponseRecord r = ResponseRecord::success("id=" + std::to_string(id) +
                                               ";price=" + std::to_string(price + (raise ? 1 : 0)));
    r.status = status;
    r.headers.add("content-type", "text/kv");
    r.headers.add("x-request-id", std::to_string(id));
    ++probe->completed;
    co_return r;
  }
};

// The candidate: its own request ids, from 1000, and a higher price for "raise".
StampingService candidate() {
  StampingService s{std::make_shared<std::atomic<int>>(1000)};
  s.raises = true;
  return s;
}

ShadowConfig kv_config(rs::NoiseCancellation rule = {}) {
  return ShadowConfig().body_comparator(rs::test::kv_comparator()).noise_cancellation(rule);
}

template <class P, class S>
rs::ShadowOutcome call(net::io_context& ctx, const rs::Shadower<P, S>& sh, std::string input) {
  auto task = [](rs::Shadower<P, S> s, std::string in) -> net::awaitable<rs::ShadowOutcome> {
    co_return co_await s.call(in);
  };
  return rs::test::run(ctx, task(sh, std::move(input)));
}

const rs::NoiseCount* find(const std::vector<rs::NoiseCount>& counts, NoiseKind kind,
                           std::string_view name) {
  for (const auto& c : counts) {
    if (c.kind == kind && c.name == name) return &c;
  }
  return nullptr;
}

}  // namespace

TEST(Noise, RecallingThePrimaryCancelsWhatDiffersBetweenTwoPrimaryAnswers) {
  net::io_context ctx;
  StampingService primary;
  rs::Shadower sh(std::make_shared<StampingService>(primary),
                  std::make_shared<StampingService>(candidate()), kv_config());
  const auto same = call(ctx, sh, "GET /a");
  EXPECT_FALSE(same.divergence) << rs::to_string(*same.divergence);
  ASSERT_TRUE(same.noise);
  ASSERT_TRUE(same.noise->headers);
  EXPECT_EQ(same.noise->headers->changed, std::vector<std::string>{"x-request-id"});
  ASSERT_TRUE(same.noise->body);
  ASSERT_EQ(same.noise->body->fields.size(), 1U);
  EXPECT_EQ(same.noise->body->fields[0].pointer, "/id");
  EXPECT_EQ(primary.probe->calls, 2);  // the call and the second answer

  const auto raised = call(ctx, sh, "GET /raise");
  ASSERT_TRUE(raised.divergence);
  EXPECT_FALSE(raised.divergence->headers);
  ASSERT_TRUE(raised.divergence->body);
  ASSERT_EQ(raised.divergence->body->fields.size(), 1U);
  EXPECT_EQ(raised.divergence->body->fields[0],
            (rs::FieldDiff{"/price", rs::FieldChange::Changed, "10", "11"}));

  const auto stats = sh.stats();
  EXPECT_EQ(stats.noise_probes, 2U);
  EXPECT_EQ(stats.noise_cancelled, 2U);
  EXPECT_EQ(stats.matched, 1U);
  EXPECT_EQ(stats.diverged, 1U);
  const auto* header = find(stats.noise, NoiseKind::Header, "x-request-id");
  const auto* pointer = find(stats.noise, NoiseKind::Pointer, "/id");
  ASSERT_TRUE(header && pointer);
  EXPECT_EQ(header->count, 2U);
  EXPECT_EQ(pointer->count, 2U);
  EXPECT_FALSE(pointer->auto_ignored);
  ASSERT_EQ(stats.signatures.size(), 1U);
  EXPECT_EQ(stats.signatures[0].signature.text, "body kv /price changed");
}

TEST(Noise, APlaceThatKeepsBeingNoisyIsIgnoredForGood) {
  net::io_context ctx;
  // The secondary answers a few times, then only throws: what was learned must still hold.
  struct FlakySecondary {
    StampingService service;
    std::shared_ptr<std::atomic<int>> left = std::make_shared<std::atomic<int>>(3);
    net::awaitable<ResponseRecord> call(std::span<const std::byte> input) {
      if ((*left)-- <= 0) throw std::runtime_error("secondary down");
      co_return co_await service.call(input);
    }
  };
  StampingService primary;
  rs::Shadower sh(std::make_shared<StampingService>(primary),
                  std::make_shared<StampingService>(candidate()),
                  std::make_shared<FlakySecondary>(FlakySecondary{StampingService{primary.next}}),
                  kv_config(rs::NoiseCancellation{3, 100}));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(call(ctx, sh, "GET /a").divergence);
  auto stats = sh.stats();
  ASSERT_NE(find(stats.noise, NoiseKind::Pointer, "/id"), nullptr);
  EXPECT_TRUE(find(stats.noise, NoiseKind::Pointer, "/id")->auto_ignored);
  EXPECT_TRUE(find(stats.noise, NoiseKind::Header, "x-request-id")->auto_ignored);
  EXPECT_EQ(primary.probe->calls, 3);  // a secondary was given: the primary is called once

  // No second answer any more, yet the learned places stay ignored.
  const auto later = call(ctx, sh, "GET /a");
  EXPECT_FALSE(later.divergence);
  EXPECT_FALSE(later.noise);
  const auto raised = call(ctx, sh, "GET /raise");
  ASSERT_TRUE(raised.divergence && raised.divergence->body);
  EXPECT_EQ(raised.divergence->body->fields.size(), 1U);
  EXPECT_FALSE(raised.divergence->headers);
  stats = sh.stats();
  EXPECT_EQ(stats.noise_probes, 3U);
  EXPECT_EQ(stats.shadow_failed, 0U);  // a failed secondary is not the candidate's failure
}

TEST(Noise, ZeroNeverIgnoresForGood) {
  net::io_context ctx;
  rs::Shadower sh(std::make_shared<StampingService>(),
                  std::make_shared<StampingService>(candidate()),
                  kv_config(rs::NoiseCancellation{0, 100}));
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(call(ctx, sh, "GET /a").divergence);
  for (const auto& c : sh.stats().noise) EXPECT_FALSE(c.auto_ignored) << c.name;
}

TEST(Noise, ANoisyByteBodyIsCancelledButNeverIgnoredForGood) {
  net::io_context ctx;
  // No comparator: bodies compare as bytes, and every answer's body is another.
  struct Counting {
    std::shared_ptr<std::atomic<int>> n = std::make_shared<std::atomic<int>>(0);
    net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) {
      co_return ResponseRecord::success("body " + std::to_string((*n)++));
    }
  };
  rs::Shadower sh(std::make_shared<Counting>(), std::make_shared<Counting>(),
                  ShadowConfig().noise_cancellation(rs::NoiseCancellation{2, 100}));
  for (int i = 0; i < 6; ++i) {
    const auto out = call(ctx, sh, "x");
    EXPECT_FALSE(out.divergence) << rs::to_string(*out.divergence);
  }
  const auto stats = sh.stats();
  const auto* body = find(stats.noise, NoiseKind::Body, "body");
  ASSERT_TRUE(body);
  EXPECT_EQ(body->count, 6U);
  EXPECT_FALSE(body->auto_ignored);
}

namespace {

// Answers `body` with `status`.
struct Fixed {
  std::string body;
  std::uint16_t status = 200;
  net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) {
    ResponseRecord r = ResponseRecord::success(body);
    r.status = status;
    r.ok = status < 400;
    co_return r;
  }
};

ShadowConfig path_config(rs::NoiseCancellation rule = {}) {
  // Bodies of `path=value` pairs, for structured noise: `items/0/price=10;items/1=x`.
  return ShadowConfig()
      .body_comparator(rs::test::kv_comparator(/*any=*/true, /*paths=*/true))
      .noise_cancellation(rule);
}

}  // namespace

TEST(Noise, NoiseAtAPlaceSaysNothingOfWhatIsInsideIt) {
  net::io_context ctx;
  // The secondary lists one more item than the primary (`/items/1` added, `/items/*` folded);
  // the candidate changes the first item's price: `/items/*/price`, another place.
  rs::Shadower sh(std::make_shared<Fixed>(Fixed{"items/0/price=10"}),
                  std::make_shared<Fixed>(Fixed{"items/0/price=99"}),
                  std::make_shared<Fixed>(Fixed{"items/0/price=10;items/1=x"}), path_config());
  const auto out = call(ctx, sh, "GET /items");
  ASSERT_TRUE(out.divergence);
  ASSERT_TRUE(out.divergence->body);
  ASSERT_EQ(out.divergence->body->fields.size(), 1U);
  EXPECT_EQ(out.divergence->body->fields[0].pointer, "/items/0/price");
  EXPECT_FALSE(out.noise);
  const auto stats = sh.stats();
  const auto* items = find(stats.noise, NoiseKind::Pointer, "/items/*");
  ASSERT_TRUE(items);
  EXPECT_EQ(items->count, 1U);
}

TEST(Noise, AnErrorAnswerFromTheSecondaryIsNoReference) {
  net::io_context ctx;
  // The secondary is rate limited: a 429 with another body entirely. Learning from it would
  // take every difference for noise, and ignore `/price` and `/total` for good.
  rs::Shadower sh(std::make_shared<Fixed>(Fixed{"price=10;total=1"}),
                  std::make_shared<Fixed>(Fixed{"price=99;total=5"}),
                  std::make_shared<Fixed>(Fixed{"error=rate limited", 429}),
                  path_config(rs::NoiseCancellation{2, 100}));
  for (int i = 0; i < 5; ++i) {
    const auto out = call(ctx, sh, "GET /cart");
    ASSERT_TRUE(out.divergence) << i;
    ASSERT_TRUE(out.divergence->body) << i;
    EXPECT_EQ(out.divergence->body->fields.size(), 2U) << i;
    EXPECT_FALSE(out.noise) << i;
  }
  const auto stats = sh.stats();
  EXPECT_TRUE(stats.noise.empty());
  EXPECT_EQ(stats.noise_probes, 0U);
}

TEST(Noise, ASecondaryWithAnotherKindOfDocumentIsNoReference) {
  net::io_context ctx;
  // A comparator that reports the whole document's type change at the root pointer.
  rs::BodyComparator roots;
  roots.name = "roots";
  roots.compare = [](std::string_view a, std::string_view b, const rs::PointerPatterns&) {
    rs::BodyComparison out;
    if (a.substr(0, 1) != b.substr(0, 1)) {
      out.fields.push_back({"", rs::FieldChange::TypeChanged, std::string(a), std::string(b)});
    } else if (a != b) {
      out.fields.push_back({"/0", rs::FieldChange::Changed, std::string(a), std::string(b)});
    }
    return out;
  };
  rs::Shadower sh(std::make_shared<Fixed>(Fixed{"[1]"}), std::make_shared<Fixed>(Fixed{"[2]"}),
                  std::make_shared<Fixed>(Fixed{"{}"}),
                  ShadowConfig().body_comparator(roots).noise_cancellation({}));
  const auto out = call(ctx, sh, "GET /");
  ASSERT_TRUE(out.divergence);
  EXPECT_FALSE(out.noise);
  EXPECT_TRUE(sh.stats().noise.empty());
}

TEST(Noise, ASecondaryBodyTheComparatorCannotReadIsNoReference) {
  net::io_context ctx;
  // The candidate answers an error page and the secondary a truncated body: neither is read by
  // the comparator, and the two byte diffs say nothing of each other.
  rs::Shadower sh(std::make_shared<Fixed>(Fixed{"total=10"}),
                  std::make_shared<Fixed>(Fixed{"Internal error"}),
                  std::make_shared<Fixed>(Fixed{"total"}), path_config());
  const auto out = call(ctx, sh, "GET /cart");
  ASSERT_TRUE(out.divergence);
  ASSERT_TRUE(out.divergence->body);
  EXPECT_FALSE(out.divergence->body->fallback.empty());
  EXPECT_FALSE(out.noise);
  const auto stats = sh.stats();
  EXPECT_EQ(stats.diverged, 1U);
  EXPECT_EQ(stats.noise_probes, 0U);
}

TEST(Noise, StructureIsCancelledCallByCallButNeverIgnoredForGood) {
  net::io_context ctx;
  // Both the secondary and the candidate add `/debug`; only a value changes at `/now`.
  rs::Shadower sh(std::make_shared<Fixed>(Fixed{"price=10;now=1"}),
                  std::make_shared<Fixed>(Fixed{"price=10;now=3;debug=on"}),
                  std::make_shared<Fixed>(Fixed{"price=10;now=2;debug=on"}),
                  path_config(rs::NoiseCancellation{2, 100}));
  for (int i = 0; i < 4; ++i) {
    const auto out = call(ctx, sh, "GET /");
    EXPECT_FALSE(out.divergence) << i << ": " << rs::to_string(*out.divergence);
  }
  const auto stats = sh.stats();
  const auto* debug = find(stats.noise, NoiseKind::Pointer, "/debug");
  const auto* now = find(stats.noise, NoiseKind::Pointer, "/now");
  ASSERT_TRUE(debug && now);
  EXPECT_EQ(debug->count, 4U);
  EXPECT_FALSE(debug->auto_ignored);
  EXPECT_TRUE(now->auto_ignored);
}

TEST(Noise, RealDifferencesOutsideTheNoiseAreStillReported) {
  net::io_context ctx;
  StampingService failing = candidate();
  failing.status = 500;
  rs::Shadower sh(std::make_shared<StampingService>(), std::make_shared<StampingService>(failing),
                  kv_config());
  const auto out = call(ctx, sh, "GET /raise");
  ASSERT_TRUE(out.divergence);
  ASSERT_TRUE(out.divergence->status);
  EXPECT_EQ(out.divergence->status->shadow, 500);
  ASSERT_TRUE(out.noise);
  EXPECT_FALSE(out.noise->status);
}

TEST(Noise, ASecondaryThatThrowsLeavesTheComparisonAsItWas) {
  net::io_context ctx;
  rs::Shadower sh(std::make_shared<StampingService>(),
                  std::make_shared<StampingService>(candidate()),
                  std::make_shared<rs::test::ThrowingBackend<>>(rs::test::ThrowingBackend<>{"no"}),
                  kv_config());
  const auto out = call(ctx, sh, "GET /a");
  ASSERT_TRUE(out.shadow);
  ASSERT_TRUE(out.divergence);  // nothing to tell the request id from a real difference
  EXPECT_FALSE(out.noise);
  EXPECT_EQ(sh.stats().noise_probes, 0U);
}

TEST(Noise, ASecondaryThatHangsCannotHoldTheCallerPastTheDeadline) {
  net::io_context ctx;
  auto hang = std::make_shared<rs::test::DelayedBackend>(rs::test::DelayedBackend{1h, false});
  rs::Shadower sh(std::make_shared<StampingService>(),
                  std::make_shared<StampingService>(candidate()), hang,
                  kv_config().shadow_timeout(50ms));
  const auto started = std::chrono::steady_clock::now();
  const auto out = call(ctx, sh, "GET /a");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_EQ(out.primary.headers.get("x-request-id"), "0");
  // The shadow answered in time: its answer is compared, without a secondary to cancel noise.
  EXPECT_FALSE(out.shadow_failed);
  ASSERT_TRUE(out.shadow);
  EXPECT_TRUE(out.divergence);
  EXPECT_FALSE(out.noise);
  EXPECT_EQ(sh.stats().shadow_timed_out, 0U);
  EXPECT_EQ(sh.stats().noise_probes, 0U);
}

TEST(Noise, ASlowSecondaryIsNeverCountedAsTheShadowsTimeout) {
  net::io_context ctx;
  auto slow = std::make_shared<rs::test::DelayedBackend>(rs::test::DelayedBackend{10s});
  rs::Shadower sh(std::make_shared<StampingService>(),
                  std::make_shared<StampingService>(candidate()), slow,
                  kv_config().shadow_timeout(50ms).auto_stop(rs::AutoStop{0.5, 4, 1h}));
  for (int i = 0; i < 8; ++i) {
    const auto out = call(ctx, sh, "GET /a");
    EXPECT_TRUE(out.shadow) << i;
    EXPECT_FALSE(out.shadow_failed) << i;
  }
  const auto stats = sh.stats();
  EXPECT_EQ(stats.shadow_ok, 8U);
  EXPECT_EQ(stats.shadow_timed_out, 0U);
  EXPECT_EQ(stats.auto_stops, 0U);
  EXPECT_FALSE(stats.auto_stopped);
}

TEST(Noise, AFailedShadowDoesNotWaitForItsSecondary) {
  net::io_context ctx;
  auto slow = std::make_shared<rs::test::DelayedBackend>(rs::test::DelayedBackend{1h});
  rs::Shadower sh(
      std::make_shared<StampingService>(),
      std::make_shared<rs::test::ThrowingBackend<>>(rs::test::ThrowingBackend<>{"v2 down"}), slow,
      kv_config().shadow_timeout(1h));
  const auto started = std::chrono::steady_clock::now();
  const auto out = call(ctx, sh, "GET /a");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  ASSERT_TRUE(out.shadow_failed);
  EXPECT_EQ(out.shadow_failed->kind, rs::ShadowFailureKind::Failed);
  EXPECT_NE(out.shadow_failed->message.find("v2 down"), std::string::npos)
      << out.shadow_failed->message;
  ctx.restart();
  ctx.run();  // the secondary was cancelled: nothing is left to run
  EXPECT_EQ(slow->probe->cancelled.load(), 1);
}

TEST(Noise, AFailedShadowFreesItsWorkerBeforeItsCallerGoesOn) {
  net::io_context ctx;
  // One shadow leg at a time: each call's leg must be over (its secondary cancelled) when the
  // caller is released, or the next call would be shed.
  auto slow = std::make_shared<rs::test::DelayedBackend>(rs::test::DelayedBackend{10s});
  rs::Shadower sh(
      std::make_shared<StampingService>(),
      std::make_shared<rs::test::ThrowingBackend<>>(rs::test::ThrowingBackend<>{"v2 down"}), slow,
      kv_config().shadow_timeout(1h).max_in_flight_shadows(1));
  for (int i = 0; i < 5; ++i) {
    const auto out = call(ctx, sh, "GET /a");
    ASSERT_TRUE(out.shadow_failed) << i;
    EXPECT_EQ(out.shadow_failed->kind, rs::ShadowFailureKind::Failed) << i;
  }
  const auto stats = sh.stats();
  EXPECT_EQ(stats.shadow_failed, 5U);
  EXPECT_EQ(stats.shed, 0U);
  EXPECT_EQ(slow->probe->cancelled.load(), 5);
}

TEST(Noise, ASecondaryWhoseCallThrowsBeforeItsCoroutineIsNotTheShadowsFailure) {
  net::io_context ctx;
  // A backend whose `call` validates its input before it returns an awaitable.
  struct Validating {
    net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) {
      throw std::invalid_argument("rejected before any coroutine");
    }
  };
  auto shadow = std::make_shared<StampingService>(candidate());
  rs::Shadower sh(std::make_shared<StampingService>(), shadow, std::make_shared<Validating>(),
                  kv_config());
  const auto out = call(ctx, sh, "GET /a");
  EXPECT_FALSE(out.shadow_failed);
  ASSERT_TRUE(out.shadow);
  EXPECT_EQ(shadow->probe->completed.load(), 1);
  EXPECT_EQ(sh.stats().noise_probes, 0U);
}

TEST(Noise, DetachedCallsCancelNoiseToo) {
  net::io_context ctx;
  rs::Shadower sh(std::make_shared<StampingService>(),
                  std::make_shared<StampingService>(candidate()), kv_config());
  auto seen = std::make_shared<std::vector<rs::ShadowOutcome>>();
  sh.on_outcome([seen](const rs::ShadowOutcome& o) { seen->push_back(o); });
  auto task = [](auto s) -> net::awaitable<ResponseRecord> {
    co_return co_await s.call_detached(std::string_view("GET /a"));
  };
  const auto primary = rs::test::run(ctx, task(sh));
  ctx.restart();
  ctx.run();
  EXPECT_EQ(primary.headers.get("x-request-id"), "0");
  ASSERT_EQ(seen->size(), 1U);
  EXPECT_FALSE((*seen)[0].divergence);
  EXPECT_TRUE((*seen)[0].noise);
}

TEST(Noise, TrackingIsBounded) {
  net::io_context ctx;
  // Every answer has a differently named noisy header.
  struct ManyHeaders {
    std::shared_ptr<std::atomic<int>> n = std::make_shared<std::atomic<int>>(0);
    net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) {
      co_return ResponseRecord::success("same").with_header("x-" + std::to_string((*n)++), "1");
    }
  };
  rs::Shadower sh(std::make_shared<ManyHeaders>(), std::make_shared<ManyHeaders>(),
                  ShadowConfig().noise_cancellation(rs::NoiseCancellation{10, 4}));
  for (int i = 0; i < 10; ++i) (void)call(ctx, sh, "x");
  EXPECT_EQ(sh.stats().noise.size(), 4U);
}

namespace {

// Answers whatever `next` holds; the test sets it between calls.
struct Settable {
  ResponseRecord next = ResponseRecord::success("");
  net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) { co_return next; }
};

// `path=value` bodies, in which a value of digits only is a number and any other a string: a
// string that becomes a number is a type change.
rs::BodyComparator typed_paths() {
  rs::BodyComparator c = rs::test::kv_comparator(/*any=*/true, /*paths=*/true);
  c.name = "typed";
  c.compare = [inner = c.compare](std::string_view a, std::string_view b,
                                  const rs::PointerPatterns& ignored) {
    rs::BodyComparison out = inner(a, b, ignored);
    const auto number = [](const std::string& v) {
      return !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
    };
    for (auto& f : out.fields) {
      if (f.change == rs::FieldChange::Changed && number(f.primary) != number(f.shadow)) {
        f.change = rs::FieldChange::TypeChanged;
      }
    }
    return out;
  };
  return c;
}

// Three settable backends behind one Shadower: the primary, the candidate, the secondary.
struct Trio {
  std::shared_ptr<Settable> primary = std::make_shared<Settable>();
  std::shared_ptr<Settable> candidate = std::make_shared<Settable>();
  std::shared_ptr<Settable> secondary = std::make_shared<Settable>();
  rs::Shadower<Settable, Settable> shadower;

  explicit Trio(ShadowConfig config) : shadower(primary, candidate, secondary, std::move(config)) {}

  rs::ShadowOutcome call(net::io_context& ctx, std::string_view p, std::string_view c,
                         std::string_view s) {
    primary->next = ResponseRecord::success(p);
    candidate->next = ResponseRecord::success(c);
    secondary->next = ResponseRecord::success(s);
    return ::call(ctx, shadower, "GET /");
  }
};

std::vector<rs::FieldDiff> fields_of(const rs::ShadowOutcome& out) {
  if (!out.divergence || !out.divergence->body) return {};
  return out.divergence->body->fields;
}

}  // namespace

TEST(Noise, AValueLearnedAsNoiseStillShowsWhenItIsRemovedOrChangesType) {
  net::io_context ctx;
  Trio t(ShadowConfig().body_comparator(typed_paths()).noise_cancellation({10, 100}));
  for (int i = 0; i < 10; ++i) {
    const std::string n = std::to_string(i);
    const auto out = t.call(ctx, "request_id=p" + n + ";price=10", "request_id=c" + n + ";price=10",
                            "request_id=s" + n + ";price=10");
    EXPECT_FALSE(out.divergence) << i << ": " << rs::to_string(*out.divergence);
  }
  const auto stats = t.shadower.stats();
  const auto* learned = find(stats.noise, NoiseKind::Pointer, "/request_id");
  ASSERT_TRUE(learned);
  EXPECT_TRUE(learned->auto_ignored);

  // The secondary agrees with the primary: only what was learned can hide anything.
  const auto removed = t.call(ctx, "request_id=p;price=10", "price=10", "request_id=p;price=10");
  EXPECT_EQ(fields_of(removed),
            (std::vector<rs::FieldDiff>{{"/request_id", rs::FieldChange::Removed, "p", ""}}));
  const auto retyped =
      t.call(ctx, "request_id=p;price=10", "request_id=5;price=10", "request_id=p;price=10");
  EXPECT_EQ(fields_of(retyped),
            (std::vector<rs::FieldDiff>{{"/request_id", rs::FieldChange::TypeChanged, "p", "5"}}));
  const auto nested = t.call(ctx, "request_id=p;price=10", "request_id=p;request_id/x=1;price=10",
                             "request_id=p;price=10");
  EXPECT_EQ(fields_of(nested),
            (std::vector<rs::FieldDiff>{{"/request_id/x", rs::FieldChange::Added, "", "1"}}));
  // A change of value there is what was learned: still ignored.
  EXPECT_FALSE(
      t.call(ctx, "request_id=p;price=10", "request_id=q;price=10", "request_id=p;price=10")
          .divergence);
}

TEST(Noise, AHeaderLearnedAsNoiseStillShowsWhenItIsRemoved) {
  net::io_context ctx;
  Trio t(ShadowConfig().noise_cancellation({3, 100}));
  auto with_id = [](std::string id) {
    return ResponseRecord::success("same").with_header("x-request-id", std::move(id));
  };
  for (int i = 0; i < 3; ++i) {
    t.primary->next = with_id("p" + std::to_string(i));
    t.candidate->next = with_id("c" + std::to_string(i));
    t.secondary->next = with_id("s" + std::to_string(i));
    EXPECT_FALSE(call(ctx, t.shadower, "GET /").divergence) << i;
  }
  const auto stats = t.shadower.stats();
  const auto* learned = find(stats.noise, NoiseKind::Header, "x-request-id");
  ASSERT_TRUE(learned);
  EXPECT_TRUE(learned->auto_ignored);
  t.primary->next = with_id("p");
  t.secondary->next = with_id("p");
  t.candidate->next = ResponseRecord::success("same");
  const auto out = call(ctx, t.shadower, "GET /");
  ASSERT_TRUE(out.divergence && out.divergence->headers);
  EXPECT_EQ(out.divergence->headers->removed, std::vector<std::string>{"x-request-id"});
  t.candidate->next = with_id("c");
  EXPECT_FALSE(call(ctx, t.shadower, "GET /").divergence);
}

TEST(Noise, AMemberNamedStarIsLearnedAsItselfNotAsAWildcard) {
  net::io_context ctx;
  // Member names written as escaped pointer tokens: `*` is `/*`, `a/b` is `/a~1b`.
  Trio t(
      ShadowConfig().body_comparator(rs::test::kv_comparator(true)).noise_cancellation({2, 100}));
  for (int i = 0; i < 2; ++i) {
    const std::string n = std::to_string(i);
    const auto out =
        t.call(ctx, "*=p" + n + ";a/b=p" + n + ";price=10", "*=c" + n + ";a/b=c" + n + ";price=10",
               "*=s" + n + ";a/b=s" + n + ";price=10");
    EXPECT_FALSE(out.divergence) << i << ": " << rs::to_string(*out.divergence);
  }
  const auto stats = t.shadower.stats();
  ASSERT_TRUE(find(stats.noise, NoiseKind::Pointer, "/*"));
  EXPECT_TRUE(find(stats.noise, NoiseKind::Pointer, "/*")->auto_ignored);
  ASSERT_TRUE(find(stats.noise, NoiseKind::Pointer, "/a~1b"));
  EXPECT_TRUE(find(stats.noise, NoiseKind::Pointer, "/a~1b")->auto_ignored);

  const std::string same = "*=p;a/b=p;a~1b=1;price=10";
  const auto out = t.call(ctx, same, "*=q;a/b=q;a~1b=2;price=99;extra=1", same);
  EXPECT_EQ(fields_of(out), (std::vector<rs::FieldDiff>{
                                {"/a~01b", rs::FieldChange::Changed, "1", "2"},
                                {"/price", rs::FieldChange::Changed, "10", "99"},
                                {"/extra", rs::FieldChange::Added, "", "1"},
                            }));
}

TEST(Noise, ValueNoiseDoesNotCancelARemovalAtTheSamePlace) {
  net::io_context ctx;
  Trio t(ShadowConfig().body_comparator(typed_paths()).noise_cancellation({}));
  const auto out = t.call(ctx, "x=1;y=a", "y=a", "x=2;y=a");
  EXPECT_EQ(fields_of(out),
            (std::vector<rs::FieldDiff>{{"/x", rs::FieldChange::Removed, "1", ""}}));
  EXPECT_FALSE(out.noise);
  // Nor a change of type.
  const auto retyped = t.call(ctx, "x=a", "x=1", "x=b");
  EXPECT_EQ(fields_of(retyped),
            (std::vector<rs::FieldDiff>{{"/x", rs::FieldChange::TypeChanged, "a", "1"}}));
  // The same kind at the same place is noise.
  const auto same_kind = t.call(ctx, "x=1;y=a", "y=a", "y=a");
  EXPECT_FALSE(same_kind.divergence);
  ASSERT_TRUE(same_kind.noise && same_kind.noise->body);
  EXPECT_EQ(same_kind.noise->body->fields.size(), 1U);
}

TEST(Noise, HeaderNoiseCancelsOnlyTheSameKindOfDifference) {
  net::io_context ctx;
  Trio t(ShadowConfig().noise_cancellation({}));
  t.primary->next = ResponseRecord::success("same").with_header("x-a", "1");
  t.secondary->next = ResponseRecord::success("same").with_header("x-a", "2");
  t.candidate->next = ResponseRecord::success("same");
  const auto out = call(ctx, t.shadower, "GET /");
  ASSERT_TRUE(out.divergence && out.divergence->headers);
  EXPECT_EQ(out.divergence->headers->removed, std::vector<std::string>{"x-a"});
  EXPECT_FALSE(out.noise);
}

TEST(Noise, AnErrorAnswerIsNoReferenceEvenWhenTheStatusIsIgnored) {
  net::io_context ctx;
  rs::Shadower sh(std::make_shared<Fixed>(Fixed{"price=10;tier=free"}),
                  std::make_shared<Fixed>(Fixed{"price=10;tier=gold"}),
                  std::make_shared<Fixed>(Fixed{"price=10;tier=unknown", 503}),
                  path_config().ignore(rs::IgnoreField::Status));
  const auto out = call(ctx, sh, "GET /account");
  EXPECT_EQ(fields_of(out),
            (std::vector<rs::FieldDiff>{{"/tier", rs::FieldChange::Changed, "free", "gold"}}));
  EXPECT_FALSE(out.noise);
  const auto stats = sh.stats();
  EXPECT_EQ(stats.noise_probes, 0U);
  EXPECT_TRUE(stats.noise.empty());
}

// The judgement by rates, on its own: no Shadower, no timing.

TEST(NoiseRates, APlaceIsNoiseOnlyWithinBothBoundsPastTheMinimum) {
  rs::NoiseCancellation rule;  // relative 2, absolute 0.01, min_requests 100
  using W = rs::detail::PlaceWindow;
  EXPECT_TRUE(rs::detail::judged_noise(rule, W{1000, 500, 500}));
  EXPECT_TRUE(rs::detail::judged_noise(rule, W{1000, 510, 500}));   // 1 % more: at the bound
  EXPECT_FALSE(rs::detail::judged_noise(rule, W{1000, 511, 500}));  // past `absolute`
  EXPECT_TRUE(rs::detail::judged_noise(rule, W{1000, 10, 5}));      // twice as often, 0.5 % more
  EXPECT_FALSE(rs::detail::judged_noise(rule, W{1000, 11, 5}));     // past `relative`
  EXPECT_TRUE(rs::detail::judged_noise(rule, W{1000, 0, 5}));       // the shadow differs less
  EXPECT_TRUE(rs::detail::judged_noise(rule, W{100, 1, 1}));
  EXPECT_FALSE(rs::detail::judged_noise(rule, W{99, 1, 1}));    // too few calls to judge
  EXPECT_FALSE(rs::detail::judged_noise(rule, W{1000, 0, 0}));  // the secondary never differed
  EXPECT_FALSE(rs::detail::judged_noise(rule, W{0, 0, 0}));

  rs::NoiseCancellation off;
  off.window = 0;
  EXPECT_FALSE(rs::detail::judged_noise(off, W{1000, 500, 500}));
  rs::NoiseCancellation nan;
  nan.relative = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(rs::detail::judged_noise(nan, W{1000, 500, 500}));
  rs::NoiseCancellation no_minimum;
  no_minimum.min_requests = 0;
  EXPECT_TRUE(rs::detail::judged_noise(no_minimum, W{1, 1, 1}));
}

TEST(NoiseRates, TheWindowHoldsThePreviousBlockAndTheCurrentOne) {
  rs::detail::ProbeClock clock(10);  // blocks of 5 probed calls
  rs::detail::PlaceRates rates(0);
  using W = rs::detail::PlaceWindow;
  for (int i = 0; i < 5; ++i) rates.record(clock, clock.tick(), true, i % 2 == 0);
  EXPECT_EQ(rates.read(clock), (W{5, 5, 3}));
  for (int i = 0; i < 3; ++i) rates.record(clock, clock.tick(), false, true);
  EXPECT_EQ(rates.read(clock), (W{8, 5, 6}));
  // Calls that do not differ here still count in the window.
  (void)clock.tick();
  (void)clock.tick();
  EXPECT_EQ(rates.read(clock), (W{10, 5, 6}));
  // The first block leaves the window whole when the third begins.
  (void)clock.tick();
  EXPECT_EQ(rates.read(clock), (W{6, 0, 3}));
  rates.record(clock, clock.tick(), true, false);
  EXPECT_EQ(rates.read(clock), (W{7, 1, 3}));
  // A place untouched for two blocks reads empty, and counts again from where it is touched.
  for (int i = 0; i < 10; ++i) (void)clock.tick();
  EXPECT_EQ(rates.read(clock), (W{7, 0, 0}));
  rates.record(clock, clock.tick(), true, true);
  EXPECT_EQ(rates.read(clock), (W{8, 1, 1}));
}

TEST(NoiseRates, APlaceCountsFromTheCallAfterTheOneThatFoundIt) {
  rs::detail::ProbeClock clock(1000);
  const std::uint64_t found = clock.tick();
  rs::detail::PlaceRates rates(found + 1);
  rates.record(clock, found, true, true);  // the founding call: left out
  EXPECT_EQ(rates.read(clock), (rs::detail::PlaceWindow{}));
  rates.record(clock, clock.tick(), false, true);
  EXPECT_EQ(rates.read(clock), (rs::detail::PlaceWindow{1, 0, 1}));
}

TEST(NoiseRates, RatiosAreWrittenAsShortDecimals) {
  EXPECT_EQ(rs::detail::ratio_text(0, 0), "0");
  EXPECT_EQ(rs::detail::ratio_text(0, 7), "0");
  EXPECT_EQ(rs::detail::ratio_text(1, 2), "0.5");
  EXPECT_EQ(rs::detail::ratio_text(7, 7), "1");
  EXPECT_EQ(rs::detail::ratio_text(1, 3), "0.333333");
  EXPECT_EQ(rs::detail::ratio_text(2, 3), "0.666667");
  EXPECT_EQ(rs::detail::ratio_text(1, 1'000'000), "0.000001");
  EXPECT_EQ(rs::detail::ratio_text(1, 2'000'000), "0.000001");  // half up
  EXPECT_EQ(rs::detail::ratio_text(1, 2'000'001), "0");
  EXPECT_EQ(rs::detail::ratio_text(1'999'999, 2'000'000), "1");
  EXPECT_EQ(rs::detail::ratio_text(3, 2), "1.5");
  const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max() / 2;
  EXPECT_EQ(rs::detail::ratio_text(huge / 2, huge), "0.5");
}

namespace {

// `ts=<n>` bodies: the primary side stamps a value that a second answer repeats or not.
const rs::NoiseCount& place(const rs::ShadowStats& stats, NoiseKind kind, std::string_view name) {
  const auto* found = find(stats.noise, kind, name);
  if (found == nullptr) throw std::runtime_error("no such noisy place: " + std::string(name));
  return *found;
}

}  // namespace

TEST(Noise, APlaceWhereTheShadowDiffersNoMoreOftenThanTheSecondaryIsNoise) {
  net::io_context ctx;
  Trio t(path_config());
  // The secondary differs at `/ts` on even calls, the candidate on odd ones: never on the same
  // call, so only the rates can tell that the candidate's differences there are noise.
  for (int i = 0; i < 160; ++i) {
    const std::string n = std::to_string(i);
    const auto out =
        t.call(ctx, "ts=" + n + ";price=10", i % 2 == 1 ? "ts=x;price=10" : "ts=" + n + ";price=10",
               i % 2 == 0 ? "ts=y;price=10" : "ts=" + n + ";price=10");
    if (i % 2 == 0) {
      EXPECT_FALSE(out.divergence) << i;
    } else if (i <= 100) {
      // Call 0 found the place; calls 1 to 100 fill the window up to `min_requests`.
      EXPECT_EQ(fields_of(out),
                (std::vector<rs::FieldDiff>{{"/ts", rs::FieldChange::Changed, n, "x"}}))
          << i;
    } else {
      EXPECT_FALSE(out.divergence) << i << ": " << rs::to_string(*out.divergence);
      ASSERT_TRUE(out.noise && out.noise->body) << i;
      EXPECT_EQ(out.noise->body->fields.size(), 1U);
    }
  }
  const auto stats = t.shadower.stats();
  const auto& ts = place(stats, NoiseKind::Pointer, "/ts");
  EXPECT_EQ(ts.count, 80U);
  EXPECT_EQ(ts.window_requests, 159U);  // calls 1 to 159
  EXPECT_EQ(ts.shadow_differed, 80U);
  EXPECT_EQ(ts.secondary_differed, 79U);
  EXPECT_TRUE(ts.judged_noise);
  EXPECT_FALSE(ts.auto_ignored);
  EXPECT_DOUBLE_EQ(ts.shadow_rate(), 80.0 / 159.0);
  EXPECT_DOUBLE_EQ(ts.secondary_rate(), 79.0 / 159.0);
}

TEST(Noise, ARegressionAtANoisyPlaceIsReportedOnceItsRateClearlyExceedsTheSecondarys) {
  net::io_context ctx;
  Trio t(path_config());
  int i = 0;
  auto step = [&](bool shadow_differs) {
    const std::string n = std::to_string(i);
    const bool secondary_differs = i % 2 == 0;
    ++i;
    return t.call(ctx, "ts=" + n, shadow_differs ? "ts=x" : "ts=" + n,
                  secondary_differs ? "ts=y" : "ts=" + n);
  };
  for (int k = 0; k < 200; ++k) (void)step(i % 2 == 1);
  ASSERT_TRUE(place(t.shadower.stats(), NoiseKind::Pointer, "/ts").judged_noise);

  // The candidate now differs at `/ts` on every call: twice as often as the secondary, and
  // by half of the calls more often, where `absolute` allows 1 %.
  int hidden = 0;
  for (int k = 0; k < 200; ++k) {
    const bool secondary_differs = i % 2 == 0;
    const auto out = step(true);
    if (secondary_differs) {
      EXPECT_FALSE(out.divergence);  // cancelled on the call, as the secondary shows it
      continue;
    }
    if (!out.divergence) {
      ++hidden;
      continue;
    }
    EXPECT_EQ(fields_of(out).size(), 1U);
    EXPECT_FALSE(out.noise);
  }
  // Only the first difference the secondary does not share passes for noise (call 201: the
  // shadow 102 times in 201 calls, the secondary 100); at call 203 (104 against 101) the shadow
  // is more than 1 % of the calls ahead.
  EXPECT_EQ(hidden, 1);
  const auto stats = t.shadower.stats();
  const auto& ts = place(stats, NoiseKind::Pointer, "/ts");
  EXPECT_FALSE(ts.judged_noise);
  EXPECT_EQ(ts.window_requests, 399U);  // both phases: calls 1 to 399
  EXPECT_NEAR(ts.shadow_rate(), 0.75, 0.01);
  EXPECT_NEAR(ts.secondary_rate(), 0.5, 0.01);
}

TEST(Noise, APlaceWhereTheSecondaryDidNotDifferInTheWindowIsNeverNoise) {
  net::io_context ctx;
  Trio t(path_config());
  // The secondary differs at `/ts` once, then never: that call is left out of the window, so
  // the candidate's differences there are all reported.
  (void)t.call(ctx, "ts=0", "ts=0", "ts=y");
  for (int i = 1; i < 200; ++i) {
    const auto out = t.call(ctx, "ts=0", "ts=x", "ts=0");
    ASSERT_EQ(fields_of(out).size(), 1U) << i;
  }
  const auto stats = t.shadower.stats();
  const auto& ts = place(stats, NoiseKind::Pointer, "/ts");
  EXPECT_EQ(ts.secondary_differed, 0U);
  EXPECT_FALSE(ts.judged_noise);
}

TEST(Noise, APlaceJudgedNoiseHidesOnlyChangesOfValueAndHoldsWithoutASecondary) {
  net::io_context ctx;
  Trio t(ShadowConfig().body_comparator(typed_paths()).noise_cancellation({}));
  for (int i = 0; i < 130; ++i) {
    const std::string n = std::to_string(i);
    (void)t.call(ctx, "id=p" + n + ";price=10", "id=c" + n + ";price=10", "id=s" + n + ";price=10");
  }
  ASSERT_TRUE(place(t.shadower.stats(), NoiseKind::Pointer, "/id").judged_noise);

  // The secondary answers an error: no reference, yet `/id` is still noise.
  t.secondary->next = ResponseRecord::success("error=busy");
  t.secondary->next.status = 503;
  t.secondary->next.ok = false;
  t.primary->next = ResponseRecord::success("id=p;price=10");
  t.candidate->next = ResponseRecord::success("id=q;price=10");
  const auto alone = call(ctx, t.shadower, "GET /");
  EXPECT_FALSE(alone.divergence);
  ASSERT_TRUE(alone.noise && alone.noise->body);

  // Its removal, its change of type, and what is inside it are still reported.
  EXPECT_EQ(fields_of(t.call(ctx, "id=p;price=10", "price=10", "id=p;price=10")),
            (std::vector<rs::FieldDiff>{{"/id", rs::FieldChange::Removed, "p", ""}}));
  EXPECT_EQ(fields_of(t.call(ctx, "id=p;price=10", "id=5;price=10", "id=p;price=10")),
            (std::vector<rs::FieldDiff>{{"/id", rs::FieldChange::TypeChanged, "p", "5"}}));
  EXPECT_EQ(fields_of(t.call(ctx, "id=p;price=10", "id=p;id/x=1;price=10", "id=p;price=10")),
            (std::vector<rs::FieldDiff>{{"/id/x", rs::FieldChange::Added, "", "1"}}));
}

TEST(Noise, AHeaderIsJudgedByItsRatesToo) {
  net::io_context ctx;
  Trio t(ShadowConfig().noise_cancellation({}));
  auto with_age = [](std::string age) {
    return ResponseRecord::success("same").with_header("age", std::move(age));
  };
  // The secondary's `age` differs on every third call, the candidate's on every sixth, other
  // ones.
  for (int i = 0; i < 150; ++i) {
    t.primary->next = with_age("1");
    t.secondary->next = with_age(i % 3 == 0 ? "2" : "1");
    t.candidate->next = with_age(i % 6 == 1 ? "3" : "1");
    (void)call(ctx, t.shadower, "GET /");
  }
  ASSERT_TRUE(place(t.shadower.stats(), NoiseKind::Header, "age").judged_noise);
  t.primary->next = with_age("1");
  t.secondary->next = with_age("1");
  t.candidate->next = with_age("9");
  EXPECT_FALSE(call(ctx, t.shadower, "GET /").divergence);
  t.candidate->next = ResponseRecord::success("same");
  const auto removed = call(ctx, t.shadower, "GET /");
  ASSERT_TRUE(removed.divergence && removed.divergence->headers);
  EXPECT_EQ(removed.divergence->headers->removed, std::vector<std::string>{"age"});
}

TEST(Noise, AStructuralPlaceOrAByteBodyIsNeverNoiseBeyondTheCall) {
  net::io_context ctx;
  Trio t(path_config());
  // The secondary sometimes drops `/debug`, sometimes changes it: a structural place.
  for (int i = 0; i < 150; ++i) {
    const std::string n = std::to_string(i);
    const std::string secondary = i % 4 == 0 ? "a=1" : (i % 4 == 2 ? "a=1;debug=y" : "a=1;debug=1");
    (void)t.call(ctx, "a=1;debug=1", i % 2 == 1 ? "a=1;debug=x" : "a=1;debug=1", secondary);
  }
  const auto stats = t.shadower.stats();
  const auto& debug = place(stats, NoiseKind::Pointer, "/debug");
  EXPECT_GT(debug.window_requests, 100U);
  EXPECT_FALSE(debug.judged_noise);
  EXPECT_EQ(fields_of(t.call(ctx, "a=1;debug=1", "a=1;debug=x", "a=1;debug=1")).size(), 1U);
}

TEST(Noise, TheDefaultsNeverIgnoreForGood) {
  const rs::NoiseCancellation rule;
  EXPECT_EQ(rule.auto_ignore_after, 0U);
  EXPECT_EQ(rule.relative, 2.0);
  EXPECT_EQ(rule.absolute, 0.01);
  EXPECT_EQ(rule.window, 1000U);
  EXPECT_EQ(rule.min_requests, 100U);
}
