// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_JSON_HPP
#define REQUEST_SHADOW_JSON_HPP

/// @file
/// The JSON body comparator, on simdjson: target `request_shadow::json`, package component `json`.
/// The only header that includes `<simdjson.h>`.

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <request_shadow/body_comparator.hpp>
#include <request_shadow/detail/flavour.hpp>
#include <request_shadow/pointer.hpp>
#include <request_shadow/response_record.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace json {

/// How far two numbers may be apart and still count as equal; see `Options::number_tolerance`.
struct Tolerance {
  /// The largest difference, in the numbers' own unit, that is no difference (0: none).
  double absolute = 0;
  /// The largest difference relative to the larger magnitude of the two (0: none); `1e-9`
  /// accepts a change in about the ninth significant digit.
  double relative = 0;

  friend bool operator==(const Tolerance&, const Tolerance&) = default;
};

/// A rule for the values one pointer pattern matches; see `Options::unordered_array`,
/// `Options::match_array_by` and `Options::number_tolerance`.
struct Rule {
  /// What the rule does.
  enum class Kind : std::uint8_t {
    UnorderedArray,   ///< The array compares as a multiset.
    MatchArrayBy,     ///< The array's elements are matched by the value at `member`.
    NumberTolerance,  ///< Numbers at or inside the value compare with `tolerance`.
  };
  /// What the rule does.
  Kind kind = Kind::UnorderedArray;
  /// Where it applies: a `PointerPatterns` pattern (`*` for any one member name or index).
  std::string pattern;
  /// For `MatchArrayBy`: the RFC 6901 pointer, inside each element, of its key (`/id`).
  std::string member;
  /// For `NumberTolerance`: how far numbers may be apart.
  Tolerance tolerance;

  friend bool operator==(const Rule&, const Rule&) = default;
};

/// How the JSON comparator chooses and reads bodies.
struct Options {
  /// Compare only responses whose `content-type` headers are both JSON (see
  /// `is_json_content_type`); `false` reads every pair of bodies as JSON, for services that send
  /// JSON under another content type.
  bool by_content_type = true;
  /// At most this many differences are listed; when there are more, the comparison stops at the
  /// next one and sets `BodyComparison::truncated`. 0 counts as 1: a divergence always names at
  /// least one place.
  std::size_t max_differences = 64;
  /// A body nested deeper than this is not read: it is a `ParseError` (a byte diff through the
  /// comparator).
  /**
   * The depth is simdjson's: the number of values on the deepest path from the root, so `1` and
   * `[]` are 1 deep, `[1]` and `{"a":[]}` 2, and 8 arrays around a number 9. The comparison
   * keeps its own stack of open arrays and objects on the heap, so no depth can overflow the
   * thread's stack. 0 counts as 1, and more than `deepest` as `deepest`: simdjson allocates
   * its depth buffers up front, about 9 bytes a level for each side.
   */
  std::size_t max_depth = 512;

  /// The largest `max_depth` honoured (65,536).
  static constexpr std::size_t deepest = std::size_t{1} << 16;

  /// Arrays with more elements than this on either side are not aligned, matched by key or
  /// compared as multisets: they compare by position, and `BodyComparison::notes` says so.
  /**
   * Aligning, keying or matching a multiset costs O(n) time and about 64 bytes per element (n
   * elements on both sides together), plus O(a log a) for the a anchors of an alignment, on top
   * of hashing every value inside the arrays once. 0 compares every array by position: arrays
   * with no rule silently, non-empty ones with a rule with a note.
   */
  std::size_t max_aligned_items = 100'000;

  /// The array rules and number tolerances, in the order they were added; see the functions
  /// below.
  std::vector<Rule> rules{};

  /// Compare the arrays that `pattern` matches as multisets: the order of their elements does
  /// not matter, and each element counts as often as it occurs.
  /**
   * An element found on one side more often than on the other is `Removed` (at its index in the
   * primary) or `Added` (at its index in the shadow). Elements match only when equal as a whole
   * (by the same rules as the comparison: `1` equals `1.0`, member order does not matter); ignore
   * patterns and tolerances inside the elements play no part in matching them. The pattern
   * matches the array itself, not arrays inside it: the tags of every item need a `*` for the
   * item's index, as in `/items/` then `*` then `/tags`. Throws `std::invalid_argument` for a
   * pattern that is neither empty nor starts with `/`.
   */
  Options& unordered_array(std::string_view pattern) {
    return add_rule({Rule::Kind::UnorderedArray, std::string(pattern), {}, {}});
  }

  /// Match the elements of the arrays that `pattern` matches by the value at `member_pointer`
  /// inside each element (`/id`), not by position.
  /**
   * A difference inside a matched pair is reported at the primary's index, and both its
   * excerpts start with the key: `[/id=42] 19.99`. Elements whose key only one side has are
   * `Removed` (at the primary's index) or `Added` (at the shadow's). A key compares as a value
   * (`7` equals `7.0`) and must be a string, number, boolean or null: when an element of either
   * side has no key, a key of another type, or a key that another element of its side has too,
   * the array compares as one with no rule, and `BodyComparison::notes` says which array and
   * why. Throws `std::invalid_argument` for a pattern or member pointer that is neither empty
   * nor starts with `/`.
   */
  Options& match_array_by(std::string_view pattern, std::string_view member_pointer) {
    return add_rule(
        {Rule::Kind::MatchArrayBy, std::string(pattern), std::string(member_pointer), {}});
  }

  /// Let numbers at or inside the values that `pattern` matches differ by up to
  /// `tolerance.absolute` or by up to `tolerance.relative` of the larger magnitude.
  /**
   * Two numbers differ only when they are outside both bounds. Without a tolerance numbers
   * compare exactly, integers beyond 2^53 included; with one, their difference is computed in
   * 64-bit-mantissa arithmetic, exact for any two integers JSON numbers are read as. `-0` equals
   * `0` with or without a tolerance. JSON has no NaN or infinity (RFC 8259), so no number read
   * here is one. When several tolerances apply, the one whose pattern matches deepest wins, then
   * the one added last. Throws `std::invalid_argument` for a pattern that is neither empty nor
   * starts with `/`, or a bound that is negative, NaN or infinite.
   */
  Options& number_tolerance(std::string_view pattern, Tolerance tolerance) {
    const auto bad = [](double x) {
      return !(x >= 0) || x == std::numeric_limits<double>::infinity();
    };
    if (bad(tolerance.absolute) || bad(tolerance.relative)) {
      throw std::invalid_argument(
          "request_shadow: a number tolerance must be finite and not negative");
    }
    return add_rule({Rule::Kind::NumberTolerance, std::string(pattern), {}, tolerance});
  }

 private:
  Options& add_rule(Rule rule) {
    for (const std::string* p : {&rule.pattern, &rule.member}) {
      if (!request_shadow::detail::is_pointer(*p)) {
        throw std::invalid_argument(
            "request_shadow: a JSON Pointer must be empty or start with '/': \"" + *p + "\"");
      }
    }
    rules.push_back(std::move(rule));
    return *this;
  }
};

/// A body that the JSON comparison cannot read; `what()` says which side and why.
/**
 * For example `shadow body is not valid JSON: The JSON document was too deep (too many nested
 * objects and arrays) (max_depth 512)`. A comparator that throws it makes `Divergence::compare`
 * fall back to the byte diff, with `BodyDiff::fallback` = `json: ` and this message.
 */
class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Whether a `content-type` value names JSON: `application/json`, or any `type/subtype` whose
/// subtype ends in `+json` (`application/problem+json`), case-insensitive, parameters such as
/// `; charset=utf-8` ignored.
[[nodiscard]] inline bool is_json_content_type(std::string_view content_type) noexcept {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  const std::string_view media = trim(content_type.substr(0, content_type.find(';')));
  const std::size_t slash = media.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  const std::string_view type = media.substr(0, slash);
  const std::string_view subtype = media.substr(slash + 1);
  constexpr std::string_view suffix = "+json";
  if (request_shadow::detail::ascii_iequals(type, "application") &&
      request_shadow::detail::ascii_iequals(subtype, "json")) {
    return true;
  }
  return subtype.size() > suffix.size() &&
         request_shadow::detail::ascii_iequals(subtype.substr(subtype.size() - suffix.size()),
                                               suffix);
}

