// The block-quantized dot products (quant.h) in 256-bit integer SIMD, written once for AVX2 and
// AVX-512: the AVX-512 file is built with VNNI and fuses each u8·s8 / s16·s16 multiply-add into one
// instruction; AVX2 spells the same sums with maddubs / madd (no intermediate saturates: weights
// are at most 6 bits, or 8 bits taken as |w| against sign-adjusted activations of magnitude at
// most 127). Both produce the lane sums of quant.h, so they match the scalar reference bit for bit.
// The weights repacked at load time are in quant_packed_simd.h, included below the prefill panels.
// Not a normal header: included once per ISA translation unit, by simd_kernels.h.

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/quant.h"

namespace r1::kernels::R1_SIMD_NS {
namespace {

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
// acc[l] += Σ_{i<4} u[4l+i] · s[4l+i] (u unsigned, s signed bytes)
R1_SIMD_INLINE __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
// acc[l] += a[2l] · b[2l] + a[2l+1] · b[2l+1] (signed 16-bit)
R1_SIMD_INLINE __m256i dot_s16(__m256i acc, __m256i a, __m256i b) { return _mm256_dpwssd_epi32(acc, a, b); }
#else
R1_SIMD_INLINE __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
R1_SIMD_INLINE __m256i dot_s16(__m256i acc, __m256i a, __m256i b) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
}
#endif

R1_SIMD_INLINE __m256i loadu256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
R1_SIMD_INLINE __m128i loadu128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
R1_SIMD_INLINE float half_at(const void* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7))
R1_SIMD_INLINE float reduce8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}

// {Σ a, Σ b, ...}: the exact totals of two sets of eight int32 lanes in lanes 0 and 1.
R1_SIMD_INLINE __m128i hsum_pair(__m256i a, __m256i b) {
  __m256i h = _mm256_hadd_epi32(a, b);  // a01 a23 b01 b23 | a45 a67 b45 b67
  h = _mm256_hadd_epi32(h, h);          // a0123 b0123 .. | a4567 b4567 ..
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// Software prefetch of the weight stream kQAhead bytes ahead of the block being decoded (rows are
// contiguous, so near a row's end this fetches the start of the next row).
constexpr int64_t kQAhead = 4096;
R1_SIMD_INLINE void prefetch_ahead(const uint8_t* p, int64_t bytes) {
  for (int64_t off = 0; off < bytes; off += 64) _mm_prefetch(reinterpret_cast<const char*>(p + kQAhead + off), _MM_HINT_T0);
}

// Every kernel below computes one weight row against NT activation rows (a[t], results out[t]):
// each weight block is decoded once and used NT times (prefill), and each row's arithmetic is
// the same whatever NT is, so a result does not depend on the batch.

// Q8_0 / Q4_0: block b's exact total enters chain b % 8, so eight blocks' totals are reduced
// into one vector (lane i = block 8g + i) and join the chains with one multiply-add.
R1_SIMD_INLINE __m256i hsum8x8(const __m256i (&s)[8]) {
  const __m256i h01 = _mm256_hadd_epi32(s[0], s[1]), h23 = _mm256_hadd_epi32(s[2], s[3]);
  const __m256i h45 = _mm256_hadd_epi32(s[4], s[5]), h67 = _mm256_hadd_epi32(s[6], s[7]);
  const __m256i h0123 = _mm256_hadd_epi32(h01, h23), h4567 = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20), _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

template <int NT, typename Block, typename Codes>
R1_SIMD_INLINE void dot_32(const uint8_t* wrow, const uint8_t* const* arows, int64_t nb, float* out, Codes codes) {
  const auto* w = reinterpret_cast<const Block*>(wrow);
  const BlockA8* a[NT];
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) {
    a[t] = reinterpret_cast<const BlockA8*>(arows[t]);
    acc[t] = _mm256_setzero_ps();
  }
  // the 8 int32 lanes of block b against row t (|w| · sign-adjusted activations)
  auto lanes = [&](int64_t b, int t, __m256i q) {
    return dot_u8s8(_mm256_setzero_si256(), _mm256_abs_epi8(q), _mm256_sign_epi8(loadu256(a[t][b].qs), q));
  };
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    prefetch_ahead(reinterpret_cast<const uint8_t*>(w + b), 8 * sizeof(Block));
    __m256i s[NT][8];
    alignas(16) uint16_t dh[8];
    for (int i = 0; i < 8; ++i) {
      const __m256i q = codes(w[b + i]);
      std::memcpy(&dh[i], &w[b + i].d, 2);
      for (int t = 0; t < NT; ++t) s[t][i] = lanes(b + i, t, q);
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dh)));
    for (int t = 0; t < NT; ++t) {
      alignas(32) float da[8];
      for (int i = 0; i < 8; ++i) da[i] = a[t][b + i].d;
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8x8(s[t])), _mm256_mul_ps(dw, _mm256_load_ps(da)), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) {
    alignas(32) float chain[8];
    _mm256_store_ps(chain, acc[t]);
    for (int64_t i = b; i < nb; ++i) {
      const int32_t total = _mm_cvtsi128_si32(hsum_pair(lanes(i, t, codes(w[i])), _mm256_setzero_si256()));
      chain[i - b] = std::fma(float(total), half_at(&w[i].d) * a[t][i].d, chain[i - b]);
    }
    out[t] = reduce8(_mm256_load_ps(chain));
  }
}

template <int NT>
void dot_q8_0(const uint8_t* wrow, const uint8_t* const* arows, int64_t nb, float* out) {
  dot_32<NT, BlockQ8_0>(wrow, arows, nb, out, [](const BlockQ8_0& b) { return loadu256(b.qs); });
}

template <int NT>
void dot_q4_0(const uint8_t* wrow, const uint8_t* const* arows, int64_t nb, float* out) {
  dot_32<NT, BlockQ4_0>(wrow, arows, nb, out, [](const BlockQ4_0& b) {
    const __m128i m4 = _mm_set1_epi8(15);
    __m128i q = loadu128(b.qs);
    __m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
    return _mm256_sub_epi8(u, _mm256_set1_epi8(8));
  });
}

// pshufb control that broadcasts int16 lane lo_lane of the low 128-bit half to that whole half,
// and lane hi_lane of the high half to the high half (bytes 2j, 2j+1 in every int16).
R1_SIMD_INLINE __m256i bcast_ctl(int lo_lane, int hi_lane) {
  return _mm256_set_m128i(_mm_set1_epi16(int16_t(2 * hi_lane | (2 * hi_lane + 1) << 8)),
                          _mm_set1_epi16(int16_t(2 * lo_lane | (2 * lo_lane + 1) << 8)));
}

