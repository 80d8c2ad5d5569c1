// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_STATS_HPP
#define REQUEST_SHADOW_STATS_HPP

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <request_shadow/detail/flavour.hpp>
#include <request_shadow/log.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

/// A latency distribution: counts per bucket, bucket bounds doubling from 1 µs to about 67 s.
/**
 * Bucket `i` counts durations up to `upper_bound(i)` (and above the previous bound); the last
 * bucket counts everything longer. Quantiles are read as the upper bound of the bucket that holds
 * them, so they err on the slow side by at most a factor of two.
 */
struct LatencyHistogram {
  /// How many buckets there are.
  static constexpr std::size_t bucket_count = 28;

  /// The upper bound of bucket `i` (1 µs << i); the last bucket has no bound.
  [[nodiscard]] static constexpr std::chrono::nanoseconds upper_bound(std::size_t i) noexcept {
    return i + 1 >= bucket_count ? std::chrono::nanoseconds::max()
                                 : std::chrono::nanoseconds(std::int64_t{1000} << i);
  }

  /// The bucket a duration falls in.
  [[nodiscard]] static constexpr std::size_t bucket_of(std::chrono::nanoseconds d) noexcept {
    std::size_t i = 0;
    while (i + 1 < bucket_count && d > upper_bound(i)) ++i;
    return i;
  }

  /// Counts per bucket.
  std::array<std::uint64_t, bucket_count> buckets{};
  /// How many durations were recorded.
  std::uint64_t count = 0;
  /// Their sum.
  std::chrono::nanoseconds sum{0};

  /// The duration below which a share `q` (0..1) of the recorded ones fall (bucket bound).
  [[nodiscard]] std::chrono::nanoseconds quantile(double q) const noexcept {
    if (count == 0) return std::chrono::nanoseconds(0);
    const double target = q * static_cast<double>(count);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += buckets[i];
      if (static_cast<double>(seen) >= target && seen != 0) return upper_bound(i);
    }
    return upper_bound(bucket_count - 1);
  }

  friend bool operator==(const LatencyHistogram&, const LatencyHistogram&) = default;
};

/// Where noise was found (see `NoiseCancellation`).
enum class NoiseKind : std::uint8_t {
  Header,   ///< A header, by lower-cased name.
  Pointer,  ///< A field of a structured body, by JSON Pointer with digit-only tokens folded to `*`.
  Body,     ///< A body compared as bytes.
};

/// The name of a noise kind: `header`, `pointer` or `body`.
[[nodiscard]] constexpr std::string_view to_string(NoiseKind kind) noexcept {
  switch (kind) {
    case NoiseKind::Header:
      return "header";
    case NoiseKind::Pointer:
      return "pointer";
    case NoiseKind::Body:
      return "body";
  }
  return "body";
}

/// How often one place was found noisy: different between two answers of the primary side.
/**
 * The window figures are those of `NoiseCancellation`'s judgement by rates, at the time of the
 * snapshot: they count the probed calls after the one on which the place was first found noisy
 * (that call is left out, since it was picked for its difference), within the recent window.
 */
struct NoiseCount {
  /// What kind of place it is.
  NoiseKind kind = NoiseKind::Header;
  /// The header name, the folded JSON Pointer, or `body`.
  std::string name;
  /// On how many calls it differed between the primary and the secondary.
  std::uint64_t count = 0;
  /// Whether it is now ignored by every comparison (`NoiseCancellation::auto_ignore_after`).
  bool auto_ignored = false;
  /// Probed calls in the window (those whose secondary answered as a reference).
  std::uint64_t window_requests = 0;
  /// Of them, calls on which the shadow differed from the primary here.
  std::uint64_t shadow_differed = 0;
  /// Of them, calls on which the secondary differed from the primary here.
  std::uint64_t secondary_differed = 0;
  /// Whether the rates judge it noise now, so that its changes of value are cancelled on every
  /// call (never for a byte body, nor a place where the secondary changed structure).
  bool judged_noise = false;

  /// `shadow_differed / window_requests`, or 0 for an empty window.
  [[nodiscard]] double shadow_rate() const noexcept {
    return window_requests == 0
               ? 0.0
               : static_cast<double>(shadow_differed) / static_cast<double>(window_requests);
  }
  /// `secondary_differed / window_requests`, or 0 for an empty window.
  [[nodiscard]] double secondary_rate() const noexcept {
    return window_requests == 0
               ? 0.0
               : static_cast<double>(secondary_differed) / static_cast<double>(window_requests);
  }

