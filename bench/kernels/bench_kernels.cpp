// Kernel benchmark (reports, never asserts). For each thread count it measures, in one run:
//  * the read bandwidth of anonymous memory (measure_read_bandwidth) and the FMA peak;
//  * matvec (T=1) GB/s of weight streamed, per weight type (incl. the GGUF block types), at the
//    projection shapes of DeepSeek-R1-Distill-Qwen-1.5B, cycling through enough copies of each
//    matrix (>= 512 MiB) that every pass comes from DRAM as in a real forward pass;
//  * batched decode (T = 1..16) on one shape: weight GB/s and activation rows per second;
//  * prefill GEMM (T=512) GFLOP/s;
//  * decode attention (--attention): one query row over an F16/F32 KV cache of --attn-ctx
//    positions at the 1.5B shape (28 layers, 12 query heads on 2 KV heads of 128), GB/s of cache
//    read, each repetition paired with a bandwidth sample.
// Weights live in anonymous memory (the kernel reclaimer evicts idle file pages). Figures are
// medians over --reps repetitions; each matvec (GEMM) repetition is paired with a bandwidth (FMA
// peak) sample taken just before it and "% of" is the median of those per-repetition ratios,
// which stays meaningful on a machine shared with other work. --json prints one JSON object.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/quants.h"
#include "core/tensor.h"
#include "kernels/ops.h"
#include "models/attention.h"
#include "models/kv_cache.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Shape {
  const char* name;
  int64_t rows, cols;
};

// The projections of DeepSeek-R1-Distill-Qwen-1.5B (hidden 1536, kv 256, mlp 8960, vocab 151936).
const Shape kShapes[] = {
    {"q/o_proj", 1536, 1536},  {"k/v_proj", 256, 1536},   {"gate/up_proj", 8960, 1536},
    {"down_proj", 1536, 8960}, {"lm_head", 151936, 1536},
};

int64_t elem_bytes(r1::DType d) {
  return d == r1::DType::kF32 ? 4 : d == r1::DType::kF8E4M3 ? 1 : 2;
}

// Fast fill with realistic values: Gaussian weights (FP8 quantized against a per-block max as
// checkpoints are, so zero and subnormal codes appear at their natural rate).
class Filler {
 public:
  explicit Filler(r1::DType d) : dtype_(d) {
    std::mt19937 rng(42);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& v : table_) {
      float f = nd(rng);
      switch (d) {
        case r1::DType::kF32: {
          float w = f * 0.02f;
          std::memcpy(&v, &w, 4);
          break;
        }
        case r1::DType::kBF16:
          v = r1::f32_to_bf16(f * 0.02f);
          break;
        case r1::DType::kF16:
          v = r1::f32_to_f16(f * 0.02f);
          break;
        default:
          v = r1::f32_to_fp8_e4m3(f * 448.0f / 4.5f);
          break;
      }
    }
  }
  void fill(uint8_t* p, int64_t elems) {
    uint64_t s = 0x9E3779B97F4A7C15ull;
    int64_t eb = elem_bytes(dtype_);
    for (int64_t i = 0; i < elems; ++i) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      uint32_t v = table_[s & (kTable - 1)];
      std::memcpy(p + i * eb, &v, size_t(eb));
    }
  }

 private:
  static constexpr size_t kTable = 1 << 16;
  r1::DType dtype_;
  std::vector<uint32_t> table_ = std::vector<uint32_t>(kTable);
};

struct Matrices {
  std::unique_ptr<std::byte[], r1::AlignedFree> mem;
  std::vector<float> scales;
  std::vector<r1::WeightView> views;
  int64_t bytes_each = 0;
  std::vector<std::unique_ptr<std::byte[], r1::AlignedFree>> packed;  // --packed: the kernels' layout
};