// The 12 packed scale bytes of a Q4_K / Q5_K block (core/quant_blocks.h) as 16 bytes sc0..sc7,
// m0..m7. With w0, w1, w2 the three little-endian words: sc0..3 = w0 & 0x3f.., m0..3 = w1 & 0x3f..,
// sc4..7 = (w2 & 0x0f..) | ((w0 >> 2) & 0x30..), m4..7 = ((w2 >> 4) & 0x0f..) | ((w1 >> 2) & 0x30..).
// Reads 16 bytes (the block's codes follow the scales).
R1_SIMD_INLINE __m128i unpack_k_scales16(const uint8_t* p) {
  const __m128i v = loadu128(p);
  const __m128i x = _mm_srlv_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)), _mm_setr_epi32(0, 0, 0, 4));
  const __m128i y = _mm_srli_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)), 2);
  const __m128i lo = _mm_and_si128(x, _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
  const __m128i hi = _mm_and_si128(y, _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
  return _mm_or_si128(lo, hi);  // words: sc0..3, sc4..7, m0..3, m4..7
}

#if defined(__AVX512BW__)
// The k-quant dot products on 512-bit vectors: one vector is a 64-element chunk, its two halves
// two (Q4_K / Q5_K) or four (Q6_K) sub-blocks, each half or quarter multiplied by its own scale
// (variable per-16-bit shifts place the nibbles and high bits of both halves at once).
R1_SIMD_INLINE __m512i halves_epi16(int lo, int hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(int16_t(lo))), _mm256_set1_epi16(int16_t(hi)), 1);
}
R1_SIMD_INLINE __m512i quarters_epi16(int q0, int q1, int q2, int q3) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16(int16_t(q1)), _mm_set1_epi16(int16_t(q0)))),
                            _mm256_set_m128i(_mm_set1_epi16(int16_t(q3)), _mm_set1_epi16(int16_t(q2))), 1);
}
R1_SIMD_INLINE __m512i bcast256(const void* p) { return _mm512_broadcast_i64x4(loadu256(p)); }
R1_SIMD_INLINE __m256i fold512(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

template <int NT, bool kHigh>
void dot_k4_k5(const uint8_t* wrow, const uint8_t* const* arows, int64_t nb, float* out) {
  constexpr int64_t kBytes = kHigh ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  constexpr int64_t kQsOffset = kHigh ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
  const BlockQ8_K* a[NT];
  __m128 acc[NT];  // lane 0: the S chain, lane 1: the M chain
  for (int t = 0; t < NT; ++t) {
    a[t] = reinterpret_cast<const BlockQ8_K*>(arows[t]);
    acc[t] = _mm_setzero_ps();
  }
  const __m512i m4 = _mm512_set1_epi8(15), ones = _mm512_set1_epi8(1), nib = halves_epi16(0, 4);
  // chunk c: sub-blocks 2c and 2c+1 (scale index and qh bit of each half)
  const __m512i sub[4] = {halves_epi16(0, 1), halves_epi16(2, 3), halves_epi16(4, 5), halves_epi16(6, 7)};
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wrow + b * kBytes;
    prefetch_ahead(blk, kBytes);
    const uint8_t* qs = blk + kQsOffset;
    const __m128i scm = unpack_k_scales16(blk + 4);  // sc0..sc7, m0..m7
    const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(scm));
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));  // m0 m0 m1 m1 ..
    const float d = half_at(blk), dmin = half_at(blk + 2);
    __m512i qh;
    if constexpr (kHigh) qh = bcast256(blk + offsetof(BlockQ5_K, qh));
    __m512i s[NT];
    for (int t = 0; t < NT; ++t) s[t] = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      // low nibbles are sub-block 2c (lower half), high nibbles 2c+1 (upper half)
      __m512i q = _mm512_and_si512(_mm512_srlv_epi16(bcast256(qs + 32 * c), nib), m4);
      if constexpr (kHigh)  // bit 2c (lower half) or 2c+1 (upper) of each qh byte, as bit 4
        q = _mm512_or_si512(q, _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sub[c]), ones), 4));
      const __m512i scale = _mm512_permutexvar_epi16(sub[c], sc16);
      for (int t = 0; t < NT; ++t)
        s[t] = _mm512_dpwssd_epi32(s[t], _mm512_maddubs_epi16(q, _mm512_loadu_si512(a[t][b].qs + 64 * c)), scale);
    }
    for (int t = 0; t < NT; ++t) {
      // lane l of the mins: m_l * (bsums[2l] + bsums[2l+1])
      const __m256i mins = _mm256_madd_epi16(loadu256(a[t][b].bsums), m16);
      const __m128i sm = hsum_pair(fold512(s[t]), mins);
      acc[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(sm), _mm_setr_ps(d * a[t][b].d, dmin * a[t][b].d, 0.0f, 0.0f), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = _mm_cvtss_f32(acc[t]) - _mm_cvtss_f32(_mm_movehdup_ps(acc[t]));
}

template <int NT>
void dot_q6_k(const uint8_t* wrow, const uint8_t* const* arows, int64_t nb, float* out) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(wrow);
  const BlockQ8_K* a[NT];
  __m128 acc[NT];  // lane 0: the S chain
  for (int t = 0; t < NT; ++t) {
    a[t] = reinterpret_cast<const BlockQ8_K*>(arows[t]);
    acc[t] = _mm_setzero_ps();
  }
  const __m512i m4 = _mm512_set1_epi8(15), m48 = _mm512_set1_epi8(48);
  const __m512i up01 = halves_epi16(4, 2), dn23 = halves_epi16(0, 2);
  // sub-blocks of 16: quarter k of the vector for elements 128h + 64p + 16k is sub-block 8h + 4p + k
  const __m512i idx[4] = {quarters_epi16(0, 1, 2, 3), quarters_epi16(4, 5, 6, 7), quarters_epi16(8, 9, 10, 11),
                          quarters_epi16(12, 13, 14, 15)};
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ6_K& x = w[b];
    prefetch_ahead(reinterpret_cast<const uint8_t*>(&x), sizeof(BlockQ6_K));
    const __m256i sc16y = _mm256_cvtepi8_epi16(loadu128(x.scales));
    const __m512i sc16 = _mm512_castsi256_si512(sc16y);
    const float d = half_at(&x.d);
    __m512i s[NT];
    for (int t = 0; t < NT; ++t) s[t] = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(x.ql + 64 * h), qh = bcast256(x.qh + 32 * h);
      // elements 128h + 0..63: low nibbles of ql with qh bits 0-1 (lower half) / 2-3 (upper)
      const __m512i q01 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, up01), m48));
      // elements 128h + 64..127: high nibbles with qh bits 4-5 / 6-7
      const __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                          _mm512_and_si512(_mm512_srlv_epi16(qh, dn23), m48));
      const __m512i s01 = _mm512_permutexvar_epi16(idx[2 * h], sc16), s23 = _mm512_permutexvar_epi16(idx[2 * h + 1], sc16);
      for (int t = 0; t < NT; ++t) {
        s[t] = _mm512_dpwssd_epi32(s[t], _mm512_maddubs_epi16(q01, _mm512_loadu_si512(a[t][b].qs + 128 * h)), s01);
        s[t] = _mm512_dpwssd_epi32(s[t], _mm512_maddubs_epi16(q23, _mm512_loadu_si512(a[t][b].qs + 128 * h + 64)), s23);
      }
    }
    for (int t = 0; t < NT; ++t) {
      // the -32 offset: lane l takes sub-blocks 2l and 2l+1
      const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(loadu256(a[t][b].bsums), sc16y), 5);
      const __m256i sum = _mm256_sub_epi32(fold512(s[t]), corr);
      acc[t] = _mm_fmadd_ss(_mm_cvtepi32_ps(hsum_pair(sum, sum)), _mm_set_ss(d * a[t][b].d), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = _mm_cvtss_f32(acc[t]);
}
#else
// Q4_K and Q5_K (kHigh): per 64-element chunk c, low nibbles are sub-block 2c, high nibbles 2c+1.
// The integer lanes of a block are summed in any order (exact); per row as quant.h specifies.
template <int NT, bool kHigh>
void dot_k4_k5(const uint8_t* wrow, const uint8_t* const* arows, int64_t nb, float* out) {
  constexpr int64_t kBytes = kHigh ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  constexpr int64_t kQsOffset = kHigh ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
  const BlockQ8_K* a[NT];
  __m128 acc[NT];  // lane 0: the S chain, lane 1: the M chain
  for (int t = 0; t < NT; ++t) {
    a[t] = reinterpret_cast<const BlockQ8_K*>(arows[t]);
    acc[t] = _mm_setzero_ps();
  }
  const __m256i m4 = _mm256_set1_epi8(15), bit4 = _mm256_set1_epi8(16);
  const __m256i ctl[8] = {bcast_ctl(0, 0), bcast_ctl(1, 1), bcast_ctl(2, 2), bcast_ctl(3, 3),
                          bcast_ctl(4, 4), bcast_ctl(5, 5), bcast_ctl(6, 6), bcast_ctl(7, 7)};
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wrow + b * kBytes;
    prefetch_ahead(blk, kBytes);
    const uint8_t* qs = blk + kQsOffset;
    const __m128i scm = unpack_k_scales16(blk + 4);  // sc0..sc7, m0..m7
    const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scm));
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));  // m0 m0 m1 m1 ..
    const float d = half_at(blk), dmin = half_at(blk + 2);
    __m256i qh;
    if constexpr (kHigh) qh = loadu256(blk + offsetof(BlockQ5_K, qh));
    __m256i s[NT][2];
    for (int c = 0; c < 4; ++c) {
      __m256i q = loadu256(qs + 32 * c);
      __m256i lo = _mm256_and_si256(q, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      if constexpr (kHigh) {
        // qh holds bit 2c of each element's byte in bit 0 and bit 2c+1 in bit 1 (shifted below)
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4));
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(qh, 3), bit4));
        qh = _mm256_srli_epi16(qh, 2);
      }
      const __m256i s_lo = _mm256_shuffle_epi8(sc16, ctl[2 * c]), s_hi = _mm256_shuffle_epi8(sc16, ctl[2 * c + 1]);
      for (int t = 0; t < NT; ++t) {
        __m256i p0 = _mm256_maddubs_epi16(lo, loadu256(a[t][b].qs + 64 * c));
        __m256i p1 = _mm256_maddubs_epi16(hi, loadu256(a[t][b].qs + 64 * c + 32));
        __m256i& acc_i = s[t][c & 1];
        acc_i = c < 2 ? _mm256_madd_epi16(p0, s_lo) : dot_s16(acc_i, p0, s_lo);
        acc_i = dot_s16(acc_i, p1, s_hi);
      }
    }
    for (int t = 0; t < NT; ++t) {
      // lane l of the mins: m_l * (bsums[2l] + bsums[2l+1])
      const __m256i mins = _mm256_madd_epi16(loadu256(a[t][b].bsums), m16);
      const __m128i sm = hsum_pair(_mm256_add_epi32(s[t][0], s[t][1]), mins);
      acc[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(sm), _mm_setr_ps(d * a[t][b].d, dmin * a[t][b].d, 0.0f, 0.0f), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = _mm_cvtss_f32(acc[t]) - _mm_cvtss_f32(_mm_movehdup_ps(acc[t]));
}

template <int NT>
void dot_q6_k(const uint8_t* wrow, const uint8_t* const* arows, int64_t nb, float* out) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(wrow);
  const BlockQ8_K* a[NT];
  __m128 acc[NT];  // lane 0: the S chain
  for (int t = 0; t < NT; ++t) {
    a[t] = reinterpret_cast<const BlockQ8_K*>(arows[t]);
    acc[t] = _mm_setzero_ps();
  }
  const __m256i m4 = _mm256_set1_epi8(15), m48 = _mm256_set1_epi8(48);
  // group k of a half uses sub-blocks 2k (low 128 bits) and 2k+1 (high) of that half's 8 scales
  const __m256i ctl[4] = {bcast_ctl(0, 1), bcast_ctl(2, 3), bcast_ctl(4, 5), bcast_ctl(6, 7)};
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ6_K& x = w[b];
    prefetch_ahead(reinterpret_cast<const uint8_t*>(&x), sizeof(BlockQ6_K));
    const __m256i sc16 = _mm256_cvtepi8_epi16(loadu128(x.scales));  // [s0..s7 | s8..s15]
    const float d = half_at(&x.d);
    __m256i s[NT][2];
    for (int h = 0; h < 2; ++h) {
      const __m256i sch = h == 0 ? _mm256_permute2x128_si256(sc16, sc16, 0x00) : _mm256_permute2x128_si256(sc16, sc16, 0x11);
      __m256i l0 = loadu256(x.ql + 64 * h), l1 = loadu256(x.ql + 64 * h + 32);
      __m256i qh = loadu256(x.qh + 32 * h);
      // groups of 32 elements 128h + 32k: nibbles of l0/l1 with bits 2k, 2k+1 of qh as bits 4, 5
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m48)),
          _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m48)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m48)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), m48)),
      };
      for (int k = 0; k < 4; ++k) {
        const __m256i scale = _mm256_shuffle_epi8(sch, ctl[k]);
        for (int t = 0; t < NT; ++t) {
          __m256i p = _mm256_maddubs_epi16(q[k], loadu256(a[t][b].qs + 128 * h + 32 * k));
          s[t][h] = k == 0 ? _mm256_madd_epi16(p, scale) : dot_s16(s[t][h], p, scale);
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      // the -32 offset: lane l takes sub-blocks 2l and 2l+1
      const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(loadu256(a[t][b].bsums), sc16), 5);
      const __m256i sum = _mm256_sub_epi32(_mm256_add_epi32(s[t][0], s[t][1]), corr);
      acc[t] = _mm_fmadd_ss(_mm_cvtepi32_ps(hsum_pair(sum, sum)), _mm_set_ss(d * a[t][b].d), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = _mm_cvtss_f32(acc[t]);
}

#endif  // __AVX512BW__

// One activation block of n (a multiple of 32) elements, as quantize_act_row in quant.cpp: the
// same max, division, product and round-half-even, so the same bytes.
R1_SIMD_INLINE float quantize_block(const float* x, int n, int8_t* qs) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 big = _mm256_set1_ps(std::numeric_limits<float>::max());
  __m256 vmax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) {
    __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask);
    vmax = _mm256_max_ps(vmax, a);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, big, _CMP_NLE_UQ));  // NaN or ±inf
  }
  if (_mm256_movemask_ps(bad) != 0) {
    std::memset(qs, 0, size_t(n));
    return std::numeric_limits<float>::quiet_NaN();
  }
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  const float amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
  const float inv_s = 127.0f / amax;
  if (!(inv_s <= std::numeric_limits<float>::max())) {  // amax == 0, or so small that 127/amax overflows
    std::memset(qs, 0, size_t(n));
    return 0.0f;
  }
  const __m256 inv = _mm256_set1_ps(inv_s);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int i = 0; i < n; i += 32) {
    // |x * inv| <= 127 (rounded up by at most an ulp, which still rounds to 127): no clamping
    __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), inv));
    __m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 16), inv));
    __m256i q3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 24), inv));
    __m256i q = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + i), _mm256_permutevar8x32_epi32(q, order));
  }
  return amax / 127.0f;
}

