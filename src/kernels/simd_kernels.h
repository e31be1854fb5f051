// The SIMD kernels, written once over the 16-lane V16 of the including ISA file (avx2.cpp,
// avx512.cpp), which first includes its simd_<isa>.h and defines the tile sizes (kMR, kNR,
// kOBMax, kPanelBytes, kKC, kTB, kDirectMaxT, kDirectN, kDirectNFew). Every accumulator holds
// the 16 partial sums of the numerics contract (ops.h), so each output equals the scalar
// reference bit for bit whichever path below computes it; the paths differ only in how they
// reuse data:
//  * direct (T <= kDirectMaxT, decode): kDirectN weight rows (kDirectNFew for T <= 2) are
//    streamed once, converted in registers and multiplied with all T activation rows; this is the
//    memory-bound matvec.
//  * blocked (larger T, prefill): a panel of up to kOBMax weight rows (at most kPanelBytes, sized
//    for L2) is converted to f32 once into per-thread scratch (a tile, not a copy of the matrix)
//    and serves many activation rows; a kMR x kNR register tile runs over it in k blocks of
//    kKC, keeping partial sums of unfinished k in a buffer exactly as the registers held them,
//    so splitting k changes no rounding.
// Not a normal header: included exactly once per ISA translation unit.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/kernel_table.h"
#include "kernels/quant.h"

#ifndef R1_SIMD_NS
#error "include simd_avx2.h or simd_avx512.h first"
#endif

#define R1_UNROLL _Pragma("GCC unroll 32")

