// On the real DeepSeek-R1 vocabulary (129,280 ids): random walks through realistic schemas, a
// tool-call grammar and any-JSON, where every step's mask is checked against accept_token (all
// tokens on some steps, a sample plus every token with JSON punctuation on the others), and every
// walk ends, through the shortest completion, in a document the validator accepts.
#include <gtest/gtest.h>

#include <random>

#include "grammar_test_util.h"
#include "hf_vocab.h"
#include "schema_validator.h"

namespace r1::grammar::testing {
namespace {

constexpr int32_t kEos = 1;  // <｜end▁of▁sentence｜>

class GrammarVocab : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto hf = load_hf_vocab(deepseek_r1_tokenizer_path(), 129280, "<｜end▁of▁sentence｜>");
    vocab_ = std::make_shared<Vocabulary>(hf.tokens, hf.eos_ids, hf.special_ids);
    for (int32_t id = 0; id < vocab_->size(); ++id) {
      const std::string& t = vocab_->token(id);
      if (t.find_first_of("\"{}[]:,\\") != std::string::npos || vocab_->is_special(id) ||
          t.empty()) {
        punctuation_.push_back(id);
      }
    }
  }
  static void TearDownTestSuite() { vocab_.reset(); }

  // Checks the mask of the current step against accept_token for `ids`.
  static void check_mask(Matcher& m, const std::vector<uint32_t>& mask,
                         const std::vector<int32_t>& ids, const std::string& text) {
    for (int32_t id : ids) {
      bool ok = m.accept_token(id);
      if (ok) m.rollback(1);
      ASSERT_EQ(mask_has(mask, id), ok)
          << "after '" << text << "' token " << id << " '" << vocab_->token(id) << "'";
    }
  }

  // A random walk: `random_steps` uniformly random allowed tokens, then the allowed token that
  // covers the most of the shortest completion, until the end of sequence.
  static std::string walk(const std::shared_ptr<const CompiledGrammar>& g, std::mt19937& rng,
                          int random_steps, bool full_check) {
    Matcher m(g);
    std::vector<uint32_t> mask(vocab_->mask_words());
    std::vector<int32_t> sample(600);
    std::string text;
    for (int step = 0; step < 2000; ++step) {
      m.fill_mask(mask);
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < vocab_->size(); ++id) {
        if (mask_has(mask, id)) allowed.push_back(id);
      }
      EXPECT_FALSE(allowed.empty()) << "dead end after '" << text << "'";
      if (allowed.empty()) return text;
      if (full_check && step < 4) {
        std::vector<int32_t> all(vocab_->size());
        for (int32_t id = 0; id < vocab_->size(); ++id) all[id] = id;
        check_mask(m, mask, all, text);
      } else {
        for (auto& id : sample) id = static_cast<int32_t>(rng() % vocab_->size());
        check_mask(m, mask, sample, text);
        check_mask(m, mask, punctuation_, text);
        // Allowed tokens are the ones a wrong mask would let through: a sample of them too.
        for (auto& id : sample) id = allowed[rng() % allowed.size()];
        check_mask(m, mask, sample, text);
      }
      if (::testing::Test::HasFatalFailure()) return text;
      int32_t choice = -1;
      if (step < random_steps) {
        choice = allowed[rng() % allowed.size()];
      } else if (m.is_complete()) {
        choice = kEos;
      } else {
        std::string rest = m.shortest_completion();
        for (int32_t id : allowed) {
          const std::string& t = vocab_->token(id);
          if (!t.empty() && !vocab_->is_eos(id) && rest.compare(0, t.size(), t) == 0 &&
              (choice < 0 || t.size() > vocab_->token(choice).size())) {
            choice = id;
          }
        }
        EXPECT_GE(choice, 0) << "no allowed token starts the completion '" << rest << "' after '"
                             << text << "'";
        if (choice < 0) return text;
      }
      if (choice == kEos) {
        EXPECT_TRUE(m.is_complete());
        EXPECT_TRUE(m.accept_token(kEos));
        return text;
      }
      EXPECT_TRUE(m.accept_token(choice));
      text += vocab_->token(choice);
    }
    ADD_FAILURE() << "walk did not end: " << text;
    return text;
  }

  static void walks(const std::string& schema_text, int n_walks, int random_steps) {
    auto g = CompiledGrammar::compile(Grammar::from_json_schema(schema_text), vocab_);
    nlohmann::json schema = nlohmann::json::parse(schema_text);
    Validator validator(schema);
    std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>()(schema_text)));
    for (int w = 0; w < n_walks; ++w) {
      std::string text = walk(g, rng, random_steps, w == 0);
      if (::testing::Test::HasFailure()) return;
      nlohmann::json doc;
      ASSERT_NO_THROW(doc = nlohmann::json::parse(text)) << text;
      EXPECT_TRUE(validator.valid(doc)) << schema_text << "\nproduced " << text;
    }
  }

  static std::shared_ptr<const Vocabulary> vocab_;
  static std::vector<int32_t> punctuation_;
};

std::shared_ptr<const Vocabulary> GrammarVocab::vocab_;
std::vector<int32_t> GrammarVocab::punctuation_;

TEST_F(GrammarVocab, PersonSchema) {
  walks(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "minLength": 1, "maxLength": 12},
      "age": {"type": "integer", "minimum": 0, "maximum": 150},
      "email": {"type": "string", "format": "email"},
      "status": {"enum": ["active", "inactive", "pending"]},
      "address": {
        "type": "object",
        "properties": {
          "city": {"type": "string", "maxLength": 5},
          "zip": {"type": "string", "pattern": "^[0-9]{5}(-[0-9]{4})?$"}
        },
        "required": ["city", "zip"],
        "additionalProperties": false
      },
      "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "maxItems": 4},
      "score": {"type": "number", "minimum": 0, "maximum": 1}
    },
    "required": ["name", "age", "address"],
    "additionalProperties": false
  })", 12, 40);
}