void quantize_act_row(DType w, const float* x, int64_t cols, uint8_t* out) noexcept {
  if (act_block_elems(w) == kQK8_0) {
    auto* b = reinterpret_cast<BlockA8*>(out);
    const __m256i ones8 = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < cols / kQK8_0; ++i) {
      b[i].d = quantize_block(x + i * kQK8_0, kQK8_0, b[i].qs);
      b[i].sum = _mm_cvtsi128_si32(hsum_pair(dot_u8s8(_mm256_setzero_si256(), ones8, loadu256(b[i].qs)), _mm256_setzero_si256()));
    }
    return;
  }
  auto* b = reinterpret_cast<BlockQ8_K*>(out);
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < cols / kQK_K; ++i) {
    b[i].d = quantize_block(x + i * kQK_K, kQK_K, b[i].qs);
    for (int j = 0; j < kQK_K / 32; ++j) {
      // lanes 0-3 sum elements 0-15 of the 32, lanes 4-7 elements 16-31
      __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, loadu256(b[i].qs + 32 * j)), ones16);
      s = _mm256_hadd_epi32(s, s);
      s = _mm256_hadd_epi32(s, s);
      b[i].bsums[2 * j] = int16_t(_mm256_extract_epi32(s, 0));
      b[i].bsums[2 * j + 1] = int16_t(_mm256_extract_epi32(s, 4));
    }
  }
}

// ---- prefill: weight panels of 16 output columns against many activation rows ----
// A panel holds, per weight block, the codes of 16 weight rows unpacked to bytes and interleaved
// so that one 64-byte vector is elements 4g .. 4g+3 of every row (one int32 lane per output
// column), beside the rows' sub-block scales, mins and d. Each activation row's 4 bytes are
// broadcast against it, so one u8·s8 dot adds 4 products to all 16 outputs; sub-block sums are
// scaled in int32 and every total is exact, which is why the bits equal quant.h's per-row chains.

constexpr int kKPanelCols = int(kPackedRows);

struct KPanelBlock {
  uint8_t codes[kQK_K / 4][4 * kKPanelCols];  // [group g][4 * column + i] = q of element 4g + i
  int32_t sc[16][kKPanelCols];                // [sub-block][column] (Q4_K / Q5_K: 8 sub-blocks of 32)
  int32_t mp[8][kKPanelCols];                 // int16 pairs: Q4/5 (m_j, m_j), Q6 (sc_2p, sc_2p+1)
  float d[kKPanelCols], dmin[kKPanelCols];
};

