// Structured outputs in the engine: the GrammarConstraint phases (after the reasoning, a reasoning
// opened by the first token, a trigger token), the token ban, and whole generations on the
// random-weight test model whose answers must parse and match their schema, including answers cut
// off by the token limit and reasoning that stays unconstrained.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "chat/tool_calls.h"
#include "core/error.h"
#include "engine/engine.h"
#include "engine/grammar_constraint.h"
#include "test_model.h"

namespace r1 {
namespace {

using nlohmann::ordered_json;

std::shared_ptr<ModelBundle> bundle() {
  static auto b = load_bundle(testing::chat_model_dir());
  return b;
}

bool has(const std::vector<uint32_t>& mask, int32_t id) { return (mask[size_t(id / 32)] >> (id % 32)) & 1u; }

std::vector<uint32_t> mask_of(TokenConstraint& c) {
  std::vector<uint32_t> mask(size_t((bundle()->model->info().vocab_size + 31) / 32), 0u);
  c.fill_mask(mask);
  return mask;
}

// The answer grammar the server builds: optional leading line breaks, then a value.
std::shared_ptr<const grammar::CompiledGrammar> answer_grammar(const std::string& schema) {
  grammar::GrammarBuilder b;
  auto g = b.build(b.seq({b.regex("[ \\t\\r\\n]{0,4}"), b.json_schema(ordered_json::parse(schema))}));
  return grammar::CompiledGrammar::compile(g, bundle()->grammar_vocabulary());
}

const char* kSchema = R"({"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 12},
    "age": {"type": "integer", "minimum": 0, "maximum": 150},
    "color": {"enum": ["red", "green", "blue"]},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 3}},
  "required": ["name", "age", "color", "tags"]})";

// Checks a value against kSchema by hand (independent of the grammar engine).
void expect_matches_schema(const std::string& text) {
  ordered_json v;
  ASSERT_NO_THROW(v = ordered_json::parse(text)) << text;
  ASSERT_TRUE(v.is_object()) << text;
  EXPECT_EQ(v.size(), 4u) << text;
  ASSERT_TRUE(v.contains("name") && v["name"].is_string()) << text;
  EXPECT_LE(v["name"].get<std::string>().size(), 12u * 4) << text;
  ASSERT_TRUE(v.contains("age") && v["age"].is_number_integer()) << text;
  EXPECT_GE(v["age"].get<int64_t>(), 0);
  EXPECT_LE(v["age"].get<int64_t>(), 150);
  ASSERT_TRUE(v.contains("color")) << text;
  EXPECT_TRUE(v["color"] == "red" || v["color"] == "green" || v["color"] == "blue") << text;
  ASSERT_TRUE(v.contains("tags") && v["tags"].is_array()) << text;
  EXPECT_LE(v["tags"].size(), 3u);
  for (auto& t : v["tags"]) EXPECT_TRUE(t.is_string()) << text;
}

TEST(GrammarConstraint, BundleVocabularyCoversEveryLogit) {
  auto v = bundle()->grammar_vocabulary();
  EXPECT_EQ(v->size(), bundle()->model->info().vocab_size);
  EXPECT_EQ(v.get(), bundle()->grammar_vocabulary().get()) << "built once";
  EXPECT_TRUE(v->is_special(testing::kThink));
  EXPECT_TRUE(v->is_special(testing::kToolCallsBegin));
  EXPECT_FALSE(v->is_special('{'));
  EXPECT_TRUE(v->is_eos(testing::kEos));
  EXPECT_EQ(v->token(testing::kToolCallsBegin), "<｜tool▁calls▁begin｜>");
}

TEST(GrammarConstraint, WaitsForTheReasoningToClose) {
  GrammarConstraint c(answer_grammar(kSchema), {.after_reasoning = true});
  EXPECT_FALSE(c.active());
  EXPECT_FALSE(c.done()) << "the answer is still owed";
  c.accept('x');  // reasoning tokens are not the grammar's business
  c.accept(testing::kThink);
  EXPECT_FALSE(c.active());
  const std::string owed = c.completion();
  ASSERT_EQ(owed.rfind("</think>\n\n", 0), 0u) << owed;
  expect_matches_schema(owed.substr(10));
  c.on_reasoning_closed();
  ASSERT_TRUE(c.active());
  auto mask = mask_of(c);
  EXPECT_TRUE(has(mask, '{'));
  EXPECT_TRUE(has(mask, '\n'));
  EXPECT_FALSE(has(mask, 'x'));
  EXPECT_FALSE(has(mask, testing::kThink));
  EXPECT_FALSE(has(mask, testing::kEos));
  EXPECT_FALSE(c.done());
  expect_matches_schema(c.completion());
}

