// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
//
// Fuzzes `to_prometheus` (prometheus.hpp) with any experiment name and any counter values.
//
// Input: `Input::text()` the experiment name (any bytes, at most 96 of them), then the counters (8
// bytes each), the sample rate, the buckets of both latency histograms (a byte each, their counts
// the sums), and up to 4 signature counts (id and count, 8 bytes each; repeated ids dropped).
//
// Invariants (each violation prints what broke and aborts), by the text exposition format 0.0.4:
// 1. The text is valid UTF-8 and ends with a newline; every line is `# HELP <name> <text>` (the
//    text escaping only `\\` and `\n`), `# TYPE <name> <counter|gauge|histogram>`, or a sample
//    `<name>{<label>="<value>",...} <number>`.
// 2. Metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*` and label names `[a-zA-Z_][a-zA-Z0-9_]*`;
//    a label value escapes exactly backslash, double quote and newline (`\\`, `\"`, `\n`), and
//    no sample repeats a label name.
// 3. Each family has one TYPE line, before its samples, and its samples form one group: a
//    counter or gauge sample is named as its family, a histogram's `_bucket`, `_sum` or
//    `_count` of it. No two samples are the same series (name and labels).
// 4. Every sample is labelled `experiment`, whose value decodes back to the experiment name
//    when that is valid UTF-8 (and is valid UTF-8 otherwise, by 1).
// 5. Each histogram's buckets have increasing `le` bounds ending in `+Inf`, non-decreasing
//    counts, and the `+Inf` bucket equals `_count`; `signature` labels are 16 hex digits; the
//    sample rate ratio lies in [0, 1].

#include <request_shadow/prometheus.hpp>
// The header under test comes first: it must compile on its own.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <request_shadow/stats.hpp>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"

namespace {

namespace rs = request_shadow;
using rs::fuzz::fail;
using rs::fuzz::require;

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
REQUEST_SHADOW_FUZZ_ORACLE bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1fU;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0fU;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07U;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0U) != 0x80) return false;
      cp = cp << 6U | (cc & 0x3fU);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

REQUEST_SHADOW_FUZZ_ORACLE bool name_char(char c, bool first, bool colon) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return letter || (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

REQUEST_SHADOW_FUZZ_ORACLE bool metric_name(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!name_char(s[i], i == 0, true)) return false;
  }
  return true;
}

REQUEST_SHADOW_FUZZ_ORACLE bool label_name(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!name_char(s[i], i == 0, false)) return false;
  }
  return true;
}

// A sample value as Go's strconv.ParseFloat reads the ones a client writes.
REQUEST_SHADOW_FUZZ_ORACLE bool float_value(std::string_view v, double& out) {
  if (v == "+Inf" || v == "-Inf" || v == "NaN") {
    out = v == "-Inf" ? -1e308 : 1e308;
    return v != "NaN";
  }
  std::size_t i = 0;
  if (i < v.size() && (v[i] == '-' || v[i] == '+')) ++i;
  const std::size_t digits = i;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
  if (i == digits) return false;
  if (i < v.size() && v[i] == '.') {
    ++i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
  }
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '-' || v[i] == '+')) ++i;
    const std::size_t exp = i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    if (i == exp) return false;
  }
  if (i != v.size()) return false;
  out = std::strtod(std::string(v).c_str(), nullptr);
  return true;
}

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // decoded values
  std::string value;

  [[nodiscard]] const std::string* label(std::string_view n) const {
    for (const auto& [k, v] : labels) {
      if (k == n) return &v;
    }
    return nullptr;
  }
};

