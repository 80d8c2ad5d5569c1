// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/shadower.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_support.hpp"

// Noise cancellation's one promise, on random JSON documents: a difference between the primary
// and the candidate is hidden only where the secondary shows the same kind of difference at the
// same place, on that call, or, for a change of value, on enough earlier calls to have been
// learned, or at a place whose rates judge it noise. Never anything else, on that call or any
// later one. (The first property's sessions are too short for any judgement by rates; the
// second drives one place through long sessions, with a regression.)

namespace rs = request_shadow;
using rs::FieldChange;
using rs::ResponseRecord;

namespace {

// SplitMix64: the same sequence on every platform and standard library.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  bool percent(unsigned p) { return below(100) < p; }

 private:
  std::uint64_t state_;
};

// A JSON value; objects keep their members in order, each name once.
struct Value {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool flag = false;
  std::int64_t number = 0;
  std::string text;
  std::vector<std::string> names;  // an object's member names
  std::vector<Value> values;       // an array's items, or an object's member values

  [[nodiscard]] bool container() const { return type == Type::Array || type == Type::Object; }
};

// Member names that test the pointer syntax: `*`, escapes, digits, the empty name.
constexpr std::string_view names_pool[] = {"a",   "b",  "id",  "price", "*",  "~", "/",
                                           "a/b", "~1", "~0x", "0",     "12", "",  "x*"};

void write_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void write(std::string& out, const Value& v) {
  switch (v.type) {
    case Value::Type::Null:
      out += "null";
      break;
    case Value::Type::Bool:
      out += v.flag ? "true" : "false";
      break;
    case Value::Type::Number:
      out += std::to_string(v.number);
      break;
    case Value::Type::String:
      write_string(out, v.text);
      break;
    case Value::Type::Array:
      out += '[';
      for (std::size_t i = 0; i < v.values.size(); ++i) {
        if (i > 0) out += ',';
        write(out, v.values[i]);
      }
      out += ']';
      break;
    case Value::Type::Object:
      out += '{';
      for (std::size_t i = 0; i < v.values.size(); ++i) {
        if (i > 0) out += ',';
        write_string(out, v.names[i]);
        out += ':';
        write(out, v.values[i]);
      }
      out += '}';
      break;
  }
}

Value scalar(Rng& rng, Value::Type type) {
  Value v;
  v.type = type;
  v.flag = rng.percent(50);
  v.number = static_cast<std::int64_t>(rng.below(1000));
  v.text = "s" + std::to_string(rng.below(1000));
  return v;
}

Value::Type scalar_type(Rng& rng) {
  constexpr Value::Type types[] = {Value::Type::Null, Value::Type::Bool, Value::Type::Number,
                                   Value::Type::String};
  return types[rng.below(4)];
}

Value random_value(Rng& rng, int depth) {
  const std::size_t kind = depth <= 0 ? 0 : rng.below(4);
  if (kind < 2) return scalar(rng, scalar_type(rng));
  Value v;
  if (kind == 2) {
    v.type = Value::Type::Array;
    const std::size_t n = rng.below(4);
    for (std::size_t i = 0; i < n; ++i) v.values.push_back(random_value(rng, depth - 1));
  } else {
    v.type = Value::Type::Object;
    const std::size_t n = 1 + rng.below(4);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string name(names_pool[rng.below(std::size(names_pool))]);
      if (std::find(v.names.begin(), v.names.end(), name) != v.names.end()) continue;
      v.names.push_back(name);
      v.values.push_back(random_value(rng, depth - 1));
    }
  }
  return v;
}

// A path from the root: member names, or indices (as decimal text) in arrays.
using Path = std::vector<std::string>;

void collect(const Value& v, Path& at, std::vector<Path>& out) {
  out.push_back(at);
  for (std::size_t i = 0; i < v.values.size(); ++i) {
    at.push_back(v.type == Value::Type::Array ? std::to_string(i) : v.names[i]);
    collect(v.values[i], at, out);
    at.pop_back();
  }
}

