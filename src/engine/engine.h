// The generation engine: one scheduler thread runs every active sequence in one batched forward
// per step (continuous batching). New requests join between steps; long prompts are prefilled in
// chunks so running streams keep flowing; a KV page budget gives admission control and
// preemption; a prefix cache reuses the KV of shared prompt prefixes. Per-request work
// (sampling, detokenizing, reasoning split, stop strings) happens on the scheduler thread right
// after the forward; results reach the caller through its EventSink.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/model_bundle.h"
#include "engine/sampler.h"

namespace r1 {

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

// Restricts which tokens may come next (structured outputs); owned by one request.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Whether the constraint applies to the next token (e.g. only after the reasoning).
  virtual bool active() const = 0;
  // Bit i of mask word i/32 set = token i allowed. The mask arrives all-zero.
  virtual void fill_mask(std::span<uint32_t> mask) = 0;
  // Every generated or forced token except end-of-sequence, active or not (a constraint may
  // start at a token it watches for).
  virtual void accept(int32_t token) = 0;
  // The constrained output is complete: end-of-sequence is allowed.
  virtual bool done() const = 0;
  // Told when the reasoning closes (constraints that start after </think>).
  virtual void on_reasoning_closed() {}
  // Text that completes the constrained output now (empty when nothing is owed). A request that
  // reaches its token limit first gets these tokens forced, so that its answer still parses.
  virtual std::string completion() const { return {}; }
};

struct GenerationRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;                 // complete and validated (defaults applied)
  std::optional<int64_t> max_tokens;       // generated tokens (reasoning included)
  std::vector<std::string> stop;           // up to 4, matched on the answer text
  std::optional<int64_t> max_reasoning_tokens;
  bool split_reasoning = true;
  bool prompt_opens_reasoning = false;     // the prompt ends inside "<think>"
  bool ignore_eos = false;
  std::shared_ptr<TokenConstraint> constraint;
};

struct TokenOutput {
  int32_t id;
  float logprob;
  std::vector<TokenLogprob> top;
  bool reasoning;  // produced inside the reasoning
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t reasoning_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens whose KV came from the prefix cache
};

struct GenerationEvent {
  std::string reasoning;  // text added to the reasoning since the last event
  std::string content;    // text added to the answer since the last event
  std::vector<TokenOutput> tokens;
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  std::string error;
  Usage usage;
  uint64_t seed = 0;
  double time_to_first_token = 0;  // seconds, set on the finishing event
  double decode_seconds = 0;       // from the first to the last token
};

// Called on the scheduler thread; must return quickly and must not call into the engine.
using EventSink = std::function<void(GenerationEvent&&)>;

class RequestHandle {
 public:
  // Asks the scheduler to stop the request; its KV is freed within one step.
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  uint64_t id() const { return id_; }
  uint64_t seed() const { return seed_; }

 private:
  friend class Engine;
  std::atomic<bool> cancelled_{false};
  uint64_t id_ = 0;
  uint64_t seed_ = 0;
};

struct EngineOptions {
  int threads = 0;                // 0: all cores
  int64_t ctx_size = 0;           // max tokens per sequence; 0: min(model context, 8192)
  int parallel = 4;               // sequences decoded together
  int64_t max_batch_tokens = 256; // tokens per step (prefill chunking)
  int64_t kv_tokens = 0;          // KV budget in tokens; 0: ctx_size × parallel (never preempts)
  DType kv_type = DType::kF32;    // KV cache elements: kF32 or kF16
  bool prefix_cache = true;
  size_t max_queue = 256;         // waiting requests before submit() refuses
};

// Histogram with fixed bucket bounds (seconds), as Prometheus exposes them.
struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // per bucket, plus one for +Inf
  double sum = 0;
  uint64_t count = 0;
  void observe(double v);
};

struct EngineMetrics {
  uint64_t requests_finished = 0, prompt_tokens = 0, generated_tokens = 0, cached_prompt_tokens = 0;
  uint64_t running = 0, waiting = 0, preemptions = 0, steps = 0;
  int64_t kv_pages_total = 0, kv_pages_used = 0, prefix_cache_pages = 0;
  Histogram time_to_first_token, time_per_token;
};

class Engine {
 public:
  Engine(std::shared_ptr<const ModelBundle> bundle, EngineOptions options);
  ~Engine();

  // Queues a request. Throws r1::Error: kLimit when the queue is full, kInvalidInput when the
  // prompt is empty or longer than the context (saying by how much).
  std::shared_ptr<RequestHandle> submit(GenerationRequest request, EventSink sink);

  // Stops taking requests; cancels running ones (or lets them finish) and joins the scheduler.
  void shutdown(bool cancel_running);

  EngineMetrics metrics() const;
  const ModelBundle& bundle() const { return *bundle_; }
  int64_t ctx_size() const { return options_.ctx_size; }

 private:
  struct Sequence;
  void loop();
  void admit();
  bool step();
  bool reserve(Sequence& seq, int32_t tokens, const std::vector<Sequence*>& batch);
  void preempt(Sequence& seq);
  void on_token(Sequence& seq, float* logits);
  void finish(Sequence& seq, FinishReason reason, const std::string& error = {});
  void release_kv(Sequence& seq);

  std::shared_ptr<const ModelBundle> bundle_;
  EngineOptions options_;
  ThreadPool pool_;
  std::unique_ptr<KvCache> kv_;
  std::unique_ptr<class PrefixCache> prefix_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Sequence>> incoming_;  // submitted, not yet seen by the scheduler
  bool stopping_ = false;
  bool cancel_on_stop_ = false;
  uint64_t next_id_ = 1;
  EngineMetrics metrics_;  // guarded by mutex_

  // Scheduler-thread state.
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;
  FloatBuffer logits_;
  std::vector<uint32_t> mask_;
  std::thread thread_;
};

}  // namespace r1
