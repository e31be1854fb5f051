// The block-quantized dot products (quant.h) in 256-bit integer SIMD, written once for AVX2 and
// AVX-512: the AVX-512 file is built with VNNI and fuses each u8·s8 / s16·s16 multiply-add into one
// instruction; AVX2 spells the same sums with maddubs / madd (no intermediate saturates: weights
// are at most 6 bits, or 8 bits taken as |w| against sign-adjusted activations of magnitude at
// most 127). Both produce the lane sums of quant.h, so they match the scalar reference bit for bit.
// Not a normal header: included once per ISA translation unit, by simd_kernels.h.

#include <immintrin.h>

#include <cstddef>
#include <cstring>

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

// Σ w·a of one 32-element group of signed weights, in lanes.
R1_SIMD_INLINE __m256i dot_signed32(__m256i w, __m256i a) {
  return dot_u8s8(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(a, w));
}

float dot_q8_0(const uint8_t* wrow, const uint8_t* arow, int64_t nb) {
  const auto* w = reinterpret_cast<const BlockQ8_0*>(wrow);
  const auto* a = reinterpret_cast<const BlockA8*>(arow);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i s = dot_signed32(loadu256(w[b].qs), loadu256(a[b].qs));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(half_at(&w[b].d) * a[b].d), acc);
  }
  return reduce8(acc);
}

float dot_q4_0(const uint8_t* wrow, const uint8_t* arow, int64_t nb) {
  const auto* w = reinterpret_cast<const BlockQ4_0*>(wrow);
  const auto* a = reinterpret_cast<const BlockA8*>(arow);
  const __m128i m4 = _mm_set1_epi8(15);
  const __m256i eight = _mm256_set1_epi8(8);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m128i q = loadu128(w[b].qs);
    __m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
    __m256i s = dot_signed32(_mm256_sub_epi8(u, eight), loadu256(a[b].qs));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(half_at(&w[b].d) * a[b].d), acc);
  }
  return reduce8(acc);
}

// Q4_K and Q5_K (kHigh): per 64-element chunk c, low nibbles are sub-block 2c, high nibbles 2c+1.
template <bool kHigh>
float dot_k4_k5(const uint8_t* wrow, const uint8_t* arow, int64_t nb) {
  constexpr int64_t kBytes = kHigh ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  constexpr int64_t kQsOffset = kHigh ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
  const auto* a = reinterpret_cast<const BlockQ8_K*>(arow);
  const __m256i m4 = _mm256_set1_epi8(15), bit4 = _mm256_set1_epi8(16);
  __m256 acc = _mm256_setzero_ps();
  float macc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wrow + b * kBytes;
    const uint8_t* qs = blk + kQsOffset;
    uint8_t sc[8], m[8];
    unpack_k_scales(blk + 4, sc, m);
    __m256i qh;
    if constexpr (kHigh) qh = loadu256(blk + offsetof(BlockQ5_K, qh));
    __m256i s = _mm256_setzero_si256();
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
      __m256i p0 = _mm256_maddubs_epi16(lo, loadu256(a[b].qs + 64 * c));
      __m256i p1 = _mm256_maddubs_epi16(hi, loadu256(a[b].qs + 64 * c + 32));
      s = dot_s16(s, p0, _mm256_set1_epi16(sc[2 * c]));
      s = dot_s16(s, p1, _mm256_set1_epi16(sc[2 * c + 1]));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(half_at(blk) * a[b].d), acc);
    macc = macc + (half_at(blk + 2) * a[b].d) * float(k_min_sum(m, a[b].bsums));
  }
  return reduce8(acc) - macc;
}

float dot_q6_k(const uint8_t* wrow, const uint8_t* arow, int64_t nb) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(wrow);
  const auto* a = reinterpret_cast<const BlockQ8_K*>(arow);
  const __m256i m4 = _mm256_set1_epi8(15), m48 = _mm256_set1_epi8(48);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ6_K& x = w[b];
    __m256i s = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      __m256i l0 = loadu256(x.ql + 64 * h), l1 = loadu256(x.ql + 64 * h + 32);
      __m256i qh = loadu256(x.qh + 32 * h);
      // groups of 32 elements 128h + 32k: nibbles of l0/l1 with bits 2k, 2k+1 of qh as bits 4, 5
      __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m48)),
          _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m48)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m48)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), m48)),
      };
      for (int k = 0; k < 4; ++k) {
        int g = 4 * h + k;
        __m256i p = _mm256_maddubs_epi16(q[k], loadu256(a[b].qs + 32 * g));
        __m256i scale = _mm256_set_m128i(_mm_set1_epi16(x.scales[2 * g + 1]), _mm_set1_epi16(x.scales[2 * g]));
        s = dot_s16(s, p, scale);
      }
    }
    __m256i corr = _mm256_madd_epi16(loadu256(a[b].bsums), _mm256_cvtepi8_epi16(loadu128(x.scales)));
    s = _mm256_sub_epi32(s, _mm256_slli_epi32(corr, 5));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(half_at(&x.d) * a[b].d), acc);
  }
  return reduce8(acc);
}

using QDot = float (*)(const uint8_t*, const uint8_t*, int64_t);

QDot qdot_for(DType t) {
  switch (t) {
    case DType::kQ8_0: return dot_q8_0;
    case DType::kQ4_0: return dot_q4_0;
    case DType::kQ4_K: return dot_k4_k5<false>;
    case DType::kQ5_K: return dot_k4_k5<true>;
    default: return dot_q6_k;
  }
}

// Output rows in tiles of kQTile: a tile's weight rows stay in L1 while every activation row
// passes over them (decode: T = 1 streams the rows once).
constexpr int64_t kQTile = 4;

void qmatmul_rows(const uint8_t* xq, int64_t xq_row_bytes, int64_t T, const WeightView& w, const MatView& y,
                  int64_t o_begin, int64_t o_end) noexcept {
  const QDot dot = qdot_for(w.dtype);
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t rb = w.row_bytes(), nb = w.cols / act_block_elems(w.dtype);
  for (int64_t o0 = o_begin; o0 < o_end; o0 += kQTile) {
    const int64_t o1 = min_of(o0 + kQTile, o_end);
    for (int64_t t = 0; t < T; ++t) {
      float* yt = yrow(y, t);
      const uint8_t* at = xq + t * xq_row_bytes;
      for (int64_t o = o0; o < o1; ++o) yt[o] = dot(base + o * rb, at, nb);
    }
  }
}

}  // namespace
}  // namespace r1::kernels::R1_SIMD_NS
