// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_JSON_LINES_HPP
#define REQUEST_SHADOW_JSON_LINES_HPP

#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <ostream>
#include <request_shadow/detail/flavour.hpp>
#include <request_shadow/divergence.hpp>
#include <request_shadow/log.hpp>
#include <request_shadow/stats.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

namespace detail {

// A JSON string of arbitrary bytes, pure ASCII: every byte outside printable ASCII (and `"`, `\`)
// is written as \u00XX, so the original bytes are the code points of the decoded string.
inline void append_json_string(std::string& out, std::string_view bytes) {
  constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      out += "\\u00";
      out += hex[byte >> 4U];
      out += hex[byte & 0x0fU];
    } else {
      out += c;
    }
  }
  out += '"';
}

inline void append_json_or_null(std::string& out, std::string_view text) {
  if (text.empty()) {
    out += "null";
  } else {
    append_json_string(out, text);
  }
}

inline void append_json_names(std::string& out, const std::vector<std::string>& names) {
  out += '[';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i != 0) out += ',';
    append_json_string(out, names[i]);
  }
  out += ']';
}

// UTC, ISO 8601, milliseconds: 2026-11-26T16:14:00.123Z
inline void append_timestamp(std::string& out, std::chrono::system_clock::time_point at) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  out.append(buf, n);
  const auto millis = static_cast<int>(ms.count() % 1000);
  out += '.';
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + millis / 10 % 10);
  out += static_cast<char>('0' + millis % 10);
  out += 'Z';
}

}  // namespace detail

/// One log entry as one line of JSON, without the newline.
/**
 * The shape, with `null` for an aspect that did not differ:
 * @code{.json}
 * {"ts":"2026-11-26T16:14:00.123Z","key":"GET /users/42","key_size":13,"key_truncated":false,
 *  "divergence":{"status":{"primary":200,"shadow":500,"primary_ok":true,"shadow_ok":false},
 *  "headers":{"added":["x-v2"],"removed":[],"changed":["content-type"]},
 *  "body":{"primary_len":11,"shadow_len":11,"prefix_equal_bytes":6,
 *  "primary_excerpt":"hello world","shadow_excerpt":"hello earth","format":null,"fields":[],
 *  "fields_truncated":false,"fallback":null}},
 *  "signature":"8c0f7a0e2b1c4d3e","signature_text":"status 200->500; headers +x-v2 ..."}
 * @endcode
 * A body read by a comparator has its `format` (`"json"`) and its `fields`, each
 * `{"pointer":"/tier","change":"added","primary":"","shadow":"\"gold\""}`; `fallback` says why a
 * comparator could not read it. The output is pure ASCII, whatever the bytes (valid UTF-8 or
 * not): bytes outside printable ASCII are written as `\u00XX`. The key is the redacted excerpt
 * the log keeps (`DivergenceLog::max_key_bytes` at most), `key_size` the length of the whole key
 * before redaction, and `key_truncated` whether the excerpt stops before the key's end
 * (`DivergenceEntry::key_truncated`): redaction alone changes the length without cutting.
 */
