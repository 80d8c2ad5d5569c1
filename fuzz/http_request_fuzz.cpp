// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Fuzzes `http::parse_request` (http/request.hpp), the strict HTTP/1.1 parser behind
// `http::Backend`, with the input as the whole message.
//
// Invariants (each violation prints what broke and aborts):
// 1. It returns a request or throws `http::RequestError`, never anything else, and never crashes.
// 2. A `RequestError`'s message starts with `request_shadow::http: malformed request: ` and is
//    printable ASCII (the bytes it quotes are escaped).
// 3. A parsed request is what the documentation promises: the method a non-empty token, the
//    target starting with `/` and printable without spaces, field names tokens, values without
//    CR, LF or surrounding blanks, exactly one `Host` field, no `Transfer-Encoding`, and the body
//    exactly `Content-Length` bytes (every such field agreeing), 0 without one.
// 4. Writing a parsed request back in the canonical form (`name: value`) and parsing it again
//    gives the same request.

#include <request_shadow/http/request.hpp>
// The header under test comes first: it must compile on its own.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"

namespace {

namespace http = request_shadow::http;
using request_shadow::fuzz::fail;
using request_shadow::fuzz::require;

REQUEST_SHADOW_FUZZ_ORACLE bool token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

REQUEST_SHADOW_FUZZ_ORACLE bool named(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c =
        name[i] >= 'A' && name[i] <= 'Z' ? static_cast<char>(name[i] - 'A' + 'a') : name[i];
    if (c != lower[i]) return false;
  }
  return true;
}

REQUEST_SHADOW_FUZZ_ORACLE void check(const http::Request& r, std::string_view input) {
  require(token(r.method), "the method is a token", input);
  require(!r.target.empty() && r.target.front() == '/', "the target starts with /", input);
  for (const char c : r.target) {
    const auto u = static_cast<unsigned char>(c);
    require(u > 0x20 && u < 0x7f && c != '#', "the target is printable, without # or space", input);
  }
  int hosts = 0;
  for (const auto& f : r.fields) {
    require(token(f.name), "a field name is a token", input);
    for (const char c : f.value) {
      const auto u = static_cast<unsigned char>(c);
      require(u == '\t' || u >= 0x20, "a field value holds no control byte but tab", input);
      require(u != 0x7f, "a field value holds no DEL", input);
    }
    if (!f.value.empty()) {
      require(f.value.front() != ' ' && f.value.front() != '\t' && f.value.back() != ' ' &&
                  f.value.back() != '\t',
              "a field value has no surrounding blanks", input);
    }
    hosts += named(f.name, "host") ? 1 : 0;
    require(!named(f.name, "transfer-encoding"), "no Transfer-Encoding", input);
    if (named(f.name, "content-length")) {
      std::size_t n = 0;
      for (const char c : f.value) {
        require(c >= '0' && c <= '9', "Content-Length is digits", input);
        n = n * 10 + static_cast<std::size_t>(c - '0');  // no overflow: the body is that long
        require(n <= r.body.size(), "the body is Content-Length bytes", input);
      }
      require(n == r.body.size(), "the body is Content-Length bytes", input);
    }
  }
  require(hosts == 1, "exactly one Host", input);
}

REQUEST_SHADOW_FUZZ_ORACLE std::string write(const http::Request& r) {
  std::string out = r.method + " " + r.target + " HTTP/1.1\r\n";
  for (const auto& f : r.fields) out += f.name + ": " + f.value + "\r\n";
  out += "\r\n";
  out += r.body;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  http::Request parsed;
  try {
    parsed = http::parse_request(input);
  } catch (const http::RequestError& e) {
    const std::string_view what = e.what();
    require(what.starts_with("request_shadow::http: malformed request: "),
            "a RequestError says what it is", what);
    for (const char c : what) {
      const auto u = static_cast<unsigned char>(c);
      require(u >= 0x20 && u < 0x7f, "a RequestError's message is printable ASCII", what);
    }
    return 0;
  } catch (...) {
    fail("parse_request threw something else than RequestError", input);
  }
  check(parsed, input);
  const std::string again = write(parsed);
  try {
    require(http::parse_request(again) == parsed, "a written request parses back the same", again);
  } catch (const http::RequestError& e) {
    fail("a written request does not parse back", std::string(e.what()) + " | " + again);
  }
  return 0;
}
