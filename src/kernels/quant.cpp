// Activation quantization (shared by every ISA, so all of them see the same int8 rows) and the
// scalar reference of the block-quantized dot products: plain loops over the elements as
// core/quant_blocks.h defines them, summed in the lanes described in quant.h. Built with
// -ffp-contract=off like the rest of src/kernels.
#include "kernels/quant.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/kernel_table.h"

namespace r1::kernels {

namespace {

constexpr int kLanes = 8;

float h2f(uint16_t h) { return f16_to_f32(h); }

// The fixed reduction of the eight f32 lane accumulators.
float reduce8(const float (&a)[kLanes]) {
  float s4[4];
  for (int j = 0; j < 4; ++j) s4[j] = a[j] + a[j + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// One activation block of n elements: returns d and writes qs.
float quantize_block(const float* x, int n, int8_t* qs) {
  float amax = 0.0f;
  bool finite = true;
  for (int i = 0; i < n; ++i) {
    finite = finite && std::isfinite(x[i]);
    amax = std::fmax(amax, std::fabs(x[i]));
  }
  if (!finite) {
    std::memset(qs, 0, size_t(n));
    return std::numeric_limits<float>::quiet_NaN();
  }
  const float inv = 127.0f / amax;
  if (!(inv <= std::numeric_limits<float>::max())) {  // amax == 0, or so small that 127/amax overflows
    std::memset(qs, 0, size_t(n));
    return 0.0f;
  }
  for (int i = 0; i < n; ++i) {
    float q = std::nearbyint(x[i] * inv);
    qs[i] = int8_t(std::fmin(127.0f, std::fmax(-127.0f, q)));
  }
  return amax / 127.0f;
}

// The 6-bit (scale, min) pairs of a Q4_K / Q5_K block, unpacked.
void unpack_k_scales(const uint8_t* s, uint8_t sc[8], uint8_t m[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    m[j] = s[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    sc[j] = uint8_t((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
    m[j] = uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

float dot_q8_0(const BlockQ8_0* w, const BlockA8* a, int64_t nb) {
  float acc[kLanes] = {};
  for (int64_t b = 0; b < nb; ++b) {
    int32_t s = 0;
    for (int i = 0; i < kQK8_0; ++i) s += int32_t(w[b].qs[i]) * int32_t(a[b].qs[i]);
    acc[b % kLanes] = std::fma(float(s), h2f(w[b].d) * a[b].d, acc[b % kLanes]);
  }
  return reduce8(acc);
}

float dot_q4_0(const BlockQ4_0* w, const BlockA8* a, int64_t nb) {
  float acc[kLanes] = {};
  for (int64_t b = 0; b < nb; ++b) {
    int32_t s = 0;
    for (int i = 0; i < kQK4_0; ++i) {
      int q = i < 16 ? (w[b].qs[i] & 15) : (w[b].qs[i - 16] >> 4);
      s += (q - 8) * int32_t(a[b].qs[i]);
    }
    acc[b % kLanes] = std::fma(float(s), h2f(w[b].d) * a[b].d, acc[b % kLanes]);
  }
  return reduce8(acc);
}

// Q4_K (qh == nullptr) and Q5_K: element e of a super-block has q = 4 low bits from qs (+ the
// fifth bit from qh), scale sc[e / 32], min m[e / 32]. The block's two exact integer totals each
// enter their own chain.
void dot_k4_k5(const uint8_t* d_dmin_scales, const uint8_t* qs, const uint8_t* qh, const BlockQ8_K& a,
               float& acc, float& macc) {
  uint16_t d, dmin;
  std::memcpy(&d, d_dmin_scales, 2);
  std::memcpy(&dmin, d_dmin_scales + 2, 2);
  uint8_t sc[8], m[8];
  unpack_k_scales(d_dmin_scales + 4, sc, m);
  int32_t s = 0, mins = 0;
  for (int e = 0; e < kQK_K; ++e) {
    int c = e / 64, l = e % 32;
    bool high = (e / 32) % 2 == 1;
    int q = high ? (qs[32 * c + l] >> 4) : (qs[32 * c + l] & 15);
    if (qh != nullptr) q |= ((qh[l] >> (e / 32)) & 1) << 4;
    s += int32_t(sc[e / 32]) * (q * int32_t(a.qs[e]));
  }
  for (int j = 0; j < 8; ++j) mins += int32_t(m[j]) * (int32_t(a.bsums[2 * j]) + int32_t(a.bsums[2 * j + 1]));
  acc = std::fma(float(s), h2f(d) * a.d, acc);
  macc = std::fma(float(mins), h2f(dmin) * a.d, macc);
}

float dot_q4_k(const BlockQ4_K* w, const BlockQ8_K* a, int64_t nb) {
  float acc = 0.0f, macc = 0.0f;
  for (int64_t b = 0; b < nb; ++b)
    dot_k4_k5(reinterpret_cast<const uint8_t*>(&w[b]), w[b].qs, nullptr, a[b], acc, macc);
  return acc - macc;
}

float dot_q5_k(const BlockQ5_K* w, const BlockQ8_K* a, int64_t nb) {
  float acc = 0.0f, macc = 0.0f;
  for (int64_t b = 0; b < nb; ++b)
    dot_k4_k5(reinterpret_cast<const uint8_t*>(&w[b]), w[b].qs, w[b].qh, a[b], acc, macc);
  return acc - macc;
}

float dot_q6_k(const BlockQ6_K* w, const BlockQ8_K* a, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ6_K& x = w[b];
    int32_t s = 0;
    for (int e = 0; e < kQK_K; ++e) {
      int h = e / 128, k = (e % 128) / 32, l = e % 32;
      uint8_t lo = x.ql[64 * h + l + 32 * (k % 2)];
      int q = (k < 2 ? (lo & 15) : (lo >> 4)) | (((x.qh[32 * h + l] >> (2 * k)) & 3) << 4);
      s += int32_t(x.scales[e / 16]) * (q * int32_t(a[b].qs[e]));
    }
    // the -32 offset, from the activation block sums
    for (int j = 0; j < 16; ++j) s -= 32 * (int32_t(a[b].bsums[j]) * x.scales[j]);
    uint16_t d;
    std::memcpy(&d, &x.d, 2);
    acc = std::fma(float(s), h2f(d) * a[b].d, acc);
  }
  return acc;
}

}  // namespace

bool quantized_matmul_type(DType w) {
  return w == DType::kQ8_0 || w == DType::kQ4_0 || w == DType::kQ4_K || w == DType::kQ5_K ||
         w == DType::kQ6_K;
}

int64_t act_block_elems(DType w) { return w == DType::kQ8_0 || w == DType::kQ4_0 ? kQK8_0 : kQK_K; }

int64_t act_row_bytes(DType w, int64_t cols) {
  int64_t n = act_block_elems(w);
  return cols / n * int64_t(n == kQK8_0 ? sizeof(BlockA8) : sizeof(BlockQ8_K));
}

void quantize_act_row(DType w, const float* x, int64_t cols, uint8_t* out) noexcept {
  if (act_block_elems(w) == kQK8_0) {
    auto* b = reinterpret_cast<BlockA8*>(out);
    for (int64_t i = 0; i < cols / kQK8_0; ++i) {
      b[i].d = quantize_block(x + i * kQK8_0, kQK8_0, b[i].qs);
      b[i].sum = 0;
      for (int k = 0; k < kQK8_0; ++k) b[i].sum += b[i].qs[k];
    }
    return;
  }
  auto* b = reinterpret_cast<BlockQ8_K*>(out);
  for (int64_t i = 0; i < cols / kQK_K; ++i) {
    b[i].d = quantize_block(x + i * kQK_K, kQK_K, b[i].qs);
    for (int j = 0; j < kQK_K / 16; ++j) {
      int s = 0;
      for (int k = 0; k < 16; ++k) s += b[i].qs[16 * j + k];
      b[i].bsums[j] = int16_t(s);
    }
  }
}

float qdot_reference(DType w, const uint8_t* wrow, const uint8_t* arow, int64_t cols) noexcept {
  const auto* a8 = reinterpret_cast<const BlockA8*>(arow);
  const auto* ak = reinterpret_cast<const BlockQ8_K*>(arow);
  switch (w) {
    case DType::kQ8_0: return dot_q8_0(reinterpret_cast<const BlockQ8_0*>(wrow), a8, cols / kQK8_0);
    case DType::kQ4_0: return dot_q4_0(reinterpret_cast<const BlockQ4_0*>(wrow), a8, cols / kQK4_0);
    case DType::kQ4_K: return dot_q4_k(reinterpret_cast<const BlockQ4_K*>(wrow), ak, cols / kQK_K);
    case DType::kQ5_K: return dot_q5_k(reinterpret_cast<const BlockQ5_K*>(wrow), ak, cols / kQK_K);
    default: return dot_q6_k(reinterpret_cast<const BlockQ6_K*>(wrow), ak, cols / kQK_K);
  }
}

void qmatmul_rows_reference(const uint8_t* xq, int64_t xq_row_bytes, int64_t T, const WeightView& w,
                            const MatView& y, int64_t o_begin, int64_t o_end) noexcept {
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t rb = w.row_bytes();
  for (int64_t o = o_begin; o < o_end; ++o)
    for (int64_t t = 0; t < T; ++t)
      y.row(t)[o] = qdot_reference(w.dtype, base + o * rb, xq + t * xq_row_bytes, w.cols);
}

}  // namespace r1::kernels