std::vector<Path> paths(const Value& root) {
  std::vector<Path> out;
  Path at;
  collect(root, at, out);
  return out;
}

Value* find(Value& root, const Path& path) {
  Value* v = &root;
  for (const auto& step : path) {
    if (v->type == Value::Type::Array) {
      // A path of another version of the document may name a member where an array is now.
      if (step.empty() || step.find_first_not_of("0123456789") != std::string::npos) return nullptr;
      const std::size_t i = std::stoul(step);
      if (i >= v->values.size()) return nullptr;
      v = &v->values[i];
    } else if (v->type == Value::Type::Object) {
      const auto it = std::find(v->names.begin(), v->names.end(), step);
      if (it == v->names.end()) return nullptr;
      v = &v->values[static_cast<std::size_t>(it - v->names.begin())];
    } else {
      return nullptr;
    }
  }
  return v;
}

// Give the value at `path` another value of its type (a fresh scalar; for a container, a change
// of one of its scalars). False when there is nothing there to change.
bool change_value(Rng& rng, Value& root, const Path& path) {
  Value* v = find(root, path);
  if (v == nullptr) return false;
  if (v->container()) {
    Path inner = path;
    std::vector<Path> below;
    collect(*v, inner, below);
    const Path& pick = below[rng.below(below.size())];
    if (pick.size() == path.size()) return false;
    return change_value(rng, root, pick);
  }
  switch (v->type) {
    case Value::Type::Null:
      return false;  // null has one value
    case Value::Type::Bool:
      v->flag = !v->flag;
      return true;
    case Value::Type::Number:
      v->number += 1 + static_cast<std::int64_t>(rng.below(50));
      return true;
    default:
      v->text += "+" + std::to_string(rng.below(100));
      return true;
  }
}

// Make the value at `path` one of another type: a scalar, an array or an object.
bool change_type(Rng& rng, Value& root, const Path& path) {
  Value* v = find(root, path);
  if (v == nullptr) return false;
  Value next = random_value(rng, 2);
  while (next.type == v->type) next = random_value(rng, 2);
  *v = std::move(next);
  return true;
}

// Remove the value at `path` (a member, or the last item of an array); not the root.
bool remove(Value& root, const Path& path) {
  if (path.empty()) return false;
  Path parent_path(path.begin(), path.end() - 1);
  Value* parent = find(root, parent_path);
  if (parent == nullptr || find(root, path) == nullptr) return false;
  if (parent->type == Value::Type::Array) {
    parent->values.pop_back();
    return true;
  }
  const auto it = std::find(parent->names.begin(), parent->names.end(), path.back());
  const auto at = it - parent->names.begin();
  parent->names.erase(it);
  parent->values.erase(parent->values.begin() + at);
  return true;
}

// Add a member to the object at `path`, or an item to the array there.
bool add(Rng& rng, Value& root, const Path& path) {
  Value* v = find(root, path);
  if (v == nullptr || !v->container()) return false;
  if (v->type == Value::Type::Array) {
    v->values.push_back(random_value(rng, 1));
    return true;
  }
  for (const auto name : names_pool) {
    if (std::find(v->names.begin(), v->names.end(), name) == v->names.end()) {
      v->names.emplace_back(name);
      v->values.push_back(random_value(rng, 1));
      return true;
    }
  }
  return false;
}

// One random change at `path`, of any kind.
void mutate(Rng& rng, Value& root, const Path& path) {
  switch (rng.below(4)) {
    case 0:
      if (change_value(rng, root, path)) return;
      [[fallthrough]];
    case 1:
      if (remove(root, path)) return;
      [[fallthrough]];
    case 2:
      if (add(rng, root, path)) return;
      [[fallthrough]];
    default:
      (void)change_type(rng, root, path);
  }
}

// The oracle's own reading of a place: digit-only tokens stand for any index, every other token
// (`*` included) for itself, as written.
std::string place_of(std::string_view pointer) {
  std::string out;
  std::size_t at = 0;
  while (at < pointer.size()) {
    const std::size_t end = pointer.find('/', at + 1);
    const std::string_view token = pointer.substr(
        at + 1, end == std::string_view::npos ? std::string_view::npos : end - at - 1);
    const bool digits =
        !token.empty() && token.find_first_not_of("0123456789") == std::string_view::npos;
    out += digits ? std::string("/#") : "/'" + std::string(token);
    at = end == std::string_view::npos ? pointer.size() : end;
  }
  return out;
}

