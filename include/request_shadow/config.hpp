// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_CONFIG_HPP
#define REQUEST_SHADOW_CONFIG_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <request_shadow/asio.hpp>
#include <request_shadow/body_comparator.hpp>
#include <request_shadow/pointer.hpp>
#include <request_shadow/response_record.hpp>
#include <request_shadow/sampler.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {

/// Aspects of a response that a comparison can ignore; combine them with `|`.
enum class IgnoreField : std::uint8_t {
  None = 0,     ///< Compare everything.
  Status = 1,   ///< Ignore `ok` and the status code.
  Headers = 2,  ///< Ignore every header.
  Body = 4,     ///< Ignore the body.
};

/// The union of two sets of ignored fields.
[[nodiscard]] constexpr IgnoreField operator|(IgnoreField a, IgnoreField b) noexcept {
  return static_cast<IgnoreField>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}

/// The intersection of two sets of ignored fields.
[[nodiscard]] constexpr IgnoreField operator&(IgnoreField a, IgnoreField b) noexcept {
  return static_cast<IgnoreField>(static_cast<std::uint8_t>(a) & static_cast<std::uint8_t>(b));
}

/// When to stop shadowing by itself: a circuit breaker for the candidate.
/**
 * Over the last `window` shadow legs that settled, when the share that failed (timed out or
 * threw) reaches `max_failure_ratio`, shadowing stops: sampled calls run the primary alone and
 * report the shadow as stopped. After `cooldown`, one call probes the candidate again; if its
 * shadow succeeds, shadowing resumes, otherwise it stops for another cool-down. No other call
 * shadows while the probe is out; a probe that ends without a verdict (its primary threw, it was
 * cancelled or shed, its call was destroyed) lets the next call probe at once.
 */
struct AutoStop {
  /// The share of failed legs, over the window, that stops shadowing (0 to 1).
  double max_failure_ratio = 0.5;
  /// How many recent legs the ratio is taken over; it is not judged before that many settled.
  std::size_t window = 100;
  /// How long shadowing stays stopped before a probe.
  std::chrono::steady_clock::duration cooldown = std::chrono::seconds(10);
};

/// Noise cancellation: a second answer from the primary side tells noise from real differences.
/**
 * For each sampled call, a secondary backend (or the primary again) is called with the same
 * request, alongside the shadow and under the same deadline. A difference that the secondary
 * also shows against the primary, as the same kind of difference at the same place, is noise:
 * it is taken out of the divergence, reported in `ShadowOutcome::noise`, and counted per place
 * in `ShadowStats::noise`. The same kind: a header added, removed or changed; a field
 * `Added`, `Removed`, `Changed` or `TypeChanged` (a secondary whose value at `/x` changed
 * cancels no removal of `/x`). The same place: the same header name; the same JSON Pointer,
 * read literally token by token, except that tokens of digits only (array indices) stand for
 * any such token (noise at `/items/0` cancels `/items/3`, but nothing inside an element, such as
 * its price; a member named `*` is only itself, never a wildcard); for bodies compared as
 * bytes, the body as a whole.
 *
 * A secondary answer is a reference only when it has the primary's status and `ok` flag, even
 * when the config ignores the status, and its body is of the same kind at the root (and
 * readable by the comparator that reads the primary's): an error answer (a 429, a 503) or
 * another document would make everything look like noise, so such a call is compared without
 * it.
 *
 * Beyond the call, a place is judged by its rates, as Diffy does: over the recent `window` of
 * probed calls (those whose secondary was a reference), how often the shadow differed from the
 * primary there, and how often the secondary did. A place is noise while the shadow differs there
 * at most `relative` times as often as the secondary, and on at most `absolute` of the calls more
 * often: `shadow_rate <= relative * secondary_rate` and
 * `shadow_rate - secondary_rate <= absolute`. It is judged only after `min_requests` calls in
 * the window, and a place where the secondary did not differ in the window is never noise. While
 * a place is noise, a change of value there (a header's value, a field's value of the same type)
 * is cancelled on every call, even when the secondary does not show it on that call or did not
 * answer; its addition, removal or change of type, and anything inside it, are still reported.
 * The judgement is made afresh on every call: a shadow whose rate climbs (a real regression at a
 * noisy place) makes the place stop being noise, and its changes are reported again. A place
 * where the secondary ever added, removed or changed the type of something, and a byte body, are
 * never noise beyond the call. `window` 0 turns the judgement by rates off.
 *
 * `auto_ignore_after` is the older rule, off by default: a header whose value changed, or a
 * pointer whose value changed (the same type, another value: a timestamp, an id), found noisy
 * `auto_ignore_after` times, and never added, removed or of another type there, is learned for
 * good: from then on every comparison of the `Shadower`, including calls whose secondary did not
 * answer, ignores a change of value at exactly that place, and nothing else, and is never judged
 * again, so a regression there later would go unseen. The header's removal or addition, the
 * field's removal, addition or change of type, and anything inside it, are still reported.
 * Structure is never ignored for good: a header or pointer added or removed, a change of type,
 * and a byte body, are cancelled call by call only, when the secondary shows them too.
 */
