// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_NOISE_RATES_HPP
#define REQUEST_SHADOW_DETAIL_NOISE_RATES_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <request_shadow/config.hpp>
#include <request_shadow/detail/flavour.hpp>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// What one place's window holds at a given time.
struct PlaceWindow {
  std::uint64_t requests = 0;   // probed calls in the window since the place is tracked
  std::uint64_t shadow = 0;     // of them, calls on which the shadow differed there
  std::uint64_t secondary = 0;  // of them, calls on which the secondary differed there

  friend bool operator==(const PlaceWindow&, const PlaceWindow&) = default;
};

// Whether a place is noise by its rates (see `NoiseCancellation`): judged only over at least
// `min_requests` calls, only where the secondary differed, and only while the shadow differs
// there at most `relative` times as often as the secondary, and by at most `absolute` of the
// calls more often. A rule with a NaN judges nothing noise.
[[nodiscard]] inline bool judged_noise(const NoiseCancellation& rule,
                                       const PlaceWindow& w) noexcept {
  if (rule.window == 0 || w.requests == 0 || w.requests < rule.min_requests || w.secondary == 0) {
    return false;
  }
  const auto shadow = static_cast<double>(w.shadow);
  const auto secondary = static_cast<double>(w.secondary);
  return shadow <= rule.relative * secondary &&
         shadow - secondary <= rule.absolute * static_cast<double>(w.requests);
}

// Numbers the probed calls (those with a usable secondary answer) and cuts them into blocks of
// `window / 2`. The window, at any time, is the previous block and the current one so far: the
// last `window / 2` to `window` probed calls. Not thread-safe: the tracker's lock guards it.
class ProbeClock {
 public:
  explicit ProbeClock(std::size_t window) noexcept
      : block_(std::max<std::uint64_t>(window / 2, 1)) {}

  // Number the next probed call.
  std::uint64_t tick() noexcept { return probes_++; }

  // How many probed calls were numbered.
  [[nodiscard]] std::uint64_t probes() const noexcept { return probes_; }

  [[nodiscard]] std::uint64_t block_of(std::uint64_t probe) const noexcept {
    return probe / block_;
  }

  // The first probed call in the window now.
  [[nodiscard]] std::uint64_t window_start() const noexcept {
    if (probes_ == 0) return 0;
    const auto current = block_of(probes_ - 1);
    return current == 0 ? 0 : (current - 1) * block_;
  }

 private:
  std::uint64_t block_;
  std::uint64_t probes_ = 0;
};

// One place's counts over the window of a `ProbeClock`: per side, the current block and the one
// before it. They roll when the place is touched or read, so a probed call costs one update per
// place it differs at, whatever the number of places tracked, and the memory is fixed.
class PlaceRates {
 public:
  // Counts from probed call `since` on.
  explicit PlaceRates(std::uint64_t since) noexcept : since_(since) {}

  // Probed call `probe` (numbered in order by `clock`) differed here on the shadow's side, the
  // secondary's, both or neither.
  void record(const ProbeClock& clock, std::uint64_t probe, bool shadow, bool secondary) noexcept {
    if (probe < since_) return;
    const std::uint64_t block = clock.block_of(probe);
    if (block != block_) {
      previous_ = block == block_ + 1 ? current_ : Counts{};
      current_ = Counts{};
      block_ = block;
    }
    current_.shadow += shadow ? 1 : 0;
    current_.secondary += secondary ? 1 : 0;
  }

  // The window now.
  [[nodiscard]] PlaceWindow read(const ProbeClock& clock) const noexcept {
    const std::uint64_t probes = clock.probes();
    if (probes <= since_) return {};
    PlaceWindow w;
    w.requests = probes - std::max(since_, clock.window_start());
    const std::uint64_t now = clock.block_of(probes - 1);
    if (block_ == now) {
      w.shadow = current_.shadow + previous_.shadow;
      w.secondary = current_.secondary + previous_.secondary;
    } else if (block_ + 1 == now) {
      w.shadow = current_.shadow;
      w.secondary = current_.secondary;
    }
    return w;
  }

 private:
  struct Counts {
    std::uint64_t shadow = 0;
    std::uint64_t secondary = 0;
  };

  std::uint64_t since_;
  std::uint64_t block_ = 0;  // the block `current_` counts
  Counts current_;
  Counts previous_;  // the block before `block_`
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_NOISE_RATES_HPP
