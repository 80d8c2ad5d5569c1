// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_FUZZ_SUPPORT_HPP
#define REQUEST_SHADOW_FUZZ_SUPPORT_HPP

/// @file
/// What the fuzz targets share: reading an input front to back, and reporting a broken
/// invariant.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

/// Marks a function of a target's own checking code (a reference model, a parser of the output):
/// libFuzzer does not trace its branches, so that the search follows the library's code, and the
/// checks run faster.
#define REQUEST_SHADOW_FUZZ_ORACLE [[clang::no_sanitize("coverage")]]

namespace request_shadow::fuzz {

/// Print the broken invariant (and a detail, escaped) to stderr and abort: libFuzzer then saves
/// the input as a crash.
[[noreturn]] inline void fail(std::string_view invariant, std::string_view detail = {}) {
  std::fprintf(stderr, "\n==== invariant violated: %.*s\n", static_cast<int>(invariant.size()),
               invariant.data());
  if (!detail.empty()) {
    constexpr std::size_t shown = 2000;
    std::fputs("     detail: ", stderr);
    for (const char ch : detail.substr(0, shown)) {
      const auto c = static_cast<unsigned char>(ch);
      if (c >= 0x20 && c < 0x7f && c != '\\') {
        std::fputc(c, stderr);
      } else {
        std::fprintf(stderr, "\\x%02x", c);
      }
    }
    if (detail.size() > shown) std::fprintf(stderr, "... (%zu bytes in all)", detail.size());
    std::fputc('\n', stderr);
  }
  std::abort();
}

/// `fail(invariant, detail)` unless `ok`.
inline void require(bool ok, std::string_view invariant, std::string_view detail = {}) {
  if (!ok) fail(invariant, detail);
}

/// Reads a fuzzer's input front to back, so that seeds can be written by hand.
/**
 * - `byte()` is the next byte (0 past the end);
 * - `text()` is the bytes up to the next backslash that is followed by anything but a
 *   backslash: `\\` stands for one backslash, and the two bytes `\` + any other byte end the
 *   field (`{"a":1}\|{"a":2}` is the two fields `{"a":1}` and `{"a":2}`). The end of the
 *   input ends the last field. As libFuzzer's `FuzzedDataProvider::ConsumeRandomLengthString`,
 *   but from the front.
 */
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) noexcept
      : rest_(reinterpret_cast<const char*>(data), size) {}

  [[nodiscard]] bool empty() const noexcept { return rest_.empty(); }

  std::uint8_t byte() noexcept {
    if (rest_.empty()) return 0;
    const auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }

  std::uint16_t u16() noexcept {
    const auto hi = static_cast<unsigned>(byte());
    return static_cast<std::uint16_t>(hi << 8U | byte());
  }

  std::uint64_t u64() noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8U | byte();
    return v;
  }

  std::string text() {
    std::string out;
    while (!rest_.empty()) {
      const char c = rest_.front();
      rest_.remove_prefix(1);
      if (c != '\\') {
        out += c;
        continue;
      }
      if (rest_.empty()) break;
      const char next = rest_.front();
      rest_.remove_prefix(1);
      if (next != '\\') break;
      out += '\\';
    }
    return out;
  }

 private:
  std::string_view rest_;
};

}  // namespace request_shadow::fuzz

#endif  // REQUEST_SHADOW_FUZZ_SUPPORT_HPP
