// GGUF block codecs. Dequantization follows the ggml specification's arithmetic exactly (f32,
// same operation order, built with -ffp-contract=off so no FMA changes a rounding). The
// quantizers are r1's own: each sub-block's scale (and min) is chosen by a small search over
// candidate scales with a least-squares refit, then the per-block scales are quantized and the
// elements re-quantized against the scales actually stored.
#include "core/quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace r1 {

namespace {

inline float h2f(uint16_t h) { return f16_to_f32(h); }
inline uint16_t f2h(float f) { return f32_to_f16(f); }
inline int round_int(float v) { return int(std::nearbyint(v)); }
inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// Fits x ≈ a·q + b with integer q in [0, qmax], a ≥ 0 and b ≤ 0 (the k-quants store the
// offset as a non-negative "min" that is subtracted). Returns (a, b) with the smallest squared
// error among the candidate grids tried.
void fit_affine(const float* x, int n, int qmax, float* scale, float* offset) {
  float lo = 0, hi = x[0];
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (!(hi > lo)) {  // constant sub-block (e.g. all zero): every element is the offset
    *scale = 0;
    *offset = lo;
    return;
  }
  auto refit = [&](float iscale, float base, float* a_out, float* b_out) {
    double sq = 0, sx = 0, sqq = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      const int q = clampi(round_int((x[i] - base) * iscale), 0, qmax);
      sq += q;
      sx += x[i];
      sqq += double(q) * q;
      sqx += double(q) * x[i];
    }
    const double det = n * sqq - sq * sq;
    double a = 0, b = 0;
    if (det > 0) {
      a = (n * sqx - sq * sx) / det;
      b = (sx - a * sq) / n;
    }
    if (b > 0 || det <= 0) {  // the offset must be ≤ 0: refit the scale alone
      b = 0;
      a = sqq > 0 ? sqx / sqq : 0;
    }
    *a_out = float(std::max(a, 0.0));
    *b_out = float(b);
  };
  auto error = [&](float a, float b) {
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const int q = a > 0 ? clampi(round_int((x[i] - b) / a), 0, qmax) : 0;
      const double d = double(a) * q + b - x[i];
      err += d * d;
    }
    return err;
  };
  float best_a = (hi - lo) / float(qmax), best_b = lo;
  double best = error(best_a, best_b);
  for (int step = -10; step <= 10; ++step) {
    const float iscale = (float(qmax) + 0.1f * float(step)) / (hi - lo);
    float a, b;
    refit(iscale, lo, &a, &b);
    if (!(a > 0)) continue;
    double e = error(a, b);
    if (e < best) {
      best = e;
      best_a = a;
      best_b = b;
    }
  }
  // One more refit around the winner.
  float a, b;
  refit(1.0f / best_a, best_b, &a, &b);
  if (a > 0 && error(a, b) < best) {
    best_a = a;
    best_b = b;
  }
  *scale = best_a;
  *offset = best_b;
}

// Fits x ≈ a·q with integer q in [-qneg, qneg - 1] (a may be negative: the element of largest
// magnitude is mapped to the wider, negative end of the range). Returns a.
float fit_symmetric(const float* x, int n, int qneg) {
  float vmax = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > std::fabs(vmax)) vmax = x[i];
  if (vmax == 0) return 0;
  auto error = [&](float a) {
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const int q = clampi(round_int(x[i] / a), -qneg, qneg - 1);
      const double d = double(a) * q - x[i];
      err += d * d;
    }
    return err;
  };
  float best_a = vmax / float(-qneg);
  double best = error(best_a);
  for (int step = -10; step <= 10; ++step) {
    const float iscale = -(float(qneg) + 0.1f * float(step)) / vmax;
    double sqq = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      const int q = clampi(round_int(x[i] * iscale), -qneg, qneg - 1);
      sqq += double(q) * q;
      sqx += double(q) * x[i];
    }
    if (sqq <= 0) continue;
    const float a = float(sqx / sqq);
    if (a == 0) continue;
    const double e = error(a);
    if (e < best) {
      best = e;
      best_a = a;
    }
  }
  return best_a;
}