// A difference by kind and place: `h+`, `h-`, `h~` and a header name, or a field's change and
// its place.
using Site = std::pair<std::string, std::string>;

std::string kind_of(FieldChange c) { return "b" + std::string(rs::to_string(c)); }

std::vector<Site> sites_of(const rs::Divergence* d, bool folded) {
  std::vector<Site> out;
  if (d == nullptr) return out;
  if (d->headers) {
    for (const auto& n : d->headers->added) out.emplace_back("h+", n);
    for (const auto& n : d->headers->removed) out.emplace_back("h-", n);
    for (const auto& n : d->headers->changed) out.emplace_back("h~", n);
  }
  if (d->body) {
    for (const auto& f : d->body->fields) {
      out.emplace_back(kind_of(f.change), folded ? place_of(f.pointer) : f.pointer);
    }
  }
  return out;
}

// Answers `next`, or throws when `fail` is set.
struct Scripted {
  ResponseRecord next = ResponseRecord::success("");
  bool fail = false;
  net::awaitable<ResponseRecord> call(std::span<const std::byte> /*input*/) {
    if (fail) throw std::runtime_error("secondary down");
    co_return next;
  }
};

rs::ShadowOutcome call(net::io_context& ctx, const rs::Shadower<Scripted, Scripted>& sh) {
  auto task = [](rs::Shadower<Scripted, Scripted> s) -> net::awaitable<rs::ShadowOutcome> {
    co_return co_await s.call(std::string_view("GET /"));
  };
  return rs::test::run(ctx, task(sh));
}

ResponseRecord response(
    const Value& body, std::uint16_t status, const std::string& request_id,
    std::initializer_list<std::pair<std::string_view, std::string_view>> extra) {
  std::string text;
  write(text, body);
  ResponseRecord r = ResponseRecord::success(text);
  r.status = status;
  r.ok = status < 400;
  r.headers.add("content-type", "application/json");
  r.headers.add("x-request-id", request_id);
  for (const auto& [name, value] : extra) r.headers.add(name, value);
  return r;
}

// Run one Shadower over `calls` random calls, checking the promise on each; returns how many
// differences were cancelled as noise and how many learned rules hid.
struct Tally {
  std::size_t calls = 0;
  std::size_t real = 0;       // differences between the primary and the candidate
  std::size_t cancelled = 0;  // of them, taken out as noise on their call
  std::size_t learned = 0;    // of them, hidden by what was learned
};

