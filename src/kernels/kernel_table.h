// Internal to src/kernels: the table of per-ISA leaf kernels that ops.cpp dispatches through.
// Each ISA file fills one table; threading, shape checks and ISA selection stay in ops.cpp so the
// ISA-flagged files contain leaf compute only (no shared inline code compiled with wider flags).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/ops.h"

namespace r1::kernels {

struct KernelTable {
  Isa isa;
  // y[t, o] for every t < x.rows and o in [o_begin, o_end). Shapes are already checked, K > 0.
  void (*matmul_rows)(const ConstMatView& x, const WeightView& w, const MatView& y, int64_t o_begin,
                      int64_t o_end) noexcept;
  float (*dot_f32)(const float* a, const float* b, int64_t n) noexcept;
  void (*axpy_f32)(float* y, float a, const float* x, int64_t n) noexcept;
  void (*dequantize_row)(const WeightView& w, int64_t row, float* out) noexcept;
  void (*rms_norm)(const float* x, const float* w, float eps, int64_t n, float* out) noexcept;
  void (*silu_mul)(const float* gate, const float* up, int64_t n, float* out) noexcept;
  void (*softmax)(float* x, int64_t n) noexcept;
  void (*add_inplace)(float* y, const float* x, int64_t n) noexcept;
  void (*scale_inplace)(float* x, float a, int64_t n) noexcept;
  int64_t (*argmax)(const float* x, int64_t n) noexcept;
  void (*rope_neox)(float* x, const float* cos, const float* sin, int64_t dim) noexcept;
  void (*rope_interleaved)(float* x, const float* cos, const float* sin, int64_t dim) noexcept;
  // Reads [p, p + bytes) with the ISA's widest loads, with the page prefetch of page_prefetch.h
  // or without any (the hardware prefetchers alone); returns a value depending on every byte so
  // the loads cannot be optimized away. `bytes` is a multiple of 64.
  float (*read_stream)(const void* p, uint64_t bytes, bool prefetch) noexcept;
  // Runs `iters` rounds of independent multiply-adds in registers; returns the FLOPs done and
  // stores a result in *sink so the work cannot be dropped.
  double (*fma_loop)(int64_t iters, float* sink) noexcept;
  // Output rows per parallel chunk (a multiple of the kernels' row tile).
  int64_t row_grain;
  // Block-quantized weights (quant.h): y[t, o] for t < T and o in [o_begin, o_end), from the
  // activation rows quantize_act_row wrote (row t at xq + t * xq_row_bytes).
  void (*qmatmul_rows)(const uint8_t* xq, int64_t xq_row_bytes, int64_t T, const WeightView& w,
                       const MatView& y, int64_t o_begin, int64_t o_end) noexcept;
  // quantize_act_row of quant.h (the same bytes on every ISA).
  void (*quantize_act_row)(DType w, const float* x, int64_t cols, uint8_t* out) noexcept;
  // Weights repacked for qmatmul_rows / matmul_rows (ops.h pack_weights): whether this ISA's
  // kernels read a packed layout of w (null: none; FP8 depends on the values), and the packing
  // into packed_weight_bytes(w) at out.
  bool (*packable)(const WeightView& w);
  void (*pack_weights)(const WeightView& w, uint8_t* out);
  // attn_scores / attn_values of ops.h, one entry per KV cache element type (f32, f16); `next` is
  // KvSpan::next (null: nothing to prefetch).
  void (*attn_scores_f32)(const float* q, int64_t group, int64_t hd, const float* k, int64_t k_stride,
                          int64_t n, float scale, float* s, int64_t ld, const float* next) noexcept;
  void (*attn_scores_f16)(const float* q, int64_t group, int64_t hd, const uint16_t* k, int64_t k_stride,
                          int64_t n, float scale, float* s, int64_t ld, const uint16_t* next) noexcept;
  void (*attn_values_f32)(float* o, int64_t group, int64_t hd, const float* w, int64_t ld, const float* v,
                          int64_t v_stride, int64_t n, const float* next) noexcept;
  void (*attn_values_f16)(float* o, int64_t group, int64_t hd, const float* w, int64_t ld, const uint16_t* v,
                          int64_t v_stride, int64_t n, const uint16_t* next) noexcept;
};

const KernelTable& scalar_table();
const KernelTable& avx2_table();
const KernelTable& avx512_table();

// ---- shared reference pieces (defined in scalar.cpp, used by every ISA) ----

// The contract dot product of x with weight row `o`, as the scalar reference computes it. SIMD
// kernels fall back to it for the rare inputs their fast paths do not handle (FP8 NaN codes,
// FP8 block scales of magnitude >= 256).
float reference_dot_row(const float* x, const WeightView& w, int64_t o) noexcept;

// The scalar table's qmatmul_rows (quant.cpp).
void qmatmul_rows_reference(const uint8_t* xq, int64_t xq_row_bytes, int64_t T, const WeightView& w,
                            const MatView& y, int64_t o_begin, int64_t o_end) noexcept;

// Per-thread scratch of at least `floats` floats, 64-byte aligned, kept for the thread's lifetime
// (the prefill path's weight panel). Allocates only when a thread first needs more than it has.
float* thread_scratch(size_t floats) noexcept;

// exp as specified in ops.h: scalar form of the polynomial every ISA evaluates.
float exp_ref(float x) noexcept;

// Constants of that exp, shared so every ISA uses the same bits.
inline constexpr float kExpHi = 88.72283f;  // above: +inf (ln FLT_MAX = 88.7228391)
inline constexpr float kExpLo = -86.98f;    // below: 0 (results under ~2.2e-38 flush)
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f;  // ln 2 split so n * kLn2Hi is exact (Cody-Waite)
inline constexpr float kLn2Lo = -2.12194440e-4f;
// Taylor coefficients 1/k! for k = 7..2; |r| <= ln2/2 keeps the truncation below 0.1 ulp.
inline constexpr float kExpC7 = 1.98412698e-4f;
inline constexpr float kExpC6 = 1.38888889e-3f;
inline constexpr float kExpC5 = 8.33333333e-3f;
inline constexpr float kExpC4 = 4.16666667e-2f;
inline constexpr float kExpC3 = 1.66666667e-1f;
inline constexpr float kExpC2 = 0.5f;

// FP8 fast-path scaling: a code's bits placed in an f32 ((q & 0x80) << 24 | (q & 0x7f) << 20)
// are its value times 2^-120, so value * scale == bits_as_f32 * (scale * 2^120) exactly when
// |scale| < 2^8 (no overflow of the folded factor).
inline constexpr float kFp8Fold = 1.329227995784916e36f;  // 2^120
inline constexpr float kFp8FoldMaxScale = 256.0f;

}  // namespace r1::kernels
