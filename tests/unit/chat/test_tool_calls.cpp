// Tool calls: the streaming parser (both DeepSeek syntaxes, every split of the text, malformed
// blocks), the tool-call grammar (random walks parse back into valid calls), the template probe and
// the built-in tool prompt.
#include "chat/tool_calls.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"

namespace r1::chat {
namespace {

using nlohmann::ordered_json;

const std::string B = std::string(kToolCallsBegin), E = std::string(kToolCallsEnd), CB = std::string(kToolCallBegin),
                  CE = std::string(kToolCallEnd), SEP = std::string(kToolSep);

std::string r1_call(const std::string& name, const std::string& args) {
  return CB + "function" + SEP + name + "\n```json\n" + args + "\n```" + CE;
}
std::string v31_call(const std::string& name, const std::string& args) { return CB + name + SEP + args + CE; }

// Everything a parser produced, assembled the way a streaming client assembles it.
struct Parsed {
  std::string content;
  std::vector<ToolCall> calls;         // from calls()
  std::vector<ToolCall> from_deltas;   // rebuilt from the streamed deltas
};

Parsed parse_pieces(const std::vector<std::string>& pieces) {
  ToolCallParser p("id_");
  Parsed out;
  auto take = [&](const ToolCallParser::Output& o) {
    out.content += o.content;
    for (const ToolCallDelta& d : o.deltas) {
      if (d.first) {
        EXPECT_EQ(d.index, int(out.from_deltas.size())) << "calls are announced in order, once";
        EXPECT_TRUE(d.arguments.empty());
        out.from_deltas.push_back({d.id, d.name, "", false});
      } else {
        EXPECT_TRUE(d.id.empty() && d.name.empty());
        EXPECT_EQ(d.index, int(out.from_deltas.size()) - 1) << "arguments belong to the latest call";
        out.from_deltas.back().arguments += d.arguments;
      }
    }
  };
  for (const std::string& piece : pieces) take(p.push(piece));
  take(p.finish());
  out.calls = p.calls();
  return out;
}

Parsed parse(const std::string& text) { return parse_pieces({text}); }

void expect_same(const Parsed& a, const Parsed& b, const std::string& what) {
  EXPECT_EQ(a.content, b.content) << what;
  ASSERT_EQ(a.calls.size(), b.calls.size()) << what;
  for (size_t i = 0; i < a.calls.size(); ++i) {
    EXPECT_EQ(a.calls[i].name, b.calls[i].name) << what;
    EXPECT_EQ(a.calls[i].arguments, b.calls[i].arguments) << what;
    EXPECT_EQ(a.calls[i].complete, b.calls[i].complete) << what;
  }
  ASSERT_EQ(b.from_deltas.size(), b.calls.size()) << what;
  for (size_t i = 0; i < b.calls.size(); ++i) {
    EXPECT_EQ(b.from_deltas[i].name, b.calls[i].name) << what;
    EXPECT_EQ(b.from_deltas[i].id, b.calls[i].id) << what;
    EXPECT_EQ(b.from_deltas[i].arguments, b.calls[i].arguments) << what;
  }
}

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

// Parses `text` whole, then cut at every byte, then in random pieces: always the same result,
// and streamed text never splits a UTF-8 character.
Parsed check_splits(const std::string& text) {
  const Parsed whole = parse(text);
  for (size_t cut = 0; cut <= text.size(); ++cut)
    expect_same(whole, parse_pieces({text.substr(0, cut), text.substr(cut)}), "cut at " + std::to_string(cut));
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size();) {
      size_t n = std::min(text.size() - i, size_t(rng() % 6));
      pieces.push_back(text.substr(i, n));
      i += n;
    }
    expect_same(whole, parse_pieces(pieces), "random pieces");
  }
  // Streamed pieces cut at character boundaries come out as whole characters.
  ToolCallParser p;
  for (size_t i = 0; i < text.size(); ++i) {
    auto o = p.push(text.substr(i, 1));
    EXPECT_TRUE(valid_utf8(o.content)) << "content piece at " << i;
    for (auto& d : o.deltas) EXPECT_TRUE(valid_utf8(d.arguments)) << "arguments piece at " << i;
  }
  return whole;
}

TEST(ToolCallParser, PlainTextPassesThrough) {
  Parsed p = check_splits("Hello <｜tool▁ nothing here, not even <｜tool▁call half a marker. 你好");
  EXPECT_EQ(p.content, "Hello <｜tool▁ nothing here, not even <｜tool▁call half a marker. 你好");
  EXPECT_TRUE(p.calls.empty());
}