namespace r1::kernels::R1_SIMD_NS {
namespace {

template <typename T>
R1_SIMD_INLINE T min_of(T a, T b) {
  return a < b ? a : b;
}
template <typename T>
R1_SIMD_INLINE T max_of(T a, T b) {
  return a < b ? b : a;
}

// Row pointers without the views' inline members: inline functions shared with files built for
// other ISAs must not be emitted from this one (the linker would keep an arbitrary copy).
R1_SIMD_INLINE const float* xrow(const ConstMatView& x, int64_t t) { return x.data + t * x.stride; }
R1_SIMD_INLINE float* yrow(const MatView& y, int64_t t) { return y.data + t * y.stride; }

enum class Wt { kF32, kBF16, kF16, kFP8 };

template <Wt D>
inline constexpr int64_t kElemBytes = D == Wt::kF32 ? 4 : (D == Wt::kFP8 ? 1 : 2);

// 16 weights starting at element k of a row, converted to f32 (FP8: the 2^-120-scaled bits).
template <Wt D>
R1_SIMD_INLINE V16 wload(const uint8_t* row, int64_t k) {
  if constexpr (D == Wt::kF32)
    return load(reinterpret_cast<const float*>(row) + k);
  else if constexpr (D == Wt::kBF16)
    return load_bf16(reinterpret_cast<const uint16_t*>(row) + k);
  else if constexpr (D == Wt::kF16)
    return load_f16(reinterpret_cast<const uint16_t*>(row) + k);
  else
    return load_fp8_bits(row + k);
}
template <Wt D>
R1_SIMD_INLINE V16 wload_n(const uint8_t* row, int64_t k, int n) {
  if constexpr (D == Wt::kF32)
    return load_n(reinterpret_cast<const float*>(row) + k, n);
  else if constexpr (D == Wt::kBF16)
    return load_bf16_n(reinterpret_cast<const uint16_t*>(row) + k, n);
  else if constexpr (D == Wt::kF16)
    return load_f16_n(reinterpret_cast<const uint16_t*>(row) + k, n);
  else
    return load_fp8_bits_n(row + k, n);
}

// Weight streams other than packed block and float decode (page_prefetch.h) are
// prefetched line by line this far ahead into L2: unpacked F16 / BF16 decode rows and batches of
// packed blocks. For Q4_K / Q6_K blocks 4 KiB ahead measured 3-6% slower than 8 KiB (12 and 16
// KiB: the same as 8).
constexpr int64_t kStreamAhead = 8192;

// Software prefetch hint into L1 (never faults, so running past the end of a row is harmless).
R1_SIMD_INLINE void prefetch(const uint8_t* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
}

// FP8 block scale folded with 2^120 (valid when fp8_scale_fast(s)).
R1_SIMD_INLINE bool fp8_scale_fast(float s) {
  return s < kFp8FoldMaxScale && s > -kFp8FoldMaxScale;
}

// Exact FP8 dequantization of 16 codes for the packing paths (NaN codes and any scale handled).
R1_SIMD_INLINE V16 fp8_dequant(V16 bits, float s) {
  bits = fp8_fix_nan(bits);
  if (fp8_scale_fast(s)) return mul(bits, set1(s * kFp8Fold));
  return mul(mul(bits, set1(kFp8Fold)), set1(s));
}

const uint8_t* row_ptr(const WeightView& w, int64_t o, int64_t elem_bytes) {
  return static_cast<const uint8_t*>(w.data) + o * w.cols * elem_bytes;
}
const float* scale_row(const WeightView& w, int64_t o) {
  return w.scale + ((w.row0 + o) / 128) * w.scale_cols;
}
bool scale_row_fast(const float* s, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!fp8_scale_fast(s[i])) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Direct path: an M x N tile over the whole of k, weights converted on the fly.

template <Wt D, int M, int N>
R1_SIMD_INLINE void direct_step(V16 (&acc)[M][N], const float* const (&xr)[M],
                                const uint8_t* const (&wr)[N], const V16 (&s)[N], int64_t k) {
  V16 w[N];
  R1_UNROLL for (int n = 0; n < N; ++n) {
    w[n] = wload<D>(wr[n], k);
    if constexpr (D == Wt::kFP8) w[n] = mul(w[n], s[n]);
  }
  R1_UNROLL for (int m = 0; m < M; ++m) {
    V16 xv = load(xr[m] + k);
    R1_UNROLL for (int n = 0; n < N; ++n) acc[m][n] = fma(xv, w[n], acc[m][n]);
  }
}
template <Wt D, int M, int N>
R1_SIMD_INLINE void direct_step_n(V16 (&acc)[M][N], const float* const (&xr)[M],
                                  const uint8_t* const (&wr)[N], const V16 (&s)[N], int64_t k,
                                  int cnt) {
  V16 w[N];
  R1_UNROLL for (int n = 0; n < N; ++n) {
    w[n] = wload_n<D>(wr[n], k, cnt);
    if constexpr (D == Wt::kFP8) w[n] = mul(w[n], s[n]);
  }
  R1_UNROLL for (int m = 0; m < M; ++m) {
    V16 xv = load_n(xr[m] + k, cnt);
    R1_UNROLL for (int n = 0; n < N; ++n) acc[m][n] = fma(xv, w[n], acc[m][n]);
  }
}

template <int M, int N>
R1_SIMD_INLINE void write_tile(V16 (&acc)[M][N], float* y, int64_t ys) {
  R1_UNROLL for (int m = 0; m < M; ++m) {
    if constexpr (N == 4) {
      _mm_storeu_ps(y + m * ys, reduce4(acc[m][0], acc[m][1], acc[m][2], acc[m][3]));
    } else {
      R1_UNROLL for (int n = 0; n < N; ++n) y[m * ys + n] = reduce(acc[m][n]);
    }
  }
}

// Accumulates rows o..o+N-1 of w against activation rows xr[0..M-1] over the whole of k.
// Returns false (FP8 only) when a NaN code or a block scale outside the fast path was seen.
template <Wt D, int M, int N>
R1_SIMD_INLINE bool direct_accumulate(V16 (&acc)[M][N], const float* const (&xr)[M],
                                      const WeightView& w, int64_t o) {
  const int64_t K = w.cols;
  const uint8_t* wr[N];
  R1_UNROLL for (int n = 0; n < N; ++n) wr[n] = row_ptr(w, o + n, kElemBytes<D>);
  V16 s[N];
  if constexpr (D != Wt::kFP8) {
    R1_UNROLL for (int n = 0; n < N; ++n) s[n] = zero();
    // Each row is a stream that goes on into the same row of the next tile (the rows of a tile
    // and the next tile's lie back to back), kStreamAhead bytes ahead in all: a prefetch ahead
    // within each row alone left the start of every row to the hardware prefetchers (for the
    // 1.5B shape's 3 KiB F16 rows, decode ran at 59-77% of the read bandwidth instead of 80-89%).
    const int64_t rb = K * kElemBytes<D>;
    constexpr int64_t kLead = kStreamAhead / N;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      const int64_t ahead = k * kElemBytes<D> + kLead;
      const uint8_t* at = ahead < rb ? wr[0] + ahead : wr[0] + (N - 1) * rb + ahead;
      R1_UNROLL for (int n = 0; n < N; ++n)
          R1_UNROLL for (int64_t b = 0; b < 32 * kElemBytes<D>; b += 64)
              _mm_prefetch(reinterpret_cast<const char*>(at + n * rb + b), _MM_HINT_T1);
      direct_step<D, M, N>(acc, xr, wr, s, k);
      direct_step<D, M, N>(acc, xr, wr, s, k + 16);
    }
    for (; k + 16 <= K; k += 16) direct_step<D, M, N>(acc, xr, wr, s, k);
    if (k < K) direct_step_n<D, M, N>(acc, xr, wr, s, k, int(K - k));
    return true;
  } else {
    const float* srow[N];
    R1_UNROLL for (int n = 0; n < N; ++n) {
      srow[n] = scale_row(w, o + n);
      if (!scale_row_fast(srow[n], w.scale_cols)) return false;
    }
    NanScan scan[N];
    int64_t kb = 0;
    for (; kb + 128 <= K; kb += 128) {
      R1_UNROLL for (int n = 0; n < N; ++n) {
        if constexpr (kPrefetchBytes > 0) {
          prefetch(wr[n] + kb + kPrefetchBytes);
          prefetch(wr[n] + kb + 64 + kPrefetchBytes);
        }
        s[n] = set1(srow[n][kb / 128] * kFp8Fold);
        scan[n].feed64(wr[n] + kb);
        scan[n].feed64(wr[n] + kb + 64);
      }
      R1_UNROLL for (int j = 0; j < 128; j += 16) direct_step<D, M, N>(acc, xr, wr, s, kb + j);
    }
    if (kb < K) {
      R1_UNROLL for (int n = 0; n < N; ++n) {
        s[n] = set1(srow[n][kb / 128] * kFp8Fold);
        int64_t b = kb;
        for (; b + 64 <= K; b += 64) scan[n].feed64(wr[n] + b);
        if (b < K) scan[n].feed_n(wr[n] + b, K - b);
      }
      int64_t k = kb;
      for (; k + 16 <= K; k += 16) direct_step<D, M, N>(acc, xr, wr, s, k);
      if (k < K) direct_step_n<D, M, N>(acc, xr, wr, s, k, int(K - k));
    }
    bool nan = false;
    R1_UNROLL for (int n = 0; n < N; ++n) nan |= scan[n].any_nan();
    return !nan;
  }
}

// y[m][n] for rows o..o+N-1 of w and activation rows xr[0..M-1]; y points at y[t0][o].
template <Wt D, int M, int N>
void direct_tile(const float* const (&xr)[M], const WeightView& w, int64_t o, float* y,
                 int64_t ys) noexcept {
  V16 acc[M][N];
  R1_UNROLL for (int m = 0; m < M; ++m) R1_UNROLL for (int n = 0; n < N; ++n) acc[m][n] = zero();
  if (direct_accumulate<D, M, N>(acc, xr, w, o)) {
    write_tile<M, N>(acc, y, ys);
    return;
  }
  // FP8 NaN codes or huge block scales: the scalar reference gives the same bits.
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) y[m * ys + n] = reference_dot_row(xr[m], w, o + n);
}

template <Wt D, int M>
void direct_rows(const ConstMatView& x, const WeightView& w, const MatView& y, int64_t o_begin,
                 int64_t o_end) noexcept {
  const float* xr[M];
  R1_UNROLL for (int m = 0; m < M; ++m) xr[m] = xrow(x, m);
  float* yo = yrow(y, 0);
  constexpr int kN = M <= 2 ? kDirectNFew : kDirectN;
  int64_t o = o_begin;
  for (; o + kN <= o_end; o += kN) direct_tile<D, M, kN>(xr, w, o, yo + o, y.stride);
  for (; o < o_end; ++o) direct_tile<D, M, 1>(xr, w, o, yo + o, y.stride);
}

