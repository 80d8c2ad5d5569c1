// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_HTTP_RULES_HPP
#define REQUEST_SHADOW_HTTP_RULES_HPP

/// @file
/// Ready-made request rules for requests written as HTTP/1 text: which requests the shadow may
/// see, what it sees of them, and which key samples them.

#include <algorithm>
#include <cstddef>
#include <request_shadow/config.hpp>
#include <request_shadow/detail/flavour.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// One line of a request: [begin, content_end) is its text and [content_end, end) its line end:
// LF, CRLF, a bare CR (a CR not followed by LF, which some servers read as a line end), or
// nothing at the end of the text.
struct HttpLine {
  std::size_t begin = 0;
  std::size_t content_end = 0;
  std::size_t end = 0;
};

inline HttpLine http_line_at(std::string_view text, std::size_t from) noexcept {
  std::size_t i = from;
  while (i < text.size() && text[i] != '\n' && text[i] != '\r') ++i;
  HttpLine line{from, i, i};
  if (i < text.size()) {
    line.end = i + 1;
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') line.end = i + 2;
  }
  return line;
}

// Where the request line starts: after the empty lines a server skips before it.
inline std::size_t http_request_line_start(std::string_view text) noexcept {
  std::size_t i = 0;
  for (;;) {
    if (i < text.size() && text[i] == '\n') {
      ++i;
    } else if (i + 1 < text.size() && text[i] == '\r' && text[i + 1] == '\n') {
      i += 2;
    } else {
      return i;
    }
  }
}

[[nodiscard]] constexpr bool is_http_blank(char c) noexcept { return c == ' ' || c == '\t'; }

// Whether `c` may appear in a field name (RFC 9110 `tchar`).
[[nodiscard]] constexpr bool is_http_token_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Whether two field names are equal, ignoring ASCII case.
[[nodiscard]] inline bool http_name_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// The name of a header line: what comes before its colon, blanks before the colon dropped
// (servers that accept "Name :" read it as "Name"); empty for a line without a colon.
[[nodiscard]] inline std::string_view http_field_name(std::string_view content) noexcept {
  const auto colon = content.find(':');
  if (colon == std::string_view::npos) return {};
  std::string_view name = content.substr(0, colon);
  while (!name.empty() && is_http_blank(name.back())) name.remove_suffix(1);
  return name;
}

[[nodiscard]] inline std::string_view http_trimmed(std::string_view s) noexcept {
  while (!s.empty() && is_http_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_http_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Call `visit(line)` for each line of the request's header section, in order, and return where
// the section ends (where the empty line that ends it starts, or the end of the text). Text whose
// request line is empty (it starts with a bare CR) has no header section. A line
// that starts with a blank continues the previous one (obs-fold). The section ends at an empty
// line ended by LF or CRLF that follows a line ended by LF or CRLF: after a bare CR, which a
// server may read as a line end or as a blank, an empty line is read as a header line, so that
// what follows is treated as a header (when in doubt, a field is a field).
template <class Visit>
std::size_t for_each_http_header_line(std::string_view text, Visit&& visit) {
  const HttpLine request_line = http_line_at(text, http_request_line_start(text));
  if (request_line.begin == request_line.content_end) return text.size();  // no request line
  bool after_lf = request_line.end > request_line.content_end && text[request_line.end - 1] == '\n';
  std::size_t at = request_line.end;
  while (at < text.size()) {
    const HttpLine line = http_line_at(text, at);
    const bool ends_with_lf = line.end > line.content_end && text[line.end - 1] == '\n';
    if (line.begin == line.content_end && ends_with_lf && after_lf) return line.begin;
    visit(line);
    after_lf = ends_with_lf;
    at = line.end;
  }
  return text.size();
}

// The names given to a rule, checked: each must be a non-empty token.
inline std::vector<std::string> checked_http_names(std::vector<std::string> names,
                                                   const char* rule) {
  for (const auto& name : names) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_http_token_char)) {
      throw std::invalid_argument(std::string("request_shadow::") + rule +
                                  ": not a header field name: \"" + name + "\"");
    }
  }
  return names;
}

}  // namespace detail

/// A `shadow_if` rule that lets only the safe methods through: `GET`, `HEAD`, `OPTIONS`, `TRACE`.
/**
 * For requests written as HTTP/1 text (`GET /path HTTP/1.1\r\n...`): the method is the request
 * line's first word, after any empty lines before it, and must be followed by a space or a tab.
 * Methods are case-sensitive (RFC 9110), so `get` is refused, as is anything that is not plainly
 * one of the four: shadowing a `POST` would make its side effects twice. Stateless, so safe on
 * any number of threads.
 */
