// `r1 serve`: the OpenAI-compatible server. It listens before the model is loaded (/health
// answers 503 meanwhile) and stops gracefully on SIGTERM or SIGINT.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "cli/command.h"
#include "cli/generate.h"
#include "core/log.h"
#include "server/server.h"

namespace r1::cli {
namespace {

struct ServeOptions {
  ModelOptions model;
  int threads = 1;
  server::ServerOptions http;
  int parallel = 4;
  int64_t ctx_size = 0;
  int64_t batch_tokens = 256;
  int64_t kv_tokens = 0;
  DType kv_type = DType::kF32;
  size_t max_queue = 256;
  bool no_prefix_cache = false;
};

int run_serve(const ServeOptions& o) {
  // Signals are taken by a watcher thread (sigwait), so the handler does no unsafe work.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  server::Server srv(o.http);
  srv.bind();
  std::fprintf(stderr, "r1 serve: listening on http://%s:%d (loading the model)\n", o.http.host.c_str(), srv.bound_port());
  std::thread http([&] { srv.run(); });
  std::atomic<bool> stopped{false};
  std::thread watcher([&] {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == 0) return;
    std::fprintf(stderr, "r1 serve: %s received, shutting down\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    stopped = true;
    srv.stop(/*cancel_running=*/true);
  });

  std::shared_ptr<Engine> engine;
  try {
    auto bundle = load_bundle(resolve_model_path(o.model.model), o.model.load_mode());
    engine = std::make_shared<Engine>(bundle, EngineOptions{.threads = o.threads, .ctx_size = o.ctx_size, .parallel = o.parallel,
                                                            .max_batch_tokens = o.batch_tokens, .kv_tokens = o.kv_tokens, .kv_type = o.kv_type,
                                                            .prefix_cache = !o.no_prefix_cache, .max_queue = o.max_queue});
    srv.set_engine(engine);
    std::fprintf(stderr, "r1 serve: ready — model '%s', %d threads, %d parallel sequences, context %ld, %s KV cache\n",
                 bundle->name.c_str(), o.threads, o.parallel, long(engine->ctx_size()),
                 o.kv_type == DType::kF16 ? "f16" : "f32");
  } catch (...) {
    if (!stopped) {
      pthread_kill(watcher.native_handle(), SIGTERM);
    }
    watcher.join();
    http.join();
    throw;
  }
  watcher.join();
  http.join();
  engine->shutdown(true);
  std::fprintf(stderr, "r1 serve: stopped\n");
  return 0;
}

R1_COMMAND("serve", "Serve the model over an OpenAI-compatible HTTP API", [](CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  add_model_options(app, o->model, /*required=*/false);
  add_threads_option(app, o->threads);
  app.add_option("--host", o->http.host, "Address to bind (default 127.0.0.1: this machine only)");
  app.add_option("--port", o->http.port, "Port (0: any free port)")->check(CLI::Range(0, 65535));
  app.add_option("--api-key", o->http.api_key, "Require 'Authorization: Bearer KEY' on /v1 and /metrics");
  app.add_option("--parallel", o->parallel, "Sequences decoded together")->check(CLI::Range(1, 1024));
  app.add_option("--ctx-size", o->ctx_size, "Context length per sequence (default: min(model, 8192))");
  app.add_option("--kv-tokens", o->kv_tokens, "KV cache budget in tokens (default: ctx-size × parallel)");
  add_kv_type_option(app, o->kv_type);
  app.add_option("--batch-tokens", o->batch_tokens, "Tokens per step; longer prompts are prefilled in chunks")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  app.add_option("--max-queue", o->max_queue, "Waiting requests before 429");
  app.add_option("--max-body", o->http.max_body_bytes, "Largest request body in bytes (413 above)");
  app.add_flag("--no-prefix-cache", o->no_prefix_cache, "Do not reuse the KV of shared prompt prefixes");
  return [o] { return run_serve(*o); };
});

}  // namespace
}  // namespace r1::cli
