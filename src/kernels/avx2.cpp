// AVX2 kernels: the generic SIMD kernels instantiated over two ymm registers per 16 partial
// sums. Compiled with R1_AVX2_FLAGS (the build baseline).
#include "kernels/kernel_table.h"
#include "kernels/simd_avx2.h"

namespace r1::kernels::avx2 {
namespace {
constexpr Isa kIsa = Isa::kAvx2;
// 16 ymm registers: a 3 x 2 tile of 16-lane accumulators takes 12, leaving room for loads.
constexpr int kMR = 3, kNR = 2;
constexpr int kDirectMaxT = 3, kDirectN = 2, kDirectNFew = 2;
// Packed F16 / BF16 / FP8 panels (simd_kernels.h) take one activation row 16 weight rows at a
// time (32 ymm accumulators): AVX2 reads the file's rows as they are.
constexpr bool kPackedFloats = false;
// Prefill panel of up to 64 rows within 384 KiB: AVX2-only CPUs include ones with a 512 KiB L2.
constexpr int kOBMax = 64, kKC = 256;
constexpr int64_t kPanelBytes = 384 << 10;
// Rows longer than one panel (e.g. k = 8960) keep partial sums for 48 activation rows (192 KiB)
// across panels, so the panel is re-packed once per 48 rows.
constexpr int kTB = 48;
constexpr int64_t kRowGrain = 16;
// FP8 decode streams each weight row with an L1 prefetch this far ahead (bytes; the other float
// types prefetch kStreamAhead into L2, simd_kernels.h).
constexpr int64_t kPrefetchBytes = 1024;
}  // namespace
}  // namespace r1::kernels::avx2

#include "kernels/simd_kernels.h"

namespace r1::kernels {
const KernelTable& avx2_table() { return avx2::table(); }
}  // namespace r1::kernels
