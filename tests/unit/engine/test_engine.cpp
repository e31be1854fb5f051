// The engine end to end on a small random-weight chat model: seeded generation that does not
// depend on the batch or thread count, prefix-cache reuse and preemption that do not change
// outputs, every finish reason, cancellation, and the thinking budget.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>

#include "core/error.h"
#include "engine/engine.h"
#include "test_model.h"

namespace r1 {
namespace {

struct Result {
  std::string reasoning, content;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  FinishReason finish = FinishReason::kNone;
  Usage usage;
  uint64_t seed = 0;
};

// Collects one request's events; wait() returns once it has finished.
struct Collector {
  std::mutex m;
  std::condition_variable cv;
  Result r;
  bool done = false;
  EventSink sink() {
    return [this](GenerationEvent&& e) {
      std::lock_guard<std::mutex> lock(m);
      r.reasoning += e.reasoning;
      r.content += e.content;
      for (auto& t : e.tokens) {
        r.tokens.push_back(t.id);
        r.logprobs.push_back(t.logprob);
      }
      r.seed = e.seed;
      if (e.finished) {
        r.finish = e.finish_reason;
        r.usage = e.usage;
        done = true;
        cv.notify_all();
      }
    };
  }
  Result wait() {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return done; });
    return r;
  }
};

std::shared_ptr<ModelBundle> bundle() {
  static auto b = load_bundle(testing::chat_model_dir());
  return b;
}

GenerationRequest request(const std::string& user, uint64_t seed, int64_t max_tokens) {
  const auto& b = *bundle();
  chat::ChatInputs in;
  in.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", user}}});
  in.add_generation_prompt = true;
  in.special_tokens = b.special_tokens;
  std::string prompt = b.render(in);
  GenerationRequest req;
  req.prompt = b.tokenizer->encode(prompt, false);
  req.prompt_opens_reasoning = b.prompt_opens_reasoning(prompt);
  req.sampling = b.defaults.sampling;
  req.sampling.seed = seed;
  req.sampling.logprobs = true;
  req.sampling.top_logprobs = 3;
  req.max_tokens = max_tokens;
  req.ignore_eos = true;  // random weights: run to the token limit
  return req;
}

Result run_one(Engine& engine, GenerationRequest req) {
  Collector c;
  engine.submit(std::move(req), c.sink());
  return c.wait();
}

// Submits `req`; its first event (on the scheduler thread) waits until `open` is ready, then
// cancels the request, so the request stops within a step however the test thread is scheduled.
// Every event still goes to `sink` (if any).
void submit_cancelled_at_first_event(Engine& engine, GenerationRequest req, EventSink sink,
                                     std::shared_future<void> open) {
  std::promise<std::shared_ptr<RequestHandle>> handle;
  std::shared_future<std::shared_ptr<RequestHandle>> h = handle.get_future().share();
  bool first = true;
  handle.set_value(engine.submit(std::move(req), [h, open, first, sink = std::move(sink)](GenerationEvent&& e) mutable {
    if (first) {
      first = false;
      open.wait();
      h.get()->cancel();
    }
    if (sink) sink(std::move(e));
  }));
}

// Holds the engine's scheduler inside a request's first event until release(), then cancels that
// request: whatever the test submits meanwhile is queued when the scheduler resumes, whatever the
// timing of the threads.
class Gate {
 public:
  void submit(Engine& engine) { submit_cancelled_at_first_event(engine, request("gate", 99, 200), nullptr, open_.get_future().share()); }
  void release() { open_.set_value(); }

 private:
  std::promise<void> open_;
};

TEST(Engine, BundleLoadsTemplateAndReasoningTokens) {
  auto b = bundle();
  EXPECT_TRUE(b->reasoning_model);
  EXPECT_EQ(b->think.end_think, testing::kEndThink);
  EXPECT_EQ(b->eos_ids, std::vector<int32_t>{testing::kEos});
  EXPECT_FLOAT_EQ(b->defaults.sampling.temperature, 0.6f);
  GenerationRequest req = request("hi", 1, 4);
  EXPECT_TRUE(req.prompt_opens_reasoning);
  EXPECT_EQ(req.prompt.front(), testing::kBos);
}

// The same seeded request alone, beside 7 others of different lengths, with 1 and 2 threads:
// identical tokens and identical logprobs.
TEST(Engine, SeededOutputIndependentOfBatchAndThreads) {
  const GenerationRequest target = request("What is seventeen times three?", 1234, 24);
  Result alone;
  {
    Engine engine(bundle(), {.threads = 1, .ctx_size = 256, .parallel = 8});
    alone = run_one(engine, target);
  }
  ASSERT_EQ(alone.tokens.size(), 24u);
  EXPECT_EQ(alone.finish, FinishReason::kLength);
  EXPECT_EQ(alone.seed, 1234u);
  for (int threads : {1, 2}) {
    Engine engine(bundle(), {.threads = threads, .ctx_size = 256, .parallel = 8, .max_batch_tokens = 7});
    std::vector<std::unique_ptr<Collector>> others;
    for (int i = 0; i < 7; ++i) {
      others.push_back(std::make_unique<Collector>());
      engine.submit(request(std::string(size_t(3 + 5 * i), char('a' + i)), uint64_t(i), 10 + 3 * i), others.back()->sink());
    }
    Collector mine;
    engine.submit(target, mine.sink());
    Result r = mine.wait();
    for (auto& o : others) o->wait();
    EXPECT_EQ(r.tokens, alone.tokens) << threads << " threads";
    EXPECT_EQ(r.logprobs, alone.logprobs) << threads << " threads";
    EXPECT_EQ(r.reasoning, alone.reasoning);
    EXPECT_EQ(r.content, alone.content);
  }
}

