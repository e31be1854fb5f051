// The matcher against independent oracles: every string over a small alphabet up to a length is
// accepted as complete exactly when nlohmann::json parses it, the test's validator accepts it and it
// follows the documented writing rules; every accepted prefix has a completion that validates;
// structured documents (all member orders, whitespace variants) agree with the validator; and on
// small vocabularies with multi-byte tokens, fill_mask allows exactly the tokens accept_token takes.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "core/error.h"
#include "grammar_test_util.h"
#include "schema_validator.h"

namespace r1::grammar::testing {
namespace {

// nlohmann reports an error past the last byte exactly when the text is a prefix of some JSON text
// (a SAX run, so no exception is built per string).
struct PrefixSax : nlohmann::json_sax<nlohmann::json> {
  size_t error_at = 0;
  bool overflow = false;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    error_at = position;
    overflow = e.id == 406;  // a number beyond a double: JSON, just not usable
    return false;
  }
};

bool json_prefix(const std::string& s, bool* complete) {
  PrefixSax sax;
  *complete = nlohmann::json::sax_parse(s, &sax);
  if (*complete) return true;
  return sax.overflow || sax.error_at == s.size() + 1;
}

// The writing rules of the grammar that JSON itself leaves open: no whitespace before or after the
// value, runs of at most `max_ws` whitespace bytes, no negative zero, and (for bounded numbers)
// no exponent.
bool writing_rules_ok(const std::string& s, int max_ws, bool exponent = true) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front())) ||
      std::isspace(static_cast<unsigned char>(s.back()))) {
    return false;
  }
  bool in_string = false;
  int run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (!exponent && (c == 'e' || c == 'E')) return false;
    run = (c == ' ' || c == '\n' || c == '\t' || c == '\r') ? run + 1 : 0;
    if (run > max_ws) return false;
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '0') {
      size_t j = i + 2;
      if (j < s.size() && s[j] == '.') ++j;
      while (j < s.size() && s[j] == '0') ++j;
      if (j == s.size() || !std::isdigit(static_cast<unsigned char>(s[j]))) return false;
    }
  }
  return true;
}

struct ExhaustiveCase {
  const char* schema;
  std::string alphabet;
  size_t max_len;
  int max_ws;
  bool exponent = true;
};

// Enumerates every string over the alphabet up to max_len that is a JSON prefix, keeping one
// matcher in step (accept one byte, recurse, roll back) while it still accepts.
void exhaustive(const ExhaustiveCase& c) {
  GrammarOptions o;
  o.max_whitespace = c.max_ws;
  auto g = compile(Grammar::from_json_schema(c.schema, o));
  nlohmann::json schema = nlohmann::json::parse(c.schema);
  Validator validator(schema, /*exact_exclusive=*/true);
  Matcher m(g);
  size_t visited = 0, valid_docs = 0;
  std::string text;
  std::function<void(bool)> visit = [&](bool alive) {
    ++visited;
    bool complete = false;
    ASSERT_TRUE(json_prefix(text, &complete));
    bool oracle = complete && writing_rules_ok(text, c.max_ws, c.exponent) &&
                  validator.valid(nlohmann::json::parse(text));
    bool matched = alive && m.is_complete();
    valid_docs += oracle;
    ASSERT_EQ(matched, oracle) << c.schema << " text '" << text << "'";
    if (alive && !text.empty()) {
      // No dead ends: the accepted prefix completes to a valid document.
      std::string doc = text + m.shortest_completion();
      ASSERT_TRUE(validator.valid(nlohmann::json::parse(doc)) &&
                  writing_rules_ok(doc, c.max_ws, c.exponent))
          << c.schema << " prefix '" << text << "' completed as '" << doc << "'";
    }
    if (text.size() == c.max_len) return;
    for (char ch : c.alphabet) {
      text.push_back(ch);
      bool prefix_complete;
      if (json_prefix(text, &prefix_complete)) {
        bool next_alive = alive && m.accept_bytes(std::string(1, ch));
        visit(next_alive);
        if (next_alive) m.rollback(1);
      } else if (alive) {
        // Not even JSON: the matcher must refuse the byte.
        ASSERT_FALSE(m.accept_bytes(std::string(1, ch))) << c.schema << " text '" << text << "'";
      }
      text.pop_back();
    }
  };
  visit(true);
  EXPECT_GT(valid_docs, 0u) << c.schema;
  std::printf("  %s: %zu strings, %zu valid documents\n", c.schema, visited, valid_docs);
}