// r[k] lane c ← r[c] lane k.
R1_SIMD_INLINE void transpose8x8(__m256i (&r)[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
  }
  // u[4i + k], 128-bit half L: rows 4i .. 4i+3 of column 4L + k
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int k = 0; k < 4; ++k) {
    r[k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x20);
    r[4 + k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x31);
  }
}
// 16 int32 lanes: one __m512i, or two __m256i on AVX2 (the same lane order).
#if defined(__AVX512F__)
struct I16 {
  __m512i v;
};
R1_SIMD_INLINE I16 izero() { return {_mm512_setzero_si512()}; }
R1_SIMD_INLINE I16 iload(const void* p) { return {_mm512_loadu_si512(p)}; }
// A vector loaded once into a register, for several instructions to use: the compiler would
// otherwise fold the load into each of them, and a core has fewer load slots than vector pipes.
// Packed Q4_K / Q5_K decode, whose code vectors each feed two instructions, went from 52 to 61 and
// from 44 to 50 GB/s in cache on one Zen 4 core (Q6_K and Q4_0 did not change).
R1_SIMD_INLINE I16 iload_once(const void* p) {
  __m512i v = _mm512_loadu_si512(p);
  asm("" : "+v"(v));
  return {v};
}
R1_SIMD_INLINE I16 ibcast(const void* p) {
  int32_t x;
  std::memcpy(&x, p, 4);
  return {_mm512_set1_epi32(x)};
}
R1_SIMD_INLINE I16 idot_u8s8(I16 acc, I16 u, I16 s) { return {_mm512_dpbusd_epi32(acc.v, u.v, s.v)}; }
R1_SIMD_INLINE I16 idot_s16(I16 acc, I16 a, I16 b) { return {_mm512_dpwssd_epi32(acc.v, a.v, b.v)}; }
R1_SIMD_INLINE I16 iadd_mul(I16 acc, I16 a, I16 b) { return {_mm512_add_epi32(acc.v, _mm512_mullo_epi32(a.v, b.v))}; }
R1_SIMD_INLINE I16 isub_shl5(I16 a, I16 b) { return {_mm512_sub_epi32(a.v, _mm512_slli_epi32(b.v, 5))}; }
R1_SIMD_INLINE I16 isub(I16 a, I16 b) { return {_mm512_sub_epi32(a.v, b.v)}; }
R1_SIMD_INLINE I16 iadd(I16 a, I16 b) { return {_mm512_add_epi32(a.v, b.v)}; }
// acc += Σ w·s over each 4 bytes with signed w: |w| against s negated where w < 0 (the signed-panel
// variant; compiled for name lookup, unused while kSignedQ8Panel is false).
R1_SIMD_INLINE I16 idot_s8s8(I16 acc, I16 w, I16 s) {
  const __m512i sn = _mm512_mask_sub_epi8(s.v, _mm512_movepi8_mask(w.v), _mm512_setzero_si512(), s.v);
  return {_mm512_dpbusd_epi32(acc.v, _mm512_abs_epi8(w.v), sn)};
}
// dpbusd takes unsigned weights: Q8_0 panels hold q + 128 and subtract 128 · Σ a.
constexpr bool kSignedQ8Panel = false;
// dpbusd sums u8 · s8 straight into int32, so a weight byte may use all 8 bits (a high nibble in
// place, 16 × its value) without saturating.
constexpr bool kWideU8Dot = true;
R1_SIMD_INLINE I16 isra32(I16 a, int n) { return {_mm512_srai_epi32(a.v, unsigned(n))}; }
R1_SIMD_INLINE I16 iset1(int32_t x) { return {_mm512_set1_epi32(x)}; }
R1_SIMD_INLINE V16 itof(I16 a) { return {_mm512_cvtepi32_ps(a.v)}; }
constexpr int kKPanelRows = 4;
constexpr bool kTranspose16 = true;  // 16 x 16 int32 register transposes
R1_SIMD_INLINE void istore(void* p, I16 v) { _mm512_storeu_si512(p, v.v); }
R1_SIMD_INLINE I16 ibyte(I16 v, int i) { return {_mm512_and_si512(_mm512_srli_epi32(v.v, 8 * i), _mm512_set1_epi32(255))}; }
// Byte i of each lane as both of its int16 halves (one shuffle within each 16-byte lane).
R1_SIMD_INLINE I16 ibyte_twice16(I16 v, int i) {
  constexpr int k = 0x40004;  // the next dword's bytes
  const __m512i at = _mm512_set_epi32(3 * k, 2 * k, k, 0, 3 * k, 2 * k, k, 0, 3 * k, 2 * k, k, 0, 3 * k, 2 * k, k, 0);
  return {_mm512_shuffle_epi8(v.v, _mm512_add_epi32(at, _mm512_set1_epi32(i * 0x10001 + int(0x80008000u))))};
}
R1_SIMD_INLINE I16 ibyte_signed(I16 v, int i) { return {_mm512_srai_epi32(_mm512_slli_epi32(v.v, 24 - 8 * i), 24)}; }
R1_SIMD_INLINE I16 ipair16(I16 lo, I16 hi) {
  return {_mm512_or_si512(_mm512_and_si512(lo.v, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(hi.v, 16))};
}
R1_SIMD_INLINE I16 iand(I16 a, I16 b) { return {_mm512_and_si512(a.v, b.v)}; }
R1_SIMD_INLINE I16 ior(I16 a, I16 b) { return {_mm512_or_si512(a.v, b.v)}; }
R1_SIMD_INLINE I16 ixor(I16 a, I16 b) { return {_mm512_xor_si512(a.v, b.v)}; }
R1_SIMD_INLINE I16 isrl32(I16 a, int n) { return {_mm512_srli_epi32(a.v, unsigned(n))}; }
R1_SIMD_INLINE I16 isrl16(I16 a, int n) { return {_mm512_srli_epi16(a.v, unsigned(n))}; }
R1_SIMD_INLINE I16 isll16(I16 a, int n) { return {_mm512_slli_epi16(a.v, unsigned(n))}; }
// 32 signed bytes as 32 int16: lane c holds the int16 pair (p[2c], p[2c + 1]).
R1_SIMD_INLINE I16 iload_s8_pairs(const int8_t* p) { return {_mm512_cvtepi8_epi16(loadu256(p))}; }
// The low / high int16 of each lane, sign-extended.
R1_SIMD_INLINE I16 ilow16(I16 a) { return {_mm512_srai_epi32(_mm512_slli_epi32(a.v, 16), 16)}; }
R1_SIMD_INLINE I16 ihigh16(I16 a) { return {_mm512_srai_epi32(a.v, 16)}; }
// r[k] lane c ← r[c] lane k.
R1_SIMD_INLINE void transpose16x16(__m512i (&r)[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // u[4i + k], 128-bit lane L: rows 4i .. 4i+3 of column 4L + k
  for (int i = 0; i < 16; i += 4) {
    u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int k = 0; k < 4; ++k) {
    const __m512i v = _mm512_shuffle_i32x4(u[k], u[4 + k], 0x88), w = _mm512_shuffle_i32x4(u[k], u[4 + k], 0xdd);
    const __m512i v2 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0x88), w2 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0xdd);
    r[k] = _mm512_shuffle_i32x4(v, v2, 0x88);
    r[4 + k] = _mm512_shuffle_i32x4(w, w2, 0x88);
    r[8 + k] = _mm512_shuffle_i32x4(v, v2, 0xdd);
    r[12 + k] = _mm512_shuffle_i32x4(w, w2, 0xdd);
  }
}
#else
struct I16 {
  __m256i lo, hi;
};
R1_SIMD_INLINE I16 izero() { return {_mm256_setzero_si256(), _mm256_setzero_si256()}; }
R1_SIMD_INLINE I16 iload(const void* p) {
  return {loadu256(p), loadu256(static_cast<const uint8_t*>(p) + 32)};
}
R1_SIMD_INLINE I16 iload_once(const void* p) {
  I16 v = iload(p);
  asm("" : "+v"(v.lo), "+v"(v.hi));
  return v;
}
R1_SIMD_INLINE I16 ibcast(const void* p) {
  int32_t x;
  std::memcpy(&x, p, 4);
  const __m256i v = _mm256_set1_epi32(x);
  return {v, v};
}
R1_SIMD_INLINE I16 idot_u8s8(I16 acc, I16 u, I16 s) {
  return {dot_u8s8(acc.lo, u.lo, s.lo), dot_u8s8(acc.hi, u.hi, s.hi)};
}
R1_SIMD_INLINE I16 idot_s16(I16 acc, I16 a, I16 b) { return {dot_s16(acc.lo, a.lo, b.lo), dot_s16(acc.hi, a.hi, b.hi)}; }
R1_SIMD_INLINE I16 iadd_mul(I16 acc, I16 a, I16 b) {
  return {_mm256_add_epi32(acc.lo, _mm256_mullo_epi32(a.lo, b.lo)), _mm256_add_epi32(acc.hi, _mm256_mullo_epi32(a.hi, b.hi))};
}
R1_SIMD_INLINE I16 isub_shl5(I16 a, I16 b) {
  return {_mm256_sub_epi32(a.lo, _mm256_slli_epi32(b.lo, 5)), _mm256_sub_epi32(a.hi, _mm256_slli_epi32(b.hi, 5))};
}
R1_SIMD_INLINE V16 itof(I16 a) { return {_mm256_cvtepi32_ps(a.lo), _mm256_cvtepi32_ps(a.hi)}; }
R1_SIMD_INLINE I16 isub(I16 a, I16 b) { return {_mm256_sub_epi32(a.lo, b.lo), _mm256_sub_epi32(a.hi, b.hi)}; }
R1_SIMD_INLINE I16 iadd(I16 a, I16 b) { return {_mm256_add_epi32(a.lo, b.lo), _mm256_add_epi32(a.hi, b.hi)}; }
R1_SIMD_INLINE I16 idot_s8s8(I16 acc, I16 w, I16 s) {
  return {dot_u8s8(acc.lo, _mm256_abs_epi8(w.lo), _mm256_sign_epi8(s.lo, w.lo)),
          dot_u8s8(acc.hi, _mm256_abs_epi8(w.hi), _mm256_sign_epi8(s.hi, w.hi))};
}
// maddubs would saturate on q + 128 (up to 255 · 127 · 2), so AVX2 Q8_0 panels keep signed codes
// and take |w| against sign-adjusted activations.
constexpr bool kSignedQ8Panel = true;
constexpr bool kWideU8Dot = false;  // maddubs's int16 pair sums would saturate
R1_SIMD_INLINE I16 isra32(I16 a, int n) { return {_mm256_srai_epi32(a.lo, n), _mm256_srai_epi32(a.hi, n)}; }
R1_SIMD_INLINE I16 iset1(int32_t x) {
  const __m256i v = _mm256_set1_epi32(x);
  return {v, v};
}
constexpr int kKPanelRows = 2;
constexpr bool kTranspose16 = false;
R1_SIMD_INLINE void istore(void* p, I16 v) {
  _mm256_storeu_si256(static_cast<__m256i*>(p), v.lo);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint8_t*>(p) + 32), v.hi);
}
R1_SIMD_INLINE I16 ibyte(I16 v, int i) {
  const __m256i m = _mm256_set1_epi32(255);
  return {_mm256_and_si256(_mm256_srli_epi32(v.lo, 8 * i), m), _mm256_and_si256(_mm256_srli_epi32(v.hi, 8 * i), m)};
}
R1_SIMD_INLINE I16 ibyte_signed(I16 v, int i) {
  return {_mm256_srai_epi32(_mm256_slli_epi32(v.lo, 24 - 8 * i), 24), _mm256_srai_epi32(_mm256_slli_epi32(v.hi, 24 - 8 * i), 24)};
}
R1_SIMD_INLINE I16 ibyte_twice16(I16 v, int i) {
  constexpr int k = 0x40004;
  const __m256i at = _mm256_add_epi32(_mm256_set_epi32(3 * k, 2 * k, k, 0, 3 * k, 2 * k, k, 0), _mm256_set1_epi32(i * 0x10001 + int(0x80008000u)));
  return {_mm256_shuffle_epi8(v.lo, at), _mm256_shuffle_epi8(v.hi, at)};
}
R1_SIMD_INLINE I16 ipair16(I16 lo, I16 hi) {
  const __m256i m = _mm256_set1_epi32(0xffff);
  return {_mm256_or_si256(_mm256_and_si256(lo.lo, m), _mm256_slli_epi32(hi.lo, 16)),
          _mm256_or_si256(_mm256_and_si256(lo.hi, m), _mm256_slli_epi32(hi.hi, 16))};
}
R1_SIMD_INLINE I16 iand(I16 a, I16 b) { return {_mm256_and_si256(a.lo, b.lo), _mm256_and_si256(a.hi, b.hi)}; }
R1_SIMD_INLINE I16 ior(I16 a, I16 b) { return {_mm256_or_si256(a.lo, b.lo), _mm256_or_si256(a.hi, b.hi)}; }
R1_SIMD_INLINE I16 ixor(I16 a, I16 b) { return {_mm256_xor_si256(a.lo, b.lo), _mm256_xor_si256(a.hi, b.hi)}; }
R1_SIMD_INLINE I16 isrl32(I16 a, int n) { return {_mm256_srli_epi32(a.lo, n), _mm256_srli_epi32(a.hi, n)}; }
R1_SIMD_INLINE I16 isrl16(I16 a, int n) { return {_mm256_srli_epi16(a.lo, n), _mm256_srli_epi16(a.hi, n)}; }
R1_SIMD_INLINE I16 isll16(I16 a, int n) { return {_mm256_slli_epi16(a.lo, n), _mm256_slli_epi16(a.hi, n)}; }
R1_SIMD_INLINE I16 iload_s8_pairs(const int8_t* p) {
  return {_mm256_cvtepi8_epi16(loadu128(p)), _mm256_cvtepi8_epi16(loadu128(p + 16))};
}
R1_SIMD_INLINE I16 ilow16(I16 a) {
  return {_mm256_srai_epi32(_mm256_slli_epi32(a.lo, 16), 16), _mm256_srai_epi32(_mm256_slli_epi32(a.hi, 16), 16)};
}
R1_SIMD_INLINE I16 ihigh16(I16 a) { return {_mm256_srai_epi32(a.lo, 16), _mm256_srai_epi32(a.hi, 16)}; }
#endif

