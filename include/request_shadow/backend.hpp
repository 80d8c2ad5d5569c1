// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_BACKEND_HPP
#define REQUEST_SHADOW_BACKEND_HPP

#include <concepts>
#include <cstddef>
#include <request_shadow/asio.hpp>
#include <request_shadow/response_record.hpp>
#include <span>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

/// The named requirement for a primary or shadow backend.
/**
 * Given a type `B` that models `Backend`, an lvalue `b` of type `B&` and a
 * `std::span<const std::byte> input`:
 *
 * - `b.call(input)` returns `net::awaitable<ResponseRecord>`;
 * - the awaitable completes with the backend's answer, or throws for a transport failure
 *   (an HTTP 500 is an answer: return `ResponseRecord::failure(500)`);
 * - the span is valid until the awaitable completes; copy what must outlive it.
 *
 * A `Shadower` calls one backend object from every coroutine that shares it, so `call` must be
 * safe to run concurrently. The primary's `call` runs on the caller's executor; the shadow's runs
 * on a worker coroutine with its own strand of the caller's execution context, and so does the
 * primary's second call when noise cancellation re-calls it (`ShadowConfig::noise_cancellation`
 * without a secondary backend). The shadow may be
 * abandoned at its deadline: its coroutine then keeps running to completion on its own (the
 * `Shadower` keeps the backend and the input alive), and it is sent a terminal cancellation it is
 * free to honour or ignore.
 *
 * Wrapping an existing client takes a few lines:
 * @code
 * struct V2Client {
 *   std::shared_ptr<legacy::Client> client;
 *   net::awaitable<request_shadow::ResponseRecord> call(std::span<const std::byte> input) {
 *     auto reply = co_await client->async_send(input, net::use_awaitable);
 *     co_return request_shadow::ResponseRecord::success(reply.body);
 *   }
 * };
 * static_assert(request_shadow::Backend<V2Client>);
 * @endcode
 */
template <class B>
concept Backend = requires(B& b, std::span<const std::byte> input) {
  { b.call(input) } -> std::same_as<net::awaitable<ResponseRecord>>;
};

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_BACKEND_HPP
