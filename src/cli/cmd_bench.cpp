// `r1 bench`: prefill and decode speed of a model next to the machine's memory-bandwidth bound
// for decode (weight bytes read per token ÷ measured read bandwidth), like llama-bench.
// Weights are read into memory by default (--no-mmap) so the page-cache reclaimer cannot evict
// them mid-run; --mlock keeps the mapping instead.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <numeric>

#include "cli/command.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/log.h"
#include "models/model.h"

namespace r1::cli {
namespace {

struct BenchOptions {
  ModelOptions model;
  int64_t prompt = 512, gen = 128, depth = 0;
  int reps = 3;
  int threads = 1;
  bool json = false;
  bool mmap = false;
  bool warmup = true;
  DType kv_type = DType::kF32;
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Stats {
  double median, min, max;
};
Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

int run_bench(BenchOptions o) {
  LoadMode mode = o.model.mlock ? LoadMode::kMlock : o.mmap ? LoadMode::kMmap : LoadMode::kRead;
  const std::string path = resolve_model_path(o.model.model);
  log_info("loading {}", path);
  auto model = load_model(path, {mode});
  const ModelInfo& info = model->info();
  const int64_t vocab = info.vocab_size;
  ThreadPool pool(o.threads);

  // Read bandwidth with the kernels' own streaming loads, over a buffer far larger than caches,
  // measured before every repetition: the machine's bandwidth drifts, so the bound is the median
  // of the measurements taken during the run.
  const uint64_t bw_bytes = uint64_t(1) << 30;
  auto buf = aligned_alloc_bytes(bw_bytes);
  for (uint64_t i = 0; i < bw_bytes; i += 4096) buf[i] = std::byte(i >> 12);
  std::vector<double> bandwidths;
  // Decode reads the weights and the cache: at context c, c slots of every layer. The bound
  // uses the mean context of the timed decode steps (which start at DEPTH).
  const KvLayout kvl = model->kv_layout();
  KvCache cache(kvl, o.depth + std::max(o.prompt, o.gen) + 64, 16, o.kv_type);
  const double kv_bytes_per_pos = double(kvl.width) * kvl.n_layers * double(cache.elem_bytes());
  const double mean_ctx = double(o.depth) + double(std::max<int64_t>(o.gen - 1, 0)) / 2.0 + 1.0;
  const double decode_bytes = double(info.bytes_per_token) + (o.gen > 0 ? kv_bytes_per_pos * mean_ctx : 0.0);

  // (the warm-up's prompt plus one step fits too)
  std::vector<int32_t> tokens(size_t(std::max(o.depth + o.prompt + o.gen, std::max<int64_t>(o.prompt, 1) + 1)));
  uint64_t state = 12345;
  for (auto& t : tokens) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    t = int32_t((state >> 33) % uint64_t(vocab));
  }
  FloatBuffer logits(static_cast<size_t>(vocab));
  MatView out{logits.data(), 1, vocab, vocab};
  std::vector<double> pp, tg;
  if (o.warmup) {
    // One untimed prompt and decode step first, as a server has run before its first request: the
    // forward pass's scratch buffers reach their size and the weights' pages are touched.
    KvSeq seq;
    const int64_t n = std::max<int64_t>(o.prompt, 1);
    R1_CHECK(seq.reserve(cache, int32_t(n + 1)));
    std::span<const int32_t> all(tokens);
    SeqChunk prompt{all.subspan(0, size_t(n)), &seq, false};
    model->forward(pool, {&prompt, 1}, cache, out);
    SeqChunk step{all.subspan(size_t(n), 1), &seq, false};
    model->forward(pool, {&step, 1}, cache, out);
    seq.release(cache);
  }
  std::span<const int32_t> all(tokens);
  // The DEPTH tokens in the cache of a fresh sequence (not timed).
  auto start_seq = [&](KvSeq& seq) {
    R1_CHECK(seq.reserve(cache, int32_t(o.depth + std::max(o.prompt, o.gen))));
    if (o.depth == 0) return;
    SeqChunk chunk{all.subspan(0, size_t(o.depth)), &seq, false};
    model->forward(pool, {&chunk, 1}, cache, out);
  };
  for (int rep = 0; rep < o.reps; ++rep) {
    bandwidths.push_back(measure_read_bandwidth(pool, buf.get(), bw_bytes, 3));
    // Prefill and decode are separate tests, each after DEPTH tokens, as llama-bench runs its
    // ppN and tgN: decode does not start where the prompt ended.
    if (o.prompt > 0) {
      KvSeq seq;
      start_seq(seq);
      SeqChunk chunk{all.subspan(size_t(o.depth), size_t(o.prompt)), &seq, false};
      double t0 = now_s();
      model->forward(pool, {&chunk, 1}, cache, out);
      pp.push_back(double(o.prompt) / (now_s() - t0));
      seq.release(cache);
    }
    if (o.gen > 0) {
      KvSeq seq;
      start_seq(seq);
      double t0 = now_s();
      for (int64_t i = 0; i < o.gen; ++i) {
        SeqChunk chunk{all.subspan(size_t(o.depth + o.prompt + i), 1), &seq, false};
        model->forward(pool, {&chunk, 1}, cache, out);
      }
      tg.push_back(double(o.gen) / (now_s() - t0));
      seq.release(cache);
    }
  }
  bandwidths.push_back(measure_read_bandwidth(pool, buf.get(), bw_bytes, 3));
  buf.reset();
  const Stats bw = stats(bandwidths);
  const double bandwidth = bw.median;
  const double bound = bandwidth / decode_bytes;

