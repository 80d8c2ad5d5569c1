// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// Both flavours in one program. The library's entities live in request_shadow::standalone_v1 or
// request_shadow::boost_v1, so the two translation units share no inline function, inline
// variable or class of the library: without the inline namespaces, the linker would keep one
// copy of, say, ShadowConfig's members for both, compiled for one flavour's layout.
#include "both_flavours.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

void expect_scenario(const both_flavours::Report& r) {
  EXPECT_EQ(r.primary, "v1");
  EXPECT_TRUE(r.diverged);
  EXPECT_TRUE(r.detached_diverged);
  EXPECT_EQ(r.calls, 2u);
  EXPECT_EQ(r.matched, 0u);
  EXPECT_EQ(r.sample_rate, 37u);
  EXPECT_EQ(r.timeout_ms, 1234);
}

TEST(BothFlavours, StandaloneRunsInTheSameProgram) {
  const both_flavours::Report r = both_flavours::run_standalone();
  EXPECT_FALSE(r.boost_asio);
  expect_scenario(r);
}

TEST(BothFlavours, BoostRunsInTheSameProgram) {
  const both_flavours::Report r = both_flavours::run_boost();
  EXPECT_TRUE(r.boost_asio);
  expect_scenario(r);
}

TEST(BothFlavours, EachInTurnAndAgain) {
  for (int i = 0; i < 3; ++i) {
    expect_scenario(both_flavours::run_standalone());
    expect_scenario(both_flavours::run_boost());
  }
}

TEST(BothFlavours, TheLibraryTypesAreDistinct) {
  const both_flavours::Report s = both_flavours::run_standalone();
  const both_flavours::Report b = both_flavours::run_boost();
  EXPECT_NE(s.config_type, b.config_type);
  EXPECT_NE(s.shadower_type, b.shadower_type);
  EXPECT_NE(s.config_type.find("standalone_v1"), std::string::npos) << s.config_type;
  EXPECT_NE(b.config_type.find("boost_v1"), std::string::npos) << b.config_type;
}

}  // namespace