TEST(GrammarConstraint, FirstTokenMayOpenAReasoning) {
  GrammarConstraint c(answer_grammar(kSchema), {.think = testing::kThink});
  ASSERT_TRUE(c.active());
  auto mask = mask_of(c);
  EXPECT_TRUE(has(mask, testing::kThink));
  EXPECT_TRUE(has(mask, '{'));
  c.accept(testing::kThink);
  EXPECT_FALSE(c.active());
  c.accept('a');
  c.on_reasoning_closed();
  EXPECT_TRUE(c.active());
  EXPECT_FALSE(has(mask_of(c), testing::kThink)) << "only as the very first token";

  GrammarConstraint direct(answer_grammar(kSchema), {.think = testing::kThink});
  direct.accept('{');
  EXPECT_TRUE(direct.active());
  EXPECT_FALSE(has(mask_of(direct), testing::kThink));
  EXPECT_TRUE(has(mask_of(direct), '"'));
}

TEST(GrammarConstraint, TriggerTokenStartsTheGrammar) {
  auto tools = chat::parse_tool_specs(ordered_json::parse(
      R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])"));
  grammar::GrammarBuilder b;
  auto g = grammar::CompiledGrammar::compile(b.build(chat::tool_calls_grammar(b, tools, chat::ToolCallFormat::kR1, false)),
                                             bundle()->grammar_vocabulary());
  GrammarConstraint reasoning(g, {.after_reasoning = true, .trigger = testing::kToolCallsBegin});
  EXPECT_TRUE(reasoning.done()) << "a reasoning followed by free text owes nothing";
  EXPECT_EQ(reasoning.completion(), "");
  GrammarConstraint c(g, {.trigger = testing::kToolCallsBegin});
  EXPECT_FALSE(c.active());
  EXPECT_EQ(c.completion(), "") << "free text owes nothing";
  for (int32_t t : {int32_t('H'), int32_t('i'), int32_t(' ')}) c.accept(t);
  EXPECT_FALSE(c.active());
  c.accept(testing::kToolCallsBegin);
  ASSERT_TRUE(c.active());
  auto mask = mask_of(c);
  EXPECT_TRUE(has(mask, testing::kToolCallBegin));
  EXPECT_EQ(std::count_if(mask.begin(), mask.end(), [](uint32_t w) { return w != 0; }), 1);
  const std::string owed = c.completion();
  EXPECT_EQ(owed.rfind("<｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n", 0), 0u) << owed;
}

TEST(GrammarConstraint, ForcedTokenOutsideTheGrammarStopsConstraining) {
  GrammarConstraint c(answer_grammar(kSchema), {});
  c.accept('x');
  EXPECT_TRUE(c.failed());
  EXPECT_FALSE(c.active());
  EXPECT_TRUE(c.done());
  EXPECT_EQ(c.completion(), "");
}

TEST(TokenBan, MasksOnlyTheBannedTokens) {
  const int64_t vocab = bundle()->model->info().vocab_size;
  TokenBan ban({testing::kToolCallsBegin, testing::kToolCallBegin}, vocab);
  auto mask = mask_of(ban);
  int64_t allowed = 0;
  for (int64_t i = 0; i < vocab; ++i) allowed += has(mask, int32_t(i));
  EXPECT_EQ(allowed, vocab - 2);
  EXPECT_FALSE(has(mask, testing::kToolCallsBegin));
  EXPECT_TRUE(has(mask, testing::kEos));
}

struct Result {
  std::string reasoning, content;
  std::vector<int32_t> tokens;
  FinishReason finish = FinishReason::kNone;
  Usage usage;
};