  friend bool operator==(const NoiseCount&, const NoiseCount&) = default;
};

namespace detail {

// `part / whole` as a decimal of at most six places, without trailing zeros (`0.5`, `1`,
// `0.333333`), rounded half up; 0 for an empty whole. Exact integer arithmetic: the same text on
// every platform.
inline std::string ratio_text(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0 || part == 0) return "0";
  constexpr std::uint64_t scale = 1'000'000;
  const std::uint64_t whole_part = part / whole;
  const std::uint64_t rest = part % whole;
  // rest < whole, so the product overflows only past 4.6e12 calls; doubles are used there.
  std::uint64_t millionths =
      whole <= std::numeric_limits<std::uint64_t>::max() / (4 * scale)
          ? (rest * scale * 2 + whole) / (2 * whole)
          : static_cast<std::uint64_t>(static_cast<double>(rest) / static_cast<double>(whole) *
                                           static_cast<double>(scale) +
                                       0.5);
  std::uint64_t units = whole_part;
  if (millionths >= scale) {
    ++units;
    millionths -= scale;
  }
  std::string out = std::to_string(units);
  if (millionths == 0) return out;
  std::string digits = std::to_string(scale + millionths).substr(1);
  while (digits.back() == '0') digits.pop_back();
  out += '.';
  out += digits;
  return out;
}

}  // namespace detail

/// A snapshot of a `Shadower`'s counters.
/**
 * Each call is counted once in `calls`, when it starts (when the awaitable returned by `call` or
 * `call_detached` first runs; one dropped unawaited never starts), whether it completes or not.
 * Its fate is counted once too, when it is decided: filtered by `shadow_if`, left out by the
 * sampler, stopped by `auto_stop` or over `max_shadows_per_second` (at once), or, for a call whose
 * shadow was started, shed, timed out, failed, abandoned, matched or diverged (when the shadow
 * settles). Until then the call is in `sampled_in_progress`. A call that never ends because its
 * coroutine is destroyed (its `io_context` destroyed with the call pending) is counted as abandoned
 * when it is destroyed. A call that `ShadowConfig::shadow_if` refuses is `filtered`, before the
 * sampler sees it. So these always hold: `calls == sampled + skipped_by_sampler + filtered`,
 * `sampled == shadow_ok + shadow_timed_out + expired_in_queue + shadow_failed + shadow_abandoned +
 * shed + stopped + rate_limited + sampled_in_progress` and `shadow_ok == matched + diverged`.
 * `primary_failed`, `cancelled` and `rule_errors` count calls that are also counted in one of
 * those.
 */
