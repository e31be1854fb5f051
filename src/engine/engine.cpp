// Engine: the scheduler loop (admit → build a ragged batch → one forward → per-sequence token
// handling) and everything a sequence does with its new token.
#include "engine/engine.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/log.h"
#include "engine/prefix_cache.h"
#include "engine/reasoning.h"
#include "engine/stop_strings.h"

namespace r1 {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<double> latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

// Length of the valid UTF-8 character starting at s[i], or 0 if none starts there.
size_t utf8_char_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return n;
}

// Tokens for forced bytes. The bytes may begin inside a character (a grammar completing a
// character whose first byte was already generated), which the tokenizer cannot encode as text:
// such bytes become single-byte tokens of the byte-level vocabulary.
std::vector<int32_t> encode_forced(const Tokenizer& tok, std::string_view bytes) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < bytes.size()) {
    size_t j = i;
    while (j < bytes.size())
      if (size_t n = utf8_char_length(bytes, j)) j += n;
      else break;
    if (j > i) {
      for (int32_t id : tok.encode(bytes.substr(i, j - i), false)) ids.push_back(id);
      i = j;
      continue;
    }
    for (int32_t id = 0; id < tok.vocab_size(); ++id) {
      const std::string& t = tok.token_bytes(id);
      if (t.size() == 1 && t[0] == bytes[i] && !tok.is_added(id)) {
        ids.push_back(id);
        break;
      }
    }
    ++i;
  }
  return ids;
}

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return "";
}

void Histogram::observe(double v) {
  if (counts.size() != bounds.size() + 1) counts.assign(bounds.size() + 1, 0);
  size_t i = size_t(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
  counts[i]++;
  sum += v;
  count++;
}

struct Engine::Sequence {
  Sequence(const ModelBundle& b, GenerationRequest r, EventSink s)
      : req(std::move(r)),
        sink(std::move(s)),
        tokens(req.prompt),
        n_prompt(int64_t(req.prompt.size())),
        sampler(req.sampling, b.model->info().vocab_size, req.prompt),
        decoder(*b.tokenizer, /*skip_special_tokens=*/true),
        parser(b.think, req.prompt_opens_reasoning, req.split_reasoning && b.reasoning_model),
        stop(req.stop) {}

  std::shared_ptr<RequestHandle> handle;
  GenerationRequest req;
  EventSink sink;
  std::vector<int32_t> tokens;  // the prompt, then every generated (or forced) token
  int64_t n_prompt;
  KvSeq kv;
  Sampler sampler;
  StreamDecoder decoder;
  ReasoningParser parser;
  StopMatcher stop;
  int64_t n_generated = 0;
  int64_t cached_tokens = -1;  // from the prefix cache at first admission
  bool budget_forced = false;
  bool done = false;
  bool preempted = false;  // back in the waiting queue; skipped by the step being built
  double t_submit = 0, t_first = 0, t_last = 0;
};

Engine::Engine(std::shared_ptr<const ModelBundle> bundle, EngineOptions options)
    : bundle_(std::move(bundle)), options_(options), pool_(options.threads) {
  const ModelInfo& info = bundle_->model->info();
  if (options_.ctx_size <= 0) options_.ctx_size = std::min<int64_t>(info.max_position_embeddings, 8192);
  if (options_.ctx_size > info.max_position_embeddings)
    fail("--ctx-size {} exceeds the model's context of {}", options_.ctx_size, info.max_position_embeddings);
  if (options_.parallel < 1) fail("--parallel must be at least 1");
  if (options_.max_batch_tokens < 1) fail("the batch token budget must be at least 1");
  // Page-granular room for `parallel` full contexts unless a smaller budget is asked for; then
  // sequences that outgrow it are preempted and recomputed later.
  if (options_.kv_tokens <= 0) options_.kv_tokens = (options_.ctx_size + 16) * options_.parallel;
  if (options_.kv_tokens < options_.ctx_size + 16)
    fail("the KV budget of {} tokens cannot hold one full context of {}", options_.kv_tokens, options_.ctx_size);
  kv_ = std::make_unique<KvCache>(bundle_->model->kv_layout(), options_.kv_tokens, 16, options_.kv_type);
  if (options_.prefix_cache) prefix_ = std::make_unique<PrefixCache>(*kv_);
  metrics_.time_to_first_token.bounds = latency_buckets();
  metrics_.time_per_token.bounds = latency_buckets();
  metrics_.kv_pages_total = kv_->n_pages();
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { shutdown(true); }

void Engine::shutdown(bool cancel_running) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    cancel_on_stop_ = cancel_running;
  }
  wake_.notify_all();
  thread_.join();
}

