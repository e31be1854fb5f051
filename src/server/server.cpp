// HTTP routes of the OpenAI-compatible server (cpp-httplib), SSE streaming from engine events,
// Prometheus metrics and graceful shutdown.
#include "server/server.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <random>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "server/openai.h"
#include "server/structured.h"

namespace r1::server {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

// One HTTP request's generations (n choices): engine events queue here for the HTTP thread.
struct Exchange {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::pair<int, GenerationEvent>> events;
  std::vector<std::shared_ptr<RequestHandle>> handles;
  int n = 1;
  int finished = 0;
  bool shutdown = false;  // cancelled because the server is stopping

  void cancel_all() {
    for (auto& h : handles) h->cancel();
  }
};

// The engine holds the sink until the sequence ends, so it keeps the exchange alive.
EventSink exchange_sink(std::shared_ptr<Exchange> ex, int index) {
  return [ex, index](GenerationEvent&& e) {
    std::lock_guard<std::mutex> lock(ex->m);
    if (e.finished) ex->finished++;
    ex->events.emplace_back(index, std::move(e));
    ex->cv.notify_all();
  };
}

void send_json(httplib::Response& res, int status, const ordered_json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status, e.to_json()); }

std::string random_id(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  return fmt::format("{}{:016x}", prefix, salt * 0x9e3779b97f4a7c15ull + ++counter);
}

ApiError from_error(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::kLimit: return ApiError(429, e.what(), "", "rate_limit_exceeded", "rate_limit_error");
    case ErrorKind::kNotFound: return ApiError(404, e.what(), "", "not_found");
    default: return ApiError(400, e.what());
  }
}

std::string prometheus_histogram(const char* name, const char* help, const Histogram& h) {
  std::string out = fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += i < h.counts.size() ? h.counts[i] : 0;
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, h.bounds[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, h.count, name, h.sum, name, h.count);
  return out;
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  httplib::Server http;
  std::mutex engine_mutex;
  std::shared_ptr<Engine> engine;
  std::atomic<bool> draining{false};
  std::mutex status_mutex;
  std::map<int, uint64_t> status_counts;
  std::mutex live_mutex;
  std::set<Exchange*> live;
  GrammarCache grammars;

  std::shared_ptr<Engine> current_engine() {
    std::lock_guard<std::mutex> lock(engine_mutex);
    return engine;
  }

  void routes();
  void completions(const httplib::Request& req, httplib::Response& res, bool chat);
  void stream(httplib::Response& res, std::shared_ptr<Exchange> ex, std::shared_ptr<Engine> engine,
              ParsedRequest pr, std::string id, int64_t created, std::string prompt_text,
              bool parse_tool_calls, std::shared_ptr<void> registration);
  std::string metrics_text();
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->routes();
}

Server::~Server() = default;

void Server::bind() {
  auto& o = impl_->options;
  if (o.port == 0) {
    port_ = impl_->http.bind_to_any_port(o.host);
  } else {
    port_ = impl_->http.bind_to_port(o.host, o.port) ? o.port : -1;
  }
  if (port_ < 0) fail(ErrorKind::kIo, "cannot listen on {}:{} (in use, or not an address of this machine)", o.host, o.port);
}

void Server::run() { impl_->http.listen_after_bind(); }

void Server::set_engine(std::shared_ptr<Engine> engine) {
  std::lock_guard<std::mutex> lock(impl_->engine_mutex);
  impl_->engine = std::move(engine);
}

void Server::stop(bool cancel_running) {
  impl_->draining = true;
  if (cancel_running) {
    std::lock_guard<std::mutex> lock(impl_->live_mutex);
    for (Exchange* ex : impl_->live) {
      {
        std::lock_guard<std::mutex> l(ex->m);
        ex->shutdown = true;
      }
      ex->cancel_all();
    }
  }
  // Let running exchanges drain before closing the listener and the connections.
  for (int i = 0; i < 600; ++i) {
    {
      std::lock_guard<std::mutex> lock(impl_->live_mutex);
      if (impl_->live.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  impl_->http.stop();
}

void Server::Impl::routes() {
  const int threads = options.http_threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  http.set_payload_max_length(options.max_body_bytes);
  http.set_keep_alive_max_count(1000);
  http.set_read_timeout(600, 0);
  http.set_write_timeout(600, 0);

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const bool protected_path = req.path.rfind("/v1/", 0) == 0 || req.path == "/metrics";
    if (!options.api_key.empty() && protected_path) {
      const std::string want = "Bearer " + options.api_key;
      if (req.get_header_value("Authorization") != want) {
        send_error(res, ApiError(401, req.has_header("Authorization") ? "incorrect API key provided"
                                                                       : "missing API key: send 'Authorization: Bearer <key>'",
                                 "", "invalid_api_key", "authentication_error"));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      send_error(res, ApiError(404, fmt::format("unknown route {} {}", req.method, req.path), "", "not_found"));
    } else if (res.status == 413) {
      send_error(res, ApiError(413, "request body too large", "", "request_too_large"));
    } else {
      send_error(res, ApiError(res.status, fmt::format("HTTP error {}", res.status), "", "", "server_error"));
    }
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_error("request failed: {}", what);
    send_error(res, ApiError(500, what, "", "internal_error", "server_error"));
  });
  http.set_logger([this](const httplib::Request&, const httplib::Response& res) {
    std::lock_guard<std::mutex> lock(status_mutex);
    status_counts[res.status]++;
  });

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (draining) return send_json(res, 503, {{"status", "shutting down"}});
    if (!current_engine()) return send_json(res, 503, {{"status", "loading"}});
    send_json(res, 200, {{"status", "ok"}});
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    auto engine = current_engine();
    if (!engine) return send_error(res, ApiError(503, "the model is loading", "", "model_loading", "server_error"));
    const ModelBundle& b = engine->bundle();
    send_json(res, 200, {{"object", "list"},
                         {"data", ordered_json::array({{{"id", b.name}, {"object", "model"}, {"created", 0},
                                                        {"owned_by", "r1"}, {"max_model_len", engine->ctx_size()}}})}});
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  });
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { completions(req, res, true); });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { completions(req, res, false); });
}

