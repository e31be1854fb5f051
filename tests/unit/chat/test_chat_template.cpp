// The chat-template API: loading a model directory's template and special tokens, the standard
// render context, concurrent rendering of one parsed template.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "chat/chat_template.h"
#include "core/error.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using r1::chat::ChatTemplate;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("r1_chat_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name, std::ios::binary) << text; }
  std::string str() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(LoadChatConfig, StringTemplateAndPlainStringTokens) {
  TempDir dir;
  dir.write("tokenizer_config.json",
            R"({"bos_token": "<s>", "eos_token": "</s>", "pad_token": null, "chat_template": "{{ bos_token }}hi"})");
  const auto cfg = r1::chat::load_chat_config(dir.str());
  EXPECT_EQ(cfg.template_source, "{{ bos_token }}hi");
  EXPECT_EQ(cfg.special_tokens, ordered_json::parse(R"({"bos_token": "<s>", "eos_token": "</s>"})"));
  EXPECT_NE(cfg.template_origin.find("tokenizer_config.json"), std::string::npos);
}

TEST(LoadChatConfig, AddedTokenObjectsGiveTheirContent) {
  TempDir dir;
  dir.write("tokenizer_config.json",
            R"({"bos_token": {"__type": "AddedToken", "content": "<B>", "lstrip": false}, "chat_template": "x"})");
  EXPECT_EQ(r1::chat::load_chat_config(dir.str()).special_tokens["bos_token"], "<B>");
}

TEST(LoadChatConfig, SeparateJinjaFileWins) {
  TempDir dir;
  dir.write("tokenizer_config.json", R"({"eos_token": "</s>", "chat_template": "old"})");
  dir.write("chat_template.jinja", "new {{ eos_token }}");
  const auto cfg = r1::chat::load_chat_config(dir.str());
  EXPECT_EQ(cfg.template_source, "new {{ eos_token }}");
  EXPECT_EQ(cfg.special_tokens["eos_token"], "</s>");
}

TEST(LoadChatConfig, NamedTemplateList) {
  TempDir dir;
  dir.write("tokenizer_config.json",
            R"({"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]})");
  EXPECT_EQ(r1::chat::load_chat_config(dir.str()).template_source, "D");
  EXPECT_EQ(r1::chat::load_chat_config(dir.str(), "tool_use").template_source, "T");
  EXPECT_THROW(r1::chat::load_chat_config(dir.str(), "nope"), r1::Error);
}

TEST(LoadChatConfig, ChatTemplateJson) {
  TempDir dir;
  dir.write("chat_template.json", R"({"chat_template": "J"})");
  EXPECT_EQ(r1::chat::load_chat_config(dir.str()).template_source, "J");
}

TEST(LoadChatConfig, MissingTemplateOrBadFilesAreClearErrors) {
  TempDir dir;
  dir.write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  try {
    r1::chat::load_chat_config(dir.str());
    FAIL();
  } catch (const r1::Error& e) {
    EXPECT_EQ(e.kind(), r1::ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("no chat template"), std::string::npos) << e.what();
  }
  dir.write("tokenizer_config.json", "{not json");
  try {
    r1::chat::load_chat_config(dir.str());
    FAIL();
  } catch (const r1::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json: invalid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(r1::chat::load_chat_config(dir.str() + "/missing"), r1::Error);
}

TEST(BuildContext, StandardVariables) {
  r1::chat::ChatInputs in;
  in.messages = ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  in.add_generation_prompt = true;
  in.special_tokens = ordered_json::parse(R"({"bos_token": "<s>", "eos_token": "</s>"})");
  in.extra = ordered_json::parse(R"({"thinking": true})");
  const ordered_json ctx = r1::chat::build_context(in);
  EXPECT_EQ(ctx.dump(), R"({"messages":[{"role":"user","content":"hi"}],"tools":null,"add_generation_prompt":true,)"
                        R"("bos_token":"<s>","eos_token":"</s>","thinking":true})");
  // Without tools, `tools` is None as transformers passes it: defined, none, falsy.
  const auto t = ChatTemplate::parse("{{ tools is defined }}{{ tools is none }}{% if tools %}T{% endif %}{{ thinking }}");
  EXPECT_EQ(t.render(ctx), "TrueTrueTrue");
}

TEST(ChatTemplate, ConcurrentRendersOfOneTemplate) {
  const auto tmpl = ChatTemplate::parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
      "{% macro show(x) %}<{{ x.role }}:{{ x.content }}>{% endmacro %}{{ show(m) }}{% endfor %}#{{ ns.n }}",
      "concurrent");
  std::vector<std::string> expected(8), got(8);
  std::vector<ordered_json> contexts(8);
  for (int t = 0; t < 8; ++t) {
    ordered_json msgs = ordered_json::array();
    for (int i = 0; i <= t; ++i) msgs.push_back({{"role", "user"}, {"content", std::to_string(t * 100 + i)}});
    contexts[t] = {{"messages", msgs}};
    expected[t] = tmpl.render(contexts[t]);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 200; ++rep) {
        const std::string out = tmpl.render(contexts[t]);
        if (out != expected[t]) {
          got[t] = out;
          return;
        }
      }
      got[t] = expected[t];
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(got[t], expected[t]);
  EXPECT_EQ(expected[2], "<user:200><user:201><user:202>#3");
}

TEST(ChatTemplate, ParseOnceKeepsSourceAndName) {
  const auto tmpl = ChatTemplate::parse("{{ 1 }}", "mine");
  const ChatTemplate copy = tmpl;
  EXPECT_EQ(copy.name(), "mine");
  EXPECT_EQ(copy.source(), "{{ 1 }}");
  EXPECT_EQ(copy.render(ordered_json::object()), "1");
  EXPECT_THROW(tmpl.render(ordered_json::array()), r1::Error);  // the context must be an object
}

}  // namespace
