// chat_model_dir: writes tokenizer.json (256 byte tokens, 241 merges of ASCII letter pairs, nine
// tool-call and six chat added tokens), tokenizer_config.json with the R1 template, and
// generation_config.json next to a copy of the golden weights.
#include "test_model.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace r1::testing {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

// GPT-2's byte → printable character map of byte-level BPE.
std::string byte_char(int b) {
  int cp;
  if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
    cp = b;
  } else {
    int n = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++n;
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xc0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3f));
  }
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

}  // namespace

// Removes the directories made by this process at exit.
struct MadeDirs {
  std::map<std::string, std::string> dirs;
  ~MadeDirs() {
    std::error_code ec;
    for (auto& [name, dir] : dirs) fs::remove_all(dir, ec);
  }
};

std::string chat_model_dir(const std::string& golden) {
  static std::mutex m;
  static MadeDirs made_dirs;
  auto& made = made_dirs.dirs;
  std::lock_guard<std::mutex> lock(m);
  if (auto it = made.find(golden); it != made.end()) return it->second;
  const fs::path dir = fs::temp_directory_path() / ("r1_chat_model_" + golden + "_" + std::to_string(::getpid()));
  write_chat_model(golden, dir.string());
  made[golden] = dir.string();
  return dir.string();
}

void write_chat_model(const std::string& golden, const std::string& dir_name) {
  const fs::path src = fs::path(R1_TEST_DATA) / "models" / golden;
  const fs::path dir(dir_name);
  fs::create_directories(dir);
  fs::copy_file(src / "model.safetensors", dir / "model.safetensors", fs::copy_options::overwrite_existing);
  ordered_json config = ordered_json::parse(read_file((src / "config.json").string()));
  config["bos_token_id"] = kBos;
  config["eos_token_id"] = kEos;
  write(dir / "config.json", config.dump(2));

  ordered_json vocab = ordered_json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  ordered_json merges = ordered_json::array();
  int id = 256;
  const std::string letters = "etaoinshrdlucmfwypvbgk";
  for (char a : letters) {
    for (char c : letters) {
      if (id >= kFirstToolToken) break;
      std::string pair = std::string(1, a) + c;
      if (vocab.contains(pair)) continue;
      vocab[pair] = id++;
      merges.push_back(std::string(1, a) + " " + c);
    }
  }
  ordered_json added = ordered_json::array();
  // DeepSeek-R1's tool-call tokens, added and not special as in R1's tokenizer.json.
  const char* tool_tokens[] = {"<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>",
                               "<｜tool▁call▁end｜>", "<｜tool▁sep｜>", "<｜tool▁outputs▁begin｜>",
                               "<｜tool▁outputs▁end｜>", "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>"};
  for (int i = 0; i < kBos - kFirstToolToken; ++i)
    added.push_back({{"id", kFirstToolToken + i}, {"content", tool_tokens[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", true}, {"special", false}});
  const char* specials[] = {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"};
  for (int i = 0; i < 6; ++i) {
    bool special = i < 2;
    added.push_back({{"id", kBos + i}, {"content", specials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", !special}, {"special", special}});
  }
  ordered_json tok = {
      {"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                 {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                 {"ignore_merges", false}, {"vocab", vocab}, {"merges", merges}}}};
  write(dir / "tokenizer.json", tok.dump());
  ordered_json tok_config = {
      {"add_bos_token", true}, {"add_eos_token", false},
      {"bos_token", specials[0]}, {"eos_token", specials[1]},
      {"chat_template", read_file(std::string(R1_TEST_DATA) + "/templates/jinja/deepseek-r1.jinja")}};
  write(dir / "tokenizer_config.json", tok_config.dump(2));
  write(dir / "generation_config.json",
        ordered_json{{"bos_token_id", kBos}, {"eos_token_id", kEos}, {"do_sample", true}, {"temperature", 0.6}, {"top_p", 0.95}}.dump(2));
}

}  // namespace r1::testing