Result run(Engine& engine, GenerationRequest req) {
  std::mutex m;
  std::condition_variable cv;
  Result r;
  bool done = false;
  engine.submit(std::move(req), [&](GenerationEvent&& e) {
    std::lock_guard<std::mutex> lock(m);
    r.reasoning += e.reasoning;
    r.content += e.content;
    for (auto& t : e.tokens) r.tokens.push_back(t.id);
    if (e.finished) {
      r.finish = e.finish_reason;
      r.usage = e.usage;
      done = true;
      cv.notify_all();
    }
  });
  std::unique_lock<std::mutex> lock(m);
  cv.wait(lock, [&] { return done; });
  return r;
}

GenerationRequest request(uint64_t seed, int64_t max_tokens, std::optional<int64_t> max_reasoning) {
  const ModelBundle& b = *bundle();
  chat::ChatInputs in;
  in.messages = ordered_json::array({{{"role", "user"}, {"content", "Describe a person as JSON."}}});
  in.add_generation_prompt = true;
  in.special_tokens = b.special_tokens;
  const std::string prompt = b.render(in);
  GenerationRequest req;
  req.prompt = b.encode_prompt(prompt, false);
  req.prompt_opens_reasoning = b.prompt_opens_reasoning(prompt);
  req.sampling = b.defaults.sampling;
  req.sampling.temperature = 1.0f;
  req.sampling.seed = seed;
  req.max_tokens = max_tokens;
  req.max_reasoning_tokens = max_reasoning;
  return req;
}

TEST(GrammarConstraint, RandomWeightsWriteValidJsonAfterFreeReasoning) {
  Engine engine(bundle(), {.threads = 2, .ctx_size = 512, .parallel = 4});
  auto g = answer_grammar(kSchema);
  int completed_by_model = 0, reasoned = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    GenerationRequest req = request(seed, 200, 6);
    ASSERT_TRUE(req.prompt_opens_reasoning);
    const Result free = run(engine, req);
    req.constraint = std::make_shared<GrammarConstraint>(g, ConstraintStart{.after_reasoning = true});
    const Result constrained = run(engine, req);
    // The reasoning (at most 6 tokens, then </think>: forced by the budget, or sampled earlier
    // by the model itself) is the same with or without the grammar.
    const auto close = std::find(free.tokens.begin(), free.tokens.end(), testing::kEndThink);
    ASSERT_NE(close, free.tokens.end()) << "seed " << seed;
    const size_t n = size_t(close - free.tokens.begin()) + 1;
    ASSERT_LE(n, 7u) << "seed " << seed;
    ASSERT_GE(constrained.tokens.size(), n);
    EXPECT_EQ(std::vector<int32_t>(constrained.tokens.begin(), constrained.tokens.begin() + std::ptrdiff_t(n)),
              std::vector<int32_t>(free.tokens.begin(), close + 1)) << "seed " << seed;
    EXPECT_EQ(constrained.reasoning, free.reasoning);
    reasoned += !constrained.reasoning.empty();
    expect_matches_schema(constrained.content);
    if (constrained.finish == FinishReason::kStop) ++completed_by_model;
  }
  EXPECT_GE(reasoned, 3) << "too few seeds reasoned before answering; the comparison went untested";
  EXPECT_GT(completed_by_model, 0) << "the grammar let end-of-sequence through once the value was complete";
}

TEST(GrammarConstraint, EndOfSequenceInsideTheReasoningClosesIt) {
  // A model that wants to stop right away: unconstrained it ends with no answer; with a grammar
  // after the reasoning, its end-of-sequence closes the reasoning and the answer still comes.
  Engine engine(bundle(), {.threads = 2, .ctx_size = 512, .parallel = 4});
  GenerationRequest req = request(5, 100, std::nullopt);
  req.sampling.logit_bias[testing::kEos] = 100;
  const Result free = run(engine, req);
  EXPECT_EQ(free.finish, FinishReason::kStop);
  EXPECT_EQ(free.content, "");
  // A short value, so that the model (which takes end-of-sequence whenever allowed) finishes it.
  req.constraint = std::make_shared<GrammarConstraint>(answer_grammar(R"({"enum": ["red", "green"]})"),
                                                       ConstraintStart{.after_reasoning = true});
  const Result r = run(engine, req);
  EXPECT_EQ(r.finish, FinishReason::kStop) << "the model ended the request once the value was complete";
  EXPECT_EQ(r.reasoning, free.reasoning);
  ordered_json v;
  ASSERT_NO_THROW(v = ordered_json::parse(r.content)) << r.content;
  EXPECT_TRUE(v == "red" || v == "green") << r.content;
}