TEST_F(GrammarVocab, FormatsAndAnyOf) {
  walks(R"({
    "type": "object",
    "properties": {
      "id": {"type": "string", "format": "uuid"},
      "when": {"type": "string", "format": "date-time"},
      "day": {"type": "string", "format": "date"},
      "ip": {"type": "string", "format": "ipv4"},
      "value": {"anyOf": [{"type": "string", "pattern": "^x[a-z]*$"}, {"type": "null"},
                          {"type": "integer", "exclusiveMinimum": -5, "maximum": 5}]},
      "pair": {"type": "array", "prefixItems": [{"type": "boolean"}, {"type": "number"}]}
    },
    "required": ["id", "when", "day", "ip", "value", "pair"],
    "additionalProperties": false
  })", 10, 30);
}

TEST_F(GrammarVocab, RecursiveTree) {
  walks(R"({"$defs": {"node": {"type": "object", "properties": {"name": {"type": "string"},
      "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3}},
      "required": ["name"], "additionalProperties": false}}, "$ref": "#/$defs/node"})",
        12, 30);
}

TEST_F(GrammarVocab, AdditionalPropertiesAndStrings) {
  walks(R"({"type": "object", "properties": {"k": {"type": "string", "minLength": 3}},
      "required": ["k"], "additionalProperties": {"type": "array", "items": {"type": "string",
      "maxLength": 2}}})", 12, 40);
}

TEST_F(GrammarVocab, AnyJsonValue) { walks("{}", 15, 40); }

TEST_F(GrammarVocab, AnyJsonObjectAndSpecialTokens) {
  auto g = CompiledGrammar::compile(Grammar::any_json_object(), vocab_);
  std::mt19937 rng(5);
  for (int w = 0; w < 8; ++w) {
    std::string text = walk(g, rng, 40, w == 0);
    if (HasFailure()) return;
    nlohmann::json doc;
    ASSERT_NO_THROW(doc = nlohmann::json::parse(text)) << text;
    EXPECT_TRUE(doc.is_object());
  }
  // Inside a string every plain token is allowed, no special token and no empty id.
  Matcher m(g);
  ASSERT_TRUE(m.accept_bytes("{\"a\": \"x"));
  std::vector<uint32_t> mask(vocab_->mask_words());
  m.fill_mask(mask);
  for (int32_t id = 0; id < vocab_->size(); ++id) {
    if (vocab_->is_special(id) || vocab_->token(id).empty()) {
      EXPECT_FALSE(mask_has(mask, id)) << id;
    }
  }
  EXPECT_FALSE(mask_has(mask, 128806));  // <｜tool▁calls▁begin｜>
  EXPECT_FALSE(mask_has(mask, 129279));  // past the tokenizer's ids
}

TEST_F(GrammarVocab, ToolCallGrammar) {
  GrammarBuilder b;
  auto weather = b.json_schema(nlohmann::ordered_json::parse(
      R"({"type":"object","properties":{"location":{"type":"string"},"unit":{"enum":["celsius","fahrenheit"]}},"required":["location"],"additionalProperties":false})"));
  auto search = b.json_schema(nlohmann::ordered_json::parse(
      R"({"type":"object","properties":{"query":{"type":"string","maxLength":30},"n":{"type":"integer","minimum":1,"maximum":9}},"required":["query","n"],"additionalProperties":false})"));
  auto call = [&](const char* name, GrammarBuilder::Expr args) {
    return b.seq({b.literal(std::string(name) + "\n```json\n"), args, b.literal("\n```")});
  };
  auto one = b.seq({b.token("<｜tool▁call▁begin｜>"), b.literal("function"),
                    b.token("<｜tool▁sep｜>"),
                    b.choice({call("get_weather", weather), call("web_search", search)}),
                    b.token("<｜tool▁call▁end｜>")});
  auto g = CompiledGrammar::compile(
      b.build(b.seq({b.token("<｜tool▁calls▁begin｜>"), b.repeat(one, 1, 3),
                     b.token("<｜tool▁calls▁end｜>")})),
      vocab_);
  Matcher m(g);
  std::vector<uint32_t> mask(vocab_->mask_words());
  m.fill_mask(mask);
  int allowed = 0;
  for (int32_t id = 0; id < vocab_->size(); ++id) allowed += mask_has(mask, id);
  EXPECT_EQ(allowed, 1);  // only <｜tool▁calls▁begin｜>, never its spelling in pieces
  EXPECT_TRUE(mask_has(mask, 128806));
  std::mt19937 rng(9);
  for (int w = 0; w < 6; ++w) {
    std::string text = walk(g, rng, 25, w == 0);
    if (HasFailure()) return;
    // Every call's arguments parse and match their function's schema.
    size_t pos = 0;
    int calls = 0;
    while ((pos = text.find("```json\n", pos)) != std::string::npos) {
      size_t end = text.find("\n```", pos);
      ASSERT_NE(end, std::string::npos) << text;
      nlohmann::json args = nlohmann::json::parse(text.substr(pos + 8, end - pos - 8));
      EXPECT_TRUE(args.is_object()) << text;
      EXPECT_TRUE(args.contains("location") || (args.contains("query") && args.contains("n")))
          << text;
      pos = end;
      ++calls;
    }
    EXPECT_GE(calls, 1) << text;
    EXPECT_EQ(text.rfind("<｜tool▁calls▁end｜>"), text.size() - std::string("<｜tool▁calls▁end｜>").size());
  }
}

}  // namespace
}  // namespace r1::grammar::testing