TEST(GrammarExhaustive, BoundedIntegerArray) {
  exhaustive({R"({"type":"array","items":{"type":"integer","minimum":-3,"maximum":12},"maxItems":3})",
              "[]-0123, ", 8, 1});
}

TEST(GrammarExhaustive, StringLengthAndEscapes) {
  exhaustive({R"({"type":"string","minLength":1,"maxLength":2})", "\"a\\u06n", 8, 0});
}

TEST(GrammarExhaustive, StringPattern) {
  exhaustive({R"({"type":"string","pattern":"^a+(b|\\n)?$"})", "\"ab\\n", 8, 0});
}

TEST(GrammarExhaustive, BoundedDecimal) {
  exhaustive({R"({"type":"number","minimum":-1.5,"exclusiveMaximum":2})", "-0125.e", 6, 0, false});
}

TEST(GrammarExhaustive, EnumsAndConst) {
  exhaustive({R"({"type":"array","items":{"enum":[1,"a",[1]]},"minItems":1,"maxItems":2})",
              "[]1\"a,", 8, 0});
  exhaustive({R"({"enum":[null,"n",{"n":[]}]})", "{}[]\"nul:", 6, 0});
}

TEST(GrammarExhaustive, AnyOfTuple) {
  exhaustive({R"({"type":"array","prefixItems":[{"anyOf":[{"type":"integer","maximum":5},{"type":"array","maxItems":1,"items":{"type":"integer","minimum":2,"maximum":3}}]}],"items":false})",
              "[]-1235,", 7, 0});
}

