// matmul and dequantize_row: every ISA against the scalar reference bit for bit, for every
// weight type, odd shapes, misaligned pointers, FP8 slices and edge codes; batch and thread
// invariance; and the scalar reference itself against a double-precision oracle.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "kernel_test_util.h"

namespace r1 {
namespace {

using test::first_mismatch;
using test::IsaScope;
using test::make_acts;
using test::make_weight;

constexpr DType kTypes[] = {DType::kF32, DType::kBF16, DType::kF16, DType::kF8E4M3};

std::vector<float> run_matmul(ThreadPool& pool, ConstMatView x, const WeightView& w,
                              int64_t y_stride = -1) {
  if (y_stride < 0) y_stride = w.rows;
  std::vector<float> y(size_t(x.rows * y_stride + 1), -7.0f);
  matmul(pool, x, w, MatView{y.data(), x.rows, w.rows, y_stride});
  return y;
}

// Compares y (stride ys) with the reference for rows x cols; reports the first difference.
void expect_same(const std::vector<float>& got, const std::vector<float>& want, int64_t rows,
                 int64_t cols, int64_t ys, const std::string& what) {
  for (int64_t t = 0; t < rows; ++t) {
    int64_t i = first_mismatch(got.data() + t * ys, want.data() + t * ys, cols);
    if (i >= 0) {
      ADD_FAILURE() << what << ": y[" << t << "][" << i << "] = " << got[size_t(t * ys + i)]
                    << ", reference " << want[size_t(t * ys + i)];
      return;
    }
  }
}

std::string label(Isa isa, DType d, int64_t t, int64_t o, int64_t k) {
  return std::string(isa_name(isa)) + " " + std::string(dtype_name(d)) + " T=" + std::to_string(t) +
         " O=" + std::to_string(o) + " K=" + std::to_string(k);
}

TEST(Matmul, EveryIsaMatchesScalarBitwise) {
  ThreadPool pool(1);  // thread splits are covered by BatchAndThreadInvariant
  std::mt19937 rng(1);
  const int64_t ks[] = {1, 3, 15, 16, 17, 31, 33, 127, 128, 129, 255, 257, 300, 1000};
  const int64_t ts[] = {1, 2, 3, 4, 5, 6, 7, 13, 50};
  const int64_t os[] = {1, 3, 5, 17, 67};
  for (DType d : kTypes) {
    for (int64_t k : ks) {
      for (int64_t o : os) {
        // Weights and activations deliberately off their natural alignment.
        auto w = make_weight(d, o, k, rng, d == DType::kF32 ? 4 : 1 + (k % 2));
        for (int64_t t : ts) {
          if (t * o * k > 120000) continue;
          auto x = make_acts(t, k, k + 3, rng, 1);
          std::vector<float> want;
          {
            IsaScope s(Isa::kScalar);
            want = run_matmul(pool, x.view, w.view, o + 2);
          }
          for (Isa isa : test::supported_isas()) {
            if (isa == Isa::kScalar) continue;
            IsaScope s(isa);
            expect_same(run_matmul(pool, x.view, w.view, o + 2), want, t, o, o + 2,
                        label(isa, d, t, o, k));
          }
        }
      }
    }
  }
}

// The reduction lengths of the real models (hidden 1536, mlp 8960, DeepSeek-V3 hidden 7168)
// through every path (decode, batched, prefill), with more rows and tokens than one cache tile.
TEST(Matmul, ModelShapesMatchScalar) {
  ThreadPool pool(2);
  std::mt19937 rng(2);
  struct Shape {
    int64_t o, k;
  };
  for (Shape sh : {Shape{70, 1536}, Shape{70, 8960}, Shape{67, 7168}}) {
    for (DType d : kTypes) {
      auto w = make_weight(d, sh.o, sh.k, rng);
      for (int64_t t : {1, 4, 13}) {
        auto x = make_acts(t, sh.k, sh.k, rng);
        std::vector<float> want;
        {
          IsaScope s(Isa::kScalar);
          want = run_matmul(pool, x.view, w.view);
        }
        for (Isa isa : test::supported_isas()) {
          IsaScope s(isa);
          expect_same(run_matmul(pool, x.view, w.view), want, t, sh.o, sh.o,
                      label(isa, d, t, sh.o, sh.k));
        }
      }
    }
  }
}

// Rows longer than one prefill panel (split k, partial sums kept across panels) with more
// activation rows than one t block, remainders everywhere.
TEST(Matmul, SplitPanelsMatchScalar) {
  ThreadPool pool(2);
  std::mt19937 rng(21);
  for (DType d : kTypes) {
    // over one panel (AVX2 1536 columns, AVX-512 9216) and one t block (AVX2 48 rows, AVX-512 192)
    const int64_t k = 10500;
    auto w = make_weight(d, 70, k, rng, 2);
    auto x = make_acts(199, k, k + 1, rng, 3);
    std::vector<float> want;
    {
      IsaScope s(Isa::kScalar);
      want = run_matmul(pool, x.view, w.view);
    }
    for (Isa isa : test::supported_isas()) {
      IsaScope s(isa);
      expect_same(run_matmul(pool, x.view, w.view), want, 199, 70, 70, label(isa, d, 199, 70, k));
    }
  }
}

// Row t of a T-row product equals the same row computed alone, for every path, and the thread
// count changes nothing: seeded generation gives the same tokens alone or in a batch.
TEST(Matmul, BatchAndThreadInvariant) {
  std::mt19937 rng(3);
  ThreadPool p1(1), p2(2), p3(3);
  for (DType d : kTypes) {
    auto w = make_weight(d, 203, 777, rng);
    for (int64_t t : {2, 5, 8, 49}) {
      auto x = make_acts(t, 777, 777, rng);
      for (Isa isa : test::supported_isas()) {
        IsaScope s(isa);
        std::string what = label(isa, d, t, 203, 777);
        auto y1 = run_matmul(p1, x.view, w.view);
        auto y2 = run_matmul(p2, x.view, w.view);
        auto y3 = run_matmul(p3, x.view, w.view);
        expect_same(y2, y1, t, 203, 203, what + " 2 vs 1 threads");
        expect_same(y3, y1, t, 203, 203, what + " 3 vs 1 threads");
        for (int64_t r : {int64_t(0), t / 2, t - 1}) {
          ConstMatView one(x.view.row(r), 1, 777, 777);
          auto alone = run_matmul(p2, one, w.view);
          int64_t i = first_mismatch(y1.data() + r * 203, alone.data(), 203);
          EXPECT_EQ(i, -1) << what << ": row " << r << " differs from the row alone at " << i;
        }
        // A batch made of one row repeated gives that row's result in every position.
        std::vector<float> rep(size_t(t * 777));
        for (int64_t i = 0; i < t; ++i)
          std::copy(x.view.row(1), x.view.row(1) + 777, rep.begin() + i * 777);
        auto yr = run_matmul(p2, ConstMatView(rep.data(), t, 777, 777), w.view);
        for (int64_t i = 0; i < t; ++i)
          EXPECT_EQ(first_mismatch(yr.data() + i * 203, y1.data() + 203, 203), -1) << what;
      }
    }
  }
}

// The oracle: the scalar reference is within a rigorous rounding bound of the exact product
// (computed in double from the exactly dequantized weights).
TEST(Matmul, ScalarReferenceMatchesDoubleOracle) {
  ThreadPool pool(1);
  std::mt19937 rng(4);
  IsaScope s(Isa::kScalar);
  for (DType d : kTypes) {
    for (int64_t k : {1, 17, 129, 1536, 4099}) {
      const int64_t o = 9, t = 3;
      auto w = make_weight(d, o, k, rng);
      auto x = make_acts(t, k, k, rng);
      auto y = run_matmul(pool, x.view, w.view);
      for (int64_t r = 0; r < o; ++r) {
        // Exact weight values, independent of the kernels' conversion code.
        std::vector<double> wd(static_cast<size_t>(k));
        const auto* b = static_cast<const uint8_t*>(w.view.data) + r * w.view.row_bytes();
        for (int64_t j = 0; j < k; ++j) {
          switch (d) {
            case DType::kF32: {
              float f;
              std::memcpy(&f, b + 4 * j, 4);
              wd[size_t(j)] = f;
              break;
            }
            case DType::kBF16:
            case DType::kF16: {
              uint16_t h;
              std::memcpy(&h, b + 2 * j, 2);
              wd[size_t(j)] = d == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
              break;
            }
            default:
              wd[size_t(j)] =
                  double(float(double(fp8_e4m3_to_f32(b[j])) *
                               double(w.scales[size_t((r / 128) * w.view.scale_cols + j / 128)])));
          }
        }
        for (int64_t i = 0; i < t; ++i) {
          double exact = 0, mag = 0;
          for (int64_t j = 0; j < k; ++j) {
            exact += double(x.view.row(i)[j]) * wd[size_t(j)];
            mag += std::fabs(double(x.view.row(i)[j]) * wd[size_t(j)]);
          }
          // 16 partials of ceil(k/16) fused steps plus 4 tree levels: gamma_n * sum |x w|.
          double u = std::ldexp(1.0, -24);
          double n = double((k + 15) / 16 + 4);
          double bound = n * u / (1 - n * u) * mag;
          double got = y[size_t(i * o + r)];
          EXPECT_LE(std::fabs(got - exact), bound)
              << dtype_name(d) << " K=" << k << " row " << r << " t " << i;
        }
      }
    }
  }
}

// matmul(x, W)[o] is the contract dot product of x with dequantize_row(W, o): the two ops
// define the same weight values.
TEST(Matmul, EqualsDotWithDequantizedRow) {
  ThreadPool pool(2);
  std::mt19937 rng(5);
  for (Isa isa : test::supported_isas()) {
    IsaScope s(isa);
    for (DType d : kTypes) {
      auto w = make_weight(d, 37, 389, rng, 3);
      auto x = make_acts(3, 389, 389, rng);
      auto y = run_matmul(pool, x.view, w.view);
      std::vector<float> row(389);
      for (int64_t o = 0; o < 37; ++o) {
        dequantize_row(w.view, o, row.data());
        for (int64_t t = 0; t < 3; ++t) {
          float want = dot_f32(x.view.row(t), row.data(), 389);
          EXPECT_TRUE(test::same_bits(y[size_t(t * 37 + o)], want))
              << isa_name(isa) << " " << dtype_name(d) << " o=" << o << " t=" << t;
        }
      }
    }
  }
}

TEST(Dequantize, ExactForEveryTypeAndIsa) {
  std::mt19937 rng(6);
  for (DType d : kTypes) {
    for (int64_t k : {1, 15, 16, 17, 127, 128, 129, 300}) {
      auto w = make_weight(d, 3, k, rng, 1);
      std::vector<float> want(static_cast<size_t>(k)), got(size_t(k) + 1, 123.0f);
      for (int64_t r = 0; r < 3; ++r) {
        {
          IsaScope s(Isa::kScalar);
          dequantize_row(w.view, r, want.data());
        }
        // The reference is the exact conversion of core/dtype.
        const auto* b = static_cast<const uint8_t*>(w.view.data) + r * w.view.row_bytes();
        for (int64_t j = 0; j < k; ++j) {
          float exact;
          switch (d) {
            case DType::kF32:
              std::memcpy(&exact, b + 4 * j, 4);
              break;
            case DType::kBF16: {
              uint16_t h;
              std::memcpy(&h, b + 2 * j, 2);
              exact = bf16_to_f32(h);
              break;
            }
            case DType::kF16: {
              uint16_t h;
              std::memcpy(&h, b + 2 * j, 2);
              exact = f16_to_f32(h);
              break;
            }
            default:
              exact = fp8_e4m3_to_f32(b[j]) * w.scales[size_t(j / 128)];
          }
          ASSERT_TRUE(test::same_bits(want[size_t(j)], exact)) << dtype_name(d) << " " << j;
        }
        for (Isa isa : test::supported_isas()) {
          IsaScope s(isa);
          dequantize_row(w.view, r, got.data());
          EXPECT_EQ(first_mismatch(got.data(), want.data(), k), -1)
              << isa_name(isa) << " " << dtype_name(d);
          EXPECT_EQ(got[size_t(k)], 123.0f) << "wrote past the row";
        }
      }
    }
  }
}

// Every one of the 256 FP8 codes (NaN and subnormals included) under scales the fast paths treat
// differently: ordinary, tiny (subnormal f32), >= 256 (no folding), negative, zero.
TEST(Fp8, AllCodesAndScalesMatchReference) {
  ThreadPool pool(2);
  const int64_t rows = 130, cols = 256 + 40;  // two row blocks, three column blocks
  std::vector<uint8_t> q(size_t(rows * cols));
  for (int64_t i = 0; i < rows * cols; ++i) q[size_t(i)] = uint8_t((i * 7 + i / 300) & 0xff);
  const float scale_sets[][6] = {
      {0.01f, 0.5f, 3.0f, 1e-3f, 2e-2f, 7.0f},
      {1e-40f, 300.0f, -0.25f, 0.0f, 1e30f, 255.99f},
  };
  std::mt19937 rng(7);
  for (const auto& scales : scale_sets) {
    WeightView w;
    w.dtype = DType::kF8E4M3;
    w.rows = rows;
    w.cols = cols;
    w.data = q.data();
    w.scale = scales;
    w.scale_cols = 3;
    for (int64_t t : {1, 3, 20}) {
      auto x = make_acts(t, cols, cols, rng);
      std::vector<float> want;
      {
        IsaScope s(Isa::kScalar);
        want = run_matmul(pool, x.view, w);
      }
      for (Isa isa : test::supported_isas()) {
        IsaScope s(isa);
        expect_same(run_matmul(pool, x.view, w), want, t, rows, rows,
                    std::string(isa_name(isa)) + " fp8 codes T=" + std::to_string(t));
        std::vector<float> row(static_cast<size_t>(cols)), row_ref(static_cast<size_t>(cols));
        for (int64_t r : {0, 1, 129}) {
          dequantize_row(w, r, row.data());
          for (int64_t j = 0; j < cols; ++j)
            row_ref[size_t(j)] =
                fp8_e4m3_to_f32(q[size_t(r * cols + j)]) * scales[(r / 128) * 3 + j / 128];
          EXPECT_EQ(first_mismatch(row.data(), row_ref.data(), cols), -1)
              << isa_name(isa) << " row " << r;
        }
      }
    }
  }
}

// A NaN code anywhere in a row makes that output NaN on every ISA (the fast paths detect it).
TEST(Fp8, NanCodePropagates) {
  ThreadPool pool(1);
  std::mt19937 rng(8);
  auto w = make_weight(DType::kF8E4M3, 8, 300, rng);
  auto* q = const_cast<uint8_t*>(static_cast<const uint8_t*>(w.view.data));
  q[2 * 300 + 299] = 0x7f;  // row 2, last column (tail)
  q[5 * 300 + 64] = 0xff;   // row 5, inside a full block
  auto x = make_acts(2, 300, 300, rng);
  for (Isa isa : test::supported_isas()) {
    IsaScope s(isa);
    auto y = run_matmul(pool, x.view, w.view);
    for (int64_t t = 0; t < 2; ++t)
      for (int64_t o = 0; o < 8; ++o)
        EXPECT_EQ(std::isnan(y[size_t(t * 8 + o)]), o == 2 || o == 5) << isa_name(isa) << " " << o;
  }
}

// Views of rows [b, b+n) of a larger FP8 matrix (row0 != 0, not 128-aligned) give exactly the
// corresponding rows of the full product.
TEST(Fp8, RowSlicesUseTheFullScaleGrid) {
  ThreadPool pool(2);
  std::mt19937 rng(9);
  auto w = make_weight(DType::kF8E4M3, 300, 200, rng, 0, 0.001f, 2.0f);
  auto x = make_acts(7, 200, 200, rng);
  for (Isa isa : test::supported_isas()) {
    IsaScope s(isa);
    auto full = run_matmul(pool, x.view, w.view);
    for (auto [b, n] :
         {std::pair<int64_t, int64_t>{0, 1}, {5, 123}, {127, 2}, {128, 128}, {131, 169}}) {
      WeightView sub = w.view.rows_slice(b, n);
      EXPECT_EQ(sub.row0, b);
      auto y = run_matmul(pool, x.view, sub);
      for (int64_t t = 0; t < 7; ++t)
        EXPECT_EQ(first_mismatch(y.data() + t * n, full.data() + t * 300 + b, n), -1)
            << isa_name(isa) << " slice " << b << "+" << n;
      // Nested slice: rows_slice of a slice keeps counting from the full matrix.
      if (n > 3) {
        WeightView sub2 = sub.rows_slice(2, n - 3);
        EXPECT_EQ(sub2.row0, b + 2);
        auto y2 = run_matmul(pool, x.view, sub2);
        EXPECT_EQ(first_mismatch(y2.data(), full.data() + b + 2, n - 3), -1) << isa_name(isa);
      }
    }
  }
}

// F16 / BF16 / FP8 weights packed by pack_weights (AVX-512 only) give the scalar reference's
// bits for every batch size: 1 activation row (one sweep of a panel), 2-3 and 4-6 rows (sweeps of
// 8 and 4 panel rows), 7 rows (prefill's f32 panel packed from the packed layout, K = 3200 in
// several k panels); row counts that fill the last 16-row panel or not, and FP8 panels under
// different rows of block scales (144 rows); slices on a panel boundary (keep the packing) or
// off it (drop it), 1 and 3 threads. Rows of a partial 16-value chunk are not packed.
TEST(Matmul, PackedFloatWeightsMatchScalar) {
  std::mt19937 rng(17);
  ThreadPool p1(1), p3(3);
  const auto isas = test::supported_isas();
  for (DType d : {DType::kF16, DType::kBF16, DType::kF8E4M3}) {
    const uint64_t elem = d == DType::kF8E4M3 ? 1 : 2;
    for (int64_t k : {int64_t(64), int64_t(1536), int64_t(80), int64_t(72), int64_t(3200)}) {
      for (int64_t rows : {int64_t(32), int64_t(45), int64_t(144)}) {
        auto w = make_weight(d, rows, k, rng);
        WeightView packed = w.view;
        std::unique_ptr<std::byte[], AlignedFree> mem;
        {
          IsaScope s(isas.back());
          mem = pack_weights(packed);
        }
        const bool expect_packed = isas.back() == Isa::kAvx512 && k % 16 == 0;
        ASSERT_EQ(mem != nullptr, expect_packed) << dtype_name(d) << " K=" << k;
        ASSERT_EQ(packed.packed, mem.get());
        if (expect_packed) {
          EXPECT_EQ(packed_weight_bytes(packed), uint64_t((rows + 15) / 16 * 16 * k) * elem);
          EXPECT_NE(packed.rows_slice(16, rows - 16).packed, nullptr);
          EXPECT_EQ(packed.rows_slice(5, 7).packed, nullptr);
        }
        for (int64_t t : {1, 2, 3, 5, 7}) {
          auto x = make_acts(t, k, k + 3, rng, 1);
          for (const auto& [plain, pk] : test::packed_slice_cases(w.view, packed)) {
            std::vector<float> want;
            {
              IsaScope s(Isa::kScalar);
              want = run_matmul(p1, x.view, plain);
            }
            for (Isa isa : isas) {
              IsaScope s(isa);
              for (ThreadPool* pool : {&p1, &p3})
                expect_same(run_matmul(*pool, x.view, pk), want, t, pk.rows, pk.rows,
                            label(isa, d, t, pk.rows, k) + " packed on " + std::to_string(pool->size()) +
                                " threads");
            }
          }
        }
      }
    }
  }
}

// FP8 matrices with a NaN code or a block scale off the fast path stay unpacked (their products
// need the direct path's checks) and still give the scalar reference's bits.
TEST(Matmul, Fp8WithNanCodesOrHugeScalesIsNotPacked) {
  std::mt19937 rng(23);
  ThreadPool pool(2);
  const auto isas = test::supported_isas();
  for (int variant = 0; variant < 3; ++variant) {
    auto w = make_weight(DType::kF8E4M3, 48, 256, rng);
    auto* q = const_cast<uint8_t*>(static_cast<const uint8_t*>(w.view.data));
    if (variant == 1) q[20 * 256 + 131] = 0xff;  // a NaN code
    if (variant == 2) w.scales[1] = 300.0f;      // block scale of magnitude >= 256
    WeightView packed = w.view;
    std::unique_ptr<std::byte[], AlignedFree> mem;
    {
      IsaScope s(isas.back());
      mem = pack_weights(packed);
    }
    EXPECT_EQ(mem != nullptr, variant == 0 && isas.back() == Isa::kAvx512) << variant;
    auto x = make_acts(1, 256, 256, rng);
    std::vector<float> want;
    {
      IsaScope s(Isa::kScalar);
      want = run_matmul(pool, x.view, w.view);
    }
    for (Isa isa : isas) {
      IsaScope s(isa);
      const std::vector<float> got = run_matmul(pool, x.view, packed);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(want[i]))
          EXPECT_TRUE(std::isnan(got[i])) << isa_name(isa) << " " << i;
        else
          EXPECT_EQ(got[i], want[i]) << isa_name(isa) << " variant " << variant << " row " << i;
      }
    }
  }
}

