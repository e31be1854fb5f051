// Element-wise and row ops: every ISA against the scalar reference bit for bit (exp is a
// polynomial evaluated identically everywhere), odd sizes and misaligned pointers; the
// reference itself against double precision; argmax edge cases; R1_ISA at start-up.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"
#include "kernel_test_util.h"
#include "kernels/kernel_table.h"

namespace r1 {
namespace {

using test::first_mismatch;
using test::IsaScope;

const int64_t kSizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 127, 128, 129, 1000, 4099};

std::vector<float> randn(int64_t n, std::mt19937& rng, float sd = 1.0f) {
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = nd(rng);
  return v;
}

// Runs `op` on a copy of `inputs` (placed one float past a 64-byte boundary) under every ISA
// and checks every output buffer against the scalar run bitwise, plus the guard after it.
void check_all_isas(const std::string& name, std::vector<std::vector<float>> inputs,
                    const std::function<void(std::vector<float*>&)>& op) {
  auto run = [&](Isa isa) {
    IsaScope s(isa);
    std::vector<std::vector<float>> bufs;
    std::vector<float*> ptrs;
    for (auto& in : inputs) {
      std::vector<float> b(in.size() + 2, 99.0f);
      std::copy(in.begin(), in.end(), b.begin() + 1);
      bufs.push_back(std::move(b));
    }
    for (auto& b : bufs) ptrs.push_back(b.data() + 1);
    op(ptrs);
    return bufs;
  };
  auto want = run(Isa::kScalar);
  for (Isa isa : test::supported_isas()) {
    auto got = run(isa);
    for (size_t i = 0; i < got.size(); ++i) {
      int64_t at = first_mismatch(got[i].data(), want[i].data(), int64_t(got[i].size()));
      EXPECT_EQ(at, -1) << name << " " << isa_name(isa) << " buffer " << i
                        << " n=" << inputs[i].size() << " at " << at << ": "
                        << got[i][size_t(std::max<int64_t>(at, 0))] << " vs "
                        << want[i][size_t(std::max<int64_t>(at, 0))];
      EXPECT_EQ(got[i].back(), 99.0f) << name << " wrote past the end";
    }
  }
}

TEST(Ops, EveryIsaMatchesScalarBitwise) {
  std::mt19937 rng(11);
  for (int64_t n : kSizes) {
    auto a = randn(n, rng), b = randn(n, rng), c = randn(n, rng, 4.0f);
    check_all_isas("dot", {a, b, {0.0f}},
                   [n](std::vector<float*>& p) { p[2][0] = dot_f32(p[0], p[1], n); });
    check_all_isas("axpy", {a, b}, [n](std::vector<float*>& p) { axpy_f32(p[0], 0.37f, p[1], n); });
    check_all_isas("rms_norm", {a, b, c},
                   [n](std::vector<float*>& p) { rms_norm(p[0], p[1], 1e-6f, n, p[2]); });
    check_all_isas("rms_norm in place", {a, b},
                   [n](std::vector<float*>& p) { rms_norm(p[0], p[1], 1e-5f, n, p[0]); });
    check_all_isas("silu_mul", {c, b, a},
                   [n](std::vector<float*>& p) { silu_mul(p[0], p[1], n, p[2]); });
    check_all_isas("silu_mul aliasing gate", {c, b},
                   [n](std::vector<float*>& p) { silu_mul(p[0], p[1], n, p[0]); });
    check_all_isas("softmax", {c}, [n](std::vector<float*>& p) { softmax(p[0], n); });
    check_all_isas("add", {a, b}, [n](std::vector<float*>& p) { add_inplace(p[0], p[1], n); });
    check_all_isas("scale", {a}, [n](std::vector<float*>& p) { scale_inplace(p[0], -1.7f, n); });
    check_all_isas("argmax", {c, {0.0f}},
                   [n](std::vector<float*>& p) { p[1][0] = float(argmax(p[0], n)); });
    if (n % 2 == 0 || n == 1) {
      int64_t dim = std::max<int64_t>(2, n);
      auto x = randn(dim, rng), cs = randn(dim / 2, rng), sn = randn(dim / 2, rng);
      check_all_isas("rope_neox", {x, cs, sn},
                     [dim](std::vector<float*>& p) { rope_neox(p[0], p[1], p[2], dim); });
      check_all_isas("rope_interleaved", {x, cs, sn},
                     [dim](std::vector<float*>& p) { rope_interleaved(p[0], p[1], p[2], dim); });
    }
  }
}

// The fused attention runs equal the dot_f32 / axpy_f32 loops they replace, bit for bit, on every
// ISA (group sizes of the real models and larger, head sizes with and without a vector tail, runs shorter
// and longer than the four positions reduced together, slots wider than a head and misaligned, with
// and without a next run to prefetch).
TEST(Ops, AttentionRunsMatchDotAndAxpyLoops) {
  std::mt19937 rng(23);
  for (int64_t group : {1, 3, 6, 7, 8, 11, 16})
    for (int64_t hd : {5, 16, 48, 64, 72, 128})
      for (int64_t n : {1, 3, 4, 5, 16, 17}) {
        const int64_t stride = 2 * hd + 3, ld = n + 2;
        auto q = randn(group * hd, rng), kv = randn(n * stride, rng), o = randn(group * hd, rng);
        auto w = randn(group * ld, rng, 0.3f);
        check_all_isas("attn_scores", {q, kv, std::vector<float>(size_t(group * ld), 0.0f)},
                       [&](std::vector<float*>& p) { attn_scores(p[0], group, hd, {p[1] + 1}, stride, n, 0.125f, p[2], ld); });
        check_all_isas("attn_values", {o, w, kv},
                       [&](std::vector<float*>& p) { attn_values(p[0], group, hd, p[1], ld, {p[2] + 1}, stride, n); });
        for (Isa isa : test::supported_isas()) {
          IsaScope scope(isa);
          std::vector<float> s(size_t(group * ld)), s_ref(s.size()), ov = o, ov_ref = o;
          // A next run to prefetch changes nothing.
          const KvSpan span{kv.data() + 1, DType::kF32, kv.data()};
          attn_scores(q.data(), group, hd, span, stride, n, 0.125f, s.data(), ld);
          attn_values(ov.data(), group, hd, w.data(), ld, span, stride, n);
          for (int64_t p = 0; p < n; ++p)
            for (int64_t j = 0; j < group; ++j) {
              s_ref[size_t(j * ld + p)] = dot_f32(q.data() + j * hd, kv.data() + 1 + p * stride, hd) * 0.125f;
              axpy_f32(ov_ref.data() + j * hd, w[size_t(j * ld + p)], kv.data() + 1 + p * stride, hd);
            }
          EXPECT_EQ(first_mismatch(s.data(), s_ref.data(), int64_t(s.size())), -1)
              << isa_name(isa) << " scores group " << group << " hd " << hd << " n " << n;
          EXPECT_EQ(first_mismatch(ov.data(), ov_ref.data(), int64_t(ov.size())), -1)
              << isa_name(isa) << " values group " << group << " hd " << hd << " n " << n;
        }
      }
}

// An f16 cache gives exactly what an f32 cache holding the same (f16-representable) values gives,
// on every ISA: the halves are converted exactly and enter the same chains.
TEST(Ops, AttentionOnF16CacheEqualsF32OfSameValues) {
  std::mt19937 rng(29);
  for (int64_t group : {1, 6, 8, 11})
    for (int64_t hd : {5, 16, 48, 64, 72})
      for (int64_t n : {1, 4, 5, 17}) {
        const int64_t stride = 2 * hd + 3, ld = n + 2;
        auto q = randn(group * hd, rng), kv = randn(n * stride + 1, rng, 3.0f), o = randn(group * hd, rng);
        auto w = randn(group * ld, rng, 0.3f);
        std::vector<uint16_t> kv16(kv.size());
        for (size_t i = 0; i < kv.size(); ++i) {
          kv16[i] = f32_to_f16(kv[i]);
          kv[i] = f16_to_f32(kv16[i]);
        }
        for (Isa isa : test::supported_isas()) {
          IsaScope scope(isa);
          std::vector<float> s16(size_t(group * ld)), s32(s16.size()), o16 = o, o32 = o;
          attn_scores(q.data(), group, hd, {kv16.data() + 1, DType::kF16}, stride, n, 0.125f, s16.data(), ld);
          attn_scores(q.data(), group, hd, {kv.data() + 1, DType::kF32}, stride, n, 0.125f, s32.data(), ld);
          attn_values(o16.data(), group, hd, w.data(), ld, {kv16.data() + 1, DType::kF16}, stride, n);
          attn_values(o32.data(), group, hd, w.data(), ld, {kv.data() + 1, DType::kF32}, stride, n);
          EXPECT_EQ(first_mismatch(s16.data(), s32.data(), int64_t(s16.size())), -1)
              << isa_name(isa) << " scores group " << group << " hd " << hd << " n " << n;
          EXPECT_EQ(first_mismatch(o16.data(), o32.data(), int64_t(o16.size())), -1)
              << isa_name(isa) << " values group " << group << " hd " << hd << " n " << n;
        }
      }
  // KvSpan::at steps by the element size.
  const uint16_t h[4] = {0, 0, 0, 0};
  EXPECT_EQ(KvSpan({h, DType::kF16}).at(3).data, static_cast<const void*>(h + 3));
}

// Extreme inputs take the same exp branches everywhere: overflow, underflow, NaN, infinities.
TEST(Ops, ExtremeInputsMatchScalar) {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1e-30f,
                          -1e-30f,
                          80.0f,
                          -80.0f,
                          88.0f,
                          -88.0f,
                          88.72f,
                          88.73f,
                          -86.97f,
                          -86.99f,
                          -87.5f,
                          100.0f,
                          -100.0f,
                          1e30f,
                          -1e30f,
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(),
                          3.0f,
                          -3.0f,
                          0.5f};
  const int64_t n = int64_t(v.size());
  std::vector<float> ones(v.size(), 1.0f);
  check_all_isas("silu extremes", {v, ones, ones},
                 [n](std::vector<float*>& p) { silu_mul(p[0], p[1], n, p[2]); });
  std::vector<float> sm = {1.0f, 50.0f, -50.0f, 0.0f, -1e30f, 3.0f, 88.0f, -200.0f, 7.0f};
  const int64_t m = int64_t(sm.size());
  check_all_isas("softmax extremes", {sm}, [m](std::vector<float*>& p) { softmax(p[0], m); });
}

