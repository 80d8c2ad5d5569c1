// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Fuzzes `PointerPatterns`, `fold_indices` and `append_pointer_token` (pointer.hpp).
//
// Input: one byte of flags, then `Input::text()` fields: up to 8 patterns (one that starts with
// `=` is the rest as a value place), then the tokens of a pointer (written with
// `append_pointer_token`), then raw strings tried as pointers.
//
// Invariants (each violation prints what broke and aborts):
// 1. `PointerPatterns::add(p)` throws `std::invalid_argument` exactly when `p` is neither empty
//    nor starts with `/`, and never anything else; `patterns()` then lists the accepted
//    patterns once each, in the order first added.
// 2. `matches(q)`, for a pointer `q` written as RFC 6901 says (`~` only in `~0` and `~1`), agrees
//    with a plain reference: some pattern has no more tokens than `q`, and each of its tokens is
//    `*` or, unescaped, equals `q`'s token at the same place (a token with another escape
//    matches nothing). `matches` on any other string returns without crashing.
// 3. `ignores_value_change(q)`, for such a `q`, holds exactly when a pattern matches it or a value
//    place has as many tokens, each the same as written or both of digits only (`*` is literal);
//    `add_value_place` rejects what `add` rejects, with `std::invalid_argument`.
// 4. A pattern matches itself and everything inside it; a pattern set matches exactly what one
//    of its patterns matches alone.
// 5. `append_pointer_token` writes a token that splits and unescapes back to the same bytes.
// 6. `fold_indices(q)` keeps `q`'s tokens, with exactly the tokens made only of digits replaced
//    by `*`; it is idempotent; and the pattern `fold_indices(q)` matches `q`.

#include <request_shadow/pointer.hpp>
// The header under test comes first: it must compile on its own.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"