template <Wt D, int... M>
void direct_dispatch(const ConstMatView& x, const WeightView& w, const MatView& y, int64_t o_begin,
                     int64_t o_end, std::integer_sequence<int, M...>) noexcept {
  ((x.rows == M + 1 ? (direct_rows<D, M + 1>(x, w, y, o_begin, o_end), 0) : 0), ...);
}

// ---------------------------------------------------------------------------------------------
// Packed float weights (F16, BF16, FP8; ops.h pack_weights). A panel of kPackedRows rows keeps its
// rows' 16-value chunks (32 or 16 bytes) side by side, chunk after chunk: one pass over a chunk of
// the panel reads 512 (FP8: 256) bytes in order, so a thread's share of the matrix is one
// sequential stream that the page prefetch (page_prefetch.h) keeps ahead of, instead of one
// stream per row (rows of whole chunks only: a panel then has the bytes of its rows, as
// packed_weight_bytes and rows_slice count). Every product reads the packed panels: decode-sized
// batches here, prefill through pack_panel, so the file's pages are left alone once packed. Each
// row's chain is the direct path's (16 values per fma in k order, FP8 values times the same
// folded block scale), so the results are those of the unpacked matrix bit for bit. FP8 matrices
// are packed only without NaN codes and with every block scale on the fast path (as checked at
// packing), so the packed kernels need neither the NaN scan nor the reference fallback; a panel's
// rows then share one row of block scales (panels start on a multiple of 16 rows of the full
// matrix, and 16 divides 128). FP8 panels pair their rows: rows 2i and 2i + 1 of a chunk share 32
// bytes, interleaved byte by byte (load_fp8_bits_pair), so that one widening serves both.

constexpr int64_t kFloatChunk = 16;  // values of one row per panel chunk

template <Wt D>
constexpr bool kPacksFloats = kPackedFloats && (D == Wt::kF16 || D == Wt::kBF16 || D == Wt::kFP8);

bool fp8_packable(const WeightView& w) {
  if (w.row0 % kPackedRows != 0) return false;
  for (int64_t b = w.row0 / 128; b <= (w.row0 + w.rows - 1) / 128; ++b)
    if (!scale_row_fast(w.scale + b * w.scale_cols, w.scale_cols)) return false;
  NanScan scan;
  const auto* p = static_cast<const uint8_t*>(w.data);
  const int64_t n = w.rows * w.cols;
  int64_t i = 0;
  for (; i + kNanScanBytes <= n; i += kNanScanBytes) scan.feed64(p + i);
  if (i < n) scan.feed_n(p + i, n - i);
  return !scan.any_nan();
}

bool packs_floats(const WeightView& w) {
  if (!kPackedFloats || w.cols % kFloatChunk != 0) return false;
  return w.dtype == DType::kF16 || w.dtype == DType::kBF16 || (w.dtype == DType::kF8E4M3 && fp8_packable(w));
}

// Values k .. k+15 of row o of packed w (k a multiple of kFloatChunk); FP8: of the row pair that
// starts at an even o.
template <Wt D>
const uint8_t* packed_float_at(const WeightView& w, int64_t o, int64_t k) {
  return static_cast<const uint8_t*>(w.packed) + (o / kPackedRows) * kPackedRows * w.cols * kElemBytes<D> +
         (k / kFloatChunk * kPackedRows + o % kPackedRows) * kFloatChunk * kElemBytes<D>;
}

// Rows past the last one (up to a whole panel) are zero.
template <int64_t kElem>
void pack_float_rows(const WeightView& w, uint8_t* out) noexcept {
  constexpr int64_t kChunk = kFloatChunk * kElem;
  const int64_t chunks = w.cols / kFloatChunk, rb = w.cols * kElem;
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int64_t o0 = 0; o0 < w.rows; o0 += kPackedRows) {
    const int64_t n_rows = min_of<int64_t>(kPackedRows, w.rows - o0);
    for (int64_t c = 0; c < chunks; ++c, out += kPackedRows * kChunk) {
      for (int64_t n = 0; n < n_rows; ++n) std::memcpy(out + n * kChunk, base + (o0 + n) * rb + c * kChunk, kChunk);
      std::memset(out + n_rows * kChunk, 0, size_t((kPackedRows - n_rows) * kChunk));
    }
  }
}
// FP8: the chunks of rows 2i and 2i + 1 interleaved byte by byte.
void pack_fp8_rows(const WeightView& w, uint8_t* out) noexcept {
  const int64_t chunks = w.cols / kFloatChunk;
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int64_t o0 = 0; o0 < w.rows; o0 += kPackedRows)
    for (int64_t c = 0; c < chunks; ++c, out += kPackedRows * kFloatChunk)
      for (int64_t n = 0; n < kPackedRows; ++n) {
        const uint8_t* row = o0 + n < w.rows ? base + (o0 + n) * w.cols + c * kFloatChunk : nullptr;
        for (int64_t j = 0; j < kFloatChunk; ++j) out[(n / 2) * 2 * kFloatChunk + 2 * j + n % 2] = row ? row[j] : 0;
      }
}
void pack_float_weights(const WeightView& w, uint8_t* out) noexcept {
  if (w.dtype == DType::kF8E4M3)
    pack_fp8_rows(w, out);
  else
    pack_float_rows<2>(w, out);
}

