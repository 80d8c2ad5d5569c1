// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_POINTER_HPP
#define REQUEST_SHADOW_POINTER_HPP

#include <algorithm>
#include <cstddef>
#include <request_shadow/detail/flavour.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

/// Append one reference token to an RFC 6901 JSON Pointer: `/`, then `token` with `~` written
/// as `~0` and `/` as `~1`.
inline void append_pointer_token(std::string& pointer, std::string_view token) {
  pointer += '/';
  for (const char c : token) {
    if (c == '~') {
      pointer += "~0";
    } else if (c == '/') {
      pointer += "~1";
    } else {
      pointer += c;
    }
  }
}

namespace detail {

// Splits an RFC 6901 pointer into its (still escaped) reference tokens, without allocating.
class PointerTokens {
 public:
  explicit PointerTokens(std::string_view pointer) noexcept : rest_(pointer) {}

  // The next token; false at the end.
  bool next(std::string_view& token) noexcept {
    if (rest_.empty()) return false;
    rest_.remove_prefix(1);  // the '/'
    const std::size_t end = rest_.find('/');
    token = rest_.substr(0, end);
    rest_ = end == std::string_view::npos ? std::string_view{} : rest_.substr(end);
    return true;
  }

 private:
  std::string_view rest_;
};

// Whether `pointer` has RFC 6901's form: empty (the whole document) or from `/` on.
inline bool is_pointer(std::string_view pointer) noexcept {
  return pointer.empty() || pointer.front() == '/';
}

inline bool all_digits(std::string_view token) noexcept {
  if (token.empty()) return false;
  for (const char c : token) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A place as noise cancellation matches it, literally: each token of `pointer` as written
// (escaped), except that a token of digits only (an array index, or a numeric member name)
// stands for any such token. The key tells the two apart, so a member named `*` is never an
// index, nor a wildcard: `/5/*` gives `/#/=*`.
inline std::string place_key(std::string_view pointer) {
  std::string out;
  out.reserve(pointer.size() + pointer.size() / 2 + 1);
  PointerTokens tokens(pointer);
  std::string_view token;
  while (tokens.next(token)) {
    if (all_digits(token)) {
      out += "/#";
    } else {
      out += "/=";
      out += token;
    }
  }
  return out;
}

}  // namespace detail

/// `pointer` with every token made only of digits (an array index, or a numeric map key)
/// replaced by `*`: `/items/3/price` becomes `/items/*/price`.
/**
 * Differences at different positions of one array then share a signature and a noise count.
 */
[[nodiscard]] inline std::string fold_indices(std::string_view pointer) {
  std::string out;
  out.reserve(pointer.size());
  detail::PointerTokens tokens(pointer);
  std::string_view token;
  while (tokens.next(token)) {
    out += '/';
    if (detail::all_digits(token)) {
      out += '*';
    } else {
      out += token;
    }
  }
  return out;
}

/// A set of JSON Pointer patterns: which parts of a structured body a comparison ignores.
///
/// A pattern is an RFC 6901 pointer (`/items/0/updated_at`, with `~0` for `~` and `~1` for `/`)
/// in which the token `*` matches any one member name or array index: `/items/*/updated_at`
/// matches `updated_at` in every element of `items`. A pattern matches the value it points to and
/// everything inside it, so `/debug` ignores the whole `debug` member. The empty pattern matches
/// the whole document.
///
/// The set also holds value places (`add_value_place`), which are no patterns: each ignores only
/// a change of value (`FieldChange::Changed`) at exactly one place, read literally. A noise
/// cancelling `Shadower` adds the places it learned as noisy there.
class PointerPatterns {
 public:
  /// An empty set: matches nothing.
  PointerPatterns() = default;

  /// Add a pattern; throws `std::invalid_argument` unless it is empty or starts with `/`.
  void add(std::string_view pattern) {
    if (!detail::is_pointer(pattern)) {
      throw std::invalid_argument(
          "request_shadow: a JSON Pointer pattern must be empty or start "
          "with '/': \"" +
          std::string(pattern) + "\"");
    }
    for (const auto& p : patterns_) {
      if (p == pattern) return;
    }
    patterns_.emplace_back(pattern);
  }

  /// Add a value place: a change of value (the same type, another value) at exactly `pointer`
  /// is ignored, and nothing else there or inside it (an addition, a removal, a change of type).
  /**
   * The place is read literally, token by token as written: `*` is a member named `*`, never a
   * wildcard, and the empty pointer is the root alone. Only a token of digits only (an array
   * index, or a numeric member name) stands for any such token, as `fold_indices` folds it:
   * `/items/0/id` is also `/items/7/id`, but not `/items/0/id/x` nor `/items/0`. Throws
   * `std::invalid_argument` unless `pointer` is empty or starts with `/`.
   */
  void add_value_place(std::string_view pointer) {
    if (!detail::is_pointer(pointer)) {
      throw std::invalid_argument(
          "request_shadow: a JSON Pointer must be empty or start with '/': \"" +
          std::string(pointer) + "\"");
    }
    std::string key = detail::place_key(pointer);
    const auto at = std::lower_bound(value_places_.begin(), value_places_.end(), key);
    if (at == value_places_.end() || *at != key) value_places_.insert(at, std::move(key));
  }

  /// Whether `pointer` is matched by a pattern, or lies inside a value that is.
  [[nodiscard]] bool matches(std::string_view pointer) const noexcept {
    for (const auto& pattern : patterns_) {
      if (covers(pattern, pointer)) return true;
    }
    return false;
  }

  /// Whether a change of value only (`FieldChange::Changed`) at `pointer` is ignored: a pattern
  /// matches it, or a value place is exactly there.
  [[nodiscard]] bool ignores_value_change(std::string_view pointer) const {
    if (matches(pointer)) return true;
    if (value_places_.empty()) return false;
    return std::binary_search(value_places_.begin(), value_places_.end(),
                              detail::place_key(pointer));
  }

  /// Whether there are neither patterns nor value places.
  [[nodiscard]] bool empty() const noexcept { return patterns_.empty() && value_places_.empty(); }
  /// The patterns, in the order they were added (not the value places).
  [[nodiscard]] const std::vector<std::string>& patterns() const noexcept { return patterns_; }
  /// Whether there are value places.
  [[nodiscard]] bool has_value_places() const noexcept { return !value_places_.empty(); }

  friend bool operator==(const PointerPatterns&, const PointerPatterns&) = default;

 private:
  static bool covers(std::string_view pattern, std::string_view pointer) noexcept {
    detail::PointerTokens want(pattern);
    detail::PointerTokens have(pointer);
    std::string_view w;
    std::string_view h;
    while (want.next(w)) {
      if (!have.next(h)) return false;
      if (w != "*" && w != h) return false;
    }
    return true;
  }

  std::vector<std::string> patterns_;
  std::vector<std::string> value_places_;  // `detail::place_key`s, sorted
};

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_POINTER_HPP