// A panel block's codes (G groups of 4 bytes for each of the 16 rows) are transposed in place:
// the rows' codes are first staged where one register tile of the transpose reads them
// (staged_at: 32 codes of row c from element e), then each tile becomes
// codes[g][4c + i] = element 4g + i of row c. Tiles are 16 x 16 int32 on AVX-512 (G a multiple
// of 16), else 8 x 8.
template <int G>
constexpr bool kTile16 = kTranspose16 && G % 16 == 0;

template <int G>
R1_SIMD_INLINE uint8_t* staged_at(uint8_t* codes, int64_t c, int e) {
  if constexpr (kTile16<G>) return codes + e / 64 * 1024 + 64 * c + e % 64;
  return codes + e / 32 * 512 + 64 * (c % 8) + 32 * (c / 8);
}

template <int G>
R1_SIMD_INLINE void interleave_staged(uint8_t* codes) {
#if defined(__AVX512F__)  // kTranspose16
  if constexpr (kTile16<G>) {
    for (int t = 0; t < G / 16; ++t) {
      uint8_t* tile = codes + 1024 * t;
      __m512i r[16];
      for (int c = 0; c < 16; ++c) r[c] = _mm512_loadu_si512(tile + 64 * c);
      transpose16x16(r);
      for (int k = 0; k < 16; ++k) _mm512_storeu_si512(tile + 64 * k, r[k]);
    }
    return;
  }
#endif
  for (int t = 0; t < G / 8; ++t) {
    for (int h = 0; h < 2; ++h) {
      uint8_t* tile = codes + 512 * t + 32 * h;
      __m256i r[8];
      for (int i = 0; i < 8; ++i) r[i] = loadu256(tile + 64 * i);
      transpose8x8(r);
      for (int k = 0; k < 8; ++k) _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + 64 * k), r[k]);
    }
  }
}

// The 256 codes of one super-block in element order (as quant.cpp's reference reads them), with
// the bit manipulations of the dot kernels above: put(e, v) takes elements e .. e+31.
template <typename Put>
R1_SIMD_INLINE void unpack_codes(DType t, const uint8_t* blk, Put put) {
  const __m256i m4 = _mm256_set1_epi8(15);
  if (t == DType::kQ6_K) {
    const auto& x = *reinterpret_cast<const BlockQ6_K*>(blk);
    const __m256i m48 = _mm256_set1_epi8(48);
    for (int h = 0; h < 2; ++h) {
      const __m256i l0 = loadu256(x.ql + 64 * h), l1 = loadu256(x.ql + 64 * h + 32), qh = loadu256(x.qh + 32 * h);
      put(128 * h, _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m48)));
      put(128 * h + 32, _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m48)));
      put(128 * h + 64, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m48)));
      put(128 * h + 96, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(qh, 2), m48)));
    }
    return;
  }
  const bool k5 = t == DType::kQ5_K;
  const uint8_t* qs = blk + (k5 ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs));
  __m256i qh = k5 ? loadu256(blk + offsetof(BlockQ5_K, qh)) : _mm256_setzero_si256();
  const __m256i bit4 = _mm256_set1_epi8(16);
  for (int c = 0; c < 4; ++c) {
    const __m256i v = loadu256(qs + 32 * c);
    __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    if (k5) {
      lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4));
      hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(qh, 3), bit4));
      qh = _mm256_srli_epi16(qh, 2);
    }
    put(64 * c, lo);
    put(64 * c + 32, hi);
  }
}

