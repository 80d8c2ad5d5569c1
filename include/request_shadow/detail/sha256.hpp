// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_SHA256_HPP
#define REQUEST_SHADOW_DETAIL_SHA256_HPP

// SHA-256 for the sampler, and the library's only door to OpenSSL.
//
// Three implementations of the same function (FIPS 180-4 SHA-256), so a key's bucket never
// depends on the machine; the tests check each against OpenSSL's one-shot `SHA256()` and the
// NIST vectors. `sha256` picks one (figures for a 16-byte / 4 KB key on one core of a 2.3 GHz
// Xeon, where a memcmp of 4 KB takes 60 ns):
// - `sha256_sha_ni`, our own code on the x86 SHA extensions, when cpuid (asked once) reports
//   them: AMD since Zen, Intel since Goldmont and Ice Lake. 43 ns / 2.9 us. OpenSSL runs the
//   same instructions, but its EVP layer costs about 90 ns more per digest (a context reset, a
//   provider dispatch, its own buffering): 133 ns / 3.0 us. So OpenSSL is off the hot path here.
// - `sha256_openssl` (EVP) everywhere else: its assembly (AVX2 on older x86, the ARMv8 SHA-2
//   instructions) beats portable C++ on all but one-block keys: 300 ns / 11.1 us with the SHA
//   extensions masked (`OPENSSL_ia32cap=:~0x20000000`), against 292 ns / 17.4 us.
// - `sha256_scalar`, portable C++, if OpenSSL fails (out of memory): a digest never fails.

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <request_shadow/detail/flavour.hpp>
#include <span>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define REQUEST_SHADOW_SHA_NI 1
#else
#define REQUEST_SHADOW_SHA_NI 0
#endif

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

/// A SHA-256 digest.
using Sha256Digest = std::array<unsigned char, 32>;

/// The eight 32-bit words of SHA-256's chaining state, `a` to `h`.
using Sha256State = std::array<std::uint32_t, 8>;

/// SHA-256's round constants (FIPS 180-4, 4.2.2).
inline constexpr std::array<std::uint32_t, 64> sha256_k = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
inline constexpr Sha256State sha256_initial = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

