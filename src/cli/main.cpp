// r1 entry point: builds the subcommands from the registry, runs the chosen one, and turns
// r1::Error into a one-line message and exit status 1.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "cli/command.h"
#include "core/cpu.h"
#include "core/error.h"
#include "core/log.h"

int main(int argc, char** argv) {
  CLI::App app{"r1 — DeepSeek-R1 inference engine and OpenAI-compatible server"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log progress to stderr");
  std::function<int()> action;
  for (auto& entry : r1::cli::command_registry()) {
    CLI::App* sub = app.add_subcommand(entry.name, entry.help);
    auto run = entry.setup(*sub);
    sub->callback([&action, run] { action = run; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (verbose) r1::set_log_level(r1::LogLevel::kInfo);
  try {
    return action ? action() : 0;
  } catch (const r1::Error& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "r1: error: out of memory\n");
    return 1;
  }
}