struct NoiseCancellation {
  /// After how many noisy calls a header or JSON pointer is ignored for good (0, the default:
  /// never; places are judged by their rates instead).
  std::size_t auto_ignore_after = 0;
  /// How many distinct noisy places (headers, pointers, the byte body) are counted; others are
  /// not tracked (but their differences are still cancelled call by call).
  std::size_t max_tracked = 1000;
  /// How many times as often as the secondary the shadow may differ at a noisy place.
  double relative = 2.0;
  /// By what share of the calls in the window the shadow may differ more often than the
  /// secondary at a noisy place.
  double absolute = 0.01;
  /// How many probed calls the rates are taken over: the last `window / 2` to `window` (0: no
  /// judgement by rates).
  std::size_t window = 1000;
  /// How many probed calls a place's window must hold before it can be judged noise.
  std::size_t min_requests = 100;
};

namespace detail {

// Whether `name` (lower-cased) is one of `ShadowConfig::framing_headers()`; by length first, as
// it runs for every header name found to differ.
constexpr bool is_framing_header(std::string_view name) noexcept {
  switch (name.size()) {
    case 2:
      return name == "te";
    case 7:
      return name == "trailer" || name == "upgrade";
    case 10:
      return name == "connection" || name == "keep-alive";
    case 14:
      return name == "content-length";
    case 17:
      return name == "transfer-encoding";
    default:
      return false;
  }
}

}  // namespace detail

/// How a `Shadower` samples, how long the shadow leg may take, and what a comparison ignores.
/**
 * A value type with chainable setters:
 * @code
 * auto config = ShadowConfig::full_sample().sample_rate(10).shadow_timeout(50ms);
 * @endcode
 * A `Shadower` copies its config at construction; its sample rate and shadow timeout can then be
 * changed live on the `Shadower`.
 */
class ShadowConfig {
 public:
  /// The sample rate of `full_sample()`, in percent.
  static constexpr unsigned default_sample_rate = 100;
  /// The shadow deadline of `full_sample()`.
  static constexpr std::chrono::steady_clock::duration default_shadow_timeout =
      std::chrono::seconds(2);

  /// Same as `full_sample()`.
  ShadowConfig() = default;

  /// Shadow every request, a 2 s shadow deadline, nothing ignored but the `framing_headers()`.
  [[nodiscard]] static ShadowConfig full_sample() { return ShadowConfig{}; }

  /// Set the share of keys that are shadowed, in percent; clamped to 0..100.
  ShadowConfig& sample_rate(int percent) noexcept {
    rate_ppm_ = static_cast<std::uint32_t>(std::clamp(percent, 0, 100)) * ppm_per_percent;
    return *this;
  }

  /// The share of keys that are shadowed, in whole percent (0..100, rounded down).
  [[nodiscard]] unsigned sample_rate() const noexcept { return rate_ppm_ / ppm_per_percent; }

  /// Set the share of keys that are shadowed in parts per million; clamped to 0..1,000,000.
  /**
   * Whole percents (multiples of 10,000) pick exactly the reference's buckets; see `sampled_at`.
   */
  ShadowConfig& sample_rate_ppm(std::uint32_t ppm) noexcept {
    rate_ppm_ = std::min(ppm, full_rate_ppm);
    return *this;
  }

