// The 16-lane vector of the generic kernels, AVX2 flavour: two ymm registers hold partial sums
// 0..7 and 8..15 of the numerics contract. Only included by avx2.cpp (compiled with
// R1_AVX2_FLAGS); every name lives in r1::kernels::avx2.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/page_prefetch.h"

#define R1_SIMD_NS avx2
#define R1_SIMD_INLINE inline __attribute__((always_inline))

namespace r1::kernels::avx2 {

struct V16 {
  __m256 lo, hi;
};

// Independent 16-lane FMA chains (two ymm each) within the 16 ymm registers.
inline constexpr int kFmaChains = 6;
// attn_scores: heads that share each load of four positions' keys.
inline constexpr int kScoreHeads = 1;
// attn_values: heads sharing one pass over the cache, times 16-lane column tiles, as long as the
// accumulators fit in kAttnAccs registers (see the AVX-512 version).
inline constexpr int kAttnHeads = 4, kAttnTiles = 1, kAttnAccs = 4;
inline constexpr bool kHasMaskedLoads = false;

// Lane masks for maskload: entries 16-n .. 31-n of this table give n all-ones lanes.
alignas(64) inline constexpr int32_t kMaskTable[32] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                                       -1, -1, -1, -1, -1, 0,  0,  0,  0,  0,  0,
                                                       0,  0,  0,  0,  0,  0,  0,  0,  0,  0};
R1_SIMD_INLINE __m256i mask8(int n) {  // n in [0, 8]: first n lanes
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 16 - n));
}

R1_SIMD_INLINE V16 zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
R1_SIMD_INLINE V16 set1(float f) { return {_mm256_set1_ps(f), _mm256_set1_ps(f)}; }
R1_SIMD_INLINE V16 load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
R1_SIMD_INLINE V16 load_n(const float* p, int n) {
  int nl = n < 8 ? n : 8, nh = n - nl;
  return {_mm256_maskload_ps(p, mask8(nl)), _mm256_maskload_ps(p + 8, mask8(nh))};
}
R1_SIMD_INLINE void store(float* p, V16 a) {
  _mm256_storeu_ps(p, a.lo);
  _mm256_storeu_ps(p + 8, a.hi);
}
R1_SIMD_INLINE void store_n(float* p, V16 a, int n) {
  int nl = n < 8 ? n : 8, nh = n - nl;
  _mm256_maskstore_ps(p, mask8(nl), a.lo);
  _mm256_maskstore_ps(p + 8, mask8(nh), a.hi);
}

R1_SIMD_INLINE V16 add(V16 a, V16 b) {
  return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
}
R1_SIMD_INLINE V16 sub(V16 a, V16 b) {
  return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)};
}
R1_SIMD_INLINE V16 mul(V16 a, V16 b) {
  return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)};
}
R1_SIMD_INLINE V16 div(V16 a, V16 b) {
  return {_mm256_div_ps(a.lo, b.lo), _mm256_div_ps(a.hi, b.hi)};
}
R1_SIMD_INLINE V16 fma(V16 a, V16 b, V16 c) {
  return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
R1_SIMD_INLINE V16 max_keep(V16 a, V16 m) {
  return {_mm256_max_ps(a.lo, m.lo), _mm256_max_ps(a.hi, m.hi)};
}

// ---- weight conversions (exact) ----
R1_SIMD_INLINE __m256 bf16x8(__m128i h) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
R1_SIMD_INLINE V16 load_bf16(const uint16_t* p) {
  return {bf16x8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
          bf16x8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)))};
}
R1_SIMD_INLINE V16 load_f16(const uint16_t* p) {
  return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)))};
}
// No masked 16-bit / 8-bit loads in AVX2: tails go through a zeroed copy.
R1_SIMD_INLINE V16 load_bf16_n(const uint16_t* p, int n) {
  alignas(32) uint16_t tmp[16] = {};
  std::memcpy(tmp, p, size_t(n) * 2);
  return load_bf16(tmp);
}
R1_SIMD_INLINE V16 load_f16_n(const uint16_t* p, int n) {
  alignas(32) uint16_t tmp[16] = {};
  std::memcpy(tmp, p, size_t(n) * 2);
  return load_f16(tmp);
}
R1_SIMD_INLINE __m256 fp8_bits8(__m128i q8) {  // low 8 bytes of q8
  __m256i sx = _mm256_cvtepi8_epi32(q8);
  return _mm256_castsi256_ps(
      _mm256_and_si256(_mm256_slli_epi32(sx, 20), _mm256_set1_epi32(int(0x87F00000u))));
}
R1_SIMD_INLINE V16 load_fp8_bits(const uint8_t* p) {
  __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return {fp8_bits8(q), fp8_bits8(_mm_unpackhi_epi64(q, q))};
}
R1_SIMD_INLINE V16 load_fp8_bits_n(const uint8_t* p, int n) {
  alignas(16) uint8_t tmp[16] = {};
  std::memcpy(tmp, p, size_t(n));
  return load_fp8_bits(tmp);
}
// Only packed FP8 panels interleave two rows (simd_avx512.h), and only AVX-512 packs float
// weights: declared for the shared kernels, never called here.
R1_SIMD_INLINE void load_fp8_bits_pair(const uint8_t* p, V16& a, V16& b);
R1_SIMD_INLINE __m256 fp8_fix_nan8(__m256 bits) {
  __m256i mag = _mm256_and_si256(_mm256_castps_si256(bits), _mm256_set1_epi32(0x7FFFFFFF));
  __m256 nan = _mm256_castsi256_ps(_mm256_cmpeq_epi32(mag, _mm256_set1_epi32(0x07F00000)));
  return _mm256_blendv_ps(bits, _mm256_set1_ps(__builtin_nanf("")), nan);
}
R1_SIMD_INLINE V16 fp8_fix_nan(V16 bits) { return {fp8_fix_nan8(bits.lo), fp8_fix_nan8(bits.hi)}; }

