// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_NOISE_HPP
#define REQUEST_SHADOW_DETAIL_NOISE_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <request_shadow/config.hpp>
#include <request_shadow/detail/flavour.hpp>
#include <request_shadow/detail/noise_rates.hpp>
#include <request_shadow/divergence.hpp>
#include <request_shadow/pointer.hpp>
#include <request_shadow/stats.hpp>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// What a comparison ignores: the config's headers and pointers plus the noise learned so far.
struct IgnoreRules {
  std::vector<std::string> headers;        // the config's, lower-cased, sorted: any difference
  PointerPatterns pointers;                // the config's patterns and the learned value places
  std::vector<std::string> value_headers;  // learned, sorted: only a changed value is ignored
};

// What `NoiseTracker::compare` found.
struct NoiseComparison {
  std::optional<Divergence> divergence;     // what is left of the primary-vs-shadow divergence
  std::shared_ptr<const Divergence> noise;  // what was cancelled as noise, or null
  bool probed = false;                      // the secondary answered and was a reference
};

// Learns which headers and JSON pointers are noise, from divergences between the primary and a
// second primary answer, and takes noise out of the shadow's divergences.
//
// A difference is noise only where the secondary shows the same kind of difference at the same
// place: the same header name in the same list (added, removed, changed), the same pointer,
// read literally but for digit-only tokens (see `place_key`), with the same `FieldChange`, or a
// byte body against a byte body. Beyond the call, a change of value is cancelled at a place
// that its rates judge noise (see `NoiseCancellation`), or that `auto_ignore_after` learned for
// good: never an addition, a removal or a change of type, nor anything inside it.
class NoiseTracker {
 public:
  NoiseTracker(NoiseCancellation rule, const ShadowConfig& config)
      : rule_(rule),
        clock_(rule.window),
        rules_(std::make_shared<const IgnoreRules>(
            IgnoreRules{config.ignored_headers(), config.ignored_pointers(), {}})) {}

  // The ignore rules in force now.
  [[nodiscard]] std::shared_ptr<const IgnoreRules> rules() const {
    std::lock_guard lock(mutex_);
    return rules_;
  }

  // Compare the primary with the shadow under the rules in force; with a `secondary` that is a
  // usable reference, learn from it and take the differences it shares out of the divergence;
  // with or without one, take out the changes of value at places judged noise by their rates.
  [[nodiscard]] NoiseComparison compare(const ShadowConfig& config, const ResponseRecord& primary,
                                        const ResponseRecord& shadow,
                                        const ResponseRecord* secondary) {
    const auto in_force = rules();
    NoiseComparison out;
    out.divergence = diverge(config, *in_force, primary, shadow);
    std::optional<Divergence> noise;
    if (secondary != nullptr && usable(primary, *secondary)) {
      noise = diverge(config, *in_force, primary, *secondary);
      out.probed = !noise || usable(*noise);
    }
    if (!out.probed) noise.reset();
    if (!out.probed && !out.divergence) return out;
    const auto judged =
        observe(out.probed, noise ? &*noise : nullptr, out.divergence ? &*out.divergence : nullptr);
    if (!out.divergence || (!noise && judged.empty())) return out;
    Divergence cancelled;
    if (!cancel(*out.divergence, noise ? &*noise : nullptr, judged, cancelled)) return out;
    out.noise = std::make_shared<const Divergence>(std::move(cancelled));
    if (!out.divergence->status && !out.divergence->headers && !out.divergence->body)
      out.divergence.reset();
    return out;
  }

  // Whether a secondary answer can be a reference at all: it has the primary's status and `ok`
  // flag, whatever the config ignores (a 429 or a 503 beside a 200 says nothing of noise).
  [[nodiscard]] static bool usable(const ResponseRecord& primary,
                                   const ResponseRecord& secondary) noexcept {
    return secondary.status == primary.status && secondary.ok == primary.ok;
  }

