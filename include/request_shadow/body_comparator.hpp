// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_BODY_COMPARATOR_HPP
#define REQUEST_SHADOW_BODY_COMPARATOR_HPP

#include <cstddef>
#include <cstdint>
#include <functional>
#include <request_shadow/detail/flavour.hpp>
#include <request_shadow/pointer.hpp>
#include <request_shadow/response_record.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

/// How one field of a structured body differs.
enum class FieldChange : std::uint8_t {
  Added,        ///< Only the shadow has it.
  Removed,      ///< Only the primary has it.
  Changed,      ///< Both have it, of the same type, with different values.
  TypeChanged,  ///< Both have it, of different types (a number and a string, say).
};

/// The name of a change: `added`, `removed`, `changed` or `type_changed`.
[[nodiscard]] constexpr std::string_view to_string(FieldChange change) noexcept {
  switch (change) {
    case FieldChange::Added:
      return "added";
    case FieldChange::Removed:
      return "removed";
    case FieldChange::Changed:
      return "changed";
    case FieldChange::TypeChanged:
      return "type_changed";
  }
  return "changed";
}

/// One difference inside a structured body, located by an RFC 6901 JSON Pointer.
struct FieldDiff {
  /// Where it is, e.g. `/items/3/price` (the empty pointer is the whole document).
  std::string pointer;
  /// What kind of difference it is.
  FieldChange change = FieldChange::Changed;
  /// A short, printable excerpt of the primary's value; empty when the field was added.
  std::string primary;
  /// A short, printable excerpt of the shadow's value; empty when the field was removed.
  std::string shadow;

  friend bool operator==(const FieldDiff&, const FieldDiff&) = default;
};

/// What a body comparator found: the differences, none when the bodies are equal.
struct BodyComparison {
  /// The differences, in document order.
  std::vector<FieldDiff> fields;
  /// More differences exist than `fields` lists (the comparator caps its list).
  bool truncated = false;
  /// Where the comparator compared otherwise than its rules ask, and why, e.g. `/items:
  /// match_array_by /id not applied, shadow element 3 has no key`; empty normally.
  std::vector<std::string> notes{};
};

/// Rewrites a body before it is compared, on both sides (to drop a timestamp, say).
using BodyNormalizer = std::function<std::string(std::string_view body)>;

/// Compares bodies in a format the byte comparison does not understand.
/**
 * For example the JSON comparator of the `request_shadow::json` component, or one of your own
 * that decodes protobuf messages. Registered with `ShadowConfig::body_comparator`.
 */
struct BodyComparator {
  /// The format's name, shown in `BodyDiff::format` and in signatures, e.g. `json`.
  std::string name;
  /// Whether this comparator reads this pair of responses (by content type, say); empty means
  /// every pair.
  /**
   * One that throws makes the comparison a byte diff, with `name`, `: applies failed: ` and the
   * exception's `what()` in `BodyDiff::fallback` (no later comparator is tried).
   */
  std::function<bool(const ResponseRecord& primary, const ResponseRecord& shadow)> applies;
  /// Compare two bodies that are not byte-equal (after any normalizer).
  /**
   * `ignored` is what the config and the learned noise ignore: a comparator may skip a value
   * that its patterns match, with everything inside it, and at its value places the comparison
   * of two scalars of the same type; an addition, a removal or a change of type there, and
   * anything inside, must still be reported. The library drops any difference it reports that
   * `ignored` covers anyway. A
   * comparator that cannot read a body throws: the comparison then falls back to bytes, with the
   * exception's `what()` in `BodyDiff::fallback`. Called concurrently from several threads.
   */
  std::function<BodyComparison(std::string_view primary, std::string_view shadow,
                               const PointerPatterns& ignored)>
      compare;
};

namespace detail {

// Append `bytes` printably: `\\`, `\n`, `\r`, `\t` and `\xNN` escapes for the rest.
inline void append_printable(std::string& out, std::string_view bytes) {
  constexpr char hex[] = "0123456789abcdef";
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
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
      out += hex[c & 0x0fU];
    } else {
      out += ch;
    }
  }
}

}  // namespace detail

/// A printable excerpt of a value's text: at most `limit` bytes of it, escaped as in
/// `BodyDiff`'s excerpts, with `...` when it goes on. For comparators filling `FieldDiff`s.
[[nodiscard]] inline std::string value_excerpt(std::string_view text, std::size_t limit = 48) {
  std::string out;
  const bool cut = text.size() > limit;
  detail::append_printable(out, cut ? text.substr(0, limit) : text);
  if (cut) out += "...";
  return out;
}

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_BODY_COMPARATOR_HPP
