// Type table and the scalar conversions the kernels use as their reference.
#include "core/dtype.h"

#include <array>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace r1 {

namespace {
constexpr std::array<DTypeInfo, 17> kInfo = {{
    {"F32", 1, 4},   {"F16", 1, 2},      {"BF16", 1, 2},      {"F8_E4M3", 1, 1}, {"I8", 1, 1},
    {"I16", 1, 2},   {"I32", 1, 4},      {"I64", 1, 8},       {"U8", 1, 1},      {"BOOL", 1, 1},
    {"F64", 1, 8},   {"Q4_0", 32, 18},   {"Q8_0", 32, 34},    {"Q4_K", 256, 144}, {"Q5_K", 256, 176},
    {"Q6_K", 256, 210}, {"Q8_K", 256, 292},
}};
}  // namespace

const DTypeInfo& dtype_info(DType t) {
  auto i = static_cast<size_t>(t);
  R1_CHECK(i < kInfo.size());
  return kInfo[i];
}

std::optional<DType> dtype_from_safetensors(std::string_view s) {
  for (size_t i = 0; i <= static_cast<size_t>(DType::kF64); ++i)
    if (kInfo[i].name == s) return static_cast<DType>(i);
  return std::nullopt;
}

std::optional<uint64_t> dtype_bytes(DType t, uint64_t elems) {
  const DTypeInfo& info = dtype_info(t);
  if (elems % uint64_t(info.block_elems) != 0) return std::nullopt;
  uint64_t blocks = elems / uint64_t(info.block_elems);
  if (blocks > std::numeric_limits<uint64_t>::max() / uint64_t(info.block_bytes)) return std::nullopt;
  return blocks * uint64_t(info.block_bytes);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h >> 15) << 31;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    if (mant == 0) return std::bit_cast<float>(sign);
    // Subnormal: value = mant * 2^-24.
    float f = std::ldexp(float(mant), -24);
    return sign ? -f : f;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00;  // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00;  // rounds to inf
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    // Round abs * 2^24 to the nearest even integer.
    float scaled = std::bit_cast<float>(abs) * 16777216.0f;
    float r = std::nearbyint(scaled);
    return sign | uint16_t(r);
  }
  uint32_t mant_rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return sign | uint16_t(((mant_rounded >> 13) - (112u << 10)));
}

float fp8_e4m3_to_f32(uint8_t v) {
  uint32_t sign = v >> 7;
  uint32_t exp = (v >> 3) & 0xf;
  uint32_t mant = v & 0x7;
  float out;
  if (exp == 0xf && mant == 0x7) {
    out = std::numeric_limits<float>::quiet_NaN();
  } else if (exp == 0) {
    out = std::ldexp(float(mant), -9);  // subnormal: mant/8 * 2^-6
  } else {
    out = std::ldexp(1.0f + float(mant) / 8.0f, int(exp) - 7);
  }
  return sign ? -out : out;
}

uint8_t f32_to_fp8_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  if (a < 0.015625f) {  // below the smallest normal 2^-6: subnormal steps of 2^-9
    return sign | uint8_t(std::nearbyint(a * 512.0f));  // 8 is exactly the code of 2^-6
  }
  int e;
  float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  int exp = e - 1 + 7;
  int q = int(std::nearbyint((m * 2.0f - 1.0f) * 8.0f));
  if (q == 8) {
    q = 0;
    ++exp;
  }
  int code = (exp << 3) | q;
  return sign | uint8_t(code > 0x7e ? 0x7e : code);
}

}  // namespace r1