// Rows [r0, r0 + N) of the panel at p (a sweep: N of its kPackedRows rows) against activation
// rows xr[0..M-1]; y points at y[0][r0 of the panel], and only rows [lo, hi) of the N are written
// (the rest lie outside the requested range or past the matrix). srow: FP8 only, the panel's row
// of block scales. One activation row reads the panel once (N = kPackedRows), with the page
// prefetch; more rows sweep it in parts that fit the registers, the later sweeps finding the
// panel in L2.
template <Wt D, int M, int N>
R1_SIMD_INLINE void packed_float_sweep(const float* const (&xr)[M], const uint8_t* p, int64_t chunks,
                                       const float* srow, float* y, int64_t ys, int lo, int hi) {
  constexpr int64_t kChunk = kFloatChunk * kElemBytes<D>, kPass = kPackedRows * kChunk;
  V16 acc[M][N];
  R1_UNROLL for (int m = 0; m < M; ++m) R1_UNROLL for (int n = 0; n < N; ++n) acc[m][n] = zero();
  V16 s = zero();
  for (int64_t c = 0; c < chunks; ++c, p += kPass) {
    if (c % (kPageBytes / kPass) == 0) prefetch_page_ahead(p);
    if constexpr (D == Wt::kFP8) {
      if (c % (128 / kFloatChunk) == 0) s = set1(srow[c * kFloatChunk / 128] * kFp8Fold);
    }
    V16 xv[M];
    R1_UNROLL for (int m = 0; m < M; ++m) xv[m] = load(xr[m] + c * kFloatChunk);
    if constexpr (D == Wt::kFP8) {
      static_assert(N % 2 == 0, "FP8 rows come in pairs");
      R1_UNROLL for (int n = 0; n < N; n += 2) {
        V16 wv[2];
        load_fp8_bits_pair(p + n * kChunk, wv[0], wv[1]);
        R1_UNROLL for (int i = 0; i < 2; ++i) {
          wv[i] = mul(wv[i], s);
          R1_UNROLL for (int m = 0; m < M; ++m) acc[m][n + i] = fma(xv[m], wv[i], acc[m][n + i]);
        }
      }
    } else {
      R1_UNROLL for (int n = 0; n < N; ++n) {
        const V16 wv = wload<D>(p + n * kChunk, 0);
        R1_UNROLL for (int m = 0; m < M; ++m) acc[m][n] = fma(xv[m], wv, acc[m][n]);
      }
    }
  }
  if (lo == 0 && hi == N) return write_tile<M, N>(acc, y, ys);
  R1_UNROLL for (int m = 0; m < M; ++m) R1_UNROLL for (int n = 0; n < N; ++n) {
    if (n >= lo && n < hi) y[m * ys + n] = reduce(acc[m][n]);
  }
}

template <Wt D, int M>
void packed_float_rows(const ConstMatView& x, const WeightView& w, const MatView& y, int64_t o_begin,
                       int64_t o_end) noexcept {
  constexpr int kSweep = M == 1 ? int(kPackedRows) : M <= 3 ? 8 : 4;
  static_assert(kPackedRows % kSweep == 0);
  const float* xr[M];
  R1_UNROLL for (int m = 0; m < M; ++m) xr[m] = xrow(x, m);
  float* yo = yrow(y, 0);
  const int64_t chunks = w.cols / kFloatChunk;
  for (int64_t o0 = o_begin / kPackedRows * kPackedRows; o0 < o_end; o0 += kPackedRows) {
    const uint8_t* panel = packed_float_at<D>(w, o0, 0);
    const float* srow = D == Wt::kFP8 ? scale_row(w, o0) : nullptr;
    for (int64_t r0 = 0; r0 < kPackedRows; r0 += kSweep) {
      const int64_t lo = max_of<int64_t>(o_begin - o0 - r0, 0), hi = min_of<int64_t>(o_end - o0 - r0, kSweep);
      if (lo >= hi) continue;
      packed_float_sweep<D, M, kSweep>(xr, panel + r0 * kFloatChunk * kElemBytes<D>, chunks, srow, yo + o0 + r0,
                                       y.stride, int(lo), int(hi));
    }
  }
}

template <Wt D, int... M>
void packed_float_dispatch(const ConstMatView& x, const WeightView& w, const MatView& y, int64_t o_begin,
                           int64_t o_end, std::integer_sequence<int, M...>) noexcept {
  ((x.rows == M + 1 ? (packed_float_rows<D, M + 1>(x, w, y, o_begin, o_end), 0) : 0), ...);
}

// ---------------------------------------------------------------------------------------------
// Blocked path: a panel of up to kOBMax weight rows is converted to f32 once into per-thread
// scratch, then every group of kMR activation rows runs over it in k blocks of kKC (so the
// activation tile stays in L1 or L2), keeping unfinished partial sums in a buffer exactly as the
// registers held them.

static_assert(kKC % 16 == 0, "k blocks are whole vectors");

// Rows o0..o0+ob-1, columns k0..k0+kw-1 of w as f32 into the panel wp, zero-padded to whole
// 16-column chunks. Layout: groups of kNR rows (one register tile), each group chunk-major with
// its rows interleaved (chunk c of row n of group g at ((g * chunks + c) * kNR + n) * 16), so a
// tile reads one sequential stream.
template <Wt D>
void pack_panel(const WeightView& w, int64_t o0, int64_t ob, int64_t k0, int64_t kw, float* wp,
                int64_t chunks) noexcept {
  auto dst_row = [&](int64_t r) { return wp + ((r / kNR) * chunks * kNR + r % kNR) * 16; };
  if constexpr (kPacksFloats<D>) {
    if (w.packed != nullptr) {  // whole chunks (packs_floats), read in the packed order
      for (int64_t r0 = 0; r0 < ob; r0 += kPackedRows)
        for (int64_t c = 0; c < kw; c += 16)
          for (int64_t r = r0, end = min_of<int64_t>(r0 + kPackedRows, ob); r < end;) {
            if constexpr (D == Wt::kFP8) {
              const int64_t o = o0 + r;
              const float s = scale_row(w, o)[(k0 + c) / 128];  // one for both rows of a pair
              V16 v[2];
              load_fp8_bits_pair(packed_float_at<D>(w, o - o % 2, k0 + c), v[0], v[1]);
              const int64_t n = o % 2 == 0 && r + 1 < end ? 2 : 1;
              for (int64_t i = 0; i < n; ++i) store(dst_row(r + i) + c * kNR, fp8_dequant(v[o % 2 + i], s));
              r += n;
            } else {
              store(dst_row(r) + c * kNR, wload<D>(packed_float_at<D>(w, o0 + r, k0 + c), 0));
              ++r;
            }
          }
      return;
    }
  }
  for (int64_t r = 0; r < ob; ++r) {
    const uint8_t* row = row_ptr(w, o0 + r, kElemBytes<D>);
    float* dst = dst_row(r);
    const float* srow = nullptr;
    if constexpr (D == Wt::kFP8) srow = scale_row(w, o0 + r);
    int64_t c = 0;
    for (; c + 16 <= kw; c += 16) {
      V16 v = wload<D>(row, k0 + c);
      if constexpr (D == Wt::kFP8) v = fp8_dequant(v, srow[(k0 + c) / 128]);
      store(dst + c * kNR, v);
    }
    if (c < kw) {
      V16 v = wload_n<D>(row, k0 + c, int(kw - c));
      if constexpr (D == Wt::kFP8) v = fp8_dequant(v, srow[(k0 + c) / 128]);
      store(dst + c * kNR, v);  // lanes past kw are zero
    }
  }
}