struct ShadowStats {
  /// Calls started (sampled + skipped_by_sampler + filtered).
  std::uint64_t calls = 0;
  /// Sampled calls started: those whose fate is decided, and `sampled_in_progress`.
  std::uint64_t sampled = 0;
  /// Calls the sampler left out.
  std::uint64_t skipped_by_sampler = 0;
  /// Calls whose request `ShadowConfig::shadow_if` refused (or threw on): never sampled.
  std::uint64_t filtered = 0;
  /// Calls whose primary threw (the caller got the exception).
  std::uint64_t primary_failed = 0;
  /// Calls cancelled by their caller.
  std::uint64_t cancelled = 0;
  /// Shadow legs that answered in time and were compared (matched + diverged).
  std::uint64_t shadow_ok = 0;
  /// Shadow legs abandoned at their deadline while the candidate was working on them.
  std::uint64_t shadow_timed_out = 0;
  /// Shadow legs whose deadline passed while they were still queued for a worker (every worker
  /// was busy): the candidate never saw the request, so they do not count against it, in
  /// `auto_stop` either. Their outcome's `shadow_failed` is still `timed_out()`.
  std::uint64_t expired_in_queue = 0;
  /// Shadow legs that threw (or whose comparison failed).
  std::uint64_t shadow_failed = 0;
  /// Sampled calls whose shadow result was not used because the primary threw, the caller
  /// cancelled, or the call's coroutine was destroyed before it ended (a leg still running is
  /// abandoned and cancelled).
  std::uint64_t shadow_abandoned = 0;
  /// Sampled calls whose shadow was not started because too many legs were running.
  std::uint64_t shed = 0;
  /// Sampled calls whose shadow was not started because shadowing was stopped (`auto_stop`).
  std::uint64_t stopped = 0;
  /// Sampled calls whose shadow was not started because of `max_shadows_per_second`.
  std::uint64_t rate_limited = 0;
  /// Calls on which a request rule threw: `shadow_if` (such a call is also in `filtered`) or
  /// `shadow_request` (also in `shadow_failed`). The caller got the primary either way.
  std::uint64_t rule_errors = 0;
  /// How many times `auto_stop` stopped shadowing.
  std::uint64_t auto_stops = 0;
  /// Compared calls whose responses matched.
  std::uint64_t matched = 0;
  /// Compared calls whose responses diverged.
  std::uint64_t diverged = 0;
  /// Divergences whose status (or `ok` flag) differed.
  std::uint64_t diverged_status = 0;
  /// Divergences whose headers differed.
  std::uint64_t diverged_headers = 0;
  /// Divergences whose bodies differed.
  std::uint64_t diverged_body = 0;
  /// Shadow legs running at the time of the snapshot, abandoned ones included (a gauge).
  std::uint64_t in_flight_shadows = 0;
  /// Sampled calls started whose fate is not decided yet: their primary or their shadow is still
  /// running (a gauge).
  std::uint64_t sampled_in_progress = 0;
  /// Whether shadowing is stopped by `auto_stop` at the time of the snapshot (a gauge).
  bool auto_stopped = false;
  /// The sample rate for new calls at the time of the snapshot, in parts per million (a gauge).
  std::uint32_t sample_rate_ppm = 0;
  /// How long the primary took on sampled calls (with `ShadowConfig::latency_histograms`).
  LatencyHistogram primary_latency;
  /// How long the shadow took when it answered in time (with `latency_histograms`).
  LatencyHistogram shadow_latency;
  /// Compared calls whose secondary also answered with a usable reference (the primary's status,
  /// the same kind of body), so noise could be told apart (`ShadowConfig::noise_cancellation`).
  std::uint64_t noise_probes = 0;
  /// Compared calls from which at least one difference was taken out as noise (each is also
  /// counted in `matched` or `diverged`, by what was left).
  std::uint64_t noise_cancelled = 0;
  /// Where noise was found, most frequent first.
  std::vector<NoiseCount> noise;
  /// The kinds of divergence counted by the log, most frequent first (`DivergenceLog::signatures`):
  /// a log shared with other shadowers counts theirs too, and `with_log` starts a new count.
  std::vector<SignatureCount> signatures;
  /// Divergences of kinds beyond the log's `max_signatures`.
  std::uint64_t untracked_signatures = 0;

  friend bool operator==(const ShadowStats&, const ShadowStats&) = default;
};

namespace detail {

// The live, lock-free form of a LatencyHistogram.
struct AtomicHistogram {
  std::array<std::atomic<std::uint64_t>, LatencyHistogram::bucket_count> buckets{};
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::int64_t> sum_ns{0};

  void record(std::chrono::nanoseconds d) noexcept {
    if (d.count() < 0) d = std::chrono::nanoseconds(0);
    buckets[LatencyHistogram::bucket_of(d)].fetch_add(1, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
    sum_ns.fetch_add(d.count(), std::memory_order_relaxed);
  }

  [[nodiscard]] LatencyHistogram snapshot() const noexcept {
    LatencyHistogram h;
    for (std::size_t i = 0; i < h.buckets.size(); ++i) {
      h.buckets[i] = buckets[i].load(std::memory_order_relaxed);
      h.count += h.buckets[i];
    }
    h.sum = std::chrono::nanoseconds(sum_ns.load(std::memory_order_relaxed));
    return h;
  }
};

// The live counters of one shard. Only the leaves are stored: an unsampled call costs one
// increment, a sampled one two (its start and its fate).
struct CounterShard {
  using Counter = std::atomic<std::uint64_t>;
  // Sampled calls that started a shadow (the `stopped` and `rate_limited` ones are not here).
  Counter started{0};
  Counter skipped_by_sampler{0}, primary_failed{0}, cancelled{0}, shadow_timed_out{0},
      expired_in_queue{0}, shadow_failed{0}, shadow_abandoned{0}, shed{0}, stopped{0},
      auto_stops{0}, matched{0}, diverged{0}, diverged_status{0}, diverged_headers{0},
      diverged_body{0}, noise_probes{0}, noise_cancelled{0}, filtered{0}, rate_limited{0},
      rule_errors{0};