  // Whether the divergence between the primary and a secondary of the same status can tell
  // noise from real differences: its body is of the same kind at the root and was read by the
  // comparator that reads the primary's.
  [[nodiscard]] static bool usable(const Divergence& noise) noexcept {
    if (noise.status) return false;
    // A body the comparator could not read (not JSON, say) is another kind of document too.
    if (noise.body && !noise.body->fallback.empty()) return false;
    if (noise.body) {
      for (const auto& f : noise.body->fields) {
        if (f.pointer.empty()) return false;
      }
    }
    return true;
  }

  // The places judged noise by their rates, sorted: (kind, `place_key`) for a pointer, (kind,
  // name) for a header.
  using Judged = std::vector<std::pair<NoiseKind, std::string>>;

  // With `probed`, number the call in the window and count its places: every site of the
  // primary-vs-secondary divergence `noise` (if any) once, and, at the places tracked, whether
  // the `shadow` divergence differs there. A place the secondary differs at is tracked from the
  // next probed call, while fewer than `max_tracked` are. A header whose value changed, or a
  // pointer whose value changed, that reaches `auto_ignore_after`, and was never found added,
  // removed or of another type, joins the ignore rules for changes of value there. A byte body
  // is never ignored for good. Returns the places of `shadow` judged noise by their rates now.
  Judged observe(bool probed, const Divergence* noise, const Divergence* shadow) {
    std::vector<Site> secondary_sites = noise ? sites_of(*noise) : std::vector<Site>{};
    const Judged shadow_places = shadow ? places_of(*shadow) : Judged{};
    const auto before = [](const Site& a, const std::pair<NoiseKind, std::string>& b) {
      return std::tie(a.kind, a.key) < std::tie(b.first, b.second);
    };
    Judged judged;

    std::lock_guard lock(mutex_);
    if (probed) {
      const std::uint64_t probe = clock_.tick();
      std::shared_ptr<IgnoreRules> next;
      // The secondary's places, then the shadow's that the secondary did not show.
      for (auto& site : secondary_sites) {
        auto key = std::make_pair(site.kind, site.key);
        const bool shadow_too = std::binary_search(shadow_places.begin(), shadow_places.end(), key);
        auto it = counts_.find(key);
        if (it == counts_.end()) {
          if (counts_.size() >= rule_.max_tracked) continue;
          // The window starts after this call: it was picked for its difference.
          it = counts_
                   .emplace(std::move(key), Count{std::move(site.name), std::move(site.pointer),
                                                  PlaceRates(probe + 1)})
                   .first;
        }
        Count& c = it->second;
        c.rates.record(clock_, probe, shadow_too, true);
        ++c.count;
        c.structural = c.structural || !site.value_only;
        if (c.ignored || c.structural || rule_.auto_ignore_after == 0 ||
            c.count < rule_.auto_ignore_after) {
          continue;
        }
        c.ignored = true;
        if (!next) next = std::make_shared<IgnoreRules>(*rules_);
        if (it->first.first == NoiseKind::Header) {
          auto& names = next->value_headers;
          const auto at = std::lower_bound(names.begin(), names.end(), c.name);
          if (at == names.end() || *at != c.name) names.insert(at, c.name);
        } else {
          next->pointers.add_value_place(c.pointer);
        }
      }
      if (next) rules_ = std::move(next);
      for (const auto& place : shadow_places) {
        const auto at =
            std::lower_bound(secondary_sites.begin(), secondary_sites.end(), place, before);
        if (at != secondary_sites.end() && at->kind == place.first && at->key == place.second) {
          continue;  // counted above
        }
        const auto it = counts_.find(place);
        if (it != counts_.end()) it->second.rates.record(clock_, probe, true, false);
      }
    }
    for (const auto& place : shadow_places) {
      if (place.first == NoiseKind::Body) continue;
      const auto it = counts_.find(place);
      if (it != counts_.end() && noise_now(place.first, it->second)) judged.push_back(place);
    }
    return judged;
  }