TEST(Engine, PrefixCacheReuseDoesNotChangeOutput) {
  Engine engine(bundle(), {.threads = 2, .ctx_size = 512, .parallel = 2});
  const std::string long_question(200, 'x');
  Result first = run_one(engine, request(long_question, 7, 12));
  Result second = run_one(engine, request(long_question, 7, 12));
  EXPECT_EQ(first.usage.cached_tokens, 0);
  EXPECT_GE(second.usage.cached_tokens, 16);
  EXPECT_EQ(second.usage.cached_tokens % 16, 0);
  EXPECT_EQ(first.tokens, second.tokens);
  EXPECT_EQ(first.logprobs, second.logprobs);
  Engine uncached(bundle(), {.threads = 2, .ctx_size = 512, .parallel = 2, .prefix_cache = false});
  EXPECT_EQ(run_one(uncached, request(long_question, 7, 12)).tokens, first.tokens);
}

TEST(Engine, PreemptionDoesNotChangeOutput) {
  std::vector<Result> reference;
  {
    Engine engine(bundle(), {.threads = 2, .ctx_size = 128, .parallel = 4});
    for (int i = 0; i < 4; ++i) reference.push_back(run_one(engine, request(std::string(20, char('k' + i)), uint64_t(i), 40)));
  }
  // A KV budget of 144 tokens (9 pages) cannot hold four ~60-token sequences at once: some are
  // preempted and recomputed later, which must not change a single token.
  // All four are queued before the scheduler admits any (the gate), so they run together whatever
  // the machine's load.
  Engine tight(bundle(), {.threads = 2, .ctx_size = 128, .parallel = 4, .kv_tokens = 144});
  Gate gate;
  gate.submit(tight);
  std::vector<std::unique_ptr<Collector>> cs;
  for (int i = 0; i < 4; ++i) {
    cs.push_back(std::make_unique<Collector>());
    tight.submit(request(std::string(20, char('k' + i)), uint64_t(i), 40), cs.back()->sink());
  }
  gate.release();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(cs[size_t(i)]->wait().tokens, reference[size_t(i)].tokens) << i;
  EXPECT_GT(tight.metrics().preemptions, 0u);
}

TEST(Engine, MaxTokensStopStringsAndEos) {
  Engine engine(bundle(), {.threads = 2, .ctx_size = 256});
  GenerationRequest req = request("count", 3, 30);
  Result full = run_one(engine, req);
  EXPECT_EQ(full.finish, FinishReason::kLength);
  EXPECT_EQ(full.usage.completion_tokens, 30);
  // EOS ends the request when allowed: bias it up.
  GenerationRequest eos = request("count", 3, 30);
  eos.ignore_eos = false;
  eos.sampling.logit_bias[testing::kEos] = 100;
  Result e = run_one(engine, eos);
  EXPECT_EQ(e.finish, FinishReason::kStop);
  EXPECT_EQ(e.usage.completion_tokens, 1);
  EXPECT_TRUE(e.tokens.empty());  // the EOS token itself is not output
  // A stop string drawn from the answer of an unconstrained run (content or reasoning):
  // force an immediate end of reasoning so the text is content, then stop on a piece of it.
  GenerationRequest answer = request("count", 5, 30);
  answer.max_reasoning_tokens = 1;
  Result a = run_one(engine, answer);
  ASSERT_GE(a.content.size(), 6u) << "content: '" << a.content << "'";
  const std::string stop = a.content.substr(2, 3);
  GenerationRequest stopped = answer;
  stopped.stop = {stop};
  Result s = run_one(engine, stopped);
  EXPECT_EQ(s.finish, FinishReason::kStop);
  EXPECT_EQ(s.content, a.content.substr(0, a.content.find(stop)));
}

TEST(Engine, ThinkingBudgetClosesReasoning) {
  Engine engine(bundle(), {.threads = 2, .ctx_size = 256});
  GenerationRequest req = request("think briefly", 11, 20);
  req.max_reasoning_tokens = 5;
  Result r = run_one(engine, req);
  ASSERT_GT(r.tokens.size(), 6u);
  // Five sampled reasoning tokens, then the forced </think>.
  EXPECT_EQ(r.tokens[5], testing::kEndThink);
  EXPECT_EQ(r.usage.reasoning_tokens, 6);
  EXPECT_FALSE(r.reasoning.empty());
}

TEST(Engine, CancelFreesTheRequest) {
  Engine engine(bundle(), {.threads = 2, .ctx_size = 256});
  Collector c;
  std::promise<void> now;
  now.set_value();
  submit_cancelled_at_first_event(engine, request("long", 1, 200), c.sink(), now.get_future().share());
  Result r = c.wait();
  EXPECT_EQ(r.finish, FinishReason::kCancelled);
  EXPECT_LT(r.tokens.size(), 200u);
  // Pages return to the pool (the prefix cache may keep some, which are evictable).
  for (int i = 0; i < 100 && engine.metrics().running > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(engine.metrics().running, 0u);
}

TEST(Engine, RejectsOversizedAndInvalidRequests) {
  Engine engine(bundle(), {.threads = 1, .ctx_size = 64, .parallel = 1});
  GenerationRequest big = request(std::string(100, 'q'), 1, 4);
  try {
    engine.submit(big, [](GenerationEvent&&) {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than the context of 64"), std::string::npos) << e.what();
  }
  GenerationRequest bad = request("x", 1, 4);
  bad.sampling.temperature = 3;
  EXPECT_THROW(engine.submit(bad, [](GenerationEvent&&) {}), Error);
  GenerationRequest empty = request("x", 1, 4);
  empty.prompt.clear();
  EXPECT_THROW(engine.submit(empty, [](GenerationEvent&&) {}), Error);
}

}  // namespace
}  // namespace r1