[[nodiscard]] inline std::string to_json_line(const DivergenceEntry& entry) {
  std::string out;
  out.reserve(192 + entry.key.size());
  out += "{\"ts\":\"";
  detail::append_timestamp(out, entry.at);
  out += "\",\"key\":";
  detail::append_json_string(out, entry.key);
  out += ",\"key_size\":" + std::to_string(entry.key_size);
  out += ",\"key_truncated\":";
  out += entry.key_truncated ? "true" : "false";
  const Divergence& d = entry.divergence;
  out += ",\"divergence\":{\"status\":";
  if (d.status) {
    out += "{\"primary\":" + std::to_string(d.status->primary) +
           ",\"shadow\":" + std::to_string(d.status->shadow) +
           ",\"primary_ok\":" + (d.status->primary_ok ? "true" : "false") +
           ",\"shadow_ok\":" + (d.status->shadow_ok ? "true" : "false") + "}";
  } else {
    out += "null";
  }
  out += ",\"headers\":";
  if (d.headers) {
    out += "{\"added\":";
    detail::append_json_names(out, d.headers->added);
    out += ",\"removed\":";
    detail::append_json_names(out, d.headers->removed);
    out += ",\"changed\":";
    detail::append_json_names(out, d.headers->changed);
    out += '}';
  } else {
    out += "null";
  }
  out += ",\"body\":";
  if (d.body) {
    out += "{\"primary_len\":" + std::to_string(d.body->primary_len) +
           ",\"shadow_len\":" + std::to_string(d.body->shadow_len) +
           ",\"prefix_equal_bytes\":" + std::to_string(d.body->prefix_equal_bytes) +
           ",\"primary_excerpt\":";
    detail::append_json_string(out, d.body->primary_excerpt);
    out += ",\"shadow_excerpt\":";
    detail::append_json_string(out, d.body->shadow_excerpt);
    out += ",\"format\":";
    detail::append_json_or_null(out, d.body->format);
    out += ",\"fields\":[";
    for (std::size_t i = 0; i < d.body->fields.size(); ++i) {
      const FieldDiff& f = d.body->fields[i];
      if (i != 0) out += ',';
      out += "{\"pointer\":";
      detail::append_json_string(out, f.pointer);
      out += ",\"change\":";
      detail::append_json_string(out, to_string(f.change));
      out += ",\"primary\":";
      detail::append_json_string(out, f.primary);
      out += ",\"shadow\":";
      detail::append_json_string(out, f.shadow);
      out += '}';
    }
    out += "],\"fields_truncated\":";
    out += d.body->fields_truncated ? "true" : "false";
    out += ",\"fallback\":";
    detail::append_json_or_null(out, d.body->fallback);
    out += '}';
  } else {
    out += "null";
  }
  out += "},\"signature\":";
  detail::append_json_string(out, entry.signature.hex());
  out += ",\"signature_text\":";
  detail::append_json_string(out, entry.signature.text);
  out += '}';
  return out;
}

/// One kind of divergence as one line of JSON, without the newline.
/**
 * @code{.json}
 * {"signature":"8c0f7a0e2b1c4d3e","text":"body json /tier added","count":970,"share":0.97,
 *  "last_seen":"2026-11-26T16:14:00.123Z","exemplar_keys":["GET /users/42"]}
 * @endcode
 * `share` is `count` over `total` (the divergences counted, e.g. `ShadowStats::diverged`) with
 * three decimals, 0 when `total` is 0, and clamped to 1: the counts are the log's, so with a log
 * shared by several shadowers `count` can exceed one shadower's `total`.
 */
[[nodiscard]] inline std::string to_json_line(const SignatureCount& kind, std::uint64_t total) {
  std::string out = "{\"signature\":";
  detail::append_json_string(out, kind.signature.hex());
  out += ",\"text\":";
  detail::append_json_string(out, kind.signature.text);
  out += ",\"count\":" + std::to_string(kind.count);
  // Clamped before it is scaled: a share far above 1 would overflow the conversion.
  double share = 0.0;
  if (total != 0) {
    share =
        kind.count >= total ? 1.0 : static_cast<double>(kind.count) / static_cast<double>(total);
  }
  const auto per_mille = static_cast<unsigned>(share * 1000.0 + 0.5);
  out += ",\"share\":" + std::to_string(per_mille / 1000) + "." +
         std::to_string(per_mille % 1000 / 100) + std::to_string(per_mille % 100 / 10) +
         std::to_string(per_mille % 10);
  out += ",\"last_seen\":\"";
  detail::append_timestamp(out, kind.last_seen);
  out += "\",\"exemplar_keys\":[";
  for (std::size_t i = 0; i < kind.exemplars.size(); ++i) {
    if (i != 0) out += ',';
    detail::append_json_string(out, kind.exemplars[i].key);
  }
  out += "]}";
  return out;
}

