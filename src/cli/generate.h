// What `r1 run` and `r1 chat` share: the sampling flags of DESIGN.md's CLI contract, loading a
// model bundle with a progress bar, building a generation request, and printing a streamed answer
// (reasoning dimmed on a terminal).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "cli/common.h"
#include "engine/engine.h"

namespace r1::cli {

struct GenerateOptions {
  ModelOptions model;
  int threads = 1;
  int64_t ctx_size = 0;
  DType kv_type = DType::kF32;
  std::optional<int64_t> max_tokens;
  std::vector<std::string> stop;
  std::optional<int64_t> max_reasoning_tokens;
  SamplingOverrides sampling;
  bool verbose = false;
};

// Registers --temperature --top-p --top-k --min-p --seed --max-tokens --stop --frequency-penalty
// --presence-penalty --repetition-penalty --max-reasoning-tokens --ctx-size --kv-type, -t, --model, --mlock,
// --no-mmap. Call finalize() after parsing to turn flags that were given into overrides.
class GenerateFlags {
 public:
  void add(CLI::App& app, GenerateOptions& options);
  void finalize(GenerateOptions& options) const;

 private:
  CLI::App* app_ = nullptr;
  float temperature_ = 0, top_p_ = 0, min_p_ = 0, frequency_ = 0, presence_ = 0, repetition_ = 0;
  int32_t top_k_ = 0;
  uint64_t seed_ = 0;
  int64_t max_tokens_ = 0, max_reasoning_ = 0;
};

// Loads the bundle; on a terminal, first reads the weight files into the page cache behind a
// progress bar so the first answer does not stall on disk.
std::shared_ptr<ModelBundle> load_with_progress(const std::string& path, LoadMode mode, bool show_progress);

// A request for `prompt_text` (already rendered, or raw text) with the options' overrides.
GenerationRequest build_request(const ModelBundle& bundle, const GenerateOptions& options,
                                const std::string& prompt_text, bool raw);

// Prints streamed events: reasoning dimmed (terminal) or followed by a blank line (pipe).
class AnswerPrinter {
 public:
  AnswerPrinter(bool color, bool show_reasoning) : color_(color), show_reasoning_(show_reasoning) {}
  void print(const GenerationEvent& e);
  void end();  // newline after the answer

 private:
  bool color_, show_reasoning_;
  bool in_reasoning_ = false, printed_reasoning_ = false, printed_content_ = false;
};

}  // namespace r1::cli