/// Hash `blocks` 64-byte blocks at `data` into `state`, in portable C++.
inline void sha256_blocks_scalar(Sha256State& state, const unsigned char* data,
                                 std::size_t blocks) noexcept {
  for (; blocks > 0; --blocks, data += 64) {
    std::array<std::uint32_t, 64> w;
    for (std::size_t i = 0; i < 16; ++i) {
      const unsigned char* p = data + 4 * i;
      w[i] = (std::uint32_t{p[0]} << 24U) | (std::uint32_t{p[1]} << 16U) |
             (std::uint32_t{p[2]} << 8U) | std::uint32_t{p[3]};
    }
    for (std::size_t i = 16; i < 64; ++i) {
      const std::uint32_t s0 =
          std::rotr(w[i - 15], 7) ^ std::rotr(w[i - 15], 18) ^ (w[i - 15] >> 3U);
      const std::uint32_t s1 =
          std::rotr(w[i - 2], 17) ^ std::rotr(w[i - 2], 19) ^ (w[i - 2] >> 10U);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    std::uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (std::size_t i = 0; i < 64; ++i) {
      const std::uint32_t s1 = std::rotr(e, 6) ^ std::rotr(e, 11) ^ std::rotr(e, 25);
      const std::uint32_t t1 = h + s1 + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
      const std::uint32_t s0 = std::rotr(a, 2) ^ std::rotr(a, 13) ^ std::rotr(a, 22);
      const std::uint32_t t2 = s0 + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
  }
}

/// The function that hashes whole 64-byte blocks into a state.
using Sha256Blocks = void (*)(Sha256State&, const unsigned char*, std::size_t) noexcept;

/// Write the digest of a final `state`.
inline void sha256_digest_of(const Sha256State& state, Sha256Digest& out) noexcept {
  for (std::size_t i = 0; i < 8; ++i) {
    out[4 * i] = static_cast<unsigned char>(state[i] >> 24U);
    out[4 * i + 1] = static_cast<unsigned char>(state[i] >> 16U);
    out[4 * i + 2] = static_cast<unsigned char>(state[i] >> 8U);
    out[4 * i + 3] = static_cast<unsigned char>(state[i]);
  }
}

/// SHA-256 of `prefix` followed by `data`, hashing whole blocks with `Blocks` and the rest
/// through a buffer.
template <Sha256Blocks Blocks>
inline void sha256_with(std::span<const std::byte> prefix, std::span<const std::byte> data,
                        Sha256Digest& out) noexcept {
  Sha256State state = sha256_initial;
  std::array<unsigned char, 128> tail;  // the block being filled, then the padding
  std::size_t buffered = 0;
  const std::uint64_t bits = (std::uint64_t{prefix.size()} + data.size()) * 8U;
  for (const std::span<const std::byte> part : {prefix, data}) {
    const auto* p = reinterpret_cast<const unsigned char*>(part.data());
    std::size_t n = part.size();
    if (buffered > 0 && n > 0) {  // top up the block a previous part began
      const std::size_t take = std::min(n, 64 - buffered);
      std::memcpy(tail.data() + buffered, p, take);
      buffered += take;
      p += take;
      n -= take;
      if (buffered == 64) {
        Blocks(state, tail.data(), 1);
        buffered = 0;
      }
    }
    if (n >= 64) {  // whole blocks straight from the input
      Blocks(state, p, n / 64);
      p += n / 64 * 64;
      n %= 64;
    }
    if (n > 0) {
      std::memcpy(tail.data() + buffered, p, n);
      buffered += n;
    }
  }
  // Padding: 0x80, zeros, the length in bits big-endian, in one block or two.
  const std::size_t end = buffered < 56 ? 64 : 128;
  std::memset(tail.data() + buffered, 0, end - buffered);
  tail[buffered] = 0x80;
  for (std::size_t i = 0; i < 8; ++i) {
    tail[end - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
  }
  Blocks(state, tail.data(), end / 64);
  sha256_digest_of(state, out);
}

/// SHA-256 of `prefix` followed by `data`, in portable C++.
inline void sha256_scalar(std::span<const std::byte> prefix, std::span<const std::byte> data,
                          Sha256Digest& out) noexcept {
  sha256_with<sha256_blocks_scalar>(prefix, data, out);
}

#if REQUEST_SHADOW_SHA_NI
// Every function that uses the SHA extensions is compiled for them, whatever the build's -march;
// `sha256` calls them only on a CPU that has them.
#define REQUEST_SHADOW_SHA_NI_TARGET __attribute__((target("sha,sse4.1")))

/// The `pshufb` mask that reverses the bytes of each 32-bit lane.
REQUEST_SHADOW_SHA_NI_TARGET inline __m128i sha_ni_byte_swap() noexcept {
  return _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
}

/// Hash one block, its message words in `w0`..`w3` (four each, in order), into the state held
/// as ABEF and CDGH, the order `sha256rnds2` wants.
/**
 * Each `sha256rnds2` does two rounds; `sha256msg1` and `sha256msg2` extend the message schedule
 * four words at a time, as in Intel's reference ("New Instructions Supporting the Secure Hash
 * Algorithm on Intel Architecture Processors", 2013). The 32 `sha256rnds2` form one chain of
 * dependencies: about 45 ns a block at 2.3 GHz, whatever the rest costs.
 */
REQUEST_SHADOW_SHA_NI_TARGET inline void sha_ni_block(__m128i& abef, __m128i& cdgh, __m128i w0,
                                                      __m128i w1, __m128i w2, __m128i w3) noexcept {
  const __m128i abef_in = abef;
  const __m128i cdgh_in = cdgh;
  // w[q % 4] holds the message words of rounds 4q..4q+3 once quad q starts. A C array:
  // std::array<__m128i, 4> drops the type's vector attributes.
  __m128i w[4] = {w0, w1, w2, w3};  // NOLINT(modernize-avoid-c-arrays)
#pragma GCC unroll 16
  for (std::size_t q = 0; q < 16; ++q) {
    __m128i wk = _mm_add_epi32(
        w[q % 4], _mm_loadu_si128(reinterpret_cast<const __m128i*>(sha256_k.data() + 4 * q)));
    cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
    if (q >= 3 && q < 15) {  // the words of quad q + 1, from quads q - 3 .. q
      const __m128i next =
          _mm_add_epi32(w[(q + 1) % 4], _mm_alignr_epi8(w[q % 4], w[(q + 3) % 4], 4));
      w[(q + 1) % 4] = _mm_sha256msg2_epu32(next, w[q % 4]);
    }
    wk = _mm_shuffle_epi32(wk, 0x0E);
    abef = _mm_sha256rnds2_epu32(abef, cdgh, wk);
    if (q >= 1 && q < 13) w[(q + 3) % 4] = _mm_sha256msg1_epu32(w[(q + 3) % 4], w[q % 4]);
  }
  abef = _mm_add_epi32(abef, abef_in);
  cdgh = _mm_add_epi32(cdgh, cdgh_in);
}

/// Load `state` as ABEF and CDGH.
REQUEST_SHADOW_SHA_NI_TARGET inline void sha_ni_load_state(const Sha256State& state, __m128i& abef,
                                                           __m128i& cdgh) noexcept {
  const __m128i dcba = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state.data()));
  const __m128i hgfe = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state.data() + 4));
  const __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
  const __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
  abef = _mm_alignr_epi8(cdab, efgh, 8);
  cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
}

