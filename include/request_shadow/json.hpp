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
#include <request_shadow/pointer.hpp>
#include <request_shadow/response_record.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace request_shadow::json {

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
  bool whole_document = false;         // the empty pattern: everything is ignored

  void compile(const PointerPatterns& patterns) {
    tokens.clear();
    first.clear();
    unescaped.clear();
    whole_document = false;
    std::size_t escaped = 0;
    for (const auto& p : patterns.patterns()) {
      escaped += static_cast<std::size_t>(std::count(p.begin(), p.end(), '~'));
    }
    unescaped.reserve(escaped);  // no reallocation: tokens point into these strings
    for (const auto& p : patterns.patterns()) {
      if (p.empty()) whole_document = true;
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
  Walk(Scratch& s, const PointerPatterns& ignored, std::size_t max_differences,
       BodyComparison& out) noexcept
      : s_(s),
        ignored_(ignored),
        has_patterns_(!ignored.patterns().empty()),
        max_(max_differences),
        out_(out) {}

  // Compare two documents.
  void run(dom::element a, dom::element b) {
    s_.frames.clear();
    s_.members.clear();
    s_.alive.clear();
    if (has_patterns_) s_.patterns.compile(ignored_);
    (void)visit(a, b);
    while (!s_.frames.empty() && !stopped_) step();
  }

 private:
  using Phase = Frame::Phase;
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
  [[nodiscard]] bool skipped() {
    if (!has_patterns_) return false;
    const CompiledPatterns& patterns = s_.patterns;
    std::vector<std::uint32_t>& next = s_.next_alive;
    next.clear();
    if (s_.frames.empty()) {
      if (patterns.whole_document) return true;
      for (std::uint32_t p = 0; p < patterns.size(); ++p) next.push_back(p);
      return false;
    }
    const Frame& f = s_.frames.back();
    const std::size_t depth = s_.frames.size() - 1;  // tokens in the parent's pointer
    for (std::uint32_t i = f.alive_first; i < f.alive_first + f.alive_count; ++i) {
      const std::uint32_t p = s_.alive[i];
      const PatternToken& t = patterns.token(p, depth);
      if (!(f.is_array ? t.matches_index(f.index) : t.matches_key(f.key))) continue;
      if (patterns.length(p) == depth + 1) return true;
      next.push_back(p);
    }
    return false;
  }

  // A frame was pushed for the value just visited: it inherits the patterns alive in it.
  void inherit_alive(Frame& f) {
    f.alive_first = static_cast<std::uint32_t>(s_.alive.size());
    f.alive_count = 0;
    if (!has_patterns_) return;
    s_.alive.insert(s_.alive.end(), s_.next_alive.begin(), s_.next_alive.end());
    f.alive_count = static_cast<std::uint32_t>(s_.next_alive.size());
  }

  void pop_frame() {
    s_.alive.resize(s_.frames.back().alive_first);
    s_.frames.pop_back();
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
    std::string text;
    if (a != nullptr) {
      append_json(text, *a, limit);
      diff.primary = value_excerpt(text, limit);
    }
    if (b != nullptr) {
      text.clear();
      append_json(text, *b, limit);
      diff.shadow = value_excerpt(text, limit);
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

  void push_array(dom::array a, dom::array b) {
    Frame& f = s_.frames.emplace_back();
    inherit_alive(f);
    f.is_array = true;
    f.ia = a.begin();
    f.ea = a.end();
    f.ib = b.begin();
    f.eb = b.end();
    f.next = 0;
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

  // Go on with the innermost array or object: compare its children until one is an array or
  // object (pushed: the caller goes on with that) or there are none left (popped).
  void step() {
    Frame& f = s_.frames.back();
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
  bool has_patterns_;  // only the patterns are matched here, not the set's other entries
  std::size_t max_;
  BodyComparison& out_;
  bool stopped_ = false;
};

}  // namespace detail

/// Compare two JSON documents; the differences by RFC 6901 pointer, none when they are equal.
/**
 * - Whitespace and the order of object members do not matter: members are matched by name;
 *   arrays compare by position, elements past the shorter one are `Added` or `Removed` at their
 *   index (`/items/3`).
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
 * differences it lists (`bench/json_bench.cpp` measures both against the parse alone). No choice
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
  detail::Walk(s, ignored, std::max<std::size_t>(options.max_differences, 1), out).run(a, b);
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

}  // namespace request_shadow::json

#endif  // REQUEST_SHADOW_JSON_HPP