void Server::Impl::completions(const httplib::Request& req, httplib::Response& res, bool chat) {
  try {
    if (draining) throw ApiError(503, "the server is shutting down", "", "shutting_down", "server_error");
    auto engine = current_engine();
    if (!engine) throw ApiError(503, "the model is loading", "", "model_loading", "server_error");
    const ModelBundle& b = engine->bundle();
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::exception& e) {  // parse errors, and numbers out of range
      throw ApiError(400, fmt::format("the body is not valid JSON: {}", e.what()), "", "invalid_json");
    }
    ParsedRequest pr = chat ? parse_chat_request(body) : parse_completion_request(body);
    if (!pr.model.empty() && pr.model != b.name)
      throw ApiError(404, fmt::format("the model '{}' does not exist; this server serves '{}'", pr.model, b.name), "model",
                     "model_not_found");
    StructuredPlan plan;
    if (chat) {
      if (!pr.response_format.is_null() || pr.tools.is_array()) keep_key_order(pr, ordered_json::parse(req.body));
      plan = plan_structured(pr, b, grammars);
    }

    GenerationRequest base;
    std::string prompt_text;
    try {
      if (chat) {
        pr.inputs.special_tokens = b.special_tokens;
        prompt_text = b.render(pr.inputs);
        base.prompt = b.encode_prompt(prompt_text, false);
        base.prompt_opens_reasoning = b.prompt_opens_reasoning(prompt_text);
      } else {
        prompt_text = pr.prompt_text;
        base.prompt = b.encode_prompt(prompt_text, true);
        base.split_reasoning = false;
      }
    } catch (const Error& e) {
      throw ApiError(400, e.what(), chat ? "messages" : "prompt");
    }
    base.sampling = pr.sampling.apply_to(b.defaults.sampling);
    base.max_tokens = pr.max_tokens ? pr.max_tokens : b.defaults.max_new_tokens;
    base.stop = pr.stop;
    base.max_reasoning_tokens = pr.max_reasoning_tokens;

    auto ex = std::make_shared<Exchange>();
    ex->n = pr.n;
    {
      std::lock_guard<std::mutex> lock(live_mutex);
      live.insert(ex.get());
    }
    // Removes the exchange from `live` when the last owner (handler or stream) lets go.
    struct Unregister {
      Unregister(Impl* i, Exchange* e) : impl(i), ex(e) {}
      Unregister(const Unregister&) = delete;
      ~Unregister() {
        std::lock_guard<std::mutex> lock(impl->live_mutex);
        impl->live.erase(ex);
      }
      Impl* impl;
      Exchange* ex;
    };
    auto unregister = std::make_shared<Unregister>(this, ex.get());
    try {
      for (int i = 0; i < pr.n; ++i) {
        GenerationRequest r = base;
        if (r.sampling.seed) r.sampling.seed = *r.sampling.seed + uint64_t(i);  // choice 0 keeps the seed
        r.constraint = make_constraint(plan, b, r);
        ex->handles.push_back(engine->submit(std::move(r), exchange_sink(ex, i)));
      }
    } catch (const Error& e) {
      ex->cancel_all();
      throw from_error(e);
    }
    const std::string id = random_id(chat ? "chatcmpl-" : "cmpl-");
    const int64_t created = int64_t(std::time(nullptr));
    if (pr.stream) {
      // The exchange stays registered (for shutdown) until the stream's provider is released.
      res.set_header("Cache-Control", "no-cache");
      stream(res, ex, engine, std::move(pr), id, created, prompt_text, plan.parse_tool_calls, unregister);
      return;
    }
    std::vector<ChoiceOutput> choices(size_t(pr.n));
    Usage usage;
    bool shutdown = false;
    {
      std::unique_lock<std::mutex> lock(ex->m);
      ex->cv.wait(lock, [&] { return ex->finished == ex->n; });
      shutdown = ex->shutdown;
      for (auto& [i, e] : ex->events) {
        ChoiceOutput& c = choices[size_t(i)];
        c.reasoning += e.reasoning;
        c.content += e.content;
        for (auto& t : e.tokens) c.tokens.push_back(t);
        if (e.finished) {
          c.finish = e.finish_reason;
          if (i == 0) usage.prompt_tokens = e.usage.prompt_tokens, usage.cached_tokens = e.usage.cached_tokens;
          usage.completion_tokens += e.usage.completion_tokens;
          usage.reasoning_tokens += e.usage.reasoning_tokens;
        }
      }
    }
    if (shutdown) throw ApiError(503, "the server is shutting down; the request was cancelled", "", "shutting_down", "server_error");
    if (!chat && pr.echo)
      for (auto& c : choices) c.content = prompt_text + c.content;
    if (plan.parse_tool_calls) {
      for (auto& c : choices) {
        chat::ToolCallParser parser(random_id("call_") + "_");
        std::string content = parser.push(c.content).content;
        content += parser.finish().content;
        c.content = std::move(content);
        if (!parser.calls().empty()) c.tool_calls = tool_calls_json(parser.calls());
      }
    }
    const bool logprobs = pr.sampling.logprobs;
    send_json(res, 200, chat ? chat_completion_json(id, created, b.name, choices, usage, *b.tokenizer, logprobs)
                             : text_completion_json(id, created, b.name, choices, usage, *b.tokenizer, logprobs));
  } catch (const ApiError& e) {
    send_error(res, e);
  }
}