TEST(ToolCallParser, R1SingleCall) {
  const std::string text = B + r1_call("get_weather", R"({"city": "Paris", "unit": "c"})") + E;
  Parsed p = check_splits(text);
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].id, "id_0");
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, R"({"city": "Paris", "unit": "c"})");
  EXPECT_TRUE(p.calls[0].complete);
}

TEST(ToolCallParser, R1ContentThenSeveralCalls) {
  // R1's template joins the calls of a turn with "\n"; arguments may span lines and hold
  // backticks and whitespace at their end of a string.
  const std::string args2 = "{\n  \"q\": \"a ``` b  \",\n  \"n\": [1, 2]\n}";
  const std::string text = "Let me look that up.\n\n" + B + r1_call("search", R"({"q":"x"})") + "\n" +
                           r1_call("lookup_2", args2) + E;
  Parsed p = check_splits(text);
  EXPECT_EQ(p.content, "Let me look that up.\n\n");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "search");
  EXPECT_EQ(p.calls[0].arguments, R"({"q":"x"})");
  EXPECT_EQ(p.calls[1].id, "id_1");
  EXPECT_EQ(p.calls[1].name, "lookup_2");
  EXPECT_EQ(p.calls[1].arguments, args2);
}

TEST(ToolCallParser, V31Calls) {
  const std::string text = B + v31_call("get_time", R"({"tz":"UTC"})") + v31_call("function", R"({"a":1})") + E;
  Parsed p = check_splits(text);
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_time");
  EXPECT_EQ(p.calls[0].arguments, R"({"tz":"UTC"})");
  // A V3.1 function named "function" is told from R1's call type by what follows the separator.
  EXPECT_EQ(p.calls[1].name, "function");
  EXPECT_EQ(p.calls[1].arguments, R"({"a":1})");
}

TEST(ToolCallParser, UnfencedR1AndTextAfterTheBlock) {
  const std::string text = B + CB + "function" + SEP + "f\n{\"x\": \"é\"}" + CE + E + " done";
  Parsed p = check_splits(text);
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, "{\"x\": \"é\"}");
  EXPECT_EQ(p.content, " done");
}

TEST(ToolCallParser, CallWithoutBlockMarkerAndMissingBlockEnd) {
  Parsed p = check_splits("ok " + r1_call("f", "{}") + "\n");
  EXPECT_EQ(p.content, "ok ");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, "{}");
}

TEST(ToolCallParser, CutOffInsideArguments) {
  Parsed p = check_splits(B + CB + "function" + SEP + "f\n```json\n{\"a\": \"unfinished");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_FALSE(p.calls[0].complete);
  EXPECT_EQ(p.calls[0].arguments, "{\"a\": \"unfinished");
  EXPECT_EQ(p.content, "");
}

TEST(ToolCallParser, MalformedBlocksBecomeText) {
  const std::vector<std::string> texts = {
      B + "I changed my mind",                              // text where a call must start
      B + CB + "function\nget" + SEP + "x\n{}" + CE + E,     // newline inside the header
      B + CB + std::string(400, 'a') + SEP + "{}" + CE,      // overlong header
      B + CB + "function" + SEP + "bad<｜name\n{}" + CE,     // marker inside the name
      B + CB + "no separator at all" + CE + E,               // no separator before another marker
      B,                                                     // cut off right after the marker
      B + CB + "function" + SEP + "f",                       // cut off inside the name
  };
  for (const std::string& t : texts) {
    Parsed p = check_splits(t);
    EXPECT_TRUE(p.calls.empty()) << t;
    EXPECT_EQ(p.content, t) << "a malformed block is given back as it was";
  }
}

TEST(ToolCallParser, MalformedAfterGoodCallsKeepsTheCalls) {
  const std::string tail = "and then some words";
  Parsed p = check_splits(B + r1_call("f", "{}") + tail);
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.content, tail);
}

TEST(ToolCallParser, RandomMarkerSoupNeverBreaks) {
  // Texts stitched from markers, fragments of them and ordinary characters: any split gives the
  // same result, calls are announced once, and a text without any call comes back unchanged
  // (unless it holds a block that was closed, whose markers are not text).
  const std::vector<std::string> parts = {B, E, CB, CE, SEP, "function", "f", "\n", "```json\n", "\n```", "{",
                                          "}", "\"a\"", ":", " ", "<｜", "｜>", "é", "x", "```"};
  std::mt19937 rng(1);
  for (int round = 0; round < 300; ++round) {
    std::string text;
    const int n = int(rng() % 12);
    for (int i = 0; i < n; ++i) text += parts[rng() % parts.size()];
    Parsed p = check_splits(text);
    if (p.calls.empty() && text.find(E) == std::string::npos) EXPECT_EQ(p.content, text);
    EXPECT_TRUE(valid_utf8(p.content));
  }
}