/// Store ABEF and CDGH back as A..H, each word big-endian if `big_endian` (a digest) or native
/// (a state).
REQUEST_SHADOW_SHA_NI_TARGET inline void sha_ni_store(__m128i abef, __m128i cdgh, void* out,
                                                      bool big_endian) noexcept {
  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  __m128i dcba = _mm_blend_epi16(feba, dchg, 0xF0);
  __m128i hgfe = _mm_alignr_epi8(dchg, feba, 8);
  if (big_endian) {
    dcba = _mm_shuffle_epi8(dcba, sha_ni_byte_swap());
    hgfe = _mm_shuffle_epi8(hgfe, sha_ni_byte_swap());
  }
  _mm_storeu_si128(static_cast<__m128i*>(out), dcba);
  _mm_storeu_si128(static_cast<__m128i*>(out) + 1, hgfe);
}

/// Message words four at a time: the 16 bytes at `p`, read big-endian.
REQUEST_SHADOW_SHA_NI_TARGET inline __m128i sha_ni_words(const unsigned char* p) noexcept {
  return _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), sha_ni_byte_swap());
}

/// Hash `blocks` 64-byte blocks at `data` into `state` with the SHA extensions.
REQUEST_SHADOW_SHA_NI_TARGET inline void sha256_blocks_sha_ni(Sha256State& state,
                                                              const unsigned char* data,
                                                              std::size_t blocks) noexcept {
  __m128i abef;
  __m128i cdgh;
  sha_ni_load_state(state, abef, cdgh);
  for (; blocks > 0; --blocks, data += 64) {
    sha_ni_block(abef, cdgh, sha_ni_words(data), sha_ni_words(data + 16), sha_ni_words(data + 32),
                 sha_ni_words(data + 48));
  }
  sha_ni_store(abef, cdgh, state.data(), false);
}

/// `pshufb` masks that move bytes up: 16 bytes from `16 - k`, the mask that shifts by `k`.
inline constexpr std::array<unsigned char, 32> sha_ni_shift_up = {
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,   11,   12,   13,   14,   15};

/// 16 bytes from `64 + i - n`: the padding byte 0x80 where byte `i` of a block is byte `n`.
inline constexpr std::array<unsigned char, 128> sha_ni_pad = [] {
  std::array<unsigned char, 128> t{};
  t[64] = 0x80;
  return t;
}();