REQUEST_SHADOW_FUZZ_ORACLE Sample parse_sample(std::string_view line) {
  Sample s;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = line.substr(0, i);
  require(metric_name(s.name), "a metric name matches [a-zA-Z_:][a-zA-Z0-9_:]*", line);
  if (i < line.size() && line[i] == '{') {
    ++i;
    std::set<std::string> seen;
    while (i < line.size() && line[i] != '}') {
      const std::size_t eq = line.find('=', i);
      require(eq != std::string_view::npos, "a label is name=\"value\"", line);
      std::string name(line.substr(i, eq - i));
      require(label_name(name), "a label name matches [a-zA-Z_][a-zA-Z0-9_]*", line);
      require(seen.insert(name).second, "no sample repeats a label name", line);
      i = eq + 1;
      require(i < line.size() && line[i] == '"', "a label value is quoted", line);
      ++i;
      std::string value;
      for (;;) {
        require(i < line.size(), "a label value ends with a quote", line);
        const char c = line[i++];
        if (c == '"') break;
        if (c != '\\') {
          value += c;
          continue;
        }
        require(i < line.size(), "an escape in a label value is complete", line);
        const char e = line[i++];
        require(e == '\\' || e == '"' || e == 'n',
                "a label value escapes only backslash, quote and newline", line);
        value += e == 'n' ? '\n' : e;
      }
      s.labels.emplace_back(std::move(name), std::move(value));
      if (i < line.size() && line[i] == ',') ++i;
    }
    require(i < line.size(), "a label set ends with '}'", line);
    ++i;
  }
  require(i < line.size() && line[i] == ' ', "a sample's value follows one space", line);
  s.value = line.substr(i + 1);
  double v = 0;
  require(float_value(s.value, v), "a sample's value is a number", line);
  return s;
}

struct Family {
  std::string type;
  bool done = false;  // its group of samples ended
};

REQUEST_SHADOW_FUZZ_ORACLE void check(const std::string& text, std::string_view experiment) {
  require(!text.empty() && text.back() == '\n', "the text ends with a newline");

  std::map<std::string, Family> families;
  std::string current;  // the family whose samples come now
  std::unordered_set<std::string> series;
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // by leg: le, count
  std::map<std::string, double> counts;                                   // by leg
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string_view line = std::string_view(text).substr(start, end - start);
    start = end + 1;
    require(valid_utf8(line), "every line is valid UTF-8", line);
    if (line.substr(0, 7) == "# HELP ") {
      const std::string_view rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      require(metric_name(rest.substr(0, space)), "a HELP line names a metric", line);
      const std::string_view help =
          space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
      for (std::size_t i = 0; i < help.size(); ++i) {
        if (help[i] != '\\') continue;
        require(i + 1 < help.size() && (help[i + 1] == '\\' || help[i + 1] == 'n'),
                "HELP text escapes only backslash and newline", line);
        ++i;
      }
      continue;
    }
    if (line.substr(0, 7) == "# TYPE ") {
      const std::string_view rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      require(space != std::string_view::npos, "a TYPE line names a metric and a type", line);
      const std::string name(rest.substr(0, space));
      const std::string type(rest.substr(space + 1));
      require(metric_name(name), "a TYPE line names a metric", line);
      require(type == "counter" || type == "gauge" || type == "histogram",
              "a TYPE line's type is counter, gauge or histogram", line);
      require(families.count(name) == 0, "each family has one TYPE line", line);
      if (!current.empty()) families[current].done = true;
      families[name] = Family{type, false};
      current = name;
      continue;
    }
    require(line.empty() || line.front() != '#', "a comment is a HELP or TYPE line", line);
    require(!line.empty(), "no empty line", text);

    const Sample s = parse_sample(line);
    std::string family = s.name;
    const auto it = families.find(current);
    require(it != families.end(), "a sample follows its family's TYPE line", line);
    if (it->second.type == "histogram") {
      for (const std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if (s.name == current + std::string(suffix)) family = current;
      }
    }
    require(family == current, "a family's samples form one group after its TYPE line", line);

    std::string id = s.name;
    for (const auto& [k, v] : s.labels) id += "\x01" + k + "\x02" + v;
    require(series.insert(id).second, "no two samples are the same series", line);

    const std::string* label = s.label("experiment");
    require(label != nullptr, "every sample is labelled experiment", line);
    if (valid_utf8(experiment)) {
      require(*label == experiment, "the experiment label decodes back to the name", line);
    }
    if (const std::string* sig = s.label("signature")) {
      require(sig->size() == 16 && sig->find_first_not_of("0123456789abcdef") == std::string::npos,
              "a signature label is 16 hex digits", line);
    }
    double v = 0;
    float_value(s.value, v);
    if (s.name == "request_shadow_sample_rate_ratio") {
      require(v >= 0 && v <= 1, "the sample rate ratio lies in [0, 1]", line);
    }
    const std::string* leg = s.label("leg");
    if (s.name == "request_shadow_leg_duration_seconds_bucket") {
      require(leg != nullptr && s.label("le") != nullptr, "a bucket has a leg and an le", line);
      double le = 0;
      require(float_value(*s.label("le"), le), "le is a number", line);
      auto& list = buckets[*leg];
      if (!list.empty()) {
        require(list.back().first < le, "bucket bounds increase", line);
        require(list.back().second <= v, "bucket counts do not decrease", line);
      }
      list.emplace_back(le, v);
      if (*s.label("le") == "+Inf") counts[*leg + "+Inf"] = v;
    } else if (s.name == "request_shadow_leg_duration_seconds_count") {
      require(leg != nullptr, "a histogram count has a leg", line);
      counts[*leg] = v;
    }
  }
  require(valid_utf8(text), "the text is valid UTF-8");
  for (const auto& [leg, list] : buckets) {
    require(!list.empty() && list.back().first >= 1e308, "a histogram ends with its +Inf bucket",
            leg);
    require(counts.count(leg + "+Inf") != 0 && counts.count(leg) != 0 &&
                counts[leg + "+Inf"] == counts[leg],
            "the +Inf bucket equals the histogram's count", leg);
  }
}

