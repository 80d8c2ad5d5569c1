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
#include <request_shadow/divergence.hpp>
#include <request_shadow/pointer.hpp>
#include <request_shadow/stats.hpp>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace request_shadow::detail {

// What a comparison ignores: the config's headers and pointers plus the noise learned so far.
struct IgnoreRules {
  std::vector<std::string> headers;  // lower-cased, sorted
  PointerPatterns pointers;
};

// Learns which headers and JSON pointers are noise, from divergences between the primary and a
// second primary answer, and takes noise out of the shadow's divergences.
class NoiseTracker {
 public:
  NoiseTracker(NoiseCancellation rule, const ShadowConfig& config)
      : rule_(rule),
        rules_(std::make_shared<const IgnoreRules>(
            IgnoreRules{config.ignored_headers(), config.ignored_pointers()})) {}

  // The ignore rules in force now.
  [[nodiscard]] std::shared_ptr<const IgnoreRules> rules() const {
    std::lock_guard lock(mutex_);
    return rules_;
  }

  // Whether a secondary answer can tell noise from real differences: it has the primary's
  // status and `ok` flag, and its body is of the same kind at the root. (`noise` is the
  // divergence between the primary and the secondary.)
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

  // Count every site of a usable primary-vs-secondary divergence once; headers, and pointers
  // whose value changed, that reach the threshold join the ignore rules. A pointer that was
  // added, removed or changed type, and a byte body, are never ignored for good.
  void observe(const Divergence& noise) {
    struct Site {
      NoiseKind kind;
      std::string name;
      bool value_only;  // only a value changed there: it may be ignored for good
    };
    std::vector<Site> sites;
    if (noise.headers) {
      for (const auto* list :
           {&noise.headers->added, &noise.headers->removed, &noise.headers->changed}) {
        for (const auto& name : *list) sites.push_back({NoiseKind::Header, name, true});
      }
    }
    if (noise.body) {
      if (noise.body->fields.empty()) {
        sites.push_back({NoiseKind::Body, "body", false});
      } else {
        for (const auto& f : noise.body->fields) {
          sites.push_back(
              {NoiseKind::Pointer, fold_indices(f.pointer), f.change == FieldChange::Changed});
        }
      }
    }
    // One count per site and call; a site is structural if any of its differences is.
    std::sort(sites.begin(), sites.end(), [](const Site& a, const Site& b) {
      return std::tie(a.kind, a.name, a.value_only) < std::tie(b.kind, b.name, b.value_only);
    });
    sites.erase(std::unique(sites.begin(), sites.end(),
                            [](const Site& a, const Site& b) {
                              return a.kind == b.kind && a.name == b.name;
                            }),
                sites.end());

    std::lock_guard lock(mutex_);
    std::shared_ptr<IgnoreRules> next;
    for (auto& site : sites) {
      auto key = std::make_pair(site.kind, std::move(site.name));
      auto it = counts_.find(key);
      if (it == counts_.end()) {
        if (counts_.size() >= rule_.max_tracked) continue;
        it = counts_.emplace(std::move(key), Count{}).first;
      }
      Count& c = it->second;
      ++c.count;
      c.structural = c.structural || !site.value_only;
      if (c.ignored || c.structural || rule_.auto_ignore_after == 0 ||
          c.count < rule_.auto_ignore_after) {
        continue;
      }
      c.ignored = true;
      if (!next) next = std::make_shared<IgnoreRules>(*rules_);
      const std::string& name = it->first.second;
      if (it->first.first == NoiseKind::Header) {
        const auto at = std::lower_bound(next->headers.begin(), next->headers.end(), name);
        if (at == next->headers.end() || *at != name) next->headers.insert(at, name);
      } else {
        next->pointers.add(name);
      }
    }
    if (next) rules_ = std::move(next);
  }

  // The counts, most frequent first.
  [[nodiscard]] std::vector<NoiseCount> snapshot() const {
    std::vector<NoiseCount> out;
    {
      std::lock_guard lock(mutex_);
      out.reserve(counts_.size());
      for (const auto& [site, c] : counts_) {
        out.push_back(NoiseCount{site.first, site.second, c.count, c.ignored});
      }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const NoiseCount& a, const NoiseCount& b) { return a.count > b.count; });
    return out;
  }

  // Move the parts of `d` that also differ in a usable `noise` into `cancelled`: the same header
  // names, the same folded pointers, or a byte body against a byte body. Returns whether any
  // did.
  static bool cancel(Divergence& d, const Divergence& noise, Divergence& cancelled) {
    bool any = false;
    if (d.headers && noise.headers) {
      const HeaderDiff& n = *noise.headers;
      auto noisy = [&n](const std::string& name) {
        for (const auto* list : {&n.added, &n.removed, &n.changed}) {
          if (std::binary_search(list->begin(), list->end(), name)) return true;
        }
        return false;
      };
      HeaderDiff moved;
      for (auto list : {&HeaderDiff::added, &HeaderDiff::removed, &HeaderDiff::changed}) {
        auto& from = (*d.headers).*list;
        auto split = std::stable_partition(from.begin(), from.end(),
                                           [&noisy](const std::string& x) { return !noisy(x); });
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
    if (d.body && noise.body) {
      const auto plain_bytes = [](const BodyDiff& b) {
        return b.fields.empty() && b.format.empty() && b.fallback.empty();
      };
      if (d.body->fields.empty()) {
        // Bytes against bytes: the whole body is noisy. Not when either was meant to be read
        // by a comparator (it failed, or listed nothing): that says nothing of the bytes.
        if (plain_bytes(*d.body) && plain_bytes(*noise.body)) {
          cancelled.body = std::exchange(d.body, std::nullopt);
          any = true;
        }
      } else if (!noise.body->fields.empty()) {
        // Exactly the same places: noise at a pointer says nothing of what is inside it.
        std::vector<std::string> noisy;
        noisy.reserve(noise.body->fields.size());
        for (const auto& f : noise.body->fields) noisy.push_back(fold_indices(f.pointer));
        std::sort(noisy.begin(), noisy.end());
        auto& fields = d.body->fields;
        auto split =
            std::stable_partition(fields.begin(), fields.end(), [&noisy](const FieldDiff& f) {
              return !std::binary_search(noisy.begin(), noisy.end(), fold_indices(f.pointer));
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
  struct Count {
    std::uint64_t count = 0;
    bool ignored = false;
    bool structural = false;  // added, removed or of another type at least once: never ignored
  };
  const NoiseCancellation rule_;
  mutable std::mutex mutex_;
  std::shared_ptr<const IgnoreRules> rules_;
  std::map<std::pair<NoiseKind, std::string>, Count> counts_;
};

}  // namespace request_shadow::detail

#endif  // REQUEST_SHADOW_DETAIL_NOISE_HPP
