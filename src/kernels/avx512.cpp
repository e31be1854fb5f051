// AVX-512 kernels: the generic SIMD kernels instantiated over one zmm per 16 partial sums.
// Compiled with R1_AVX512_FLAGS; chosen at run time only on CPUs that report AVX-512.
#include "kernels/kernel_table.h"
#include "kernels/simd_avx512.h"

namespace r1::kernels::avx512 {
namespace {
constexpr Isa kIsa = Isa::kAvx512;
// 32 zmm registers: a 6 x 4 tile of accumulators + 4 weight vectors + 1 activation vector.
constexpr int kMR = 6, kNR = 4;
// Decode (T <= 6) streams 4 weight rows per pass with all T activation rows, 8 for one or two
// activation rows: the 1.5B shape's short F16/BF16 rows (3 KiB) streamed 2-6% faster with 8 streams
// in flight than with 4 (bench_kernels gate/up and lm_head shapes).
constexpr int kDirectMaxT = 6, kDirectN = 4, kDirectNFew = 8;
// F16 / BF16 / FP8 weights are packed (16 rows' chunks side by side, simd_kernels.h): one
// activation row sweeps a panel's 16 rows at once (16 accumulators). In bench_kernels (1.5B
// shapes) F16 / BF16 decode streamed 95-100% of the read bandwidth packed, 63-89% as 8 row
// streams.
constexpr bool kPackedFloats = true;
// Prefill: an f32 weight panel of up to 64 rows (fewer re-stream the activations too often),
// swept in k blocks of 1536: a tile's 6 activation rows (36 KiB) then come from L1 and L2, but
// the 1.5B shape's rows of 1536 need no partial sums between blocks. Against blocks of 768 (18
// KiB, all in L1), bench_kernels --packed F16 q/o_proj and gate/up_proj measured 101-105 → 105-109
// GFLOP/s on one thread and 200-211 → 213-218 on two, in two alternating runs.
// Panels cover rows of up to 9216 values (2.25 MiB per thread, beyond L2 for rows past 4096), so
// that the 1.5B shape's k = 8960 (down_proj) is not split: one 2.3 MiB panel read from L3 by each
// tile measured faster than three L2-sized ones with partial sums kept between them (below):
// bench_kernels --packed, down_proj, F16 and BF16, 76-77% → 80-81% of the FMA peak on one
// thread and 72-77% → 76-81% on two (whole-model F16 pp512 moves by less than its noise).
constexpr int kOBMax = 64, kKC = 1536;
constexpr int64_t kPanelBytes = 2560 << 10;
// Rows longer than one panel keep partial sums for 192 activation rows (768 KiB) across panels, so
// the panel is re-packed once per 192 rows. With 768 KiB panels, against 48 rows (192 KiB), the
// 1.5B shape's F16 down_proj went from 70% to 76% of the FMA peak on one thread (bench_kernels
// --packed); 288 and 516 rows were no better.
constexpr int kTB = 192;
constexpr int64_t kRowGrain = 16;
// FP8 decode streams each weight row with an L1 prefetch this far ahead (bytes; the other float
// types prefetch kStreamAhead into L2, simd_kernels.h).
constexpr int64_t kPrefetchBytes = 1024;
}  // namespace
}  // namespace r1::kernels::avx512

#include "kernels/simd_kernels.h"

namespace r1::kernels {
const KernelTable& avx512_table() { return avx512::table(); }
}  // namespace r1::kernels
