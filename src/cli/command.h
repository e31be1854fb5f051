// Subcommand registry: each cmd_*.cpp registers itself with a static R1_COMMAND object, so
// adding a command touches only its own file.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace r1::cli {

// setup adds the subcommand's options to `app` and returns the action to run when it is chosen.
using CommandSetup = std::function<std::function<int()>(CLI::App& app)>;

struct CommandEntry {
  std::string name;
  std::string help;
  CommandSetup setup;
};

std::vector<CommandEntry>& command_registry();

struct RegisterCommand {
  RegisterCommand(std::string name, std::string help, CommandSetup setup) {
    command_registry().push_back({std::move(name), std::move(help), std::move(setup)});
  }
};

}  // namespace r1::cli

#define R1_CLI_CONCAT_(a, b) a##b
#define R1_CLI_CONCAT(a, b) R1_CLI_CONCAT_(a, b)
// R1_COMMAND("name", "help", setup) — registers a subcommand at static-initialization time.
#define R1_COMMAND(name, help, setup) \
  static ::r1::cli::RegisterCommand R1_CLI_CONCAT(r1_command_, __LINE__)(name, help, setup)
