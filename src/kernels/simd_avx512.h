// The 16-lane vector of the generic kernels, AVX-512 flavour: one zmm holds the 16 partial sums
// of the numerics contract. Only included by avx512.cpp (compiled with R1_AVX512_FLAGS); every
// name lives in r1::kernels::avx512 so nothing compiled with these flags leaks into other files.
#pragma once

// GCC 12 reports its own _mm512_undefined_* placeholders inside masked intrinsics as
// uninitialized (GCC bug 105593); the warning points into the header, so silence it there.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

#include "kernels/page_prefetch.h"

#define R1_SIMD_NS avx512
#define R1_SIMD_INLINE inline __attribute__((always_inline))

namespace r1::kernels::avx512 {

struct V16 {
  __m512 v;
};

// Independent FMA chains that fill both FMA ports (latency 4 x 2 ports, plus slack).
inline constexpr int kFmaChains = 10;
// attn_scores: heads that share each load of four positions' keys.
inline constexpr int kScoreHeads = 6;
// attn_values: heads sharing one pass over the cache, times 16-lane column tiles, as long as the
// accumulators (heads × tiles) fit in kAttnAccs registers (else half the tiles: 8 heads × 4 tiles
// are more accumulators than registers; r1-small prefill, MLA with 8 heads per thread, measured
// 0-5% faster with 2 tiles, alternated).
inline constexpr int kAttnHeads = 8, kAttnTiles = 4, kAttnAccs = 24;
inline constexpr bool kHasMaskedLoads = true;

R1_SIMD_INLINE __mmask16 lane_mask(int n) { return __mmask16((1u << n) - 1u); }

R1_SIMD_INLINE V16 zero() { return {_mm512_setzero_ps()}; }
R1_SIMD_INLINE V16 set1(float f) { return {_mm512_set1_ps(f)}; }
R1_SIMD_INLINE V16 load(const float* p) { return {_mm512_loadu_ps(p)}; }
// First n lanes from p (n < 16), the rest zero; never touches memory past p + n.
R1_SIMD_INLINE V16 load_n(const float* p, int n) {
  return {_mm512_maskz_loadu_ps(lane_mask(n), p)};
}
R1_SIMD_INLINE void store(float* p, V16 a) { _mm512_storeu_ps(p, a.v); }
R1_SIMD_INLINE void store_n(float* p, V16 a, int n) { _mm512_mask_storeu_ps(p, lane_mask(n), a.v); }

R1_SIMD_INLINE V16 add(V16 a, V16 b) { return {_mm512_add_ps(a.v, b.v)}; }
R1_SIMD_INLINE V16 sub(V16 a, V16 b) { return {_mm512_sub_ps(a.v, b.v)}; }
R1_SIMD_INLINE V16 mul(V16 a, V16 b) { return {_mm512_mul_ps(a.v, b.v)}; }
R1_SIMD_INLINE V16 div(V16 a, V16 b) { return {_mm512_div_ps(a.v, b.v)}; }
// a * b + c, one rounding.
R1_SIMD_INLINE V16 fma(V16 a, V16 b, V16 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
// max(a, m) where a NaN lane keeps m (vmaxps returns its second operand on NaN).
R1_SIMD_INLINE V16 max_keep(V16 a, V16 m) { return {_mm512_max_ps(a.v, m.v)}; }

// ---- weight conversions (exact) ----
R1_SIMD_INLINE V16 bf16_from_u16x16(__m256i h) {
  return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))};
}
R1_SIMD_INLINE V16 load_bf16(const uint16_t* p) {
  return bf16_from_u16x16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
R1_SIMD_INLINE V16 load_bf16_n(const uint16_t* p, int n) {
  return bf16_from_u16x16(_mm256_maskz_loadu_epi16(lane_mask(n), p));
}
R1_SIMD_INLINE V16 load_f16(const uint16_t* p) {
  return {_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))};
}
R1_SIMD_INLINE V16 load_f16_n(const uint16_t* p, int n) {
  return {_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lane_mask(n), p))};
}
// FP8 e4m3 codes placed as f32 bits: sign to bit 31, exponent+mantissa to bits 26..20. The
// result is the code's value times 2^-120 for every non-NaN code (kernel_table.h).
R1_SIMD_INLINE V16 fp8_bits_from_u8x16(__m128i q) {
  __m512i sx = _mm512_cvtepi8_epi32(q);
  __m512i bits = _mm512_and_si512(_mm512_slli_epi32(sx, 20), _mm512_set1_epi32(int(0x87F00000u)));
  return {_mm512_castsi512_ps(bits)};
}
R1_SIMD_INLINE V16 load_fp8_bits(const uint8_t* p) {
  return fp8_bits_from_u8x16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
R1_SIMD_INLINE V16 load_fp8_bits_n(const uint8_t* p, int n) {
  return fp8_bits_from_u8x16(_mm_maskz_loadu_epi8(lane_mask(n), p));
}
// Two rows of 16 FP8 codes interleaved byte by byte (row a's code j at byte 2j, row b's at 2j + 1),
// each placed as fp8_bits_from_u8x16 places one row's. The bytes are sign-extended to 16-bit
// words, so lane j holds a's word in its low half and b's in its high half: shifting the lane by
// 20 (a) or 4 (b) puts that word's low 12 bits at 20..31, and the mask keeps the sign and the
// seven exponent and mantissa bits. One widening serves 32 codes instead of 16.
R1_SIMD_INLINE void load_fp8_bits_pair(const uint8_t* p, V16& a, V16& b) {
  const __m512i w = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  const __m512i keep = _mm512_set1_epi32(int(0x87F00000u));
  a = {_mm512_castsi512_ps(_mm512_and_si512(_mm512_slli_epi32(w, 20), keep))};
  b = {_mm512_castsi512_ps(_mm512_and_si512(_mm512_slli_epi32(w, 4), keep))};
}
// Lanes whose code is a NaN (q & 0x7f == 0x7f) become NaN.
R1_SIMD_INLINE V16 fp8_fix_nan(V16 bits) {
  __m512i b = _mm512_castps_si512(bits.v);
  __m512i mag = _mm512_and_si512(b, _mm512_set1_epi32(0x7FFFFFFF));
  __mmask16 nan = _mm512_cmpeq_epi32_mask(mag, _mm512_set1_epi32(0x07F00000));
  return {_mm512_mask_mov_ps(bits.v, nan, _mm512_set1_ps(__builtin_nanf("")))};
}

// Tracks whether any FP8 byte seen is a NaN code: the running unsigned byte max of q + q
// reaches 0xfe exactly when some q & 0x7f == 0x7f. Cheap enough to run on every weight byte.
struct NanScan {
  __m512i acc = _mm512_setzero_si512();
  R1_SIMD_INLINE void feed64(const uint8_t* p) {
    __m512i q = _mm512_loadu_si512(p);
    acc = _mm512_max_epu8(acc, _mm512_add_epi8(q, q));
  }
  R1_SIMD_INLINE void feed_n(const uint8_t* p, int64_t n) {  // n < 64
    __m512i q = _mm512_maskz_loadu_epi8(__mmask64((uint64_t(1) << n) - 1), p);
    acc = _mm512_max_epu8(acc, _mm512_add_epi8(q, q));
  }
  R1_SIMD_INLINE bool any_nan() const {
    return _mm512_cmpeq_epi8_mask(acc, _mm512_set1_epi8(char(0xfe))) != 0;
  }
};
inline constexpr int kNanScanBytes = 64;

// ---- reductions ----
// The contract's tree: s8 = p[0..7] + p[8..15], s4 = s8[0..3] + s8[4..7],
// s2 = s4[0..1] + s4[2..3], s = s2[0] + s2[1].
R1_SIMD_INLINE float reduce(V16 a) {
  __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(a.v),
                            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a.v), 1)));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}