  /// The share of keys that are shadowed, in parts per million.
  [[nodiscard]] std::uint32_t sample_rate_ppm() const noexcept { return rate_ppm_; }

  /// Set a salt hashed before every key, so that two experiments pick different cohorts.
  /**
   * Empty (the default) keeps the buckets of the reference; any other salt gives an independent
   * cohort that is still sticky per key.
   */
  ShadowConfig& salt(std::string salt) {
    salt_ = std::move(salt);
    return *this;
  }

  /// The salt hashed before every key.
  [[nodiscard]] const std::string& salt() const noexcept { return salt_; }

  /// A function that derives the sampling key from a request, e.g. its user id or its route.
  using KeyExtractor = std::function<std::string(std::string_view request)>;

  /// Sample (and log) on `extract(request)` instead of the whole request.
  /**
   * Called once per call, on the caller's thread, before anything else. If it throws, the call is
   * not shadowed (and counted as skipped by the sampler); the primary is called as usual.
   */
  ShadowConfig& key_extractor(KeyExtractor extract) {
    extractor_ = std::move(extract);
    return *this;
  }

  /// The key extractor, empty when the whole request is the key.
  [[nodiscard]] const KeyExtractor& key_extractor() const noexcept { return extractor_; }

  /// A predicate on a request: whether it may be sent to the shadow (see `shadow_if`).
  using RequestFilter = std::function<bool(std::string_view request)>;

  /// Shadow only the requests that `allow(request)` accepts, e.g. `http_safe_methods()`.
  /**
   * Called once per call, on the caller's thread, before the sampler (a refused request is not
   * hashed). A refused request goes to the primary alone, is counted as `filtered` and reported
   * as `ShadowFailure::filtered()`; observers do not see it. A predicate that throws refuses the
   * request: it is counted as `filtered` and in `rule_errors`, and the caller still gets the
   * primary. Called concurrently from several threads, so it must be thread-safe.
   */
  ShadowConfig& shadow_if(RequestFilter allow) {
    filter_ = std::move(allow);
    return *this;
  }

  /// The request filter, empty when every request may be shadowed.
  [[nodiscard]] const RequestFilter& shadow_if() const noexcept { return filter_; }

  /// A rewrite of a request for the shadow leg (see `shadow_request`).
  using RequestRewrite = std::function<std::string(std::string_view request)>;

  /// Send the shadow `rewrite(request)` instead of the request, e.g. `http_strip_headers(...)`.
  /**
   * Only the shadow leg (and, with noise cancellation, the secondary beside it, so that a
   * difference the rewrite itself causes shows on both sides and cancels as noise) gets the
   * rewritten request: the primary, the sampling key and the divergence log keep the original.
   * Called once per call that is about to start a shadow leg (sampled, admitted by `auto_stop`
   * and the rate cap), on the caller's thread, before the primary is called; the result is copied
   * into the leg's own buffer, which the leg owns even when it is abandoned. A rewrite that throws
   * leaves that call unshadowed: its shadow is reported as failed (`shadow_request threw: ...`),
   * counted as `shadow_failed` and in `rule_errors`, never counted against the candidate by
   * `auto_stop`, and the caller still gets the primary. Called concurrently from several threads,
   * so it must be thread-safe.
   */
  ShadowConfig& shadow_request(RequestRewrite rewrite) {
    rewrite_ = std::move(rewrite);
    return *this;
  }

  /// The request rewrite, empty when the shadow gets the request as is.
  [[nodiscard]] const RequestRewrite& shadow_request() const noexcept { return rewrite_; }

  /// A cap on shadow legs started per second, and the bucket's depth in legs.
  struct RateCap {
    /// Legs per second, the bucket's refill rate.
    double per_second = 0;
    /// The most legs started at once after a quiet spell, the bucket's depth.
    double burst = 0;
  };