// A vocabulary of single bytes, an end-of-sequence token, and the tool-call markers as special
// tokens (as DeepSeek's added tokens are).
std::shared_ptr<const grammar::Vocabulary> marker_vocab() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.emplace_back(1, char(b));
  tokens.push_back("<eos>");
  std::vector<int32_t> special = {256};
  for (std::string_view m : {kToolCallsBegin, kToolCallsEnd, kToolCallBegin, kToolCallEnd, kToolSep}) {
    special.push_back(int32_t(tokens.size()));
    tokens.emplace_back(m);
  }
  return std::make_shared<grammar::Vocabulary>(std::move(tokens), std::vector<int32_t>{256}, std::move(special));
}

std::vector<ToolSpec> weather_tools() {
  return parse_tool_specs(ordered_json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 8},
                     "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"]}}},
    {"type": "function", "function": {"name": "ping"}}])"));
}

// Walks the grammar with random allowed tokens until it completes; returns the text.
std::string random_walk(const std::shared_ptr<const grammar::CompiledGrammar>& g, std::mt19937& rng) {
  grammar::Matcher m(g);
  const grammar::Vocabulary& v = g->vocabulary();
  std::vector<uint32_t> mask(v.mask_words());
  std::string text;
  for (int step = 0; step < 400; ++step) {
    std::fill(mask.begin(), mask.end(), 0u);
    m.fill_mask(mask);
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < v.size(); ++id)
      if ((mask[size_t(id / 32)] >> (id % 32)) & 1u) allowed.push_back(id);
    if (allowed.empty()) break;
    int32_t pick = allowed[rng() % allowed.size()];
    // Prefer ending once possible so walks stay short.
    if (m.is_complete() && rng() % 2) break;
    if (v.is_eos(pick)) break;
    EXPECT_TRUE(m.accept_token(pick));
    text += v.token(pick);
  }
  if (!m.is_complete()) {
    // The completion spells the markers it owes; they go in as their tokens (as the engine's
    // forced completion tokenizes them), every other byte as bytes.
    const std::string rest = m.shortest_completion();
    for (size_t i = 0; i < rest.size();) {
      int32_t marker = -1;
      for (int32_t id = 257; id < v.size(); ++id)
        if (rest.compare(i, v.token(id).size(), v.token(id)) == 0) marker = id;
      if (marker >= 0) {
        EXPECT_TRUE(m.accept_token(marker)) << rest;
        i += v.token(marker).size();
      } else {
        EXPECT_TRUE(m.accept_bytes(rest.substr(i, 1))) << rest;
        ++i;
      }
    }
    text += rest;
  }
  EXPECT_TRUE(m.is_complete());
  return text;
}

TEST(ToolCallGrammar, RandomWalksParseIntoValidCalls) {
  auto vocab = marker_vocab();
  for (ToolCallFormat format : {ToolCallFormat::kR1, ToolCallFormat::kV31}) {
    for (bool parallel : {false, true}) {
      grammar::GrammarBuilder b;
      auto g = grammar::CompiledGrammar::compile(b.build(tool_calls_grammar(b, weather_tools(), format, parallel)), vocab);
      std::mt19937 rng(format == ToolCallFormat::kR1 ? 11 : 12);
      size_t most = 0;
      for (int walk = 0; walk < 40; ++walk) {
        const std::string text = random_walk(g, rng);
        Parsed p = check_splits(text);
        EXPECT_EQ(p.content, "") << text;
        ASSERT_GE(p.calls.size(), 1u) << text;
        if (!parallel) {
          EXPECT_EQ(p.calls.size(), 1u) << text;
        }
        most = std::max(most, p.calls.size());
        for (const ToolCall& c : p.calls) {
          EXPECT_TRUE(c.complete);
          ordered_json args = ordered_json::parse(c.arguments);  // throws (fails) if not JSON
          ASSERT_TRUE(args.is_object()) << c.arguments;
          if (c.name == "get_weather") {
            ASSERT_TRUE(args.contains("city") && args["city"].is_string()) << c.arguments;
            EXPECT_TRUE(args["unit"] == "c" || args["unit"] == "f") << c.arguments;
          } else {
            EXPECT_EQ(c.name, "ping");
          }
        }
      }
      if (parallel) {
        EXPECT_GT(most, 1u) << "parallel calls were never generated";
      }
    }
  }
}

