// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Fuzzes the HTTP/1 request rules (http_rules.hpp) on any bytes taken as a request.
//
// Invariants (each violation prints what broke and aborts):
// 1. `http_strip_headers({"authorization", "x-b"})` gives a subsequence of its input: it only
//    takes bytes out (a bare CR before a removed field may take over that field's line end).
// 2. Stripping again changes nothing, and no line of the result's header section (as the
//    library reads it) is a field with a removed name, in any letter case.
// 3. `http_safe_methods()` accepts only text whose request line (after empty lines) starts with
//    `GET`, `HEAD`, `OPTIONS` or `TRACE` and a blank.
// 4. `http_header_key("x-b")` gives the whole request when it finds no such field, and otherwise
//    a value with no CR or LF in it.
// None of them throws.

#include <request_shadow/http_rules.hpp>
// The header under test comes first: it must compile on its own.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"

namespace rs = request_shadow;

namespace {

REQUEST_SHADOW_FUZZ_ORACLE bool is_subsequence(std::string_view part, std::string_view whole) {
  std::size_t j = 0;
  for (const char c : whole) {
    if (j < part.size() && part[j] == c) ++j;
  }
  return j == part.size();
}

REQUEST_SHADOW_FUZZ_ORACLE bool starts_safely(std::string_view request) {
  const std::string_view line = request.substr(rs::detail::http_request_line_start(request));
  for (const std::string_view method :
       {"GET ", "GET\t", "HEAD ", "HEAD\t", "OPTIONS ", "OPTIONS\t", "TRACE ", "TRACE\t"}) {
    if (line.substr(0, method.size()) == method) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view request(reinterpret_cast<const char*>(data), size);
  static const auto strip = rs::http_strip_headers({"authorization", "x-b"});
  static const auto safe = rs::http_safe_methods();
  static const auto key = rs::http_header_key("x-b");

  const std::string out = strip(request);
  rs::fuzz::require(is_subsequence(out, request), "1. the result is a subsequence", out);
  rs::fuzz::require(strip(out) == out, "2. a second strip changes nothing", out);
  rs::detail::for_each_http_header_line(out, [&out](const rs::detail::HttpLine& line) {
    const std::string_view content(out.data() + line.begin, line.content_end - line.begin);
    if (!content.empty() && rs::detail::is_http_blank(content.front())) return;
    const std::string_view name = rs::detail::http_field_name(content);
    rs::fuzz::require(!rs::detail::http_name_equal(name, "authorization") &&
                          !rs::detail::http_name_equal(name, "x-b"),
                      "2. no removed field is left", out);
  });

  rs::fuzz::require(!safe(request) || starts_safely(request), "3. only safe methods pass");

  const std::string k = key(request);
  rs::fuzz::require(k == request || k.find_first_of("\r\n") == std::string::npos,
                    "4. a key read from a field is one line", k);
  return 0;
}