  /// Cap the shadow legs started per second, on top of sampling (off by default).
  /**
   * A token bucket with no lock, shared by the `Shadower` and its copies on every thread: it holds
   * `burst` tokens (0: one second's worth, `per_second` rounded up, at least 1) and refills at
   * `per_second` (a fraction is allowed: 0.1 is one leg every 10 s). A sampled call that finds the
   * bucket empty goes to the primary alone, is counted as `rate_limited` and reported as
   * `ShadowFailure::rate_limited()`; a call that `auto_stop` keeps from the shadow takes no token.
   * Use it to drive a candidate below the primary's rate, so that a slower candidate is not
   * swamped into timing out. Throws `std::invalid_argument` unless `per_second` is finite and
   * positive and `burst` finite and not negative.
   */
  ShadowConfig& max_shadows_per_second(double per_second, double burst = 0) {
    if (!std::isfinite(per_second) || per_second <= 0 || !std::isfinite(burst) || burst < 0) {
      throw std::invalid_argument(
          "request_shadow::ShadowConfig::max_shadows_per_second: the rate must be finite and "
          "positive, the burst finite and not negative");
    }
    rate_cap_ = RateCap{per_second,
                        burst > 0 ? std::max(burst, 1.0) : std::max(std::ceil(per_second), 1.0)};
    return *this;
  }

  /// The cap on shadow legs per second, if any.
  [[nodiscard]] const std::optional<RateCap>& max_shadows_per_second() const noexcept {
    return rate_cap_;
  }

  /// Set how long the shadow leg may run, counted from the start of the call; negative is 0.
  ShadowConfig& shadow_timeout(std::chrono::steady_clock::duration timeout) noexcept {
    timeout_ = std::max(timeout, std::chrono::steady_clock::duration::zero());
    return *this;
  }

  /// How long the shadow leg may run, counted from the start of the call.
  [[nodiscard]] std::chrono::steady_clock::duration shadow_timeout() const noexcept {
    return timeout_;
  }

  /// The bound of `max_in_flight_shadows()` in `full_sample()`.
  static constexpr std::size_t default_max_in_flight_shadows = 1024;

  /// Set how many shadow legs may run at once (at least 1), abandoned ones included.
  /**
   * A call that finds this many shadow legs still running (for example against a candidate that
   * hangs and ignores cancellation) skips its shadow and reports it as shed, so a stuck candidate
   * cannot pile up work. Each running leg holds one reusable worker coroutine.
   *
   * The bound is shared by every execution context the `Shadower` serves and always holds.
   * Contexts take admissions a chunk at a time (one at a time below 256). A context that finds
   * none left takes back the spares of the contexts not busy at that moment, and makes the others
   * give theirs back as their legs end, so a call is shed early only while another context is in
   * the middle of its own work.
   */
  ShadowConfig& max_in_flight_shadows(std::size_t n) noexcept {
    max_in_flight_ = std::max<std::size_t>(n, 1);
    return *this;
  }

  /// How many shadow legs may run at once.
  [[nodiscard]] std::size_t max_in_flight_shadows() const noexcept { return max_in_flight_; }

  /// Run the shadow legs on `ex` (a strand of it per worker), off the callers' threads.
  /**
   * By default a shadow leg runs on a strand of its caller's execution context, so the
   * candidate's own work (its I/O, parsing, any CPU it spends) and, in detached mode, the
   * comparison take turns with the callers on the callers' threads. With an executor of your own
   * (a `net::thread_pool`'s, say) they run there instead: the callers' threads only copy the
   * request and, for an inline call, compare. Results come back without blocking either side:
   * an inline caller is resumed on its own executor; a detached call is compared, counted, logged
   * and its `on_divergence` observer called on the shadow executor's thread.
   *
   * Everything else holds as on the callers' contexts: each caller's deadline is kept by its own
   * context's timer, so a candidate that hangs or ignores cancellation holds one of the executor's
   * workers, never the caller; `max_in_flight_shadows` bounds how many it can hold; counters and
   * shutdown are unchanged. Destroy the executor's context last: after the callers' contexts
   * have been destroyed, or have returned from `run()` after their last call (their idle workers
   * are retired then). A candidate that ignores cancellation keeps a pool's `join()` waiting, as
   * any work would: `stop()` the pool first. A worker destroyed with its pool while it runs a
   * leg fails that leg, and a caller waiting for it is released at once.
   *
   * A default-constructed (empty) executor means the callers' contexts, the default.
   */
  ShadowConfig& shadow_executor(net::any_io_executor ex) noexcept {
    shadow_executor_ = std::move(ex);
    return *this;
  }