// Server-sent events: one chunk per engine event, then a finish chunk per choice, an optional
// usage chunk, and "data: [DONE]". A client that goes away cancels its sequences.
void Server::Impl::stream(httplib::Response& res, std::shared_ptr<Exchange> ex, std::shared_ptr<Engine> engine,
                          ParsedRequest pr, std::string id, int64_t created, std::string prompt_text,
                          bool parse_tool_calls, std::shared_ptr<void> registration) {
  struct State {
    bool started = false, done = false;
    Usage usage;
    std::vector<chat::ToolCallParser> parsers;  // per choice, when the answer may hold tool calls
  };
  auto st = std::make_shared<State>();
  if (parse_tool_calls)
    for (int i = 0; i < pr.n; ++i) st->parsers.emplace_back(random_id("call_") + "_");
  const bool chat = pr.chat;
  const std::string model = engine->bundle().name;
  auto chunk = [=](const ordered_json& choices) {
    ordered_json c = {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
                      {"model", model}, {"system_fingerprint", "r1"}, {"choices", choices}};
    if (pr.include_usage) c["usage"] = nullptr;
    return "data: " + c.dump() + "\n\n";
  };
  res.set_chunked_content_provider(
      "text/event-stream",
      [=](size_t, httplib::DataSink& sink) {
        const ModelBundle& b = engine->bundle();
        auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
        if (!st->started) {
          st->started = true;
          ordered_json first = ordered_json::array();
          for (int i = 0; i < pr.n; ++i) {
            ordered_json delta = chat ? ordered_json{{"role", "assistant"}, {"content", ""}}
                                      : ordered_json(nullptr);
            if (chat)
              first.push_back({{"index", i}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", nullptr}});
            else
              first.push_back({{"index", i}, {"text", pr.echo ? prompt_text : ""}, {"logprobs", nullptr}, {"finish_reason", nullptr}});
          }
          if (!write(chunk(first))) {
            ex->cancel_all();
            return false;
          }
        }
        std::deque<std::pair<int, GenerationEvent>> batch;
        bool all_done = false, shutdown = false;
        {
          std::unique_lock<std::mutex> lock(ex->m);
          ex->cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return !ex->events.empty(); });
          batch.swap(ex->events);
          all_done = ex->finished == ex->n;
          shutdown = ex->shutdown;
        }
        if (batch.empty() && !all_done) {
          if (!sink.is_writable()) {
            ex->cancel_all();
            return false;
          }
          return true;
        }
        for (auto& item : batch) {
          const int i = item.first;  // named, not bound: lambdas below capture it
          GenerationEvent& e = item.second;
          ordered_json choices = ordered_json::array();
          auto add = [&](const char* key, const std::string& text, bool reasoning) {
            if (text.empty()) return;
            ordered_json c = {{"index", i}};
            if (chat) c["delta"] = {{key, text}};
            else c["text"] = text;
            c["logprobs"] = nullptr;
            if (pr.sampling.logprobs && chat) c["logprobs"] = {{"content", chat_logprobs_json(e.tokens, *b.tokenizer, reasoning)}};
            c["finish_reason"] = nullptr;
            choices.push_back(c);
          };
          add("reasoning_content", e.reasoning, true);
          if (parse_tool_calls) {
            chat::ToolCallParser& parser = st->parsers[size_t(i)];
            chat::ToolCallParser::Output out = parser.push(e.content);
            if (e.finished) {
              chat::ToolCallParser::Output last = parser.finish();
              out.content += last.content;
              out.deltas.insert(out.deltas.end(), last.deltas.begin(), last.deltas.end());
            }
            add("content", out.content, false);
            if (!out.deltas.empty())
              choices.push_back({{"index", i}, {"delta", {{"tool_calls", tool_call_deltas_json(out.deltas)}}},
                                 {"logprobs", nullptr}, {"finish_reason", nullptr}});
          } else {
            add("content", e.content, false);
          }
          if (!choices.empty() && !write(chunk(choices))) {
            ex->cancel_all();
            return false;
          }
          if (e.finished) {
            if (i == 0) st->usage.prompt_tokens = e.usage.prompt_tokens, st->usage.cached_tokens = e.usage.cached_tokens;
            st->usage.completion_tokens += e.usage.completion_tokens;
            st->usage.reasoning_tokens += e.usage.reasoning_tokens;
            ChoiceOutput c;
            c.finish = e.finish_reason;
            if (parse_tool_calls && !st->parsers[size_t(i)].calls().empty())
              c.tool_calls = tool_calls_json(st->parsers[size_t(i)].calls());
            ordered_json fin = {{"index", i}};
            if (chat) fin["delta"] = ordered_json::object();
            else fin["text"] = "";
            fin["logprobs"] = nullptr;
            fin["finish_reason"] = openai_finish_reason(c);
            if (!write(chunk(ordered_json::array({fin})))) return false;
          }
        }
        if (all_done) {
          if (shutdown) {
            ApiError err(503, "the server is shutting down; the request was cancelled", "", "shutting_down", "server_error");
            write("data: " + err.to_json().dump() + "\n\n");
          }
          if (pr.include_usage) {
            ordered_json u = {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
                              {"model", model}, {"system_fingerprint", "r1"}, {"choices", ordered_json::array()},
                              {"usage", usage_json(st->usage)}};
            write("data: " + u.dump() + "\n\n");
          }
          write("data: [DONE]\n\n");
          st->done = true;
          sink.done();
        }
        return true;
      },
      [ex, st, registration](bool success) {
        if (!success || !st->done) ex->cancel_all();
      });
}