// acc[m][n] over k in [0, kc) of x rows xr[m] and the panel group at wp (both already offset to
// the k block). Partial sums come from / go to part (element (m, n) at (n * kMR + m) * 16)
// unless this is the first / last k block; the last block writes y[m][n].
template <int M, int N>
R1_SIMD_INLINE void packed_tile(const float* const (&xr)[M], int64_t kc, const float* wp,
                                float* part, bool first, bool last, float* y, int64_t ys) {
  V16 acc[M][N];
  R1_UNROLL for (int m = 0; m < M; ++m) R1_UNROLL for (int n = 0; n < N; ++n) {
    acc[m][n] = first ? zero() : load(part + (n * kMR + m) * 16);
  }
  int64_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    V16 wv[N];
    R1_UNROLL for (int n = 0; n < N; ++n) wv[n] = load(wp + (k * kNR + n * 16));
    R1_UNROLL for (int m = 0; m < M; ++m) {
      V16 xv = load(xr[m] + k);
      R1_UNROLL for (int n = 0; n < N; ++n) acc[m][n] = fma(xv, wv[n], acc[m][n]);
    }
  }
  if (k < kc) {
    int cnt = int(kc - k);
    V16 wv[N];
    R1_UNROLL for (int n = 0; n < N; ++n) wv[n] = load(wp + (k * kNR + n * 16));  // zero-padded
    R1_UNROLL for (int m = 0; m < M; ++m) {
      V16 xv = load_n(xr[m] + k, cnt);
      R1_UNROLL for (int n = 0; n < N; ++n) acc[m][n] = fma(xv, wv[n], acc[m][n]);
    }
  }
  if (last) {
    write_tile<M, N>(acc, y, ys);
  } else {
    R1_UNROLL for (int m = 0; m < M; ++m) R1_UNROLL for (int n = 0; n < N; ++n) {
      store(part + (n * kMR + m) * 16, acc[m][n]);
    }
  }
}

template <int M, int N>
R1_SIMD_INLINE void packed_tile_rest(int64_t nr, const float* const (&xr)[M], int64_t kc,
                                     const float* wp, float* part, bool first, bool last, float* y,
                                     int64_t ys) {
  if constexpr (N > 0) {
    if (nr == N) return packed_tile<M, N>(xr, kc, wp, part, first, last, y, ys);
    packed_tile_rest<M, N - 1>(nr, xr, kc, wp, part, first, last, y, ys);
  }
}

// M activation rows (xrows[m]) against the ob panel rows over k in [kb, ke) of K; the panel's
// column 0 is k = kb. y points at y[t0][o0].
template <int M>
void packed_strip(const float* const* xrows, int64_t kb, int64_t ke, int64_t K, const float* wp,
                  int64_t chunks, int64_t ob, float* part, float* y, int64_t ys) noexcept {
  const int64_t group = chunks * kNR * 16;  // floats per panel group
  for (int64_t k0 = kb; k0 < ke; k0 += kKC) {
    const int64_t kc = min_of<int64_t>(kKC, ke - k0);
    const bool first = k0 == 0, last = k0 + kc == K;
    const float* xr[M];
    R1_UNROLL for (int m = 0; m < M; ++m) xr[m] = xrows[m] + k0;
    const float* wk = wp + (k0 - kb) * kNR;
    int64_t o = 0;
    for (; o + kNR <= ob; o += kNR)
      packed_tile<M, kNR>(xr, kc, wk + (o / kNR) * group, part + o * kMR * 16, first, last, y + o,
                          ys);
    if (o < ob)
      packed_tile_rest<M, kNR - 1>(ob - o, xr, kc, wk + (o / kNR) * group, part + o * kMR * 16,
                                   first, last, y + o, ys);
  }
}

using PackedStripFn = void (*)(const float* const* xrows, int64_t kb, int64_t ke, int64_t K,
                               const float* wp, int64_t chunks, int64_t ob, float* part, float* y,
                               int64_t ys) noexcept;
template <int... M>
constexpr auto make_packed_strips(std::integer_sequence<int, M...>) {
  struct Table {
    PackedStripFn f[sizeof...(M)];
  };
  return Table{{&packed_strip<M + 1>...}};
}
constexpr auto kPackedStrips = make_packed_strips(std::make_integer_sequence<int, kMR>{});

// Columns of a full-height (kOBMax-row) panel within the budget, in whole k blocks.
constexpr int64_t kPanelCols = kPanelBytes / (kOBMax * 4) / kKC * kKC;
static_assert(kPanelCols >= kKC, "panel budget below one k block");
static_assert(kTB % kMR == 0, "a t block holds whole activation strips");

template <Wt D>
void blocked_rows(const ConstMatView& x, const WeightView& w, const MatView& y, int64_t o_begin,
                  int64_t o_end) noexcept {
  const int64_t T = x.rows, K = w.cols;
  // Up to kPanelCols columns the panel covers all of k and serves every activation row. Longer
  // rows are split into panels of kPanelCols columns; the partial sums of kTB activation rows
  // then persist across panels, and each panel is packed once per kTB rows.
  const bool split = K > kPanelCols;
  const int64_t kp = split ? kPanelCols : K;
  const int64_t chunks = (kp + 15) / 16;
  const int64_t tb_max = split ? kTB : T;
  const int64_t part_strip = kMR * kOBMax * 16;  // floats of partial sums per activation strip
  const int64_t panel_floats = kOBMax * chunks * 16;
  float* wp = thread_scratch(size_t(panel_floats + (split ? kTB / kMR : 1) * part_strip));
  float* part = wp + panel_floats;
  for (int64_t o0 = o_begin; o0 < o_end; o0 += kOBMax) {
    const int64_t ob = min_of<int64_t>(kOBMax, o_end - o0);
    for (int64_t t0 = 0; t0 < T; t0 += tb_max) {
      const int64_t tb = min_of<int64_t>(tb_max, T - t0);
      for (int64_t kp0 = 0; kp0 < K; kp0 += kp) {
        const int64_t kw = min_of<int64_t>(kp, K - kp0);
        pack_panel<D>(w, o0, ob, kp0, kw, wp, chunks);
        for (int64_t t = 0; t < tb; t += kMR) {
          const int64_t mr = min_of<int64_t>(kMR, tb - t);
          const float* xr[kMR];
          for (int64_t m = 0; m < mr; ++m) xr[m] = xrow(x, t0 + t + m);
          float* sp = split ? part + (t / kMR) * part_strip : part;
          kPackedStrips.f[mr - 1](xr, kp0, kp0 + kw, K, wp, chunks, ob, sp, yrow(y, t0 + t) + o0,
                                  y.stride);
        }
      }
    }
  }
}