std::shared_ptr<RequestHandle> Engine::submit(GenerationRequest request, EventSink sink) {
  if (request.prompt.empty()) fail("the prompt is empty");
  const int64_t n = int64_t(request.prompt.size());
  if (n >= options_.ctx_size)
    fail("the prompt has {} tokens, {} more than the context of {} allows (at least one token must be left to generate)",
         n, n - options_.ctx_size + 1, options_.ctx_size);
  const int64_t vocab = bundle_->model->info().vocab_size;
  for (int32_t t : request.prompt)
    if (t < 0 || t >= vocab) fail("prompt token id {} is outside the vocabulary [0, {})", t, vocab);
  request.sampling.validate(vocab);
  auto seq = std::make_unique<Sequence>(*bundle_, std::move(request), std::move(sink));
  auto handle = std::make_shared<RequestHandle>();
  handle->seed_ = seq->sampler.seed();
  seq->handle = handle;
  seq->t_submit = now_s();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) fail(ErrorKind::kLimit, "the server is shutting down");
    if (incoming_.size() + waiting_.size() >= options_.max_queue)
      fail(ErrorKind::kLimit, "too many requests waiting ({}); try again later", options_.max_queue);
    handle->id_ = next_id_++;
    incoming_.push_back(std::move(seq));
    metrics_.waiting++;
  }
  wake_.notify_one();
  return handle;
}

EngineMetrics Engine::metrics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return metrics_;
}

void Engine::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !incoming_.empty() || !running_.empty() || !waiting_.empty(); });
      while (!incoming_.empty()) {
        waiting_.push_back(std::move(incoming_.front()));
        incoming_.pop_front();
      }
      if (stopping_) {
        if (cancel_on_stop_) {
          for (auto& s : running_) s->handle->cancel();
          for (auto& s : waiting_) s->handle->cancel();
        }
        if (running_.empty() && waiting_.empty()) break;
      }
    }
    // Cancelled requests leave first, freeing their KV within this step.
    for (auto& s : running_)
      if (s->handle->cancelled()) finish(*s, FinishReason::kCancelled);
    for (auto& s : waiting_)
      if (s->handle->cancelled()) finish(*s, FinishReason::kCancelled);
    std::erase_if(running_, [](const auto& s) { return s->done; });
    std::erase_if(waiting_, [](const auto& s) { return s->done; });
    admit();
    if (!running_.empty()) step();
    std::lock_guard<std::mutex> lock(mutex_);
    metrics_.running = running_.size();
    metrics_.waiting = waiting_.size() + incoming_.size();
    metrics_.kv_pages_used = kv_->n_pages() - kv_->free_pages();
    metrics_.prefix_cache_pages = prefix_ ? prefix_->pages() : 0;
  }
}

void Engine::release_kv(Sequence& seq) {
  if (prefix_) prefix_->insert(seq.tokens, seq.kv.pages(), seq.kv.length());
  seq.kv.release(*kv_);
}

// FIFO admission: a request runs once its whole remaining prompt has KV pages.
void Engine::admit() {
  const int ps = kv_->page_size();
  while (!waiting_.empty() && int(running_.size()) < options_.parallel) {
    Sequence& seq = *waiting_.front();
    if (seq.kv.length() == 0 && seq.kv.pages().empty() && prefix_) {
      // Reuse cached pages, leaving at least the last token to compute (its logits are needed).
      seq.kv.adopt_prefix(*kv_, prefix_->match(seq.tokens, int64_t(seq.tokens.size()) - 1));
    }
    if (seq.cached_tokens < 0) seq.cached_tokens = seq.kv.length();
    const int64_t remaining = int64_t(seq.tokens.size()) - seq.kv.length();
    const int64_t need = (seq.kv.length() + remaining + ps - 1) / ps - int64_t(seq.kv.pages().size());
    if (need > kv_->free_pages() && prefix_) prefix_->evict(need - kv_->free_pages());
    if (need > kv_->free_pages()) {
      if (!running_.empty()) break;  // wait for running sequences to free pages
      fail("KV cache too small for a prompt of {} tokens", remaining);  // cannot happen: pool ≥ ctx
    }
    R1_CHECK(seq.kv.reserve(*kv_, int32_t(remaining)));
    seq.preempted = false;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
}

void Engine::preempt(Sequence& seq) {
  release_kv(seq);
  seq.kv = KvSeq();
  seq.preempted = true;
  auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& s) { return s.get() == &seq; });
  waiting_.push_front(std::move(*it));
  running_.erase(it);
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_.preemptions++;
}