namespace detail {

namespace dom = simdjson::dom;

// The JSON types a difference is told by; the three number types are one.
enum class Kind : std::uint8_t { Null, Bool, Number, String, Array, Object };

inline Kind kind_of(dom::element_type type) noexcept {
  switch (type) {
    case dom::element_type::NULL_VALUE:
      return Kind::Null;
    case dom::element_type::BOOL:
      return Kind::Bool;
    case dom::element_type::STRING:
      return Kind::String;
    case dom::element_type::ARRAY:
      return Kind::Array;
    case dom::element_type::OBJECT:
      return Kind::Object;
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      break;
  }
  return Kind::Number;
}

// Whether an integer and a double hold exactly the same value: never through a conversion of
// the integer, which would round 9007199254740993 to 9007199254740992.0.
inline bool same_value(std::int64_t i, double d) noexcept {
  constexpr double two_to_63 = 9223372036854775808.0;
  if (!(d >= -two_to_63 && d < two_to_63)) return false;
  const auto t = static_cast<std::int64_t>(d);   // truncated, exactly, in this range
  return t == i && static_cast<double>(t) == d;  // and `d` has no fraction
}

inline bool same_value(std::uint64_t u, double d) noexcept {
  constexpr double two_to_64 = 18446744073709551616.0;
  if (!(d >= 0 && d < two_to_64)) return false;
  const auto t = static_cast<std::uint64_t>(d);
  return t == u && static_cast<double>(t) == d;
}

// Two numbers are equal when their values are: an integer's is exactly itself (int64 or uint64),
// a double's is exactly the double read from its text. So equality is exact and transitive.
inline bool numbers_equal(dom::element a, dom::element_type ta, dom::element b,
                          dom::element_type tb) noexcept {
  using T = dom::element_type;
  if (ta == T::DOUBLE && tb == T::DOUBLE) {
    return a.get_double().value_unsafe() == b.get_double().value_unsafe();
  }
  if (ta == T::DOUBLE || tb == T::DOUBLE) {
    const double d = (ta == T::DOUBLE ? a : b).get_double().value_unsafe();
    const dom::element n = ta == T::DOUBLE ? b : a;
    return (ta == T::DOUBLE ? tb : ta) == T::INT64 ? same_value(n.get_int64().value_unsafe(), d)
                                                   : same_value(n.get_uint64().value_unsafe(), d);
  }
  if (ta == tb) {
    return ta == T::INT64 ? a.get_int64().value_unsafe() == b.get_int64().value_unsafe()
                          : a.get_uint64().value_unsafe() == b.get_uint64().value_unsafe();
  }
  const std::int64_t i = (ta == T::INT64 ? a : b).get_int64().value_unsafe();
  const std::uint64_t u = (ta == T::UINT64 ? a : b).get_uint64().value_unsafe();
  return i >= 0 && static_cast<std::uint64_t>(i) == u;
}

// A number's value in the widest floating type, for tolerances.
inline long double number_value(dom::element e, dom::element_type t) noexcept {
  if (t == dom::element_type::INT64) return static_cast<long double>(e.get_int64().value_unsafe());
  if (t == dom::element_type::UINT64) {
    return static_cast<long double>(e.get_uint64().value_unsafe());
  }
  return static_cast<long double>(e.get_double().value_unsafe());
}

// Whether `x` and `y` are within `tolerance` of each other (within either bound).
inline bool within(const Tolerance& tolerance, long double x, long double y) noexcept {
  const long double difference = x > y ? x - y : y - x;
  if (difference <= static_cast<long double>(tolerance.absolute)) return true;
  const long double magnitude = std::max(x < 0 ? -x : x, y < 0 ? -y : y);
  return difference <= static_cast<long double>(tolerance.relative) * magnitude;
}

// Whether two scalars are equal, as the walk compares them (keys of keyed arrays).
inline bool scalars_equal(dom::element a, dom::element b) noexcept {
  const dom::element_type ta = a.type();
  const dom::element_type tb = b.type();
  if (kind_of(ta) != kind_of(tb)) return false;
  switch (kind_of(ta)) {
    case Kind::Null:
      return true;
    case Kind::Bool:
      return a.get_bool().value_unsafe() == b.get_bool().value_unsafe();
    case Kind::Number:
      return numbers_equal(a, ta, b, tb);
    case Kind::String:
      return a.get_string().value_unsafe() == b.get_string().value_unsafe();
    case Kind::Array:
    case Kind::Object:
      break;
  }
  return false;
}

template <typename Number>
void append_number(std::string& out, Number n) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
  if constexpr (std::is_floating_point_v<Number>) {
    // Keep a double recognisable: `1.0`, not `1`.
    if (std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)).find_first_of(".en") ==
        std::string_view::npos) {
      out += ".0";
    }
  }
}

inline void append_json_string(std::string& out, std::string_view s, std::size_t limit) {
  constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char ch : s) {
    if (out.size() > limit) return;
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4U];
      out += hex[c & 0x0fU];
    } else {
      out += ch;
    }
  }
  out += '"';
}

// Append `value` as minified JSON, stopping soon after `out` holds more than `limit` bytes: an
// excerpt costs the same for a scalar and for a large added subtree. Recursion is bounded by the
// parser's max_depth and, in practice, by `limit`: each level writes a byte.
inline void append_json(std::string& out, dom::element value, std::size_t limit) {
  using T = dom::element_type;
  switch (value.type()) {
    case T::NULL_VALUE:
      out += "null";
      return;
    case T::BOOL:
      out += value.get_bool().value_unsafe() ? "true" : "false";
      return;
    case T::INT64:
      append_number(out, value.get_int64().value_unsafe());
      return;
    case T::UINT64:
      append_number(out, value.get_uint64().value_unsafe());
      return;
    case T::DOUBLE:
      append_number(out, value.get_double().value_unsafe());
      return;
    case T::STRING:
      append_json_string(out, value.get_string().value_unsafe(), limit);
      return;
    case T::ARRAY: {
      out += '[';
      bool first = true;
      const dom::array items = value.get_array().value_unsafe();  // not a temporary's member
      for (const dom::element item : items) {
        if (out.size() > limit) return;
        if (!first) out += ',';
        first = false;
        append_json(out, item, limit);
      }
      out += ']';
      return;
    }
    case T::OBJECT: {
      out += '{';
      bool first = true;
      const dom::object fields = value.get_object().value_unsafe();
      for (const dom::key_value_pair field : fields) {
        if (out.size() > limit) return;
        if (!first) out += ',';
        first = false;
        append_json_string(out, field.key, limit);
        out += ':';
        append_json(out, field.value, limit);
      }
      out += '}';
      return;
    }
  }
}

// One member of an object being matched against the other side's.
struct Member {
  std::string_view key;
  dom::element value;
  std::uint32_t seq;    // its position in its object
  std::uint32_t match;  // the index in `Scratch::members` of the other side's member, or `none`
  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
};

// Byte equality without a library call for the short strings JSON is mostly made of.
inline bool same_long_bytes(const char* x, const char* y, std::size_t n) noexcept {
  if (n > 64) return std::memcmp(x, y, n) == 0;
  const auto word = [](const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
  };
  for (std::size_t i = 0; i + 8 < n; i += 8) {
    if (word(x + i) != word(y + i)) return false;
  }
  return word(x + n - 8) == word(y + n - 8);  // the last 8 bytes, overlapping
}

inline bool same_bytes(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  if (n >= 8) return same_long_bytes(a.data(), b.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// SipHash's 128-bit key.
struct SipKey {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
};

inline std::uint64_t load_le64(const unsigned char* p) noexcept {
  std::uint64_t w = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&w, p, sizeof w);
  } else {
    for (std::size_t i = 8; i-- > 0;) w = (w << 8U) | p[i];
  }
  return w;
}

// SipHash-c-d (Aumasson and Bernstein, 2012) of `in` under `key`: a keyed hash meant for hash
// tables whose keys an adversary chooses. Without the key, no one can find names that collide.
template <int C, int D>
[[nodiscard]] std::uint64_t siphash(const SipKey& key, std::string_view in) noexcept {
  std::uint64_t v0 = key.k0 ^ 0x736f6d6570736575ULL;
  std::uint64_t v1 = key.k1 ^ 0x646f72616e646f6dULL;
  std::uint64_t v2 = key.k0 ^ 0x6c7967656e657261ULL;
  std::uint64_t v3 = key.k1 ^ 0x7465646279746573ULL;
  const auto rounds = [&](int count) {
    for (int r = 0; r < count; ++r) {
      v0 += v1;
      v1 = std::rotl(v1, 13) ^ v0;
      v0 = std::rotl(v0, 32);
      v2 += v3;
      v3 = std::rotl(v3, 16) ^ v2;
      v0 += v3;
      v3 = std::rotl(v3, 21) ^ v0;
      v2 += v1;
      v1 = std::rotl(v1, 17) ^ v2;
      v2 = std::rotl(v2, 32);
    }
  };
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t n = in.size();
  const std::size_t whole = n - n % 8;
  for (std::size_t i = 0; i < whole; i += 8) {
    const std::uint64_t m = load_le64(p + i);
    v3 ^= m;
    rounds(C);
    v0 ^= m;
  }
  std::uint64_t last = static_cast<std::uint64_t>(n & 0xffU) << 56U;
  for (std::size_t i = whole; i < n; ++i) last |= std::uint64_t{p[i]} << (8U * (i - whole));
  v3 ^= last;
  rounds(C);
  v0 ^= last;
  v2 ^= 0xffU;
  rounds(D);
  return v0 ^ v1 ^ v2 ^ v3;
}

inline SipKey draw_sip_key() noexcept {
  SipKey key;
  try {
    std::random_device device;
    const auto draw = [&device] { return (std::uint64_t{device()} << 32U) | device(); };
    key.k0 = draw();
    key.k1 = draw();
  } catch (...) {
    // No entropy source: what differs from run to run (the stack's address, the clock).
    key.k0 = reinterpret_cast<std::uintptr_t>(&key) * 0x9e3779b97f4a7c15ULL;
    key.k1 =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return key;
}

// The key of the duplicate-name check: random, drawn once per process.
inline const SipKey& name_hash_key() noexcept {
  static const SipKey key = draw_sip_key();
  return key;
}

// Tells whether many member names hold one twice: linear probing at a load of at most one half,
// over SipHash-1-3 with the process's random key. An unkeyed hash (libstdc++'s std::hash is
// MurmurHash2 with a fixed seed) lets a body name its members so that they all land on a few
// slots, which makes each insertion probe all the others: quadratic. With a key, the names
// spread as random ones would: about half a probe per name.
class NameTable {
 public:
  // Whether name(0), ..., name(n - 1) name something twice; `name(i)` returns a string_view.
  template <typename NameAt>
  [[nodiscard]] bool has_duplicate(std::size_t n, NameAt name) {
    std::size_t size = 32;
    while (size < 2 * n) size *= 2;
    const std::size_t mask = size - 1;
    slots_.assign(size, empty);
    probes_ = 0;
    const SipKey& key = name_hash_key();
    for (std::size_t i = 0; i < n; ++i) {
      const std::string_view k = name(i);
      std::size_t at = static_cast<std::size_t>(siphash<1, 3>(key, k)) & mask;
      for (; slots_[at] != empty; at = (at + 1) & mask) {
        ++probes_;
        if (same_bytes(name(slots_[at]), k)) return true;
      }
      slots_[at] = static_cast<std::uint32_t>(i);
    }
    return false;
  }

  // The occupied slots the last `has_duplicate` looked at before placing each name.
  [[nodiscard]] std::size_t probes() const noexcept { return probes_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return slots_.capacity(); }
  void release() noexcept { std::vector<std::uint32_t>().swap(slots_); }

 private:
  static constexpr std::uint32_t empty = std::numeric_limits<std::uint32_t>::max();
  std::vector<std::uint32_t> slots_;
  std::size_t probes_ = 0;
};

// splitmix64's finalizer: every input bit spreads over the whole output.
inline std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30U;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27U;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31U;
  return x;
}

