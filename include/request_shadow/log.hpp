// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_LOG_HPP
#define REQUEST_SHADOW_LOG_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <request_shadow/divergence.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace request_shadow {

/// One logged divergence: when, for which request key, and what differed.
struct DivergenceEntry {
  /// The first `DivergenceLog::max_key_bytes` bytes of the request key.
  std::string key;
  /// The full length of the request key; larger than `key.size()` when it was capped.
  std::size_t key_size = 0;
  /// When the divergence was logged.
  std::chrono::system_clock::time_point at{};
  /// What differed.
  Divergence divergence;
};

/// A bounded, thread-safe ring buffer of the most recent divergences.
/**
 * Holds at most `capacity()` entries and drops the oldest first; capacity 0 keeps nothing.
 * Each entry keeps at most `max_key_bytes` bytes of its key, so a huge request cannot make the
 * log grow past about `capacity() * max_key_bytes` bytes plus the divergences (whose size
 * depends only on the number of differing header names). `push` and `snapshot` may be called
 * from any thread; they take one short lock.
 */
class DivergenceLog {
 public:
  /// The capacity of a default-constructed log.
  static constexpr std::size_t default_capacity = 128;
  /// How many bytes of a request key an entry keeps.
  static constexpr std::size_t max_key_bytes = 256;

  /// Make a log that keeps the `capacity` most recent divergences.
  explicit DivergenceLog(std::size_t capacity = default_capacity) : capacity_(capacity) {
    entries_.reserve(std::min<std::size_t>(capacity, default_capacity));
  }

  /// Record a divergence for the request with this key, dropping the oldest entry when full.
  void push(std::span<const std::byte> key, Divergence divergence) {
    std::lock_guard lock(mutex_);
    ++total_;
    if (capacity_ == 0) return;
    const std::size_t kept = std::min(key.size(), max_key_bytes);
    DivergenceEntry entry{std::string(reinterpret_cast<const char*>(key.data()), kept), key.size(),
                          std::chrono::system_clock::now(), std::move(divergence)};
    if (entries_.size() < capacity_) {
      entries_.push_back(std::move(entry));
    } else {
      entries_[next_] = std::move(entry);
      next_ = (next_ + 1) % capacity_;
    }
  }

  /// Record a divergence for the request with this text key.
  void push(std::string_view key, Divergence divergence) {
    push(std::as_bytes(std::span(key.data(), key.size())), std::move(divergence));
  }

  /// A copy of the entries, oldest first.
  [[nodiscard]] std::vector<DivergenceEntry> snapshot() const {
    std::lock_guard lock(mutex_);
    std::vector<DivergenceEntry> out;
    out.reserve(entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      out.push_back(entries_[(next_ + i) % entries_.size()]);
    }
    return out;
  }

  /// The number of entries held now (at most `capacity()`).
  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

  /// The most entries this log holds.
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  /// How many divergences were ever pushed, including dropped ones.
  [[nodiscard]] std::uint64_t total_pushed() const {
    std::lock_guard lock(mutex_);
    return total_;
  }

 private:
  mutable std::mutex mutex_;
  const std::size_t capacity_;
  std::vector<DivergenceEntry> entries_;
  std::size_t next_ = 0;  // oldest entry once the buffer is full
  std::uint64_t total_ = 0;
};

}  // namespace request_shadow

#endif  // REQUEST_SHADOW_LOG_HPP