TEST(ToolCallGrammar, SpecialMarkersOnlyAsTokens) {
  // The markers are special: the grammar accepts them as their tokens, never spelled in bytes.
  auto vocab = marker_vocab();
  grammar::GrammarBuilder b;
  auto g = grammar::CompiledGrammar::compile(b.build(tool_calls_grammar(b, weather_tools(), ToolCallFormat::kR1, false)), vocab);
  grammar::Matcher m(g);
  EXPECT_FALSE(m.accept_bytes("<"));
  EXPECT_TRUE(m.accept_token(257));  // <｜tool▁calls▁begin｜>
  EXPECT_TRUE(m.accept_token(259));  // <｜tool▁call▁begin｜>
  EXPECT_TRUE(m.accept_bytes("function"));
  EXPECT_TRUE(m.accept_token(261));  // <｜tool▁sep｜>
  EXPECT_FALSE(m.accept_bytes("other\n"));
  EXPECT_TRUE(m.accept_bytes("ping\n```json\n{}\n```"));
  EXPECT_TRUE(m.accept_token(260));
  EXPECT_TRUE(m.accept_token(258));
  EXPECT_TRUE(m.is_complete());
}

TEST(ToolCallGrammar, UnsupportedSchemaKeywordIsNamed) {
  auto tools = parse_tool_specs(ordered_json::parse(
      R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "not": {"type": "null"}}}}])"));
  grammar::GrammarBuilder b;
  try {
    tool_calls_grammar(b, tools, ToolCallFormat::kR1, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("not"), std::string::npos) << e.what();
  }
}

TEST(ToolSpecs, ParseAndReject) {
  auto t = weather_tools();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].description, "Weather in a city");
  EXPECT_EQ(t[1].parameters, ordered_json({{"type", "object"}}));
  // Key order of a schema is kept (it is the order the arguments are written in).
  EXPECT_EQ(t[0].parameters["properties"].begin().key(), "city");
  EXPECT_THROW(parse_tool_specs(ordered_json::parse(R"([{"type": "function"}])")), Error);
  EXPECT_THROW(parse_tool_specs(ordered_json::parse(R"([{"type": "function", "function": {"name": "a\nb"}}])")), Error);
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ToolTemplates, ProbeFindsFormatAndToolSupport) {
  const ordered_json special = {{"bos_token", "<｜begin▁of▁sentence｜>"}, {"eos_token", "<｜end▁of▁sentence｜>"}};
  const std::string dir = std::string(R1_TEST_DATA) + "/templates/jinja/";
  for (const char* name : {"deepseek-r1", "deepseek-r1-rev1", "deepseek-v3", "deepseek-r1-distill"}) {
    auto s = probe_tool_support(ChatTemplate::parse(read(dir + name + ".jinja"), name), special);
    EXPECT_FALSE(s.renders_tools) << name;
    EXPECT_EQ(s.format, ToolCallFormat::kR1) << name;
  }
  auto v31 = probe_tool_support(ChatTemplate::parse(read(dir + "deepseek-v3.1.jinja"), "v3.1"), special);
  EXPECT_EQ(v31.format, ToolCallFormat::kV31);
  // A template that prints the tools is detected as rendering them.
  auto with_tools = probe_tool_support(
      ChatTemplate::parse("{% if tools %}{% for t in tools %}{{ t.function.name }}{% endfor %}{% endif %}"
                          "{% for m in messages %}{{ m.content }}{% endfor %}"),
      special);
  EXPECT_TRUE(with_tools.renders_tools);
}

TEST(ToolPrompt, ListsToolsAndTheFormat) {
  const std::string r1 = builtin_tool_prompt(weather_tools(), ToolCallFormat::kR1);
  EXPECT_NE(r1.find("### get_weather"), std::string::npos);
  EXPECT_NE(r1.find("Weather in a city"), std::string::npos);
  EXPECT_NE(r1.find(R"("required":["city","unit"])"), std::string::npos);
  EXPECT_NE(r1.find(B + CB + "function" + SEP + "FUNCTION_NAME\n```json\n"), std::string::npos);
  const std::string v31 = builtin_tool_prompt(weather_tools(), ToolCallFormat::kV31);
  EXPECT_NE(v31.find(CB + "FUNCTION_NAME" + SEP + "ARGUMENTS" + CE), std::string::npos);

  ordered_json msgs = ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  add_system_prompt(msgs, "TOOLS");
  EXPECT_EQ(msgs[0], ordered_json({{"role", "system"}, {"content", "TOOLS"}}));
  msgs = ordered_json::parse(R"([{"role": "system", "content": "a"}, {"role": "system", "content": "b"}, {"role": "user", "content": "hi"}])");
  add_system_prompt(msgs, "TOOLS");
  EXPECT_EQ(msgs[0]["content"], "a");
  EXPECT_EQ(msgs[1]["content"], "b\n\nTOOLS");  // the last one: distill templates keep only it
}

}  // namespace
}  // namespace r1::chat
