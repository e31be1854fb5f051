// Storage layout of the GGUF block-quantized weight types, byte for byte as the ggml
// specification defines them (little-endian; `d`/`dmin` are IEEE half floats stored as raw
// bits). Shared by the format code (dequantization reference, quantizer) and the kernels.
// Sizes match dtype_info(): a row of n elements of type T is n / block_elems blocks.
#pragma once

#include <cstdint>

namespace r1 {

inline constexpr int kQK4_0 = 32;  // elements per Q4_0 / Q8_0 block
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK_K = 256;  // elements per k-quant super-block
inline constexpr int kKScaleBytes = 12;  // packed 6-bit scales + mins of Q4_K / Q5_K

// x[i] = d * (q[i] - 8); element j < 16 in the low nibble of qs[j], element j + 16 in its high
// nibble.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// x[i] = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// 8 sub-blocks of 32: x = d * sc[j] * q - dmin * m[j], q in [0, 15], sc/m 6-bit. Chunk c (64
// elements) keeps sub-block 2c in the low nibbles of qs[32c .. 32c+31] and sub-block 2c+1 in
// the high nibbles. scales[12] packs (sc, m) pairs: for j < 4, sc = scales[j] & 63 and
// m = scales[j+4] & 63; for j >= 4, sc = (scales[j+4] & 15) | (scales[j-4] >> 6) << 4 and
// m = (scales[j+4] >> 4) | (scales[j] >> 6) << 4.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// As Q4_K with a fifth bit per element: bit 2c of qh[l] extends element 64c + l, bit 2c+1
// extends element 64c + 32 + l; q in [0, 31].
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

// 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q in [0, 63] (6 bits: 4 in ql, 2 in qh).
// Half h (128 elements) uses ql[64h ..], qh[32h ..]; for l < 32 the elements 128h + l + 32k
// (k = 0..3) take the low nibble of ql[64h+l], of ql[64h+l+32], the high nibble of ql[64h+l],
// of ql[64h+l+32], and bits 2k..2k+1 of qh[32h+l].
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Activation type of the k-quant dot products: x = d * qs[i]; bsums[j] = sum of qs[16j .. 16j+15].
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace r1
