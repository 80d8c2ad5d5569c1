// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Fuzzes `Divergence::compare` (divergence.hpp) on random responses and rules, against a plain
// reference model written here.
//
// Input: a byte of rules (bits 0-2: ignore status, headers, body; bit 3: `ignore_noisy_headers`;
// bits 4-5: no normalizer, one that upper-cases ASCII, one that throws, or both in that order;
// bit 6: two body comparators whose every answer the input chooses, and ignore rules; bit 7:
// `compare_framing_headers`),
// then for each side a byte (bit 0: `ok`; bits 1-3: how many headers) and two bytes of status,
// then `Input::text()` fields: each side's header names and values (a one-byte name stands for
// a name from a short list of mixed-case ones), up to 3 ignored header names, the comparators'
// answers and the ignore rules (patterns and value places), and both bodies.
//
// Invariants (each violation prints what broke and aborts), for both orders of the responses:
// 1. `status` is set exactly when status is not ignored and the codes or `ok` flags differ, and
//    holds both sides' codes and flags.
// 2. `headers` is set exactly when headers are not ignored and some name, compared
//    case-insensitively and not ignored (one by one, as a noisy header, or as a framing header
//    without `compare_framing_headers`), is only on one side
//    (`added`, `removed`) or has other values, another number or order of values (`changed`);
//    each list is the lower-cased names, sorted, each once.
// 3. `body` is set exactly when the body is not ignored and the bodies differ, byte for byte,
//    after the normalizers that did not throw; it holds those bodies' lengths, their common
//    prefix and the reference's excerpts (16 bytes before and 48 from the first difference,
//    escaped, with `...` where the body goes on). A normalizer that throws is named in
//    `fallback`, with its exception's text; with none, `fallback` is empty.
// 3b. With body comparators, the first whose selector applies (none: every pair) and that can
//    compare reads the bodies: a selector that throws, or a comparator that throws or reports
//    what is not a JSON Pointer, leaves the byte diff with `<name>: ` and the reason in
//    `fallback` (`applies failed: ` for the selector), no later one tried; otherwise the
//    differences it reports less those the ignore rules drop (a pattern matches, or a change of
//    value at a value place), with its name as `format`; none left and not truncated: no body
//    divergence at all.
// 4. `compare` throws nothing; the result is `nullopt` exactly when no part is set.
// 5. `to_string` runs. The signature is the same for equal divergences, and for divergences
//    that differ only in values (lengths, excerpts, fallbacks); its text is the documented one
//    (status pair, `+`/`-`/`~` header names, `body bytes` or the format and its sorted, distinct
//    folded pointers), its id the FNV-1a 64 hash of the text, its `hex()` 16 hex digits.

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

// Names that collide across case and include noisy and framing ones.
constexpr std::array<std::string_view, 16> names = {
    "Content-Type", "content-type", "CONTENT-TYPE",   "Date",
    "x-request-id", "X-Request-Id", "etag",           "X-Trace",
    "x-trace",      "Server",       "set-cookie",     "x-build",
    "TE",           "Connection",   "content-length", "Transfer-Encoding"};

// The framing headers, as the documentation lists them.
const std::set<std::string> framing_names = {"connection", "content-length",    "keep-alive", "te",
                                             "trailer",    "transfer-encoding", "upgrade"};

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

// Pointers that meet the ignore rules often.
constexpr std::array<std::string_view, 8> pointers = {"",   "/a", "/items/0/id", "/items/7/id",
                                                      "/*", "x",  "/a/b",        "/items/*/id"};

std::string read_pointer(rs::fuzz::Input& in) {
  std::string p = in.text();
  if (p.size() == 1) p = std::string(pointers[static_cast<unsigned char>(p[0]) % pointers.size()]);
  return p;
}

// A body comparator whose every answer the input chooses.
struct FakeComparator {
  std::string name;
  int applies = 0;  // 0: no selector; 1: applies; 2: does not; 3: the selector throws
  bool has_compare = true;
  bool compare_throws = false;
  rs::BodyComparison found;

  [[nodiscard]] rs::BodyComparator make() const {
    rs::BodyComparator c;
    c.name = name;
    if (applies != 0) {
      const int mode = applies;
      c.applies = [mode](const rs::ResponseRecord&, const rs::ResponseRecord&) {
        if (mode == 3) throw std::runtime_error("applies-boom");
        return mode == 1;
      };
    }
    if (has_compare) {
      const bool throws = compare_throws;
      const rs::BodyComparison answer = found;
      c.compare = [throws, answer](std::string_view, std::string_view, const rs::PointerPatterns&) {
        if (throws) throw std::runtime_error("compare-boom");
        return answer;
      };
    }
    return c;
  }
};

