// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_REQUEST_SHADOW_HPP
#define REQUEST_SHADOW_REQUEST_SHADOW_HPP

/// @file
/// The umbrella header: everything request-shadow offers.

#include <request_shadow/adapters.hpp>
#include <request_shadow/backend.hpp>
#include <request_shadow/body_comparator.hpp>
#include <request_shadow/config.hpp>
#include <request_shadow/divergence.hpp>
#include <request_shadow/http_rules.hpp>
#include <request_shadow/json_lines.hpp>
#include <request_shadow/log.hpp>
#include <request_shadow/outcome.hpp>
#include <request_shadow/pointer.hpp>
#include <request_shadow/prometheus.hpp>
#include <request_shadow/response_record.hpp>
#include <request_shadow/sampler.hpp>
#include <request_shadow/shadower.hpp>
#include <request_shadow/stats.hpp>

#endif  // REQUEST_SHADOW_REQUEST_SHADOW_HPP