TEST(Matmul, EmptyAndZeroK) {
  ThreadPool pool(2);
  std::vector<float> w(4, 1.0f);
  WeightView wv;
  wv.dtype = DType::kF32;
  wv.rows = 4;
  wv.cols = 0;
  wv.data = w.data();
  std::vector<float> y(8, 5.0f);
  float xdummy = 0;
  matmul(pool, ConstMatView(&xdummy, 2, 0, 0), wv, MatView{y.data(), 2, 4, 4});
  for (float v : y) EXPECT_EQ(v, 0.0f);
  wv.rows = 0;
  wv.cols = 3;
  matmul(pool, ConstMatView(&xdummy, 2, 3, 3), wv, MatView{y.data(), 2, 0, 0});
}

TEST(WeightView, RowBytesAndSlice) {
  WeightView w;
  w.dtype = DType::kBF16;
  w.rows = 10;
  w.cols = 6;
  uint16_t buf[60] = {};
  w.data = buf;
  EXPECT_EQ(w.row_bytes(), 12);
  WeightView s = w.rows_slice(3, 4);
  EXPECT_EQ(s.rows, 4);
  EXPECT_EQ(s.data, static_cast<const void*>(buf + 18));
  EXPECT_EQ(s.row0, 3);
}

}  // namespace
}  // namespace r1
