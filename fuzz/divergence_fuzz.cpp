// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Fuzzes `Divergence::compare` (divergence.hpp) on random responses and rules, against a plain
// reference model written here.
//
// Input: a byte of rules (bits 0-2: ignore status, headers, body; bit 3: `ignore_noisy_headers`;
// bits 4-5: no normalizer, one that upper-cases ASCII, one that throws, or both in that order),
// then for each side a byte (bit 0: `ok`; bits 1-3: how many headers) and two bytes of status,
// then `Input::text()` fields: each side's header names and values (a one-byte name stands for
// a name from a short list of mixed-case ones), up to 3 ignored header names, and both bodies.
//
// Invariants (each violation prints what broke and aborts), for both orders of the responses:
// 1. `status` is set exactly when status is not ignored and the codes or `ok` flags differ, and
//    holds both sides' codes and flags.
// 2. `headers` is set exactly when headers are not ignored and some name, compared
//    case-insensitively and not ignored (one by one or as a noisy header), is only on one side
//    (`added`, `removed`) or has other values, another number or order of values (`changed`);
//    each list is the lower-cased names, sorted, each once.
// 3. `body` is set exactly when the body is not ignored and the bodies differ, byte for byte,
//    after the normalizers that did not throw; it holds those bodies' lengths, their common
//    prefix and the reference's excerpts (16 bytes before and 48 from the first difference,
//    escaped, with `...` where the body goes on). A normalizer that throws is named in
//    `fallback`, with its exception's text; with none, `fallback` is empty.
// 4. `compare` throws nothing; the result is `nullopt` exactly when no part is set.
// 5. `to_string` and `signature` run; the signature is the same for equal divergences and its
//    `hex()` is 16 lower-case hexadecimal digits.

#include <request_shadow/divergence.hpp>
// The header under test comes first: it must compile on its own.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"

namespace {

namespace rs = request_shadow;
using rs::fuzz::fail;
using rs::fuzz::require;

// Names that collide across case and include noisy ones.
constexpr std::array<std::string_view, 12> names = {
    "Content-Type", "content-type", "CONTENT-TYPE", "Date",   "x-request-id", "X-Request-Id",
    "etag",         "X-Trace",      "x-trace",      "Server", "set-cookie",   "x-build"};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

struct Side {
  rs::ResponseRecord record;
  std::vector<std::pair<std::string, std::string>> headers;  // as added, names as given
};

Side read_side_head(rs::fuzz::Input& in, std::size_t& header_count) {
  Side s;
  const std::uint8_t b = in.byte();
  s.record.ok = (b & 1U) != 0;
  header_count = (b >> 1U) & 7U;
  s.record.status = in.u16();
  return s;
}

void read_headers(rs::fuzz::Input& in, Side& s, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    std::string name = in.text();
    if (name.size() == 1) {
      name = std::string(names[static_cast<unsigned char>(name[0]) % names.size()]);
    }
    std::string value = in.text();
    s.record.headers.add(name, value);
    s.headers.emplace_back(std::move(name), std::move(value));
  }
}