  /// The executor shadow legs run on; empty for the callers' own contexts.
  [[nodiscard]] const net::any_io_executor& shadow_executor() const noexcept {
    return shadow_executor_;
  }

  /// Start a detached call's shadow leg only once its primary has answered (off by default).
  /**
   * By default both legs of a call start together. On a thread that does both, the candidate's
   * synchronous work (building and sending its request, for an HTTP backend) then runs while the
   * primary is in flight, and part of it before the primary's answer is handled: a detached
   * caller waits for some of the candidate's work. With this on, a `call_detached` awaits its
   * primary alone. Once the primary has answered, the call copies the request for the shadow
   * (through `shadow_request`, if set), takes a slot (or is shed), arms the shadow's deadline and
   * copies the primary's response for the comparison, then returns; the candidate's own work is
   * posted and runs after the caller has resumed.
   *
   * The price, and what changes:
   * - the candidate sees each request later, by the primary's latency, so the two legs no longer
   *   race (a candidate that reads state the primary writes sees it written);
   * - the deadline keeps the length in force when the call started, counted from the start of
   *   the shadow leg;
   * - a call whose primary throws (including `operation_aborted` from a primary that honours a
   *   cancellation) starts no shadow and counts as `shadow_abandoned`; a primary that ignores a
   *   cancellation and answers still gets its shadow;
   * - `max_shadows_per_second` and `auto_stop` decide when the call starts, as always, but the
   *   legs start a primary's latency later: after a spike in the primary's latency, admitted
   *   legs may start together, and an `auto_stop` probe reports only after the primary's latency
   *   plus the shadow's (a probe whose primary takes longer than the rule's cooldown may be
   *   given up, its verdict then ignored, and another probe admitted).
   *
   * Inline `call`s, which wait for both legs anyway, always start both at once.
   */
  ShadowConfig& start_shadow_after_primary(bool on) noexcept {
    start_shadow_after_primary_ = on;
    return *this;
  }

  /// Whether a detached call starts its shadow leg only once the primary has answered.
  [[nodiscard]] bool start_shadow_after_primary() const noexcept {
    return start_shadow_after_primary_;
  }

  /// Stop shadowing by itself while the candidate keeps failing (off by default).
  ShadowConfig& auto_stop(AutoStop rule) noexcept {
    auto_stop_ = rule;
    return *this;
  }

  /// The automatic stop rule, if any.
  [[nodiscard]] const std::optional<AutoStop>& auto_stop() const noexcept { return auto_stop_; }

  /// Record how long each leg of a sampled call takes, in `ShadowStats` histograms (off by
  /// default: it reads the clock twice per leg, about 40 ns a call).
  ShadowConfig& latency_histograms(bool on) noexcept {
    latency_histograms_ = on;
    return *this;
  }

  /// Whether leg latencies are recorded.
  [[nodiscard]] bool latency_histograms() const noexcept { return latency_histograms_; }

  /// Test mode: make `Shadower::call` throw `MismatchError` when the responses diverge.
  /**
   * For running the shadow in integration tests, so that any divergence fails the test. The
   * divergence is still counted and logged first. Off by default; never use it in production
   * traffic, where the caller must always get the primary's response.
   */
  ShadowConfig& raise_on_mismatch(bool raise) noexcept {
    raise_on_mismatch_ = raise;
    return *this;
  }

  /// Whether a divergence throws `MismatchError` to the caller.
  [[nodiscard]] bool raise_on_mismatch() const noexcept { return raise_on_mismatch_; }

  /// Ignore one header (case-insensitive) when comparing: its being added, removed or changed.
  ShadowConfig& ignore_header(std::string_view name) {
    std::string lowered = detail::ascii_lowered(name);
    const auto at = std::lower_bound(ignored_headers_.begin(), ignored_headers_.end(), lowered);
    if (at == ignored_headers_.end() || *at != lowered) ignored_headers_.insert(at, lowered);
    return *this;
  }