  nlohmann::ordered_json j;
  j["model"] = path;
  j["architecture"] = info.architecture;
  j["params_total"] = info.params_total;
  j["params_active"] = info.params_active;
  j["bytes_per_token"] = info.bytes_per_token;
  j["threads"] = o.threads;
  j["isa"] = std::string(isa_name(active_isa()));
  j["read_bandwidth_gbs"] = bandwidth / 1e9;
  j["read_bandwidth_min_gbs"] = bw.min / 1e9;
  j["read_bandwidth_max_gbs"] = bw.max / 1e9;
  j["decode_bytes_per_token"] = decode_bytes;
  j["decode_bound_tps"] = bound;
  j["depth"] = o.depth;
  j["kv_type"] = std::string(dtype_name(o.kv_type));
  auto put = [&](const char* name, int64_t n, const std::vector<double>& v) {
    if (v.empty()) return;
    Stats s = stats(v);
    j[name] = {{"tokens", n}, {"median_tps", s.median}, {"min_tps", s.min}, {"max_tps", s.max}, {"reps", v.size()}};
  };
  put("prefill", o.prompt, pp);
  put("decode", o.gen, tg);
  if (o.json) {
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model      {} ({}, {:.2f}B params, {:.2f}B active)\n", path, info.architecture,
             double(info.params_total) / 1e9, double(info.params_active) / 1e9);
  fmt::print("machine    {} threads, {}, read bandwidth {:.1f} GB/s (median of {}, {:.1f} … {:.1f})\n", o.threads,
             isa_name(active_isa()), bandwidth / 1e9, bandwidths.size(), bw.min / 1e9, bw.max / 1e9);
  fmt::print("decode     {:.3f} GB of weights + {:.3f} GB of {} cache per token → bound {:.2f} tokens/s\n",
             double(info.bytes_per_token) / 1e9, (decode_bytes - double(info.bytes_per_token)) / 1e9,
             dtype_name(o.kv_type), bound);
  fmt::print("{:<12} {:>12} {:>20} {:>10}\n", "test", "t/s median", "min … max", "of bound");
  if (!pp.empty()) {
    Stats s = stats(pp);
    fmt::print("{:<12} {:>12.2f} {:>9.2f} … {:<8.2f} {:>10}\n", fmt::format("pp{}{}", o.prompt, o.depth ? fmt::format("@d{}", o.depth) : ""),
               s.median, s.min, s.max, "");
  }
  if (!tg.empty()) {
    Stats s = stats(tg);
    fmt::print("{:<12} {:>12.2f} {:>9.2f} … {:<8.2f} {:>9.1f}%\n", fmt::format("tg{}{}", o.gen, o.depth ? fmt::format("@d{}", o.depth) : ""),
               s.median, s.min, s.max, 100.0 * s.median / bound);
  }
  return 0;
}

R1_COMMAND("bench", "Measure prefill and decode speed against the memory-bandwidth bound", [](CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  add_model_options(app, o->model, /*required=*/false);
  app.add_flag("--mmap", o->mmap, "Map the weights instead of reading them into memory");
  app.add_option("-p,--prompt", o->prompt, "Prompt tokens to prefill (0: skip)")->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  app.add_option("-n,--gen", o->gen, "Tokens to decode (0: skip)")->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  app.add_option("-d,--depth", o->depth, "Tokens already in the cache before the timed runs")->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  app.add_option("-r,--reps", o->reps, "Repetitions (median reported)")->check(CLI::Range(1, 1000));
  app.add_flag("--json", o->json, "Print JSON");
  app.add_flag("!--no-warmup", o->warmup, "Time the first repetition without an untimed prompt and decode step before it");
  add_threads_option(app, o->threads);
  add_kv_type_option(app, o->kv_type);
  return [o] { return run_bench(*o); };
});

}  // namespace
}  // namespace r1::cli
