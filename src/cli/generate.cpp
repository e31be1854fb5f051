// Shared generation plumbing of the CLI.
#include "cli/generate.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"

namespace r1::cli {

namespace fs = std::filesystem;

void GenerateFlags::add(CLI::App& app, GenerateOptions& o) {
  app_ = &app;
  add_model_options(app, o.model, /*required=*/false);
  add_threads_option(app, o.threads);
  app.add_option("--temperature", temperature_, "Sampling temperature, 0-2 (0 = greedy)");
  app.add_option("--top-p", top_p_, "Nucleus sampling: keep the smallest set of tokens reaching this probability");
  app.add_option("--top-k", top_k_, "Keep the k most likely tokens (0 = off)");
  app.add_option("--min-p", min_p_, "Drop tokens below min-p times the top probability");
  app.add_option("--seed", seed_, "Random seed (same seed + same prompt = same output)");
  app.add_option("--max-tokens", max_tokens_, "Maximum tokens to generate (reasoning included)");
  app.add_option("--stop", o.stop, "Stop string (repeatable, up to 4)");
  app.add_option("--frequency-penalty", frequency_, "Penalty per repetition of a generated token (-2 to 2)");
  app.add_option("--presence-penalty", presence_, "Penalty for any generated token seen before (-2 to 2)");
  app.add_option("--repetition-penalty", repetition_, "Multiplicative penalty over prompt and output (1 = off)");
  app.add_option("--max-reasoning-tokens", max_reasoning_, "Close the reasoning after this many tokens");
  app.add_option("--ctx-size", o.ctx_size, "Context length (default: min(model, 8192))");
  add_kv_type_option(app, o.kv_type);
}

void GenerateFlags::finalize(GenerateOptions& o) const {
  auto given = [&](const char* name) { return app_->count(name) > 0; };
  if (given("--temperature")) o.sampling.temperature = temperature_;
  if (given("--top-p")) o.sampling.top_p = top_p_;
  if (given("--top-k")) o.sampling.top_k = top_k_;
  if (given("--min-p")) o.sampling.min_p = min_p_;
  if (given("--seed")) o.sampling.seed = seed_;
  if (given("--frequency-penalty")) o.sampling.frequency_penalty = frequency_;
  if (given("--presence-penalty")) o.sampling.presence_penalty = presence_;
  if (given("--repetition-penalty")) o.sampling.repetition_penalty = repetition_;
  if (given("--max-tokens")) {
    if (max_tokens_ < 1) fail("--max-tokens must be at least 1");
    o.max_tokens = max_tokens_;
  }
  if (given("--max-reasoning-tokens")) {
    if (max_reasoning_ < 0) fail("--max-reasoning-tokens must be >= 0");
    o.max_reasoning_tokens = max_reasoning_;
  }
  if (o.stop.size() > 4) fail("at most 4 --stop strings");
}

std::shared_ptr<ModelBundle> load_with_progress(const std::string& path, LoadMode mode, bool show) {
  if (show && mode == LoadMode::kMmap && fs::is_directory(path)) {
    std::vector<fs::path> files;
    uint64_t total = 0;
    for (const auto& e : fs::directory_iterator(path))
      if (e.path().extension() == ".safetensors") {
        files.push_back(e.path());
        total += e.file_size();
      }
    uint64_t done = 0;
    std::vector<char> buf(size_t(8) << 20);
    int last = -1;
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      while (in.read(buf.data(), std::streamsize(buf.size())) || in.gcount() > 0) {
        done += uint64_t(in.gcount());
        int pct = total ? int(100 * done / total) : 100;
        if (pct != last) {
          last = pct;
          int bar = pct * 30 / 100;
          std::fprintf(stderr, "\rloading %s [%.*s%*s] %3d%%", fs::path(path).filename().c_str(), bar,
                       "==============================", 30 - bar, "", pct);
          std::fflush(stderr);
        }
      }
    }
    std::fprintf(stderr, "\r\033[K");
  }
  return load_bundle(path, mode);
}

GenerationRequest build_request(const ModelBundle& b, const GenerateOptions& o, const std::string& prompt, bool raw) {
  GenerationRequest req;
  req.prompt = b.encode_prompt(prompt, raw);
  req.prompt_opens_reasoning = !raw && b.prompt_opens_reasoning(prompt);
  req.split_reasoning = !raw;
  req.sampling = o.sampling.apply_to(b.defaults.sampling);
  req.max_tokens = o.max_tokens ? o.max_tokens : b.defaults.max_new_tokens;
  req.stop = o.stop;
  req.max_reasoning_tokens = o.max_reasoning_tokens;
  return req;
}

void AnswerPrinter::print(const GenerationEvent& e) {
  if (!e.reasoning.empty() && show_reasoning_) {
    if (!in_reasoning_ && color_) std::fputs("\033[2m", stdout);
    in_reasoning_ = true;
    printed_reasoning_ = true;
    std::fputs(e.reasoning.c_str(), stdout);
  }
  if (!e.content.empty()) {
    if (in_reasoning_) {
      if (color_) std::fputs("\033[0m", stdout);
      in_reasoning_ = false;
    }
    if (printed_reasoning_ && !printed_content_) std::fputs("\n\n", stdout);
    printed_content_ = true;
    std::fputs(e.content.c_str(), stdout);
  }
  std::fflush(stdout);
}

void AnswerPrinter::end() {
  if (in_reasoning_ && color_) std::fputs("\033[0m", stdout);
  in_reasoning_ = false;
  std::fputs("\n", stdout);
  std::fflush(stdout);
}

}  // namespace r1::cli