  /// Headers that usually differ between any two responses, whoever serves them: dates, caches,
  /// request and trace ids, the serving host.
  /**
   * `age`, `cf-ray`, `date`, `etag`, `expires`, `last-modified`, `server`, `traceparent`,
   * `tracestate`, `via`, `x-amzn-requestid`, `x-amzn-trace-id`, `x-b3-spanid`, `x-b3-traceid`,
   * `x-cache`, `x-correlation-id`, `x-envoy-upstream-service-time`, `x-request-id`,
   * `x-response-time`, `x-runtime`, `x-served-by`. Opt in with `ignore_noisy_headers()`.
   */
  [[nodiscard]] static const std::vector<std::string_view>& noisy_headers() {
    static const std::vector<std::string_view> names = {"age",
                                                        "cf-ray",
                                                        "date",
                                                        "etag",
                                                        "expires",
                                                        "last-modified",
                                                        "server",
                                                        "traceparent",
                                                        "tracestate",
                                                        "via",
                                                        "x-amzn-requestid",
                                                        "x-amzn-trace-id",
                                                        "x-b3-spanid",
                                                        "x-b3-traceid",
                                                        "x-cache",
                                                        "x-correlation-id",
                                                        "x-envoy-upstream-service-time",
                                                        "x-request-id",
                                                        "x-response-time",
                                                        "x-runtime",
                                                        "x-served-by"};
    return names;
  }

  /// Ignore every header of `noisy_headers()`.
  ShadowConfig& ignore_noisy_headers() {
    for (const auto name : noisy_headers()) ignore_header(name);
    return *this;
  }

  /// The headers that describe how a message is framed and carried, not what it answers:
  /// `connection`, `content-length`, `keep-alive`, `te`, `trailer`, `transfer-encoding`,
  /// `upgrade`.
  /**
   * A comparison leaves them out unless `compare_framing_headers(true)`: the body comparison
   * already covers what they say, and two servers whose bodies are equal but written
   * differently (other whitespace, another member order under a JSON comparator) or sent in
   * chunks by one and whole by the other would otherwise report a `content-length` or
   * `transfer-encoding` difference on every call.
   */
  [[nodiscard]] static const std::vector<std::string_view>& framing_headers() {
    static const std::vector<std::string_view> names = {
        "connection", "content-length",    "keep-alive", "te",
        "trailer",    "transfer-encoding", "upgrade"};
    return names;
  }

  /// Compare the `framing_headers()` too (off by default: a comparison leaves them out).
  /**
   * With it on, they are compared like any other header, and `ignore_header` still ignores any
   * of them one by one.
   */
  ShadowConfig& compare_framing_headers(bool on) noexcept {
    compare_framing_headers_ = on;
    return *this;
  }

  /// Whether a comparison includes the `framing_headers()`.
  [[nodiscard]] bool compare_framing_headers() const noexcept { return compare_framing_headers_; }

  /// The headers ignored one by one, lower-cased and sorted.
  [[nodiscard]] const std::vector<std::string>& ignored_headers() const noexcept {
    return ignored_headers_;
  }

  /// Ignore part of a structured body: an RFC 6901 pointer in which `*` matches any one member
  /// name or array index, e.g. `/items/*/updated_at`; see `PointerPatterns`.
  /**
   * Applies to the differences a body comparator reports (`body_comparator`); a byte comparison
   * has no pointers. Throws `std::invalid_argument` for a pattern that is neither empty nor starts
   * with `/`.
   */
  ShadowConfig& ignore_pointer(std::string_view pattern) {
    ignored_pointers_.add(pattern);
    return *this;
  }

  /// The pointer patterns ignored in structured bodies.
  [[nodiscard]] const PointerPatterns& ignored_pointers() const noexcept {
    return ignored_pointers_;
  }

  /// Rewrite both bodies with `normalize` before comparing them; normalizers run in the order
  /// they were added.
  /**
   * A normalizer that throws is skipped for that call, and the divergence (if any) says so in
   * `BodyDiff::fallback`. Called concurrently from several threads.
   */
  ShadowConfig& body_normalizer(BodyNormalizer normalize) {
    normalizers_.push_back(std::move(normalize));
    return *this;
  }

