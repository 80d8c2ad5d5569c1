// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// The JSON comparison beside its floor, simdjson parsing both documents, and the byte comparison
// beside memcmp, all on a ~4 KB API response; then one object of 16,384 members, with ordinary
// names beside names chosen to collide under std::hash; then arrays of 1,000 records under the
// array rules and a number tolerance, each beside simdjson parsing its two documents.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <request_shadow/divergence.hpp>
#include <request_shadow/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calibration.hpp"

namespace rs = request_shadow;

namespace {

// A JSON object as (key, rendered value) pairs, written in either order and spacing.
using Members = std::vector<std::pair<std::string, std::string>>;

std::string quoted(const std::string& s) { return '"' + s + '"'; }

std::string render(const Members& members, bool reordered, const std::string& indent) {
  const bool pretty = !indent.empty();
  std::string out = "{";
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto& [key, value] = members[reordered ? members.size() - 1 - i : i];
    if (i > 0) out += ',';
    if (pretty) out += "\n" + indent + "  ";
    out += quoted(key) + (pretty ? ": " : ":") + value;
  }
  if (pretty) out += "\n" + indent;
  return out + "}";
}

// A page of a product listing: a few top-level fields and `items` objects, ~`size` bytes when
// compact. `changed` alters three fields; `reordered` writes every object's members backwards,
// pretty-printed: the same document, not the same bytes.
std::string listing(std::size_t size, bool reordered, bool changed) {
  const std::string indent = reordered ? "  " : "";
  const std::size_t count = size / 132;
  std::string items = "[";
  for (std::size_t i = 0; i < count; ++i) {
    const std::string n = std::to_string(i);
    const bool price_changed = changed && i == 3;
    const bool name_changed = changed && i == count / 2;
    Members item{
        {"id", std::to_string(100'000 + i * 37)},
        {"name", quoted((name_changed ? "Renamed " : "Product ") + n)},
        {"price", price_changed ? "20.5" : std::to_string(10 + i % 17) + ".99"},
        {"tags", reordered ? R"([ "new", "sale", "tag-)" + n + R"(" ])"
                           : R"(["new","sale","tag-)" + n + R"("])"},
        {"in_stock", i % 3 == 0 ? "false" : "true"},
        {"updated_at", quoted("2026-11-" + std::to_string(10 + i % 18) + "T10:00:00Z")},
    };
    if (i > 0) items += ',';
    if (reordered) items += "\n    ";
    items += render(item, reordered, reordered ? "    " : "");
  }
  items += reordered ? "\n  ]" : "]";
  const Members page{
      {"request_id", quoted("5f2b8c1e-4a7d-4e0b-9c3f-1d2e3f4a5b6c")},
      {"generated_at", quoted("2026-11-26T10:00:00Z")},
      {"page", "1"},
      {"page_size", std::to_string(count)},
      {"total", changed ? "1235" : "1234"},
      {"currency", quoted("EUR")},
      {"items", items},
      {"links", R"({"self":"/products?page=1","next":"/products?page=2"})"},
  };
  return render(page, reordered, indent);
}

void set_bytes(benchmark::State& state, const std::string& a, const std::string& b) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(a.size() + b.size()));
  state.counters["primary_bytes"] = static_cast<double>(a.size());
  state.counters["shadow_bytes"] = static_cast<double>(b.size());
}

std::size_t arg(const benchmark::State& state) { return static_cast<std::size_t>(state.range(0)); }

// The floor: what any JSON comparison must at least do.
void BM_SimdjsonParseBoth(benchmark::State& state) {
  const std::string a = listing(arg(state), false, false);
  const std::string b = listing(arg(state), true, false);
  simdjson::dom::parser pa;
  simdjson::dom::parser pb;
  for (auto _ : state) {
    simdjson::dom::element ea;
    simdjson::dom::element eb;
    if (pa.parse(a.data(), a.size()).get(ea) || pb.parse(b.data(), b.size()).get(eb)) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(ea);
    benchmark::DoNotOptimize(eb);
  }
  set_bytes(state, a, b);
}
BENCHMARK(BM_SimdjsonParseBoth)->Arg(4096);

