// The ops the models call. Everything ISA-specific lives behind this header: each op has a plain
// scalar version (the specification and the test oracle) and AVX2 / AVX-512 versions, picked
// once at start-up from the CPU (or forced with R1_ISA=scalar|avx2|avx512, or set_isa()).
//
// Numerics contract (what makes seeded generation reproducible under batching):
//  * A dot product over k is accumulated in 16 interleaved f32 partial sums (partial j takes
//    k = j, j+16, j+32, ... in increasing order, each step one fused multiply-add), then reduced
//    by the fixed tree s8[j] = p[j] + p[j+8]; s4[j] = s8[j] + s8[j+4]; s2[j] = s4[j] + s4[j+2];
//    s = s2[0] + s2[1]. Scalar, AVX2 (two 8-lane halves) and AVX-512 follow exactly this order,
//    so they agree bit for bit for f32/f16/bf16 weights.
//  * Every output element of matmul is computed this way whatever the number of rows T in the
//    batch and whatever the thread count: work is split over output columns/rows, never over k.
//    Row t of the result therefore does not depend on the other rows.
//  * Weights enter the dot product as exact f32 values: F32 as is, BF16 shifted (<<16), F16
//    converted exactly (F16C), F8_E4M3 as w = fp8(q) * scale, the exact code value times its
//    block's scale rounded once to f32 (a NaN code, 0x7f/0xff, gives NaN). FP8 is dequantized
//    in registers (or into a small per-thread tile for prefill), never into a copy of the matrix.
//    So matmul(x, W)[t][o] == dot_f32(x[t], dequantize_row(W, o)) bit for bit.
//  * Element-wise ops are specified by their scalar versions (kernels/scalar.cpp); the SIMD
//    versions perform the same IEEE operations in the same order (no FMA contraction), so every
//    op below agrees bit for bit across ISAs. exp (softmax, silu) is one fixed polynomial
//    evaluation, accurate to 2 ulp: exp(x) = +inf for x > 88.72283, 0 for x < -86.98 (results
//    below ~2.2e-38 flush to zero), else 2^n * p(r) with n = round(x*log2 e), r = x - n*ln 2 in
//    two Cody-Waite steps, p the degree-7 Taylor polynomial by Horner's rule.
//  * NaN payloads are not part of the contract (any NaN equals any NaN).
//  * Block-quantized weights (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K; layouts in core/quant_blocks.h) are
//    multiplied on their blocks directly: each row of x is first rounded to int8 per block
//    (x ≈ d·q, d = max|x|/127, q = round-half-even(x·127/max|x|); 32 elements for Q8_0/Q4_0, 256
//    for the k-quants), products are summed exactly in integers, and blocks are combined in f32
//    in the fixed order kernels/quant.h spells out. So a result differs from the f32 product by
//    the activation rounding (at most Σ|w|·d/2 per block) plus f32 rounding; it is independent
//    of T and of the thread count, and identical on every ISA.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace r1 {

// A weight matrix of `rows` outputs × `cols` inputs, row-major as in Hugging Face checkpoints
// (y = x · Wᵀ), in its storage type. Zero-copy: `data` usually points into a mapped file.
struct WeightView {
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;
  // F8_E4M3 only: block scales, f32 [ceil(rows_total/128), ceil(cols/128)] row-major, applied as
  // W[i][j] = fp8(W[i][j]) * scale[(row0 + i)/128][j/128]. `row0` lets a view start at any row of
  // the full matrix (e.g. one head's slice of kv_b_proj) while indexing the full scale grid.
  const float* scale = nullptr;
  int64_t scale_cols = 0;  // ceil(cols/128)
  int64_t row0 = 0;
  // Optional: the same matrix repacked by pack_weights; the quantized kernels read it instead of
  // `data` when set (the scalar reference always reads `data`).
  const void* packed = nullptr;

  // Bytes of one row (block-quantized types: cols must be a multiple of the block size).
  int64_t row_bytes() const;
  // The view of rows [begin, begin + count).
  WeightView rows_slice(int64_t begin, int64_t count) const;
};