TEST(GrammarConstraint, AnswerCutByTheTokenLimitIsCompleted) {
  Engine engine(bundle(), {.threads = 2, .ctx_size = 512, .parallel = 4});
  auto g = answer_grammar(kSchema);
  for (int64_t max_tokens : {1, 3, 9, 14, 20}) {
    // No thinking budget: random weights never close the reasoning on their own, so the limit
    // falls inside it (small limits) or inside the value (after a budget of 2).
    for (std::optional<int64_t> budget : {std::optional<int64_t>(), std::optional<int64_t>(2)}) {
      GenerationRequest req = request(uint64_t(max_tokens), max_tokens, budget);
      req.constraint = std::make_shared<GrammarConstraint>(g, ConstraintStart{.after_reasoning = true});
      const Result r = run(engine, req);
      EXPECT_EQ(r.finish, FinishReason::kLength);
      EXPECT_GT(r.usage.completion_tokens, max_tokens) << "forced tokens count as generated";
      expect_matches_schema(r.content);
    }
  }
}

TEST(GrammarConstraint, CompletionFinishesAPartialCharacter) {
  // A string of any characters: random byte tokens often stop inside a UTF-8 sequence, which the
  // forced completion must finish with raw byte tokens before the closing quote.
  Engine engine(bundle(), {.threads = 2, .ctx_size = 512, .parallel = 4});
  auto g = answer_grammar(R"({"type": "string"})");
  const Tokenizer& tok = *bundle()->tokenizer;
  int cut_inside = 0;
  for (uint64_t seed = 1; seed <= 40 && cut_inside < 3; ++seed) {
    const int64_t limit = 12;
    GenerationRequest req = request(seed, limit, 1);
    req.sampling.temperature = 2.0f;
    req.constraint = std::make_shared<GrammarConstraint>(g, ConstraintStart{.after_reasoning = true});
    const Result r = run(engine, req);
    ordered_json v;
    ASSERT_NO_THROW(v = ordered_json::parse(r.content)) << r.content;
    EXPECT_TRUE(v.is_string());
    if (r.finish != FinishReason::kLength) continue;
    std::string sampled;  // the bytes the model chose before the limit
    for (int64_t i = 0; i < limit; ++i) sampled += tok.token_bytes(r.tokens[size_t(i)]);
    size_t back = 0;
    while (back < sampled.size() && back < 4 && (uint8_t(sampled[sampled.size() - 1 - back]) & 0xC0) == 0x80) ++back;
    if (back < sampled.size() && uint8_t(sampled[sampled.size() - 1 - back]) >= 0xC0) {
      const uint8_t lead = uint8_t(sampled[sampled.size() - 1 - back]);
      const size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      cut_inside += back + 1 < need;
    }
  }
  EXPECT_GT(cut_inside, 0) << "no generation stopped inside a character; the case went untested";
}

TEST(GrammarConstraint, TokenBanKeepsToolCallsOut) {
  Engine engine(bundle(), {.threads = 2, .ctx_size = 512, .parallel = 4});
  GenerationRequest req = request(3, 40, 2);
  // Make the banned tokens the most likely ones: they must still never appear.
  req.sampling.logit_bias[testing::kToolCallsBegin] = 100;
  req.sampling.logit_bias[testing::kToolCallBegin] = 100;
  const Result free = run(engine, req);
  EXPECT_NE(std::find(free.tokens.begin(), free.tokens.end(), testing::kToolCallsBegin), free.tokens.end());
  req.constraint = std::make_shared<TokenBan>(std::vector<int32_t>{testing::kToolCallsBegin, testing::kToolCallBegin},
                                              bundle()->model->info().vocab_size);
  const Result banned = run(engine, req);
  EXPECT_EQ(std::find(banned.tokens.begin(), banned.tokens.end(), testing::kToolCallsBegin), banned.tokens.end());
  EXPECT_EQ(std::find(banned.tokens.begin(), banned.tokens.end(), testing::kToolCallBegin), banned.tokens.end());
}

}  // namespace
}  // namespace r1