  // The counts, most frequent first.
  [[nodiscard]] std::vector<NoiseCount> snapshot() const {
    std::vector<NoiseCount> out;
    {
      std::lock_guard lock(mutex_);
      out.reserve(counts_.size());
      for (const auto& [site, c] : counts_) {
        const PlaceWindow w = c.rates.read(clock_);
        out.push_back(NoiseCount{site.first, c.name, c.count, c.ignored, w.requests, w.shadow,
                                 w.secondary, noise_now(site.first, c)});
      }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const NoiseCount& a, const NoiseCount& b) { return a.count > b.count; });
    return out;
  }

  // Move the parts of `d` that a usable `noise` (if any) shows too, as the same kind of
  // difference at the same place, into `cancelled`: a header name in the same list, a pointer
  // (see `place_key`) with the same change, or a byte body against a byte body; and the changes
  // of value at the places `judged` noise by their rates. Returns whether any did.
  static bool cancel(Divergence& d, const Divergence* noise, const Judged& judged,
                     Divergence& cancelled) {
    bool any = false;
    const auto is_judged = [&judged](NoiseKind kind, const std::string& key) {
      return std::binary_search(judged.begin(), judged.end(), std::make_pair(kind, key));
    };
    static const std::vector<std::string> none;
    if (d.headers && ((noise && noise->headers) || !judged.empty())) {
      HeaderDiff moved;
      for (auto list : {&HeaderDiff::added, &HeaderDiff::removed, &HeaderDiff::changed}) {
        const auto& noisy = noise && noise->headers ? (*noise->headers).*list : none;
        const bool value = list == &HeaderDiff::changed;
        auto& from = (*d.headers).*list;
        auto split = std::stable_partition(from.begin(), from.end(), [&](const std::string& x) {
          return !std::binary_search(noisy.begin(), noisy.end(), x) &&
                 !(value && is_judged(NoiseKind::Header, x));
        });
        std::move(split, from.end(), std::back_inserter(moved.*list));
        from.erase(split, from.end());
      }
      if (!moved.added.empty() || !moved.removed.empty() || !moved.changed.empty()) {
        cancelled.headers = std::move(moved);
        any = true;
        if (d.headers->added.empty() && d.headers->removed.empty() && d.headers->changed.empty())
          d.headers.reset();
      }
    }
    const Divergence* const noise_body = noise && noise->body ? noise : nullptr;
    if (d.body && (noise_body || !judged.empty())) {
      const auto plain_bytes = [](const BodyDiff& b) {
        return b.fields.empty() && b.format.empty() && b.fallback.empty();
      };
      if (d.body->fields.empty()) {
        // Bytes against bytes: the whole body is noisy. Not when either was meant to be read
        // by a comparator (it failed, or listed nothing): that says nothing of the bytes.
        if (noise_body && plain_bytes(*d.body) && plain_bytes(*noise_body->body)) {
          cancelled.body = std::exchange(d.body, std::nullopt);
          any = true;
        }
      } else if ((noise_body && !noise_body->body->fields.empty()) || !judged.empty()) {
        // Exactly the same places and kinds: noise at a pointer says nothing of what is inside
        // it, and a changed value nothing of a removal there.
        std::vector<std::pair<std::string, FieldChange>> noisy;
        if (noise_body) {
          noisy.reserve(noise_body->body->fields.size());
          for (const auto& f : noise_body->body->fields) {
            noisy.emplace_back(place_key(f.pointer), f.change);
          }
          std::sort(noisy.begin(), noisy.end());
        }
        auto& fields = d.body->fields;
        auto split = std::stable_partition(fields.begin(), fields.end(), [&](const FieldDiff& f) {
          auto place = std::make_pair(place_key(f.pointer), f.change);
          if (std::binary_search(noisy.begin(), noisy.end(), place)) return false;
          return !(f.change == FieldChange::Changed && is_judged(NoiseKind::Pointer, place.first));
        });
        if (split != fields.end()) {
          BodyDiff moved = *d.body;
          moved.fields.assign(std::make_move_iterator(split),
                              std::make_move_iterator(fields.end()));
          moved.fields_truncated = false;
          fields.erase(split, fields.end());
          cancelled.body = std::move(moved);
          any = true;
          if (fields.empty() && !d.body->fields_truncated) d.body.reset();
        }
      }
    }
    return any;
  }

 private:
  // One place a divergence differs at.
  struct Site {
    NoiseKind kind;
    std::string key;      // the place, as matched (see `place_key`)
    std::string name;     // the place, as shown
    std::string pointer;  // one pointer to it as reported
    bool value_only;      // only a value changed there
  };

  struct Count {
    std::string name;     // as shown: a header name, a folded pointer, `body`
    std::string pointer;  // the first pointer seen there, for a learned value place
    PlaceRates rates;     // over the window
    std::uint64_t count = 0;
    bool ignored = false;
    bool structural = false;  // added, removed or of another type at least once: never ignored
  };

  // The places `d` differs at, each once, sorted by kind and key; a place is structural if any
  // of its differences is.
  static std::vector<Site> sites_of(const Divergence& d) {
    std::vector<Site> sites;
    if (d.headers) {
      for (const auto* list : {&d.headers->added, &d.headers->removed}) {
        for (const auto& name : *list) sites.push_back({NoiseKind::Header, name, name, {}, false});
      }
      for (const auto& name : d.headers->changed) {
        sites.push_back({NoiseKind::Header, name, name, {}, true});
      }
    }
    if (d.body) {
      if (d.body->fields.empty()) {
        sites.push_back({NoiseKind::Body, "body", "body", {}, false});
      } else {
        for (const auto& f : d.body->fields) {
          sites.push_back({NoiseKind::Pointer, place_key(f.pointer), fold_indices(f.pointer),
                           f.pointer, f.change == FieldChange::Changed});
        }
      }
    }
    // The sort puts the structural difference of a place first, and `unique` keeps the first.
    std::sort(sites.begin(), sites.end(), [](const Site& a, const Site& b) {
      return std::tie(a.kind, a.key, a.value_only) < std::tie(b.kind, b.key, b.value_only);
    });
    sites.erase(std::unique(sites.begin(), sites.end(),
                            [](const Site& a, const Site& b) {
                              return a.kind == b.kind && a.key == b.key;
                            }),
                sites.end());
    return sites;
  }

  // The places `d` differs at, each once, sorted: where `sites_of` finds them, without names.
  static Judged places_of(const Divergence& d) {
    Judged places;
    if (d.headers) {
      for (const auto* list : {&d.headers->added, &d.headers->removed, &d.headers->changed}) {
        for (const auto& name : *list) places.emplace_back(NoiseKind::Header, name);
      }
    }
    if (d.body) {
      if (d.body->fields.empty()) {
        places.emplace_back(NoiseKind::Body, "body");
      } else {
        for (const auto& f : d.body->fields) {
          places.emplace_back(NoiseKind::Pointer, place_key(f.pointer));
        }
      }
    }
    std::sort(places.begin(), places.end());
    places.erase(std::unique(places.begin(), places.end()), places.end());
    return places;
  }

  // Whether the changes of value at `c`, a place of `kind`, are noise now, by its rates. Under
  // the lock.
  [[nodiscard]] bool noise_now(NoiseKind kind, const Count& c) const noexcept {
    return kind != NoiseKind::Body && !c.structural && !c.ignored &&
           judged_noise(rule_, c.rates.read(clock_));
  }

  // The divergence between the primary and `other` under `rules`: the learned headers hide
  // only their changed values.
  static std::optional<Divergence> diverge(const ShadowConfig& config, const IgnoreRules& rules,
                                           const ResponseRecord& primary,
                                           const ResponseRecord& other) {
    auto d = Divergence::compare(primary, other, config, rules.headers, rules.pointers);
    if (!d || !d->headers || rules.value_headers.empty()) return d;
    std::erase_if(d->headers->changed, [&rules](const std::string& name) {
      return std::binary_search(rules.value_headers.begin(), rules.value_headers.end(), name);
    });
    if (d->headers->added.empty() && d->headers->removed.empty() && d->headers->changed.empty())
      d->headers.reset();
    if (!d->status && !d->headers && !d->body) return std::nullopt;
    return d;
  }

  const NoiseCancellation rule_;
  mutable std::mutex mutex_;
  ProbeClock clock_;  // under the lock
  std::shared_ptr<const IgnoreRules> rules_;
  std::map<std::pair<NoiseKind, std::string>, Count> counts_;
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_NOISE_HPP