  AtomicHistogram primary_latency, shadow_latency;
};

// The live counters behind ShadowStats, shared by a Shadower and its copies. Sharded: each
// thread counts in a shard of its own (threads are dealt shards in turn), so that threads on
// different cores do not pass one cache line back and forth on every call; a snapshot sums the
// shards.
struct Counters {
  using Counter = CounterShard::Counter;
  static constexpr std::size_t shard_count = 16;

  // This thread's shard.
  [[nodiscard]] CounterShard& local() noexcept { return shards_[thread_shard()].counters; }

  static void bump(Counter& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }

  // One counter summed over the shards.
  [[nodiscard]] std::uint64_t total(Counter CounterShard::*counter) const noexcept {
    std::uint64_t n = 0;
    for (const auto& shard : shards_)
      n += (shard.counters.*counter).load(std::memory_order_relaxed);
    return n;
  }

  [[nodiscard]] ShadowStats snapshot() const {
    using C = CounterShard;
    ShadowStats s;
    s.skipped_by_sampler = total(&C::skipped_by_sampler);
    s.primary_failed = total(&C::primary_failed);
    s.cancelled = total(&C::cancelled);
    s.shadow_timed_out = total(&C::shadow_timed_out);
    s.expired_in_queue = total(&C::expired_in_queue);
    s.shadow_failed = total(&C::shadow_failed);
    s.shadow_abandoned = total(&C::shadow_abandoned);
    s.shed = total(&C::shed);
    s.stopped = total(&C::stopped);
    s.filtered = total(&C::filtered);
    s.rate_limited = total(&C::rate_limited);
    s.rule_errors = total(&C::rule_errors);
    s.auto_stops = total(&C::auto_stops);
    s.matched = total(&C::matched);
    s.diverged = total(&C::diverged);
    s.diverged_status = total(&C::diverged_status);
    s.diverged_headers = total(&C::diverged_headers);
    s.diverged_body = total(&C::diverged_body);
    s.noise_probes = total(&C::noise_probes);
    s.noise_cancelled = total(&C::noise_cancelled);
    s.shadow_ok = s.matched + s.diverged;
    const std::uint64_t decided = s.shadow_ok + s.shadow_timed_out + s.expired_in_queue +
                                  s.shadow_failed + s.shadow_abandoned + s.shed + s.stopped +
                                  s.rate_limited;
    // Read after the fates, so that it is seldom behind them; a call counted in a fate has started,
    // so while calls run on other threads the larger figure is the truer one.
    s.sampled = std::max(total(&C::started) + s.stopped + s.rate_limited, decided);
    s.sampled_in_progress = s.sampled - decided;
    s.calls = s.sampled + s.skipped_by_sampler + s.filtered;
    s.primary_latency = merged(&C::primary_latency);
    s.shadow_latency = merged(&C::shadow_latency);
    return s;
  }

 private:
  struct alignas(64) Shard {
    CounterShard counters;
  };

  // The shard of the calling thread, dealt once per thread and the same for every Shadower.
  static std::size_t thread_shard() noexcept {
    static constinit std::atomic<std::size_t> next{0};
    constinit thread_local std::size_t mine = 0;  // the shard plus one; 0 until dealt
    if (mine == 0) [[unlikely]] {
      mine = next.fetch_add(1, std::memory_order_relaxed) % shard_count + 1;
    }
    return mine - 1;
  }

  [[nodiscard]] LatencyHistogram merged(AtomicHistogram CounterShard::*histogram) const noexcept {
    LatencyHistogram h;
    for (const auto& shard : shards_) {
      const LatencyHistogram part = (shard.counters.*histogram).snapshot();
      for (std::size_t i = 0; i < h.buckets.size(); ++i) h.buckets[i] += part.buckets[i];
      h.count += part.count;
      h.sum += part.sum;
    }
    return h;
  }

  std::array<Shard, shard_count> shards_{};
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_STATS_HPP
