// Aligned buffers: alignment (2 MiB for huge-page buffers), zero fill, growth, and a clean failure
// for impossible sizes.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <new>

#include "core/tensor.h"

namespace r1 {
namespace {

constexpr size_t kMiB = size_t(1) << 20;

bool zero_filled(const std::byte* p, size_t bytes) {
  for (size_t i = 0; i < bytes; i += 4093)
    if (p[i] != std::byte{0}) return false;
  return bytes == 0 || p[bytes - 1] == std::byte{0};
}

TEST(AlignedBuffers, AlignmentAndZeroFill) {
  for (bool huge : {false, true}) {
    for (size_t bytes : {size_t(0), size_t(1), size_t(100), 2 * kMiB - 1, 2 * kMiB, 5 * kMiB + 3}) {
      auto mem = aligned_alloc_bytes(bytes, huge);
      const auto at = reinterpret_cast<uintptr_t>(mem.get());
      EXPECT_EQ(at % 64, 0u) << bytes;
      const bool mapped = huge && bytes >= 2 * kMiB;  // a mapping of its own, whole 2 MiB pages
      if (mapped) EXPECT_EQ(at % (2 * kMiB), 0u) << bytes;
      EXPECT_EQ(mem.get_deleter().mapped, mapped ? (bytes + 2 * kMiB - 1) / (2 * kMiB) * (2 * kMiB) : 0) << bytes;
      EXPECT_TRUE(zero_filled(mem.get(), bytes)) << bytes << (huge ? " huge" : "");
    }
    EXPECT_THROW(aligned_alloc_bytes(std::numeric_limits<size_t>::max() - 10, huge), std::bad_alloc);
  }
}

TEST(AlignedBuffers, GrowthKeepsContents) {
  FloatBuffer f(10);
  for (size_t i = 0; i < 10; ++i) f[i] = float(i);
  f.resize(kMiB, /*huge_pages=*/true);  // 4 MiB: the huge-page size class
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data()) % (2 * kMiB), 0u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(f[i], float(i));
  EXPECT_EQ(f[kMiB - 1], 0.0f);
}

}  // namespace
}  // namespace r1
