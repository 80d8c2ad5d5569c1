// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_STATS_HPP
#define REQUEST_SHADOW_STATS_HPP

#include <atomic>
#include <cstdint>

namespace request_shadow {

/// A snapshot of a `Shadower`'s counters.
/**
 * Each call is counted once, when its fate is decided: left out by the sampler (at once), or,
 * for a sampled call, shed, timed out, failed, abandoned, matched or diverged (when it
 * completes). So these always hold: `calls == sampled + skipped_by_sampler`,
 * `sampled == shadow_ok + shadow_timed_out + shadow_failed + shadow_abandoned + shed + stopped` and
 * `shadow_ok == matched + diverged`. `primary_failed` and `cancelled` count calls that are also
 * counted in one of those.
 */
struct ShadowStats {
  /// Calls counted (sampled + skipped_by_sampler).
  std::uint64_t calls = 0;
  /// Sampled calls that completed.
  std::uint64_t sampled = 0;
  /// Calls the sampler left out.
  std::uint64_t skipped_by_sampler = 0;
  /// Calls whose primary threw (the caller got the exception).
  std::uint64_t primary_failed = 0;
  /// Calls cancelled by their caller.
  std::uint64_t cancelled = 0;
  /// Shadow legs that answered in time and were compared (matched + diverged).
  std::uint64_t shadow_ok = 0;
  /// Shadow legs abandoned at their deadline.
  std::uint64_t shadow_timed_out = 0;
  /// Shadow legs that threw (or whose comparison failed).
  std::uint64_t shadow_failed = 0;
  /// Sampled calls whose shadow result was not used because the primary threw or the caller
  /// cancelled (a leg still running is abandoned and cancelled).
  std::uint64_t shadow_abandoned = 0;
  /// Sampled calls whose shadow was not started because too many legs were running.
  std::uint64_t shed = 0;
  /// Sampled calls whose shadow was not started because shadowing was stopped (`auto_stop`).
  std::uint64_t stopped = 0;
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
  /// Whether shadowing is stopped by `auto_stop` at the time of the snapshot (a gauge).
  bool auto_stopped = false;
  /// The sample rate for new calls at the time of the snapshot, in parts per million (a gauge).
  std::uint32_t sample_rate_ppm = 0;

  friend bool operator==(const ShadowStats&, const ShadowStats&) = default;
};

namespace detail {

// The live counters behind ShadowStats, shared by a Shadower and its copies. Only the leaves
// are stored, so a call costs one atomic increment in the common case.
struct Counters {
  using Counter = std::atomic<std::uint64_t>;
  Counter skipped_by_sampler{0}, primary_failed{0}, cancelled{0}, shadow_timed_out{0},
      shadow_failed{0}, shadow_abandoned{0}, shed{0}, stopped{0}, auto_stops{0}, matched{0},
      diverged{0}, diverged_status{0}, diverged_headers{0}, diverged_body{0};

  static void bump(Counter& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }

  [[nodiscard]] ShadowStats snapshot() const noexcept {
    auto get = [](const Counter& c) { return c.load(std::memory_order_relaxed); };
    ShadowStats s;
    s.skipped_by_sampler = get(skipped_by_sampler);
    s.primary_failed = get(primary_failed);
    s.cancelled = get(cancelled);
    s.shadow_timed_out = get(shadow_timed_out);
    s.shadow_failed = get(shadow_failed);
    s.shadow_abandoned = get(shadow_abandoned);
    s.shed = get(shed);
    s.stopped = get(stopped);
    s.auto_stops = get(auto_stops);
    s.matched = get(matched);
    s.diverged = get(diverged);
    s.diverged_status = get(diverged_status);
    s.diverged_headers = get(diverged_headers);
    s.diverged_body = get(diverged_body);
    s.shadow_ok = s.matched + s.diverged;
    s.sampled = s.shadow_ok + s.shadow_timed_out + s.shadow_failed + s.shadow_abandoned + s.shed +
                s.stopped;
    s.calls = s.sampled + s.skipped_by_sampler;
    return s;
  }
};

}  // namespace detail
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_STATS_HPP