// Panel of weight rows [o0, o0 + n) (n <= 16; missing columns are zero) for nb super-blocks. The
// rows are read in memory order (one sequential pass over the panel's weights), each block's
// codes staged for the in-place transpose and its scale bytes gathered four to an int32 lane
// (in the mp area), then every block is interleaved and its scales spread to one int32 each.
void pack_k_panel(const WeightView& w, int64_t o0, int64_t n, int64_t nb, KPanelBlock* panel) {
  constexpr int kG = kQK_K / 4;
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t rb = w.row_bytes(), bb = rb / nb;
  const bool q6 = w.dtype == DType::kQ6_K;
  for (int64_t c = 0; c < kKPanelCols; ++c) {
    for (int64_t b = 0; b < nb; ++b) {
      KPanelBlock& p = panel[b];
      uint8_t* codes = p.codes[0];
      int32_t (*words)[kKPanelCols] = p.mp;  // [k][c] = scale bytes 4k .. 4k+3 of row c
      if (c >= n) {
        for (int e = 0; e < kQK_K; e += 32) std::memset(staged_at<kG>(codes, c, e), 0, 32);
        for (int k = 0; k < 4; ++k) words[k][c] = 0;
        p.d[c] = p.dmin[c] = 0;
        continue;
      }
      const uint8_t* blk = base + (o0 + c) * rb + b * bb;
      unpack_codes(w.dtype, blk, [&](int e, __m256i v) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(staged_at<kG>(codes, c, e)), v);
      });
      alignas(16) int32_t sw[4];
      if (q6) {
        const auto& x = *reinterpret_cast<const BlockQ6_K*>(blk);
        std::memcpy(sw, x.scales, 16);
        p.d[c] = half_at(&x.d);
        p.dmin[c] = 0;
      } else {
        _mm_store_si128(reinterpret_cast<__m128i*>(sw), unpack_k_scales16(blk + 4));  // sc0..7, m0..7
        p.d[c] = half_at(blk);
        p.dmin[c] = half_at(blk + 2);
      }
      for (int k = 0; k < 4; ++k) words[k][c] = sw[k];
    }
  }
  for (int64_t b = 0; b < nb; ++b) {
    KPanelBlock& p = panel[b];
    interleave_staged<kG>(p.codes[0]);
    const I16 wd[4] = {iload(p.mp[0]), iload(p.mp[1]), iload(p.mp[2]), iload(p.mp[3])};
    if (q6) {
      I16 sc[16];
      for (int j = 0; j < 16; ++j) {
        sc[j] = ibyte_signed(wd[j / 4], j % 4);
        istore(p.sc[j], sc[j]);
      }
      for (int j = 0; j < 8; ++j) istore(p.mp[j], ipair16(sc[2 * j], sc[2 * j + 1]));
    } else {
      for (int j = 0; j < 8; ++j) {
        istore(p.sc[j], ibyte(wd[j / 4], j % 4));
        const I16 m = ibyte(wd[2 + j / 4], j % 4);
        istore(p.mp[j], ipair16(m, m));
      }
    }
  }
}

// The next panel's rows (contiguous) fetched into L2 while this one computes, a few lines per
// weight block: the packing reads would otherwise wait on memory (a panel's row segments are too
// short for the hardware prefetcher), and a burst of prefetches would stall on fill buffers.
struct NextPanel {
  const char* p;
  int64_t left, per_block;
  R1_SIMD_INLINE void step() {
    for (int64_t i = 0; i < per_block && left > 0; ++i, --left, p += 64) _mm_prefetch(p, _MM_HINT_T1);
  }
};

// out[r][c] for MR activation rows against one panel: the quant.h chains, 16 columns at a time.
template <int MR, bool kQ6>
R1_SIMD_INLINE void k_panel_rows(const KPanelBlock* panel, int64_t nb, const BlockQ8_K* const (&a)[MR], float (*out)[kKPanelCols],
                                 NextPanel& next) {
  constexpr int kSub = kQ6 ? 16 : 8, kGroups = kQK_K / 4 / kSub;
  V16 acc[MR], macc[MR];
  for (int r = 0; r < MR; ++r) acc[r] = macc[r] = zero();
  for (int64_t b = 0; b < nb; ++b) {
    const KPanelBlock& p = panel[b];
    next.step();
    I16 s[MR], m[MR];
    for (int r = 0; r < MR; ++r) s[r] = m[r] = izero();
    for (int j = 0; j < kSub; ++j) {
      I16 t[MR];
      for (int r = 0; r < MR; ++r) t[r] = izero();
      R1_UNROLL for (int gi = 0; gi < kGroups; ++gi) {
        const int g = j * kGroups + gi;
        const I16 w = iload(p.codes[g]);
        R1_UNROLL for (int r = 0; r < MR; ++r) t[r] = idot_u8s8(t[r], w, ibcast(a[r][b].qs + 4 * g));
      }
      const I16 sc = iload(p.sc[j]);
      for (int r = 0; r < MR; ++r) s[r] = iadd_mul(s[r], t[r], sc);
    }
    for (int j = 0; j < 8; ++j) {
      const I16 mp = iload(p.mp[j]);
      for (int r = 0; r < MR; ++r) m[r] = idot_s16(m[r], mp, ibcast(a[r][b].bsums + 2 * j));
    }
    const V16 d = load(p.d);
    for (int r = 0; r < MR; ++r) {
      const V16 ad = set1(a[r][b].d);
      if constexpr (kQ6) {
        acc[r] = fma(itof(isub_shl5(s[r], m[r])), mul(d, ad), acc[r]);
      } else {
        acc[r] = fma(itof(s[r]), mul(d, ad), acc[r]);
        macc[r] = fma(itof(m[r]), mul(load(p.dmin), ad), macc[r]);
      }
    }
  }
  for (int r = 0; r < MR; ++r) store(out[r], kQ6 ? acc[r] : sub(acc[r], macc[r]));
}

// Q8_0 / Q4_0 panels: codes offset to unsigned bytes (Q8_0: q + 128, Q4_0: the nibble q), so a
// block's total is the u8·s8 sum minus offset × the activation block's sum (AVX2 Q8_0: signed
// codes, see kSignedQ8Panel).
struct APanelBlock {
  uint8_t codes[kQK8_0 / 4][4 * kKPanelCols];
  float d[kKPanelCols];
};

void pack_a_panel(const WeightView& w, int64_t o0, int64_t n, int64_t nb, APanelBlock* panel) {
  constexpr int kG = kQK8_0 / 4;
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t rb = w.row_bytes();
  const bool q8 = w.dtype == DType::kQ8_0;
  const __m256i flip = _mm256_set1_epi8(kSignedQ8Panel ? 0 : char(0x80));
  const __m128i m4 = _mm_set1_epi8(15);
  for (int64_t c = 0; c < kKPanelCols; ++c) {  // rows in memory order, as pack_k_panel
    const uint8_t* row = base + (o0 + c) * rb;
    for (int64_t b = 0; b < nb; ++b) {
      APanelBlock& p = panel[b];
      auto* dst = reinterpret_cast<__m256i*>(staged_at<kG>(p.codes[0], c, 0));
      if (c >= n) {
        _mm256_storeu_si256(dst, _mm256_setzero_si256());
        p.d[c] = 0;
      } else if (q8) {
        const auto& x = reinterpret_cast<const BlockQ8_0*>(row)[b];
        _mm256_storeu_si256(dst, _mm256_xor_si256(loadu256(x.qs), flip));
        p.d[c] = half_at(&x.d);
      } else {
        const auto& x = reinterpret_cast<const BlockQ4_0*>(row)[b];
        const __m128i qs = loadu128(x.qs);
        _mm256_storeu_si256(dst, _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(qs, 4), m4), _mm_and_si128(qs, m4)));
        p.d[c] = half_at(&x.d);
      }
    }
  }
  for (int64_t b = 0; b < nb; ++b) interleave_staged<kG>(panel[b].codes[0]);
}

// Batches of every packed type prefetch a block's lines
// kStreamAhead bytes ahead, a share of them at each step of the block's work: all of a Q4_K
// block's 36 lines at its start measured 4-6% slower (one core keeps only so many requests in
// flight). The loops are unrolled (a loop around the prefetches was a third of the Q4_K kernel's
// instructions).
// Lines [part, part + 1) × lines / kParts of the block kStreamAhead bytes on.
template <int kParts, typename Block>
R1_SIMD_INLINE void prefetch_packed_part(const Block* p, int part) {
  constexpr int kLines = int((sizeof(Block) + 63) / 64);
  const char* at = reinterpret_cast<const char*>(p) + kStreamAhead;
#pragma GCC unroll 64
  for (int l = part * kLines / kParts; l < (part + 1) * kLines / kParts; ++l) _mm_prefetch(at + l * 64, _MM_HINT_T1);
}