void BM_JsonCompareEqual(benchmark::State& state) {
  const std::string a = listing(arg(state), false, false);
  const std::string b = listing(arg(state), true, false);
  if (!rs::json::compare(a, b).fields.empty()) state.SkipWithError("documents differ");
  for (auto _ : state) {
    auto found = rs::json::compare(a, b);
    benchmark::DoNotOptimize(found);
  }
  set_bytes(state, a, b);
}
BENCHMARK(BM_JsonCompareEqual)->Arg(4096);

// The same document with other whitespace only: every object keeps its member order.
void BM_JsonCompareEqualSameOrder(benchmark::State& state) {
  const std::string a = listing(arg(state), false, false);
  std::string b;
  bool in_string = false;  // the generated strings hold no escapes
  for (const char c : a) {
    b += c;
    if (c == '"') in_string = !in_string;
    if (!in_string && (c == ',' || c == ':')) b += ' ';
  }
  if (!rs::json::compare(a, b).fields.empty()) state.SkipWithError("documents differ");
  for (auto _ : state) {
    auto found = rs::json::compare(a, b);
    benchmark::DoNotOptimize(found);
  }
  set_bytes(state, a, b);
}
BENCHMARK(BM_JsonCompareEqualSameOrder)->Arg(4096);

void BM_JsonCompareFewDiffs(benchmark::State& state) {
  const std::string a = listing(arg(state), false, false);
  const std::string b = listing(arg(state), true, true);
  if (rs::json::compare(a, b).fields.size() != 3) state.SkipWithError("expected 3 differences");
  for (auto _ : state) {
    auto found = rs::json::compare(a, b);
    benchmark::DoNotOptimize(found);
  }
  set_bytes(state, a, b);
}
BENCHMARK(BM_JsonCompareFewDiffs)->Arg(4096);

// Equal documents with two ignore patterns, one of them under every item: what rules cost.
void BM_JsonCompareEqualWithIgnoreRules(benchmark::State& state) {
  const std::string a = listing(arg(state), false, false);
  const std::string b = listing(arg(state), true, false);
  rs::PointerPatterns ignored;
  ignored.add("/items/*/updated_at");
  ignored.add("/request_id");
  if (!rs::json::compare(a, b, ignored).fields.empty()) state.SkipWithError("documents differ");
  for (auto _ : state) {
    auto found = rs::json::compare(a, b, ignored);
    benchmark::DoNotOptimize(found);
  }
  set_bytes(state, a, b);
}
BENCHMARK(BM_JsonCompareEqualWithIgnoreRules)->Arg(4096);

// The whole comparison as a Shadower runs it: headers, content-type selection, JSON.
void BM_DivergenceJsonEqual(benchmark::State& state) {
  const std::string a = listing(arg(state), false, false);
  const std::string b = listing(arg(state), true, false);
  const auto primary =
      rs::ResponseRecord::success(a).with_header("content-type", "application/json");
  const auto shadow =
      rs::ResponseRecord::success(b).with_header("content-type", "application/json");
  const auto config = rs::ShadowConfig::full_sample().body_comparator(rs::json::comparator());
  for (auto _ : state) {
    auto d = rs::Divergence::compare(primary, shadow, config);
    benchmark::DoNotOptimize(d);
  }
  set_bytes(state, a, b);
}
BENCHMARK(BM_DivergenceJsonEqual)->Arg(4096);