template <typename Word>
Word load_word(const char* p) noexcept {
  Word w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// A string's hash under the process's random key. Up to 16 bytes (member names and most values)
// are read as one or two words that, with the length, tell the string apart from any other, and
// go through keyed mixes; longer strings through SipHash-1-3. No one can choose strings that
// collide without the key.
inline std::uint64_t string_hash(std::string_view s) noexcept {
  const SipKey& key = name_hash_key();
  const std::size_t n = s.size();
  const char* p = s.data();
  if (n > 16) return siphash<1, 3>(key, s);
  if (n >= 8) {
    const auto w0 = load_word<std::uint64_t>(p);
    const auto w1 = load_word<std::uint64_t>(p + n - 8);  // overlaps w0 below 16 bytes
    return mix64(mix64(w0 ^ key.k0) ^ w1 ^ key.k1 ^ n);
  }
  std::uint64_t w = 0;
  if (n >= 4) {
    w = load_word<std::uint32_t>(p) | std::uint64_t{load_word<std::uint32_t>(p + n - 4)} << 32U;
  } else if (n > 0) {
    const auto byte = [p](std::size_t i) {
      return std::uint64_t{static_cast<unsigned char>(p[i])};
    };
    w = byte(0) | byte(n / 2) << 8U | byte(n - 1) << 16U;
  }
  return mix64(w ^ key.k0 ^ (std::uint64_t{n} << 56U)) ^ key.k1;
}

// The hash of a scalar by its value: `1`, `1.0`, `1e0` and `-0`/`0` hash alike, as they compare
// equal. Strings and numbers are mixed with the process's random key, so that a body cannot
// choose values that collide.
inline std::uint64_t scalar_hash(dom::element e, dom::element_type t) noexcept {
  using T = dom::element_type;
  const SipKey& key = name_hash_key();
  constexpr std::uint64_t as_int = 1;
  constexpr std::uint64_t as_uint = 2;
  constexpr std::uint64_t as_double = 3;
  std::uint64_t tag = 0;
  std::uint64_t bits = 0;
  switch (t) {
    case T::NULL_VALUE:
      return mix64(key.k0 ^ 0x6e756c6cULL);
    case T::BOOL:
      return mix64(key.k0 ^ (e.get_bool().value_unsafe() ? 0x74727565ULL : 0x66616c73ULL));
    case T::STRING:
      return string_hash(e.get_string().value_unsafe()) ^ 0x5354U;
    case T::INT64:
      tag = as_int;
      bits = static_cast<std::uint64_t>(e.get_int64().value_unsafe());
      break;
    case T::UINT64:
      bits = e.get_uint64().value_unsafe();
      tag = bits <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ? as_int
                                                                                         : as_uint;
      break;
    case T::DOUBLE: {
      const double d = e.get_double().value_unsafe();
      constexpr double two_to_63 = 9223372036854775808.0;
      constexpr double two_to_64 = 18446744073709551616.0;
      if (d >= -two_to_63 && d < two_to_63 &&
          static_cast<double>(static_cast<std::int64_t>(d)) == d) {
        tag = as_int;
        bits = static_cast<std::uint64_t>(static_cast<std::int64_t>(d));
      } else if (d >= two_to_63 && d < two_to_64 &&
                 static_cast<double>(static_cast<std::uint64_t>(d)) == d) {
        tag = as_uint;
        bits = static_cast<std::uint64_t>(d);
      } else {
        tag = as_double;
        bits = std::bit_cast<std::uint64_t>(d);
      }
      break;
    }
    case T::ARRAY:
    case T::OBJECT:
      break;
  }
  return mix64(mix64(bits ^ key.k1) ^ (tag * 0x9e3779b97f4a7c15ULL) ^ key.k0);
}

// Hashes values with everything inside them, by meaning: values the walk finds equal hash alike
// (member order, number spellings and escapes do not matter), except objects that repeat a
// member name. Keeps its own stack on the heap: no depth overflows the thread's.
class ValueHasher {
 public:
  // The hash of `root`; adds the number of values read to `work`.
  std::uint64_t hash(dom::element root, std::size_t& work) {
    stack_.clear();
    dom::element e = root;
    for (;;) {
      ++work;
      const dom::element_type t = e.type();
      std::uint64_t done = 0;
      if (t == dom::element_type::ARRAY) {
        const dom::array a = e.get_array().value_unsafe();
        stack_.push_back(Open{true, a.begin(), a.end(), {}, {}, array_seed, 0});
      } else if (t == dom::element_type::OBJECT) {
        const dom::object o = e.get_object().value_unsafe();
        stack_.push_back(Open{false, {}, {}, o.begin(), o.end(), object_seed, 0});
      } else {
        done = scalar_hash(e, t);
        if (stack_.empty()) return done;
        fold(stack_.back(), done);
      }
      // Find the next value to read, closing the containers that are done.
      for (;;) {
        Open& top = stack_.back();
        if (top.is_array && top.ai != top.ae) {
          e = *top.ai;
          ++top.ai;
          break;
        }
        if (!top.is_array && top.oi != top.oe) {
          const dom::key_value_pair member = *top.oi;
          top.key = string_hash(member.key);
          e = member.value;
          ++top.oi;
          break;
        }
        done = mix64(top.acc);
        stack_.pop_back();
        if (stack_.empty()) return done;
        fold(stack_.back(), done);
      }
    }
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return stack_.capacity(); }
  void release() noexcept { std::vector<Open>().swap(stack_); }

 private:
  static constexpr std::uint64_t array_seed = 0x61727261795f5f5fULL;
  static constexpr std::uint64_t object_seed = 0x6f626a6563745f5fULL;

  struct Open {
    bool is_array;
    dom::array::iterator ai;
    dom::array::iterator ae;
    dom::object::iterator oi;
    dom::object::iterator oe;
    std::uint64_t acc;
    std::uint64_t key;  // the hash of the member being read
  };

  static void fold(Open& into, std::uint64_t h) noexcept {
    if (into.is_array) {
      into.acc = mix64(into.acc + h);  // depends on the order
    } else {
      into.acc += mix64(into.key ^ (h * 0x9e3779b97f4a7c15ULL));  // does not
    }
  }

  std::vector<Open> stack_;
};

// One step of a planned array comparison: a pair of elements, or an element of one side only.
struct Step {
  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
  std::uint32_t a = none;  // the primary's index, or `none`
  std::uint32_t b = none;  // the shadow's index, or `none`
  bool same = false;       // a pair whose hashes are equal: equal, not walked
};

// An entry of the hash table that matches the elements of a planned array pair.
struct Slot {
  std::uint64_t hash = 0;
  std::uint32_t a = Step::none;  // a primary element with this hash (the first unmatched)
  std::uint32_t b = Step::none;  // a shadow element with this hash
  std::uint32_t count_a = 0;     // how many primary elements have it
  std::uint32_t count_b = 0;
};

// An array or object pair being compared: the walk keeps a stack of them rather than recursing,
// so its stack use does not grow with the nesting.
struct Frame {
  // Which members an object frame is at.
  enum class Phase : std::uint8_t {
    Aligned,     // [next, stop) pairs with [next + offset, stop + offset)
    Primary,     // [next, stop) compares with each `match`, or was removed
    ShadowOnly,  // [next, stop) were added, those that match nothing
  };

  bool is_array = false;
  // An array pair compared by steps (aligned, as a multiset or by key): its elements are
  // `Scratch::elements` from `base` on, the shadow's from `offset`, its steps
  // `Scratch::steps[next, stop)`, and `Scratch::steps` is cut back to `shadow_first` at the end.
  bool planned = false;
  bool keyed = false;      // matched by key: differences inside a pair show its key
  bool in_pair = false;    // the child being compared is one of a pair
  std::uint32_t rule = 0;  // the `Options::rules` index of a keyed array's rule
  // The token of the child being compared: its member name, or its index in an array.
  std::string_view key;
  std::size_t index = 0;
  // An array pair: the elements left on each side.
  dom::array::iterator ia;
  dom::array::iterator ea;
  dom::array::iterator ib;
  dom::array::iterator eb;
  // An object pair: its members are `Scratch::members` from `base` on.
  Phase phase = Phase::Aligned;
  bool resort_shadow = false;  // the shadow's members are sorted by key, not position
  // 1 + the `Options::rules` index of the number tolerance in force inside, 0 for none (so that
  // a new frame is all zeros): `Step::none + 1` wraps to 0.
  std::uint32_t tolerance = 0;
  std::size_t base = 0;
  std::size_t next = 0;
  std::size_t stop = 0;
  std::size_t offset = 0;
  std::size_t shadow_first = 0;  // the shadow's members, for the `ShadowOnly` phase
  std::size_t shadow_last = 0;
  // The ignore patterns that may still match inside this value: `Scratch::alive` from
  // `alive_first` on, `alive_count` of them. None: nothing inside is checked.
  std::uint32_t alive_first = 0;
  std::uint32_t alive_count = 0;
};

// One reference token of an ignore pattern, unescaped.
struct PatternToken {
  std::string_view text;
  bool never = false;     // an invalid escape (`~` not before `0` or `1`): matches nothing
  bool wildcard = false;  // `*`: any member name or index
  bool is_index = false;  // a canonical array index (`0`, or digits without a leading zero)
  std::size_t index = 0;

  [[nodiscard]] bool matches_key(std::string_view key) const noexcept {
    return !never && (wildcard || text == key);
  }
  [[nodiscard]] bool matches_index(std::size_t i) const noexcept {
    return !never && (wildcard || (is_index && index == i));
  }
};

// The ignore patterns, split into tokens once per comparison, so that the walk matches them
// token by token as it descends instead of writing and parsing each value's whole pointer.
struct CompiledPatterns {
  std::vector<PatternToken> tokens;    // every pattern's tokens, one after another
  std::vector<std::uint32_t> first;    // pattern i: tokens [first[i], first[i + 1])
  std::vector<std::string> unescaped;  // storage for tokens that held `~0` or `~1`
  std::vector<std::uint32_t> rule;     // pattern i: `ignore`, or its index in `Options::rules`
  bool whole_document = false;         // the empty pattern: everything is ignored
  static constexpr std::uint32_t ignore = Step::none;

  // The ignore patterns first, then the rules' patterns.
  void compile(const PointerPatterns& patterns, const std::vector<Rule>& rules) {
    tokens.clear();
    first.clear();
    unescaped.clear();
    rule.clear();
    whole_document = false;
    std::size_t escaped = 0;
    for (const auto& p : patterns.patterns()) {
      escaped += static_cast<std::size_t>(std::count(p.begin(), p.end(), '~'));
    }
    for (const Rule& r : rules) {
      escaped += static_cast<std::size_t>(std::count(r.pattern.begin(), r.pattern.end(), '~'));
    }
    unescaped.reserve(escaped);  // no reallocation: tokens point into these strings
    const std::size_t count = patterns.patterns().size() + rules.size();
    for (std::size_t k = 0; k < count; ++k) {
      const bool is_rule = k >= patterns.patterns().size();
      const std::string& p =
          is_rule ? rules[k - patterns.patterns().size()].pattern : patterns.patterns()[k];
      rule.push_back(is_rule ? static_cast<std::uint32_t>(k - patterns.patterns().size()) : ignore);
      if (p.empty() && !is_rule) whole_document = true;
      first.push_back(static_cast<std::uint32_t>(tokens.size()));
      request_shadow::detail::PointerTokens split(p);
      std::string_view raw;
      while (split.next(raw)) {
        PatternToken t;
        t.text = raw;
        if (raw.find('~') != std::string_view::npos) {
          std::string& u = unescaped.emplace_back();
          for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
              u += raw[i + 1] == '0' ? '~' : '/';
              ++i;
            } else if (raw[i] == '~') {
              t.never = true;  // as in PointerPatterns::matches: no written pointer holds it
            } else {
              u += raw[i];
            }
          }
          t.text = u;
        }
        t.wildcard = t.text == "*";
        t.is_index = request_shadow::detail::all_digits(t.text) &&
                     (t.text.size() == 1 || t.text.front() != '0') && t.text.size() < 20;
        if (t.is_index) std::from_chars(t.text.data(), t.text.data() + t.text.size(), t.index);
        tokens.push_back(t);
      }
    }
    first.push_back(static_cast<std::uint32_t>(tokens.size()));
  }

  [[nodiscard]] std::size_t size() const noexcept { return first.size() - 1; }
  [[nodiscard]] std::size_t length(std::uint32_t p) const noexcept {
    return first[p + 1] - first[p];
  }
  [[nodiscard]] const PatternToken& token(std::uint32_t p, std::size_t depth) const noexcept {
    return tokens[first[p] + depth];
  }
};

