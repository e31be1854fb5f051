// Scalar dequantization (the reference the kernels are tested against, and the row lookup of
// quantized embedding tables) and quantization (for `r1 quantize`) of the GGUF tensor types r1
// reads and writes: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K (and Q8_K, the k-quant activation
// type). Block layouts: core/quant_blocks.h.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/quant_blocks.h"

namespace r1 {

// True for the types dequantize()/quantize() handle.
bool gguf_codec_supported(DType t);

// Converts n elements of type `t` at `src` to f32. For block types n must be a multiple of the
// block size (R1_CHECK). Results equal ggml's dequantize_row_* bit for bit.
void dequantize(DType t, const void* src, float* dst, int64_t n);

// Encodes n f32 values as type `t` into `dst` (dtype_bytes(t, n) bytes). Block types: n must
// be a multiple of the block size. Non-finite inputs are the caller's to reject.
void quantize(DType t, const float* src, void* dst, int64_t n);

// Per-type entry points (n = elements, a multiple of the type's block size).
void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n);
void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n);
void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t n);

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n);
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n);
void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t n);

// The (scale, min) pair j (0..7) of a Q4_K / Q5_K block, both 6-bit.
void k_scale_min(const uint8_t* scales, int j, uint8_t* sc, uint8_t* m);

}  // namespace r1