// Equal bodies, no comparator: what a byte-identical response costs.
void BM_ByteCompare(benchmark::State& state) {
  const std::string a = listing(arg(state), false, false);
  const auto primary = rs::ResponseRecord::success(a);
  const auto shadow = rs::ResponseRecord::success(a);
  const auto config = rs::ShadowConfig::full_sample();
  for (auto _ : state) {
    auto d = rs::Divergence::compare(primary, shadow, config);
    benchmark::DoNotOptimize(d);
  }
  set_bytes(state, a, a);
}
BENCHMARK(BM_ByteCompare)->Arg(4096);

void BM_Memcmp(benchmark::State& state) {
  const std::string a = listing(arg(state), false, false);
  const std::string b = a;
  for (auto _ : state) {
    const char* pa = a.data();
    const char* pb = b.data();
    benchmark::DoNotOptimize(pa);
    benchmark::DoNotOptimize(pb);
    benchmark::DoNotOptimize(std::memcmp(pa, pb, a.size()));
  }
  set_bytes(state, a, b);
}
BENCHMARK(BM_Memcmp)->Arg(4096);

// One object of `count` members, `"m0000123":123`, the same on both sides: the walk checks its
// names for a repeated one. With `colliding`, the names are those whose std::hash (libstdc++:
// MurmurHash2, fixed seed) falls in the first 64th of a table of 2 * `count` slots, so that a
// linear-probing table indexed by std::hash would probe past nearly every name for each name.
// Names of both kinds have the same length.
std::string many_members(std::size_t count, bool colliding) {
  std::size_t slots = 32;
  while (slots < 2 * count) slots *= 2;
  const std::hash<std::string_view> hash;
  std::string out = "{";
  std::size_t written = 0;
  for (std::size_t i = 0; written < count; ++i) {
    std::string name = std::to_string(i);
    name = "m" + std::string(7 - name.size(), '0') + name;
    if (colliding && (hash(name) & (slots - 1)) >= slots / 64) continue;
    out += (written == 0 ? "\"" : ",\"") + name + "\":" + std::to_string(written);
    ++written;
  }
  return out + "}";
}

void BM_SimdjsonParseBothManyMembers(benchmark::State& state) {
  const std::string a = many_members(arg(state), false);
  simdjson::dom::parser pa;
  simdjson::dom::parser pb;
  for (auto _ : state) {
    simdjson::dom::element ea;
    simdjson::dom::element eb;
    if (pa.parse(a.data(), a.size()).get(ea) || pb.parse(a.data(), a.size()).get(eb)) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(ea);
    benchmark::DoNotOptimize(eb);
  }
  set_bytes(state, a, a);
}
BENCHMARK(BM_SimdjsonParseBothManyMembers)->Arg(16384)->Unit(benchmark::kMicrosecond);

void compare_many_members(benchmark::State& state, bool colliding) {
  const std::string a = many_members(arg(state), colliding);
  const std::string b = a;  // another buffer: no shortcut on equal pointers
  if (!rs::json::compare(a, b).fields.empty()) state.SkipWithError("documents differ");
  for (auto _ : state) {
    auto found = rs::json::compare(a, b);
    benchmark::DoNotOptimize(found);
  }
  set_bytes(state, a, b);
}

void BM_JsonCompareManyMembers(benchmark::State& state) { compare_many_members(state, false); }
BENCHMARK(BM_JsonCompareManyMembers)->Arg(16384)->Unit(benchmark::kMicrosecond);

void BM_JsonCompareManyCollidingMembers(benchmark::State& state) {
  compare_many_members(state, true);
}
BENCHMARK(BM_JsonCompareManyCollidingMembers)->Arg(16384)->Unit(benchmark::kMicrosecond);

// Arrays of 1,000 records, `{"id":7,"name":"item 7","price":17.25,"tags":["a","b"]}`, as the
// array rules see them. Each scenario has its floor, simdjson parsing both of its documents.
enum class Records : std::uint8_t {
  Unordered,              // the shadow's records shuffled; `unordered_array("/items")`
  KeyedInsertFront,       // one record inserted at the front; `match_array_by("/items", "/id")`
  InsertFront,            // the same insertion, no rule: aligned
  InsertFrontByPosition,  // the same insertion, no rule, alignment off: a cascade
  Tolerance,  // every shadow price off by a few units in the last place; a tolerance on ""
};

