// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_PROMETHEUS_HPP
#define REQUEST_SHADOW_PROMETHEUS_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <request_shadow/detail/flavour.hpp>
#include <request_shadow/stats.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

namespace detail {

// Copy `text` as well-formed UTF-8: each maximal subpart of an ill-formed sequence (a stray or
// invalid byte, an overlong form, a surrogate, a code point past U+10FFFF, a sequence cut short)
// becomes one U+FFFD, as the Unicode standard recommends and the WHATWG decoder does.
inline std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      out += text[i++];
      continue;
    }
    // The continuation bytes a lead byte needs, and the range of the first one (Unicode 3-7).
    std::size_t needed = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      needed = 1;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      needed = 2;
      if (lead == 0xe0) low = 0xa0;   // no overlong form
      if (lead == 0xed) high = 0x9f;  // no surrogate
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      needed = 3;
      if (lead == 0xf0) low = 0x90;   // no overlong form
      if (lead == 0xf4) high = 0x8f;  // nothing past U+10FFFF
    }
    std::size_t length = 1;
    while (length <= needed && i + length < text.size()) {
      const auto next = static_cast<unsigned char>(text[i + length]);
      if (next < low || next > high) break;
      low = 0x80;
      high = 0xbf;
      ++length;
    }
    if (needed != 0 && length == needed + 1) {
      out.append(text.substr(i, length));
    } else {
      out += "\xef\xbf\xbd";
    }
    i += length;
  }
  return out;
}

// A label value as the text format writes it: valid UTF-8, with `\`, `"` and LF escaped.
inline std::string prometheus_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : valid_utf8(value)) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace detail

/// The counters in Prometheus text exposition format (version 0.0.4), labelled by experiment.
/**
 * Metric families, all prefixed `request_shadow_`:
 * - `calls_total`: calls started, each counted once;
 * - `skipped_total`: calls the sampler left out;
 * - `shadow_results_total{result="ok|timed_out|expired_in_queue|failed|abandoned|shed|stopped"}`:
 *   what became of the sampled calls' shadow legs (`expired_in_queue`: the deadline passed before
 *   a worker took the leg, so the candidate never saw it);
 * - `auto_stops_total`: how many times `auto_stop` stopped shadowing;
 * - `comparisons_total{result="matched|diverged"}`;
 * - `divergences_total{aspect="status|headers|body"}` (a divergence may count in several);
 * - `primary_failures_total`, `cancelled_total`;
 * - `shadows_in_flight`, `sampled_in_progress`, `auto_stopped` (0 or 1) and `sample_rate_ratio`
 *   (0..1), all gauges;
 * - `leg_duration_seconds{leg="primary|shadow"}`: a histogram of how long each leg of sampled
 *   calls took (filled with `ShadowConfig::latency_histograms(true)`);
 * - `noise_probes_total` and `noise_cancelled_total` (`ShadowConfig::noise_cancellation`);
 * - per noisy place tracked (`NoiseCount`, at most `NoiseCancellation::max_tracked` places),
 *   labelled `kind="header|pointer|body"` and `place="<name>"`, four gauges over the recent
 *   window: `noise_place_window_requests`, `noise_place_shadow_rate` and
 *   `noise_place_secondary_rate` (0..1), and `noise_place_judged_noise` (0 or 1);
 * - `signature_divergences_total{signature="<16 hex digits>"}`: divergences per kind, at most
 *   `DivergenceLog::max_signatures` series (the text of each kind is in the JSON-lines summary,
 *   `write_summary_lines`), and `divergence_kinds`, a gauge of how many kinds are tracked (at most
 *   `DivergenceLog::max_signatures`; others are only in `untracked_signatures`). The counts are
 *   the log's: a log shared by several shadowers counts them together, and installing a new log
 *   (`with_log`) starts them again, which Prometheus reads as a counter reset.
 *
 * Every sample carries `experiment="<experiment>"`, so several shadowers can be exposed side by
 * side (concatenate their texts only if the families differ; otherwise expose one text per
 * scrape target).
 *
 * The text is always valid UTF-8, as the format requires. The experiment name and the noisy
 * places' names (header names, JSON Pointers, which come from the responses) are its only
 * variable text (the other label values are fixed words, numbers and hex digits): `\`, `"` and
 * LF in them are escaped, and a byte sequence in it that is not well-formed UTF-8 is replaced
 * with U+FFFD, one per maximal ill-formed subpart (a stray byte, an overlong form, a surrogate, a
 * code point past U+10FFFF, a sequence cut short), since the format has no escape for a raw byte.
 */