// Block-quantized types: 64 distinct rows quantized from Gaussian values, repeated.
void fill_blocks(r1::DType d, uint8_t* p, int64_t rows, int64_t cols) {
  const int64_t rb = int64_t(*r1::dtype_bytes(d, uint64_t(cols)));
  const int64_t distinct = std::min<int64_t>(rows, 64);
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < distinct; ++r) {
    for (float& v : row) v = nd(rng);
    r1::quantize(d, row.data(), p + r * rb, cols);
  }
  for (int64_t r = distinct; r < rows; ++r) std::memcpy(p + r * rb, p + (r % distinct) * rb, size_t(rb));
}

Matrices make_copies(r1::DType d, int64_t rows, int64_t cols, uint64_t min_total, bool pack) {
  Matrices m;
  m.bytes_each = int64_t(*r1::dtype_bytes(d, uint64_t(rows * cols)));
  int64_t stride = (m.bytes_each + 4095) / 4096 * 4096;
  int64_t copies = std::max<int64_t>(
      1, int64_t((min_total + uint64_t(m.bytes_each) - 1) / uint64_t(m.bytes_each)));
  m.mem = r1::aligned_alloc_bytes(size_t(stride * copies));
  if (r1::is_block_quantized(d)) {
    fill_blocks(d, reinterpret_cast<uint8_t*>(m.mem.get()), rows, cols);
  } else {
    Filler f(d);
    f.fill(reinterpret_cast<uint8_t*>(m.mem.get()), m.bytes_each / elem_bytes(d));
  }
  for (int64_t c = 1; c < copies; ++c)
    std::memcpy(m.mem.get() + c * stride, m.mem.get(), size_t(m.bytes_each));
  if (d == r1::DType::kF8E4M3) {
    m.scales.assign(size_t(((rows + 127) / 128) * ((cols + 127) / 128)), 0.0f);
    std::mt19937 rng(7);
    for (float& s : m.scales) s = std::uniform_real_distribution<float>(1e-5f, 1e-4f)(rng);
  }
  for (int64_t c = 0; c < copies; ++c) {
    r1::WeightView w;
    w.dtype = d;
    w.rows = rows;
    w.cols = cols;
    w.data = m.mem.get() + c * stride;
    if (d == r1::DType::kF8E4M3) {
      w.scale = m.scales.data();
      w.scale_cols = (cols + 127) / 128;
    }
    if (pack)
      if (auto mem = r1::pack_weights(w)) m.packed.push_back(std::move(mem));
    m.views.push_back(w);
  }
  return m;
}

// A weight type by the name r1 prints (F32, BF16, F16, F8_E4M3, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K).
// Medians over `reps` timed calls of pass() (warmed up by one untimed call) that stream `bytes`:
// seconds per call, the read bandwidth sampled just before each call, and the ratio of the two
// per repetition, which holds even when other work on the machine changes the bandwidth between
// repetitions.
struct Streamed {
  double sec, bw, ratio;
};
template <typename Pass>
Streamed stream_vs_bandwidth(r1::ThreadPool& pool, const void* bw_buf, uint64_t bw_sample, int reps, double bytes,
                             Pass&& pass) {
  pass();
  std::vector<double> t, bw, ratio;
  for (int r = 0; r < reps; ++r) {
    const double b = r1::measure_read_bandwidth(pool, bw_buf, bw_sample, 1);
    const auto s = Clock::now();
    pass();
    const double sec = seconds_since(s);
    t.push_back(sec);
    bw.push_back(b);
    ratio.push_back(bytes / sec / b);
  }
  return {median(t), median(bw), median(ratio)};
}

r1::DType parse_type(const std::string& name) {
  for (int i = 0; i <= int(r1::DType::kQ8_K); ++i)
    if (r1::dtype_name(r1::DType(i)) == name) return r1::DType(i);
  std::fprintf(stderr, "unknown weight type %s\n", name.c_str());
  std::exit(2);
}

