// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// The standalone-Asio half of both_flavours_test (compiled against request_shadow::request_shadow).
#include "both_flavours_scenario.hpp"

static_assert(REQUEST_SHADOW_BOOST_ASIO == 0, "compiled in the standalone flavour");

both_flavours::Report both_flavours::run_standalone() { return run_scenario(); }