// See simd_avx512.h: the running byte max of q + q reaches 0xfe iff a NaN code was seen.
struct NanScan {
  __m256i acc = _mm256_setzero_si256();
  R1_SIMD_INLINE void feed32(const uint8_t* p) {
    __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    acc = _mm256_max_epu8(acc, _mm256_add_epi8(q, q));
  }
  R1_SIMD_INLINE void feed64(const uint8_t* p) {
    feed32(p);
    feed32(p + 32);
  }
  R1_SIMD_INLINE void feed_n(const uint8_t* p, int64_t n) {  // n < 64
    alignas(32) uint8_t tmp[64] = {};
    std::memcpy(tmp, p, size_t(n));
    feed64(tmp);
  }
  R1_SIMD_INLINE bool any_nan() const {
    __m256i eq = _mm256_cmpeq_epi8(acc, _mm256_set1_epi8(char(0xfe)));
    return _mm256_movemask_epi8(eq) != 0;
  }
};
inline constexpr int kNanScanBytes = 64;

// ---- reductions ----
// s8 = lo + hi, then the same tree as the AVX-512 version.
R1_SIMD_INLINE float reduce(V16 a) {
  __m256 s8 = _mm256_add_ps(a.lo, a.hi);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}
R1_SIMD_INLINE __m128 reduce4(V16 a, V16 b, V16 c, V16 d) {
  __m256 a8 = _mm256_add_ps(a.lo, a.hi), b8 = _mm256_add_ps(b.lo, b.hi);
  __m256 c8 = _mm256_add_ps(c.lo, c.hi), d8 = _mm256_add_ps(d.lo, d.hi);
  // s4 of a|b and c|d: [x8.q0 of a, b] + [x8.q1 of a, b].
  __m256 ab4 =
      _mm256_add_ps(_mm256_permute2f128_ps(a8, b8, 0x20), _mm256_permute2f128_ps(a8, b8, 0x31));
  __m256 cd4 =
      _mm256_add_ps(_mm256_permute2f128_ps(c8, d8, 0x20), _mm256_permute2f128_ps(c8, d8, 0x31));
  __m256 ab2 = _mm256_add_ps(ab4, _mm256_permute_ps(ab4, 0x4E));
  __m256 cd2 = _mm256_add_ps(cd4, _mm256_permute_ps(cd4, 0x4E));
  __m256 ab1 = _mm256_add_ps(ab2, _mm256_permute_ps(ab2, 0xB1));  // lanes 0 and 4
  __m256 cd1 = _mm256_add_ps(cd2, _mm256_permute_ps(cd2, 0xB1));
  __m256 abcd = _mm256_shuffle_ps(ab1, cd1, 0x00);  // a a c c | b b d d
  __m128 lo = _mm256_castps256_ps128(abcd), hi = _mm256_extractf128_ps(abcd, 1);
  return _mm_movelh_ps(_mm_unpacklo_ps(lo, hi), _mm_unpackhi_ps(lo, hi));
}
R1_SIMD_INLINE float hmax(V16 a) {
  __m256 m8 = _mm256_max_ps(a.lo, a.hi);
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
  __m128 m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  return _mm_cvtss_f32(_mm_max_ss(m2, _mm_movehdup_ps(m2)));
}