/// The `n` (at most 16) bytes at `p` in the low bytes of a vector, zeros above; reads no byte
/// past `p + n`.
REQUEST_SHADOW_SHA_NI_TARGET inline __m128i sha_ni_load_partial(const unsigned char* p,
                                                                std::size_t n) noexcept {
  if (n >= 8) {  // two overlapping 8-byte loads, the second moved up to its place
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    std::memcpy(&lo, p, 8);
    std::memcpy(&hi, p + n - 8, 8);
    const __m128i up =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(sha_ni_shift_up.data() + 24 - n));
    return _mm_or_si128(_mm_cvtsi64_si128(static_cast<long long>(lo)),
                        _mm_shuffle_epi8(_mm_cvtsi64_si128(static_cast<long long>(hi)), up));
  }
  std::uint64_t v = 0;
  if (n >= 4) {  // two overlapping 4-byte loads
    std::uint32_t lo = 0;
    std::uint32_t hi = 0;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    v = lo | (std::uint64_t{hi} << (8 * (n - 4)));
  } else if (n > 0) {  // the first, middle and last bytes
    v = p[0] | (std::uint64_t{p[n / 2]} << (8 * (n / 2))) |
        (std::uint64_t{p[n - 1]} << (8 * (n - 1)));
  }
  return _mm_cvtsi64_si128(static_cast<long long>(v));
}

/// The 16 bytes of the message `a` (`na` bytes) followed by `b` (`nb` bytes) from offset `o`,
/// zeros past its end; reads no byte outside `a` and `b`.
REQUEST_SHADOW_SHA_NI_TARGET inline __m128i sha_ni_bytes_at(const unsigned char* a, std::size_t na,
                                                            const unsigned char* b, std::size_t nb,
                                                            std::size_t o) noexcept {
  if (o >= na) {  // all from `b`
    const std::size_t ob = o - na;
    if (ob + 16 <= nb) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + ob));
    return ob < nb ? sha_ni_load_partial(b + ob, nb - ob) : _mm_setzero_si128();
  }
  if (o + 16 <= na) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + o));
  const std::size_t from_a = na - o;  // 1..15 bytes of `a`, then the start of `b` moved up
  __m128i v = sha_ni_load_partial(a + o, from_a);
  if (nb > 0) {
    const __m128i up =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(sha_ni_shift_up.data() + 16 - from_a));
    v = _mm_or_si128(v, _mm_shuffle_epi8(sha_ni_load_partial(b, std::min(nb, 16 - from_a)), up));
  }
  return v;
}

/// SHA-256 of `prefix` followed by `data` with the SHA extensions; only where
/// `sha_ni_supported()`.
/**
 * The message never goes through memory: blocks inside `prefix` or `data` are read in place;
 * the block where they meet and the last one, padding included, are built in registers. A
 * buffer, as `sha256_with` fills it, costs 30 to 60 ns more on a 16-byte key, mostly loads that
 * wait for the stores that filled it.
 */
REQUEST_SHADOW_SHA_NI_TARGET inline void sha256_sha_ni(std::span<const std::byte> prefix,
                                                       std::span<const std::byte> data,
                                                       Sha256Digest& out) noexcept {
  const auto* a = reinterpret_cast<const unsigned char*>(prefix.data());
  const auto* b = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t na = prefix.size();
  const std::size_t nb = data.size();
  const std::size_t n = na + nb;
  __m128i abef;
  __m128i cdgh;
  sha_ni_load_state(sha256_initial, abef, cdgh);
  const std::size_t last = n / 64 * 64;  // the block that holds the padding byte 0x80
  __m128i w[4];  // NOLINT(modernize-avoid-c-arrays): std::array drops the vector attributes
  for (std::size_t o = 0; o < last; o += 64) {
    if (o + 64 <= na) {
      sha_ni_block(abef, cdgh, sha_ni_words(a + o), sha_ni_words(a + o + 16),
                   sha_ni_words(a + o + 32), sha_ni_words(a + o + 48));
    } else if (o >= na) {
      const unsigned char* p = b + (o - na);
      sha_ni_block(abef, cdgh, sha_ni_words(p), sha_ni_words(p + 16), sha_ni_words(p + 32),
                   sha_ni_words(p + 48));
    } else {
      for (std::size_t c = 0; c < 4; ++c) {
        w[c] = _mm_shuffle_epi8(sha_ni_bytes_at(a, na, b, nb, o + 16 * c), sha_ni_byte_swap());
      }
      sha_ni_block(abef, cdgh, w[0], w[1], w[2], w[3]);
    }
  }
  // The last block: the rest of the message, 0x80, zeros and, if it fits, the length in bits.
  for (std::size_t c = 0; c < 4; ++c) {
    const std::size_t o = last + 16 * c;
    const __m128i pad =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(sha_ni_pad.data() + 64 + o - n));
    w[c] =
        _mm_shuffle_epi8(_mm_or_si128(sha_ni_bytes_at(a, na, b, nb, o), pad), sha_ni_byte_swap());
  }
  const std::uint64_t bits = std::uint64_t{n} * 8U;
  const __m128i length =
      _mm_set_epi32(static_cast<int>(static_cast<std::uint32_t>(bits)),
                    static_cast<int>(static_cast<std::uint32_t>(bits >> 32U)), 0, 0);
  if (n - last < 56) {
    sha_ni_block(abef, cdgh, w[0], w[1], w[2], _mm_or_si128(w[3], length));
  } else {
    sha_ni_block(abef, cdgh, w[0], w[1], w[2], w[3]);
    const __m128i zero = _mm_setzero_si128();
    sha_ni_block(abef, cdgh, zero, zero, zero, length);
  }
  sha_ni_store(abef, cdgh, out.data(), true);
}