  /// The body normalizers, in the order they run.
  [[nodiscard]] const std::vector<BodyNormalizer>& body_normalizers() const noexcept {
    return normalizers_;
  }

  /// Compare bodies that `comparator.applies` to with `comparator`; the first registered one
  /// that applies is used, and bodies no comparator applies to are compared as bytes.
  ShadowConfig& body_comparator(BodyComparator comparator) {
    comparators_.push_back(std::move(comparator));
    return *this;
  }

  /// The body comparators, in the order they are tried.
  [[nodiscard]] const std::vector<BodyComparator>& body_comparators() const noexcept {
    return comparators_;
  }

  /// Turn on noise cancellation (off by default); see `NoiseCancellation`.
  /**
   * Without a secondary backend given to the `Shadower`, the primary is called a second time for
   * each sampled request, so the primary must tolerate repeated requests (as it must for
   * shadowing at all: only shadow reads).
   */
  ShadowConfig& noise_cancellation(NoiseCancellation rule) noexcept {
    noise_ = rule;
    return *this;
  }

  /// The noise cancellation rule, if on.
  [[nodiscard]] const std::optional<NoiseCancellation>& noise_cancellation() const noexcept {
    return noise_;
  }

  /// Add `fields` to the set of ignored fields.
  ShadowConfig& ignore(IgnoreField fields) noexcept {
    ignored_ = ignored_ | fields;
    return *this;
  }

  /// The set of ignored fields.
  [[nodiscard]] IgnoreField ignored() const noexcept { return ignored_; }

  /// Whether every field in `fields` is ignored.
  [[nodiscard]] bool ignores(IgnoreField fields) const noexcept {
    return (ignored_ & fields) == fields;
  }

  /// Whether the request with this key is shadowed; sticky: the same key always answers the same.
  /**
   * Rate 0 never hashes and answers false; the full rate never hashes and answers true;
   * otherwise `sampled_at(sample_hash(key, salt()), sample_rate_ppm())`, which for whole percents
   * and no salt is `sample_bucket(key) < sample_rate()`. The key is used as given (the key
   * extractor is not applied).
   */
  [[nodiscard]] bool should_shadow(std::span<const std::byte> key) const noexcept {
    return should_shadow(key, rate_ppm_);
  }

  /// Whether the request with this text key is shadowed.
  [[nodiscard]] bool should_shadow(std::string_view key) const noexcept {
    return should_shadow(std::as_bytes(std::span(key.data(), key.size())));
  }

  /// Whether the request with this key is shadowed at `rate_ppm` instead of the configured rate.
  [[nodiscard]] bool should_shadow(std::span<const std::byte> key,
                                   std::uint32_t rate_ppm) const noexcept {
    if (rate_ppm == 0) return false;
    if (rate_ppm >= full_rate_ppm) return true;
    const auto head = sample_hash(key, std::as_bytes(std::span(salt_.data(), salt_.size())));
    return head && sampled_at(*head, rate_ppm);
  }

 private:
  std::uint32_t rate_ppm_ = full_rate_ppm;
  std::chrono::steady_clock::duration timeout_ = default_shadow_timeout;
  IgnoreField ignored_ = IgnoreField::None;
  std::size_t max_in_flight_ = default_max_in_flight_shadows;
  net::any_io_executor shadow_executor_;
  std::string salt_;
  KeyExtractor extractor_;
  RequestFilter filter_;
  RequestRewrite rewrite_;
  std::optional<RateCap> rate_cap_;
  std::vector<std::string> ignored_headers_;
  bool raise_on_mismatch_ = false;
  bool latency_histograms_ = false;
  bool start_shadow_after_primary_ = false;
  bool compare_framing_headers_ = false;
  std::optional<AutoStop> auto_stop_;
  std::optional<NoiseCancellation> noise_;
  PointerPatterns ignored_pointers_;
  std::vector<BodyNormalizer> normalizers_;
  std::vector<BodyComparator> comparators_;
};

}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_CONFIG_HPP