// Structured documents: objects over a few keys and values in every order and size, written
// compactly and with whitespace, compared with the validator plus the order rule (declared
// properties in schema order, no duplicates).
TEST(GrammarStructured, ObjectsAgreeWithValidator) {
  const char* schema_text = R"({
    "type": "object",
    "properties": {
      "id": {"type": "integer", "minimum": 1},
      "name": {"type": "string", "maxLength": 3},
      "tags": {"type": "array", "items": {"enum": ["x", "y"]}, "maxItems": 2},
      "meta": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": false}
    },
    "required": ["id", "name"],
    "additionalProperties": {"type": "number"}
  })";
  auto g = compile_schema(schema_text);
  nlohmann::json schema = nlohmann::json::parse(schema_text);
  Validator validator(schema);
  // Per key, values that fit its schema and values that don't.
  const std::vector<std::pair<std::string, std::vector<std::string>>> keys = {
      {"id", {"1", "7", "12345", "0", "-2", "1.5", "\"1\""}},
      {"name", {"\"\"", "\"abc\"", "\"\\u00e9\"", "\"abcd\"", "null"}},
      {"tags", {"[]", "[\"x\",\"y\"]", "[\"y\"]", "[\"x\",\"x\",\"y\"]", "[\"z\"]", "{}"}},
      {"meta", {"{\"ok\":true}", "{\"ok\":false}", "{}", "{\"ok\":1}", "{\"ok\":true,\"x\":1}"}},
      {"extra", {"0", "-1.25", "3e2", "\"s\"", "true"}},
      {"id2", {"1", "[]"}},
      {"na", {"2.5", "null"}}};
  const std::vector<std::string> declared = {"id", "name", "tags", "meta"};
  std::mt19937 rng(11);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    // Mostly in schema order with the required keys, sometimes shuffled or with keys dropped.
    std::vector<size_t> order;
    for (size_t k = 0; k < keys.size(); ++k) {
      if (k < 2 ? rng() % 8 != 0 : rng() % 3 == 0) order.push_back(k);
    }
    if (rng() % 4 == 0) std::shuffle(order.begin(), order.end(), rng);
    if (rng() % 10 == 0 && !order.empty()) order.push_back(order[rng() % order.size()]);
    std::vector<std::pair<std::string, std::string>> members;
    for (size_t k : order) {
      const auto& vals = keys[k].second;
      members.push_back({keys[k].first, vals[rng() % 3 == 0 ? rng() % vals.size() : 0]});
    }
    bool spaced = rng() % 2;
    std::string doc = "{";
    for (size_t k = 0; k < members.size(); ++k) {
      if (k) doc += spaced ? ", " : ",";
      doc += "\"" + members[k].first + "\":" + (spaced ? " " : "") + members[k].second;
    }
    doc += "}";
    // Oracle: valid, declared keys once each, in schema order and before the others. (Additional
    // properties may repeat a name: a grammar cannot remember arbitrary names; with duplicates,
    // nlohmann keeps the last value, which the validator checks.)
    bool ok = validator.valid(nlohmann::json::parse(doc));
    std::vector<std::string> seen;
    int last_rank = -1;
    for (auto& [key, value] : members) {
      auto it = std::find(declared.begin(), declared.end(), key);
      int rank = it == declared.end() ? 100 : static_cast<int>(it - declared.begin());
      if (rank < 100 && std::find(seen.begin(), seen.end(), key) != seen.end()) ok = false;
      if (rank == 100 && std::find(seen.begin(), seen.end(), key) != seen.end()) {
        // Every occurrence must fit the additional-properties schema, not just the last.
        for (auto& [k2, v2] : members) {
          if (k2 == key && !nlohmann::json::parse(v2).is_number()) ok = false;
        }
      }
      seen.push_back(key);
      if (rank < last_rank) ok = false;
      last_rank = std::max(last_rank, rank);
    }
    EXPECT_EQ(matches(g, doc), ok) << doc;
    accepted += ok;
  }
  EXPECT_GT(accepted, 2000);
}

