// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Fuzzes `DivergenceLog` (log.hpp) and its JSON-lines exports (json_lines.hpp): secrets in keys,
// the key cap, and the exports' form.
//
// The key is built around a planted secret: fuzzer bytes (or, repeated, about
// `DivergenceLog::key_scan_bytes` of them), then a line ending (LF, CRLF or CR)
// unless those bytes are empty, then a sensitive header line: blanks or not, one of
// `authorization`, `proxy-authorization`, `cookie`, `set-cookie` (or a name of the log's own
// list, given to it in another case) in random letter case, blanks or not, a colon, fuzzer bytes
// without CR or LF, the secret `SECRETzq81`, more such bytes; then 0 to 3 continuation lines (a
// line ending, possibly empty lines, a blank, or nothing after a bare CR, fuzzer bytes, the
// secret); then a line ending and fuzzer bytes. Inputs that hold the secret anywhere else are
// rejected. The divergence pushed with it is built from fuzzer bytes too (any header names,
// excerpts, pointers, format and fallback).
//
// Invariants (each violation prints what broke and aborts):
// 1. The secret, a value of a sensitive header line or of its continuation lines as the
//    `DivergenceLog` documents them, never appears in a stored key, in `to_json_line` of an
//    entry or of a signature count, in `write_json_lines` or in `write_summary_lines`, neither
//    in the text nor in any decoded JSON string.
// 2. A stored key holds at most `DivergenceLog::max_key_bytes` bytes; `key_size` is the whole
//    key's length; the key is the first `max_key_bytes` bytes of the redaction (of the first
//    `key_scan_bytes` bytes of the key) by the documented rules, modelled here, and
//    `key_truncated` is set exactly when that redaction is longer or the key was not read whole.
// 3. Every export line is one valid JSON value (checked by a strict RFC 8259 reader written here,
//    lone surrogates rejected), an object, pure printable ASCII; the writers end each line with a
//    newline. An entry's line decodes back to its key, `key_size`, `key_truncated` and every
//    string of its divergence (bytes as the code points U+0000 to U+00FF); a
//    signature count's `share` has three decimals and lies in [0, 1], 0 when `total` is 0.
// 4. The log keeps at most `capacity()` entries and counts every push in `total_pushed()`.

#include <request_shadow/json_lines.hpp>
// The header under test comes first: it must compile on its own.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <request_shadow/divergence.hpp>
#include <request_shadow/log.hpp>
#include <request_shadow/stats.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"

namespace {

namespace rs = request_shadow;
using rs::fuzz::fail;
using rs::fuzz::require;

constexpr std::string_view secret = "SECRETzq81";

// --- A strict JSON reader (RFC 8259) -----------------------------------------------------------

class JsonReader {
 public:
  // Every string read, member names included, decoded; a code point above 0xff as '?'.
  std::vector<std::string> strings;
  // The members of the top-level object: name and the raw text of the value.
  std::vector<std::pair<std::string, std::string_view>> members;

  // Whether `text` is exactly one JSON value, with optional whitespace around it.
  REQUEST_SHADOW_FUZZ_ORACLE bool read(std::string_view text) {
    s_ = text;
    at_ = 0;
    skip_space();
    if (!value(0)) return false;
    skip_space();
    return at_ == s_.size();
  }

  // Decode one JSON string (its raw text, quotes included), bytes as code points.
  REQUEST_SHADOW_FUZZ_ORACLE static bool decode(std::string_view raw, std::string& out) {
    JsonReader r;
    r.s_ = raw;
    return r.string(&out) && r.at_ == raw.size();
  }

 private:
  static constexpr int max_depth = 64;

