// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/shadower.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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