// A packed block of 64-byte vectors (Codes) and the 16 rows' half-float scales, 32 bytes: the
// file's bytes of 16 rows' blocks, which makes it an odd multiple of 32 bytes, so that in a packed
// matrix (64-byte aligned) every other block starts halfway through a cache line. A block that
// starts there keeps its scales first and one that starts on a line keeps them last, so that every
// vector load is aligned on any block. On one Zen 4 core, Q4_K codes moved 8 bytes off their lines
// lost a quarter of their in-cache rate, and moved 8 or 32 bytes, about 5% of the decode stream;
// packed Q6_K (whose old parts of 840 bytes left nearly every load across two lines) went from 46
// to 58 GB/s in cache. Where the scales go follows from the block's own address, so the packing
// and the kernels agree on any buffer.
template <typename Codes>
struct ScaledBlock {
  static_assert(sizeof(Codes) % 64 == 0);
  static constexpr size_t kScaleBytes = kKPanelCols * sizeof(uint16_t);
  unsigned char raw[sizeof(Codes) + kScaleBytes];

  size_t lead() const { return reinterpret_cast<uintptr_t>(this) & kScaleBytes; }
  const Codes& codes() const { return *reinterpret_cast<const Codes*>(raw + lead()); }
  Codes& codes() { return *reinterpret_cast<Codes*>(raw + lead()); }
  const uint16_t* d() const { return reinterpret_cast<const uint16_t*>(raw + (lead() ? 0 : sizeof(Codes))); }
  uint16_t* d() { return reinterpret_cast<uint16_t*>(raw + (lead() ? 0 : sizeof(Codes))); }
};
static_assert(kKPanelCols * sizeof(uint16_t) == 32);

// Q8_0 weights repacked at load time (pack_weights below): a panel block with signed codes (the
// same bytes on every ISA; unsigned kernels flip them as they load) and the rows' own half-float
// scales, so the matrix keeps the file's 34 bytes per 32 weights.
struct Q8Codes {
  int8_t codes[kQK8_0 / 4][4 * kKPanelCols];
};
using PackQ8_0 = ScaledBlock<Q8Codes>;
static_assert(sizeof(PackQ8_0) == kKPanelCols * sizeof(BlockQ8_0));

// Q4_0 weights repacked at load time: vector u holds group u (elements 4u .. 4u + 3 of each row)
// in its low nibbles and group 4 + u in its high ones, beside the rows' half-float scales, so the
// matrix keeps the file's 18 bytes per 32 weights.
struct Q4Codes {
  uint8_t qs[kQK4_0 / 8][4 * kKPanelCols];
};
using PackQ4_0 = ScaledBlock<Q4Codes>;
static_assert(sizeof(PackQ4_0) == kKPanelCols * sizeof(BlockQ4_0));

R1_SIMD_INLINE V16 block_d(const APanelBlock& p) { return load(p.d); }
template <typename Codes>
R1_SIMD_INLINE V16 block_d(const ScaledBlock<Codes>& p) {
  return load_f16(p.d());
}

// Decode of packed Q4_0 (a_panel_rows) takes groups 4-7 as their high nibbles in place (16 × the
// code, as Q4_K's kHighX16) into a sum of their own, which saves an instruction per vector and
// halves the chain. On one Zen 4 core, 47-51 → 53-58 GB/s in cache, and the decode stream of one
// large matrix went from 0.86-0.89 to 0.92-0.93 of the read bandwidth.
template <typename Block, int MR>
constexpr bool kHighNibbleX16 = kWideU8Dot && MR == 1 && std::is_same_v<Block, PackQ4_0>;

// Group g's codes (4 bytes of each of the 16 rows) as unsigned bytes (kFlip: signed codes + 128).
template <bool kFlip, typename Block>
R1_SIMD_INLINE I16 group_codes(const Block& p, int g) {
  const I16 w = iload(p.codes[g]);
  return kFlip ? ixor(w, iset1(int32_t(0x80808080u))) : w;
}
template <bool kFlip>
R1_SIMD_INLINE I16 group_codes(const PackQ8_0& p, int g) {
  return group_codes<kFlip>(p.codes(), g);
}
template <bool kFlip>
R1_SIMD_INLINE I16 group_codes(const PackQ4_0& p, int g) {
  const I16 v = iload(p.codes().qs[g % 4]), m4 = iset1(0x0f0f0f0f);
  return g < 4 ? iand(v, m4) : iand(isrl16(v, 4), m4);
}

// out[r][c]: quant.h's eight chains per output (block b into chain b mod 8), eight blocks at a
// time so that each chain has a fixed place: registers, for one activation row (a chain stored
// and reloaded every block cost the decode stream 5-15% of its rate). kFlip: signed codes taken
// as unsigned q + 128 (then offset is 128).
// fetch: prefetch packed blocks ahead (the first pass over a panel; later ones find it in cache).
template <int MR, bool kSigned, bool kFlip = false, typename Block = APanelBlock>
R1_SIMD_INLINE void a_panel_rows(const Block* panel, int64_t nb, int32_t offset, const BlockA8* const (&a)[MR],
                                 float (*out)[kKPanelCols], NextPanel& next, bool fetch = false) {
  V16 chain[MR][8];
  for (int r = 0; r < MR; ++r)
    R1_UNROLL for (int j = 0; j < 8; ++j) chain[r][j] = zero();
  auto block = [&](int64_t b, int j) __attribute__((always_inline)) {
    const Block& p = panel[b];
    next.step();
    I16 t[MR];
    for (int r = 0; r < MR; ++r) t[r] = izero();
    if constexpr (MR == 1) {
      if (fetch) prefetch_page_ahead(&p);
    }
    if constexpr (kHighNibbleX16<Block, MR>) {
      // groups 4-7 as their high nibbles in place, 16 × the code, in a sum of their own
      I16 hi = izero();
      R1_UNROLL for (int u = 0; u < kQK4_0 / 8; ++u) {
        const I16 v = iload(p.codes().qs[u]);
        t[0] = idot_u8s8(t[0], iand(v, iset1(0x0f0f0f0f)), ibcast(a[0][b].qs + 4 * u));
        hi = idot_u8s8(hi, iand(v, iset1(int32_t(0xf0f0f0f0u))), ibcast(a[0][b].qs + 4 * (4 + u)));
      }
      t[0] = iadd(t[0], isra32(hi, 4));  // exact: every product had the factor 16
    } else {
      R1_UNROLL for (int g = 0; g < kQK8_0 / 4; ++g) {
        if constexpr (MR > 1)
          if (fetch) prefetch_packed_part<kQK8_0 / 4>(&p, g);
        const I16 w = group_codes<kFlip>(p, g);
        R1_UNROLL for (int r = 0; r < MR; ++r) {
          if constexpr (kSigned) {
            t[r] = idot_s8s8(t[r], w, ibcast(a[r][b].qs + 4 * g));
          } else {
            t[r] = idot_u8s8(t[r], w, ibcast(a[r][b].qs + 4 * g));
          }
        }
      }
    }
    const V16 d = block_d(p);
    for (int r = 0; r < MR; ++r) {
      const I16 total = isub(t[r], iset1(offset * a[r][b].sum));
      chain[r][j] = fma(itof(total), mul(d, set1(a[r][b].d)), chain[r][j]);
    }
  };
  if constexpr (MR == 1) {
    // Decode: one block per pass, so that each load steps through the panel a block at a time
    // (page_prefetch.h); the chains move a place after every block (moves between registers), so
    // that block b still lands in chain b mod 8.
#pragma GCC unroll 1
    for (int64_t b = 0; b < nb; ++b) {
      block(b, 0);
      const V16 first = chain[0][0];
      R1_UNROLL for (int j = 0; j < 7; ++j) chain[0][j] = chain[0][j + 1];
      chain[0][7] = first;
    }
    V16 placed[8];  // chain j now holds the blocks of chain (j + nb) mod 8
    R1_UNROLL for (int j = 0; j < 8; ++j) placed[(j + nb) % 8] = chain[0][j];
    R1_UNROLL for (int j = 0; j < 8; ++j) chain[0][j] = placed[j];
  } else {
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8)
      R1_UNROLL for (int j = 0; j < 8; ++j) block(b + j, j);
    R1_UNROLL for (int j = 0; j < 8; ++j)
      if (b + j < nb) block(b + j, j);
  }
  for (int r = 0; r < MR; ++r) {
    auto c = [&](int i) { return chain[r][i]; };
    store(out[r], add(add(add(c(0), c(4)), add(c(2), c(6))), add(add(c(1), c(5)), add(c(3), c(7)))));
  }
}