// Per-thread state, reused from one comparison to the next: comparators run concurrently, and
// the primary's document must stay valid while the shadow's is parsed.
struct Scratch {
  dom::parser primary;
  dom::parser shadow;
  std::vector<Frame> frames;         // the arrays and objects being compared, outermost first
  std::vector<Member> members;       // the members of the objects in `frames`, both sides each
  NameTable names;                   // for the duplicate-key check of large objects
  CompiledPatterns patterns;         // the ignore patterns of this comparison
  std::vector<std::uint32_t> alive;  // the patterns alive in each frame (see `Frame::alive_first`)
  std::vector<std::uint32_t> next_alive;  // those alive in the value being visited
  // Planned arrays (see `Frame::planned`): their elements and steps, stacked as `members` is.
  std::vector<dom::element> elements;
  std::vector<Step> steps;
  // Planning one array: each element's hash, a hash table of them, a match per element.
  std::vector<std::uint64_t> hashes;
  std::vector<Slot> slots;    // linear probing, at most half full
  std::size_t planned_n = 0;  // the primary's elements in the array being planned
  std::vector<std::uint32_t> matches;
  std::vector<std::uint32_t> chain;  // the longest increasing run of anchors
  // Pairing a gap by similarity: each element's member hashes, sorted, from `feature_first`.
  std::vector<std::uint64_t> features;
  std::vector<std::uint32_t> feature_first;
  std::vector<std::uint64_t> all_features;  // sorted, to tell how often each occurs
  std::vector<std::uint32_t> table;         // best totals
  std::vector<std::uint32_t> gap_pairs;     // the pairs chosen, last first
  ValueHasher hasher;
  // The planning work of the last comparison: the values hashed, the elements put in hash
  // tables, and the occupied slots looked at before each found its own.
  std::size_t hashed = 0;
  std::size_t indexed = 0;
  std::size_t probes = 0;
};

inline Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// After a comparison, frees what an unusually large body made the thread's scratch grow to, so
// that one large response does not pin its buffers to every thread that compared one.
class TrimScratch {
 public:
  explicit TrimScratch(Scratch& s) noexcept : s_(s) {}
  TrimScratch(const TrimScratch&) = delete;
  TrimScratch& operator=(const TrimScratch&) = delete;
  ~TrimScratch() {
    constexpr std::size_t kept_bytes = std::size_t{1} << 20;  // parser capacity, per side
    constexpr std::size_t kept_depth = std::size_t{1} << 12;  // parser depth, per side
    constexpr std::size_t kept_members = std::size_t{1} << 14;
    const auto oversized = [](const dom::parser& p) {
      return p.capacity() > kept_bytes || p.max_depth() > kept_depth;
    };
    if (oversized(s_.primary)) s_.primary = dom::parser{};
    if (oversized(s_.shadow)) s_.shadow = dom::parser{};
    if (s_.members.capacity() > kept_members) std::vector<Member>().swap(s_.members);
    if (s_.names.capacity() > 2 * kept_members) s_.names.release();
    if (s_.frames.capacity() > 1024) std::vector<Frame>().swap(s_.frames);
    if (s_.elements.capacity() > kept_members) {
      std::vector<dom::element>().swap(s_.elements);
      std::vector<Step>().swap(s_.steps);
      std::vector<std::uint64_t>().swap(s_.hashes);
      std::vector<Slot>().swap(s_.slots);
      std::vector<std::uint32_t>().swap(s_.matches);
      std::vector<std::uint32_t>().swap(s_.chain);
      std::vector<std::uint64_t>().swap(s_.features);
      std::vector<std::uint32_t>().swap(s_.feature_first);
      std::vector<std::uint64_t>().swap(s_.all_features);
    }
    if (s_.hasher.capacity() > 1024) s_.hasher.release();
  }

 private:
  Scratch& s_;
};

inline std::string side_error(const char* side, simdjson::error_code error, std::size_t depth) {
  std::string what(side);
  if (error == simdjson::MEMALLOC || error == simdjson::CAPACITY) {
    what += " body could not be read as JSON: ";
  } else {
    what += " body is not valid JSON: ";
  }
  what += simdjson::error_message(error);
  if (error == simdjson::DEPTH_ERROR) {
    what += " (max_depth " + std::to_string(depth) + ")";
  } else if (error == simdjson::NUMBER_ERROR) {
    what += " (numbers are read as 64-bit integers or doubles)";
  }
  return what;
}

// RFC 8259 lets a reader ignore a UTF-8 byte-order mark before the text; simdjson does not.
inline std::string_view without_bom(std::string_view body) noexcept {
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
  return body;
}

inline dom::element parse(dom::parser& parser, std::string_view body, std::size_t depth,
                          const char* side) {
  if (parser.max_depth() != depth) {
    const std::size_t capacity = std::max<std::size_t>({parser.capacity(), body.size(), 64});
    if (const auto error = parser.allocate(capacity, depth)) {
      throw ParseError(side_error(side, error, depth));
    }
  }
  dom::element root;
  if (const auto error = parser.parse(body.data(), body.size()).get(root)) {
    throw ParseError(side_error(side, error, depth));
  }
  return root;
}

// Walks two documents side by side, listing their differences by pointer.
class Walk {
 public:
  // `budget`: how many values planning arrays may hash in all.
  Walk(Scratch& s, const PointerPatterns& ignored, const Options& options,
       std::size_t max_differences, std::size_t budget, BodyComparison& out) noexcept
      : s_(s),
        ignored_(ignored),
        options_(options),
        has_patterns_(!ignored.patterns().empty() || !options.rules.empty()),
        max_(max_differences),
        budget_(budget),
        out_(out) {}

  // Compare two documents.
  void run(dom::element a, dom::element b) {
    s_.frames.clear();
    s_.members.clear();
    s_.alive.clear();
    s_.elements.clear();
    s_.steps.clear();
    s_.hashed = 0;
    s_.indexed = 0;
    s_.probes = 0;
    if (has_patterns_) s_.patterns.compile(ignored_, options_.rules);
    (void)visit(a, b);
    while (!s_.frames.empty() && !stopped_) step();
  }

 private:
  using Phase = Frame::Phase;
  static constexpr std::uint32_t none = Step::none;
  // At most this many notes are kept.
  static constexpr std::size_t max_notes = 16;
  // Objects this small and in different orders are matched by scanning, not sorting.
  static constexpr std::size_t small_object = 16;

