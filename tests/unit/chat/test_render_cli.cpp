// `r1 render` end to end: a directory with only tokenizer files, --template, --tools, --var, and
// byte-exact output with no newline added.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Result {
  int status = -1;
  std::string out;
};

Result run(const std::string& args) {
  Result r;
  const std::string cmd = std::string(R1_BINARY) + " render " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class RenderCli : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("r1_render_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(RenderCli, ModelDirectoryWithOnlyTokenizerFiles) {
  const std::string model = std::string(R1_TEST_DATA) + "/tokenizers/deepseek-r1";
  const std::string msgs = write("m.json", R"([{"role": "system", "content": "S"}, {"role": "user", "content": "Hello!"}])");
  Result r = run("--model " + model + " --messages " + msgs + " --add-generation-prompt");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "<｜begin▁of▁sentence｜>S<｜User｜>Hello!<｜Assistant｜><think>\n");
  r = run("--model " + model + " --messages " + msgs);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "<｜begin▁of▁sentence｜>S<｜User｜>Hello!");  // no newline added
}

TEST_F(RenderCli, TemplateFileToolsAndVars) {
  const std::string tmpl = write("t.jinja",
                                 "{{ bos_token }}{% for t in tools %}{{ t.function.name }};{% endfor %}"
                                 "{{ messages|length }}{{ thinking }}{{ add_generation_prompt }}");
  const std::string msgs = write("m.json", R"([{"role": "user", "content": "x"}])");
  const std::string tools = write("tools.json", R"([{"type": "function", "function": {"name": "get_weather"}}])");
  const Result r = run("--template " + tmpl + " --messages " + msgs + " --tools " + tools +
                       " --var thinking=true --var 'bos_token=\"<B>\"'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "<B>get_weather;1TrueFalse");
}

TEST_F(RenderCli, MessagesFileMayBeARequestObject) {
  const std::string tmpl = write("t.jinja", "{{ messages[0].content }}{{ tools|length }}");
  const std::string req = write("req.json", R"({"messages": [{"role": "user", "content": "q"}], "tools": [1, 2]})");
  const Result r = run("--template " + tmpl + " --messages " + req);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "q2");
}

TEST_F(RenderCli, ErrorsAreOneLineWithFileLineAndColumn) {
  const std::string tmpl = write("bad.jinja", "ok\n{{ messages[0].content + 1 }}");
  const std::string msgs = write("m.json", R"([{"role": "user", "content": "x"}])");
  Result r = run("--template " + tmpl + " --messages " + msgs);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "r1: error: " + tmpl + ":2:24: can only concatenate str (not \"int\") to str\n");
  r = run("--template " + tmpl + " --messages " + write("bad.json", "[{"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("invalid JSON"), std::string::npos) << r.out;
  r = run("--template " + tmpl + " --messages " + msgs + " --var novalue");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("--var expects NAME=JSON"), std::string::npos) << r.out;
}

}  // namespace
