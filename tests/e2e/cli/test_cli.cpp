// The r1 binary as users and scripts drive it: `r1 logits` against the golden references,
// `r1 run` output shapes (piped text, --json, --raw), `r1 info`, clear errors for bad input, and
// `r1 chat` through a pseudo-terminal (one exchange, Ctrl-C stopping an answer, Ctrl-D exiting).
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

#include "test_model.h"

namespace {

using nlohmann::json;

struct CmdResult {
  int status;
  std::string out, err;
};

// Runs r1 with `args` (shell-quoted by the caller), capturing stdout and stderr.
CmdResult r1(const std::string& args) {
  const std::string err_path = ::testing::TempDir() + "r1_cli_stderr.txt";
  std::string cmd = std::string(R1_BINARY) + " " + args + " 2>" + err_path;
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 65536> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  std::ifstream e(err_path);
  std::string err((std::istreambuf_iterator<char>(e)), std::istreambuf_iterator<char>());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, err};
}

std::string model(const std::string& name) { return std::string(R1_TEST_DATA) + "/models/" + name; }

TEST(CliLogits, MatchesGoldenPrefillAndDecode) {
  std::ifstream in(model("qwen2_untied_bf16") + "/golden.json");
  json g = json::parse(in);
  const json& c = g["cases"][2];
  std::string ids;
  for (const auto& t : c["prompt"]) ids += std::to_string(t.get<int>()) + " ";
  for (const char* mode : {"", "--decode"}) {
    CmdResult r = r1("logits --model " + model("qwen2_untied_bf16") + " --ids '" + ids + "' " + mode);
    ASSERT_EQ(r.status, 0) << r.err;
    json out = json::parse(r.out);
    ASSERT_EQ(out["logits"].size(), c["prompt"].size());
    for (size_t t = 0; t < c["prompt"].size(); ++t) {
      const json& want = c["prefill_logits"][t];
      double max_abs = 0;
      for (const auto& v : want) max_abs = std::max(max_abs, std::fabs(v.get<double>()));
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_NEAR(out["logits"][t][i].get<double>(), want[i].get<double>(), 1e-4 * max_abs + 1e-5) << mode << " row " << t;
    }
  }
}

