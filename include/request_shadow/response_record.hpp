// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_RESPONSE_RECORD_HPP
#define REQUEST_SHADOW_RESPONSE_RECORD_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <request_shadow/detail/flavour.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

namespace detail {

// HTTP header names are ASCII and case-insensitive.
constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

inline bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

}  // namespace detail

/// One header field: a lower-cased name and its value.
struct Header {
  /// The field name, lower-cased (HTTP names are case-insensitive).
  std::string name;
  /// The field value, exactly as given.
  std::string value;

  friend bool operator==(const Header&, const Header&) = default;
};

/// An ordered multimap of header fields, as HTTP means them.
/**
 * Names compare case-insensitively: they are stored lower-cased, as HTTP/2 sends them, so
 * `Content-Type` and `content-type` are one header. Fields stay sorted by name; a name may
 * repeat, and its values keep the order in which they were added. Iteration yields `Header`s in
 * that order.
 */
class Headers {
 public:
  /// Iterator over the fields, sorted by name.
  using const_iterator = std::vector<Header>::const_iterator;

  /// Make an empty set of headers.
  Headers() = default;

  /// Add a field; an existing field of the same name is kept and this value goes after it.
  void add(std::string_view name, std::string_view value) {
    std::string lowered = detail::ascii_lowered(name);
    auto pos = std::upper_bound(fields_.begin(), fields_.end(), lowered,
                                [](const std::string& n, const Header& h) { return n < h.name; });
    fields_.insert(pos, Header{std::move(lowered), std::string(value)});
  }

  /// Remove every field of this name; returns how many were removed.
  std::size_t erase(std::string_view name) {
    auto [first, last] = range(name);
    auto n = static_cast<std::size_t>(last - first);
    fields_.erase(first, last);
    return n;
  }

  /// The first value of `name`, or an empty view with `contains(name) == false`.
  [[nodiscard]] std::string_view get(std::string_view name) const {
    auto [first, last] = range(name);
    return first == last ? std::string_view{} : std::string_view{first->value};
  }

  /// Every value of `name`, in the order they were added.
  [[nodiscard]] std::vector<std::string_view> values(std::string_view name) const {
    auto [first, last] = range(name);
    std::vector<std::string_view> out;
    out.reserve(static_cast<std::size_t>(last - first));
    for (auto it = first; it != last; ++it) out.emplace_back(it->value);
    return out;
  }

  /// Whether at least one field has this name.
  [[nodiscard]] bool contains(std::string_view name) const {
    auto [first, last] = range(name);
    return first != last;
  }

  /// The number of fields (a repeated name counts once per value).
  [[nodiscard]] std::size_t size() const noexcept { return fields_.size(); }
  /// Whether there are no fields.
  [[nodiscard]] bool empty() const noexcept { return fields_.empty(); }
  /// First field, in name order.
  [[nodiscard]] const_iterator begin() const noexcept { return fields_.begin(); }
  /// Past the last field.
  [[nodiscard]] const_iterator end() const noexcept { return fields_.end(); }

  /// The half-open range of fields named `name` (case-insensitive).
  [[nodiscard]] std::pair<const_iterator, const_iterator> range(std::string_view name) const {
    struct ByName {
      bool operator()(const Header& h, std::string_view n) const { return h.name < n; }
      bool operator()(std::string_view n, const Header& h) const { return n < h.name; }
    };
    const std::string lowered = detail::ascii_lowered(name);
    return std::equal_range(fields_.begin(), fields_.end(), std::string_view(lowered), ByName{});
  }

  friend bool operator==(const Headers&, const Headers&) = default;

 private:
  std::vector<Header> fields_;
};

/// What a backend answered: success flag, status, headers and opaque body bytes.
/**
 * The body is a `std::string` used as a byte container: it may hold any bytes, NULs included.
 * `status` is the HTTP status code, or 0 for a backend that does not speak HTTP.
 */
struct ResponseRecord {
  /// Whether the backend considers the call a success.
  bool ok = true;
  /// HTTP status code; 0 for non-HTTP backends.
  std::uint16_t status = 0;
  /// Header fields (case-insensitive names, repeated names kept).
  Headers headers;
  /// Opaque body bytes.
  std::string body;

  /// A success record: `ok`, status 200, the given body.
  [[nodiscard]] static ResponseRecord success(std::string_view body = {}) {
    return ResponseRecord{true, 200, {}, std::string(body)};
  }

  /// A success record from raw bytes: `ok`, status 200.
  [[nodiscard]] static ResponseRecord success(std::span<const std::byte> body) {
    return success(std::string_view(reinterpret_cast<const char*>(body.data()), body.size()));
  }

  /// A failure record: not `ok`, the given status (0 for non-HTTP) and body.
  [[nodiscard]] static ResponseRecord failure(std::uint16_t status, std::string_view body = {}) {
    return ResponseRecord{false, status, {}, std::string(body)};
  }

  /// Add a header and return this record, for chaining on an lvalue.
  ResponseRecord& with_header(std::string_view name, std::string_view value) & {
    headers.add(name, value);
    return *this;
  }

  /// Add a header and return this record, for chaining on a temporary.
  [[nodiscard]] ResponseRecord&& with_header(std::string_view name, std::string_view value) && {
    headers.add(name, value);
    return std::move(*this);
  }

  /// The body as bytes.
  [[nodiscard]] std::span<const std::byte> body_bytes() const noexcept {
    return std::as_bytes(std::span(body.data(), body.size()));
  }

  friend bool operator==(const ResponseRecord&, const ResponseRecord&) = default;
};

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_RESPONSE_RECORD_HPP