// Room for `tokens` more tokens of `seq`: free pages, else evict cached prefixes, else preempt
// the most recently admitted sequence that is not in this step's batch.
bool Engine::reserve(Sequence& seq, int32_t tokens, const std::vector<Sequence*>& batch) {
  for (;;) {
    if (seq.kv.reserve(*kv_, tokens)) return true;
    if (prefix_ && prefix_->evict(1) > 0) continue;
    Sequence* victim = nullptr;
    for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
      Sequence* s = it->get();
      if (s != &seq && std::find(batch.begin(), batch.end(), s) == batch.end()) {
        victim = s;
        break;
      }
    }
    if (!victim) return false;
    preempt(*victim);
  }
}

bool Engine::step() {
  std::vector<Sequence*> batch;
  std::vector<SeqChunk> chunks;
  int64_t budget = options_.max_batch_tokens;
  // Decoding sequences first (one token each), then prefill chunks from what is left.
  std::vector<Sequence*> order;
  for (auto& s : running_) order.push_back(s.get());
  std::stable_partition(order.begin(), order.end(),
                        [](Sequence* s) { return int64_t(s->tokens.size()) - s->kv.length() == 1; });
  for (Sequence* s : order) {
    if (s->done || s->preempted) continue;
    const int64_t pending = int64_t(s->tokens.size()) - s->kv.length();
    int64_t n = std::min(pending, std::max<int64_t>(budget, pending == 1 ? 1 : 0));
    if (n <= 0) continue;
    if (!reserve(*s, int32_t(n), batch)) {
      // Every other running sequence is already in this step's batch: this one waits instead
      // (recomputed later, with the same tokens). Alone, it cannot fit at all.
      if (running_.size() > 1) preempt(*s);
      else finish(*s, FinishReason::kLength);
      continue;
    }
    budget -= n;
    batch.push_back(s);
  }
  std::erase_if(running_, [](const auto& s) { return s->done; });
  if (batch.empty()) return false;
  for (Sequence* s : batch) {
    const int64_t pending = int64_t(s->tokens.size()) - s->kv.length();
    const int64_t n = pending == 1 ? 1 : std::min<int64_t>(pending, s->kv.capacity(*kv_) - s->kv.length());
    chunks.push_back({std::span<const int32_t>(s->tokens).subspan(size_t(s->kv.length()), size_t(n)), &s->kv, false});
  }
  const int64_t vocab = bundle_->model->info().vocab_size;
  logits_.resize(size_t(int64_t(chunks.size()) * vocab));
  bundle_->model->forward(pool_, chunks, *kv_, MatView{logits_.data(), int64_t(chunks.size()), vocab, vocab});
  for (size_t i = 0; i < batch.size(); ++i) {
    Sequence& s = *batch[i];
    if (s.kv.length() == int64_t(s.tokens.size())) on_token(s, logits_.data() + int64_t(i) * vocab);
  }
  std::erase_if(running_, [](const auto& s) { return s->done; });
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_.steps++;
  return true;
}