void pack_k_scales(const uint8_t* sc, const uint8_t* m, uint8_t* out) {
  for (int j = 0; j < 4; ++j) {
    out[j] = uint8_t((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    out[j + 4] = uint8_t((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    out[j + 8] = uint8_t((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}

// Shared by Q4_K (qmax 15) and Q5_K (qmax 31): per-sub-block fits, 6-bit scale quantization,
// final element codes in q[256].
void quantize_k_affine(const float* x, int qmax, uint16_t* d_out, uint16_t* dmin_out, uint8_t* scales,
                       uint8_t* q) {
  float sub_scale[8], sub_min[8];  // sub_min ≥ 0, subtracted
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float a, b;
    fit_affine(x + 32 * j, 32, qmax, &a, &b);
    sub_scale[j] = a;
    sub_min[j] = -b;
    max_scale = std::max(max_scale, a);
    max_min = std::max(max_min, -b);
  }
  const uint16_t dh = f2h(max_scale / 63.0f), dminh = f2h(max_min / 63.0f);
  const float d = h2f(dh), dmin = h2f(dminh);
  uint8_t sc[8], mq[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = uint8_t(d > 0 ? clampi(round_int(sub_scale[j] / d), 0, 63) : 0);
    mq[j] = uint8_t(dmin > 0 ? clampi(round_int(sub_min[j] / dmin), 0, 63) : 0);
  }
  pack_k_scales(sc, mq, scales);
  *d_out = dh;
  *dmin_out = dminh;
  for (int j = 0; j < 8; ++j) {
    const float step = d * float(sc[j]), off = dmin * float(mq[j]);
    for (int i = 0; i < 32; ++i) {
      const int v = step > 0 ? round_int((x[32 * j + i] + off) / step) : 0;
      q[32 * j + i] = uint8_t(clampi(v, 0, qmax));
    }
  }
}

}  // namespace

void k_scale_min(const uint8_t* s, int j, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = uint8_t((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
    *m = uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// ---- dequantization ----

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  R1_CHECK(n % kQK4_0 == 0);
  for (int64_t b = 0; b < n / kQK4_0; ++b, y += kQK4_0) {
    const float d = h2f(x[b].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = float(int(x[b].qs[j] & 15) - 8) * d;
      y[j + kQK4_0 / 2] = float(int(x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  R1_CHECK(n % kQK8_0 == 0);
  for (int64_t b = 0; b < n / kQK8_0; ++b, y += kQK8_0) {
    const float d = h2f(x[b].d);
    for (int j = 0; j < kQK8_0; ++j) y[j] = float(x[b].qs[j]) * d;
  }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n) {
  R1_CHECK(n % kQK_K == 0);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = h2f(x[b].d), dmin = h2f(x[b].dmin);
    const uint8_t* q = x[b].qs;
    for (int c = 0; c < 4; ++c, q += 32) {
      uint8_t sc, m;
      k_scale_min(x[b].scales, 2 * c, &sc, &m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      k_scale_min(x[b].scales, 2 * c + 1, &sc, &m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 15) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
    }
  }
}

void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n) {
  R1_CHECK(n % kQK_K == 0);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = h2f(x[b].d), dmin = h2f(x[b].dmin);
    const uint8_t* ql = x[b].qs;
    const uint8_t* qh = x[b].qh;
    for (int c = 0; c < 4; ++c, ql += 32) {
      uint8_t sc, m;
      k_scale_min(x[b].scales, 2 * c, &sc, &m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      k_scale_min(x[b].scales, 2 * c + 1, &sc, &m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      const uint8_t u1 = uint8_t(1u << (2 * c)), u2 = uint8_t(2u << (2 * c));
      for (int l = 0; l < 32; ++l) *y++ = d1 * float((ql[l] & 15) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n) {
  R1_CHECK(n % kQK_K == 0);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = h2f(x[b].d);
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      const int8_t* sc = x[b].scales + 8 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = int((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = int((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * float(sc[is + 0]) * float(q1);
        y[l + 32] = d * float(sc[is + 2]) * float(q2);
        y[l + 64] = d * float(sc[is + 4]) * float(q3);
        y[l + 96] = d * float(sc[is + 6]) * float(q4);
      }
    }
  }
}

void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t n) {
  R1_CHECK(n % kQK_K == 0);
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K)
    for (int j = 0; j < kQK_K; ++j) y[j] = x[b].d * float(x[b].qs[j]);
}

// ---- quantization ----

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
  R1_CHECK(n % kQK4_0 == 0);
  for (int64_t b = 0; b < n / kQK4_0; ++b, x += kQK4_0) {
    float vmax = 0;  // signed value of largest magnitude: it maps to code 0 (= -8), the wider side
    for (int j = 0; j < kQK4_0; ++j)
      if (std::fabs(x[j]) > std::fabs(vmax)) vmax = x[j];
    y[b].d = f2h(vmax / -8.0f);
    const float d = h2f(y[b].d), id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int lo = clampi(round_int(x[j] * id) + 8, 0, 15);
      const int hi = clampi(round_int(x[j + kQK4_0 / 2] * id) + 8, 0, 15);
      y[b].qs[j] = uint8_t(lo | (hi << 4));
    }
  }
}

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  R1_CHECK(n % kQK8_0 == 0);
  for (int64_t b = 0; b < n / kQK8_0; ++b, x += kQK8_0) {
    float amax = 0;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    y[b].d = f2h(amax / 127.0f);
    const float d = h2f(y[b].d), id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < kQK8_0; ++j) y[b].qs[j] = int8_t(clampi(round_int(x[j] * id), -127, 127));
  }
}

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n) {
  R1_CHECK(n % kQK_K == 0);
  uint8_t q[kQK_K];
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    quantize_k_affine(x, 15, &y[b].d, &y[b].dmin, y[b].scales, q);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) y[b].qs[32 * c + l] = uint8_t(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  }
}

void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n) {
  R1_CHECK(n % kQK_K == 0);
  uint8_t q[kQK_K];
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    quantize_k_affine(x, 31, &y[b].d, &y[b].dmin, y[b].scales, q);
    std::memset(y[b].qh, 0, sizeof(y[b].qh));
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
        y[b].qs[32 * c + l] = uint8_t((lo & 15) | ((hi & 15) << 4));
        y[b].qh[l] |= uint8_t(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
  }
}

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n) {
  R1_CHECK(n % kQK_K == 0);
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float sub[16], amax = 0;
    for (int j = 0; j < 16; ++j) {
      sub[j] = fit_symmetric(x + 16 * j, 16, 32);
      amax = std::max(amax, std::fabs(sub[j]));
    }
    y[b].d = f2h(amax / 127.0f);
    const float d = h2f(y[b].d);
    uint8_t q[kQK_K];  // codes 0..63 (= value + 32)
    for (int j = 0; j < 16; ++j) {
      y[b].scales[j] = int8_t(d > 0 ? clampi(round_int(sub[j] / d), -127, 127) : 0);
      const float step = d * float(y[b].scales[j]);
      for (int i = 0; i < 16; ++i) {
        const int v = step != 0 ? clampi(round_int(x[16 * j + i] / step), -32, 31) : 0;
        q[16 * j + i] = uint8_t(v + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        y[b].ql[64 * h + l] = uint8_t((qq[l] & 15) | ((qq[l + 64] & 15) << 4));
        y[b].ql[64 * h + l + 32] = uint8_t((qq[l + 32] & 15) | ((qq[l + 96] & 15) << 4));
        y[b].qh[32 * h + l] = uint8_t((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) | ((qq[l + 64] >> 4) << 4) |
                                      ((qq[l + 96] >> 4) << 6));
      }
    }
  }
}

void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t n) {
  R1_CHECK(n % kQK_K == 0);
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float vmax = 0;
    for (int j = 0; j < kQK_K; ++j)
      if (std::fabs(x[j]) > std::fabs(vmax)) vmax = x[j];
    if (vmax == 0) {
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -128.0f / vmax;
    for (int j = 0; j < kQK_K; ++j) y[b].qs[j] = int8_t(clampi(round_int(iscale * x[j]), -128, 127));
    for (int j = 0; j < kQK_K / 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += y[b].qs[16 * j + i];
      y[b].bsums[j] = int16_t(sum);
    }
    y[b].d = 1.0f / iscale;
  }
}

// ---- dispatch ----

bool gguf_codec_supported(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ4_0:
    case DType::kQ8_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ8_K:
      return true;
    default:
      return false;
  }
}

void dequantize(DType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, size_t(n) * sizeof(float)); return;
    case DType::kF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::kBF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::kQ4_0: dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, n); return;
    case DType::kQ8_0: dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, n); return;
    case DType::kQ4_K: dequantize_q4_k(static_cast<const BlockQ4_K*>(src), dst, n); return;
    case DType::kQ5_K: dequantize_q5_k(static_cast<const BlockQ5_K*>(src), dst, n); return;
    case DType::kQ6_K: dequantize_q6_k(static_cast<const BlockQ6_K*>(src), dst, n); return;
    case DType::kQ8_K: dequantize_q8_k(static_cast<const BlockQ8_K*>(src), dst, n); return;
    default: R1_CHECK(false, "dequantize: unsupported type {}", dtype_name(t));
  }
}

void quantize(DType t, const float* src, void* dst, int64_t n) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, size_t(n) * sizeof(float)); return;
    case DType::kF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::kBF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::kQ4_0: quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), n); return;
    case DType::kQ8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), n); return;
    case DType::kQ4_K: quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), n); return;
    case DType::kQ5_K: quantize_q5_k(src, static_cast<BlockQ5_K*>(dst), n); return;
    case DType::kQ6_K: quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), n); return;
    case DType::kQ8_K: quantize_q8_k(src, static_cast<BlockQ8_K*>(dst), n); return;
    default: R1_CHECK(false, "quantize: unsupported type {}", dtype_name(t));
  }
}

}  // namespace r1
