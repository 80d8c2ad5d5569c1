// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
// The Boost.Asio half of both_flavours_test (compiled against request_shadow::boost).
#include "both_flavours_scenario.hpp"

static_assert(REQUEST_SHADOW_BOOST_ASIO == 1, "compiled in the Boost flavour");
static_assert(std::is_same_v<net::io_context, ::boost::asio::io_context>);

both_flavours::Report both_flavours::run_boost() { return run_scenario(); }
