// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Migrating a JSON service from v1 to v2 in process, with a JSON-aware comparison.
//
// v2 writes its keys in another order and with other whitespace (not a divergence), lists the
// items in another order (matched by their `sku` with `match_array_by`), computes prices in
// another order, off in the last digits (`number_tolerance`), formats the items' `updated_at`
// timestamps differently (ignored by a rule), stamps every answer with a fresh `request_id`, as
// v1 does (noise: v1 itself never answers the same id twice, which a second v1 call reveals, and
// which the rates then judge noise),
// and adds a `tier` field to the account (the one real change, reported by its JSON Pointer).
// The program prints what an operator reads, and exits non-zero if the comparison finds
// anything else, or if the array and number rules were not needed.
#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <request_shadow/asio.hpp>
#include <request_shadow/json.hpp>
#include <request_shadow/request_shadow.hpp>
#include <string>

namespace rs = request_shadow;
namespace net = request_shadow::net;

namespace {

std::string text(std::span<const std::byte> input) {
  return {reinterpret_cast<const char*>(input.data()), input.size()};
}

// Each instance counts its own request ids.
struct RequestIds {
  std::shared_ptr<std::atomic<int>> next = std::make_shared<std::atomic<int>>(0);
  std::string take(const char* prefix) const { return prefix + std::to_string((*next)++); }
};

// The account service in production: its answer.
std::string v1_body(const std::string& user, const std::string& request_id) {
  return R"({"user":")" + user + R"(","request_id":")" + request_id +
         R"(","items":[{"sku":"book","price":12.5,"updated_at":"2026-11-26T10:00:00Z"},)"
         R"({"sku":"pen","price":2,"updated_at":"2026-11-20T08:30:00Z"}],"balance":100})";
}

// The rewrite: other key order and spacing, the items in another order, other timestamp
// format, `2.0` for `2`, a price off in its last digits, a new field.
std::string v2_body(const std::string& user, const std::string& request_id) {
  return "{\n  \"balance\": 100,\n  \"items\": [\n"
         "    {\"updated_at\": \"2026-11-20T08:30:00.000+00:00\", \"price\": 2.0, \"sku\": "
         "\"pen\"},\n"
         "    {\"updated_at\": \"2026-11-26T10:00:00.000+00:00\", \"price\": 12.500000000001, "
         "\"sku\": \"book\"}\n  ],\n  \"tier\": \"standard\",\n  \"user\": \"" +
         user + "\",\n  \"request_id\": \"" + request_id + "\"\n}";
}

struct AccountsV1 {
  RequestIds ids;
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> input) {
    co_return rs::ResponseRecord::success(v1_body(text(input), ids.take("v1-")))
        .with_header("Content-Type", "application/json");
  }
};

struct AccountsV2 {
  RequestIds ids;
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> input) {
    co_return rs::ResponseRecord::success(v2_body(text(input), ids.take("v2-")))
        .with_header("content-type", "application/json");  // the same header, in lower case
  }
};

// The JSON rules of this migration: items matched by their `sku`, prices equal to a cent.
rs::json::Options json_rules() {
  return rs::json::Options{}
      .match_array_by("/items", "/sku")
      .number_tolerance("/items/*/price", {.absolute = 0.005});
}

using Migration = rs::Shadower<AccountsV1, AccountsV2>;

net::awaitable<void> traffic(Migration migration, int requests) {
  for (int i = 0; i < requests; ++i) {
    const std::string user = "user-" + std::to_string(i);
    const rs::ShadowOutcome outcome = co_await migration.call(user);
    if (i < 3) {
      std::printf("%s: %s\n", user.c_str(),
                  outcome.divergence ? rs::to_string(*outcome.divergence).c_str() : "matched");
      if (outcome.noise && outcome.noise->body) {
        for (const rs::FieldDiff& field : outcome.noise->body->fields) {
          std::printf("  taken out as noise: %s %s\n", field.pointer.c_str(),
                      std::string(rs::to_string(field.change)).c_str());
        }
      }
    }
  }
}

}  // namespace

int main() {
  constexpr int requests = 200;  // past the 100 calls a place needs before it is judged
  Migration migration(AccountsV1{}, AccountsV2{},
                      rs::ShadowConfig::full_sample()
                          .body_comparator(rs::json::comparator(json_rules()))
                          .ignore_pointer("/items/*/updated_at")
                          .noise_cancellation(rs::NoiseCancellation{}));
  net::io_context ctx;
  net::co_spawn(ctx, traffic(migration, requests), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  ctx.run();

  const rs::ShadowStats stats = migration.stats();
  std::printf(
      "\n%llu calls: %llu matched, %llu diverged; %llu compared against a second v1 "
      "answer\n",
      static_cast<unsigned long long>(stats.calls), static_cast<unsigned long long>(stats.matched),
      static_cast<unsigned long long>(stats.diverged),
      static_cast<unsigned long long>(stats.noise_probes));
  std::printf("%zu kind(s) of divergence:\n", stats.signatures.size());
  for (const auto& kind : stats.signatures) {
    std::printf("  %5.1f%%  %s\n",
                100.0 * static_cast<double>(kind.count) / static_cast<double>(stats.diverged),
                kind.signature.text.c_str());
  }
  std::printf("noise:\n");
  for (const auto& noise : stats.noise) {
    std::printf(
        "  %-7s %-14s noisy on %llu calls; over the last %llu, v2 differed on %.0f %%, v1 on "
        "%.0f %%: %s\n",
        std::string(rs::to_string(noise.kind)).c_str(), noise.name.c_str(),
        static_cast<unsigned long long>(noise.count),
        static_cast<unsigned long long>(noise.window_requests), 100.0 * noise.shadow_rate(),
        100.0 * noise.secondary_rate(), noise.judged_noise ? "noise" : "not noise");
  }
  std::printf("\nJSON lines of the first divergence:\n");
  const auto entries = migration.divergences();
  if (!entries.empty()) std::cout << rs::to_json_line(entries.front()) << '\n';

  // Without the array and number rules, the same pair of answers reads differently: the items
  // compared by position (every field of both changed) and the price.
  std::printf("\nWithout match_array_by and number_tolerance, the same answers differ at:\n");
  const std::string primary = v1_body("user-0", "id");
  const std::string shadow = v2_body("user-0", "id");
  rs::PointerPatterns ignored;
  ignored.add("/items/*/updated_at");
  const auto plain = rs::json::compare(primary, shadow, ignored);
  for (const rs::FieldDiff& field : plain.fields) {
    std::printf("  %s %s\n", field.pointer.c_str(),
                std::string(rs::to_string(field.change)).c_str());
  }
  const auto ruled = rs::json::compare(primary, shadow, ignored, json_rules());

  // What the migration must show: every call diverges in exactly one way, `/tier` added; the
  // rules are what make it so.
  // And the request id must have been taken out as noise, and judged noise by its rates.
  bool request_id_ignored = false;
  for (const auto& noise : stats.noise) {
    request_id_ignored = request_id_ignored || (noise.name == "/request_id" && noise.judged_noise);
  }
  const bool as_expected =
      stats.calls == requests && stats.diverged == requests && stats.signatures.size() == 1 &&
      stats.signatures[0].signature.text == "body json /tier added" && request_id_ignored &&
      ruled.fields.size() == 1 && ruled.fields[0].pointer == "/tier" && plain.fields.size() > 1;
  if (!as_expected) {
    std::fprintf(stderr, "unexpected comparison result\n");
    return 1;
  }
  return 0;
}
