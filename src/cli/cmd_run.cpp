// `r1 run`: one generation from the command line — a prompt or a messages file through the chat
// template (or --raw text), printed as it streams (reasoning dimmed on a terminal; reasoning,
// blank line, answer when piped) or as an OpenAI chat.completion object with --json.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>

#include "cli/command.h"
#include "cli/generate.h"
#include "core/error.h"
#include "core/log.h"
#include "formats/checkpoint.h"
#include "server/openai.h"

namespace r1::cli {
namespace {

struct RunOptions {
  GenerateOptions gen;
  GenerateFlags flags;
  std::string prompt, messages_file, system;
  bool raw = false, json = false;
};

int run_run(RunOptions& o) {
  o.flags.finalize(o.gen);
  if (!o.prompt.empty() && !o.messages_file.empty()) fail("give --prompt or --messages, not both");
  std::string prompt = o.prompt;
  if (prompt.empty() && o.messages_file.empty()) {
    if (isatty(STDIN_FILENO)) fail("nothing to answer: give --prompt TEXT or --messages FILE (or pipe the prompt in)");
    prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const bool tty = isatty(STDOUT_FILENO);
  auto bundle = load_with_progress(resolve_model_path(o.gen.model.model), o.gen.model.load_mode(), tty && !o.json);

  std::string text;
  if (o.raw) {
    if (!o.messages_file.empty()) fail("--raw takes --prompt text, not --messages");
    text = prompt;
  } else {
    chat::ChatInputs in;
    in.add_generation_prompt = true;
    in.special_tokens = bundle->special_tokens;
    if (!o.messages_file.empty()) {
      nlohmann::json body = {{"messages", read_json_file(o.messages_file)}};
      try {
        in.messages = server::parse_chat_request(body).inputs.messages;
      } catch (const server::ApiError& e) {
        fail("{}: {}", o.messages_file, e.what());
      }
    } else {
      if (!o.system.empty()) in.messages.push_back({{"role", "system"}, {"content", o.system}});
      in.messages.push_back({{"role", "user"}, {"content", prompt}});
    }
    text = bundle->render(in);
  }
  GenerationRequest req = build_request(*bundle, o.gen, text, o.raw);
  Engine engine(bundle, {.threads = o.gen.threads, .ctx_size = o.gen.ctx_size, .parallel = 1, .kv_type = o.gen.kv_type, .prefix_cache = false});

  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  server::ChoiceOutput choice;
  Usage usage;
  GenerationEvent last;
  AnswerPrinter printer(tty, /*show_reasoning=*/true);
  const auto t0 = std::chrono::steady_clock::now();
  engine.submit(std::move(req), [&](GenerationEvent&& e) {
    std::lock_guard<std::mutex> lock(m);
    choice.reasoning += e.reasoning;
    choice.content += e.content;
    for (auto& t : e.tokens) choice.tokens.push_back(t);
    if (!o.json) printer.print(e);
    if (e.finished) {
      choice.finish = e.finish_reason;
      usage = e.usage;
      last = std::move(e);
      done = true;
      cv.notify_all();
    }
  });
  std::unique_lock<std::mutex> lock(m);
  cv.wait(lock, [&] { return done; });
  if (o.json) {
    const int64_t created = int64_t(std::time(nullptr));
    auto obj = o.raw ? server::text_completion_json("cmpl-r1", created, bundle->name, {choice}, usage, *bundle->tokenizer, false)
                     : server::chat_completion_json("chatcmpl-r1", created, bundle->name, {choice}, usage, *bundle->tokenizer, false);
    obj["seed"] = last.seed;
    std::printf("%s\n", obj.dump(2).c_str());
  } else {
    printer.end();
  }
  if (o.gen.verbose || log_level() >= LogLevel::kInfo) {
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double decode_tps = last.decode_seconds > 0 ? double(usage.completion_tokens - 1) / last.decode_seconds : 0;
    std::fprintf(stderr, "prompt: %ld tokens in %.2f s (%.1f tokens/s) · generation: %ld tokens, %.1f tokens/s · %s · seed %llu · %.2f s total\n",
                 long(usage.prompt_tokens), last.time_to_first_token,
                 last.time_to_first_token > 0 ? double(usage.prompt_tokens) / last.time_to_first_token : 0.0,
                 long(usage.completion_tokens), decode_tps, finish_reason_name(last.finish_reason),
                 (unsigned long long)last.seed, total);
  }
  return 0;
}

R1_COMMAND("run", "Answer one prompt (chat template, streamed; --json for an OpenAI object)", [](CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  o->flags.add(app, o->gen);
  app.add_option("-p,--prompt", o->prompt, "The user message (or raw text with --raw); read from stdin if absent");
  app.add_option("--messages", o->messages_file, "A JSON file with an OpenAI messages array");
  app.add_option("--system", o->system, "A system message before the prompt");
  app.add_flag("--raw", o->raw, "Complete the text as given, without the chat template");
  app.add_flag("--json", o->json, "Print an OpenAI chat.completion (text_completion with --raw) object");
  app.add_flag("--verbose", o->gen.verbose, "Print prompt and generation speed to stderr");
  return [o] { return run_run(*o); };
});

}  // namespace
}  // namespace r1::cli
