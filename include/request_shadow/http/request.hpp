// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_HTTP_REQUEST_HPP
#define REQUEST_SHADOW_HTTP_REQUEST_HPP

/// @file
/// A strict parser for one HTTP/1.1 request message: the input of `http::Backend`.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <request_shadow/detail/flavour.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace http {

/// A malformed HTTP/1.1 request message; `what()` names what is wrong and where.
class RequestError : public std::invalid_argument {
 public:
  /// Make the error with its message.
  explicit RequestError(const std::string& what) : std::invalid_argument(what) {}
};

/// One header field of a request, as it was written (name case kept, value without the optional
/// whitespace around it).
struct RequestField {
  /// The field name, as written.
  std::string name;
  /// The field value, without leading and trailing spaces and tabs.
  std::string value;

  friend bool operator==(const RequestField&, const RequestField&) = default;
};

/// One parsed HTTP/1.1 request: request line, header fields in order, body.
struct Request {
  /// The method token, e.g. `GET`.
  std::string method;
  /// The request target in origin form: an absolute path, optionally with a query (`/a/b?x=1`).
  std::string target;
  /// The header fields, in the order they came; repeated names are kept.
  std::vector<RequestField> fields;
  /// The body: exactly `Content-Length` bytes (empty without that field).
  std::string body;

  friend bool operator==(const Request&, const Request&) = default;
};

namespace detail {

// RFC 9110 tchar.
constexpr bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A byte allowed in a field value: VCHAR, obs-text, space or tab.
constexpr bool is_field_value_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u == ' ' || u == '\t' || (u > 0x20 && u != 0x7f);
}

// A byte allowed in an origin-form target: visible ASCII only (RFC 3986 characters and `%`).
constexpr bool is_target_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && c != '#';
}

inline std::string printable(std::string_view s, std::size_t limit = 40) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u < 0x7f && u != '\\') {
      out += s[i];
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
  if (s.size() > limit) out += "...";
  return out;
}

[[noreturn]] inline void request_error(const std::string& what) {
  throw RequestError("request_shadow::http: malformed request: " + what);
}

// The next line ending in CRLF, without it; a bare LF or CR is an error.
inline std::string_view take_line(std::string_view& in, std::string_view what) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\n') request_error("bare LF in the " + std::string(what) + " (CRLF expected)");
    if (in[i] == '\r') {
      if (i + 1 >= in.size() || in[i + 1] != '\n') {
        request_error("bare CR in the " + std::string(what) + " (CRLF expected)");
      }
      const std::string_view line = in.substr(0, i);
      in.remove_prefix(i + 2);
      return line;
    }
  }
  request_error("the " + std::string(what) + " does not end in CRLF (message truncated?)");
}

inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline std::size_t parse_content_length(std::string_view v) {
  if (v.empty()) request_error("empty Content-Length");
  std::size_t n = 0;
  for (const char c : v) {
    if (c < '0' || c > '9')
      request_error("Content-Length is not a decimal number: \"" + printable(v) + "\"");
    const auto digit = static_cast<std::size_t>(c - '0');
    if (n > (std::numeric_limits<std::size_t>::max() - digit) / 10) {
      request_error("Content-Length too large: \"" + printable(v) + "\"");
    }
    n = n * 10 + digit;
  }
  return n;
}

}  // namespace detail

/// Parse one complete HTTP/1.1 request message; throw `RequestError` if it is malformed.
/**
 * Strict, after RFC 9112, and never a guess:
 * - the request line is `method SP target SP HTTP/1.1 CRLF`, the method a token, the target in
 *   origin form (it starts with `/`; no fragment, no spaces or control bytes);
 * - every line ends in CRLF (a bare CR or LF is an error); no whitespace before a field's colon,
 *   no obsolete line folding, field names are tokens, values hold no control bytes but tab;
 * - exactly one `Host` field;
 * - the body is given by `Content-Length` (repeated only with the same value) and must be exactly
 *   the bytes after the empty line; `Transfer-Encoding` is refused (not supported as input).
 */
