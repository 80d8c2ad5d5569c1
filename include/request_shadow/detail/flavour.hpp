// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_FLAVOUR_HPP
#define REQUEST_SHADOW_DETAIL_FLAVOUR_HPP

// Which Asio the library is compiled against, and the inline namespace that keeps the two
// flavours apart. The CMake target `request_shadow::boost` defines REQUEST_SHADOW_USE_BOOST_ASIO=1;
// `request_shadow::request_shadow` leaves it undefined (standalone Asio, the default).
//
// Every declaration of the library lives in `request_shadow::REQUEST_SHADOW_ABI`, an inline
// namespace: users write `request_shadow::Shadower` either way, while the linker sees
// `request_shadow::standalone_v1::...` or `request_shadow::boost_v1::...`. One program may link
// translation units of both flavours (one flavour per translation unit) without an ODR violation.
// This header includes nothing, so that the parts of the library that never touch Asio stay cheap.

#if defined(REQUEST_SHADOW_USE_BOOST_ASIO) && REQUEST_SHADOW_USE_BOOST_ASIO
#define REQUEST_SHADOW_BOOST_ASIO 1
#define REQUEST_SHADOW_ABI boost_v1
#else
#define REQUEST_SHADOW_BOOST_ASIO 0
#define REQUEST_SHADOW_ABI standalone_v1
#endif

#endif  // REQUEST_SHADOW_DETAIL_FLAVOUR_HPP