[[nodiscard]] inline ShadowConfig::RequestFilter http_safe_methods() {
  return [](std::string_view request) noexcept {
    const std::string_view line = request.substr(detail::http_request_line_start(request));
    for (const std::string_view method : {"GET", "HEAD", "OPTIONS", "TRACE"}) {
      if (line.size() > method.size() && line.substr(0, method.size()) == method &&
          detail::is_http_blank(line[method.size()])) {
        return true;
      }
    }
    return false;
  };
}

/// A `shadow_request` rule that removes header fields by name, e.g. credentials.
/**
 * `http_strip_headers({"authorization", "cookie"})` removes every field with one of these names,
 * in any letter case, from a request written as HTTP/1 text, with its line end and its
 * continuation lines (obs-fold: lines that start with a space or a tab). Everything else is kept
 * byte for byte: the request line, the other fields and their order, the line ends as they were
 * (CRLF or LF), the body. Lines end at LF, CRLF or a bare CR (one that some servers read as a line
 * end), and `Name :` counts as `Name`, so a field cannot hide from the rule behind either (a bare
 * CR just before a removed field takes over that field's line end, so that the lines around it
 * are not joined); the header section ends at the first empty line that follows an LF. Malformed
 * text is never an error: lines without a colon are kept, and a request with no header section
 * comes back unchanged.
 *
 * Throws `std::invalid_argument` if a name is empty or not a token (RFC 9110). The rule is
 * stateless, so safe on any number of threads.
 */
[[nodiscard]] inline ShadowConfig::RequestRewrite http_strip_headers(
    std::vector<std::string> names) {
  return [names = detail::checked_http_names(std::move(names), "http_strip_headers")](
             std::string_view request) {
    std::string out;
    out.reserve(request.size());
    std::size_t copied = 0;  // request[0, copied) is in `out` or removed
    bool removing = false;   // the last field line was removed: its continuations go with it
    detail::for_each_http_header_line(request, [&](const detail::HttpLine& line) {
      const std::string_view content = request.substr(line.begin, line.content_end - line.begin);
      if (content.empty() || !detail::is_http_blank(content.front())) {
        const std::string_view name = detail::http_field_name(content);
        removing =
            !name.empty() && std::any_of(names.begin(), names.end(), [name](const std::string& n) {
              return detail::http_name_equal(n, name);
            });
      }
      if (removing) {
        out.append(request.substr(copied, line.begin - copied));
        // A bare CR before the removed line takes over its line end, so that it cannot join
        // the next line's LF into a CRLF: the lines around it stay as many as they were.
        const auto end = request.substr(line.content_end, line.end - line.content_end);
        if (!out.empty() && out.back() == '\r' && end.find('\n') != std::string_view::npos) {
          out.pop_back();
          out.append(end);
        }
        copied = line.end;
      }
    });
    out.append(request.substr(copied));
    return out;
  };
}

/// A `key_extractor` that samples (and logs) on the value of one header field, e.g. a user or a
/// session id.
/**
 * The default key is the whole request, so every identical request (`GET /api` with the same
 * headers) is in the sample, or every one out, at any rate below 100 %. Keyed on a user id
 * instead, each user is in or out: a user's requests are all shadowed or none are.
 *
 * The key is the value of the first field with this name (in any letter case) in a request
 * written as HTTP/1 text, without surrounding blanks, its continuation lines joined by a space. A
 * request without the field is keyed on the whole request, as without an extractor. Throws
 * `std::invalid_argument` if `name` is empty or not a token (RFC 9110). The rule is stateless, so
 * safe on any number of threads.
 */
[[nodiscard]] inline ShadowConfig::KeyExtractor http_header_key(std::string name) {
  std::vector<std::string> checked =
      detail::checked_http_names({std::move(name)}, "http_header_key");
  return [field = std::move(checked.front())](std::string_view request) {
    std::string value;
    enum class State { Looking, Reading, Done } state = State::Looking;
    detail::for_each_http_header_line(request, [&](const detail::HttpLine& line) {
      if (state == State::Done) return;
      const std::string_view content = request.substr(line.begin, line.content_end - line.begin);
      const bool continuation = !content.empty() && detail::is_http_blank(content.front());
      if (state == State::Reading) {
        if (!continuation) {
          state = State::Done;
          return;
        }
        const std::string_view more = detail::http_trimmed(content);
        if (!more.empty()) {
          if (!value.empty()) value += ' ';
          value += more;
        }
        return;
      }
      if (continuation || !detail::http_name_equal(detail::http_field_name(content), field)) return;
      value = detail::http_trimmed(content.substr(content.find(':') + 1));
      state = State::Reading;
    });
    if (state == State::Looking) return std::string(request);
    return value;
  };
}

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_HTTP_RULES_HPP