// Four contract reductions at once (same additions, lanes regrouped): returns {r(a), r(b),
// r(c), r(d)}.
R1_SIMD_INLINE __m128 reduce4(V16 a, V16 b, V16 c, V16 d) {
  // s8 of a|b and c|d: [a.lo256, b.lo256] + [a.hi256, b.hi256].
  __m512 ab_lo = _mm512_shuffle_f32x4(a.v, b.v, 0x44);  // a0 a1 b0 b1 (128-bit quarters)
  __m512 ab_hi = _mm512_shuffle_f32x4(a.v, b.v, 0xEE);  // a2 a3 b2 b3
  __m512 cd_lo = _mm512_shuffle_f32x4(c.v, d.v, 0x44);
  __m512 cd_hi = _mm512_shuffle_f32x4(c.v, d.v, 0xEE);
  __m512 ab8 = _mm512_add_ps(ab_lo, ab_hi);  // [a8.q0, a8.q1, b8.q0, b8.q1]
  __m512 cd8 = _mm512_add_ps(cd_lo, cd_hi);
  // s4: quarters q0 + q1 of each s8.
  __m512 even = _mm512_shuffle_f32x4(ab8, cd8, 0x88);  // a8.q0 b8.q0 c8.q0 d8.q0
  __m512 odd = _mm512_shuffle_f32x4(ab8, cd8, 0xDD);   // a8.q1 b8.q1 c8.q1 d8.q1
  __m512 s4 = _mm512_add_ps(even, odd);                // [a4, b4, c4, d4]
  // s2[j] = s4[j] + s4[j+2] within each quarter, then s = s2[0] + s2[1].
  __m512 s2 = _mm512_add_ps(s4, _mm512_permute_ps(s4, 0x4E));
  __m512 s1 = _mm512_add_ps(s2, _mm512_permute_ps(s2, 0xB1));
  // Lane 0 of each quarter holds a result.
  __m512i idx = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0);
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(idx, s1));
}
R1_SIMD_INLINE float hmax(V16 a) { return _mm512_reduce_max_ps(a.v); }

