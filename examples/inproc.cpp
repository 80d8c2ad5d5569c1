// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// In-process shadowing of a user service migration: "v1" stays in production, "v2" is the
// candidate. v2 adds a JSON field and a header for premium users, and fails one lookup that v1
// answers. Each request gets v1's answer; the divergence says how v2 differs.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <request_shadow/asio.hpp>
#include <request_shadow/request_shadow.hpp>
#include <string>
#include <string_view>

namespace rs = request_shadow;
namespace net = request_shadow::net;
using namespace std::chrono_literals;

namespace {

// Requests look like "GET /users/<id>".
int user_id(std::span<const std::byte> input) {
  const std::string_view request(reinterpret_cast<const char*>(input.data()), input.size());
  const auto slash = request.rfind('/');
  return slash == std::string_view::npos
             ? -1
             : std::atoi(std::string(request.substr(slash + 1)).c_str());
}

std::string user_json(int id, bool with_tier) {
  std::string json =
      R"({"id":)" + std::to_string(id) + R"(,"name":"user-)" + std::to_string(id) + '"';
  if (with_tier) json += R"(,"tier":"gold")";
  return json + "}";
}

// The production implementation.
struct UserServiceV1 {
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> input) {
    const int id = user_id(input);
    if (id <= 0) co_return rs::ResponseRecord::failure(404, R"({"error":"no such user"})");
    co_return rs::ResponseRecord::success(user_json(id, false))
        .with_header("Content-Type", "application/json");
  }
};

// The candidate: adds "tier" and a header for even ids, and cannot serve id 13.
struct UserServiceV2 {
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte> input) {
    const int id = user_id(input);
    if (id <= 0) co_return rs::ResponseRecord::failure(404, R"({"error":"no such user"})");
    if (id == 13) co_return rs::ResponseRecord::failure(500, R"({"error":"tier lookup failed"})");
    const bool premium = id % 2 == 0;
    auto response = rs::ResponseRecord::success(user_json(id, premium))
                        .with_header("content-type", "application/json");
    if (premium) response.with_header("X-Tier-Source", "crm");
    co_return response;
  }
};

void print(std::string_view request, const rs::ShadowOutcome& out) {
  std::printf("%.*s\n  primary: %d %s\n", static_cast<int>(request.size()), request.data(),
              out.primary.status, out.primary.body.c_str());
  if (out.skipped_by_sampler) {
    std::printf("  shadow:  not sampled\n");
  } else if (out.shadow_failed) {
    std::printf("  shadow:  %s\n", out.shadow_failed->message.c_str());
  } else if (!out.divergence) {
    std::printf("  shadow:  matches\n");
  } else {
    const rs::Divergence& d = *out.divergence;
    std::printf("  divergence: %s\n", rs::to_string(d).c_str());
    if (d.status) std::printf("    status: %d -> %d\n", d.status->primary, d.status->shadow);
    if (d.headers) {
      for (const auto& name : d.headers->added)
        std::printf("    header added:   %s\n", name.c_str());
      for (const auto& name : d.headers->removed)
        std::printf("    header removed: %s\n", name.c_str());
      for (const auto& name : d.headers->changed)
        std::printf("    header changed: %s\n", name.c_str());
    }
    if (d.body) {
      std::printf("    body: %zu vs %zu bytes, first difference at byte %zu\n", d.body->primary_len,
                  d.body->shadow_len, d.body->prefix_equal_bytes);
      std::printf("      primary: %s\n      shadow:  %s\n", d.body->primary_excerpt.c_str(),
                  d.body->shadow_excerpt.c_str());
    }
  }
}

net::awaitable<void> migrate(rs::Shadower<UserServiceV1, UserServiceV2> shadower) {
  for (const std::string request : {"GET /users/7", "GET /users/42", "GET /users/13"}) {
    const rs::ShadowOutcome out = co_await shadower.call(request);
    print(request, out);
  }
  const auto stats = shadower.stats();
  std::printf("\n%llu calls, %llu matched, %llu diverged; %zu divergences in the log\n",
              static_cast<unsigned long long>(stats.calls),
              static_cast<unsigned long long>(stats.matched),
              static_cast<unsigned long long>(stats.diverged), shadower.divergences().size());
}

}  // namespace

int main() {
  net::io_context ctx;
  rs::Shadower shadower(UserServiceV1{}, UserServiceV2{},
                        rs::ShadowConfig::full_sample().shadow_timeout(100ms));
  net::co_spawn(ctx, migrate(shadower), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  try {
    ctx.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inproc: %s\n", e.what());
    return 1;
  }
  return 0;
}