  // The pointer to the value being visited.
  void write_pointer(std::string& out) const {
    for (const Frame& f : s_.frames) {
      if (f.is_array) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, f.index);
        out += '/';
        out.append(buf, r.ptr);
      } else {
        append_pointer_token(out, f.key);
      }
    }
  }

  // Whether an ignore pattern matches the value being visited (the child of the innermost frame
  // at its `key` or `index`, or the root). Leaves in `next_alive` the patterns that may match
  // inside it. Costs one token comparison per pattern still alive in the parent, none in the
  // (usual) subtrees no pattern reaches into.
  // Also sets `rule_here_` to the array rule that applies to the value, and `tolerance_here_` to
  // the number tolerance in force there.
  [[nodiscard]] bool skipped() {
    if (!has_patterns_) return false;
    return skipped_by_patterns();
  }

  [[nodiscard]] bool skipped_by_patterns() {
    const CompiledPatterns& patterns = s_.patterns;
    std::vector<std::uint32_t>& next = s_.next_alive;
    next.clear();
    rule_here_ = none;
    if (s_.frames.empty()) {
      tolerance_here_ = none;
      if (patterns.whole_document) return true;
      for (std::uint32_t p = 0; p < patterns.size(); ++p) {
        if (patterns.length(p) == 0) {
          apply_rule(patterns.rule[p]);
        } else {
          next.push_back(p);
        }
      }
      return false;
    }
    const Frame& f = s_.frames.back();
    tolerance_here_ = f.tolerance - 1U;
    const std::size_t depth = s_.frames.size() - 1;  // tokens in the parent's pointer
    for (std::uint32_t i = f.alive_first; i < f.alive_first + f.alive_count; ++i) {
      const std::uint32_t p = s_.alive[i];
      const PatternToken& t = patterns.token(p, depth);
      if (!(f.is_array ? t.matches_index(f.index) : t.matches_key(f.key))) continue;
      if (patterns.length(p) == depth + 1) {
        if (patterns.rule[p] == CompiledPatterns::ignore) return true;
        apply_rule(patterns.rule[p]);
        continue;
      }
      next.push_back(p);
    }
    return false;
  }

  // Whether two unequal numbers are within the tolerance in force.
  [[gnu::cold]] bool tolerated(dom::element a, dom::element_type ta, dom::element b,
                               dom::element_type tb) const noexcept {
    return within(options_.rules[tolerance_here_].tolerance, number_value(a, ta),
                  number_value(b, tb));
  }

  // A rule's pattern matches the value being visited; later rules win over earlier ones.
  void apply_rule(std::uint32_t r) noexcept {
    if (options_.rules[r].kind == Rule::Kind::NumberTolerance) {
      tolerance_here_ = r;
    } else {
      rule_here_ = r;
    }
  }

  // A frame was pushed for the value just visited: it inherits the patterns alive in it.
  void inherit_alive(Frame& f) {
    f.alive_first = static_cast<std::uint32_t>(s_.alive.size());
    f.alive_count = 0;
    if (!has_patterns_) return;  // and no tolerance: `tolerance` stays 0
    f.tolerance = tolerance_here_ + 1U;
    s_.alive.insert(s_.alive.end(), s_.next_alive.begin(), s_.next_alive.end());
    f.alive_count = static_cast<std::uint32_t>(s_.next_alive.size());
  }

  void pop_frame() {
    if (has_patterns_) s_.alive.resize(s_.frames.back().alive_first);
    s_.frames.pop_back();
  }

  void pop_planned_frame() {
    const Frame& f = s_.frames.back();
    s_.elements.resize(f.base);
    s_.steps.resize(f.shadow_first);
    if (f.keyed) --keyed_frames_;
    pop_frame();
  }

  // Note how an array was compared otherwise than asked, at the pointer of the value being
  // visited.
  void note(std::string_view what) {
    if (out_.notes.size() >= max_notes) return;
    std::string text;
    write_pointer(text);
    if (text.empty()) text = "(root)";
    text += ": ";
    text += what;
    out_.notes.push_back(std::move(text));
  }

  // `[/id=42] `: the key of the innermost keyed pair being compared, if any.
  void append_key_of_pair(std::string& out) const {
    for (auto f = s_.frames.rbegin(); f != s_.frames.rend(); ++f) {
      if (!f->keyed) continue;
      if (!f->in_pair) return;
      const std::string& member = options_.rules[f->rule].member;
      dom::element key;
      if (s_.elements[f->base + f->index].at_pointer(member).get(key)) return;
      std::string text;
      append_json(text, key, 48);
      out += '[';
      out += member;
      out += '=';
      out += value_excerpt(text, 48);
      out += "] ";
      return;
    }
  }

  void report(FieldChange change, const dom::element* a, const dom::element* b) {
    if (stopped_) return;
    // A change of value at a value place (noise learned for good) is not listed, nor counted
    // against the cap: thousands of them cannot push a real difference off the list.
    if (change == FieldChange::Changed && ignored_.has_value_places()) {
      std::string pointer;
      write_pointer(pointer);
      if (ignored_.ignores_value_change(pointer)) return;
    }
    if (out_.fields.size() >= max_) {
      out_.truncated = true;
      stopped_ = true;
      return;
    }
    constexpr std::size_t limit = 48;
    FieldDiff diff;
    write_pointer(diff.pointer);
    diff.change = change;
    std::string key;
    if (keyed_frames_ > 0) append_key_of_pair(key);
    std::string text;
    if (a != nullptr) {
      append_json(text, *a, limit);
      diff.primary = key + value_excerpt(text, limit);
    }
    if (b != nullptr) {
      text.clear();
      append_json(text, *b, limit);
      diff.shadow = key + value_excerpt(text, limit);
    }
    out_.fields.push_back(std::move(diff));
  }

  // A value only one side has.
  void one_sided(FieldChange change, dom::element v) {
    if (skipped()) return;
    report(change, change == FieldChange::Removed ? &v : nullptr,
           change == FieldChange::Added ? &v : nullptr);
  }

  // Compare two values: scalars at once, arrays and objects by pushing a frame (then true).
  bool visit(dom::element a, dom::element b) {
    if (skipped()) return false;
    const dom::element_type ta = a.type();
    const dom::element_type tb = b.type();
    const Kind ka = kind_of(ta);
    if (ka != kind_of(tb)) {
      report(FieldChange::TypeChanged, &a, &b);
      return false;
    }
    bool equal = true;
    switch (ka) {
      case Kind::Null:
        return false;
      case Kind::Bool:
        equal = a.get_bool().value_unsafe() == b.get_bool().value_unsafe();
        break;
      case Kind::Number:
        equal = numbers_equal(a, ta, b, tb);
        if (!equal && tolerance_here_ != none) equal = tolerated(a, ta, b, tb);
        break;
      case Kind::String:
        equal = same_bytes(a.get_string().value_unsafe(), b.get_string().value_unsafe());
        break;
      case Kind::Array:
        push_array(a.get_array().value_unsafe(), b.get_array().value_unsafe());
        return true;
      case Kind::Object:
        push_object(a.get_object().value_unsafe(), b.get_object().value_unsafe());
        return true;
    }
    if (!equal) report(FieldChange::Changed, &a, &b);
    return false;
  }

  // How an array pair is compared.
  enum class Plan : std::uint8_t { Positions, Aligned, Unordered, Keyed };

  void push_array(dom::array a, dom::array b) {
    // simdjson's sizes saturate at 2^24 - 1: more than any bound.
    if (rule_here_ != none || (a.size() != b.size() && options_.max_aligned_items > 0))
        [[unlikely]] {
      if (push_planned_array(a, b)) return;
    }
    Frame& f = s_.frames.emplace_back();
    inherit_alive(f);
    f.is_array = true;
    f.ia = a.begin();
    f.ea = a.end();
    f.ib = b.begin();
    f.eb = b.end();
    f.next = 0;
  }

  // Push a frame for an array pair aligned, unordered or keyed; false (with a note) when it is
  // to be compared by position. This path and the others that only rules and arrays of unequal
  // lengths take are marked cold, so that the walk of equal documents stays as compact as it
  // was without them.
  [[gnu::cold]] bool push_planned_array(dom::array a, dom::array b) {
    const std::uint32_t rule = rule_here_;
    const bool align = a.size() != b.size() && options_.max_aligned_items > 0;
    Plan plan = align ? Plan::Aligned : Plan::Positions;
    if (rule != none) {
      plan = options_.rules[rule].kind == Rule::Kind::MatchArrayBy ? Plan::Keyed : Plan::Unordered;
    }
    if (!affordable(plan, a, b)) return false;
    const std::size_t base = s_.elements.size();
    for (const dom::element e : a) s_.elements.push_back(e);
    const std::size_t mid = s_.elements.size();
    for (const dom::element e : b) s_.elements.push_back(e);
    const std::size_t first_step = s_.steps.size();
    bool planned = true;
    if (plan == Plan::Keyed && !plan_keyed(options_.rules[rule], base, mid)) {
      plan = Plan::Aligned;
      planned = align && affordable(plan, a, b);
    }
    if (!planned) {  // a keyed array that fell back, too large to align
      s_.elements.resize(base);
      return false;
    }
    if (plan == Plan::Unordered) plan_unordered(base, mid);
    if (plan == Plan::Aligned) plan_aligned(base, mid);
    Frame& f = s_.frames.emplace_back();
    inherit_alive(f);
    f.is_array = true;
    f.planned = true;
    f.keyed = plan == Plan::Keyed;
    if (f.keyed) ++keyed_frames_;
    f.rule = rule;
    f.base = base;
    f.offset = mid;
    f.shadow_first = first_step;
    f.next = first_step;
    f.stop = s_.steps.size();
    return true;
  }

  // Whether `plan` is within the bounds for arrays `a` and `b`; notes why not otherwise.
  bool affordable(Plan plan, dom::array a, dom::array b) {
    const std::size_t n = a.size();
    const std::size_t m = b.size();
    const std::size_t bound = options_.max_aligned_items;
    if (n > bound || m > bound) {
      note("compared by position: " + std::to_string(n) + " and " + std::to_string(m) +
           " elements, more than max_aligned_items (" + std::to_string(bound) + ")");
      return false;
    }
    // Every element is hashed with all it holds (and keys on their own).
    const std::size_t cost =
        a.number_of_slots() + b.number_of_slots() + (plan == Plan::Keyed ? n + m : 0);
    if (s_.hashed + cost > budget_) {
      note("compared by position: the comparison has hashed as many values as its bodies allow");
      return false;
    }
    return true;
  }

  // Each element's hash into `Scratch::hashes` (the primary's, then the shadow's from `mid`).
  void hash_elements(std::size_t base, std::size_t mid, std::size_t end) {
    s_.planned_n = mid - base;
    s_.hashes.clear();
    for (std::size_t i = base; i < end; ++i) {
      s_.hashes.push_back(s_.hasher.hash(s_.elements[i], s_.hashed));
    }
  }

  // An empty table for `count` entries.
  void clear_slots(std::size_t count) {
    std::size_t size = 16;
    while (size < 2 * count) size *= 2;
    s_.slots.assign(size, Slot{});
    s_.indexed += count;
  }

  // The slot of the entry with `hash` for which `same(slot)` holds, or the empty slot where it
  // goes (its counts both 0).
  template <typename Same>
  Slot& slot_of(std::uint64_t hash, Same same) {
    const std::size_t mask = s_.slots.size() - 1;
    for (std::size_t at = static_cast<std::size_t>(hash) & mask;; at = (at + 1) & mask) {
      Slot& slot = s_.slots[at];
      if (slot.count_a == 0 && slot.count_b == 0) {
        slot.hash = hash;
        return slot;
      }
      if (slot.hash == hash && same(slot)) return slot;
      ++s_.probes;
    }
  }

  Slot& slot_of(std::uint64_t hash) {
    return slot_of(hash, [](const Slot&) { return true; });
  }

  void add_step(std::size_t a, std::size_t b) {
    const bool same = a != none && b != none && s_.hashes[a] == s_.hashes[s_.planned_n + b];
    s_.steps.push_back({static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(b), same});
  }

  // Steps for elements matched in `Scratch::matches` (the primary's n, then the shadow's): the
  // primary's in order, each paired or removed, then the shadow's unmatched ones, added.
  void steps_from_matches(std::size_t n, std::size_t m) {
    const std::vector<std::uint32_t>& match = s_.matches;
    for (std::size_t i = 0; i < n; ++i) add_step(i, match[i]);
    for (std::size_t j = 0; j < m; ++j) {
      if (match[n + j] == none) add_step(none, j);
    }
  }

  // A multiset: elements with equal hashes pair up in index order on both sides.
  void plan_unordered(std::size_t base, std::size_t mid) {
    const std::size_t n = mid - base;
    const std::size_t m = s_.elements.size() - mid;
    hash_elements(base, mid, s_.elements.size());
    s_.matches.assign(n + m, none);
    std::vector<std::uint32_t>& later = s_.chain;  // the next primary element with its hash
    later.assign(n, none);
    clear_slots(n);
    for (std::size_t i = n; i-- > 0;) {  // backwards: each slot's list is in index order
      Slot& slot = slot_of(s_.hashes[i]);
      later[i] = slot.a;
      slot.a = static_cast<std::uint32_t>(i);
      ++slot.count_a;
    }
    for (std::size_t j = 0; j < m; ++j) {
      Slot& slot = slot_of(s_.hashes[n + j]);
      if (slot.a == none) continue;  // none left, or an empty slot
      const std::uint32_t i = slot.a;
      slot.a = later[i];
      s_.matches[i] = static_cast<std::uint32_t>(j);
      s_.matches[n + j] = i;
    }
    steps_from_matches(n, m);
  }

  // Match by the key at `rule.member`; false, with a note, when a key is missing, not a scalar
  // or repeated on one side.
  bool plan_keyed(const Rule& rule, std::size_t base, std::size_t mid) {
    const std::size_t n = mid - base;
    const std::size_t m = s_.elements.size() - mid;
    const std::string fallback = "match_array_by " + rule.member + " not applied, ";
    const auto side_name = [n](std::size_t i) {
      return std::string(i < n ? "primary" : "shadow") + " element " +
             std::to_string(i < n ? i : i - n);
    };
    // The keys, after the elements, while matching.
    std::vector<dom::element>& keys = s_.elements;
    const std::size_t keys_at = keys.size();
    clear_slots(n + m);
    s_.matches.assign(n + m, none);
    bool ok = true;
    for (std::size_t i = 0; i < n + m; ++i) {
      dom::element key;
      if (s_.elements[base + i].at_pointer(rule.member).get(key)) {
        note(fallback + side_name(i) + " has no key");
        ok = false;
        break;
      }
      const dom::element_type t = key.type();
      if (t == dom::element_type::ARRAY || t == dom::element_type::OBJECT) {
        note(fallback + side_name(i) + " has a key that is not a string, number, boolean or null");
        ok = false;
        break;
      }
      ++s_.hashed;
      keys.push_back(key);
      const bool primary = i < n;
      // The entry of an equal key: equal hashes are compared, as they may collide.
      Slot& slot = slot_of(scalar_hash(key, t), [&](const Slot& other) {
        return scalars_equal(keys[keys_at + (other.a != none ? other.a : n + other.b)], key);
      });
      if (primary ? slot.count_a > 0 : slot.count_b > 0) {
        note(fallback + side_name(i) + " has the key of " +
             side_name(primary ? slot.a : n + slot.b) + " too");
        ok = false;
        break;
      }
      if (primary) {
        slot.a = static_cast<std::uint32_t>(i);
        slot.count_a = 1;
      } else {
        slot.b = static_cast<std::uint32_t>(i - n);
        slot.count_b = 1;
        if (slot.a != none) {
          s_.matches[slot.a] = slot.b;
          s_.matches[n + slot.b] = slot.a;
        }
      }
    }
    keys.resize(keys_at);
    if (!ok) return false;
    hash_elements(base, mid, s_.elements.size());  // to skip equal pairs
    steps_from_matches(n, m);
    return true;
  }

  // Gaps with more pairs of elements than this pair by position only.
  static constexpr std::size_t max_gap_pairs = 4096;

  // Pair [a0, a1) with [b0, b1) by position, the longer side's rest removed or added.
  void pair_by_position(std::size_t a0, std::size_t a1, std::size_t b0, std::size_t b1) {
    while (a0 < a1 && b0 < b1) add_step(a0++, b0++);
    while (a0 < a1) add_step(a0++, none);
    while (b0 < b1) add_step(none, b0++);
  }

  // Element `i` of the planned array (the primary's first, `n` of them): the hashes of its
  // members if it is an object, else its own hash, sorted, appended to `Scratch::features`.
  void add_features(std::size_t i, std::size_t base) {
    s_.feature_first.push_back(static_cast<std::uint32_t>(s_.features.size()));
    const dom::element e = s_.elements[base + i];
    const std::size_t first = s_.features.size();
    if (e.type() == dom::element_type::OBJECT) {
      const dom::object members = e.get_object().value_unsafe();
      for (const dom::key_value_pair member : members) {
        const std::uint64_t value = s_.hasher.hash(member.value, s_.hashed);
        s_.features.push_back(mix64(string_hash(member.key) ^ (value * 0x9e3779b97f4a7c15ULL)));
      }
    } else {
      s_.features.push_back(s_.hashes[i]);
    }
    std::sort(s_.features.begin() + static_cast<std::ptrdiff_t>(first), s_.features.end());
  }

  // How much elements `x` and `y` (indices into `feature_first`) have in common: 64 for each
  // feature that only they have in the gap (an id, say), 1 for each other one they share.
  std::uint32_t similarity(std::size_t x, std::size_t y) const noexcept {
    const std::uint64_t* p = s_.features.data() + s_.feature_first[x];
    const std::uint64_t* p_end = s_.features.data() + s_.feature_first[x + 1];
    const std::uint64_t* q = s_.features.data() + s_.feature_first[y];
    const std::uint64_t* q_end = s_.features.data() + s_.feature_first[y + 1];
    std::uint32_t shared = 0;
    while (p != p_end && q != q_end) {
      if (*p < *q) {
        ++p;
      } else if (*q < *p) {
        ++q;
      } else {
        const auto [lo, hi] = std::equal_range(s_.all_features.begin(), s_.all_features.end(), *p);
        shared += hi - lo == 2 ? 64U : 1U;
        ++p;
        ++q;
      }
    }
    return shared;
  }

  // Pair [a0, a1) with [b0, b1) (indices into each side, hashes in `Scratch::hashes`): equal
  // ends pair up. When the rest differs in length, elements pair up in order so that they share
  // the most members (equal scalars count one), the others by position between those pairs.
  void plan_gap(std::size_t a0, std::size_t a1, std::size_t b0, std::size_t b1, std::size_t n) {
    const std::vector<std::uint64_t>& h = s_.hashes;
    while (a0 < a1 && b0 < b1 && h[a0] == h[n + b0]) add_step(a0++, b0++);
    std::size_t tail = 0;
    while (a1 - tail > a0 && b1 - tail > b0 && h[a1 - tail - 1] == h[n + b1 - tail - 1]) ++tail;
    a1 -= tail;
    b1 -= tail;
    const std::size_t p = a1 - a0;
    const std::size_t q = b1 - b0;
    if (p == q || p == 0 || q == 0 || p * q > max_gap_pairs || s_.hashed > budget_) {
      pair_by_position(a0, a1, b0, b1);
    } else {
      pair_by_similarity(a0, a1, b0, b1, n);
    }
    for (std::size_t k = 0; k < tail; ++k) add_step(a1 + k, b1 + k);
  }

  // The order-keeping pairing with the most shared features (a weighted LCS over p x q).
  void pair_by_similarity(std::size_t a0, std::size_t a1, std::size_t b0, std::size_t b1,
                          std::size_t n) {
    const std::size_t p = a1 - a0;
    const std::size_t q = b1 - b0;
    s_.features.clear();
    s_.feature_first.clear();
    for (std::size_t i = a0; i < a1; ++i) add_features(i, plan_base_);
    for (std::size_t j = b0; j < b1; ++j) add_features(n + j, plan_base_);
    s_.feature_first.push_back(static_cast<std::uint32_t>(s_.features.size()));
    s_.all_features = s_.features;
    std::sort(s_.all_features.begin(), s_.all_features.end());
    // best(i, j): the most features pairs among the first i and j elements can share.
    std::vector<std::uint32_t>& t = s_.table;
    const std::size_t w = q + 1;
    t.assign((p + 1) * w, 0);
    for (std::size_t i = 1; i <= p; ++i) {
      for (std::size_t j = 1; j <= q; ++j) {
        const std::uint32_t both = t[(i - 1) * w + j - 1] + similarity(i - 1, p + j - 1);
        t[i * w + j] = std::max({t[(i - 1) * w + j], t[i * w + j - 1], both});
      }
    }
    // Back from (p, q): the pairs, last first, into `Scratch::matches`.
    std::vector<std::uint32_t>& pairs = s_.gap_pairs;
    pairs.clear();
    for (std::size_t i = p, j = q; i > 0 && j > 0;) {
      const std::uint32_t shared = similarity(i - 1, p + j - 1);
      if (shared > 0 && t[i * w + j] == t[(i - 1) * w + j - 1] + shared) {
        pairs.push_back(static_cast<std::uint32_t>(i - 1));
        pairs.push_back(static_cast<std::uint32_t>(j - 1));
        --i;
        --j;
      } else if (t[i * w + j] == t[(i - 1) * w + j]) {
        --i;
      } else {
        --j;
      }
    }
    std::size_t x = a0;
    std::size_t y = b0;
    for (std::size_t k = pairs.size(); k > 0; k -= 2) {
      const std::size_t i = a0 + pairs[k - 2];
      const std::size_t j = b0 + pairs[k - 1];
      pair_by_position(x, i, y, j);
      add_step(i, j);
      x = i + 1;
      y = j + 1;
    }
    pair_by_position(x, a1, y, b1);
  }

  // An alignment of two arrays with no rule: equal leading and trailing elements pair up; in
  // between, the elements that occur exactly once on each side are anchors, and the longest
  // chain of anchors in the same order on both sides pairs up (as patience diff does); each gap
  // between anchors goes through `plan_gap`. O(n log n) for the chain, O(n) otherwise.
  void plan_aligned(std::size_t base, std::size_t mid) {
    plan_base_ = base;
    const std::size_t n = mid - base;
    const std::size_t m = s_.elements.size() - mid;
    hash_elements(base, mid, s_.elements.size());
    const std::vector<std::uint64_t>& h = s_.hashes;
    std::size_t head = 0;
    while (head < n && head < m && h[head] == h[n + head]) ++head;
    std::size_t tail = 0;
    while (tail < n - head && tail < m - head && h[n - 1 - tail] == h[n + m - 1 - tail]) ++tail;
    for (std::size_t k = 0; k < head; ++k) add_step(k, k);
    const std::size_t a1 = n - tail;
    const std::size_t b1 = m - tail;
    if (head < a1 && head < b1) {
      // Anchors: hashes found once on each side, in the primary's order.
      clear_slots((a1 - head) + (b1 - head));
      for (std::size_t i = head; i < a1; ++i) {
        Slot& slot = slot_of(h[i]);
        slot.a = static_cast<std::uint32_t>(i);
        ++slot.count_a;
      }
      for (std::size_t j = head; j < b1; ++j) {
        Slot& slot = slot_of(h[n + j]);
        slot.b = static_cast<std::uint32_t>(j);
        ++slot.count_b;
      }
      std::vector<std::uint32_t>& anchors = s_.matches;  // pairs: primary, shadow
      anchors.clear();
      for (std::size_t i = head; i < a1; ++i) {
        const Slot& slot = slot_of(h[i]);
        if (slot.count_a == 1 && slot.count_b == 1) {
          anchors.push_back(static_cast<std::uint32_t>(i));
          anchors.push_back(slot.b);
        }
      }
      const std::size_t count = anchors.size() / 2;
      std::vector<std::uint32_t>& chain = s_.chain;
      chain.resize(3 * count);
      std::uint32_t* order = chain.data();    // at the end: the chain, first anchor first
      std::uint32_t* tails = order + count;   // patience piles: the anchor ending each
      std::uint32_t* before = tails + count;  // each anchor's predecessor in its best chain
      for (std::size_t k = 0; k < count; ++k) order[k] = static_cast<std::uint32_t>(k);
      // The longest chain increasing in the shadow's index too: patience sorting.
      std::size_t piles = 0;
      for (std::size_t k = 0; k < count; ++k) {
        const std::uint32_t x = order[k];
        const std::uint32_t shadow_at = anchors[2 * x + 1];
        const auto pile =
            static_cast<std::size_t>(std::lower_bound(tails, tails + piles, shadow_at,
                                                      [&anchors](std::uint32_t t, std::uint32_t v) {
                                                        return anchors[2 * t + 1] < v;
                                                      }) -
                                     tails);
        before[x] = pile > 0 ? tails[pile - 1] : none;
        tails[pile] = x;
        if (pile == piles) ++piles;
      }
      // Walk the chain back from its last anchor, into `order`'s first `piles` slots.
      std::uint32_t at = piles > 0 ? tails[piles - 1] : none;
      for (std::size_t k = piles; k-- > 0; at = before[at]) order[k] = at;
      std::size_t a0 = head;
      std::size_t b0 = head;
      for (std::size_t k = 0; k < piles; ++k) {
        const std::size_t x = anchors[2 * order[k]];
        const std::size_t y = anchors[2 * order[k] + 1];
        plan_gap(a0, x, b0, y, n);
        add_step(x, y);
        a0 = x + 1;
        b0 = y + 1;
      }
      plan_gap(a0, a1, b0, b1, n);
    } else {
      for (std::size_t i = head; i < a1; ++i) add_step(i, none);
      for (std::size_t j = head; j < b1; ++j) add_step(none, j);
    }
    for (std::size_t k = 0; k < tail; ++k) add_step(a1 + k, b1 + k);
  }

  void push_object(dom::object a, dom::object b) {
    std::vector<Member>& m = s_.members;
    const std::size_t base = m.size();
    std::uint32_t seq = 0;
    for (const dom::key_value_pair field : a) {
      m.push_back({field.key, field.value, seq++, Member::none});
    }
    const std::size_t mid = m.size();
    seq = 0;
    for (const dom::key_value_pair field : b) {
      m.push_back({field.key, field.value, seq++, Member::none});
    }
    const std::size_t end = m.size();
    const std::size_t n = mid - base;

    Frame& f = s_.frames.emplace_back();
    inherit_alive(f);
    f.base = base;
    f.next = base;
    bool aligned = end - mid == n;
    for (std::size_t i = 0; aligned && i < n; ++i) {
      aligned = same_bytes(m[base + i].key, m[mid + i].key);
    }
    if (aligned && !has_duplicate_keys(base, n)) {
      // The common case: the same keys in the same order, each once.
      f.phase = Phase::Aligned;
      f.stop = mid;
      f.offset = n;
    } else if (n <= small_object && end - mid <= small_object && !has_duplicate_keys(base, n) &&
               !has_duplicate_keys(mid, end - mid)) {
      match_by_scan(base, mid, end);
      f.phase = Phase::Primary;
      f.stop = mid;
      f.shadow_first = mid;
      f.shadow_last = end;
    } else {
      const auto [a_end, b_end] = match_by_sort(base, mid, end);
      f.phase = Phase::Primary;
      f.stop = a_end;
      f.shadow_first = mid;
      f.shadow_last = b_end;
      f.resort_shadow = true;
    }
  }

  // `step` for a planned array: its steps in order.
  [[gnu::cold]] void step_planned(Frame& f) {
    while (f.next != f.stop) {
      const Step st = s_.steps[f.next++];
      if (st.same) continue;  // equal hashes: equal elements
      if (st.a != none && st.b != none) {
        f.index = st.a;
        f.in_pair = true;
        // Copied first: `visit` may grow (move) the elements.
        const dom::element x = s_.elements[f.base + st.a];
        const dom::element y = s_.elements[f.offset + st.b];
        if (visit(x, y) || stopped_) return;  // pushed: `f` may have moved
      } else {
        f.in_pair = false;
        f.index = st.a != none ? st.a : st.b;
        one_sided(st.a != none ? FieldChange::Removed : FieldChange::Added,
                  s_.elements[st.a != none ? f.base + st.a : f.offset + st.b]);
        if (stopped_) return;
      }
    }
    pop_planned_frame();
  }

  // Go on with the innermost array or object: compare its children until one is an array or
  // object (pushed: the caller goes on with that) or there are none left (popped).
  void step() {
    Frame& f = s_.frames.back();
    if (f.planned) [[unlikely]] {
      step_planned(f);
      return;
    }
    if (f.is_array) {
      while (f.ia != f.ea && f.ib != f.eb) {
        const dom::element x = *f.ia;
        const dom::element y = *f.ib;
        ++f.ia;
        ++f.ib;
        f.index = f.next++;
        if (visit(x, y) || stopped_) return;  // pushed: `f` may have moved
      }
      for (; f.ia != f.ea && !stopped_; ++f.ia) {
        f.index = f.next++;
        one_sided(FieldChange::Removed, *f.ia);
      }
      for (; f.ib != f.eb && !stopped_; ++f.ib) {
        f.index = f.next++;
        one_sided(FieldChange::Added, *f.ib);
      }
      pop_frame();
      return;
    }
    for (;;) {
      if (f.next == f.stop) {
        if (f.phase != Phase::Primary) break;
        f.phase = Phase::ShadowOnly;
        f.next = f.shadow_first;
        f.stop = f.shadow_last;
        if (f.resort_shadow) sort_by_position(f.next, f.stop);
        continue;
      }
      // `x` is read before `visit`, which may grow (move) the members.
      const Member& x = s_.members[f.next++];
      f.key = x.key;
      bool pushed = false;
      if (f.phase == Phase::Aligned) {
        pushed = visit(x.value, s_.members[f.next - 1 + f.offset].value);
      } else if (x.match == Member::none) {
        one_sided(f.phase == Phase::Primary ? FieldChange::Removed : FieldChange::Added, x.value);
      } else if (f.phase == Phase::Primary) {
        pushed = visit(x.value, s_.members[x.match].value);
      }
      if (pushed || stopped_) return;  // pushed: `f` may have moved
    }
    s_.members.resize(f.base);
    pop_frame();
  }

  // Members [first, first + n) of `s_.members` name some key twice.
  bool has_duplicate_keys(std::size_t first, std::size_t n) {
    const std::vector<Member>& m = s_.members;
    if (n <= 16) {
      // A bit per (length, first byte, last byte): no bit set twice, no key twice.
      std::uint64_t seen = 0;
      bool maybe = false;
      for (std::size_t i = first; i < first + n; ++i) {
        const std::string_view k = m[i].key;
        const std::uint64_t h =
            k.empty() ? 0
                      : (k.size() * 0x9e3779b97f4a7c15ULL) ^
                            (static_cast<unsigned char>(k.front()) * 0xc2b2ae3d27d4eb4fULL) ^
                            (static_cast<unsigned char>(k.back()) * 0x165667b19e3779f9ULL);
        const std::uint64_t bit = std::uint64_t{1} << (h >> 58U);
        maybe = maybe || (seen & bit) != 0;
        seen |= bit;
      }
      if (!maybe) return false;
      for (std::size_t i = first + 1; i < first + n; ++i) {
        for (std::size_t j = first; j < i; ++j) {
          if (same_bytes(m[i].key, m[j].key)) return true;
        }
      }
      return false;
    }
    return s_.names.has_duplicate(n, [&m, first](std::size_t i) { return m[first + i].key; });
  }

  // Small objects in different orders, each key once: find each primary member's match by a
  // scan that starts next to the previous match, so that a shifted, swapped or reversed order
  // costs a compare or two per member.
  void match_by_scan(std::size_t base, std::size_t mid, std::size_t end) {
    std::vector<Member>& m = s_.members;
    std::size_t last = mid;  // where the previous primary member matched
    for (std::size_t i = base; i < mid && mid < end; ++i) {
      const std::string_view key = m[i].key;
      std::size_t found = end;
      const std::size_t next = last + 1 < end ? last + 1 : mid;
      const std::size_t prev = last > mid ? last - 1 : end - 1;
      if (same_bytes(m[next].key, key)) {
        found = next;
      } else if (same_bytes(m[prev].key, key)) {
        found = prev;
      } else {
        for (std::size_t j = mid; j < end; ++j) {
          if (same_bytes(m[j].key, key)) {
            found = j;
            break;
          }
        }
      }
      if (found == end) continue;
      m[i].match = static_cast<std::uint32_t>(found);
      m[found].match = static_cast<std::uint32_t>(i);
      last = found;
    }
  }

  void sort_by_position(std::size_t first, std::size_t last) {
    const auto begin = s_.members.begin();
    std::sort(begin + static_cast<std::ptrdiff_t>(first), begin + static_cast<std::ptrdiff_t>(last),
              [](const Member& x, const Member& y) { return x.seq < y.seq; });
  }

  // Keep the last of each run of equal keys in [first, last), sorted by key then position.
  std::size_t keep_last_of_equal_keys(std::size_t first, std::size_t last) {
    std::vector<Member>& m = s_.members;
    std::size_t out = first;
    for (std::size_t i = first; i < last; ++i) {
      if (i + 1 < last && same_bytes(m[i + 1].key, m[i].key)) continue;
      if (out != i) m[out] = m[i];
      ++out;
    }
    return out;
  }

  // Large objects, or any that repeat a key: sort both sides by key, keep the last of repeated
  // keys and match by merging; then put the primary's members back in document order. The
  // shadow's stay sorted (where the primary's `match`es point) until its own phase. Returns the
  // ends of both sides' members.
  std::pair<std::size_t, std::size_t> match_by_sort(std::size_t base, std::size_t mid,
                                                    std::size_t end) {
    std::vector<Member>& m = s_.members;
    const auto by_key = [](const Member& x, const Member& y) {
      const int c = x.key.compare(y.key);
      return c < 0 || (c == 0 && x.seq < y.seq);
    };
    const auto at = [&m](std::size_t i) { return m.begin() + static_cast<std::ptrdiff_t>(i); };
    std::sort(at(base), at(mid), by_key);
    std::sort(at(mid), at(end), by_key);
    const std::size_t a_end = keep_last_of_equal_keys(base, mid);
    const std::size_t b_end = keep_last_of_equal_keys(mid, end);
    for (std::size_t i = base, j = mid; i < a_end && j < b_end;) {
      const int c = m[i].key.compare(m[j].key);
      if (c < 0) {
        ++i;
      } else if (c > 0) {
        ++j;
      } else {
        m[i].match = static_cast<std::uint32_t>(j);
        m[j].match = static_cast<std::uint32_t>(i);
        ++i;
        ++j;
      }
    }
    sort_by_position(base, a_end);
    return {a_end, b_end};
  }

  Scratch& s_;
  const PointerPatterns& ignored_;
  const Options& options_;
  bool has_patterns_;  // ignore patterns or rules: the set's value places are not matched here
  std::size_t max_;
  std::size_t budget_;
  BodyComparison& out_;
  bool stopped_ = false;
  std::uint32_t rule_here_ = none;       // see `skipped`
  std::uint32_t tolerance_here_ = none;  // see `skipped`
  std::size_t keyed_frames_ = 0;         // frames with `keyed` set
  std::size_t plan_base_ = 0;            // the array `plan_aligned` plans: its first element
};

}  // namespace detail

