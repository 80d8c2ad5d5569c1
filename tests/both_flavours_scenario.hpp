// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// The scenario both flavours run, included by exactly one translation unit per flavour after the
// flavour was chosen (by the CMake target it links). Everything here has internal linkage.
#ifndef REQUEST_SHADOW_TESTS_BOTH_FLAVOURS_SCENARIO_HPP
#define REQUEST_SHADOW_TESTS_BOTH_FLAVOURS_SCENARIO_HPP

#include <chrono>
#include <exception>
#include <request_shadow/asio.hpp>
#include <request_shadow/request_shadow.hpp>
#include <span>
#include <string>
#include <typeinfo>
#include <utility>

#include "both_flavours.hpp"

namespace {

namespace rs = request_shadow;
namespace net = request_shadow::net;
using namespace std::chrono_literals;

struct Fixed {
  std::string body;
  net::awaitable<rs::ResponseRecord> call(std::span<const std::byte>) {
    co_return rs::ResponseRecord::success(body);
  }
};

using Shadow = rs::Shadower<Fixed, Fixed>;

net::awaitable<void> scenario(Shadow sh, both_flavours::Report& report) {
  const rs::ShadowOutcome out = co_await sh.call("GET /users/42");
  report.primary = std::string(out.primary.body.begin(), out.primary.body.end());
  report.diverged = out.divergence.has_value();
  const rs::ResponseRecord detached = co_await sh.call_detached("GET /users/43");
  if (detached.body != out.primary.body) report.primary = "detached call got another answer";
}

both_flavours::Report run_scenario() {
  both_flavours::Report report;
  report.boost_asio = REQUEST_SHADOW_BOOST_ASIO != 0;
  const auto config = rs::ShadowConfig::full_sample().sample_rate(37).shadow_timeout(1234ms);
  report.sample_rate = config.sample_rate();
  report.timeout_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.shadow_timeout()).count();
  report.config_type = typeid(rs::ShadowConfig).name();
  report.shadower_type = typeid(Shadow).name();

  net::io_context ctx;
  Shadow sh(Fixed{"v1"}, Fixed{"v2"}, rs::ShadowConfig::full_sample().shadow_timeout(2s));
  std::exception_ptr error;
  net::co_spawn(ctx, scenario(sh, report), [&error](std::exception_ptr e) { error = e; });
  ctx.run();
  if (error) std::rethrow_exception(error);
  const rs::ShadowStats stats = sh.stats();
  report.calls = stats.calls;
  report.matched = stats.matched;
  report.detached_diverged = sh.divergence_count() == 2;
  return report;
}

}  // namespace

#endif  // REQUEST_SHADOW_TESTS_BOTH_FLAVOURS_SCENARIO_HPP