namespace {

namespace rs = request_shadow;
using rs::fuzz::fail;
using rs::fuzz::require;

// The raw (still escaped) tokens of a pointer that is empty or starts with '/'.
REQUEST_SHADOW_FUZZ_ORACLE std::vector<std::string> split(std::string_view pointer) {
  std::vector<std::string> out;
  if (pointer.empty()) return out;
  std::string current;
  for (std::size_t i = 1; i < pointer.size(); ++i) {
    if (pointer[i] == '/') {
      out.push_back(current);
      current.clear();
    } else {
      current += pointer[i];
    }
  }
  out.push_back(current);
  return out;
}

// A token unescaped; nullopt when it holds `~` not followed by `0` or `1`.
REQUEST_SHADOW_FUZZ_ORACLE std::optional<std::string> unescape(std::string_view token) {
  std::string out;
  for (std::size_t i = 0; i < token.size(); ++i) {
    if (token[i] != '~') {
      out += token[i];
    } else if (i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
      out += token[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

bool well_formed(std::string_view pointer) {
  if (!pointer.empty() && pointer.front() != '/') return false;
  for (const auto& token : split(pointer)) {
    if (!unescape(token)) return false;
  }
  return true;
}

bool digits_only(std::string_view token) {
  if (token.empty()) return false;
  for (const char c : token) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The reference matcher: `pattern` covers the well-formed pointer `pointer`.
REQUEST_SHADOW_FUZZ_ORACLE bool covers(std::string_view pattern, std::string_view pointer) {
  const auto want = split(pattern);
  const auto have = split(pointer);
  if (want.size() > have.size()) return false;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "*") continue;
    const auto w = unescape(want[i]);
    if (!w || *w != *unescape(have[i])) return false;
  }
  return true;
}

// The reference for value places: the same number of tokens, each the same as written, or both
// of digits only.
REQUEST_SHADOW_FUZZ_ORACLE bool same_place(std::string_view place, std::string_view pointer) {
  const auto want = split(place);
  const auto have = split(pointer);
  if (want.size() != have.size()) return false;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i] != have[i] && !(digits_only(want[i]) && digits_only(have[i]))) return false;
  }
  return true;
}

void check_pointer(const rs::PointerPatterns& set, const std::vector<std::string>& accepted,
                   const std::vector<std::string>& places, const std::string& pointer) {
  const bool got = set.matches(pointer);
  const bool got_value = set.ignores_value_change(pointer);
  if (!well_formed(pointer)) return;  // any answer will do; it returned
  bool want = false;
  for (const auto& p : accepted) want = want || covers(p, pointer);
  require(got == want, "PointerPatterns::matches agrees with the reference matcher",
          pointer + (got ? " matched" : " not matched"));
  bool want_value = want;
  for (const auto& p : places) want_value = want_value || same_place(p, pointer);
  require(got_value == want_value,
          "ignores_value_change: a pattern matches, or a value place is exactly there",
          pointer + (got_value ? " ignored" : " not ignored"));

  // fold_indices: the same tokens, digit-only ones as `*`; idempotent; its pattern matches.
  const std::string folded = rs::fold_indices(pointer);
  const auto before = split(pointer);
  const auto after = split(folded);
  require(before.size() == after.size(), "fold_indices keeps the number of tokens", folded);
  for (std::size_t i = 0; i < before.size(); ++i) {
    const std::string& expected = digits_only(before[i]) ? std::string("*") : before[i];
    require(after[i] == expected, "fold_indices replaces exactly the digit-only tokens", folded);
  }
  require(rs::fold_indices(folded) == folded, "fold_indices is idempotent", folded);
  rs::PointerPatterns own;
  own.add(folded);
  require(own.matches(pointer), "the pattern fold_indices(q) matches q", folded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rs::fuzz::Input in(data, size);
  const std::uint8_t flags = in.byte();
  const std::size_t pattern_count = flags % 9U;
  const std::size_t token_count = (flags >> 4U) % 9U;

  // 1. add: the right exception, exactly for the patterns that are not pointers.
  rs::PointerPatterns set;
  std::vector<std::string> accepted;
  std::vector<std::string> places;
  for (std::size_t i = 0; i < pattern_count && !in.empty(); ++i) {
    std::string p = in.text();
    if (!p.empty() && p.front() == '=') {  // a value place
      p.erase(0, 1);
      const bool pointer = p.empty() || p.front() == '/';
      try {
        set.add_value_place(p);
        require(pointer, "add_value_place rejects what is neither empty nor starts with '/'", p);
        places.push_back(p);
      } catch (const std::invalid_argument&) {
        require(!pointer, "add_value_place accepts every pointer", p);
      } catch (const std::exception& e) {
        fail("add_value_place throws only std::invalid_argument", e.what());
      }
      continue;
    }
    const bool pointer = p.empty() || p.front() == '/';
    try {
      set.add(p);
      require(pointer, "add rejects a pattern that is neither empty nor starts with '/'", p);
      bool seen = false;
      for (const auto& a : accepted) seen = seen || a == p;
      if (!seen) accepted.push_back(p);
    } catch (const std::invalid_argument&) {
      require(!pointer, "add accepts every pattern that is empty or starts with '/'", p);
    } catch (const std::exception& e) {
      fail("add throws only std::invalid_argument", e.what());
    }
  }
  require(set.patterns() == accepted, "patterns() lists the accepted patterns once, in order");
  require(set.empty() == (accepted.empty() && places.empty()),
          "empty() says whether there are patterns or value places");
  require(set.has_value_places() == !places.empty(), "has_value_places() says whether there are");
  if (accepted.empty()) require(!set.matches(""), "a set without patterns matches nothing");

  // 4. Each pattern matches itself and inside itself; the set is the union of its patterns.
  for (const auto& p : accepted) {
    if (!well_formed(p)) continue;
    rs::PointerPatterns one;
    one.add(p);
    require(one.matches(p), "a pattern matches its own pointer", p);
    require(one.matches(p + "/x/0"), "a pattern matches everything inside its value", p);
    require(set.matches(p), "a set matches what any of its patterns matches", p);
  }

  // 5. A pointer written token by token splits and unescapes back to those tokens.
  std::vector<std::string> tokens;
  std::string pointer;
  for (std::size_t i = 0; i < token_count && !in.empty(); ++i) {
    tokens.push_back(in.text());
    // A one-byte token of a digit or '*' now and then: indices and wildcards meet.
    if (tokens.back().size() == 1 && (flags & 0x08U) != 0) {
      tokens.back() = (tokens.back()[0] & 1) != 0 ? "*" : "7";
    }
    rs::append_pointer_token(pointer, tokens.back());
  }
  const auto written = split(pointer);
  require(written.size() == tokens.size(), "append_pointer_token adds exactly one token", pointer);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto back = unescape(written[i]);
    require(back && *back == tokens[i], "append_pointer_token escapes reversibly", pointer);
  }

  // 2, 3 and 6, on the written pointer, its prefixes, and the rest of the input as raw strings.
  check_pointer(set, accepted, places, pointer);
  for (std::size_t cut = 0; cut < pointer.size(); ++cut) {
    if (pointer[cut] == '/') check_pointer(set, accepted, places, pointer.substr(0, cut));
  }
  for (const auto& place : places) check_pointer(set, accepted, places, place);
  while (!in.empty()) {
    const std::string raw = in.text();
    check_pointer(set, accepted, places, raw);
    (void)rs::fold_indices(raw);
  }
  return 0;
}