#undef REQUEST_SHADOW_SHA_NI_TARGET
#endif

/// Whether this CPU has the SHA extensions (and SSE4.1, which their code uses); asked once.
[[nodiscard]] inline bool sha_ni_supported() noexcept {
#if REQUEST_SHADOW_SHA_NI
  static const bool supported = [] {
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
    const bool sse41 = (ecx & bit_SSE4_1) != 0 && (ecx & bit_SSSE3) != 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    return sse41 && (ebx & bit_SHA) != 0;
  }();
  return supported;
#else
  return false;
#endif
}

// `EVP_sha256()` makes OpenSSL 3 look the algorithm up on every digest (about 200 ns); fetching
// it once and reusing one context per thread brings a 16-byte digest to about 130 ns.
inline const EVP_MD* sha256_algorithm() noexcept {
  struct Fetched {
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    Fetched() = default;
    Fetched(const Fetched&) = delete;
    Fetched& operator=(const Fetched&) = delete;
    ~Fetched() { EVP_MD_free(md); }
  };
  static const Fetched fetched;
  return fetched.md != nullptr ? fetched.md : EVP_sha256();
}

/// SHA-256 of `prefix` followed by `data` with OpenSSL's EVP interface; false only if OpenSSL
/// itself fails (out of memory).
inline bool sha256_openssl(std::span<const std::byte> prefix, std::span<const std::byte> data,
                           Sha256Digest& out) noexcept {
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
  };
  thread_local const std::unique_ptr<EVP_MD_CTX, CtxFree> ctx{EVP_MD_CTX_new()};
  if (!ctx) return false;
  unsigned int len = 0;
  return EVP_DigestInit_ex2(ctx.get(), sha256_algorithm(), nullptr) == 1 &&
         (prefix.empty() || EVP_DigestUpdate(ctx.get(), prefix.data(), prefix.size()) == 1) &&
         EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
         EVP_DigestFinal_ex(ctx.get(), out.data(), &len) == 1 && len == out.size();
}

/// Hash `prefix` followed by `data` into `out`, with the fastest path this machine has.
/**
 * About 45 ns for a key of up to 55 bytes with the SHA extensions, then about 45 ns per 64
 * bytes; see the top of this file for the other paths. Never fails, and allocates nothing
 * beyond OpenSSL's context, once per thread, where OpenSSL is used.
 */
inline void sha256(std::span<const std::byte> prefix, std::span<const std::byte> data,
                   Sha256Digest& out) noexcept {
#if REQUEST_SHADOW_SHA_NI
  if (sha_ni_supported()) {
    sha256_sha_ni(prefix, data, out);
    return;
  }
#endif
  if (!sha256_openssl(prefix, data, out)) sha256_scalar(prefix, data, out);
}

/// Hash `data` into `out`; see the two-part overload.
inline void sha256(std::span<const std::byte> data, Sha256Digest& out) noexcept {
  sha256({}, data, out);
}

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_SHA256_HPP