// Row-major f32 matrices for activations. stride >= cols (in floats).
struct MatView {
  float* data;
  int64_t rows, cols, stride;
  float* row(int64_t r) const { return data + r * stride; }
};
struct ConstMatView {
  const float* data;
  int64_t rows, cols, stride;
  ConstMatView(const float* d, int64_t r, int64_t c, int64_t s) : data(d), rows(r), cols(c), stride(s) {}
  ConstMatView(const MatView& m) : data(m.data), rows(m.rows), cols(m.cols), stride(m.stride) {}
  const float* row(int64_t r) const { return data + r * stride; }
};

// ---- ISA selection ----
Isa active_isa();
// Re-points every op to `isa` (must be supported). Not thread-safe; call between computations.
void set_isa(Isa isa);

// ---- matrix products ----

// y[t, o] = Σ_k x[t, k] · W[o, k]  for t < x.rows, o < w.rows. Requires x.cols == w.cols,
// y.rows == x.rows, y.cols == w.rows. Weight types: F32, F16, BF16, F8_E4M3 (+ scales), and the
// block types above (w.cols a whole number of blocks).
// Parallel over output columns; each y element follows the numerics contract above.
// y must not overlap x. Decode-sized T streams the weights once for all rows; larger T uses a
// per-thread f32 panel of up to a few MiB, allocated on a thread's first such call and kept.
void matmul(ThreadPool& pool, ConstMatView x, const WeightView& w, MatView y);

// One product of a batch: y = x · Wᵀ with the shapes and rules of matmul.
struct MatmulJob {
  ConstMatView x;
  WeightView w;
  MatView y;
};
// Several products in one parallel pass: threads claim output columns across all of them, so a
// layer's small matrices (a token's experts, the q/k/v projections) stream as one matrix instead
// of one start-up and one wait each. Every y is bit-identical to matmul(x, w, y); jobs with the
// same x (same view) and activation format share one quantization of it. No y may overlap any x.
void matmul_batch(ThreadPool& pool, std::span<const MatmulJob> jobs);

// Weights repacked for the kernels of the active ISA, 16 rows per panel. Block-quantized: 16
// rows interleaved per block, so decode (fewer than 8 rows of x) multiplies 16 rows per vector
// instead of reducing one row at a time; the same layout serves AVX2 and AVX-512; prefill still
// reads `data`. F16 / BF16 / FP8 (AVX-512, rows of whole 16-value chunks): the panel's rows one
// chunk at a time side by side, so decode reads one stream instead of one per row; every product
// then reads the packed copy. A packed matrix has the bytes of the file's layout (plus zero rows
// up to a multiple of 16: packed_weight_bytes).
// Returns the packed copy and points w.packed at it, or returns null and leaves w as is when the
// active ISA has no packed kernels for w (packed: every block type; F16, BF16 and FP8 on
// AVX-512, FP8 only without NaN codes and with block scales of magnitude below 256). Results are
// bit for bit those of the unpacked matrix. The copy must outlive every view of w.
std::unique_ptr<std::byte[], AlignedFree> pack_weights(WeightView& w);
uint64_t packed_weight_bytes(const WeightView& w);

// Dot product of two f32 vectors, contract order.
float dot_f32(const float* a, const float* b, int64_t n);
// y[i] += a · x[i], one fused multiply-add per element.
void axpy_f32(float* y, float a, const float* x, int64_t n);

// Values of the KV cache as the attention ops read them: f32, or f16 (half the bytes; each value
// enters the arithmetic as its exact f32 conversion). at(i) is the view i elements further on.
// `next`, when set, is where the caller reads after these rows (the next run of cache slots, at
// the same stride): the attention ops prefetch its row p while they use row p of `data`, so the
// next run arrives from memory while this one is computed.
struct KvSpan {
  const void* data = nullptr;
  DType type = DType::kF32;  // kF32 or kF16
  const void* next = nullptr;
  KvSpan at(int64_t elems) const {
    const int64_t off = elems * (type == DType::kF16 ? 2 : 4);
    return {static_cast<const uint8_t*>(data) + off, type,
            next ? static_cast<const uint8_t*>(next) + off : nullptr};
  }
};

