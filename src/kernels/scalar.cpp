// The scalar reference of every op: plain loops that spell out the numerics contract of ops.h.
// It is the specification the AVX2 / AVX-512 kernels must match bit for bit, and the oracle the
// tests compare them with. Built with -ffp-contract=off so each a*b+c stays two roundings.
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/dtype.h"
#include "kernels/kernel_table.h"
#include "kernels/quant.h"

namespace r1::kernels {

namespace {

constexpr int kLanes = 16;  // partial sums of the contract

// The contract's fixed reduction tree over 16 partial sums.
float reduce16(const float (&p)[kLanes]) {
  float s8[8], s4[4], s2[2];
  for (int j = 0; j < 8; ++j) s8[j] = p[j] + p[j + 8];
  for (int j = 0; j < 4; ++j) s4[j] = s8[j] + s8[j + 4];
  for (int j = 0; j < 2; ++j) s2[j] = s4[j] + s4[j + 2];
  return s2[0] + s2[1];
}

// Contract dot product where the k-th weight comes from wk(k).
template <typename WeightAt>
float dot_contract(const float* x, WeightAt wk, int64_t n) {
  float p[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int j = 0; j < kLanes; ++j) p[j] = std::fma(x[k + j], wk(k + j), p[j]);
  for (int j = 0; k + j < n; ++j) p[j] = std::fma(x[k + j], wk(k + j), p[j]);
  return reduce16(p);
}

// e4m3fn decoding table built from the exact conversion in core/dtype.
const std::array<float, 256>& fp8_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[size_t(i)] = fp8_e4m3_to_f32(uint8_t(i));
    return t;
  }();
  return table;
}

// F8_E4M3 weight element: the decoded code times its block's scale, rounded once to f32.
struct Fp8Row {
  const uint8_t* q;
  const float* scale_row;  // scale[(row0 + o) / 128][...]
  const float* table;
  float operator()(int64_t k) const { return table[q[k]] * scale_row[k / 128]; }
};