struct Rules {
  bool ignore_status = false;
  bool ignore_headers = false;
  bool ignore_body = false;
  bool upper_case = false;  // a normalizer that upper-cases ASCII letters
  bool throwing = false;    // a normalizer that throws (after the other)
  bool framing = false;     // compare the framing headers
  std::set<std::string> ignored_names;
  std::vector<FakeComparator> comparators;
  rs::PointerPatterns ignored;  // patterns and value places, for the comparators' differences
};

// What the fallback must hold, by the documentation: each part, in order.
using FallbackParts = std::vector<std::string>;

// The reference for a comparator's verdict on two byte-unequal bodies: false when it finds them
// equal; otherwise fills `body` and `parts`.
REQUEST_SHADOW_FUZZ_ORACLE bool reference_structured(const Rules& rules, rs::BodyDiff& body,
                                                     FallbackParts& parts) {
  for (const auto& c : rules.comparators) {
    if (c.applies == 3) {
      parts.push_back(c.name + ": applies failed: applies-boom");
      return true;
    }
    if (c.applies == 2 || !c.has_compare) continue;
    if (c.compare_throws) {
      parts.push_back(c.name + ": compare-boom");
      return true;
    }
    bool pointers_ok = true;
    for (const auto& f : c.found.fields) {
      pointers_ok = pointers_ok && (f.pointer.empty() || f.pointer.front() == '/');
    }
    if (!pointers_ok) {
      parts.push_back(c.name + ": ");
      return true;
    }
    std::vector<rs::FieldDiff> kept;
    for (const auto& f : c.found.fields) {
      const bool dropped = f.change == rs::FieldChange::Changed
                               ? rules.ignored.ignores_value_change(f.pointer)
                               : rules.ignored.matches(f.pointer);
      if (!dropped) kept.push_back(f);
    }
    if (kept.empty() && !c.found.truncated) return false;
    body.format = c.name;
    body.fields = std::move(kept);
    body.fields_truncated = c.found.truncated;
    return true;
  }
  return true;
}

REQUEST_SHADOW_FUZZ_ORACLE std::optional<rs::Divergence> reference(const Side& p, const Side& s,
                                                                   const Rules& rules,
                                                                   FallbackParts& parts) {
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
      if (!rules.framing && framing_names.count(n) != 0) continue;
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
      if (rules.throwing) parts.emplace_back("boom");
      if (rules.comparators.empty() || reference_structured(rules, body, parts)) {
        d.body = std::move(body);
      }
    }
  }
  if (!d.status && !d.headers && !d.body) return std::nullopt;
  return d;
}

// The signature's text as `DivergenceSignature` documents it: `status 200->500` (a side not ok
// marked `(!ok)`); `headers` then `+name`, `-name`, `~name`; `body bytes`, `body <format>
// unlisted`, or `body <format>` and the sorted, distinct `<folded pointer> <change>`s (`, ...`
// when truncated); the parts joined by `; `.
REQUEST_SHADOW_FUZZ_ORACLE std::string signature_text(const rs::Divergence& d) {
  std::vector<std::string> parts;
  if (d.status) {
    parts.push_back("status " + std::to_string(d.status->primary) +
                    (d.status->primary_ok ? "" : "(!ok)") + "->" +
                    std::to_string(d.status->shadow) + (d.status->shadow_ok ? "" : "(!ok)"));
  }
  if (d.headers) {
    std::string h = "headers";
    for (const auto& n : d.headers->added) h += " +" + n;
    for (const auto& n : d.headers->removed) h += " -" + n;
    for (const auto& n : d.headers->changed) h += " ~" + n;
    parts.push_back(h);
  }
  if (d.body) {
    if (d.body->fields.empty()) {
      parts.push_back(d.body->format.empty() ? "body bytes"
                                             : "body " + d.body->format + " unlisted");
    } else {
      std::set<std::string> sites;
      for (const auto& f : d.body->fields) {
        std::string folded;
        std::size_t start = 1;
        if (!f.pointer.empty()) {
          for (;;) {
            const std::size_t end = f.pointer.find('/', start);
            const std::string token = f.pointer.substr(start, end - start);
            const bool digits =
                !token.empty() && token.find_first_not_of("0123456789") == std::string::npos;
            folded += "/" + (digits ? std::string("*") : token);
            if (end == std::string::npos) break;
            start = end + 1;
          }
        }
        sites.insert(folded + " " + std::string(rs::to_string(f.change)));
      }
      std::string b = "body " + d.body->format;
      bool first = true;
      for (const auto& site : sites) {
        b += (first ? " " : ", ") + site;
        first = false;
      }
      if (d.body->fields_truncated) b += ", ...";
      parts.push_back(b);
    }
  }
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? "" : "; ") + parts[i];
  return out;
}

