// `r1 tokenize` / `r1 detokenize` as the acceptance tests drive them: every public golden line
// through --jsonl, --text with and without --no-special, and detokenize of sampled lines.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tiny_tokenizer.h"

namespace r1 {
namespace {

using nlohmann::json;

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// Runs a command, returns its stdout; *status gets the exit status.
std::string run(const std::string& cmd, int* status) {
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr) << cmd;
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

std::vector<json> golden_lines(const std::string& model) {
  std::ifstream in(test::data_dir(model) + "/golden_public.jsonl");
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

class TokenizeCli : public ::testing::TestWithParam<const char*> {};

TEST_P(TokenizeCli, JsonlGivesEveryGoldenLine) {
  const std::string dir = test::data_dir(GetParam());
  int status = 0;
  const std::string out =
      run(std::string(R1_BINARY) + " tokenize --model " + dir + " --jsonl " + dir + "/golden_public.jsonl", &status);
  ASSERT_EQ(status, 0);
  std::istringstream lines(out);
  std::string got;
  size_t i = 0, same = 0;
  const auto golden = golden_lines(GetParam());
  while (std::getline(lines, got)) {
    ASSERT_LT(i, golden.size());
    const std::string expected = golden[i]["ids"].dump();
    EXPECT_EQ(got, expected) << "line " << i + 1 << ": " << golden[i]["text"].dump();
    same += got == expected;
    ++i;
  }
  EXPECT_EQ(i, golden.size());
  EXPECT_EQ(same, golden.size());
}

TEST_P(TokenizeCli, TextAndDetokenize) {
  const std::string dir = test::data_dir(GetParam());
  const auto golden = golden_lines(GetParam());
  const std::string bin = std::string(R1_BINARY) + " ";
  int checked = 0;
  for (size_t i = 0; i < golden.size(); i += 173) {
    const json& l = golden[i];
    const std::string text = l["text"];
    if (text.empty()) continue;  // an empty --text argument is still a text; covered by jsonl
    int status = 0;
    const std::string ids = run(bin + "tokenize --model " + dir + " --text " + shell_quote(text) +
                                    (l["add_special_tokens"] ? "" : " --no-special"),
                                &status);
    ASSERT_EQ(status, 0) << text;
    EXPECT_EQ(ids, l["ids"].dump() + "\n") << text;
    std::string id_list;
    for (const json& id : l["ids"]) id_list += std::to_string(id.get<int>()) + " ";
    EXPECT_EQ(run(bin + "detokenize --model " + dir + " --ids " + shell_quote(id_list), &status),
              l["decoded"].get<std::string>());
    EXPECT_EQ(status, 0);
    EXPECT_EQ(run(bin + "detokenize --skip-special --model " + dir + " --ids " + shell_quote(id_list),
                  &status),
              l["decoded_skip_special"].get<std::string>());
    ++checked;
  }
  EXPECT_GE(checked, 6);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, TokenizeCli,
                         ::testing::Values("deepseek-v3", "deepseek-r1", "deepseek-r1-distill-qwen",
                                           "deepseek-r1-distill-llama"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(TokenizeCliErrors, BadInputIsAnErrorMessage) {
  const std::string bin = std::string(R1_BINARY) + " ";
  const std::string dir = test::data_dir("deepseek-r1");
  int status = 0;
  run(bin + "tokenize --model /nonexistent --text hi 2>/dev/null", &status);
  EXPECT_EQ(status, 1);
  run(bin + "detokenize --model " + dir + " --ids '1 999999' 2>/dev/null", &status);
  EXPECT_EQ(status, 1);
  run(bin + "detokenize --model " + dir + " --ids '1 x' 2>/dev/null", &status);
  EXPECT_EQ(status, 1);
  const std::string bad = (std::filesystem::temp_directory_path() / "r1_bad.jsonl").string();
  std::ofstream(bad) << "{\"text\": \"ok\"}\n{\"nope\": 1}\n";
  const std::string out = run(bin + "tokenize --model " + dir + " --jsonl " + bad + " 2>&1", &status);
  EXPECT_EQ(status, 1);
  EXPECT_NE(out.find(":2: expected an object with a string field 'text'"), std::string::npos) << out;
  std::filesystem::remove(bad);
}

}  // namespace
}  // namespace r1