std::string record_json(std::size_t i, double price) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, price);
  return R"({"id":)" + std::to_string(i) + R"(,"name":"item )" + std::to_string(i) +
         R"(","price":)" + std::string(buf, r.ptr) + R"(,"tags":["a","b"]})";
}

struct RecordsCase {
  std::string primary;
  std::string shadow;
  rs::json::Options options;
  std::size_t expected_differences = 0;
};

RecordsCase records_case(Records scenario) {
  constexpr std::size_t count = 1000;
  std::vector<std::string> a;
  std::vector<std::string> b;
  for (std::size_t i = 0; i < count; ++i) {
    const double price = 10.0 + static_cast<double>(i % 97) + 0.25;
    a.push_back(record_json(i, price));
    b.push_back(record_json(i, scenario == Records::Tolerance ? price * (1 + 4e-16) : price));
  }
  RecordsCase c;
  switch (scenario) {
    case Records::Unordered: {
      std::mt19937 rng(1000);
      std::shuffle(b.begin(), b.end(), rng);
      c.options.unordered_array("/items");
      break;
    }
    case Records::KeyedInsertFront:
      c.options.match_array_by("/items", "/id");
      [[fallthrough]];
    case Records::InsertFront:
      b.insert(b.begin(), record_json(count, 1.5));
      c.expected_differences = 1;
      break;
    case Records::InsertFrontByPosition:
      b.insert(b.begin(), record_json(count, 1.5));
      c.options.max_aligned_items = 0;
      c.expected_differences = c.options.max_differences;  // and truncated
      break;
    case Records::Tolerance:
      c.options.number_tolerance("", {.relative = 1e-12});
      break;
  }
  const auto join = [](const std::vector<std::string>& items) {
    std::string out = R"({"items":[)";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : ",") + items[i];
    return out + "]}";
  };
  c.primary = join(a);
  c.shadow = join(b);
  return c;
}

void BM_SimdjsonParseBothRecords(benchmark::State& state, Records scenario) {
  const RecordsCase c = records_case(scenario);
  simdjson::dom::parser pa;
  simdjson::dom::parser pb;
  for (auto _ : state) {
    simdjson::dom::element ea;
    simdjson::dom::element eb;
    if (pa.parse(c.primary.data(), c.primary.size()).get(ea) ||
        pb.parse(c.shadow.data(), c.shadow.size()).get(eb)) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(ea);
    benchmark::DoNotOptimize(eb);
  }
  set_bytes(state, c.primary, c.shadow);
}

void BM_JsonCompareRecords(benchmark::State& state, Records scenario) {
  const RecordsCase c = records_case(scenario);
  if (rs::json::compare(c.primary, c.shadow, {}, c.options).fields.size() !=
      c.expected_differences) {
    state.SkipWithError("unexpected differences");
  }
  for (auto _ : state) {
    auto found = rs::json::compare(c.primary, c.shadow, {}, c.options);
    benchmark::DoNotOptimize(found);
  }
  set_bytes(state, c.primary, c.shadow);
}

BENCHMARK_CAPTURE(BM_SimdjsonParseBothRecords, unordered, Records::Unordered)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_JsonCompareRecords, unordered, Records::Unordered)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SimdjsonParseBothRecords, keyed_insert_front, Records::KeyedInsertFront)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_JsonCompareRecords, keyed_insert_front, Records::KeyedInsertFront)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_JsonCompareRecords, insert_front, Records::InsertFront)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_JsonCompareRecords, insert_front_by_position, Records::InsertFrontByPosition)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SimdjsonParseBothRecords, tolerance, Records::Tolerance)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_JsonCompareRecords, tolerance, Records::Tolerance)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
