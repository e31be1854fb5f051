// Every public golden rendering (tests/data/templates, produced by @huggingface/jinja with
// transformers' settings) must come out byte for byte; one ctest test per line. Also checks that
// the templates and special tokens read from the tokenizer directories are those of the data.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <ostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "core/error.h"

namespace {

using nlohmann::ordered_json;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct GoldenCase {
  std::size_t line = 0;
  ordered_json data;
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << "golden_public.jsonl line " << c.line; }

std::vector<GoldenCase> load_cases() {
  std::vector<GoldenCase> cases;
  std::ifstream in(std::string(R1_TEST_DATA) + "/templates/golden_public.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    cases.push_back({cases.size() + 1, ordered_json::parse(line)});
  }
  return cases;
}

const std::vector<GoldenCase>& all_cases() {
  static const std::vector<GoldenCase> cases = load_cases();
  return cases;
}

const r1::chat::ChatTemplate& template_named(const std::string& name) {
  static std::map<std::string, r1::chat::ChatTemplate> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    const std::string src = read_file(std::string(R1_TEST_DATA) + "/templates/jinja/" + name + ".jinja");
    it = cache.emplace(name, r1::chat::ChatTemplate::parse(src, name)).first;
  }
  return it->second;
}

// The render context of the data's README: {messages, add_generation_prompt, bos_token, eos_token} ∪ kwargs.
ordered_json context_of(const ordered_json& d) {
  ordered_json ctx = ordered_json::object();
  ctx["messages"] = d["messages"];
  ctx["add_generation_prompt"] = d["add_generation_prompt"];
  ctx["bos_token"] = d["bos_token"];
  ctx["eos_token"] = d["eos_token"];
  for (auto it = d["kwargs"].begin(); it != d["kwargs"].end(); ++it) ctx[it.key()] = it.value();
  return ctx;
}

class GoldenRendering : public testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenRendering, MatchesReferenceByteForByte) {
  const ordered_json& d = GetParam().data;
  const auto& tmpl = template_named(d["template_name"].get<std::string>());
  std::string out;
  ASSERT_NO_THROW(out = tmpl.render(context_of(d))) << "line " << GetParam().line;
  EXPECT_EQ(out, d["rendered"].get<std::string>()) << "line " << GetParam().line;
}

std::string case_name(const testing::TestParamInfo<GoldenCase>& info) {
  const ordered_json& d = info.param.data;
  std::string name = "L" + std::to_string(info.param.line) + "_" + d["template_name"].get<std::string>() + "_" +
                     d["conversation_id"].get<std::string>() + (d["add_generation_prompt"].get<bool>() ? "_gen" : "");
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Public, GoldenRendering, testing::ValuesIn(all_cases()), case_name);

TEST(GoldenData, HasEveryTemplateAndManyLines) {
  std::map<std::string, int> per_template;
  for (const auto& c : all_cases()) ++per_template[c.data["template_name"].get<std::string>()];
  EXPECT_EQ(per_template.size(), 6u);
  EXPECT_GE(all_cases().size(), 400u);
}

// The tokenizer directories carry the same templates in tokenizer_config.json, with bos/eos as
// AddedToken objects; rendering through the directory loader must give the same prompts.
TEST(GoldenData, TokenizerDirectoriesCarryTheTemplates) {
  const std::map<std::string, std::string> dir_to_template = {
      {"deepseek-v3", "deepseek-v3"},
      {"deepseek-r1", "deepseek-r1"},
      {"deepseek-r1-distill-qwen", "deepseek-r1-distill"},
      {"deepseek-r1-distill-llama", "deepseek-r1-distill"},
  };
  for (const auto& [dir, name] : dir_to_template) {
    SCOPED_TRACE(dir);
    const auto config = r1::chat::load_chat_config(std::string(R1_TEST_DATA) + "/tokenizers/" + dir);
    EXPECT_EQ(config.template_source, template_named(name).source());
    EXPECT_EQ(config.special_tokens.value("bos_token", ""), "<｜begin▁of▁sentence｜>");
    EXPECT_EQ(config.special_tokens.value("eos_token", ""), "<｜end▁of▁sentence｜>");
    const auto tmpl = r1::chat::ChatTemplate::parse(config.template_source, dir);
    int checked = 0;
    for (const auto& c : all_cases()) {
      const ordered_json& d = c.data;
      if (d["template_name"] != name) continue;
      r1::chat::ChatInputs inputs;
      inputs.messages = d["messages"];
      inputs.add_generation_prompt = d["add_generation_prompt"].get<bool>();
      inputs.special_tokens = config.special_tokens;
      inputs.extra = d["kwargs"];
      EXPECT_EQ(tmpl.render(r1::chat::build_context(inputs)), d["rendered"].get<std::string>()) << "line " << c.line;
      ++checked;
    }
    EXPECT_GT(checked, 0);
  }
}

}  // namespace