template <Wt D>
void matmul_typed(const ConstMatView& x, const WeightView& w, const MatView& y, int64_t o_begin,
                  int64_t o_end) noexcept {
  if constexpr (kPacksFloats<D>) {
    if (x.rows <= kDirectMaxT && w.packed != nullptr)
      return packed_float_dispatch<D>(x, w, y, o_begin, o_end, std::make_integer_sequence<int, kDirectMaxT>{});
  }
  if (x.rows <= kDirectMaxT)
    direct_dispatch<D>(x, w, y, o_begin, o_end, std::make_integer_sequence<int, kDirectMaxT>{});
  else
    blocked_rows<D>(x, w, y, o_begin, o_end);
}

void matmul_rows(const ConstMatView& x, const WeightView& w, const MatView& y, int64_t o_begin,
                 int64_t o_end) noexcept {
  switch (w.dtype) {
    case DType::kF32:
      return matmul_typed<Wt::kF32>(x, w, y, o_begin, o_end);
    case DType::kBF16:
      return matmul_typed<Wt::kBF16>(x, w, y, o_begin, o_end);
    case DType::kF16:
      return matmul_typed<Wt::kF16>(x, w, y, o_begin, o_end);
    default:
      return matmul_typed<Wt::kFP8>(x, w, y, o_begin, o_end);
  }
}

// ---------------------------------------------------------------------------------------------
// Vector ops.

// Dot products of f32 with f32 or f16 values (the KV cache's element types; halves converted
// exactly on load), in the contract order.
R1_SIMD_INLINE V16 kv_load(const float* p) { return load(p); }
R1_SIMD_INLINE V16 kv_load(const uint16_t* p) { return load_f16(p); }
R1_SIMD_INLINE V16 kv_load_n(const float* p, int n) { return load_n(p, n); }
R1_SIMD_INLINE V16 kv_load_n(const uint16_t* p, int n) { return load_f16_n(p, n); }

template <typename E>
float kv_dot(const float* a, const E* b, int64_t n) noexcept {
  V16 acc = zero();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = fma(load(a + i), kv_load(b + i), acc);
  if (i < n) acc = fma(load_n(a + i, int(n - i)), kv_load_n(b + i, int(n - i)), acc);
  return reduce(acc);
}

float dot_f32(const float* a, const float* b, int64_t n) noexcept { return kv_dot(a, b, n); }

void axpy_f32(float* y, float a, const float* x, int64_t n) noexcept {
  V16 av = set1(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store(y + i, fma(av, load(x + i), load(y + i)));
  if (i < n) {
    int c = int(n - i);
    store_n(y + i, fma(av, load_n(x + i, c), load_n(y + i, c)), c);
  }
}

// Attention over runs of cache slots (ops.h): each score is dot_f32's chain and reduction, four
// positions reduced together; each output element takes one fma per position in position order.
// Cache values are f32 or f16 (converted exactly on load).
// A run is the slots of one cache page or of a few consecutive ones (up to about 64 KiB of one
// head's keys or values) and the next run is wherever the page table puts it, where the hardware
// prefetcher does not follow: it is requested in software into L2, row p of `next` (the columns
// this pass reads) while row p of this run is used, so it arrives while this run is computed.
R1_SIMD_INLINE void prefetch_span(const void* p, size_t bytes) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p), end = begin + bytes;
  for (uintptr_t line = begin & ~uintptr_t(63); line < end; line += 64)
    _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T1);
}

// Scores of JB heads against four positions: each chunk of the four key rows is loaded (and
// converted) once for all JB heads; per (head, position) the chain is kv_dot's.
template <int JB, typename E>
R1_SIMD_INLINE void scores_heads(const float* q, int64_t hd, const E* const (&kp)[4], __m128 sv, float* s, int64_t ld) {
  V16 acc[JB][4];
  R1_UNROLL for (int j = 0; j < JB; ++j) R1_UNROLL for (int r = 0; r < 4; ++r) acc[j][r] = zero();
  int64_t i = 0;
  for (; i + 16 <= hd; i += 16) {
    V16 kv[4];
    R1_UNROLL for (int r = 0; r < 4; ++r) kv[r] = kv_load(kp[r] + i);
    R1_UNROLL for (int j = 0; j < JB; ++j) {
      const V16 qv = load(q + j * hd + i);
      R1_UNROLL for (int r = 0; r < 4; ++r) acc[j][r] = fma(qv, kv[r], acc[j][r]);
    }
  }
  if (i < hd) {
    const int c = int(hd - i);
    V16 kv[4];
    R1_UNROLL for (int r = 0; r < 4; ++r) kv[r] = kv_load_n(kp[r] + i, c);
    R1_UNROLL for (int j = 0; j < JB; ++j) {
      const V16 qv = load_n(q + j * hd + i, c);
      R1_UNROLL for (int r = 0; r < 4; ++r) acc[j][r] = fma(qv, kv[r], acc[j][r]);
    }
  }
  R1_UNROLL for (int j = 0; j < JB; ++j) {
    _mm_storeu_ps(s + j * ld, _mm_mul_ps(reduce4(acc[j][0], acc[j][1], acc[j][2], acc[j][3]), sv));
  }
}

// Calls f.template operator()<JB>(j) for the heads [j, j + JB) of a group, JB at most kHeads.
template <int kHeads, typename F>
R1_SIMD_INLINE void for_head_blocks(int64_t group, F&& f) {
  for (int64_t j = 0; j < group; j += kHeads) {
    const int jb = int(min_of<int64_t>(kHeads, group - j));
    [&]<int... J>(std::integer_sequence<int, J...>) {
      ((jb == J + 1 ? f.template operator()<J + 1>(j) : void()), ...);
    }(std::make_integer_sequence<int, kHeads>{});
  }
}