TEST(CliLogits, ClearErrors) {
  CmdResult r = r1("logits --model " + model("qwen2_untied_bf16") + " --ids '1 2 99999'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("token id 99999 is outside the vocabulary [0, 512)"), std::string::npos) << r.err;
  r = r1("logits --model " + model("qwen2_untied_bf16") + " --ids 'a b'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("'a' is not a token id"), std::string::npos) << r.err;
  r = r1("logits --model /nonexistent/dir --ids 1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("/nonexistent/dir"), std::string::npos) << r.err;
}

TEST(CliInfo, ReportsSizes) {
  CmdResult r = r1("info --json --model " + model("dsv3_fp8_blocks"));
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["architecture"], "deepseek_v3");
  EXPECT_EQ(j["kv_values_per_token_layer"], 80 + 16);
  EXPECT_LT(j["params_active"].get<int64_t>(), j["params_total"].get<int64_t>());
  EXPECT_GT(j["dtypes"]["F8_E4M3"].get<int>(), 0);
}

TEST(CliRun, JsonShape) {
  const std::string dir = r1::testing::chat_model_dir();
  CmdResult r = r1("run --model " + dir + " --prompt 'Hello' --max-tokens 12 --seed 5 --max-reasoning-tokens 4 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["object"], "chat.completion");
  const json& choice = j["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_TRUE(choice["message"]["content"].is_string());
  EXPECT_TRUE(choice["message"]["reasoning_content"].is_string());
  EXPECT_EQ(choice["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  EXPECT_EQ(j["usage"]["completion_tokens_details"]["reasoning_tokens"], 5);
  EXPECT_EQ(j["usage"]["total_tokens"], j["usage"]["prompt_tokens"].get<int>() + 12);
  EXPECT_EQ(j["seed"], 5);
  // The same seed gives the same text; piped output is reasoning, a blank line, the answer.
  CmdResult text = r1("run --model " + dir + " --prompt 'Hello' --max-tokens 12 --seed 5 --max-reasoning-tokens 4");
  ASSERT_EQ(text.status, 0) << text.err;
  std::string reasoning = choice["message"]["reasoning_content"], content = choice["message"]["content"];
  EXPECT_EQ(text.out, reasoning + "\n\n" + content + "\n");
}

TEST(CliRun, RawCompletionAndErrors) {
  const std::string dir = r1::testing::chat_model_dir();
  CmdResult r = r1("run --model " + dir + " --raw --prompt 'once upon' --max-tokens 5 --temperature 0 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  r = r1("run --model " + dir + " --prompt x --temperature 7");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("'temperature' must be between 0 and 2"), std::string::npos) << r.err;
  r = r1("run --model " + dir + " --prompt x --stop a --stop b --stop c --stop d --stop e");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("at most 4"), std::string::npos) << r.err;
  r = r1("run --model " + dir + " --raw --prompt 'once upon' --max-tokens 5 --temperature 0 --kv-type f16 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["usage"]["completion_tokens"], 5);
  r = r1("run --model " + dir + " --prompt x --kv-type q4");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--kv-type"), std::string::npos) << r.err;
}

// A pseudo-terminal session with `r1 chat`.
class Pty {
 public:
  explicit Pty(const std::string& args) {
    pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      std::string cmd = "exec " + std::string(R1_BINARY) + " " + args;
      execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
      _exit(127);
    }
  }
  ~Pty() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(fd_);
  }
  void send(const std::string& s) { ASSERT_EQ(write(fd_, s.data(), s.size()), ssize_t(s.size())); }
  // Reads until `needle` appears in the output after `from`, or the timeout.
  bool expect(const std::string& needle, size_t from, double timeout_s = 120) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      if (out_.find(needle, from) != std::string::npos) return true;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) > 0) {
        char buf[4096];
        ssize_t n = read(fd_, buf, sizeof buf);
        if (n <= 0) return out_.find(needle, from) != std::string::npos;
        out_.append(buf, size_t(n));
      }
    }
    return false;
  }
  int wait_exit(double timeout_s = 60) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -100 - WTERMSIG(status) : -1;
      }
      pollfd p{fd_, POLLIN, 0};
      char buf[4096];
      if (poll(&p, 1, 20) > 0) {
        ssize_t n = read(fd_, buf, sizeof buf);
        if (n > 0) out_.append(buf, size_t(n));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -2;
  }
  const std::string& out() const { return out_; }

 private:
  int fd_ = -1;
  pid_t pid_ = -1;
  std::string out_;
};

TEST(CliChat, ExchangeCtrlCAndCtrlD) {
  const std::string dir = r1::testing::chat_model_dir();
  Pty pty("chat --model " + dir + " --seed 1 -t 1 --max-tokens 100000 --ctx-size 120000");
  ASSERT_TRUE(pty.expect(">>>", 0)) << pty.out();
  // One full exchange (limited by a short answer budget via /think off + a small model).
  size_t mark = pty.out().size();
  pty.send("/think off\n");
  ASSERT_TRUE(pty.expect("(reasoning hidden)", mark)) << pty.out();
  mark = pty.out().size();
  pty.send("hello\n");
  // A long answer: stop it with Ctrl-C once it is running; the prompt must come back.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  pty.send("\x03");
  ASSERT_TRUE(pty.expect("stopped]", mark)) << pty.out().substr(mark);
  ASSERT_TRUE(pty.expect(">>>", pty.out().find("stopped]", mark))) << pty.out().substr(mark);
  // The program still answers after the interruption.
  mark = pty.out().size();
  pty.send("/reset\n");
  ASSERT_TRUE(pty.expect("(conversation cleared)", mark)) << pty.out().substr(mark);
  pty.send("\x04");
  EXPECT_EQ(pty.wait_exit(), 0);
}

}  // namespace
