// Aligned buffers: alignment, zero fill, growth, and a clean failure for impossible sizes.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <limits>

#include "core/tensor.h"

namespace r1 {
namespace {

TEST(AlignedBuffers, SmallAre64ByteAlignedLargeAre2MiBAligned) {
  for (size_t bytes : {size_t(0), size_t(1), size_t(100), (size_t(2) << 20) - 1}) {
    void* p = alloc_stream_bytes(bytes);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << bytes;
    std::free(p);
  }
  for (size_t bytes : {size_t(2) << 20, (size_t(5) << 20) + 3}) {
    void* p = alloc_stream_bytes(bytes);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % (size_t(2) << 20), 0u) << bytes;
    std::free(p);
  }
  EXPECT_EQ(alloc_stream_bytes(std::numeric_limits<size_t>::max() - 10), nullptr);
}

TEST(AlignedBuffers, ZeroFilledAndGrowthKeepsContents) {
  auto mem = aligned_alloc_bytes((size_t(3) << 20) + 5);
  const auto* b = reinterpret_cast<const unsigned char*>(mem.get());
  for (size_t i = 0; i < (size_t(3) << 20) + 5; i += 4093) EXPECT_EQ(b[i], 0) << i;
  EXPECT_THROW(aligned_alloc_bytes(std::numeric_limits<size_t>::max() - 10), std::bad_alloc);

  FloatBuffer f(10);
  for (size_t i = 0; i < 10; ++i) f.data()[i] = float(i);
  f.resize(size_t(1) << 20);  // crosses into the huge-page size class
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(f.data()[i], float(i));
  EXPECT_EQ(f.data()[(size_t(1) << 20) - 1], 0.0f);
}

}  // namespace
}  // namespace r1