// The reference excerpt: 16 bytes before `at`, 48 from it, escaped.
REQUEST_SHADOW_FUZZ_ORACLE std::string excerpt(std::string_view body, std::size_t at) {
  const std::size_t start = at > 16 ? at - 16 : 0;
  const std::size_t end = std::min(body.size(), at + 48);
  std::string out = start > 0 ? "..." : "";
  constexpr char hex[] = "0123456789abcdef";
  for (std::size_t i = start; i < end; ++i) {
    const auto c = static_cast<unsigned char>(body[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += hex[c >> 4U];
      out += hex[c & 0xfU];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (end < body.size()) out += "...";
  return out;
}

struct Rules {
  bool ignore_status = false;
  bool ignore_headers = false;
  bool ignore_body = false;
  bool upper_case = false;  // a normalizer that upper-cases ASCII letters
  bool throwing = false;    // a normalizer that throws (after the other)
  std::set<std::string> ignored_names;
};

REQUEST_SHADOW_FUZZ_ORACLE std::optional<rs::Divergence> reference(const Side& p, const Side& s,
                                                                   const Rules& rules) {
  rs::Divergence d;
  if (!rules.ignore_status && (p.record.status != s.record.status || p.record.ok != s.record.ok)) {
    d.status = rs::StatusDiff{p.record.status, s.record.status, p.record.ok, s.record.ok};
  }
  if (!rules.ignore_headers) {
    std::map<std::string, std::vector<std::string>> ph;
    std::map<std::string, std::vector<std::string>> sh;
    for (const auto& [n, v] : p.headers) ph[lower(n)].push_back(v);
    for (const auto& [n, v] : s.headers) sh[lower(n)].push_back(v);
    std::set<std::string> all;
    for (const auto& [n, v] : ph) all.insert(n);
    for (const auto& [n, v] : sh) all.insert(n);
    rs::HeaderDiff h;
    for (const auto& n : all) {
      if (rules.ignored_names.count(n) != 0) continue;
      const auto pi = ph.find(n);
      const auto si = sh.find(n);
      if (pi == ph.end()) {
        h.added.push_back(n);
      } else if (si == sh.end()) {
        h.removed.push_back(n);
      } else if (pi->second != si->second) {
        h.changed.push_back(n);
      }
    }
    if (!h.added.empty() || !h.removed.empty() || !h.changed.empty()) d.headers = std::move(h);
  }
  if (!rules.ignore_body && p.record.body != s.record.body) {
    const std::string a = rules.upper_case ? upper(p.record.body) : p.record.body;
    const std::string b = rules.upper_case ? upper(s.record.body) : s.record.body;
    if (a != b) {
      rs::BodyDiff body;
      body.primary_len = a.size();
      body.shadow_len = b.size();
      std::size_t prefix = 0;
      while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
      body.prefix_equal_bytes = prefix;
      body.primary_excerpt = excerpt(a, prefix);
      body.shadow_excerpt = excerpt(b, prefix);
      body.fallback = rules.throwing ? "(a normalizer failed)" : "";  // compared apart
      d.body = std::move(body);
    }
  }
  if (!d.status && !d.headers && !d.body) return std::nullopt;
  return d;
}

std::string show(const std::optional<rs::Divergence>& d) {
  return d ? rs::to_string(*d) : std::string("(none)");
}

void check(const Side& p, const Side& s, const Rules& rules, const rs::ShadowConfig& config) {
  std::optional<rs::Divergence> got;
  try {
    got = rs::Divergence::compare(p.record, s.record, config);
  } catch (const std::exception& e) {
    fail("Divergence::compare throws nothing", e.what());
  }
  std::optional<rs::Divergence> want = reference(p, s, rules);
  if (got && want && got->body && want->body) {
    // The fallback's wording is the library's; the reference says only whether there is one.
    const std::string& fallback = got->body->fallback;
    if (rules.throwing) {
      require(fallback.find("boom") != std::string::npos,
              "a normalizer that throws is named in the fallback, with its text", fallback);
    } else {
      require(fallback.empty(), "no fallback when every normalizer ran", fallback);
    }
    want->body->fallback = fallback;
  }
  require(got.has_value() == want.has_value(), "a divergence exactly when the reference has one",
          show(got) + " vs " + show(want));
  if (!got) return;
  require(got->status == want->status, "status diff as the reference's",
          show(got) + " vs " + show(want));
  require(got->headers == want->headers, "header diff as the reference's",
          show(got) + " vs " + show(want));
  require(got->body == want->body, "body diff as the reference's", show(got) + " vs " + show(want));

  const rs::DivergenceSignature sig = rs::signature(*got);
  require(sig == rs::signature(*want), "equal divergences have equal signatures", sig.text);
  const std::string hex = sig.hex();
  require(hex.size() == 16 && hex.find_first_not_of("0123456789abcdef") == std::string::npos,
          "a signature's hex() is 16 lower-case hexadecimal digits", hex);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rs::fuzz::Input in(data, size);
  const std::uint8_t flags = in.byte();
  Rules rules;
  rules.ignore_status = (flags & 1U) != 0;
  rules.ignore_headers = (flags & 2U) != 0;
  rules.ignore_body = (flags & 4U) != 0;
  const bool noisy = (flags & 8U) != 0;
  rules.upper_case = (flags & 0x10U) != 0;
  rules.throwing = (flags & 0x20U) != 0;

  std::size_t primary_headers = 0;
  std::size_t shadow_headers = 0;
  Side primary = read_side_head(in, primary_headers);
  Side shadow = read_side_head(in, shadow_headers);
  read_headers(in, primary, primary_headers);
  read_headers(in, shadow, shadow_headers);

  rs::ShadowConfig config;
  if (rules.ignore_status) config.ignore(rs::IgnoreField::Status);
  if (rules.ignore_headers) config.ignore(rs::IgnoreField::Headers);
  if (rules.ignore_body) config.ignore(rs::IgnoreField::Body);
  if (noisy) {
    config.ignore_noisy_headers();
    for (const auto n : rs::ShadowConfig::noisy_headers()) rules.ignored_names.insert(lower(n));
  }
  const std::size_t ignored_count = in.byte() % 4U;
  for (std::size_t i = 0; i < ignored_count; ++i) {
    std::string name = in.text();
    if (name.size() == 1) {
      name = std::string(names[static_cast<unsigned char>(name[0]) % names.size()]);
    }
    config.ignore_header(name);
    rules.ignored_names.insert(lower(name));
  }
  if (rules.upper_case) {
    config.body_normalizer([](std::string_view body) { return upper(body); });
  }
  if (rules.throwing) {
    config.body_normalizer(
        [](std::string_view) -> std::string { throw std::runtime_error("boom"); });
  }
  primary.record.body = in.text();
  shadow.record.body = in.text();

  check(primary, shadow, rules, config);
  check(shadow, primary, rules, config);
  check(primary, primary, rules, config);
  return 0;
}