/// Compare two JSON documents; the differences by RFC 6901 pointer, none when they are equal.
/**
 * - Whitespace and the order of object members do not matter: members are matched by name.
 * - Arrays of the same length compare by position. Arrays of different lengths are aligned, so
 *   that an element inserted or deleted anywhere is one `Added` or `Removed` at its index, not a
 *   change of every element after it: equal leading and trailing elements pair up; in between,
 *   elements found exactly once on each side anchor the longest run that keeps both orders (as
 *   patience diff does); between anchors, equal ends pair up, and the rest pair in order by the
 *   members they share (up to 4,096 pairs of elements a gap, else by position), the longer
 *   side's leftovers being removed or added. A pair is compared, and reported, at the primary's
 *   index; an added element is at the shadow's. Which of several equal candidates pairs is a
 *   tie broken in one direction, so swapping the sides may pair moved elements differently.
 * - `Options::unordered_array` and `Options::match_array_by` compare chosen arrays as multisets
 *   or by a key, `Options::number_tolerance` lets chosen numbers differ a little.
 * - Arrays of more than `Options::max_aligned_items` elements compare by position, and planning
 *   arrays hashes at most 4 values per byte of the two bodies in all (each value has a byte at
 *   least, so a value is hashed about 4 times at most however its arrays nest); past either
 *   bound arrays compare by position, and `BodyComparison::notes` says where and why. Elements
 *   are matched by a 64-bit hash of their value, keyed at random once per process; a pair with
 *   equal hashes is taken as equal without comparing it further (two different values share a
 *   hash with a chance of about 2^-64, and no body can choose values that do).
 * - `Added`: only the shadow has the value; `Removed`: only the primary; `Changed`: the same
 *   type (null, boolean, number, string, array, object), another value; `TypeChanged`: another
 *   type. An array or object that is added, removed or of another type is one difference at its
 *   pointer, not one per value inside it.
 * - Numbers compare by value, exactly. An integer (no fraction, no exponent) is the 64-bit
 *   integer it writes, signed or unsigned; any other number is the double nearest its text, as
 *   JavaScript and most JSON readers read it. So `1`, `1.0` and `1e0` are equal, and equality is
 *   transitive: `9007199254740993` differs from `9007199254740992` and from
 *   `9007199254740992.0`, and from `9007199254740993.0` too, which reads as the double
 *   9007199254740992 (its excerpt shows `9007199254740992.0`).
 * - Digits a double cannot hold are rounded away at either end of its range alike: `0.1` equals
 *   `0.10000000000000000001`, and `1e-400`, closer to 0 than the smallest double, reads as 0 and
 *   equals `0`. A number with no such value, an integer beyond 64 bits
 *   (`18446744073709551616`) or a magnitude beyond the largest double (`1e400`), makes its body
 *   unreadable: a `ParseError`, so that `Divergence::compare` reports the bodies by their bytes,
 *   which misses no difference.
 * - A UTF-8 byte-order mark (`EF BB BF`) before either text is skipped, as RFC 8259 allows a
 *   reader to: a body with one equals the same body without. A second one is not JSON.
 * - Strings and member names compare after unescaping: `"\u00e9"` equals `"é"`.
 * - A member name that appears twice in one object keeps its last value, as JavaScript's
 *   `JSON.parse` and Python's `json` read it: `{"a":1,"a":2}` equals `{"a":2}`.
 * - Pointers escape `~` and `/` (`/a~1b/m~0n` for `a/b` then `m~n`); the whole document is the
 *   empty pointer. Excerpts are the value's minified JSON through `value_excerpt` (48 bytes),
 *   empty for the side that lacks it.
 * - A value whose pointer `ignored` matches is skipped with everything inside it. A change of
 *   value at one of its value places is not listed, nor counted against `max_differences`.
 * - Differences come in document order: within an object, the primary's member order, then the
 *   members only the shadow has. At most `options.max_differences` are listed; then the walk
 *   stops and `truncated` is set.
 *
 * Throws `ParseError`, naming the side (`primary` or `shadow`, the primary first when both
 * fail) and simdjson's reason, when a body is not valid JSON (an empty body included), nests
 * deeper than `options.max_depth`, or holds a number as above.
 *
 * Cost: simdjson's DOM parse of both bodies, then one walk over both that allocates only for the
 * differences it lists (`bench/json_bench.cpp` measures both against the parse alone). Arrays
 * that are aligned, unordered or keyed are hashed whole once more, in O(n) time and about 64
 * bytes per element, plus O(a log a) for a anchors. No choice
 * of member names slows the walk down: large objects in different orders are matched by sorting
 * their names, and the check for a repeated name in a large object hashes the names with
 * SipHash-1-3 under a key drawn at random once per process, so that they cannot be chosen to
 * collide. Each
 * thread reuses its own pair of parsers and buffers; those grown past 1 MiB by a larger body, or
 * past 4,096 levels by a larger `max_depth`, are freed after that comparison. Thread-safe.
 */