std::vector<float> random_acts(int64_t n) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = nd(rng);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"r1 kernel benchmark: matvec GB/s and prefill GFLOP/s vs the machine's bounds"};
  std::vector<int> threads = {1, 2};
  std::vector<std::string> types = {"F32", "BF16", "F16", "F8_E4M3"};
  int reps = 7;
  int prefill_t = 512;
  bool json_out = false, skip_matvec = false, skip_batch = false, skip_prefill = false, packed = false;
  std::vector<std::string> only_shapes;
  app.add_option("-t,--threads", threads, "Thread counts to run");
  app.add_option("--types", types, "Weight types (F32 BF16 F16 F8_E4M3 Q8_0 Q4_0 Q4_K Q5_K Q6_K)");
  app.add_option("--reps", reps, "Repetitions per measurement (median reported)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--prefill-t", prefill_t, "Activation rows of the prefill GEMM");
  app.add_option("--shapes", only_shapes, "Only these matvec shapes (by name)");
  app.add_flag("--no-matvec", skip_matvec);
  app.add_flag("--no-batch", skip_batch);
  app.add_flag("--packed", packed, "Repack weights for the kernels, as models do when loading");
  app.add_flag("--no-prefill", skip_prefill);
  app.add_flag("--json", json_out, "Print JSON instead of a table");
  bool attention = false, attn_interleaved = false;
  int attn_ctx = 4096;
  app.add_flag("--attention", attention, "Measure decode attention over the KV cache");
  app.add_option("--attn-ctx", attn_ctx, "Positions in the cache for --attention")->check(CLI::Range(1, 1 << 20));
  app.add_flag("--attn-interleaved", attn_interleaved,
               "Cache pages hold whole slots ([K heads | V heads] per slot) instead of one head per segment");
  CLI11_PARSE(app, argc, argv);

  nlohmann::json out;
  out["isa"] = std::string(r1::isa_name(r1::active_isa()));
  auto say = [&](const std::string& s) {
    if (!json_out) std::fputs(s.c_str(), stdout), std::fflush(stdout);
  };
  say(fmt::format("kernels: {} (R1_ISA forces another)\n", r1::isa_name(r1::active_isa())));

  const uint64_t bw_bytes = uint64_t(1) << 30;
  const uint64_t bw_sample = uint64_t(256) << 20;  // paired with each matvec repetition
  auto bw_buf = r1::aligned_alloc_bytes(bw_bytes);
  std::memset(bw_buf.get(), 1, bw_bytes);

  for (int nt : threads) {
    r1::ThreadPool pool(nt);
    nlohmann::json jt;
    std::vector<double> bws;
    for (int r = 0; r < reps; ++r)
      bws.push_back(r1::measure_read_bandwidth(pool, bw_buf.get(), bw_bytes, 1));
    double bw = median(bws);
    std::vector<double> peaks;
    for (int r = 0; r < 3; ++r) peaks.push_back(r1::measure_fma_peak(pool));
    double peak = median(peaks);
    jt["read_bandwidth_gbs"] = bw / 1e9;
    jt["fma_peak_gflops"] = peak / 1e9;
    say(fmt::format(
        "\n== {} thread(s): read bandwidth {:.1f} GB/s (median of {}; min {:.1f}, max {:.1f}), "
        "FMA peak {:.0f} GFLOP/s\n",
        nt, bw / 1e9, reps, *std::min_element(bws.begin(), bws.end()) / 1e9,
        *std::max_element(bws.begin(), bws.end()) / 1e9, peak / 1e9));

    if (!skip_matvec) {
      say(fmt::format("{:<14} {:>8} {:>14} {:>10} {:>10} {:>9} {:>9}\n", "matvec T=1", "type",
                      "shape", "GB/s", "bw GB/s", "% of bw", "us/call"));
      for (const std::string& tn : types) {
        r1::DType d = parse_type(tn);
        for (const Shape& sh : kShapes) {
          if (!only_shapes.empty() &&
              std::find(only_shapes.begin(), only_shapes.end(), sh.name) == only_shapes.end())
            continue;
          Matrices m = make_copies(d, sh.rows, sh.cols, uint64_t(512) << 20, packed);
          auto x = random_acts(sh.cols);
          std::vector<float> y(size_t(sh.rows));
          auto pass = [&] {
            for (const auto& w : m.views)
              r1::matmul(pool, r1::ConstMatView(x.data(), 1, sh.cols, sh.cols), w,
                         r1::MatView{y.data(), 1, sh.rows, sh.rows});
          };
          const double bytes = double(m.bytes_each) * double(m.views.size());
          const Streamed st = stream_vs_bandwidth(pool, bw_buf.get(), bw_sample, reps, bytes, pass);
          const double sec = st.sec, gbs = bytes / sec / 1e9, us = sec / double(m.views.size()) * 1e6;
          say(fmt::format("{:<14} {:>8} {:>14} {:>10.1f} {:>10.1f} {:>8.0f}% {:>9.1f}\n", sh.name,
                          tn, fmt::format("{}x{}", sh.rows, sh.cols), gbs, st.bw / 1e9,
                          100 * st.ratio, us));
          jt["matvec"].push_back({{"type", tn},
                                  {"name", sh.name},
                                  {"rows", sh.rows},
                                  {"cols", sh.cols},
                                  {"gbs", gbs},
                                  {"bw_gbs", st.bw / 1e9},
                                  {"fraction_of_bw", st.ratio},
                                  {"us", us}});
        }
      }
    }

    if (!skip_batch) {
      say(fmt::format("{:<22} {:>8} {:>10} {:>12} {:>14}\n", "batched decode", "type", "T",
                      "weight GB/s", "rows/s vs T=1"));
      const Shape sh = kShapes[2];
      for (const std::string& tn : types) {
        r1::DType d = parse_type(tn);
        Matrices m = make_copies(d, sh.rows, sh.cols, uint64_t(512) << 20, packed);
        double base = 0;
        for (int T : {1, 2, 3, 4, 6, 8, 12, 16}) {
          auto x = random_acts(int64_t(T) * sh.cols);
          std::vector<float> y(size_t(T * sh.rows));
          auto pass = [&] {
            for (const auto& w : m.views)
              r1::matmul(pool, r1::ConstMatView(x.data(), T, sh.cols, sh.cols), w,
                         r1::MatView{y.data(), T, sh.rows, sh.rows});
          };
          pass();
          std::vector<double> t;
          for (int r = 0; r < reps; ++r) {
            auto s = Clock::now();
            pass();
            t.push_back(seconds_since(s));
          }
          double sec = median(t);
          double gbs = double(m.bytes_each) * double(m.views.size()) / sec / 1e9;
          double rows_per_s = double(T) * double(m.views.size()) / sec;
          if (T == 1) base = rows_per_s;
          say(fmt::format("{:<22} {:>8} {:>10} {:>12.1f} {:>13.2f}x\n",
                          fmt::format("{} {}x{}", sh.name, sh.rows, sh.cols), tn, T, gbs,
                          rows_per_s / base));
          jt["batched"].push_back(
              {{"type", tn}, {"t", T}, {"gbs", gbs}, {"speedup_vs_t1", rows_per_s / base}});
        }
      }
    }

    if (!skip_prefill) {
      say(fmt::format("{:<14} {:>8} {:>16} {:>10} {:>10} {:>10} {:>9}\n", "prefill", "type",
                      "TxOxK", "GFLOP/s", "peak", "% of peak", "ms"));
      const Shape gemm_shapes[] = {
          {"q/o_proj", 1536, 1536}, {"gate/up_proj", 8960, 1536}, {"down_proj", 1536, 8960}};
      for (const std::string& tn : types) {
        r1::DType d = parse_type(tn);
        for (const Shape& sh : gemm_shapes) {
          Matrices m = make_copies(d, sh.rows, sh.cols, 0, packed);
          auto x = random_acts(int64_t(prefill_t) * sh.cols);
          std::vector<float> y(size_t(int64_t(prefill_t) * sh.rows));
          auto run = [&] {
            r1::matmul(pool, r1::ConstMatView(x.data(), prefill_t, sh.cols, sh.cols), m.views[0],
                       r1::MatView{y.data(), prefill_t, sh.rows, sh.rows});
          };
          run();
          const double flop = 2.0 * prefill_t * double(sh.rows) * double(sh.cols);
          std::vector<double> t, ratio, peak_now;
          for (int r = 0; r < reps; ++r) {
            double p = r1::measure_fma_peak(pool);
            auto s = Clock::now();
            run();
            double sec = seconds_since(s);
            t.push_back(sec);
            peak_now.push_back(p);
            ratio.push_back(flop / sec / p);
          }
          double sec = median(t);
          double gflops = flop / sec / 1e9;
          say(fmt::format("{:<14} {:>8} {:>16} {:>10.1f} {:>10.0f} {:>9.0f}% {:>9.2f}\n", sh.name,
                          tn, fmt::format("{}x{}x{}", prefill_t, sh.rows, sh.cols), gflops,
                          median(peak_now) / 1e9, 100 * median(ratio), sec * 1e3));
          jt["prefill"].push_back({{"type", tn},
                                   {"name", sh.name},
                                   {"t", prefill_t},
                                   {"rows", sh.rows},
                                   {"cols", sh.cols},
                                   {"gflops", gflops},
                                   {"peak_gflops", median(peak_now) / 1e9},
                                   {"fraction_of_peak", median(ratio)},
                                   {"ms", sec * 1e3}});
        }
      }
    }
    if (attention) {
      say(fmt::format("{:<14} {:>8} {:>10} {:>10} {:>10} {:>9} {:>9}\n", "attention", "cache", "ctx",
                      "GB/s", "bw GB/s", "% of bw", "us/layer"));
      const int layers = 28;
      const int64_t n_heads = 12, n_kv = 2, hd = 128, width = 2 * n_kv * hd;
      for (r1::DType kt : {r1::DType::kF16, r1::DType::kF32}) {
        r1::KvCache kv({layers, width, attn_interleaved ? 0 : hd}, attn_ctx, 16, kt);
        r1::KvSeq seq;
        seq.reserve(kv, attn_ctx);
        std::vector<float> slot(static_cast<size_t>(width));
        std::mt19937 rng(7);
        std::normal_distribution<float> nd(0.0f, 1.0f);
        for (int l = 0; l < layers; ++l)
          for (int32_t p = 0; p < attn_ctx; ++p) {
            for (float& v : slot) v = nd(rng);
            seq.store(kv, l, p, slot.data());
          }
        seq.advance(attn_ctx);
        auto q = random_acts(n_heads * hd);
        std::vector<float> o(static_cast<size_t>(n_heads * hd));
        r1::FloatBuffer scores;
        const r1::RowPlace place{&seq, attn_ctx - 1};
        const r1::GqaShape shape{n_heads, n_kv, hd, 1.0f / std::sqrt(float(hd))};
        auto pass = [&] {
          for (int l = 0; l < layers; ++l)
            r1::gqa_attention(pool, r1::ConstMatView(q.data(), 1, n_heads * hd, n_heads * hd),
                              std::span<const r1::RowPlace>(&place, 1), kv, l, shape, scores,
                              r1::MatView{o.data(), 1, n_heads * hd, n_heads * hd});
        };
        const double bytes = double(layers) * double(attn_ctx) * double(width) * double(kv.elem_bytes());
        const Streamed st = stream_vs_bandwidth(pool, bw_buf.get(), bw_sample, reps, bytes, pass);
        const double sec = st.sec, gbs = bytes / sec / 1e9;
        const std::string tn(r1::dtype_name(kt));
        say(fmt::format("{:<14} {:>8} {:>10} {:>10.1f} {:>10.1f} {:>8.0f}% {:>9.1f}\n", "decode", tn, attn_ctx,
                        gbs, st.bw / 1e9, 100 * st.ratio, sec / layers * 1e6));
        jt["attention"].push_back({{"cache", tn},
                                   {"ctx", attn_ctx},
                                   {"gbs", gbs},
                                   {"bw_gbs", st.bw / 1e9},
                                   {"fraction_of_bw", st.ratio},
                                   {"us_per_layer", sec / layers * 1e6}});
      }
    }
    out["threads"][std::to_string(nt)] = jt;
  }
  if (json_out) std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