// On a small vocabulary whose tokens straddle JSON structure, every step's mask must equal the set
// of tokens accept_token takes (the precomputed classification and the run-time checks agree with
// plain parsing), and random walks end in valid documents.
TEST(GrammarMask, AgreesWithAcceptOnSmallVocabulary) {
  const std::vector<std::string> extra = {
      "\",",  "\"}",   "\":",    "\": \"", "{\"",    "\"a\"",  "\\u00", "\\u0041", "1,",  "],",
      "}]",   ", \"",  "null",   "true",   "false",  "  ",     "\n  ",  "ab",     "abc", "é",
      "\xC3", "\xA9",  "12",     "0.",     ".5",     "e+",     "\"\n",  "}}",     "]]",  "[[",
      "\"x\"", "},{\"", "\":[", "\"]}",   "\\\"",   "\\n",    "a\"",   "\"\"",   "[]",  "{}"};
  auto vocab = byte_vocab(extra);
  const char* schemas[] = {
      R"({"type":"object","properties":{"a":{"type":"string","maxLength":4},"b":{"type":"array","items":{"type":"integer"},"maxItems":3},"c":{"enum":["x","ab",null]}},"required":["a"],"additionalProperties":false})",
      R"({"$defs":{"t":{"type":"object","properties":{"v":{"type":"integer","minimum":0,"maximum":99},"k":{"type":"array","items":{"$ref":"#/$defs/t"}}},"required":["v"],"additionalProperties":false}},"$ref":"#/$defs/t"})",
      R"({"type":"array","items":{"type":"string","minLength":2,"maxLength":3},"minItems":1})",
      R"({"type":"object","additionalProperties":{"type":"number","minimum":0,"maximum":1}})",
      R"({"anyOf":[{"type":"string","pattern":"^a[bc]*$"},{"type":"number"},{"type":"boolean"}]})",
      R"({})",
  };
  std::mt19937 rng(21);
  std::vector<uint32_t> mask(vocab->mask_words());
  for (const char* schema_text : schemas) {
    auto g = CompiledGrammar::compile(Grammar::from_json_schema(schema_text), vocab);
    nlohmann::json schema = nlohmann::json::parse(schema_text);
    Validator validator(schema);
    for (int walk = 0; walk < 30; ++walk) {
      Matcher m(g);
      std::string text;
      for (int step = 0; step < 200; ++step) {
        m.fill_mask(mask);
        std::vector<int32_t> allowed;
        for (int32_t id = 0; id < vocab->size(); ++id) {
          bool ok = m.accept_token(id);
          if (ok) m.rollback(1);
          ASSERT_EQ(mask_has(mask, id), ok) << schema_text << " after '" << text << "' token "
                                            << id << " '" << vocab->token(id) << "'";
          if (ok) allowed.push_back(id);
        }
        ASSERT_FALSE(allowed.empty()) << "dead end after '" << text << "'";
        int32_t id;
        if (step < 12) {
          id = allowed[rng() % allowed.size()];
        } else {
          // Steer towards the end: take the first byte of the shortest completion.
          if (m.is_complete()) break;
          std::string rest = m.shortest_completion();
          ASSERT_FALSE(rest.empty());
          id = static_cast<uint8_t>(rest[0]);
          ASSERT_TRUE(mask_has(mask, id)) << "completion byte not allowed after '" << text << "'";
        }
        if (id == 256) break;
        ASSERT_TRUE(m.accept_token(id));
        text += vocab->token(id);
      }
      ASSERT_TRUE(m.is_complete()) << schema_text << " '" << text << "'";
      ASSERT_TRUE(m.accept_token(256));
      EXPECT_TRUE(m.is_terminated());
      nlohmann::json doc;
          ASSERT_NO_THROW(doc = nlohmann::json::parse(text)) << schema_text << " text: " << text;
      EXPECT_TRUE(validator.valid(doc)) << schema_text << " produced " << text;
    }
  }
}

TEST(GrammarMatcher, RollbackResetAndTermination) {
  auto g = compile_schema(R"({"type":"array","items":{"type":"integer"}})");
  Matcher m(g);
  EXPECT_FALSE(m.is_complete());
  ASSERT_TRUE(m.accept_bytes("[1"));
  ASSERT_TRUE(m.accept_bytes(",2"));
  EXPECT_FALSE(m.accept_bytes("x"));  // rejected bytes leave the state unchanged
  ASSERT_TRUE(m.accept_bytes("]"));
  EXPECT_TRUE(m.is_complete());
  EXPECT_EQ(m.steps(), 3);
  m.rollback(1);
  EXPECT_FALSE(m.is_complete());
  ASSERT_TRUE(m.accept_bytes("3]"));
  EXPECT_TRUE(m.is_complete());
  EXPECT_FALSE(m.accept_token('4'));
  ASSERT_TRUE(m.accept_token(256));  // end of sequence
  EXPECT_TRUE(m.is_terminated());
  EXPECT_FALSE(m.accept_token(256));
  std::vector<uint32_t> mask(byte_vocab()->mask_words());
  m.fill_mask(mask);
  for (int32_t id = 0; id < 257; ++id) EXPECT_EQ(mask_has(mask, id), id == 256) << id;
  m.rollback(2);
  EXPECT_FALSE(m.is_terminated());
  EXPECT_FALSE(m.is_complete());
  m.reset();
  EXPECT_EQ(m.steps(), 0);
  EXPECT_TRUE(m.accept_bytes("[]"));
  EXPECT_FALSE(m.accept_token(-1));
  EXPECT_FALSE(m.accept_token(100000));
}

