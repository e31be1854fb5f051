// Malformed or unsupported tokenizer.json content must give an r1::Error that names the part,
// never a crash and never a silently different tokenizer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tiny_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace r1 {
namespace {

using nlohmann::json;

// Runs from_json and returns the error message ("" if it loaded).
std::string load_error(const json& j, ErrorKind* kind = nullptr) {
  try {
    Tokenizer::from_json(j, nullptr);
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

void expect_error(const json& j, const std::string& fragment,
                  ErrorKind expected_kind = ErrorKind::kInvalidInput) {
  ErrorKind kind{};
  const std::string msg = load_error(j, &kind);
  EXPECT_NE(msg.find(fragment), std::string::npos) << "message: '" << msg << "'";
  EXPECT_EQ(kind, expected_kind) << msg;
}

TEST(TokenizerErrors, TinyBaseLoads) { EXPECT_EQ(load_error(test::tiny_json({{"a", "b"}})), ""); }

TEST(TokenizerErrors, MalformedStructure) {
  expect_error(json::array(), "top level");
  json j = test::tiny_json({});
  j.erase("model");
  expect_error(j, "missing field 'model'");
  j = test::tiny_json({});
  j["model"]["vocab"] = json::array();
  expect_error(j, "model.vocab");
  j = test::tiny_json({});
  j["model"]["vocab"]["x"] = -3;
  expect_error(j, "out of range");
  j = test::tiny_json({});
  j["model"]["vocab"]["x"] = 1 << 30;
  expect_error(j, "out of range");
  j = test::tiny_json({});
  j["model"]["vocab"]["x"] = "7";
  expect_error(j, "expected an integer");
  j = test::tiny_json({});
  j["model"]["merges"] = {"ab"};
  expect_error(j, "model.merges[0]");
  j = test::tiny_json({});
  j["model"]["merges"] = {json::array({1, 2})};
  expect_error(j, "model.merges[0]");
  j = test::tiny_json({});
  j["model"]["merges"] = {"a zz"};
  expect_error(j, "'zz' is not in the vocabulary");
  j = test::tiny_json({});
  j["model"]["vocab"].erase("ab");
  j["model"]["merges"] = {"a b"};
  expect_error(j, "merged token 'ab' is not in the vocabulary");
  j = test::tiny_json({});
  j["model"]["unk_token"] = "<unk>";
  expect_error(j, "unk_token '<unk>' is not in the vocabulary");
  j = test::tiny_json({});
  j["added_tokens"] = {{{"content", "<x>"}}};
  expect_error(j, "added_tokens[0]: missing field 'id'");
  j = test::tiny_json({});
  j["added_tokens"] = {{{"id", 300}, {"content", 5}}};
  expect_error(j, "added_tokens[0].content");
  j = test::tiny_json({});
  j["added_tokens"] = {{{"id", 300}, {"content", "<x>"}, {"special", "yes"}}};
  expect_error(j, "added_tokens[0].special");
  j = test::tiny_json({});
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}},
                        {"behavior", "Isolated"}};
  expect_error(j, "does not compile");
  j = test::tiny_json({});
  j["pre_tokenizer"] = test::split_step("-", "Sideways");
  expect_error(j, "unknown split behavior 'Sideways'");
  j = test::tiny_json({});
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}}},
                         {"special_tokens", json::object()}};
  expect_error(j, "special token '<s>'");
  j = test::tiny_json({});
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", json::array()},
                         {"special_tokens", json::object()}};
  expect_error(j, "no sequence A");
  j = test::tiny_json({});
  j["post_processor"] = {{"type", "BertProcessing"}, {"sep", {"</s>", 99999}}, {"cls", {"<s>", 0}}};
  expect_error(j, "token id 99999 is not in the vocabulary");
}

TEST(TokenizerErrors, UnsupportedComponentsAreNamed) {
  const ErrorKind u = ErrorKind::kUnsupported;
  json j = test::tiny_json({});
  j["model"]["type"] = "WordPiece";
  expect_error(j, "model type 'WordPiece'", u);
  j = test::tiny_json({});
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_error(j, "normalizer 'Lowercase'", u);
  j = test::tiny_json({});
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Strip"}}}}};
  expect_error(j, "normalizer.normalizers[1]: normalizer 'Strip'", u);
  j = test::tiny_json({});
  j["pre_tokenizer"] = test::sequence({test::byte_level_step(), {{"type", "Whitespace"}}});
  expect_error(j, "pre_tokenizer.pretokenizers[1]: pre-tokenizer 'Whitespace'", u);
  j = test::tiny_json({});
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error(j, "decoder 'WordPiece'", u);
  j = test::tiny_json({});
  j["decoder"] = nullptr;
  expect_error(j, "decoder is null", u);
  j = test::tiny_json({});
  j["post_processor"] = {{"type", "Frobnicate"}};
  expect_error(j, "post-processor 'Frobnicate'", u);
  j = test::tiny_json({});
  j["truncation"] = {{"max_length", 8}};
  expect_error(j, "truncation", u);
  j = test::tiny_json({});
  j["padding"] = {{"strategy", "BatchLongest"}};
  expect_error(j, "padding", u);
  j = test::tiny_json({});
  j["model"]["byte_fallback"] = true;
  expect_error(j, "byte_fallback", u);
  j = test::tiny_json({});
  j["model"]["dropout"] = 0.1;
  expect_error(j, "dropout", u);
  j = test::tiny_json({});
  j["model"]["continuing_subword_prefix"] = "##";
  expect_error(j, "continuing_subword_prefix", u);
  j = test::tiny_json({});
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "[a-z&&[^aeiou]]"}}},
                        {"behavior", "Isolated"}};
  expect_error(j, "not supported", u);
}

TEST(TokenizerErrors, FilesOnDisk) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "r1_tok_errors";
  fs::remove_all(dir);
  fs::create_directories(dir);
  try {
    Tokenizer::from_dir(dir.string());
    FAIL() << "no tokenizer.json should fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("no tokenizer.json"), std::string::npos);
  }
  std::ofstream(dir / "tokenizer.json") << "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [";
  try {
    Tokenizer::from_dir(dir.string());
    FAIL() << "truncated JSON should fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json: invalid JSON"), std::string::npos)
        << e.what();
  }
  std::ofstream(dir / "tokenizer.json") << test::tiny_json({}).dump();
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": 12})";
  try {
    Tokenizer::from_dir(dir.string());
    FAIL() << "bad bos_token should fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json: bos_token"), std::string::npos)
        << e.what();
  }
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"bos_token": {"content": "a"}, "chat_template": [{"name": "default", "template": "T"}]})";
  const Tokenizer tok = Tokenizer::from_dir(dir.string());
  EXPECT_EQ(tok.config().bos_id, 'a');
  EXPECT_EQ(tok.config().chat_template, "T");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace r1
