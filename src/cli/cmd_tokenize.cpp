// `r1 tokenize` and `r1 detokenize`: the tokenizer of a model directory (tokenizer.json, and
// tokenizer_config.json when present) on the command line; the acceptance tests drive these.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/common.h"
#include "core/error.h"
#include "formats/checkpoint.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {
namespace {

// A directory with tokenizer.json (weights not needed), or a .gguf file carrying its tokenizer.
Tokenizer load_tokenizer(const std::string& model) {
  const std::string path = resolve_model_path(model);
  if (std::filesystem::is_directory(path)) return Tokenizer::from_dir(path);
  if (!std::filesystem::exists(path)) fail(ErrorKind::kNotFound, "--model {}: no such file or directory", path);
  const auto checkpoint = open_checkpoint(path);
  if (!checkpoint->tokenizer_json)
    fail(ErrorKind::kNotFound, "--model {}: the file carries no tokenizer", path);
  return Tokenizer::from_json(*checkpoint->tokenizer_json,
                              checkpoint->tokenizer_config ? &*checkpoint->tokenizer_config : nullptr);
}

std::string ids_json(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  out += "]\n";
  return out;
}

void write_out(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

int run_jsonl(const Tokenizer& tok, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, "cannot read {}", file);
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json obj;
    try {
      obj = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: invalid JSON: {}", file, line_no, e.what());
    }
    if (!obj.is_object() || !obj.contains("text") || !obj["text"].is_string())
      fail("{}:{}: expected an object with a string field 'text'", file, line_no);
    bool add_special = true;
    if (obj.contains("add_special_tokens")) {
      if (!obj["add_special_tokens"].is_boolean())
        fail("{}:{}: 'add_special_tokens' must be true or false", file, line_no);
      add_special = obj["add_special_tokens"].get<bool>();
    }
    write_out(ids_json(tok.encode(obj["text"].get_ref<const std::string&>(), add_special)));
  }
  return 0;
}

// Accepts "1 2 3", "1,2,3" and "[1, 2, 3]".
std::vector<int32_t> parse_ids(const std::string& text, const Tokenizer& tok) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '[' || c == ']') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j == i || j - i > 9) fail("--ids: '{}' is not a token id", text.substr(i, std::max<size_t>(j - i, 1)));
    const int32_t id = std::stoi(text.substr(i, j - i));
    if (!tok.is_valid_id(id))
      fail("--ids: token id {} is not in the vocabulary (size {})", id, tok.vocab_size());
    ids.push_back(id);
    i = j;
  }
  return ids;
}

struct TokenizeArgs {
  std::string model, text, jsonl;
  bool no_special = false;
};

std::function<int()> setup_tokenize(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  app.add_option("-m,--model", args->model, "Model directory holding tokenizer.json")->required();
  auto* text = app.add_option("--text", args->text, "Text to encode");
  auto* jsonl = app.add_option("--jsonl", args->jsonl,
                               "File with one {\"text\", \"add_special_tokens\"} object per line; "
                               "prints one JSON array per line");
  text->excludes(jsonl);
  app.add_flag("--no-special", args->no_special,
               "Do not add the post-processor's special tokens (add_special_tokens=false)");
  return [args, text, jsonl]() -> int {
    if (text->count() == 0 && jsonl->count() == 0) fail("tokenize: give --text or --jsonl");
    const Tokenizer tok = load_tokenizer(args->model);
    if (jsonl->count()) return run_jsonl(tok, args->jsonl);
    write_out(ids_json(tok.encode(args->text, !args->no_special)));
    return 0;
  };
}

struct DetokenizeArgs {
  std::string model, ids;
  bool skip_special = false;
  bool json = false;
};

std::function<int()> setup_detokenize(CLI::App& app) {
  auto args = std::make_shared<DetokenizeArgs>();
  app.add_option("-m,--model", args->model, "Model directory holding tokenizer.json")->required();
  app.add_option("--ids", args->ids, "Token ids: \"1 2 3\", \"1,2,3\" or \"[1,2,3]\"")->required();
  app.add_flag("--skip-special", args->skip_special, "Drop special tokens (skip_special_tokens)");
  app.add_flag("--json", args->json, "Print the text as a JSON string and a newline");
  return [args]() -> int {
    const Tokenizer tok = load_tokenizer(args->model);
    const std::string text = tok.decode(parse_ids(args->ids, tok), args->skip_special);
    // The text is printed exactly, without an added newline, so it can be compared byte for byte.
    write_out(args->json ? nlohmann::json(text).dump() + "\n" : text);
    return 0;
  };
}

R1_COMMAND("tokenize", "Print the token ids of a text as a JSON array", setup_tokenize);
R1_COMMAND("detokenize", "Print the text of token ids", setup_detokenize);

}  // namespace
}  // namespace r1::cli
