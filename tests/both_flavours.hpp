// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Both flavours in one program: both_flavours_standalone.cpp and both_flavours_boost.cpp each
// include the library in one flavour and run the same scenario; both_flavours_test.cpp links the
// two and checks each. This header names no library type, so that it means the same in all three.
#ifndef REQUEST_SHADOW_TESTS_BOTH_FLAVOURS_HPP
#define REQUEST_SHADOW_TESTS_BOTH_FLAVOURS_HPP

#include <cstdint>
#include <string>

namespace both_flavours {

/// What one flavour's translation unit saw.
struct Report {
  bool boost_asio = false;         // the flavour the translation unit was compiled in
  std::string primary;             // the body the caller got
  bool diverged = false;           // the shadow's answer differed
  bool detached_diverged = false;  // the same, through call_detached and the log
  std::uint64_t calls = 0;         // the Shadower's counters
  std::uint64_t matched = 0;
  unsigned sample_rate = 0;  // read back from a ShadowConfig
  std::int64_t timeout_ms = 0;
  std::string config_type;    // typeid(ShadowConfig).name()
  std::string shadower_type;  // typeid(the Shadower).name()
};

Report run_standalone();
Report run_boost();

}  // namespace both_flavours

#endif  // REQUEST_SHADOW_TESTS_BOTH_FLAVOURS_HPP