std::string show(const std::optional<rs::Divergence>& d) {
  return d ? rs::to_string(*d) : std::string("(none)");
}

void check(const Side& p, const Side& s, const Rules& rules, const rs::ShadowConfig& config) {
  std::optional<rs::Divergence> got;
  try {
    got = rules.comparators.empty()
              ? rs::Divergence::compare(p.record, s.record, config)
              : rs::Divergence::compare(p.record, s.record, config, config.ignored_headers(),
                                        rules.ignored);
  } catch (const std::exception& e) {
    fail("Divergence::compare throws nothing", e.what());
  }
  FallbackParts parts;
  std::optional<rs::Divergence> want = reference(p, s, rules, parts);
  if (got && want && got->body && want->body) {
    // The wording around each part is the library's: the parts must come in order.
    const std::string& fallback = got->body->fallback;
    std::size_t at = 0;
    for (const auto& part : parts) {
      at = fallback.find(part, at);
      require(at != std::string::npos,
              "the fallback names each failed normalizer or comparator, with its text",
              fallback + " lacks " + part);
      at += part.size();
    }
    if (parts.empty()) require(fallback.empty(), "no fallback when nothing failed", fallback);
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
  require(sig.text == signature_text(*got), "the signature's text is the documented one",
          sig.text + " vs " + signature_text(*got));
  std::uint64_t fnv = 0xcbf29ce484222325ULL;
  for (const char c : sig.text) {
    fnv ^= static_cast<unsigned char>(c);
    fnv *= 0x100000001b3ULL;
  }
  require(sig.id == fnv, "the signature's id is the FNV-1a 64 hash of its text", sig.text);
  const std::string hex = sig.hex();
  require(hex.size() == 16 && hex.find_first_not_of("0123456789abcdef") == std::string::npos,
          "a signature's hex() is 16 lower-case hexadecimal digits", hex);

  // Values do not make a kind of divergence: other lengths, excerpts and fallbacks, the same one.
  rs::Divergence other = *got;
  if (other.body) {
    other.body->primary_len += 1;
    other.body->prefix_equal_bytes = 0;
    other.body->primary_excerpt += "x";
    other.body->shadow_excerpt.clear();
    other.body->fallback += "; other";
    for (auto& f : other.body->fields) {
      f.primary += "1";
      f.shadow.clear();
    }
  }
  require(rs::signature(other) == sig, "a signature does not depend on values", sig.text);
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
  rules.framing = (flags & 0x80U) != 0;

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
  config.compare_framing_headers(rules.framing);
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
  if ((flags & 0x40U) != 0) {
    const std::uint8_t modes = in.byte();
    for (std::size_t i = 0; i < 2; ++i) {
      const unsigned m = static_cast<unsigned>(modes >> (4 * i)) & 0xfU;
      FakeComparator c;
      c.name = i == 0 ? "first" : "second";
      c.applies = static_cast<int>(m & 3U);
      c.has_compare = m != 7;  // applies, and cannot compare: the next one is asked
      c.compare_throws = (m & 4U) != 0 && m != 7;
      const std::uint8_t shape = in.byte();
      c.found.truncated = (shape & 0x80U) != 0;
      for (std::size_t f = 0; f < (shape & 3U); ++f) {
        rs::FieldDiff diff;
        diff.pointer = read_pointer(in);
        diff.change = static_cast<rs::FieldChange>(in.byte() % 4U);
        diff.primary = in.text();
        diff.shadow = in.text();
        c.found.fields.push_back(std::move(diff));
      }
      rules.comparators.push_back(c);
      config.body_comparator(c.make());
    }
    const std::size_t rule_count = in.byte() % 4U;
    for (std::size_t i = 0; i < rule_count; ++i) {
      const bool place = (in.byte() & 1U) != 0;
      const std::string p = read_pointer(in);
      if (!p.empty() && p.front() != '/') continue;
      if (place) {
        rules.ignored.add_value_place(p);
      } else {
        rules.ignored.add(p);
      }
    }
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