[[nodiscard]] inline std::string to_prometheus(const ShadowStats& s, std::string_view experiment) {
  const std::string label = "experiment=\"" + detail::prometheus_label_value(experiment) + "\"";
  std::string out;
  auto family = [&out](std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP request_shadow_";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE request_shadow_";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  };
  // One sample line: request_shadow_<name>{experiment="..."[,<extra>]} <value>
  auto line = [&out, &label](std::string_view name, std::string_view extra,
                             std::string_view value) {
    out += "request_shadow_";
    out += name;
    out += '{';
    out += label;
    if (!extra.empty()) {
      out += ',';
      out += extra;
    }
    out += "} ";
    out += value;
    out += '\n';
  };
  auto sample = [&line](std::string_view name, std::string_view extra, auto value) {
    line(name, extra, std::to_string(value));
  };
  family("calls_total", "counter", "Calls started through the shadower.");
  sample("calls_total", "", s.calls);
  family("skipped_total", "counter", "Calls the sampler left out.");
  sample("skipped_total", "", s.skipped_by_sampler);
  family("filtered_total", "counter", "Calls whose request shadow_if refused, before sampling.");
  sample("filtered_total", "", s.filtered);
  family("shadow_results_total", "counter", "What became of the shadow legs of sampled calls.");
  sample("shadow_results_total", "result=\"ok\"", s.shadow_ok);
  sample("shadow_results_total", "result=\"timed_out\"", s.shadow_timed_out);
  sample("shadow_results_total", "result=\"expired_in_queue\"", s.expired_in_queue);
  sample("shadow_results_total", "result=\"failed\"", s.shadow_failed);
  sample("shadow_results_total", "result=\"abandoned\"", s.shadow_abandoned);
  sample("shadow_results_total", "result=\"shed\"", s.shed);
  sample("shadow_results_total", "result=\"stopped\"", s.stopped);
  sample("shadow_results_total", "result=\"rate_limited\"", s.rate_limited);
  family("auto_stops_total", "counter", "Times shadowing stopped itself (auto_stop).");
  sample("auto_stops_total", "", s.auto_stops);
  family("comparisons_total", "counter", "Compared calls, by whether the responses matched.");
  sample("comparisons_total", "result=\"matched\"", s.matched);
  sample("comparisons_total", "result=\"diverged\"", s.diverged);
  family("divergences_total", "counter", "Divergences by the aspect that differed.");
  sample("divergences_total", "aspect=\"status\"", s.diverged_status);
  sample("divergences_total", "aspect=\"headers\"", s.diverged_headers);
  sample("divergences_total", "aspect=\"body\"", s.diverged_body);
  family("primary_failures_total", "counter", "Calls whose primary threw.");
  sample("primary_failures_total", "", s.primary_failed);
  family("cancelled_total", "counter", "Calls cancelled by their caller.");
  sample("cancelled_total", "", s.cancelled);
  family("rule_errors_total", "counter",
         "Calls on which shadow_if or shadow_request threw (the shadow was not called).");
  sample("rule_errors_total", "", s.rule_errors);
  family("shadows_in_flight", "gauge", "Shadow legs running now, abandoned ones included.");
  sample("shadows_in_flight", "", s.in_flight_shadows);
  family("sampled_in_progress", "gauge", "Sampled calls started whose fate is not decided yet.");
  sample("sampled_in_progress", "", s.sampled_in_progress);
  family("auto_stopped", "gauge", "Whether shadowing is stopped by auto_stop now (0 or 1).");
  sample("auto_stopped", "", s.auto_stopped ? 1 : 0);
  family("sample_rate_ratio", "gauge", "Share of keys sampled for new calls (0 to 1).");
  const std::uint32_t ppm = s.sample_rate_ppm;
  line("sample_rate_ratio", "",
       std::to_string(ppm / 1'000'000U) + "." +
           std::to_string(1'000'000U + ppm % 1'000'000U).substr(1));
  family("leg_duration_seconds", "histogram", "How long each leg of sampled calls took.");
  auto histogram = [&line](std::string_view leg, const LatencyHistogram& h) {
    const std::string leg_label = "leg=\"" + std::string(leg) + "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < LatencyHistogram::bucket_count; ++i) {
      cumulative += h.buckets[i];
      const std::string le =
          i + 1 < LatencyHistogram::bucket_count
              ? std::to_string(
                    std::chrono::duration<double>(LatencyHistogram::upper_bound(i)).count())
              : std::string("+Inf");
      line("leg_duration_seconds_bucket", leg_label + ",le=\"" + le + "\"",
           std::to_string(cumulative));
    }
    char sum[32];
    std::snprintf(sum, sizeof sum, "%.9f", std::chrono::duration<double>(h.sum).count());
    line("leg_duration_seconds_sum", leg_label, sum);
    line("leg_duration_seconds_count", leg_label, std::to_string(h.count));
  };
  histogram("primary", s.primary_latency);
  histogram("shadow", s.shadow_latency);
  family("noise_probes_total", "counter",
         "Compared calls whose secondary answered as a usable reference.");
  sample("noise_probes_total", "", s.noise_probes);
  family("noise_cancelled_total", "counter", "Compared calls with differences taken out as noise.");
  sample("noise_cancelled_total", "", s.noise_cancelled);
  std::vector<std::string> places;
  places.reserve(s.noise.size());
  for (const auto& place : s.noise) {
    places.push_back("kind=\"" + std::string(to_string(place.kind)) + "\",place=\"" +
                     detail::prometheus_label_value(place.name) + "\"");
  }
  family("noise_place_window_requests", "gauge",
         "Probed calls in the recent window of each tracked noisy place.");
  for (std::size_t i = 0; i < places.size(); ++i) {
    sample("noise_place_window_requests", places[i], s.noise[i].window_requests);
  }
  family("noise_place_shadow_rate", "gauge",
         "Share of the window's calls on which the shadow differed from the primary there.");
  for (std::size_t i = 0; i < places.size(); ++i) {
    line("noise_place_shadow_rate", places[i],
         detail::ratio_text(s.noise[i].shadow_differed, s.noise[i].window_requests));
  }
  family("noise_place_secondary_rate", "gauge",
         "Share of the window's calls on which the secondary differed from the primary there.");
  for (std::size_t i = 0; i < places.size(); ++i) {
    line("noise_place_secondary_rate", places[i],
         detail::ratio_text(s.noise[i].secondary_differed, s.noise[i].window_requests));
  }
  family("noise_place_judged_noise", "gauge",
         "Whether the rates judge the place noise now, its changes of value cancelled (0 or 1).");
  for (std::size_t i = 0; i < places.size(); ++i) {
    sample("noise_place_judged_noise", places[i], s.noise[i].judged_noise ? 1 : 0);
  }
  family("divergence_kinds", "gauge", "Kinds of divergence (signatures) tracked.");
  sample("divergence_kinds", "", s.signatures.size());
  family("signature_divergences_total", "counter", "Divergences per kind (signature).");
  for (const auto& kind : s.signatures) {
    sample("signature_divergences_total", "signature=\"" + kind.signature.hex() + "\"", kind.count);
  }
  return out;
}

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_PROMETHEUS_HPP