std::string Server::Impl::metrics_text() {
  std::string out;
  {
    std::lock_guard<std::mutex> lock(status_mutex);
    out += "# HELP r1_http_requests_total HTTP requests by status code.\n# TYPE r1_http_requests_total counter\n";
    for (auto& [status, n] : status_counts) out += fmt::format("r1_http_requests_total{{status=\"{}\"}} {}\n", status, n);
  }
  auto engine = current_engine();
  if (!engine) return out;
  EngineMetrics m = engine->metrics();
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, v);
  };
  auto gauge = [&](const char* name, const char* help, double v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, v);
  };
  counter("r1_requests_finished_total", "Generations finished.", m.requests_finished);
  counter("r1_prompt_tokens_total", "Prompt tokens processed.", m.prompt_tokens);
  counter("r1_generation_tokens_total", "Tokens generated.", m.generated_tokens);
  counter("r1_prefix_cache_hit_tokens_total", "Prompt tokens served from the prefix cache.", m.cached_prompt_tokens);
  counter("r1_preemptions_total", "Sequences preempted for KV space.", m.preemptions);
  gauge("r1_running_sequences", "Sequences in the running batch.", double(m.running));
  gauge("r1_queued_sequences", "Sequences waiting to be scheduled.", double(m.waiting));
  gauge("r1_kv_cache_pages_used", "KV cache pages in use.", double(m.kv_pages_used));
  gauge("r1_kv_cache_pages_total", "KV cache pages.", double(m.kv_pages_total));
  gauge("r1_kv_cache_usage_ratio", "Fraction of KV pages in use.",
        m.kv_pages_total ? double(m.kv_pages_used) / double(m.kv_pages_total) : 0.0);
  gauge("r1_prefix_cache_pages", "KV pages held by the prefix cache.", double(m.prefix_cache_pages));
  out += prometheus_histogram("r1_time_to_first_token_seconds", "Time from request to first token.", m.time_to_first_token);
  out += prometheus_histogram("r1_time_per_output_token_seconds", "Time between output tokens.", m.time_per_token);
  return out;
}

}  // namespace r1::server
