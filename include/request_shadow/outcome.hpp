// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_OUTCOME_HPP
#define REQUEST_SHADOW_OUTCOME_HPP

#include <cstdint>
#include <memory>
#include <optional>
#include <request_shadow/detail/flavour.hpp>
#include <request_shadow/divergence.hpp>
#include <request_shadow/response_record.hpp>
#include <stdexcept>
#include <string>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

/// Why a shadow leg produced no response to compare.
enum class ShadowFailureKind : std::uint8_t {
  TimedOut,     ///< The shadow did not answer before its deadline; it was abandoned.
  Failed,       ///< The shadow backend threw, or the comparison could not be made.
  Shed,         ///< Not started: `ShadowConfig::max_in_flight_shadows()` legs were already running.
  Stopped,      ///< Not started: shadowing is stopped by `ShadowConfig::auto_stop`.
  Filtered,     ///< Not started: `ShadowConfig::shadow_if` refused the request (or threw).
  RateLimited,  ///< Not started: over `ShadowConfig::max_shadows_per_second`.
};

/// A shadow leg that produced no response: whether it timed out or failed, and the error text.
struct ShadowFailure {
  /// Timed out or failed.
  ShadowFailureKind kind = ShadowFailureKind::Failed;
  /// What went wrong: the exception's `what()`, the deadline that passed, or the bound.
  std::string message;

  /// Whether the shadow missed its deadline.
  [[nodiscard]] bool timed_out() const noexcept { return kind == ShadowFailureKind::TimedOut; }
  /// Whether the shadow was not started because too many legs were running.
  [[nodiscard]] bool shed() const noexcept { return kind == ShadowFailureKind::Shed; }
  /// Whether the shadow was not started because shadowing is stopped (`auto_stop`).
  [[nodiscard]] bool stopped() const noexcept { return kind == ShadowFailureKind::Stopped; }
  /// Whether the shadow was not started because `shadow_if` refused the request.
  [[nodiscard]] bool filtered() const noexcept { return kind == ShadowFailureKind::Filtered; }
  /// Whether the shadow was not started because of the cap on shadow legs per second.
  [[nodiscard]] bool rate_limited() const noexcept {
    return kind == ShadowFailureKind::RateLimited;
  }

  friend bool operator==(const ShadowFailure&, const ShadowFailure&) = default;
};

/// What one `Shadower::call` produced: the primary's response and what became of the shadow.
/**
 * Exactly one of these holds for a completed call: `skipped_by_sampler`; `shadow_failed` is set;
 * or `shadow` is set (and `divergence` is set when the two responses differ).
 */
struct ShadowOutcome {
  /// The primary's response: what the caller should use.
  ResponseRecord primary;
  /// The shadow's response, when it answered in time.
  std::optional<ResponseRecord> shadow;
  /// How the shadow's response differs from the primary's, when it does (noise taken out).
  std::optional<Divergence> divergence;
  /// The differences taken out of the divergence as noise, because the secondary differed from
  /// the primary in the same places on this call, or, for changes of value, at places judged
  /// noise by their rates (`ShadowConfig::noise_cancellation`); null when none were.
  /// (Held by pointer: it is rare, and the outcome stays small enough for a call's coroutine
  /// frame to be recycled.)
  std::shared_ptr<const Divergence> noise;
  /// Whether the sampler left this request out (the shadow was not called).
  bool skipped_by_sampler = false;
  /// Why the shadow produced no response, when it was called and did not.
  std::optional<ShadowFailure> shadow_failed;
};

/// Thrown by `Shadower::call` in test mode (`ShadowConfig::raise_on_mismatch`) when the responses
/// diverge.
/**
 * `what()` summarises the divergence; `outcome()` has both responses and the full divergence.
 * Copying the exception never throws (the outcome is shared).
 */
class MismatchError : public std::runtime_error {
 public:
  /// Wrap the outcome of a call whose responses diverged.
  explicit MismatchError(ShadowOutcome outcome)
      : std::runtime_error("request_shadow: the shadow diverged from the primary: " +
                           (outcome.divergence ? to_string(*outcome.divergence) : std::string())),
        outcome_(std::make_shared<const ShadowOutcome>(std::move(outcome))) {}

  /// The outcome of the call: the primary's and the shadow's responses and the divergence.
  [[nodiscard]] const ShadowOutcome& outcome() const noexcept { return *outcome_; }

 private:
  std::shared_ptr<const ShadowOutcome> outcome_;
};

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_OUTCOME_HPP
