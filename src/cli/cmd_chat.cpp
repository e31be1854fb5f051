// `r1 chat`: an interactive multi-turn conversation in the terminal. History keeps the answers
// (the reasoning is stripped, as the templates do). Commands: /reset, /system TEXT,
// /think on|off, /help. A line ending in '\' continues on the next line; a line of """ opens and
// closes a multi-line block. Ctrl-C stops the current answer, Ctrl-D exits.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>

#include "cli/command.h"
#include "cli/generate.h"
#include "core/error.h"

namespace r1::cli {
namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted.store(true); }

struct ChatOptions {
  GenerateOptions gen;
  GenerateFlags flags;
  std::string system;
  bool hide_reasoning = false;
};

// Reads one user turn; false on end of input (Ctrl-D).
bool read_turn(std::string& out, bool tty) {
  out.clear();
  bool block = false;
  for (;;) {
    if (tty) std::fputs(out.empty() && !block ? "\033[1m>>>\033[0m " : "... ", stdout);
    std::fflush(stdout);
    std::string line;
    if (!std::getline(std::cin, line)) {
      if (std::cin.eof()) return !out.empty() && (std::cout << "\n", true);
      std::cin.clear();  // interrupted by Ctrl-C at the prompt: start over
      g_interrupted.store(false);
      out.clear();
      block = false;
      if (tty) std::fputs("\n", stdout);
      continue;
    }
    if (line == "\"\"\"") {
      if (block) return true;
      block = true;
      continue;
    }
    if (block) {
      out += line + "\n";
      continue;
    }
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      out += line + "\n";
      continue;
    }
    out += line;
    return true;
  }
}

int run_chat(ChatOptions& o) {
  o.flags.finalize(o.gen);
  const bool tty = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
  auto bundle = load_with_progress(resolve_model_path(o.gen.model.model), o.gen.model.load_mode(), isatty(STDERR_FILENO));
  if (!bundle->chat_template) fail("{}: the model has no chat template, so it cannot chat", bundle->name);
  Engine engine(bundle, {.threads = o.gen.threads, .ctx_size = o.gen.ctx_size, .parallel = 1, .kv_type = o.gen.kv_type});

  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked read returns so the prompt can recover
  sigaction(SIGINT, &sa, nullptr);

  bool show_reasoning = !o.hide_reasoning;
  std::string system = o.system;
  nlohmann::ordered_json history = nlohmann::ordered_json::array();
  if (tty)
    std::printf("r1 chat with %s — /help for commands, Ctrl-C stops an answer, Ctrl-D exits\n", bundle->name.c_str());
  std::string turn;
  while (read_turn(turn, tty)) {
    if (turn.empty()) continue;
    if (turn[0] == '/') {
      if (turn == "/reset") {
        history.clear();
        std::puts("(conversation cleared)");
      } else if (turn.rfind("/system", 0) == 0) {
        system = turn.size() > 8 ? turn.substr(8) : "";
        std::printf("(system message %s)\n", system.empty() ? "removed" : "set");
      } else if (turn == "/think on" || turn == "/think off") {
        show_reasoning = turn == "/think on";
        std::printf("(reasoning %s)\n", show_reasoning ? "shown" : "hidden");
      } else if (turn == "/help") {
        std::puts("/reset  clear the conversation\n/system TEXT  set the system message\n"
                  "/think on|off  show or hide the reasoning\nend a line with \\ or wrap text in \"\"\" for several lines");
      } else {
        std::printf("unknown command %s (/help lists them)\n", turn.c_str());
      }
      continue;
    }
    chat::ChatInputs in;
    in.add_generation_prompt = true;
    in.special_tokens = bundle->special_tokens;
    if (!system.empty()) in.messages.push_back({{"role", "system"}, {"content", system}});
    for (const auto& m : history) in.messages.push_back(m);
    in.messages.push_back({{"role", "user"}, {"content", turn}});
    GenerationRequest req = build_request(*bundle, o.gen, bundle->render(in), false);

    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::string answer;
    GenerationEvent last;
    AnswerPrinter printer(isatty(STDOUT_FILENO), show_reasoning);
    g_interrupted.store(false);
    std::shared_ptr<RequestHandle> handle;
    try {
      handle = engine.submit(std::move(req), [&](GenerationEvent&& e) {
        std::lock_guard<std::mutex> lock(m);
        printer.print(e);
        answer += e.content;
        if (e.finished) {
          last = std::move(e);
          done = true;
          cv.notify_all();
        }
      });
    } catch (const Error& e) {
      std::printf("error: %s\n", e.what());
      continue;
    }
    {
      std::unique_lock<std::mutex> lock(m);
      while (!done) {
        cv.wait_for(lock, std::chrono::milliseconds(50));
        if (g_interrupted.exchange(false)) handle->cancel();
      }
    }
    printer.end();
    const Usage& u = last.usage;
    const double tps = last.decode_seconds > 0 ? double(u.completion_tokens - 1) / last.decode_seconds : 0;
    std::fprintf(stderr, "%s[%ld tokens, %.1f tokens/s%s]%s\n", isatty(STDERR_FILENO) ? "\033[2m" : "",
                 long(u.completion_tokens), tps, last.finish_reason == FinishReason::kCancelled ? ", stopped" : "",
                 isatty(STDERR_FILENO) ? "\033[0m" : "");
    history.push_back({{"role", "user"}, {"content", turn}});
    history.push_back({{"role", "assistant"}, {"content", answer}});
  }
  return 0;
}

R1_COMMAND("chat", "Chat with a model in the terminal", [](CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  o->flags.add(app, o->gen);
  app.add_option("--system", o->system, "System message");
  app.add_flag("--hide-reasoning", o->hide_reasoning, "Do not print the reasoning (/think on shows it)");
  return [o] { return run_chat(*o); };
});

}  // namespace
}  // namespace r1::cli