// The sequence's logits for its next token: sample (or take forced tokens), then turn the token
// into text on the right channel, and check every stop condition.
void Engine::on_token(Sequence& seq, float* logits) {
  const ModelBundle& b = *bundle_;
  const double t = now_s();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (seq.t_first == 0) metrics_.time_to_first_token.observe(t - seq.t_submit);
    else metrics_.time_per_token.observe(t - seq.t_last);
  }
  if (seq.t_first == 0) seq.t_first = t;
  seq.t_last = t;

  TokenConstraint* constraint = seq.req.constraint.get();
  std::span<const uint32_t> mask;
  if (constraint && constraint->active()) {
    mask_.assign(size_t((b.model->info().vocab_size + 31) / 32), 0u);
    constraint->fill_mask(mask_);
    // End-of-sequence is allowed exactly when the constrained output is complete.
    if (constraint->done())
      for (int32_t e : b.eos_ids) mask_[size_t(e / 32)] |= 1u << (e % 32);
    mask = mask_;
  }
  const SampleResult r = seq.sampler.sample(logits, mask);

  GenerationEvent ev;
  ev.seed = seq.sampler.seed();
  // One output token through detokenizer, reasoning split and stop strings; returns why the
  // sequence ends (kNone: it goes on).
  auto emit = [&](int32_t id, const SampleResult* sr) {
    seq.n_generated++;
    if (!seq.req.ignore_eos && std::find(b.eos_ids.begin(), b.eos_ids.end(), id) != b.eos_ids.end())
      return FinishReason::kStop;
    const bool was_reasoning = seq.parser.in_reasoning();
    const bool was_closed = seq.parser.reasoning_closed();
    if (constraint) constraint->accept(id);
    ReasoningParser::Piece piece = seq.parser.push(id, seq.decoder.push(id));
    if (!was_closed && seq.parser.reasoning_closed() && constraint) constraint->on_reasoning_closed();
    ev.reasoning += piece.reasoning;
    ev.content += seq.stop.push(piece.content);
    const bool want_logprobs = sr && (seq.req.sampling.logprobs || seq.req.sampling.top_logprobs > 0);
    ev.tokens.push_back({id, want_logprobs ? sr->logprob : 0.0f, want_logprobs ? sr->top : std::vector<TokenLogprob>{},
                         was_reasoning});
    seq.tokens.push_back(id);
    return seq.stop.stopped() ? FinishReason::kStop : FinishReason::kNone;
  };

  // Closes the reasoning with "</think>\n\n" so that the model answers next.
  auto close_reasoning = [&] {
    std::vector<int32_t> forced;
    if (b.think.end_think) {
      forced.push_back(*b.think.end_think);
      for (int32_t id : b.tokenizer->encode("\n\n", false)) forced.push_back(id);
    } else {
      forced = b.tokenizer->encode("</think>\n\n", false);
    }
    FinishReason why = FinishReason::kNone;
    for (int32_t id : forced) {
      seq.sampler.accept(id);
      if ((why = emit(id, nullptr)) != FinishReason::kNone) break;
    }
    return why;
  };

  FinishReason reason = FinishReason::kNone;
  const bool eos = std::find(b.eos_ids.begin(), b.eos_ids.end(), r.token) != b.eos_ids.end();
  if (eos && !seq.req.ignore_eos && constraint && !constraint->active() && !constraint->done() &&
      seq.parser.in_reasoning()) {
    // End-of-sequence inside the reasoning of a request whose answer is still owed (the
    // constraint applies after </think>): the reasoning ends there instead of the request. The
    // reasoning was sampled without a mask, so it stays what it would have been unconstrained.
    seq.budget_forced = true;
    reason = close_reasoning();
  } else {
    reason = emit(r.token, &r);
  }
  // Thinking budget.
  if (reason == FinishReason::kNone && !seq.budget_forced && seq.req.max_reasoning_tokens &&
      seq.parser.in_reasoning() && seq.parser.reasoning_tokens() >= *seq.req.max_reasoning_tokens) {
    seq.budget_forced = true;
    reason = close_reasoning();
  }
  if (reason == FinishReason::kNone && seq.req.max_tokens && seq.n_generated >= *seq.req.max_tokens)
    reason = FinishReason::kLength;
  if (reason == FinishReason::kNone && int64_t(seq.tokens.size()) >= options_.ctx_size) reason = FinishReason::kLength;
  // A constrained answer cut off by the token limit is completed by force (closing an open
  // reasoning first) so that it still parses. The finish reason stays "length", and the forced
  // tokens count as generated: completion_tokens may exceed max_tokens by that many.
  if (reason == FinishReason::kLength && constraint) {
    for (int32_t id : encode_forced(*b.tokenizer, constraint->completion())) {
      seq.sampler.accept(id);
      if (FinishReason r2 = emit(id, nullptr); r2 != FinishReason::kNone) {
        reason = r2;
        break;
      }
    }
  }
  if (!ev.reasoning.empty() || !ev.content.empty() || !ev.tokens.empty()) seq.sink(std::move(ev));
  if (reason != FinishReason::kNone) finish(seq, reason);
}

void Engine::finish(Sequence& seq, FinishReason reason, const std::string& error) {
  if (seq.done) return;
  seq.done = true;
  GenerationEvent ev;
  ev.finished = true;
  ev.finish_reason = reason;
  ev.error = error;
  ev.seed = seq.sampler.seed();
  if (reason != FinishReason::kCancelled) {
    ReasoningParser::Piece last = seq.parser.finish(seq.decoder.finish());
    ev.reasoning = last.reasoning;
    std::string content = seq.stop.push(last.content);
    ev.content = content + seq.stop.flush();
  }
  ev.usage.prompt_tokens = seq.n_prompt;
  ev.usage.completion_tokens = seq.n_generated;
  ev.usage.reasoning_tokens = seq.parser.has_reasoning() ? seq.parser.reasoning_tokens() : 0;
  ev.usage.cached_tokens = std::max<int64_t>(seq.cached_tokens, 0);
  ev.time_to_first_token = seq.t_first > 0 ? seq.t_first - seq.t_submit : 0;
  ev.decode_seconds = seq.t_first > 0 ? seq.t_last - seq.t_first : 0;
  release_kv(seq);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    metrics_.requests_finished++;
    metrics_.prompt_tokens += uint64_t(seq.n_prompt);
    metrics_.generated_tokens += uint64_t(seq.n_generated);
    metrics_.cached_prompt_tokens += uint64_t(ev.usage.cached_tokens);
  }
  seq.sink(std::move(ev));
}

}  // namespace r1