// Weights may sit at any byte offset inside a mapped file, so element loads go through memcpy.
template <typename T>
T load_unaligned(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Calls f with an accessor k -> W[o][k] (f32) for the view's type.
template <typename F>
decltype(auto) with_weight_row(const WeightView& w, int64_t o, F&& f) {
  const auto* base = static_cast<const uint8_t*>(w.data);
  switch (w.dtype) {
    case DType::kF32: {
      const uint8_t* r = base + o * w.cols * 4;
      return f([r](int64_t k) { return load_unaligned<float>(r + 4 * k); });
    }
    case DType::kBF16: {
      const uint8_t* r = base + o * w.cols * 2;
      return f([r](int64_t k) { return bf16_to_f32(load_unaligned<uint16_t>(r + 2 * k)); });
    }
    case DType::kF16: {
      const uint8_t* r = base + o * w.cols * 2;
      return f([r](int64_t k) { return f16_to_f32(load_unaligned<uint16_t>(r + 2 * k)); });
    }
    default: {  // kF8E4M3 (ops.cpp rejects every other type before dispatch)
      Fp8Row row{base + o * w.cols, w.scale + ((w.row0 + o) / 128) * w.scale_cols,
                 fp8_table().data()};
      return f(row);
    }
  }
}

void matmul_rows(const ConstMatView& x, const WeightView& w, const MatView& y, int64_t o_begin,
                 int64_t o_end) noexcept {
  for (int64_t o = o_begin; o < o_end; ++o) {
    with_weight_row(w, o, [&](auto wk) {
      for (int64_t t = 0; t < x.rows; ++t) y.row(t)[o] = dot_contract(x.row(t), wk, x.cols);
      return 0;
    });
  }
}

float dot_f32(const float* a, const float* b, int64_t n) noexcept {
  return dot_contract(
      a, [b](int64_t k) { return b[k]; }, n);
}

void axpy_f32(float* y, float a, const float* x, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
}

// The cache values of a KvSpan as exact f32, one element type per instantiation.
inline float kv_value(const float* p, int64_t i) { return p[i]; }
inline float kv_value(const uint16_t* p, int64_t i) { return f16_to_f32(p[i]); }

template <typename E>
void attn_scores(const float* q, int64_t group, int64_t hd, const E* k, int64_t k_stride, int64_t n,
                 float scale, float* s, int64_t ld, const E* /*next*/) noexcept {
  for (int64_t p = 0; p < n; ++p) {
    const E* kp = k + p * k_stride;
    for (int64_t j = 0; j < group; ++j)
      s[j * ld + p] = dot_contract(q + j * hd, [kp](int64_t i) { return kv_value(kp, i); }, hd) * scale;
  }
}

template <typename E>
void attn_values(float* o, int64_t group, int64_t hd, const float* w, int64_t ld, const E* v,
                 int64_t v_stride, int64_t n, const E* /*next*/) noexcept {
  for (int64_t p = 0; p < n; ++p)
    for (int64_t j = 0; j < group; ++j)
      for (int64_t i = 0; i < hd; ++i)
        o[j * hd + i] = std::fma(w[j * ld + p], kv_value(v + p * v_stride, i), o[j * hd + i]);
}

void dequantize_row(const WeightView& w, int64_t row, float* out) noexcept {
  with_weight_row(w, row, [&](auto wk) {
    for (int64_t k = 0; k < w.cols; ++k) out[k] = wk(k);
    return 0;
  });
}

void rms_norm(const float* x, const float* w, float eps, int64_t n, float* out) noexcept {
  float ss = dot_contract(
      x, [x](int64_t k) { return x[k]; }, n);
  float r = 1.0f / std::sqrt(ss / float(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * r) * w[i];
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) noexcept {
  for (int64_t i = 0; i < n; ++i) {
    float g = gate[i];
    out[i] = (g / (1.0f + exp_ref(-g))) * up[i];
  }
}

void softmax(float* x, int64_t n) noexcept {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  float p[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) {
    x[i] = exp_ref(x[i] - m);
    p[i % kLanes] += x[i];
  }
  float inv = 1.0f / reduce16(p);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void add_inplace(float* y, const float* x, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void scale_inplace(float* x, float a, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) x[i] *= a;
}

int64_t argmax(const float* x, int64_t n) noexcept {
  int64_t best = -1;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isnan(x[i]) && (best < 0 || x[i] > x[best])) best = i;
  return best < 0 ? 0 : best;
}

void rope_neox(float* x, const float* cos, const float* sin, int64_t dim) noexcept {
  int64_t half = dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    float a = x[i], b = x[i + half];
    x[i] = a * cos[i] - b * sin[i];
    x[i + half] = b * cos[i] + a * sin[i];
  }
}

void rope_interleaved(float* x, const float* cos, const float* sin, int64_t dim) noexcept {
  for (int64_t i = 0; i < dim / 2; ++i) {
    float a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * cos[i] - b * sin[i];
    x[2 * i + 1] = b * cos[i] + a * sin[i];
  }
}

float read_stream(const void* p, uint64_t bytes, bool /*prefetch*/) noexcept {
  const auto* u = static_cast<const uint64_t*>(p);
  uint64_t acc = 0;
  for (uint64_t i = 0; i < bytes / 8; ++i) acc ^= u[i];
  return float(acc & 0xffff);
}

double fma_loop(int64_t iters, float* sink) noexcept {
  float a[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  const float b = 0.999f, c = 1e-3f;
  for (int64_t i = 0; i < iters; ++i)
    for (float& v : a) v = std::fma(v, b, c);
  *sink = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
  return double(iters) * 8 * 2;
}

}  // namespace

float exp_ref(float x) noexcept {
  if (std::isnan(x)) return x + x;
  if (x > kExpHi) return std::numeric_limits<float>::infinity();
  if (x < kExpLo) return 0.0f;
  float n = std::nearbyint(x * kLog2e);
  float r = std::fma(n, -kLn2Hi, x);
  r = std::fma(n, -kLn2Lo, r);
  float p = kExpC7;
  p = std::fma(p, r, kExpC6);
  p = std::fma(p, r, kExpC5);
  p = std::fma(p, r, kExpC4);
  p = std::fma(p, r, kExpC3);
  p = std::fma(p, r, kExpC2);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  // p * 2^n by adding n to the exponent field; the thresholds keep the result a normal number.
  return std::bit_cast<float>(std::bit_cast<int32_t>(p) + (int32_t(n) << 23));
}

float reference_dot_row(const float* x, const WeightView& w, int64_t o) noexcept {
  return with_weight_row(w, o, [&](auto wk) { return dot_contract(x, wk, w.cols); });
}

const KernelTable& scalar_table() {
  static const KernelTable table = {
      Isa::kScalar,     matmul_rows,   dot_f32,  axpy_f32,
      dequantize_row,   rms_norm,      silu_mul, softmax,
      add_inplace,      scale_inplace, argmax,   rope_neox,
      rope_interleaved, read_stream,   fma_loop, 16,
      qmatmul_rows_reference, quantize_act_row, nullptr, nullptr,
      attn_scores<float>, attn_scores<uint16_t>, attn_values<float>, attn_values<uint16_t>,
  };
  return table;
}

}  // namespace r1::kernels