/// One noisy place as one line of JSON, without the newline.
/**
 * `count` is over every call; the window fields are those of the judgement by rates
 * (`NoiseCount`), the rates written with at most six decimals.
 *
 * @code{.json}
 * {"noise":"pointer","name":"/request_id","count":1200,"auto_ignored":false,
 *  "window_requests":800,"shadow_differed":800,"secondary_differed":800,"shadow_rate":1,
 *  "secondary_rate":1,"judged_noise":true}
 * @endcode
 * (one line)
 */
[[nodiscard]] inline std::string to_json_line(const NoiseCount& noise) {
  std::string out = "{\"noise\":";
  detail::append_json_string(out, to_string(noise.kind));
  out += ",\"name\":";
  detail::append_json_string(out, noise.name);
  out += ",\"count\":" + std::to_string(noise.count);
  out += ",\"auto_ignored\":";
  out += noise.auto_ignored ? "true" : "false";
  out += ",\"window_requests\":" + std::to_string(noise.window_requests);
  out += ",\"shadow_differed\":" + std::to_string(noise.shadow_differed);
  out += ",\"secondary_differed\":" + std::to_string(noise.secondary_differed);
  out += ",\"shadow_rate\":" + detail::ratio_text(noise.shadow_differed, noise.window_requests);
  out +=
      ",\"secondary_rate\":" + detail::ratio_text(noise.secondary_differed, noise.window_requests);
  out += ",\"judged_noise\":";
  out += noise.judged_noise ? "true" : "false";
  out += '}';
  return out;
}

/// Write the entries as JSON lines (one object per line, each ending in a newline).
inline void write_json_lines(std::ostream& os, const std::vector<DivergenceEntry>& entries) {
  for (const auto& entry : entries) os << to_json_line(entry) << '\n';
}

/// The fates of a stats snapshot's calls as one JSON object:
/// `{"results":{"calls":..,"sampled":..,"in_progress":..,"ok":..,"matched":..,"diverged":..,
/// "timed_out":..,"expired_in_queue":..,"failed":..,"abandoned":..,"shed":..,"stopped":..,
/// "rate_limited":..,"skipped":..,"filtered":..,"rule_errors":..}}`: `sampled` is the sum of
/// `in_progress` and the fates from `ok` to `rate_limited`, and `calls` that of `sampled`,
/// `skipped` (by the sampler) and `filtered`.
[[nodiscard]] inline std::string results_json_line(const ShadowStats& s) {
  std::string out = "{\"results\":{";
  const std::pair<const char*, std::uint64_t> fields[] = {{"calls", s.calls},
                                                          {"sampled", s.sampled},
                                                          {"in_progress", s.sampled_in_progress},
                                                          {"ok", s.shadow_ok},
                                                          {"matched", s.matched},
                                                          {"diverged", s.diverged},
                                                          {"timed_out", s.shadow_timed_out},
                                                          {"expired_in_queue", s.expired_in_queue},
                                                          {"failed", s.shadow_failed},
                                                          {"abandoned", s.shadow_abandoned},
                                                          {"shed", s.shed},
                                                          {"stopped", s.stopped},
                                                          {"rate_limited", s.rate_limited},
                                                          {"skipped", s.skipped_by_sampler},
                                                          {"filtered", s.filtered},
                                                          {"rule_errors", s.rule_errors}};
  for (const auto& [name, value] : fields) {
    if (out.back() != '{') out += ',';
    out += '"';
    out += name;
    out += "\":";
    out += std::to_string(value);
  }
  out += "}}";
  return out;
}

/// Write a stats snapshot's summary as JSON lines: the fates of its calls
/// (`results_json_line`), then one line per kind of divergence (shares of `stats.diverged`),
/// then one per noisy place.
inline void write_summary_lines(std::ostream& os, const ShadowStats& stats) {
  os << results_json_line(stats) << '\n';
  for (const auto& kind : stats.signatures) os << to_json_line(kind, stats.diverged) << '\n';
  for (const auto& noise : stats.noise) os << to_json_line(noise) << '\n';
}

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_JSON_LINES_HPP
