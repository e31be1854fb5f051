// Internal to src/kernels: quantized activations and the lane layout shared by every ISA's
// block-quantized dot products (the public contract is in ops.h).
//
// A matmul on Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K weights first quantizes each activation row to
// int8 in blocks that line up with the weight blocks (BlockA8 per 32 elements for Q8_0 and Q4_0,
// BlockQ8_K per 256 for the k-quants).
// Q8_0 / Q4_0: per block, the exact int32 total S = Σ q_i · a_i (Q4_0: q_i - 8) is converted to
// f32 and enters chain b mod 8 of eight: acc[b % 8] = fma(S, d × d_act, acc[b % 8]) (the scale
// product rounded once), and the chains reduce by the fixed tree
// ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
// Q4_K / Q5_K / Q6_K: per super-block, the exact int32 total S = Σ_e sc(e) · q_e · a_e (Q6_K:
// minus 32 · Σ_j sc_j · bsums[j] for its offset) is converted to f32 and enters one chain
// acc = fma(S, d × d_act, acc) in block order; Q4_K / Q5_K also keep M = Σ_j m_j ·
// (bsums[2j] + bsums[2j+1]) in a chain macc = fma(M, dmin × d_act, macc) and return acc - macc.
// Integer totals make the order of the products free, so a kernel may sum them per row (decode)
// or per output column across many rows (prefill) and still give the same bits.
// Scalar, AVX2 and AVX-512 follow exactly this, so they agree bit for bit.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/quant_blocks.h"

namespace r1::kernels {

// Activations for Q8_0 / Q4_0 weights: x[i] ≈ d * qs[i] with |qs[i]| <= 127; sum = Σ qs[i] (for
// kernels that offset the weight codes to unsigned bytes).
struct BlockA8 {
  float d;
  int8_t qs[kQK8_0];
  int32_t sum;
};
static_assert(sizeof(BlockA8) == 40);
// The k-quants use BlockQ8_K (core/quant_blocks.h) under the same rule, with bsums[j] the sum of
// qs[16j .. 16j+15].

// Rows per panel of a packed weight matrix (ops.h pack_weights).
inline constexpr int64_t kPackedRows = 16;

// Weight types with a quantized matmul.
bool quantized_matmul_type(DType w);
// Elements per activation block for weights of type w (32 or 256).
int64_t act_block_elems(DType w);
// Bytes of one quantized activation row of `cols` elements (a multiple of act_block_elems(w)).
int64_t act_row_bytes(DType w, int64_t cols);
// Quantizes x[0 .. cols) for weights of type w. Per block: amax = max |x|; d = amax / 127;
// qs = round-half-even(x * (127 / amax)) clamped to ±127. A block whose 127 / amax is not a finite
// float (amax == 0, or subnormal) is all zero with d = 0. A block with a non-finite element gets
// d = NaN, so every dot product it enters is NaN.
void quantize_act_row(DType w, const float* x, int64_t cols, uint8_t* out) noexcept;

// The scalar reference dot product of one weight row with one quantized activation row.
float qdot_reference(DType w, const uint8_t* wrow, const uint8_t* arow, int64_t cols) noexcept;

}  // namespace r1::kernels
