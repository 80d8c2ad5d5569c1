// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_ASIO_HPP
#define REQUEST_SHADOW_ASIO_HPP

// The one door to Asio: the only header of the library that includes Asio. It picks standalone
// Asio (`::asio`, the default) or Boost.Asio (`boost::asio`, when REQUEST_SHADOW_USE_BOOST_ASIO is
// 1, as the CMake target `request_shadow::boost` sets it), and names it `request_shadow::net`.
// The library, its tests and its examples spell Asio as `net::...` only.

#include <request_shadow/detail/flavour.hpp>

#if REQUEST_SHADOW_BOOST_ASIO
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/detail/deadline_timer_service.hpp>
#include <boost/asio/detail/reactive_descriptor_service.hpp>
#include <boost/asio/detail/strand_executor_service.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/is_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#else
#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/detail/deadline_timer_service.hpp>
#include <asio/detail/reactive_descriptor_service.hpp>
#include <asio/detail/strand_executor_service.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution/executor.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/execution_context.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/is_executor.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/query.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/system_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <system_error>
#include <typeinfo>
#endif

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

#if REQUEST_SHADOW_BOOST_ASIO
/// The Asio in use: `boost::asio` in this flavour.
namespace net = ::boost::asio;
/// The error code of the Asio in use (what its handlers receive, as with `redirect_error`).
using error_code = ::boost::system::error_code;
/// The exception of the Asio in use: an operation that fails throws it with its `error_code`.
using system_error = ::boost::system::system_error;
#else
/// The Asio in use: standalone `::asio` in this flavour.
namespace net = ::asio;
/// The error code of the Asio in use (what its handlers receive, as with `redirect_error`).
using error_code = std::error_code;
/// The exception of the Asio in use: an operation that fails throws it with its `error_code`.
using system_error = std::system_error;
#endif

namespace detail {

// The differences between Asio 1.22 (standalone, the minimum) and 1.26 (Boost 1.81) that the
// library meets, papered over here and nowhere else.
#if REQUEST_SHADOW_BOOST_ASIO
// 1.24 made `deferred` a stable completion token; `experimental::deferred` is deprecated.
using deferred_t = net::deferred_t;
#else
using deferred_t = net::experimental::deferred_t;
#endif
/// The completion token that makes an operation a deferred one (for a parallel group).
inline constexpr deferred_t deferred{};

/// The executor of type `T` inside `ex`, or nullptr if `ex` holds another type. Standalone Asio
/// 1.22, the minimum, does not check the type in `any_io_executor::target`: it casts whatever `ex`
/// holds (Boost 1.81's Asio checks it). Without run-time type information no type is recognised.
template <class T>
[[nodiscard]] const T* target_as(const net::any_io_executor& ex) noexcept {
#if REQUEST_SHADOW_BOOST_ASIO
  return ex.template target<T>();
#elif defined(ASIO_NO_TYPEID)
  (void)ex;
  return nullptr;
#else
  return ex.target_type() == typeid(T) ? ex.template target<T>() : nullptr;
#endif
}

}  // namespace detail

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_ASIO_HPP
