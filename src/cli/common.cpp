// Shared CLI options and the bundled-model lookup.
#include "cli/common.h"

#include "cli/command.h"

#include <unistd.h>

#include <filesystem>

#include "core/error.h"
#include "core/thread_pool.h"

namespace r1::cli {

namespace fs = std::filesystem;

void add_model_options(CLI::App& app, ModelOptions& opts, bool required) {
  auto* m = app.add_option("-m,--model", opts.model,
                           "Hugging Face model directory or .gguf file" +
                               std::string(required ? "" : " (default: the bundled tiny-r1)"));
  if (required) m->required();
  app.add_flag("--mlock", opts.mlock, "Lock the weights in memory (no eviction while running)");
  app.add_flag("--no-mmap", opts.no_mmap, "Read the weights into memory instead of mapping them");
}

void add_threads_option(CLI::App& app, int& threads) {
  threads = ThreadPool::hardware_threads();
  app.add_option("-t,--threads", threads, "Worker threads (default: all cores)")
      ->check(CLI::Range(1, 1024));
}

void add_kv_type_option(CLI::App& app, DType& type) {
  type = DType::kF32;
  app.add_option_function<std::string>(
         "--kv-type", [&type](const std::string& v) { type = v == "f16" ? DType::kF16 : DType::kF32; },
         "KV cache element type: f32 (default, exact) or f16 (half the memory and the cache reads of decode)")
      ->check(CLI::IsMember({"f32", "f16"}));
}

static fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

std::string resolve_model_path(const std::string& model) {
  if (!model.empty()) return model;
  fs::path dir = executable_dir();
  const fs::path candidates[] = {
      dir / "models" / "tiny-r1",                          // next to the binary
      dir.parent_path() / "models" / "tiny-r1",            // build/ inside the source tree
      dir.parent_path().parent_path() / "models" / "tiny-r1",
      dir.parent_path() / "share" / "r1" / "models" / "tiny-r1",  // installed under a prefix
  };
  for (const fs::path& c : candidates)
    if (fs::exists(c / "config.json")) return c.string();
  fail(ErrorKind::kNotFound,
       "no --model given and the bundled model models/tiny-r1 was not found next to the r1 "
       "binary ({}) or under its install prefix; pass --model DIR",
       dir.string());
}

}  // namespace r1::cli

namespace r1::cli {
std::vector<CommandEntry>& command_registry() {
  static std::vector<CommandEntry> registry;
  return registry;
}
}  // namespace r1::cli