void run_session(std::uint64_t seed, Tally& tally) {
  Rng rng(seed);
  const std::size_t after = 1 + rng.below(3);
  const std::size_t tracked = rng.percent(20) ? 1 + rng.below(4) : 1000;
  const bool status_ignored = rng.percent(30);
  rs::ShadowConfig plain = rs::ShadowConfig().body_comparator(rs::json::comparator());
  if (status_ignored) plain.ignore(rs::IgnoreField::Status);
  rs::ShadowConfig config = plain;
  config.noise_cancellation(rs::NoiseCancellation{after, tracked});

  auto primary = std::make_shared<Scripted>();
  auto candidate = std::make_shared<Scripted>();
  auto secondary = std::make_shared<Scripted>();
  rs::Shadower<Scripted, Scripted> sh(primary, candidate, secondary, config);
  net::io_context ctx;

  // The document, its value noise (scalars that every answer of either side fills afresh) and
  // a place where the primary side's structure is noisy too.
  Value base = random_value(rng, 3);
  if (rng.percent(85) && base.type != Value::Type::Object) {
    Value root;
    root.type = Value::Type::Object;
    root.names = {"id", "data"};
    root.values = {scalar(rng, Value::Type::String), std::move(base)};
    base = std::move(root);
  }
  const std::vector<Path> all = paths(base);
  std::vector<Path> noisy;
  for (const auto& p : all) {
    if (!p.empty() && !find(base, p)->container() && rng.percent(35)) noisy.push_back(p);
  }
  const Path& shaky = all[rng.below(all.size())];
  auto answer = [&rng, &base, &noisy]() {
    Value v = base;
    for (const auto& p : noisy) {
      if (rng.percent(90)) (void)change_value(rng, v, p);
    }
    return v;
  };

  std::map<Site, std::size_t> seen_changed;  // usable calls on which the secondary changed it
  const std::size_t calls = 8 + rng.below(10);
  for (std::size_t call_index = 0; call_index < calls; ++call_index) {
    SCOPED_TRACE("seed " + std::to_string(seed) + ", call " + std::to_string(call_index));
    const Value p = answer();
    Value s = answer();
    Value c = answer();
    if (rng.percent(25)) mutate(rng, s, rng.percent(60) ? shaky : all[rng.below(all.size())]);
    const std::size_t changes = rng.percent(60) ? 1 + rng.below(3) : 0;
    for (std::size_t i = 0; i < changes; ++i) {
      // Aim at the places the primary side is noisy at, as often as not.
      const auto& pool = !noisy.empty() && rng.percent(50) ? noisy : all;
      const Path& at = rng.percent(15) ? shaky : pool[rng.below(pool.size())];
      mutate(rng, c, at);
    }

    // Headers: a request id that differs between any two answers, and `x-a`, which either
    // side may drop, repeat (another value) or join with another header.
    const std::string id = std::to_string(call_index);
    primary->next = response(p, 200, "p" + id, {{"x-a", "1"}});
    candidate->next = response(c, rng.percent(5) ? 500 : 200, rng.percent(10) ? "p" + id : "c" + id,
                               {{"x-a", "1"}});
    std::uint16_t s_status = 200;
    if (rng.percent(10)) s_status = rng.percent(50) ? 503 : 429;
    secondary->next = response(s, s_status, "s" + id, {{"x-a", "1"}});
    for (ResponseRecord* r : {&candidate->next, &secondary->next}) {
      if (rng.percent(8)) r->headers.erase("x-a");
      if (rng.percent(8)) r->headers.add("x-a", "2");
      if (rng.percent(8)) r->headers.add("x-c", "1");
      if (rng.percent(5)) r->headers.erase("x-request-id");
    }
    if (rng.percent(5)) secondary->next.body = "<html>busy</html>";
    secondary->fail = rng.percent(5);

    const auto truth = rs::Divergence::compare(primary->next, candidate->next, plain);
    const auto shown = rs::Divergence::compare(primary->next, secondary->next, plain);
    // A reference at all, as the oracle sees it: it answered with the primary's status and
    // `ok` flag. (The tracker may refuse more: another kind of document, an unreadable body.)
    const bool reference = !secondary->fail && secondary->next.status == primary->next.status &&
                           secondary->next.ok == primary->next.ok;
    std::set<Site> excused;
    if (reference) {
      for (auto& site : sites_of(shown ? &*shown : nullptr, true)) excused.insert(std::move(site));
    }
    auto learnable = [&](const Site& site) {
      if (site.first != "h~" && site.first != kind_of(FieldChange::Changed)) return false;
      const auto it = seen_changed.find(site);
      return it != seen_changed.end() && it->second >= after;
    };

    const auto out = call(ctx, sh);
    ++tally.calls;
    ASSERT_TRUE(out.shadow);
    if (truth && truth->body) {
      ASSERT_FALSE(truth->body->fields_truncated);
    }

    // The status is never noise.
    EXPECT_EQ(truth && truth->status, out.divergence && out.divergence->status);
    const auto reported = sites_of(out.divergence ? &*out.divergence : nullptr, false);
    const auto cancelled = sites_of(out.noise.get(), false);
    const auto contains = [](const std::vector<Site>& list, const Site& site) {
      return std::find(list.begin(), list.end(), site) != list.end();
    };
    for (const auto& site : sites_of(truth ? &*truth : nullptr, false)) {
      ++tally.real;
      const Site place = site.first[0] == 'h' ? site : Site{site.first, place_of(site.second)};
      if (contains(reported, site)) {
        EXPECT_FALSE(contains(cancelled, site)) << site.first << ' ' << site.second;
        continue;
      }
      if (contains(cancelled, site)) {
        ++tally.cancelled;
        EXPECT_TRUE(excused.contains(place))
            << "cancelled, but the secondary does not show it: " << site.first << ' '
            << site.second;
        continue;
      }
      ++tally.learned;
      EXPECT_TRUE(learnable(place))
          << "hidden, but never learned as a change of value: " << site.first << ' ' << site.second;
    }
    // Nothing is reported or cancelled that is not there.
    const auto real = sites_of(truth ? &*truth : nullptr, false);
    for (const auto& site : reported) EXPECT_TRUE(contains(real, site)) << site.second;
    for (const auto& site : cancelled) EXPECT_TRUE(contains(real, site)) << site.second;
    if (::testing::Test::HasFailure()) return;

    if (reference) {
      std::set<Site> changed;
      for (const auto& site : sites_of(shown ? &*shown : nullptr, true)) {
        if (site.first == "h~" || site.first == kind_of(FieldChange::Changed)) changed.insert(site);
      }
      for (const auto& site : changed) ++seen_changed[site];
    }
  }
}

}  // namespace