// ---- exp pieces ----
R1_SIMD_INLINE V16 round_even(V16 a) {
  constexpr int kMode = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  return {_mm256_round_ps(a.lo, kMode), _mm256_round_ps(a.hi, kMode)};
}
R1_SIMD_INLINE __m256 add_exponent8(__m256 p, __m256 n) {
  __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
}
R1_SIMD_INLINE V16 add_exponent(V16 p, V16 n) {
  return {add_exponent8(p.lo, n.lo), add_exponent8(p.hi, n.hi)};
}
R1_SIMD_INLINE __m256 exp_limits8(__m256 r, __m256 x, float hi, float lo) {
  __m256 over = _mm256_cmp_ps(x, _mm256_set1_ps(hi), _CMP_GT_OQ);
  __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(lo), _CMP_LT_OQ);
  __m256 out = _mm256_blendv_ps(r, _mm256_set1_ps(__builtin_inff()), over);
  return _mm256_andnot_ps(under, out);
}
R1_SIMD_INLINE V16 exp_limits(V16 r, V16 x, float hi, float lo) {
  return {exp_limits8(r.lo, x.lo, hi, lo), exp_limits8(r.hi, x.hi, hi, lo)};
}
R1_SIMD_INLINE V16 clamp_keep_nan(V16 x, float lo, float hi) {
  __m256 h = _mm256_set1_ps(hi), l = _mm256_set1_ps(lo);
  return {_mm256_max_ps(l, _mm256_min_ps(h, x.lo)), _mm256_max_ps(l, _mm256_min_ps(h, x.hi))};
}

// ---- argmax helpers ----
R1_SIMD_INLINE uint32_t eq_mask(V16 a, float m) {
  __m256 mv = _mm256_set1_ps(m);
  uint32_t lo = uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(a.lo, mv, _CMP_EQ_OQ)));
  uint32_t hi = uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(a.hi, mv, _CMP_EQ_OQ)));
  return lo | (hi << 8);
}

// ---- rope_interleaved helpers ----
R1_SIMD_INLINE __m256 dup4(const float* c) {  // [c0, c0, c1, c1, c2, c2, c3, c3]
  __m128 v = _mm_loadu_ps(c);
  __m256 w = _mm256_set_m128(_mm_unpackhi_ps(v, v), _mm_unpacklo_ps(v, v));
  return w;
}
R1_SIMD_INLINE V16 dup_pairs(const float* c) { return {dup4(c), dup4(c + 4)}; }
R1_SIMD_INLINE V16 dup_pairs_negate_even(const float* s) {
  const __m256 neg = _mm256_castsi256_ps(_mm256_set_epi32(
      0, int(0x80000000u), 0, int(0x80000000u), 0, int(0x80000000u), 0, int(0x80000000u)));
  V16 d = dup_pairs(s);
  return {_mm256_xor_ps(d.lo, neg), _mm256_xor_ps(d.hi, neg)};
}
R1_SIMD_INLINE V16 swap_pairs(V16 a) {
  return {_mm256_permute_ps(a.lo, 0xB1), _mm256_permute_ps(a.hi, 0xB1)};
}

// ---- streaming ----
// kPrefetch: with the page prefetch of packed decode (page_prefetch.h: a page's first line,
// kPageAhead pages on, as the stream enters a page).
template <bool kPrefetch>
R1_SIMD_INLINE float read_stream(const void* p, uint64_t bytes) {
  const auto* b = static_cast<const uint8_t*>(p);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  uint64_t i = 0;
  for (; i + 128 <= bytes; i += 128) {
    if constexpr (kPrefetch)
      if (((reinterpret_cast<uintptr_t>(b) + i) & (kPageBytes - 1)) < 128) prefetch_page_ahead(b + i);
    a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i)));
    a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i + 96)));
  }
  for (; i < bytes; i += 32)
    a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i)));
  __m256i x = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  return float(_mm256_extract_epi32(x, 0) & 0xffff) + float(_mm256_extract_epi32(x, 5) & 0xff);
}

}  // namespace r1::kernels::avx2