template <typename E>
void attn_scores(const float* q, int64_t group, int64_t hd, const E* k, int64_t k_stride, int64_t n,
                 float scale, float* s, int64_t ld, const E* next) noexcept {
  const __m128 sv = _mm_set1_ps(scale);
  int64_t p = 0;
  for (; p + 4 <= n; p += 4) {
    const E* k0 = k + p * k_stride;
    const E* kp[4] = {k0, k0 + k_stride, k0 + 2 * k_stride, k0 + 3 * k_stride};
    if (next)
      for (int r = 0; r < 4; ++r) prefetch_span(next + (p + r) * k_stride, hd * sizeof(E));
    for_head_blocks<kScoreHeads>(group, [&]<int JB>(int64_t j) { scores_heads<JB>(q + j * hd, hd, kp, sv, s + j * ld + p, ld); });
  }
  for (; p < n; ++p) {
    if (next) prefetch_span(next + p * k_stride, hd * sizeof(E));
    for (int64_t j = 0; j < group; ++j) s[j * ld + p] = kv_dot(q + j * hd, k + p * k_stride, hd) * scale;
  }
}

// Columns [i, i + 16 KT) of JB heads' outputs (the last tile c_last < 16 lanes when kPart), in
// registers while every position's value row is read once for all of them; the same columns of
// `next` are prefetched (null: none).
template <int JB, int KT, bool kPart, typename E>
R1_SIMD_INLINE void values_tile(float* o, int64_t hd, const float* w, int64_t ld, const E* v, int64_t v_stride,
                                int64_t n, int64_t i, int c_last, const E* next) {
  V16 acc[JB][KT];
  R1_UNROLL for (int j = 0; j < JB; ++j) R1_UNROLL for (int c = 0; c < KT; ++c) {
    acc[j][c] = kPart ? load_n(o + j * hd + i, c_last) : load(o + j * hd + i + 16 * c);
  }
  for (int64_t p = 0; p < n; ++p) {
    const E* vp = v + p * v_stride + i;
    if (next) prefetch_span(next + p * v_stride + i, (kPart ? c_last : 16 * KT) * sizeof(E));
    V16 vt[KT];
    R1_UNROLL for (int c = 0; c < KT; ++c) vt[c] = kPart ? kv_load_n(vp, c_last) : kv_load(vp + 16 * c);
    R1_UNROLL for (int j = 0; j < JB; ++j) {
      const V16 wv = set1(w[j * ld + p]);
      R1_UNROLL for (int c = 0; c < KT; ++c) acc[j][c] = fma(wv, vt[c], acc[j][c]);
    }
  }
  R1_UNROLL for (int j = 0; j < JB; ++j) R1_UNROLL for (int c = 0; c < KT; ++c) {
    if constexpr (kPart) {
      store_n(o + j * hd + i, acc[j][c], c_last);
    } else {
      store(o + j * hd + i + 16 * c, acc[j][c]);
    }
  }
}

template <int JB, typename E>
R1_SIMD_INLINE void values_heads(float* o, int64_t hd, const float* w, int64_t ld, const E* v, int64_t v_stride,
                                 int64_t n, const E* next) {
  constexpr int KT = JB * kAttnTiles <= kAttnAccs ? kAttnTiles : kAttnTiles / 2;
  int64_t i = 0;
  for (; i + 16 * KT <= hd; i += 16 * KT) values_tile<JB, KT, false>(o, hd, w, ld, v, v_stride, n, i, 0, next);
  for (; i + 16 <= hd; i += 16) values_tile<JB, 1, false>(o, hd, w, ld, v, v_stride, n, i, 0, next);
  if (i < hd) values_tile<JB, 1, true>(o, hd, w, ld, v, v_stride, n, i, int(hd - i), next);
}

// o[j] += Σ_p w[j][p] · v[p] for each head j, one fused multiply-add per position in order.
template <typename E>
void attn_values(float* o, int64_t group, int64_t hd, const float* w, int64_t ld, const E* v,
                 int64_t v_stride, int64_t n, const E* next) noexcept {
  for_head_blocks<kAttnHeads>(group, [&]<int JB>(int64_t j) {
    values_heads<JB>(o + j * hd, hd, w + j * ld, ld, v, v_stride, n, j == 0 ? next : nullptr);
  });
}

template <Wt D>
void dequantize_typed(const WeightView& w, int64_t row, float* out) noexcept {
  const uint8_t* r = row_ptr(w, row, kElemBytes<D>);
  const float* srow = nullptr;
  if constexpr (D == Wt::kFP8) srow = scale_row(w, row);
  int64_t k = 0;
  for (; k + 16 <= w.cols; k += 16) {
    V16 v = wload<D>(r, k);
    if constexpr (D == Wt::kFP8) v = fp8_dequant(v, srow[k / 128]);
    store(out + k, v);
  }
  if (k < w.cols) {
    int c = int(w.cols - k);
    V16 v = wload_n<D>(r, k, c);
    if constexpr (D == Wt::kFP8) v = fp8_dequant(v, srow[k / 128]);
    store_n(out + k, v, c);
  }
}

void dequantize_row(const WeightView& w, int64_t row, float* out) noexcept {
  switch (w.dtype) {
    case DType::kF32:
      return dequantize_typed<Wt::kF32>(w, row, out);
    case DType::kBF16:
      return dequantize_typed<Wt::kBF16>(w, row, out);
    case DType::kF16:
      return dequantize_typed<Wt::kF16>(w, row, out);
    default:
      return dequantize_typed<Wt::kFP8>(w, row, out);
  }
}

void rms_norm(const float* x, const float* w, float eps, int64_t n, float* out) noexcept {
  float ss = dot_f32(x, x, n);
  float r = 1.0f / __builtin_sqrtf(ss / float(n) + eps);
  V16 rv = set1(r);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store(out + i, mul(mul(load(x + i), rv), load(w + i)));
  if (i < n) {
    int c = int(n - i);
    store_n(out + i, mul(mul(load_n(x + i, c), rv), load_n(w + i, c)), c);
  }
}

// exp_ref (scalar.cpp) on 16 lanes: the same operations in the same order.
R1_SIMD_INLINE V16 exp16(V16 x) {
  V16 xc = clamp_keep_nan(x, kExpLo, kExpHi);
  V16 n = round_even(mul(xc, set1(kLog2e)));
  V16 r = fma(n, set1(-kLn2Hi), xc);
  r = fma(n, set1(-kLn2Lo), r);
  V16 p = set1(kExpC7);
  p = fma(p, r, set1(kExpC6));
  p = fma(p, r, set1(kExpC5));
  p = fma(p, r, set1(kExpC4));
  p = fma(p, r, set1(kExpC3));
  p = fma(p, r, set1(kExpC2));
  p = fma(p, r, set1(1.0f));
  p = fma(p, r, set1(1.0f));
  return exp_limits(add_exponent(p, n), x, kExpHi, kExpLo);
}

