// The page prefetch shared by the decode kernels of every ISA and the bandwidth probe.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace r1::kernels {

// One sequential stream (packed block-quantized weights against one activation row, packed
// F16 / BF16 / FP8 panels, and one of the bandwidth probe's two loops) asks only for the first
// line of the 4 KiB page kPageAhead pages on: the hardware prefetchers stream the rest of a page
// once its first line is requested, but do not start on a new page by themselves. They follow the
// stream only while each load steps through memory by a short, fixed stride and each pass reads
// its lines in ascending order, so such a kernel loops over one block (or one equal part of a
// block) at a time instead of unrolling many: loads that jumped 2-4 KiB per pass, or by uneven
// strides, left the stream to the software prefetch. On a Zen 5 core, bare loads streamed 37-40
// GB/s this way against 25-28 with a prefetch of every line 8 KiB ahead and 25-35 with no
// software prefetch. Packed Q6_K decode, in four equal parts per block, went from
// 69-73% of the read bandwidth to 69-82% (its unpacking of 6-bit codes keeps it the slowest).
constexpr int64_t kPageBytes = 4096, kPageAhead = 2;
inline __attribute__((always_inline)) void prefetch_page_ahead(const void* p) {
  const uintptr_t at = (reinterpret_cast<uintptr_t>(p) + kPageAhead * kPageBytes) & ~uintptr_t(kPageBytes - 1);
  _mm_prefetch(reinterpret_cast<const char*>(at), _MM_HINT_T0);
}

}  // namespace r1::kernels