TEST(GrammarMatcher, WhitespaceIsBounded) {
  GrammarOptions o;
  o.max_whitespace = 3;
  auto g = compile(Grammar::from_json_schema(R"({"type":"array","items":{"type":"integer"}})", o));
  EXPECT_TRUE(matches(g, "[ \n\t1 ,\r\n 2]"));
  EXPECT_FALSE(prefix_ok(g, "[    1]"));
  EXPECT_FALSE(prefix_ok(g, " [1]"));
  o.max_whitespace = 0;
  g = compile(Grammar::from_json_schema(R"({"type":"array","items":{"type":"integer"}})", o));
  EXPECT_TRUE(matches(g, "[1,2]"));
  EXPECT_FALSE(prefix_ok(g, "[1, 2]"));
  o.max_whitespace = -1;
  g = compile(Grammar::from_json_schema(R"({"type":"array","items":{"type":"integer"}})", o));
  EXPECT_TRUE(matches(g, "[1," + std::string(1000, ' ') + "2]"));
}

TEST(GrammarMatcher, DeepNestingAndLongInput) {
  auto g = compile(Grammar::any_json_object());
  std::string deep = "{\"a\":";
  for (int i = 0; i < 3000; ++i) deep += "[";
  for (int i = 0; i < 3000; ++i) deep += "]";
  deep += "}";
  EXPECT_TRUE(matches(g, deep));
  std::string wide = "{\"k\":[";
  for (int i = 0; i < 20000; ++i) wide += i ? ",1" : "1";
  wide += "]}";
  EXPECT_TRUE(matches(g, wide));
  EXPECT_FALSE(matches(g, "[1]"));  // an object is required
  EXPECT_TRUE(matches(g, "{}"));
}

TEST(GrammarMatcher, AmbiguousRecursionStaysBounded) {
  // Two identical recursive rules: every "[" doubles the parser stacks until the cap keeps the
  // work bounded; the documents stay valid and complete.
  auto g = compile_schema(R"({"$defs":{
      "a":{"type":"array","items":{"anyOf":[{"$ref":"#/$defs/a"},{"$ref":"#/$defs/b"}]}},
      "b":{"type":"array","items":{"anyOf":[{"$ref":"#/$defs/a"},{"$ref":"#/$defs/b"}]}}},
      "$ref":"#/$defs/a"})");
  std::string doc = std::string(40, '[') + std::string(40, ']');
  Matcher m(g);
  ASSERT_TRUE(m.accept_bytes(std::string(40, '[')));
  EXPECT_LE(m.stacks(), 1024);
  EXPECT_GT(m.stacks(), 1);
  ASSERT_TRUE(m.accept_bytes(std::string(40, ']')));
  EXPECT_TRUE(m.is_complete());
  EXPECT_EQ(m.shortest_completion(), "");
}

TEST(GrammarMatcher, SchemaValuesThatCannotBeDumpedAreErrors) {
  nlohmann::ordered_json schema = {{"enum", {std::string("\xFF\xFE")}}};
  EXPECT_THROW(Grammar::from_json_schema_value(schema), r1::Error);
}

TEST(GrammarMatcher, StrictAndLooseDefaults) {
  const char* schema = R"({"type":"object","properties":{"a":{"type":"integer"}}})";
  auto strict = compile_schema(schema);
  EXPECT_TRUE(matches(strict, R"({"a":1})"));
  EXPECT_FALSE(matches(strict, R"({"a":1,"b":2})"));
  GrammarOptions loose;
  loose.strict = false;
  auto g = compile_schema(schema, loose);
  EXPECT_TRUE(matches(g, R"({"a":1,"b":[true,{"c":null}]})"));
  EXPECT_FALSE(matches(g, R"({"a":1,"a":2})"));  // an extra key may not repeat a declared one
  EXPECT_FALSE(matches(g, R"({"b":2,"a":1})"));  // declared properties come first
}

}  // namespace
}  // namespace r1::grammar::testing