TEST(NoiseProperty, NothingTheSecondaryDoesNotShowIsEverHidden) {
  Tally tally;
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    run_session(seed, tally);
    if (HasFailure()) break;
  }
  // The cases reach every branch: real differences kept, cancelled and hidden by what was
  // learned.
  EXPECT_GT(tally.calls, 3000U);
  EXPECT_GT(tally.real, 1000U);
  EXPECT_GT(tally.cancelled, 100U);
  EXPECT_GT(tally.learned, 100U);
  RecordProperty("calls", std::to_string(tally.calls));
  RecordProperty("real", std::to_string(tally.real));
  RecordProperty("cancelled", std::to_string(tally.cancelled));
  RecordProperty("learned", std::to_string(tally.learned));
}

namespace {

// One place, `/ts`, at which the primary side differs from itself on a share of the calls (a
// timestamp whose second may tick between two answers). The candidate first differs there as
// often, then, from `regression_at` on, clearly more often: a real regression.
struct RateSession {
  unsigned secondary_percent = 0;   // how often the secondary differs at `/ts`
  unsigned regression_percent = 0;  // how often the candidate does after the regression
  std::size_t regression_at = 0;
  std::size_t calls = 0;
};

struct RateTally {
  std::size_t alone_before_judged = 0;   // the candidate alone differed, before any judgement
  std::size_t alarms_before_judged = 0;  // of them, reported (false alarms)
  std::size_t alone_while_noise = 0;     // the candidate alone differed, in a noise phase, judged
  std::size_t alarms_while_noise = 0;    // of them, reported anyway (the rates said "not noise")
  std::size_t regressed = 0;  // after the regression filled the window: the candidate alone
  std::size_t regressed_reported = 0;
};

bool differs_at_ts(const std::optional<rs::Divergence>& d) {
  if (!d || !d->body) return false;
  return std::any_of(d->body->fields.begin(), d->body->fields.end(),
                     [](const rs::FieldDiff& f) { return f.pointer == "/ts"; });
}

void run_rate_session(std::uint64_t seed, const RateSession& session, RateTally& tally) {
  Rng rng(seed);
  const rs::NoiseCancellation defaults;
  auto primary = std::make_shared<Scripted>();
  auto candidate = std::make_shared<Scripted>();
  auto secondary = std::make_shared<Scripted>();
  rs::Shadower<Scripted, Scripted> sh(
      primary, candidate, secondary,
      rs::ShadowConfig().body_comparator(rs::json::comparator()).noise_cancellation(defaults));
  net::io_context ctx;
  auto body = [](const std::string& ts) {
    return ResponseRecord::success(R"({"ts":")" + ts + R"(","price":10})")
        .with_header("content-type", "application/json");
  };
  bool ever_judged = false;
  for (std::size_t i = 0; i < session.calls; ++i) {
    SCOPED_TRACE("seed " + std::to_string(seed) + ", call " + std::to_string(i));
    const bool regressed = i >= session.regression_at;
    const bool secondary_differs = rng.percent(session.secondary_percent);
    const bool candidate_differs =
        rng.percent(regressed ? session.regression_percent : session.secondary_percent);
    const std::string n = std::to_string(i);
    primary->next = body("p" + n);
    secondary->next = body(secondary_differs ? "s" + n : "p" + n);
    candidate->next = body(candidate_differs ? "c" + n : "p" + n);
    const auto out = call(ctx, sh);
    const bool reported = differs_at_ts(out.divergence);
    const auto stats = sh.stats();
    const auto place = std::find_if(stats.noise.begin(), stats.noise.end(),
                                    [](const rs::NoiseCount& c) { return c.name == "/ts"; });
    const bool judged = place != stats.noise.end() && place->judged_noise;
    ever_judged = ever_judged || judged;

    if (!candidate_differs) {
      EXPECT_FALSE(reported);
      continue;
    }
    if (secondary_differs) {
      EXPECT_FALSE(reported);  // the same kind at the same place, on this call
      continue;
    }
    // The candidate alone differs: hidden only while the rates judge the place noise.
    EXPECT_TRUE(reported || judged);
    if (::testing::Test::HasFailure()) return;
    if (!ever_judged) {
      ++tally.alone_before_judged;
      tally.alarms_before_judged += reported ? 1 : 0;
    } else if (!regressed) {
      ++tally.alone_while_noise;
      tally.alarms_while_noise += reported ? 1 : 0;
    }
    // Once the window holds only the regression's calls, it is never noise, and every
    // difference the secondary does not share is reported.
    if (i >= session.regression_at + defaults.window) {
      ++tally.regressed;
      tally.regressed_reported += reported ? 1 : 0;
      EXPECT_TRUE(reported);
      EXPECT_FALSE(judged);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

}  // namespace

// The judgement by rates, under the defaults: noise at a place is learned from the rates alone,
// and a regression there, however noisy the place, is never learned away.
TEST(NoiseProperty, ARegressionIsNeverLearnedAwayUnderTheDefaults) {
  RateTally tally;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    Rng rng(seed * 7919);
    RateSession session;
    session.secondary_percent = 2 + static_cast<unsigned>(rng.below(74));  // 2 to 75 %
    // At least 20 points more often: several times the window's sampling noise past `absolute`.
    session.regression_percent = session.secondary_percent + 20 +
                                 static_cast<unsigned>(rng.below(81 - session.secondary_percent));
    session.regression_at = 300 + rng.below(500);
    session.calls = session.regression_at + 1500;
    run_rate_session(seed, session, tally);
    if (HasFailure()) break;
  }
  EXPECT_GT(tally.alone_before_judged, 100U);
  EXPECT_GT(tally.alone_while_noise, 500U);
  EXPECT_GT(tally.regressed, 1000U);
  EXPECT_EQ(tally.regressed_reported, tally.regressed);
  // The rates cancel much of what the call alone cannot. Not all: two equal rates measured over
  // 500 to 1000 calls often differ by more than `absolute` (1 % of the calls), and then the
  // place is not noise for a while. That errs on the side of false alarms.
  EXPECT_LT(tally.alarms_while_noise * 2, tally.alone_while_noise);
  EXPECT_EQ(tally.alarms_before_judged, tally.alone_before_judged);
  RecordProperty("alone_before_judged", std::to_string(tally.alone_before_judged));
  RecordProperty("alarms_before_judged", std::to_string(tally.alarms_before_judged));
  RecordProperty("alone_while_noise", std::to_string(tally.alone_while_noise));
  RecordProperty("alarms_while_noise", std::to_string(tally.alarms_while_noise));
  RecordProperty("regressed", std::to_string(tally.regressed));
}