rs::LatencyHistogram histogram(rs::fuzz::Input& in) {
  rs::LatencyHistogram h;
  for (auto& b : h.buckets) {
    b = in.byte();
    h.count += b;
  }
  h.sum = std::chrono::nanoseconds(static_cast<std::int64_t>(in.u64() >> 1U));
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rs::fuzz::Input in(data, size);
  // Long names cost time, not coverage: every sample line repeats the name.
  const std::string experiment = in.text().substr(0, 96);
  rs::ShadowStats s;
  for (std::uint64_t* counter : {&s.calls,
                                 &s.sampled,
                                 &s.skipped_by_sampler,
                                 &s.primary_failed,
                                 &s.cancelled,
                                 &s.shadow_ok,
                                 &s.shadow_timed_out,
                                 &s.shadow_failed,
                                 &s.shadow_abandoned,
                                 &s.shed,
                                 &s.stopped,
                                 &s.auto_stops,
                                 &s.matched,
                                 &s.diverged,
                                 &s.diverged_status,
                                 &s.diverged_headers,
                                 &s.diverged_body,
                                 &s.in_flight_shadows,
                                 &s.noise_probes,
                                 &s.noise_cancelled,
                                 &s.untracked_signatures}) {
    *counter = in.u64();
  }
  s.auto_stopped = (in.byte() & 1U) != 0;
  s.sample_rate_ppm = static_cast<std::uint32_t>(in.u64() % 1'000'001U);
  s.primary_latency = histogram(in);
  s.shadow_latency = histogram(in);
  const std::size_t kinds = in.byte() % 5U;
  std::set<std::uint64_t> ids;
  for (std::size_t i = 0; i < kinds; ++i) {
    rs::SignatureCount kind;
    kind.signature.id = in.u64();
    kind.signature.text = in.text();
    kind.count = in.u64();
    if (ids.insert(kind.signature.id).second) s.signatures.push_back(std::move(kind));
  }
  check(rs::to_prometheus(s, experiment), experiment);
  return 0;
}
