// Exact conversions between f32 and the 16- and 8-bit float formats.
#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"

namespace r1 {
namespace {

TEST(DType, Bf16RoundTripAndRounding) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = bf16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_bf16(f), h);
  }
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), f32_to_bf16(1.0f));
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), f32_to_bf16(1.0f + std::ldexp(1.0f, -6)));
}

TEST(DType, F16RoundTripIncludingSubnormals) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f32_to_f16(70000.0f), 0x7c00);
}

TEST(DType, Fp8E4M3ValuesAndRoundTrip) {
  EXPECT_EQ(fp8_e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(fp8_e4m3_to_f32(0xb8), -1.0f);
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_f32(0x7f)));
  for (int c = 0; c < 256; ++c) {
    float f = fp8_e4m3_to_f32(uint8_t(c));
    if (std::isnan(f) || c == 0x80) continue;  // -0 maps back to 0x80 as well; skip NaN
    EXPECT_EQ(f32_to_fp8_e4m3(f), c) << c;
  }
  EXPECT_EQ(f32_to_fp8_e4m3(1000.0f), 0x7e);  // saturates
  // Between 1.0 (0x38) and 1.125 (0x39): the midpoint goes to the even code.
  EXPECT_EQ(f32_to_fp8_e4m3(1.0625f), 0x38);
  EXPECT_EQ(f32_to_fp8_e4m3(1.07f), 0x39);
}

TEST(DType, BytesAndNames) {
  EXPECT_EQ(dtype_from_safetensors("BF16"), DType::kBF16);
  EXPECT_EQ(dtype_from_safetensors("F8_E4M3"), DType::kF8E4M3);
  EXPECT_FALSE(dtype_from_safetensors("Q8_0").has_value());  // not a safetensors dtype
  EXPECT_FALSE(dtype_from_safetensors("F128").has_value());
  EXPECT_EQ(dtype_bytes(DType::kBF16, 10), 20u);
  EXPECT_EQ(dtype_bytes(DType::kQ8_0, 64), 68u);
  EXPECT_FALSE(dtype_bytes(DType::kQ8_0, 33).has_value());
  EXPECT_FALSE(dtype_bytes(DType::kF64, uint64_t(1) << 62).has_value());
}

}  // namespace
}  // namespace r1
