// Options shared by the subcommands that load a model or compute: --model, --threads,
// --mlock / --no-mmap, and where the bundled model lives.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace r1::cli {

struct ModelOptions {
  std::string model;  // HF directory or .gguf file; empty = the bundled model
  bool mlock = false;
  bool no_mmap = false;
  LoadMode load_mode() const { return no_mmap ? LoadMode::kRead : mlock ? LoadMode::kMlock : LoadMode::kMmap; }
};

// --model (required unless allow_default), --mlock, --no-mmap.
void add_model_options(CLI::App& app, ModelOptions& opts, bool required);
// -t/--threads (default: all cores).
void add_threads_option(CLI::App& app, int& threads);
// --kv-type f32|f16: the KV cache's element type (default f32).
void add_kv_type_option(CLI::App& app, DType& type);

// The model path to load: opts.model, or the bundled models/tiny-r1 found next to the binary
// (build tree) or under <prefix>/share/r1/models (install). Throws r1::Error if none exists.
std::string resolve_model_path(const std::string& model);

}  // namespace r1::cli