  REQUEST_SHADOW_FUZZ_ORACLE bool value(int depth) {
    if (at_ >= s_.size() || depth > max_depth) return false;
    switch (s_[at_]) {
      case '{':
        return object(depth);
      case '[':
        return array(depth);
      case '"': {
        std::string decoded;
        if (!string(&decoded)) return false;
        strings.push_back(std::move(decoded));
        return true;
      }
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  REQUEST_SHADOW_FUZZ_ORACLE bool object(int depth) {
    ++at_;  // '{'
    skip_space();
    if (peek('}')) return true;
    for (;;) {
      skip_space();
      std::string name;
      if (at_ >= s_.size() || s_[at_] != '"' || !string(&name)) return false;
      strings.push_back(name);
      skip_space();
      if (!peek(':')) return false;
      skip_space();
      const std::size_t start = at_;
      if (!value(depth + 1)) return false;
      if (depth == 0) members.emplace_back(std::move(name), s_.substr(start, at_ - start));
      skip_space();
      if (peek('}')) return true;
      if (!peek(',')) return false;
    }
  }

  REQUEST_SHADOW_FUZZ_ORACLE bool array(int depth) {
    ++at_;  // '['
    skip_space();
    if (peek(']')) return true;
    for (;;) {
      skip_space();
      if (!value(depth + 1)) return false;
      skip_space();
      if (peek(']')) return true;
      if (!peek(',')) return false;
    }
  }

  REQUEST_SHADOW_FUZZ_ORACLE bool hex4(unsigned& cp) {
    if (s_.size() - at_ < 4) return false;
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[at_++];
      unsigned d = 0;
      if (c >= '0' && c <= '9') {
        d = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<unsigned>(c - 'A' + 10);
      } else {
        return false;
      }
      cp = cp * 16 + d;
    }
    return true;
  }

  REQUEST_SHADOW_FUZZ_ORACLE bool string(std::string* out) {
    if (!peek('"')) return false;
    while (at_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[at_++]);
      if (c == '"') return true;
      if (c < 0x20 || c >= 0x80) return false;  // control bytes; the exports are ASCII
      if (c != '\\') {
        *out += static_cast<char>(c);
        continue;
      }
      if (at_ >= s_.size()) return false;
      const char e = s_[at_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          *out += e;
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'n':
          *out += '\n';
          break;
        case 'r':
          *out += '\r';
          break;
        case 't':
          *out += '\t';
          break;
        case 'u': {
          unsigned cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xdc00 && cp <= 0xdfff) return false;  // a lone low surrogate
          if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned low = 0;
            if (!peek('\\') || !peek('u') || !hex4(low) || low < 0xdc00 || low > 0xdfff) {
              return false;  // a high surrogate not followed by a low one
            }
            cp = 0x10000;
          }
          *out += cp <= 0xff ? static_cast<char>(cp) : '?';
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  REQUEST_SHADOW_FUZZ_ORACLE bool number() {
    const std::size_t start = at_;
    peek('-');
    if (peek('0')) {
    } else if (!digits()) {
      return false;
    }
    if (peek('.') && !digits()) return false;
    if (at_ < s_.size() && (s_[at_] == 'e' || s_[at_] == 'E')) {
      ++at_;
      if (!peek('+')) peek('-');
      if (!digits()) return false;
    }
    return at_ > start;
  }

  REQUEST_SHADOW_FUZZ_ORACLE bool digits() {
    const std::size_t start = at_;
    while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') ++at_;
    return at_ > start;
  }

  REQUEST_SHADOW_FUZZ_ORACLE bool literal(std::string_view word) {
    if (s_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  REQUEST_SHADOW_FUZZ_ORACLE bool peek(char c) {
    if (at_ < s_.size() && s_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }

  REQUEST_SHADOW_FUZZ_ORACLE void skip_space() {
    while (at_ < s_.size() &&
           (s_[at_] == ' ' || s_[at_] == '\t' || s_[at_] == '\n' || s_[at_] == '\r')) {
      ++at_;
    }
  }

  std::string_view s_;
  std::size_t at_ = 0;
};

// --- The documented redaction, modelled ------------------------------------------------------

bool blank(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

REQUEST_SHADOW_FUZZ_ORACLE bool sensitive_name(std::string_view name,
                                               const std::vector<std::string>& names) {
  while (!name.empty() && blank(name.front())) name.remove_prefix(1);
  while (!name.empty() && blank(name.back())) name.remove_suffix(1);
  return std::any_of(names.begin(), names.end(), [name](const std::string& n) {
    return n.size() == name.size() &&
           std::equal(n.begin(), n.end(), name.begin(),
                      [](char x, char y) { return lower(x) == lower(y); });
  });
}

// Lines end at LF, CRLF or CR; an empty line changes nothing; a line that starts with a blank
// or follows a bare CR continues a redacted line and is redacted whole; any other line is a
// header line, redacted after its first colon when the name before it is sensitive.
REQUEST_SHADOW_FUZZ_ORACLE std::string model_redaction(std::string_view text,
                                                       const std::vector<std::string>& names) {
  std::string out;
  bool redacting = false;
  bool bare_cr = false;
  std::size_t line = 0;
  for (;;) {
    std::size_t end = line;
    while (end < text.size() && text[end] != '\n' && text[end] != '\r') ++end;
    const std::string_view current = text.substr(line, end - line);
    if (!current.empty()) {
      if (redacting && (bare_cr || blank(current.front()))) {
        out += " [redacted]";
      } else {
        const std::size_t colon = current.find(':');
        redacting =
            colon != std::string_view::npos && sensitive_name(current.substr(0, colon), names);
        out += redacting ? std::string(current.substr(0, colon + 1)) + " [redacted]"
                         : std::string(current);
      }
    }
    if (end == text.size()) return out;
    std::size_t next = end + 1;
    if (text[end] == '\r' && next < text.size() && text[next] == '\n') ++next;
    bare_cr = next == end + 1 && text[end] == '\r';
    out += text.substr(end, next - end);
    line = next;
  }
}

// --- Building the input ----------------------------------------------------------------------

constexpr std::array<std::string_view, 4> sensitive = {"authorization", "proxy-authorization",
                                                       "cookie", "set-cookie"};
constexpr std::array<std::string_view, 3> endings = {"\n", "\r\n", "\r"};
constexpr std::array<char, 4> blanks = {' ', '\t', '\v', '\f'};

std::string without_line_ends(std::string s) {
  std::erase_if(s, [](char c) { return c == '\n' || c == '\r'; });
  return s;
}

struct Key {
  std::vector<std::string> names;  // the log's redacted header names
  std::string text;
  std::vector<std::size_t> planted;  // where the secret was put
  std::string model;                 // the documented redaction of what the log reads of it
};

Key build_key(rs::fuzz::Input& in) {
  const std::uint8_t shape = in.byte();
  const std::uint16_t case_mask = in.u16();
  const std::uint8_t layout = in.byte();
  Key key;
  std::string prefix = in.text();
  if ((shape & 0x80U) != 0 && !prefix.empty()) {
    // A long key: the prefix repeated up to `key_scan_bytes` less a few bytes, so that the end
    // of what is read may fall anywhere in the sensitive line.
    const std::size_t short_of = in.byte();
    const std::string unit = prefix + std::string(endings[layout % 3]);
    while (prefix.size() + short_of < rs::DivergenceLog::key_scan_bytes) prefix += unit;
    prefix.resize(std::max(prefix.size(), rs::DivergenceLog::key_scan_bytes) - short_of);
  }
  key.text = prefix;
  if (!prefix.empty()) key.text += endings[(layout >> 2U) % 3];
  for (std::size_t i = 0; i < (shape & 3U); ++i) key.text += blanks[(layout + i) % 4];
  std::string name(sensitive[(shape >> 2U) & 3U]);
  key.names = rs::default_redacted_headers();
  if ((layout & 0x40U) != 0) {
    // A name of the log's own list instead, given to it in another letter case.
    std::string custom = in.text();
    std::erase_if(custom, [](char c) {
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      return !alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos;
    });
    name = custom.empty() ? "x-api-key" : custom;
    std::string configured = name;
    for (std::size_t i = 0; i < configured.size(); ++i) {
      const char c = configured[i];
      const bool flip = ((case_mask >> (i % 16)) & 1U) == 0;
      if (flip && c >= 'a' && c <= 'z') configured[i] = static_cast<char>(c - 'a' + 'A');
    }
    key.names = {configured};
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const bool up = ((case_mask >> (i % 16)) & 1U) != 0;
    key.text +=
        up && name[i] >= 'a' && name[i] <= 'z' ? static_cast<char>(name[i] - 'a' + 'A') : name[i];
  }
  if ((shape & 0x10U) != 0) key.text += blanks[layout % 4];
  key.text += ':';
  key.text += without_line_ends(in.text());
  key.planted.push_back(key.text.size());
  key.text += secret;
  key.text += without_line_ends(in.text());
  const std::size_t continuations = (shape >> 5U) & 3U;
  for (std::size_t i = 0; i < continuations; ++i) {
    const std::uint8_t how = in.byte();
    const std::string_view ending = endings[how % 3];
    key.text += ending;
    if ((how & 0x04U) != 0 && ending != "\r") key.text += ending;  // an empty line between
    // After a bare CR the line continues without a blank; otherwise it starts with one.
    if (ending != "\r" || (how & 0x08U) != 0) key.text += blanks[(how >> 4U) % 4];
    key.text += without_line_ends(in.text());
    key.planted.push_back(key.text.size());
    key.text += secret;
  }
  key.text += endings[(layout >> 4U) % 3];
  key.text += in.text();
  return key;
}

rs::Divergence build_divergence(rs::fuzz::Input& in) {
  rs::Divergence d;
  const std::uint8_t parts = in.byte();
  if ((parts & 1U) != 0) {
    d.status = rs::StatusDiff{in.u16(), in.u16(), (parts & 0x10U) != 0, (parts & 0x20U) != 0};
  }
  if ((parts & 2U) != 0) {
    rs::HeaderDiff h;
    const std::uint8_t counts = in.byte();
    for (std::size_t i = 0; i < (counts & 3U); ++i) h.added.push_back(in.text());
    for (std::size_t i = 0; i < ((counts >> 2U) & 3U); ++i) h.removed.push_back(in.text());
    for (std::size_t i = 0; i < ((counts >> 4U) & 3U); ++i) h.changed.push_back(in.text());
    d.headers = std::move(h);
  }
  if ((parts & 4U) != 0) {
    rs::BodyDiff b;
    b.primary_len = in.u16();
    b.shadow_len = in.u16();
    b.prefix_equal_bytes = in.u16();
    b.primary_excerpt = in.text();
    b.shadow_excerpt = in.text();
    b.format = in.text();
    const std::uint8_t fields = in.byte();
    for (std::size_t i = 0; i < (fields & 3U); ++i) {
      rs::FieldDiff f;
      f.pointer = in.text();
      f.change = static_cast<rs::FieldChange>((fields >> (2U + i)) & 3U);
      f.primary = in.text();
      f.shadow = in.text();
      b.fields.push_back(std::move(f));
    }
    b.fields_truncated = (fields & 0x80U) != 0;
    b.fallback = in.text();
    d.body = std::move(b);
  }
  if (!d.status && !d.headers && !d.body) d.body = rs::BodyDiff{};
  return d;
}

// --- Checks ----------------------------------------------------------------------------------

REQUEST_SHADOW_FUZZ_ORACLE bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// One export line: valid JSON, an object, ASCII, no secret. Returns its top-level members.
REQUEST_SHADOW_FUZZ_ORACLE JsonReader check_line(std::string_view line, std::string_view what) {
  require(printable_ascii(line), "an export line is pure printable ASCII", line);
  JsonReader json;
  require(json.read(line), "an export line is valid JSON", line);
  require(!line.empty() && line.front() == '{', "an export line is a JSON object", line);
  require(line.find(secret) == std::string_view::npos,
          "no secret in an export line: " + std::string(what), line);
  for (const auto& s : json.strings) {
    require(s.find(secret) == std::string::npos,
            "no secret in a decoded string of an export line: " + std::string(what), line);
  }
  return json;
}

std::string_view member(const JsonReader& json, std::string_view name, std::string_view line) {
  for (const auto& [n, v] : json.members) {
    if (n == name) return v;
  }
  fail("an export line has each documented member", std::string(name) + " in " + std::string(line));
}

REQUEST_SHADOW_FUZZ_ORACLE void check_lines(const std::string& text, std::size_t expected,
                                            std::string_view what) {
  require(text.empty() || text.back() == '\n', "a writer ends each line with a newline", text);
  std::size_t lines = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    check_line(std::string_view(text).substr(start, end - start), what);
    ++lines;
    start = end + 1;
  }
  require(lines == expected, "a writer writes one line per item", what);
}

void check_entry(const rs::DivergenceEntry& e, const Key& key) {
  constexpr std::size_t cap = rs::DivergenceLog::max_key_bytes;
  require(e.key.size() <= cap, "a stored key holds at most max_key_bytes bytes",
          std::to_string(e.key.size()));
  require(e.key.find(secret) == std::string::npos, "no secret in a stored key", e.key);
  require(e.key_size == key.text.size(), "key_size is the whole key's length");
  const std::size_t scan = rs::DivergenceLog::key_scan_bytes;
  const std::string& model = key.model;
  require(e.key == model.substr(0, cap), "the stored key is the start of the documented redaction",
          e.key + " vs " + model);
  require(e.key_truncated == (model.size() > cap || key.text.size() > scan),
          "key_truncated says whether the key was cut", e.key);

  const std::string line = rs::to_json_line(e);
  const JsonReader json = check_line(line, "to_json_line(entry)");
  std::string decoded;
  require(JsonReader::decode(member(json, "key", line), decoded) && decoded == e.key,
          "an entry's line decodes back to its key", line);
  require(member(json, "key_size", line) == std::to_string(e.key_size),
          "an entry's line has its key_size", line);
  require(member(json, "key_truncated", line) == (e.key_truncated ? "true" : "false"),
          "an entry's line has its key_truncated", line);

  // Every string of the divergence comes back, decoded, from the line.
  std::vector<std::string> sent = {e.signature.hex(), e.signature.text};
  const rs::Divergence& d = e.divergence;
  if (d.headers) {
    for (const auto* list : {&d.headers->added, &d.headers->removed, &d.headers->changed}) {
      sent.insert(sent.end(), list->begin(), list->end());
    }
  }
  if (d.body) {
    sent.push_back(d.body->primary_excerpt);
    sent.push_back(d.body->shadow_excerpt);
    if (!d.body->format.empty()) sent.push_back(d.body->format);
    if (!d.body->fallback.empty()) sent.push_back(d.body->fallback);
    for (const auto& f : d.body->fields) {
      sent.insert(sent.end(), {f.pointer, f.primary, f.shadow});
    }
  }
  std::vector<std::string> decoded_strings = json.strings;
  std::sort(decoded_strings.begin(), decoded_strings.end());
  for (const auto& text : sent) {
    require(std::binary_search(decoded_strings.begin(), decoded_strings.end(), text),
            "each string of the divergence decodes back from the entry's line", text);
  }
}

void check_share(std::string_view share, std::uint64_t total, std::string_view line) {
  const bool form = share.size() == 5 && share[1] == '.' &&
                    std::all_of(share.begin(), share.end(),
                                [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
  require(form, "share has three decimals", line);
  require(share <= "1.000", "share lies in [0, 1]", line);
  if (total == 0) require(share == "0.000", "share is 0 when total is 0", line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  if (raw.find(secret) != std::string_view::npos) return -1;  // the secret only where planted

  rs::fuzz::Input in(data, size);
  const std::uint8_t log_shape = in.byte();
  const std::size_t capacity = log_shape & 3U;
  const std::size_t pushes = 1 + ((log_shape >> 2U) & 3U);
  const std::uint64_t total_bits = in.u64();
  const std::uint64_t total = total_bits >> (in.byte() % 64U);
  Key key = build_key(in);
  std::vector<std::size_t> found;
  for (std::size_t at = key.text.find(secret); at != std::string::npos;
       at = key.text.find(secret, at + 1)) {
    found.push_back(at);
  }
  if (found != key.planted) return -1;  // the bytes around it spelled the secret again
  key.model = model_redaction(
      std::string_view(key.text).substr(0, rs::DivergenceLog::key_scan_bytes), key.names);

  rs::DivergenceLog log(capacity, key.names);
  rs::Divergence divergence = build_divergence(in);
  for (std::size_t i = 0; i < pushes; ++i) {
    rs::Divergence d = divergence;
    if (i % 2 == 1) d.status = rs::StatusDiff{static_cast<std::uint16_t>(i), 0, true, false};
    log.push(key.text, std::move(d));
  }
  const std::vector<rs::DivergenceEntry> entries = log.snapshot();
  require(entries.size() <= capacity && entries.size() == std::min(capacity, pushes),
          "the log keeps at most capacity() entries, the most recent");
  require(log.total_pushed() == pushes, "total_pushed() counts every push");

  for (const auto& e : entries) check_entry(e, key);
  std::ostringstream lines;
  rs::write_json_lines(lines, entries);
  check_lines(lines.str(), entries.size(), "write_json_lines");

  rs::ShadowStats stats;
  stats.signatures = log.signatures();
  stats.diverged = total;
  for (const auto& kind : stats.signatures) {
    for (const auto& e : kind.exemplars) check_entry(e, key);
    const std::string line = rs::to_json_line(kind, total);
    const JsonReader json = check_line(line, "to_json_line(signature count)");
    check_share(member(json, "share", line), total, line);
  }
  const std::size_t noise_count = in.byte() % 4U;
  for (std::size_t i = 0; i < noise_count; ++i) {
    rs::NoiseCount noise;
    noise.kind = static_cast<rs::NoiseKind>(i % 3);
    noise.name = in.text();
    noise.count = in.u64();
    noise.auto_ignored = (i & 1U) != 0;
    check_line(rs::to_json_line(noise), "to_json_line(noise count)");
    stats.noise.push_back(std::move(noise));
  }
  std::ostringstream summary;
  rs::write_summary_lines(summary, stats);
  // The results line, then one per kind and one per noisy place.
  check_lines(summary.str(), 1 + stats.signatures.size() + stats.noise.size(),
              "write_summary_lines");
  return 0;
}
