// matmul on block-quantized weights (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K): every ISA against the scalar
// reference bit for bit (quantizer output and raw random blocks that reach every code and scale);
// the scalar reference against a double-precision dot of the dequantized weights and the
// dequantized activations; the whole path against the f32 product within the bound that
// activation rounding allows; batch / thread invariance; activation quantization; NaN.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/quants.h"
#include "kernel_test_util.h"
#include "kernels/quant.h"

namespace r1 {
namespace {

using test::first_mismatch;
using test::IsaScope;
using test::make_acts;

constexpr DType kQTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

struct QWeight {
  std::vector<uint8_t> bytes;
  WeightView view;
};

// Weights quantized from normal values (the quantizer's codes), or raw random block bytes with
// sane half-float scales (every code, 6-bit scale and min, signed Q6_K scale, Q8_0 -128).
QWeight make_qweight(DType t, int64_t rows, int64_t cols, std::mt19937& rng, bool raw) {
  QWeight w;
  const int64_t rb = int64_t(*dtype_bytes(t, uint64_t(cols)));
  w.bytes.resize(size_t(rows * rb + 1));
  uint8_t* base = w.bytes.data() + 1;  // odd address: blocks sit anywhere in a mapped file
  base -= reinterpret_cast<uintptr_t>(base) % 2;  // ... at even offsets (GGUF alignment)
  if (!raw) {
    std::normal_distribution<float> nd(0.0f, 0.5f);
    std::vector<float> v(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (float& x : v) x = nd(rng);
      quantize(t, v.data(), base + r * rb, cols);
    }
  } else {
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(0.001f, 0.05f);
    for (int64_t i = 0; i < rows * rb; ++i) base[i] = uint8_t(byte(rng));
    const int64_t bsz = int64_t(dtype_info(t).block_bytes), nblocks = rows * rb / bsz;
    for (int64_t b = 0; b < nblocks; ++b) {
      uint8_t* blk = base + b * bsz;
      auto put = [&](int64_t off) {
        uint16_t h = f32_to_f16(scale(rng));
        std::memcpy(blk + off, &h, 2);
      };
      if (t == DType::kQ6_K) {
        put(offsetof(BlockQ6_K, d));
      } else {
        put(0);
        if (t == DType::kQ4_K || t == DType::kQ5_K) put(2);
      }
    }
  }
  w.view.dtype = t;
  w.view.rows = rows;
  w.view.cols = cols;
  w.view.data = base;
  return w;
}

std::vector<float> run_matmul(ThreadPool& pool, ConstMatView x, const WeightView& w) {
  std::vector<float> y(size_t(x.rows * w.rows), -7.0f);
  matmul(pool, x, w, MatView{y.data(), x.rows, w.rows, w.rows});
  return y;
}

std::vector<float> dequantized(const WeightView& w) {
  std::vector<float> out(size_t(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) dequantize_row(w, r, out.data() + r * w.cols);
  return out;
}

// The activation row as the kernels see it: d * q, exactly (in double).
std::vector<double> act_values(DType t, const float* x, int64_t cols) {
  std::vector<uint8_t> q(size_t(kernels::act_row_bytes(t, cols)));
  kernels::quantize_act_row(t, x, cols, q.data());
  std::vector<double> out(static_cast<size_t>(cols));
  const int64_t n = kernels::act_block_elems(t);
  for (int64_t b = 0; b < cols / n; ++b) {
    float d;
    const int8_t* qs;
    if (n == kQK8_0) {
      const auto* blk = reinterpret_cast<const kernels::BlockA8*>(q.data()) + b;
      d = blk->d;
      qs = blk->qs;
    } else {
      const auto* blk = reinterpret_cast<const BlockQ8_K*>(q.data()) + b;
      d = blk->d;
      qs = blk->qs;
    }
    for (int64_t i = 0; i < n; ++i) out[size_t(b * n + i)] = double(d) * qs[i];
  }
  return out;
}

// The min part -dmin * m of each element of a Q4_K / Q5_K matrix (dequantized with every code
// zero); zeros for the other types. The kernels sum the two parts of w = d*sc*q - dmin*m
// separately, so their rounding scales with both parts, not with w.
std::vector<float> min_parts(const WeightView& w) {
  std::vector<float> out(size_t(w.rows * w.cols), 0.0f);
  if (w.dtype != DType::kQ4_K && w.dtype != DType::kQ5_K) return out;
  std::vector<uint8_t> bytes(static_cast<const uint8_t*>(w.data),
                             static_cast<const uint8_t*>(w.data) + w.rows * w.row_bytes());
  const int64_t bsz = dtype_info(w.dtype).block_bytes;
  const size_t codes = w.dtype == DType::kQ4_K ? offsetof(BlockQ4_K, qs) : offsetof(BlockQ5_K, qh);
  for (size_t b = 0; b < bytes.size(); b += size_t(bsz)) std::memset(&bytes[b + codes], 0, size_t(bsz) - codes);
  WeightView z = w;
  z.data = bytes.data();
  for (int64_t r = 0; r < w.rows; ++r) dequantize_row(z, r, out.data() + r * w.cols);
  return out;
}

std::string label(Isa isa, DType d, int64_t t, int64_t o, int64_t k, bool raw) {
  return std::string(isa_name(isa)) + " " + std::string(dtype_name(d)) + (raw ? " raw" : "") +
         " T=" + std::to_string(t) + " O=" + std::to_string(o) + " K=" + std::to_string(k);
}

int64_t cols_for(DType t, int64_t blocks) { return blocks * dtype_info(t).block_elems; }

TEST(QMatmul, EveryIsaMatchesScalarBitwise) {
  std::mt19937 rng(11);
  ThreadPool pool(2);
  for (DType d : kQTypes) {
    for (bool raw : {false, true}) {
      for (int64_t blocks : {1, 5, 12}) {
        const int64_t k = cols_for(d, blocks), o = 37;
        QWeight w = make_qweight(d, o, k, rng, raw);
        for (int64_t t : {1, 3, 8, 17, 35}) {
          auto x = make_acts(t, k, k + 3, rng);
          std::vector<float> want;
          {
            IsaScope s(Isa::kScalar);
            want = run_matmul(pool, x.view, w.view);
          }
          for (Isa isa : test::supported_isas()) {
            IsaScope s(isa);
            auto got = run_matmul(pool, x.view, w.view);
            int64_t i = first_mismatch(got.data(), want.data(), t * o);
            EXPECT_EQ(i, -1) << label(isa, d, t, o, k, raw) << ": y[" << i / o << "][" << i % o << "] = "
                             << (i >= 0 ? got[size_t(i)] : 0) << ", scalar " << (i >= 0 ? want[size_t(i)] : 0);
          }
        }
      }
    }
  }
}

// The integer sums are exact, so the scalar result is the exact dot product of the dequantized
// weights and activations up to f32 rounding: one rounding per block (and lane), the scale
// products and the final sums, each at most 2^-24 of the magnitudes summed (the dequantized
// reference weights carry a rounding of their own of the same size).
TEST(QMatmul, ScalarEqualsDotOfDequantizedValues) {
  std::mt19937 rng(12);
  ThreadPool pool(1);
  IsaScope s(Isa::kScalar);
  for (DType d : kQTypes) {
    for (bool raw : {false, true}) {
      const int64_t k = cols_for(d, 7), o = 9, t = 4;
      QWeight w = make_qweight(d, o, k, rng, raw);
      auto x = make_acts(t, k, k, rng);
      auto y = run_matmul(pool, x.view, w.view);
      auto wd = dequantized(w.view);
      auto mins = min_parts(w.view);
      for (int64_t r = 0; r < t; ++r) {
        auto a = act_values(d, x.view.row(r), k);
        for (int64_t c = 0; c < o; ++c) {
          double exact = 0, mag = 0;
          for (int64_t i = 0; i < k; ++i) {
            const double wi = wd[size_t(c * k + i)], mi = mins[size_t(c * k + i)];
            exact += wi * a[size_t(i)];
            mag += (std::fabs(wi - mi) + std::fabs(mi)) * std::fabs(a[size_t(i)]);
          }
          const double bound = double(k / 32 + 12) * 0x1p-24 * mag;
          EXPECT_NEAR(y[size_t(r * o + c)], exact, bound) << label(Isa::kScalar, d, t, o, k, raw) << " y[" << r
                                                          << "][" << c << "]";
        }
      }
    }
  }
}

// Against the f32 product with unquantized activations: each activation moves by at most half
// its block's step d, so |y - Σ w·x| <= Σ |w_i| · d_i / 2 (+ rounding). The bound is tight
// enough to catch any wrong lane, scale or block.
TEST(QMatmul, WithinActivationRoundingOfF32Product) {
  std::mt19937 rng(13);
  ThreadPool pool(2);
  for (DType d : kQTypes) {
    const int64_t k = cols_for(d, 6), o = 21, t = 5;
    QWeight w = make_qweight(d, o, k, rng, false);
    auto x = make_acts(t, k, k, rng);
    auto y = run_matmul(pool, x.view, w.view);
    auto wd = dequantized(w.view);
    const int64_t n = kernels::act_block_elems(d);
    for (int64_t r = 0; r < t; ++r) {
      const float* xr = x.view.row(r);
      for (int64_t c = 0; c < o; ++c) {
        double exact = 0, bound = 0, mag = 0;
        for (int64_t b = 0; b < k / n; ++b) {
          double amax = 0;
          for (int64_t i = b * n; i < (b + 1) * n; ++i) amax = std::max(amax, std::fabs(double(xr[i])));
          const double step = amax / 127;
          for (int64_t i = b * n; i < (b + 1) * n; ++i) {
            double wi = wd[size_t(c * k + i)];
            exact += wi * xr[i];
            bound += std::fabs(wi) * step * 0.5;
            mag += std::fabs(wi * xr[i]);
          }
        }
        EXPECT_NEAR(y[size_t(r * o + c)], exact, bound * 1.0001 + 1e-6 * mag)
            << dtype_name(d) << " y[" << r << "][" << c << "]";
        // and the bound is a real constraint: far below the size of the product itself
        EXPECT_LT(bound, 0.05 * mag) << dtype_name(d);
      }
    }
  }
}

TEST(QMatmul, BatchAndThreadInvariant) {
  std::mt19937 rng(14);
  ThreadPool p1(1), p2(2), p3(3);
  for (DType d : kQTypes) {
    const int64_t k = cols_for(d, 4), o = 67;
    QWeight w = make_qweight(d, o, k, rng, false);
    for (int64_t t : {2, 9, 33}) {
      auto x = make_acts(t, k, k, rng);
      for (Isa isa : test::supported_isas()) {
        IsaScope s(isa);
        const std::string what = label(isa, d, t, o, k, false);
        auto y1 = run_matmul(p1, x.view, w.view);
        EXPECT_EQ(first_mismatch(run_matmul(p2, x.view, w.view).data(), y1.data(), t * o), -1) << what;
        EXPECT_EQ(first_mismatch(run_matmul(p3, x.view, w.view).data(), y1.data(), t * o), -1) << what;
        for (int64_t r : {int64_t(0), t / 2, t - 1}) {
          ConstMatView one(x.view.row(r), 1, k, k);
          auto alone = run_matmul(p2, one, w.view);
          EXPECT_EQ(first_mismatch(y1.data() + r * o, alone.data(), o), -1) << what << " row " << r;
        }
      }
    }
  }
}

// A batch of products in one pass (mixed weight types, jobs sharing x or not, decode and prefill
// row counts, an empty job) equals each product alone, on every ISA and thread count.
TEST(QMatmul, BatchOfJobsEqualsEachAlone) {
  std::mt19937 rng(15);
  ThreadPool p1(1), p3(3);
  const int64_t k = 512;
  std::vector<QWeight> qw;
  for (DType d : kQTypes) qw.push_back(make_qweight(d, 40 + 7 * int64_t(qw.size()), k, rng, false));
  test::TestWeight fw = test::make_weight(DType::kBF16, 21, k, rng);
  for (int64_t t : {1, 3, 12}) {
    auto xa = make_acts(t, k, k, rng), xb = make_acts(t, k, k + 5, rng);
    std::vector<WeightView> ws;
    for (const QWeight& w : qw) ws.push_back(w.view);
    ws.push_back(fw.view);
    ws.push_back(qw[2].view.rows_slice(0, 0));  // no rows
    for (Isa isa : test::supported_isas()) {
      IsaScope s(isa);
      std::vector<std::vector<float>> want, got(ws.size());
      std::vector<MatmulJob> jobs;
      for (size_t i = 0; i < ws.size(); ++i) {
        const ConstMatView x = i % 3 == 1 ? xb.view : xa.view;  // Q8_0/Q4_K/Q6_K/BF16 share xa
        want.push_back(run_matmul(p1, x, ws[i]));
        got[i].assign(want.back().size(), -7.0f);
        jobs.push_back({x, ws[i], MatView{got[i].data(), t, ws[i].rows, ws[i].rows}});
      }
      for (ThreadPool* pool : {&p1, &p3}) {
        for (auto& g : got) std::fill(g.begin(), g.end(), -7.0f);
        matmul_batch(*pool, jobs);
        for (size_t i = 0; i < ws.size(); ++i)
          EXPECT_EQ(first_mismatch(got[i].data(), want[i].data(), int64_t(want[i].size())), -1)
              << isa_name(isa) << " T=" << t << " job " << i << " (" << dtype_name(ws[i].dtype) << ") on "
              << pool->size() << " threads";
      }
    }
  }
}

// Weights repacked for the kernels (pack_weights) give the bits of the file's layout on the
// scalar reference: every packed type, row counts that fill the last 16-row panel or not, decode
// and prefill row counts, row slices that keep the packing (on a panel boundary) or drop it, and
// a pool of 3 threads. The packing is the same for every ISA: a matrix packed under one ISA is
// read by the others.
TEST(QMatmul, PackedWeightsEqualTheFileLayout) {
  std::mt19937 rng(16);
  ThreadPool p1(1), p3(3);
  const auto isas = test::supported_isas();
  for (DType t : kQTypes) {
    // Q8_0 / Q4_0: 3 blocks (fewer than the 8 chains) and 13 (a whole round of the chains and a
    // part). K-quants: 2 blocks and 3, so that with an odd count every other packed Q6_K panel
    // starts halfway through a cache line, as every other block does (ScaledBlock).
    const bool blocks32 = t == DType::kQ8_0 || t == DType::kQ4_0;
    for (int64_t k : blocks32 ? std::vector<int64_t>{96, 416} : std::vector<int64_t>{512, 768}) {
      for (int64_t rows : {int64_t(16), int64_t(45)}) {
        for (bool raw : {false, true}) {
          QWeight qw = make_qweight(t, rows, k, rng, raw);
          WeightView packed = qw.view;
          std::unique_ptr<std::byte[], AlignedFree> mem;
          {
            IsaScope s(isas.back());
            mem = pack_weights(packed);
          }
          const bool expect_packed = isas.back() != Isa::kScalar;  // every block type
          ASSERT_EQ(mem != nullptr, expect_packed) << dtype_name(t);
          if (!expect_packed) continue;
          ASSERT_EQ(packed.packed, mem.get());
          EXPECT_EQ(packed_weight_bytes(packed),
                    uint64_t((rows + 15) / 16 * 16 * qw.view.row_bytes()));
          EXPECT_NE(packed.rows_slice(16, rows - 16).packed, nullptr);
          EXPECT_EQ(packed.rows_slice(5, 7).packed, nullptr);
          // 12 and 40 rows: packed blocks for some types, per-call panels for others
          // (packed_max_t).
          for (int64_t T : {1, 3, 5, 12, 40}) {
            auto x = make_acts(T, k, k + 3, rng);
            for (const auto& [plain, pk] : test::packed_slice_cases(qw.view, packed)) {
              std::vector<float> want;
              {
                IsaScope s(Isa::kScalar);
                want = run_matmul(p1, x.view, plain);
              }
              for (Isa isa : isas) {
                IsaScope s(isa);
                for (ThreadPool* pool : {&p1, &p3}) {
                  const std::vector<float> got = run_matmul(*pool, x.view, pk);
                  EXPECT_EQ(first_mismatch(got.data(), want.data(), int64_t(want.size())), -1)
                      << isa_name(isa) << " " << dtype_name(t) << (raw ? " raw" : "") << " rows "
                      << pk.rows << " T=" << T << " k " << k << " on " << pool->size()
                      << " threads";
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST(QMatmul, ActivationQuantization) {
  // amax maps to ±127, the rest to round(x * 127 / amax); an all-zero block has d = 0.
  std::vector<float> x(32, 0.0f);
  x[0] = -2.54f;
  x[1] = 0.05f;
  x[2] = 1.0f;
  std::vector<uint8_t> q(size_t(kernels::act_row_bytes(DType::kQ8_0, 64)));
  std::vector<float> both(64, 0.0f);
  std::copy(x.begin(), x.end(), both.begin());
  kernels::quantize_act_row(DType::kQ8_0, both.data(), 64, q.data());
  const auto* b = reinterpret_cast<const kernels::BlockA8*>(q.data());
  EXPECT_FLOAT_EQ(b[0].d, 2.54f / 127.0f);
  EXPECT_EQ(b[0].qs[0], -127);
  EXPECT_EQ(b[0].qs[1], int(std::nearbyint(0.05f * (127.0f / 2.54f))));
  EXPECT_EQ(b[0].qs[2], 50);
  EXPECT_EQ(b[1].d, 0.0f);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(b[1].qs[i], 0);
  // a block of subnormals (127 / amax overflows) is a zero block too
  std::fill(both.begin() + 32, both.end(), 1e-40f);
  kernels::quantize_act_row(DType::kQ8_0, both.data(), 64, q.data());
  EXPECT_EQ(b[1].d, 0.0f);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(b[1].qs[i], 0);

  // k-quant activations carry the sums of each 16.
  std::mt19937 rng(15);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> xk(256);
  for (float& v : xk) v = nd(rng);
  std::vector<uint8_t> qk(size_t(kernels::act_row_bytes(DType::kQ4_K, 256)));
  kernels::quantize_act_row(DType::kQ4_K, xk.data(), 256, qk.data());
  const auto* bk = reinterpret_cast<const BlockQ8_K*>(qk.data());
  int max_q = 0;
  for (int j = 0; j < 16; ++j) {
    int s = 0;
    for (int i = 0; i < 16; ++i) {
      s += bk->qs[16 * j + i];
      max_q = std::max(max_q, std::abs(int(bk->qs[16 * j + i])));
    }
    EXPECT_EQ(bk->bsums[j], s);
  }
  EXPECT_EQ(max_q, 127);

  // Q8_0 / Q4_0 activations carry each block's sum, on every ISA.
  for (Isa isa : test::supported_isas()) {
    IsaScope scope(isa);
    std::vector<uint8_t> q8(size_t(kernels::act_row_bytes(DType::kQ8_0, 256)));
    kernels::quantize_act_row(DType::kQ8_0, xk.data(), 256, q8.data());
    const auto* b8 = reinterpret_cast<const kernels::BlockA8*>(q8.data());
    for (int j = 0; j < 8; ++j) {
      int s = 0;
      for (int i = 0; i < 32; ++i) s += b8[j].qs[i];
      EXPECT_EQ(b8[j].sum, s) << isa_name(isa) << " block " << j;
    }
  }
}

// Tiny activations (a block of subnormals) are a zero block on every ISA.
TEST(QMatmul, SubnormalActivationsAreZero) {
  std::mt19937 rng(18);
  ThreadPool pool(1);
  for (DType d : kQTypes) {
    const int64_t k = cols_for(d, 2), o = 8;
    QWeight w = make_qweight(d, o, k, rng, false);
    std::vector<float> x(static_cast<size_t>(k), 1e-40f);
    for (Isa isa : test::supported_isas()) {
      IsaScope s(isa);
      auto y = run_matmul(pool, ConstMatView(x.data(), 1, k, k), w.view);
      for (int64_t c = 0; c < o; ++c) EXPECT_EQ(y[size_t(c)], 0.0f) << dtype_name(d) << " " << isa_name(isa);
    }
  }
}

TEST(QMatmul, NonFiniteActivationGivesNan) {
  std::mt19937 rng(16);
  ThreadPool pool(2);
  for (DType d : kQTypes) {
    const int64_t k = cols_for(d, 2), o = 8;
    QWeight w = make_qweight(d, o, k, rng, false);
    auto x = make_acts(2, k, k, rng);
    x.buf[size_t(k + 5)] = std::numeric_limits<float>::infinity();  // row 1 only
    for (Isa isa : test::supported_isas()) {
      IsaScope s(isa);
      auto y = run_matmul(pool, x.view, w.view);
      for (int64_t c = 0; c < o; ++c) {
        EXPECT_TRUE(std::isfinite(y[size_t(c)])) << dtype_name(d);
        EXPECT_TRUE(std::isnan(y[size_t(o + c)])) << dtype_name(d);
      }
    }
  }
}

}  // namespace
}  // namespace r1