// ---- exp pieces (see exp_ref in scalar.cpp for the specification) ----
R1_SIMD_INLINE V16 round_even(V16 a) {
  return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
// bits(p) + (n << 23) for integral n.
R1_SIMD_INLINE V16 add_exponent(V16 p, V16 n) {
  __m512i e = _mm512_slli_epi32(_mm512_cvtps_epi32(n.v), 23);
  return {_mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p.v), e))};
}
// Lanes where x > hi become +inf, lanes where x < lo become 0 (NaN lanes untouched).
R1_SIMD_INLINE V16 exp_limits(V16 r, V16 x, float hi, float lo) {
  __mmask16 over = _mm512_cmp_ps_mask(x.v, _mm512_set1_ps(hi), _CMP_GT_OQ);
  __mmask16 under = _mm512_cmp_ps_mask(x.v, _mm512_set1_ps(lo), _CMP_LT_OQ);
  __m512 out = _mm512_mask_mov_ps(r.v, over, _mm512_set1_ps(__builtin_inff()));
  return {_mm512_mask_mov_ps(out, under, _mm512_setzero_ps())};
}
// Clamp into [lo, hi] keeping NaN (min/max return the second operand on NaN).
R1_SIMD_INLINE V16 clamp_keep_nan(V16 x, float lo, float hi) {
  __m512 a = _mm512_min_ps(_mm512_set1_ps(hi), x.v);
  return {_mm512_max_ps(_mm512_set1_ps(lo), a)};
}

// ---- argmax helpers ----
// Bit i set where a[i] == m.
R1_SIMD_INLINE uint32_t eq_mask(V16 a, float m) {
  return _mm512_cmp_ps_mask(a.v, _mm512_set1_ps(m), _CMP_EQ_OQ);
}

// ---- rope_interleaved helpers ----
// From 16 values c[0..7] (low half used): [c0, c0, c1, c1, ..., c7, c7].
R1_SIMD_INLINE V16 dup_pairs(const float* c) {
  __m512 v = _mm512_castps256_ps512(_mm256_loadu_ps(c));
  __m512i idx = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  return {_mm512_permutexvar_ps(idx, v)};
}
// [-s0, s0, -s1, s1, ...]
R1_SIMD_INLINE V16 dup_pairs_negate_even(const float* s) {
  V16 d = dup_pairs(s);
  return {_mm512_castsi512_ps(_mm512_xor_si512(
      _mm512_castps_si512(d.v),
      _mm512_set_epi32(0, int(0x80000000u), 0, int(0x80000000u), 0, int(0x80000000u), 0,
                       int(0x80000000u), 0, int(0x80000000u), 0, int(0x80000000u), 0,
                       int(0x80000000u), 0, int(0x80000000u))))};
}
// Swaps neighbours: [x1, x0, x3, x2, ...]
R1_SIMD_INLINE V16 swap_pairs(V16 a) { return {_mm512_permute_ps(a.v, 0xB1)}; }

// ---- streaming ----
// kPrefetch: with the page prefetch of packed decode (page_prefetch.h: a page's first line,
// kPageAhead pages on, as the stream enters a page).
template <bool kPrefetch>
R1_SIMD_INLINE float read_stream(const void* p, uint64_t bytes) {
  const auto* b = static_cast<const uint8_t*>(p);
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  uint64_t i = 0;
  for (; i + 256 <= bytes; i += 256) {
    if constexpr (kPrefetch)
      if (((reinterpret_cast<uintptr_t>(b) + i) & (kPageBytes - 1)) < 256) prefetch_page_ahead(b + i);
    a0 = _mm512_xor_si512(a0, _mm512_loadu_si512(b + i));
    a1 = _mm512_xor_si512(a1, _mm512_loadu_si512(b + i + 64));
    a2 = _mm512_xor_si512(a2, _mm512_loadu_si512(b + i + 128));
    a3 = _mm512_xor_si512(a3, _mm512_loadu_si512(b + i + 192));
  }
  for (; i < bytes; i += 64) a0 = _mm512_xor_si512(a0, _mm512_loadu_si512(b + i));
  __m512i x = _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
  return float(_mm512_reduce_add_epi32(x) & 0xffff);
}

}  // namespace r1::kernels::avx512