[[nodiscard]] inline Request parse_request(std::string_view message) {
  using detail::request_error;
  Request out;
  std::string_view in = message;
  if (in.empty()) request_error("empty input");
  const std::string_view line = detail::take_line(in, "request line");

  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) {
    request_error("the request line has no space: \"" + detail::printable(line) + "\"");
  }
  const std::string_view method = line.substr(0, sp1);
  if (method.empty()) request_error("the request line starts with a space");
  for (const char c : method) {
    if (!detail::is_tchar(c)) {
      request_error("invalid character in the method: \"" + detail::printable(method) + "\"");
    }
  }
  const std::string_view rest = line.substr(sp1 + 1);
  const std::size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) {
    request_error("the request line has no HTTP version: \"" + detail::printable(line) + "\"");
  }
  const std::string_view target = rest.substr(0, sp2);
  const std::string_view version = rest.substr(sp2 + 1);
  if (target.empty() || target.front() != '/') {
    request_error("the target is not in origin form (must start with '/'): \"" +
                  detail::printable(target) + "\"");
  }
  for (const char c : target) {
    if (!detail::is_target_char(c)) {
      request_error("invalid character in the target: \"" + detail::printable(target) + "\"");
    }
  }
  if (version != "HTTP/1.1") {
    request_error("the HTTP version is not HTTP/1.1: \"" + detail::printable(version) + "\"");
  }
  out.method = std::string(method);
  out.target = std::string(target);

  bool have_length = false;
  std::size_t length = 0;
  int hosts = 0;
  for (;;) {
    const std::string_view field = detail::take_line(in, "header section");
    if (field.empty()) break;
    if (field.front() == ' ' || field.front() == '\t') {
      request_error("obsolete line folding in the header section: \"" + detail::printable(field) +
                    "\"");
    }
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos) {
      request_error("a header field has no colon: \"" + detail::printable(field) + "\"");
    }
    const std::string_view name = field.substr(0, colon);
    if (name.empty()) request_error("a header field has an empty name");
    for (const char c : name) {
      if (!detail::is_tchar(c)) {
        request_error(
            "invalid character in a header field name (whitespace before the colon?): "
            "\"" +
            detail::printable(name) + "\"");
      }
    }
    const std::string_view value = detail::trim_ows(field.substr(colon + 1));
    for (const char c : value) {
      if (!detail::is_field_value_char(c)) {
        request_error("control character in the value of header field \"" +
                      detail::printable(name) + "\"");
      }
    }
    auto named = [name](std::string_view lower) {
      return name.size() == lower.size() &&
             std::equal(name.begin(), name.end(), lower.begin(), [](char a, char b) {
               return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
             });
    };
    if (named("content-length")) {
      const std::size_t n = detail::parse_content_length(value);
      if (have_length && n != length) request_error("conflicting Content-Length fields");
      have_length = true;
      length = n;
    }
    if (named("transfer-encoding")) {
      request_error("Transfer-Encoding is not supported (give the body by Content-Length)");
    }
    if (named("host")) ++hosts;
    out.fields.push_back(RequestField{std::string(name), std::string(value)});
  }
  if (hosts == 0) request_error("no Host header field (HTTP/1.1 requires one)");
  if (hosts > 1) request_error("more than one Host header field");
  if (in.size() < length) {
    request_error("the body is shorter than Content-Length (" + std::to_string(in.size()) + " of " +
                  std::to_string(length) + " bytes)");
  }
  if (in.size() > length) {
    request_error(std::to_string(in.size() - length) +
                  " bytes after the end of the message (Content-Length " + std::to_string(length) +
                  ")");
  }
  out.body = std::string(in);
  return out;
}

}  // namespace http
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_HTTP_REQUEST_HPP
