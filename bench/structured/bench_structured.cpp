// Structured-output overhead in the engine: decode tokens/s of one sequence with and without a
// JSON-schema grammar on a real model shape (e.g. a random-weight R1-Distill-Qwen-1.5B from
// `r1 gen-random` plus the distill tokenizer), alternating the two runs to share the machine's
// noise; also the one-time vocabulary build and schema compile. Reports medians; asserts nothing.
//   bench_structured --model DIR [-n 128] [--reps 5] [-t THREADS] [--json]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/engine.h"
#include "engine/grammar_constraint.h"
#include "grammar/grammar.h"

using namespace r1;
using Clock = std::chrono::steady_clock;

namespace {

// A typical extraction schema whose open-ended array keeps random weights writing for a while.
const char* kSchema = R"({"type": "object", "properties": {
  "title": {"type": "string"},
  "items": {"type": "array", "items": {"type": "object", "properties": {
      "name": {"type": "string"}, "value": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["name", "value", "tags"]}}},
  "required": ["title", "items"]})";

struct Run {
  int64_t tokens = 0;
  double decode_seconds = 0;
  double tps() const { return tokens > 1 && decode_seconds > 0 ? double(tokens - 1) / decode_seconds : 0; }
};

Run run(Engine& engine, GenerationRequest req) {
  std::mutex m;
  std::condition_variable cv;
  Run r;
  bool done = false;
  engine.submit(std::move(req), [&](GenerationEvent&& e) {
    if (!e.finished) return;
    std::lock_guard<std::mutex> lock(m);
    r.tokens = e.usage.completion_tokens;
    r.decode_seconds = e.decode_seconds;
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(m);
  cv.wait(lock, [&] { return done; });
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model;
  int64_t n = 128;
  int reps = 5, threads = 0;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (!std::strcmp(argv[i], "--model")) model = next();
    else if (!std::strcmp(argv[i], "-n")) n = std::atoll(next());
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(next());
    else if (!std::strcmp(argv[i], "-t")) threads = std::atoi(next());
    else if (!std::strcmp(argv[i], "--json")) json = true;
  }
  if (model.empty()) {
    fmt::print(stderr, "usage: bench_structured --model DIR [-n 128] [--reps 5] [-t THREADS] [--json]\n");
    return 2;
  }
  try {
    auto bundle = load_bundle(model, LoadMode::kRead);
    auto t0 = Clock::now();
    auto vocab = bundle->grammar_vocabulary();
    const double vocab_s = std::chrono::duration<double>(Clock::now() - t0).count();
    t0 = Clock::now();
    grammar::GrammarBuilder b;
    auto g = grammar::CompiledGrammar::compile(
        b.build(b.seq({b.regex("[ \\t\\r\\n]{0,4}"), b.json_schema(nlohmann::ordered_json::parse(kSchema))})), vocab);
    const double compile_s = std::chrono::duration<double>(Clock::now() - t0).count();

    Engine engine(bundle, {.threads = threads, .ctx_size = 1024, .parallel = 1, .prefix_cache = false});
    GenerationRequest base;
    base.prompt = bundle->encode_prompt("Extract the products mentioned in this text as JSON: apples, pears and plums.", true);
    base.split_reasoning = false;
    base.sampling = bundle->defaults.sampling;
    base.sampling.temperature = 0;  // greedy: the same path every repetition
    base.max_tokens = n;

    std::vector<double> free_tps, constrained_tps;
    std::vector<int64_t> constrained_tokens;
    run(engine, base);  // warm-up (pages in the weights)
    for (int rep = 0; rep < reps; ++rep) {
      GenerationRequest f = base;
      f.ignore_eos = true;
      free_tps.push_back(run(engine, f).tps());
      GenerationRequest c = base;
      c.constraint = std::make_shared<GrammarConstraint>(g, ConstraintStart{});
      Run r = run(engine, c);
      constrained_tps.push_back(r.tps());
      constrained_tokens.push_back(r.tokens);
    }
    const double a = median(free_tps), s = median(constrained_tps);
    if (json) {
      fmt::print("{}\n", nlohmann::json{{"model", model}, {"n", n}, {"reps", reps}, {"vocab_build_s", vocab_s},
                                        {"compile_s", compile_s}, {"free_tps", free_tps}, {"schema_tps", constrained_tps},
                                        {"schema_tokens", constrained_tokens}, {"free_tps_median", a},
                                        {"schema_tps_median", s}, {"ratio", a > 0 ? s / a : 0}}
                             .dump());
    } else {
      fmt::print("vocabulary for grammars: {:.3f} s   schema compile: {:.3f} s   (vocab {} ids)\n", vocab_s, compile_s,
                 vocab->size());
      fmt::print("decode tokens/s, median of {}:  free {:.3f}   schema {:.3f}   ratio {:.3f}\n", reps, a, s,
                 a > 0 ? s / a : 0);
      fmt::print("schema runs generated {} tokens\n", fmt::join(constrained_tokens, ", "));
    }
  } catch (const Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