double ulp_distance(float a, double exact) {
  float e = float(exact);
  double ulp =
      std::ldexp(1.0, std::ilogb(std::max(std::fabs(e), std::numeric_limits<float>::min())) - 23);
  return std::fabs(double(a) - exact) / ulp;
}

// The exp polynomial is accurate to a couple of ulp over the whole range it computes.
TEST(Reference, ExpWithinTwoUlp) {
  double worst = 0;
  for (float x = -86.9f; x < 88.7f; x += 0.0173f) {
    double u = ulp_distance(kernels::exp_ref(x), std::exp(double(x)));
    worst = std::max(worst, u);
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_EQ(kernels::exp_ref(0.0f), 1.0f);
  EXPECT_EQ(kernels::exp_ref(89.0f), std::numeric_limits<float>::infinity());
  EXPECT_EQ(kernels::exp_ref(-90.0f), 0.0f);
  EXPECT_TRUE(std::isnan(kernels::exp_ref(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_GT(kernels::exp_ref(88.72f), 3.3e38f);
  EXPECT_LT(kernels::exp_ref(88.72f), std::numeric_limits<float>::infinity());
}

// The scalar references against double precision.
TEST(Reference, OpsAgreeWithDouble) {
  IsaScope s(Isa::kScalar);
  std::mt19937 rng(12);
  const int64_t n = 1000;
  auto x = randn(n, rng, 3.0f), w = randn(n, rng), u = randn(n, rng);
  std::vector<float> out(static_cast<size_t>(n));

  rms_norm(x.data(), w.data(), 1e-6f, n, out.data());
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  double r = 1.0 / std::sqrt(ss / n + 1e-6);
  for (int64_t i = 0; i < n; ++i)
    EXPECT_NEAR(out[size_t(i)], x[size_t(i)] * r * w[size_t(i)],
                1e-6 * std::fabs(x[size_t(i)] * r * w[size_t(i)]) + 1e-7);

  silu_mul(x.data(), u.data(), n, out.data());
  for (int64_t i = 0; i < n; ++i) {
    double g = x[size_t(i)], want = g / (1 + std::exp(-g)) * u[size_t(i)];
    EXPECT_NEAR(out[size_t(i)], want, 4e-7 * std::fabs(want) + 1e-30);
  }

  std::vector<float> sm = x;
  softmax(sm.data(), n);
  double mx = *std::max_element(x.begin(), x.end()), den = 0;
  for (float v : x) den += std::exp(double(v) - mx);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    double want = std::exp(double(x[size_t(i)]) - mx) / den;
    EXPECT_NEAR(sm[size_t(i)], want, 1e-6 * want + 1e-30);
    total += sm[size_t(i)];
  }
  EXPECT_NEAR(total, 1.0, 1e-5);

  const int64_t dim = 64;
  std::vector<float> cs(dim / 2), sn(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) {
    cs[size_t(i)] = float(std::cos(0.3 * double(i)));
    sn[size_t(i)] = float(std::sin(0.3 * double(i)));
  }
  std::vector<float> a(x.begin(), x.begin() + dim), b = a;
  rope_neox(a.data(), cs.data(), sn.data(), dim);
  rope_interleaved(b.data(), cs.data(), sn.data(), dim);
  for (int64_t i = 0; i < dim / 2; ++i) {
    double c = cs[size_t(i)], s2 = sn[size_t(i)];
    double p = x[size_t(i)], q = x[size_t(i + dim / 2)];
    EXPECT_NEAR(a[size_t(i)], p * c - q * s2, 1e-5);
    EXPECT_NEAR(a[size_t(i + dim / 2)], q * c + p * s2, 1e-5);
    double p2 = x[size_t(2 * i)], q2 = x[size_t(2 * i + 1)];
    EXPECT_NEAR(b[size_t(2 * i)], p2 * c - q2 * s2, 1e-5);
    EXPECT_NEAR(b[size_t(2 * i + 1)], q2 * c + p2 * s2, 1e-5);
  }
}

TEST(Ops, ArgmaxEdgeCases) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (Isa isa : test::supported_isas()) {
    IsaScope s(isa);
    std::vector<float> v(40, 1.0f);
    v[17] = 3.0f;
    v[33] = 3.0f;
    EXPECT_EQ(argmax(v.data(), 40), 17) << isa_name(isa) << ": first of equal maxima";
    v[3] = nan;
    v[35] = nan;
    EXPECT_EQ(argmax(v.data(), 40), 17) << isa_name(isa) << ": NaN never wins";
    std::vector<float> all_nan(20, nan);
    EXPECT_EQ(argmax(all_nan.data(), 20), 0) << isa_name(isa);
    std::vector<float> neg(21, -inf);
    neg[0] = nan;
    EXPECT_EQ(argmax(neg.data(), 21), 1) << isa_name(isa) << ": first non-NaN -inf";
    std::vector<float> zeros = {-1.0f, -0.0f, 0.0f, -0.0f};
    EXPECT_EQ(argmax(zeros.data(), 4), 1) << isa_name(isa) << ": -0 and +0 tie";
    std::vector<float> big(151936);
    std::mt19937 rng(13);
    for (float& f : big) f = std::uniform_real_distribution<float>(-10, 10)(rng);
    big[151935] = 11.0f;
    EXPECT_EQ(argmax(big.data(), 151936), 151935) << isa_name(isa);
    EXPECT_EQ(argmax(big.data() + 5, 1), 0) << isa_name(isa);
  }
}

TEST(Ops, SoftmaxSumsToOneOnEveryIsa) {
  std::mt19937 rng(14);
  for (Isa isa : test::supported_isas()) {
    IsaScope s(isa);
    for (int64_t n : {1, 17, 151936}) {
      auto v = randn(n, rng, 5.0f);
      softmax(v.data(), n);
      double total = 0;
      for (float f : v) total += f;
      EXPECT_NEAR(total, 1.0, 1e-4) << isa_name(isa) << " n=" << n;
    }
  }
}

TEST(Bandwidth, MeasuresSomething) {
  ThreadPool pool(2);
  const uint64_t bytes = 16u << 20;
  auto buf = aligned_alloc_bytes(bytes);
  for (Isa isa : test::supported_isas()) {
    IsaScope s(isa);
    double bw = measure_read_bandwidth(pool, buf.get(), bytes, 2);
    EXPECT_GT(bw, 1e8) << isa_name(isa);
    EXPECT_LT(bw, 1e13) << isa_name(isa);
  }
}

// R1_ISA is read once, at start-up: run this binary again with it set and read back the ISA
// the child reports.
std::string child_isa(const char* value) {
  std::string cmd = "R1_ISA=" + std::string(value) + " R1_KERNELS_TEST_CHILD=1 /proc/" +
                    std::to_string(getpid()) + "/exe --gtest_filter=IsaEnv.Child 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return "popen failed";
  std::string out;
  char buf[256];
  while (fgets(buf, sizeof buf, f)) out += buf;
  pclose(f);
  return out;
}

TEST(IsaEnv, Child) {
  if (!std::getenv("R1_KERNELS_TEST_CHILD")) GTEST_SKIP() << "only run as a child of IsaEnv.*";
  try {
    std::printf("ISA=%s\n", std::string(isa_name(active_isa())).c_str());
  } catch (const Error& e) {
    std::printf("ERROR=%s\n", e.what());
  }
}

TEST(IsaEnv, ForcedAtStartup) {
  for (Isa isa : test::supported_isas()) {
    std::string name(isa_name(isa));
    EXPECT_NE(child_isa(name.c_str()).find("ISA=" + name + "\n"), std::string::npos) << name;
  }
  std::string bad = child_isa("sse9");
  EXPECT_NE(bad.find("ERROR=R1_ISA=sse9: unknown instruction set"), std::string::npos) << bad;
  if (!isa_supported(Isa::kAvx512)) {
    std::string unsupported = child_isa("avx512");
    EXPECT_NE(unsupported.find("does not support"), std::string::npos) << unsupported;
  }
}

}  // namespace
}  // namespace r1