R1_SIMD_INLINE V16 silu_mul16(V16 g, V16 u) {
  V16 e = exp16(mul(g, set1(-1.0f)));
  return mul(div(g, add(set1(1.0f), e)), u);
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) noexcept {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store(out + i, silu_mul16(load(gate + i), load(up + i)));
  if (i < n) {
    int c = int(n - i);
    store_n(out + i, silu_mul16(load_n(gate + i, c), load_n(up + i, c)), c);
  }
}

void softmax(float* x, int64_t n) noexcept {
  V16 mv = set1(-__builtin_inff());
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) mv = max_keep(load(x + i), mv);
  if (i < n) {
    // Lanes past n must not win: pad them with -inf through a masked blend of loads.
    int c = int(n - i);
    alignas(64) float tmp[16];
    for (int j = 0; j < 16; ++j) tmp[j] = j < c ? x[i + j] : -__builtin_inff();
    mv = max_keep(load(tmp), mv);
  }
  V16 m = set1(hmax(mv));
  V16 sum = zero();
  for (i = 0; i + 16 <= n; i += 16) {
    V16 e = exp16(sub(load(x + i), m));
    store(x + i, e);
    sum = add(sum, e);
  }
  if (i < n) {
    int c = int(n - i);
    store_n(x + i, exp16(sub(load_n(x + i, c), m)), c);
    sum = add(sum, load_n(x + i, c));
  }
  V16 inv = set1(1.0f / reduce(sum));
  for (i = 0; i + 16 <= n; i += 16) store(x + i, mul(load(x + i), inv));
  if (i < n) store_n(x + i, mul(load_n(x + i, int(n - i)), inv), int(n - i));
}

void add_inplace(float* y, const float* x, int64_t n) noexcept {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store(y + i, add(load(y + i), load(x + i)));
  if (i < n) store_n(y + i, add(load_n(y + i, int(n - i)), load_n(x + i, int(n - i))), int(n - i));
}

void scale_inplace(float* x, float a, int64_t n) noexcept {
  V16 av = set1(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store(x + i, mul(load(x + i), av));
  if (i < n) store_n(x + i, mul(load_n(x + i, int(n - i)), av), int(n - i));
}

int64_t argmax(const float* x, int64_t n) noexcept {
  V16 mv = set1(-__builtin_inff());
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) mv = max_keep(load(x + i), mv);
  float m = hmax(mv);
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;  // tail; NaN never wins
  // The first element equal to the maximum (-0 == +0, so ties between zeros pick the first).
  for (i = 0; i + 16 <= n; i += 16) {
    uint32_t eq = eq_mask(load(x + i), m);
    if (eq) return i + __builtin_ctz(eq);
  }
  for (; i < n; ++i)
    if (x[i] == m) return i;
  return 0;  // every element is NaN
}

void rope_neox(float* x, const float* cos, const float* sin, int64_t dim) noexcept {
  const int64_t half = dim / 2;
  float* xb = x + half;
  int64_t i = 0;
  for (; i + 16 <= half; i += 16) {
    V16 a = load(x + i), b = load(xb + i), c = load(cos + i), s = load(sin + i);
    store(x + i, sub(mul(a, c), mul(b, s)));
    store(xb + i, add(mul(b, c), mul(a, s)));
  }
  if (i < half) {
    int n = int(half - i);
    V16 a = load_n(x + i, n), b = load_n(xb + i, n), c = load_n(cos + i, n), s = load_n(sin + i, n);
    store_n(x + i, sub(mul(a, c), mul(b, s)), n);
    store_n(xb + i, add(mul(b, c), mul(a, s)), n);
  }
}

void rope_interleaved(float* x, const float* cos, const float* sin, int64_t dim) noexcept {
  // out = x * [c0 c0 c1 c1 ..] + swap_pairs(x) * [-s0 s0 -s1 s1 ..]: a*c + b*(-s) is the same
  // rounding as a*c - b*s.
  const int64_t len = dim / 2 * 2;
  int64_t i = 0;
  for (; i + 16 <= len; i += 16) {
    V16 v = load(x + i);
    V16 c = dup_pairs(cos + i / 2), s = dup_pairs_negate_even(sin + i / 2);
    store(x + i, add(mul(v, c), mul(swap_pairs(v), s)));
  }
  for (; i < len; i += 2) {
    float a = x[i], b = x[i + 1], c = cos[i / 2], s = sin[i / 2];
    x[i] = a * c - b * s;
    x[i + 1] = b * c + a * s;
  }
}

float read_stream_impl(const void* p, uint64_t bytes, bool prefetch) noexcept {
  return prefetch ? read_stream<true>(p, bytes) : read_stream<false>(p, bytes);
}

double fma_loop(int64_t iters, float* sink) noexcept {
  V16 a[kFmaChains];
  R1_UNROLL for (int j = 0; j < kFmaChains; ++j) a[j] = set1(float(j) * 1e-3f);
  const V16 b = set1(0.999f), c = set1(1e-3f);
  for (int64_t i = 0; i < iters; ++i) {
    R1_UNROLL for (int j = 0; j < kFmaChains; ++j) a[j] = fma(a[j], b, c);
  }
  V16 s = a[0];
  R1_UNROLL for (int j = 1; j < kFmaChains; ++j) s = add(s, a[j]);
  *sink = reduce(s);
  return double(iters) * kFmaChains * 16 * 2;
}

}  // namespace
}  // namespace r1::kernels::R1_SIMD_NS

#include "kernels/quant_simd.h"

namespace r1::kernels::R1_SIMD_NS {

const KernelTable& table() {
  static const KernelTable t = {
      kIsa,      matmul_rows, dot_f32,          axpy_f32,         dequantize_row,
      rms_norm,  silu_mul,    softmax,          add_inplace,      scale_inplace,
      argmax,    rope_neox,   rope_interleaved, read_stream_impl, fma_loop,
      kRowGrain, qmatmul_rows,     quantize_act_row, packable, pack_weights,
      attn_scores<float>, attn_scores<uint16_t>, attn_values<float>, attn_values<uint16_t>,
  };
  return t;
}

}  // namespace r1::kernels::R1_SIMD_NS