// Attention of the `group` query heads that share one KV head (q + j*hd, j < group) over n cache
// slots k_stride / v_stride elements apart, bit for bit as the loops of dot_f32 / axpy_f32 they
// replace (one pass over each slot serves the whole group), with k and v taken as f32 values:
//   s[j*ld + p] = dot_f32(q + j*hd, k + p*k_stride, hd) * scale
//   for p = 0..n-1 in order: axpy_f32(o + j*hd, w[j*ld + p], v + p*v_stride, hd)
void attn_scores(const float* q, int64_t group, int64_t hd, KvSpan k, int64_t k_stride, int64_t n,
                 float scale, float* s, int64_t ld);
void attn_values(float* o, int64_t group, int64_t hd, const float* w, int64_t ld, KvSpan v,
                 int64_t v_stride, int64_t n);

// Row `row` of a weight matrix converted to f32 (embedding lookup, debugging). Block types use
// the scalar dequantization of core/quants.h.
void dequantize_row(const WeightView& w, int64_t row, float* out);

// ---- element-wise and row ops (single-threaded; callers parallelize over rows if needed) ----

// out = w ⊙ x / sqrt(mean(x²) + eps). The sum of squares uses the contract order; out may alias x.
// Exactly: r = 1 / sqrt(ss / n + eps); out[i] = (x[i] * r) * w[i].
void rms_norm(const float* x, const float* w, float eps, int64_t n, float* out);
// out[i] = silu(gate[i]) · up[i], silu(g) = g / (1 + exp(-g)). out may alias gate or up.
// Exactly: (g / (1 + exp(-g))) * up.
void silu_mul(const float* gate, const float* up, int64_t n, float* out);
// In-place numerically stable softmax: x[i] = exp(x[i] - max) / Σ exp(x[j] - max).
// Exactly: e[i] = exp(x[i] - max); s = Σ e in the contract order (plain adds); x[i] = e[i] * (1/s).
// NaN inputs are ignored by the max; a row of only -inf gives NaN.
void softmax(float* x, int64_t n);
// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t n);
// x[i] *= a
void scale_inplace(float* x, float a, int64_t n);
// Index of the largest element (the first one on ties, -0 == +0); NaN elements never win, and an
// all-NaN input gives 0. n > 0.
int64_t argmax(const float* x, int64_t n);

// RoPE on one head vector of length `dim` given cos/sin of the angles θ_i = pos·inv_freq_i,
// i < dim/2.
//  neox / rotate-half (Qwen2, Llama): pairs (x[i], x[i + dim/2]).
//  interleaved (DeepSeek-V3):          pairs (x[2i], x[2i + 1]).
// out = (a·cos − b·sin, b·cos + a·sin) for each pair (a, b), products rounded (no FMA). In place.
void rope_neox(float* x, const float* cos, const float* sin, int64_t dim);
void rope_interleaved(float* x, const float* cos, const float* sin, int64_t dim);

// ---- memory bandwidth ----

// Streams `bytes` of `buf` with the same vector loads the matmul kernels use, on all threads of
// `pool`, and returns the read bandwidth in bytes per second: the best of `reps` rounds, each
// streaming once with a prefetch of every page's first line two pages ahead (page_prefetch.h, the
// fastest stream found on Zen 5) and once without software prefetch (whichever reads faster on
// this machine: the bound must not flatter the kernels).
double measure_read_bandwidth(ThreadPool& pool, const void* buf, uint64_t bytes, int reps);

// Peak f32 multiply-add rate of the active ISA on all threads of `pool` (independent FMA chains
// in registers, ~50 ms), in FLOP/s counting a multiply-add as 2: the compute bound for prefill.
double measure_fma_peak(ThreadPool& pool);

}  // namespace r1
