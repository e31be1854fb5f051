// Internal to src/kernels: quantized activations and the lane layout shared by every ISA's
// block-quantized dot products (the public contract is in ops.h).
//
// A matmul on Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K weights first quantizes each activation row to
// int8 in blocks that line up with the weight blocks (BlockA8 per 32 elements for Q8_0 and Q4_0,
// BlockQ8_K per 256 for the k-quants). A dot product then sums integer products exactly in eight
// int32 lanes: within each group of 32 consecutive elements, lane l takes elements 4l .. 4l+3
// (what one 256-bit u8·s8 dot instruction produces). Once per weight block the lanes are
// converted to f32 and multiplied into eight f32 lane accumulators with one fused multiply-add
// each (scale = weight scale × activation scale, rounded once). Q8_0 / Q4_0 keep two accumulator
// sets, even blocks in the first and odd ones in the second, added lane by lane at the end. Q4_K /
// Q5_K put their min term in a second set whose lane l takes m_l · (bsums[2l] + bsums[2l+1]) with
// scale dmin × d_act, and subtract its reduction at the end. A set of lanes reduces by the fixed
// tree ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
// Scalar, AVX2 and AVX-512 follow exactly this, so they agree bit for bit.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/quant_blocks.h"

namespace r1::kernels {

// Activations for Q8_0 / Q4_0 weights: x[i] ≈ d * qs[i] with |qs[i]| <= 127.
struct BlockA8 {
  float d;
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockA8) == 36);
// The k-quants use BlockQ8_K (core/quant_blocks.h) under the same rule, with bsums[j] the sum of
// qs[16j .. 16j+15].

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