// Every activation row against one panel (output columns o0 ..), kKPanelRows rows at a time, then
// one by one: rows<MR>(a, out) computes out[r][c]; y receives columns [o0 + c0, o0 + c1).
template <typename Act, typename Rows>
R1_SIMD_INLINE void rows_on_panel(const uint8_t* xq, int64_t xq_row_bytes, int64_t T, const MatView& y, int64_t o0,
                                  int64_t c0, int64_t c1, Rows rows) {
  auto run = [&]<int MR>(int64_t t) {
    const Act* a[MR];
    for (int r = 0; r < MR; ++r) a[r] = reinterpret_cast<const Act*>(xq + (t + r) * xq_row_bytes);
    alignas(64) float out[MR][kKPanelCols];
    rows.template operator()<MR>(a, out);
    for (int r = 0; r < MR; ++r) std::memcpy(yrow(y, t + r) + o0 + c0, out[r] + c0, sizeof(float) * size_t(c1 - c0));
  };
  int64_t t = 0;
  for (; t + kKPanelRows <= T; t += kKPanelRows) run.template operator()<kKPanelRows>(t);
  for (; t < T; ++t) run.template operator()<1>(t);
}

// Panels of 16 weight rows over all of K (per-thread scratch), each serving every activation row.
template <typename Panel, typename Act, typename Pack, typename Rows>
void panel_gemm(const uint8_t* xq, int64_t xq_row_bytes, int64_t T, const WeightView& w, const MatView& y,
                int64_t o_begin, int64_t o_end, int64_t nb, Pack pack, Rows rows) {
  auto* panel = reinterpret_cast<Panel*>(thread_scratch(size_t(nb) * sizeof(Panel) / sizeof(float) + 1));
  const int64_t rb = w.row_bytes();
  for (int64_t o0 = o_begin; o0 < o_end; o0 += kKPanelCols) {
    const int64_t n = min_of<int64_t>(kKPanelCols, o_end - o0);
    pack(w, o0, n, nb, panel);
    const int64_t steps = T / kKPanelRows + T % kKPanelRows;
    const int64_t lines = min_of<int64_t>(kKPanelCols, w.rows - o0 - n) * rb / 64;
    NextPanel next{static_cast<const char*>(w.data) + (o0 + n) * rb, lines, (lines + steps * nb - 1) / (steps * nb)};
    rows_on_panel<Act>(xq, xq_row_bytes, T, y, o0, 0, n, [&]<int MR>(const Act* const (&a)[MR], float (*out)[kKPanelCols]) {
      rows.template operator()<MR>(panel, a, out, next);
    });
  }
}

void panel_qmatmul(const uint8_t* xq, int64_t xq_row_bytes, int64_t T, const WeightView& w, const MatView& y,
                   int64_t o_begin, int64_t o_end) {
  const int64_t nb = w.cols / act_block_elems(w.dtype);
  if (act_block_elems(w.dtype) == kQK8_0) {
    if (w.dtype == DType::kQ8_0 && kSignedQ8Panel)
      return panel_gemm<APanelBlock, BlockA8>(
          xq, xq_row_bytes, T, w, y, o_begin, o_end, nb, pack_a_panel,
          [&]<int MR>(const APanelBlock* p, const BlockA8* const (&a)[MR], float (*out)[kKPanelCols], NextPanel& next) {
            a_panel_rows<MR, true>(p, nb, 0, a, out, next);
          });
    const int32_t offset = w.dtype == DType::kQ8_0 ? 128 : 8;
    return panel_gemm<APanelBlock, BlockA8>(
        xq, xq_row_bytes, T, w, y, o_begin, o_end, nb, pack_a_panel,
        [&]<int MR>(const APanelBlock* p, const BlockA8* const (&a)[MR], float (*out)[kKPanelCols], NextPanel& next) {
          a_panel_rows<MR, false>(p, nb, offset, a, out, next);
        });
  }
  auto krows = [&]<int MR, bool kQ6>(const KPanelBlock* p, const BlockQ8_K* const (&a)[MR], float (*out)[kKPanelCols],
                                     NextPanel& next) {
    k_panel_rows<MR, kQ6>(p, nb, a, out, next);
  };
  if (w.dtype == DType::kQ6_K)
    return panel_gemm<KPanelBlock, BlockQ8_K>(
        xq, xq_row_bytes, T, w, y, o_begin, o_end, nb, pack_k_panel,
        [&]<int MR>(const KPanelBlock* p, const BlockQ8_K* const (&a)[MR], float (*out)[kKPanelCols], NextPanel& next) {
          krows.template operator()<MR, true>(p, a, out, next);
        });
  return panel_gemm<KPanelBlock, BlockQ8_K>(
      xq, xq_row_bytes, T, w, y, o_begin, o_end, nb, pack_k_panel,
      [&]<int MR>(const KPanelBlock* p, const BlockQ8_K* const (&a)[MR], float (*out)[kKPanelCols], NextPanel& next) {
        krows.template operator()<MR, false>(p, a, out, next);
      });
}

}  // namespace
}  // namespace r1::kernels::R1_SIMD_NS

#include "kernels/quant_packed_simd.h"

namespace r1::kernels::R1_SIMD_NS {
namespace {

using QDot = void (*)(const uint8_t*, const uint8_t* const*, int64_t, float*);

template <int NT>
QDot qdot_for(DType t) {
  switch (t) {
    case DType::kQ8_0: return dot_q8_0<NT>;
    case DType::kQ4_0: return dot_q4_0<NT>;
    case DType::kQ4_K: return dot_k4_k5<NT, false>;
    case DType::kQ5_K: return dot_k4_k5<NT, true>;
    default: return dot_q6_k<NT>;
  }
}

// Output rows in tiles of kQTile: a tile's weight rows stay in L1 while the activation rows pass
// over them kQRows at a time (decode: T = 1 streams the rows once).
constexpr int64_t kQTile = 4;
constexpr int kQRows = 4;

// From this many activation rows, weights go through panels: packing a 16-row panel costs about
// as much as 3-6 rows of the per-row dot products, and each row on the panel far less (the MoE
// experts of a prefill batch get a few dozen rows each).
constexpr int64_t kKPanelMinT = 8;

// Packed weights serve batches of fewer rows than this, panels the larger ones. A panel is packed
// per call but holds whole bytes; a packed block is ready but its 4 to 6-bit codes are widened
// again by every group of rows, so the crossover falls with the width (bench_kernels --packed
// --prefill-t T, 2 threads: Q8_0 packed faster up to 48 rows, even at 64; Q4_K faster at 16, mixed
// from 32; Q6_K faster at 16, slower from 32; Q4_0 faster at 16 and 32, mixed at 48; Q5_K faster
// at 16, 32 and 48). Prefill's MoE experts get a few dozen rows each.
int64_t packed_max_t(DType t) {
  switch (t) {
    case DType::kQ8_0: return 64;
    case DType::kQ4_0:
    case DType::kQ5_K: return 48;
    case DType::kQ4_K: return 32;
    default: return 16;
  }
}

void qmatmul_rows(const uint8_t* xq, int64_t xq_row_bytes, int64_t T, const WeightView& w, const MatView& y,
                  int64_t o_begin, int64_t o_end) noexcept {
  if (w.packed != nullptr && packable_blocks(w.dtype) && T < packed_max_t(w.dtype))
    return packed_qmatmul(xq, xq_row_bytes, T, w, y, o_begin, o_end);
  if (T >= kKPanelMinT) return panel_qmatmul(xq, xq_row_bytes, T, w, y, o_begin, o_end);
  const QDot dot1 = qdot_for<1>(w.dtype), dotn = qdot_for<kQRows>(w.dtype);
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t rb = w.row_bytes(), nb = w.cols / act_block_elems(w.dtype);
  for (int64_t o0 = o_begin; o0 < o_end; o0 += kQTile) {
    const int64_t o1 = min_of(o0 + kQTile, o_end);
    int64_t t = 0;
    for (; t + kQRows <= T; t += kQRows) {
      const uint8_t* at[kQRows];
      for (int i = 0; i < kQRows; ++i) at[i] = xq + (t + i) * xq_row_bytes;
      for (int64_t o = o0; o < o1; ++o) {
        float r[kQRows];
        dotn(base + o * rb, at, nb, r);
        for (int i = 0; i < kQRows; ++i) yrow(y, t + i)[o] = r[i];
      }
    }
    for (; t < T; ++t) {
      const uint8_t* at = xq + t * xq_row_bytes;
      for (int64_t o = o0; o < o1; ++o) dot1(base + o * rb, &at, nb, yrow(y, t) + o);
    }
  }
}

}  // namespace
}  // namespace r1::kernels::R1_SIMD_NS