[[nodiscard]] inline BodyComparison compare(std::string_view primary, std::string_view shadow,
                                            const PointerPatterns& ignored = {},
                                            const Options& options = {}) {
  detail::Scratch& s = detail::scratch();
  const detail::TrimScratch trim(s);
  const std::size_t depth = std::clamp<std::size_t>(options.max_depth, 1, Options::deepest);
  const auto a = detail::parse(s.primary, detail::without_bom(primary), depth, "primary");
  const auto b = detail::parse(s.shadow, detail::without_bom(shadow), depth, "shadow");
  BodyComparison out;
  // Planning arrays hashes at most 4 values per byte of the bodies (each value takes one at
  // least), so no nesting of arrays to align makes the walk more than linear.
  const std::size_t budget = 4 * (primary.size() + shadow.size()) + 4096;
  detail::Walk(s, ignored, options, std::max<std::size_t>(options.max_differences, 1), budget, out)
      .run(a, b);
  return out;
}

/// A `BodyComparator` named `json` that compares bodies with `json::compare`.
/**
 * With `options.by_content_type` (the default) it applies when both responses' `content-type`
 * is JSON (`is_json_content_type`), otherwise to every pair. A body it cannot read (see
 * `compare`) leaves `Divergence::compare` with the byte diff and `BodyDiff::fallback` set to
 * `json: ` and the reason, e.g. `json: shadow body is not valid JSON: ...`.
 */
[[nodiscard]] inline BodyComparator comparator(Options options = {}) {
  BodyComparator c;
  c.name = "json";
  if (options.by_content_type) {
    c.applies = [](const ResponseRecord& primary, const ResponseRecord& shadow) {
      return is_json_content_type(primary.headers.get("content-type")) &&
             is_json_content_type(shadow.headers.get("content-type"));
    };
  }
  c.compare = [options](std::string_view primary, std::string_view shadow,
                        const PointerPatterns& ignored) {
    return compare(primary, shadow, ignored, options);
  };
  return c;
}

}  // namespace json
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_JSON_HPP
