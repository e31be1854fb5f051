// Element types of tensors, their storage sizes, and exact scalar conversions to f32.
// Block-quantized types (GGUF) store `block_elems` elements in `block_bytes` bytes.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace r1 {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kF8E4M3,  // e4m3fn: bias 7, max 448, no infinities; NaN is S.1111.111
  kI8,
  kI16,
  kI32,
  kI64,
  kU8,
  kBool,
  kF64,
  // GGUF block-quantized types (layouts per the ggml specification).
  kQ4_0,
  kQ8_0,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kQ8_K,  // activation type of the k-quants (not a weight type in files we load)
};

struct DTypeInfo {
  std::string_view name;   // as printed (safetensors spelling for the plain types)
  int block_elems;         // 1 for plain types
  int block_bytes;         // bytes per block (= element size for plain types)
};

const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
inline bool is_block_quantized(DType t) { return dtype_info(t).block_elems > 1; }

// Parses a safetensors dtype string ("F32", "BF16", "F8_E4M3", ...); nullopt if unknown.
std::optional<DType> dtype_from_safetensors(std::string_view s);

// Bytes needed for `elems` elements; for block types `elems` must be a multiple of the block.
// Returns nullopt on overflow or a partial block.
std::optional<uint64_t> dtype_bytes(DType t, uint64_t elems);

// ---- exact scalar conversions ----

inline float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

// Round to nearest even; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// e4m3fn → f32, exact (every e4m3 value is representable in f32).
float fp8_e4m3_to_f32(uint8_t v);
// f32 → e4m3fn, round to nearest even, saturating to ±448.
uint8_t f32_to_fp8_e4m3(float f);

}  // namespace r1
