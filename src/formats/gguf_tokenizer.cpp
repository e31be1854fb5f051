// GGUF tokenizer metadata ⇄ Hugging Face tokenizer.json / tokenizer_config.json.
// The pre-tokenizer regexes are those of the published tokenizer.json files (DeepSeek-V3/R1,
// R1-Distill-Qwen = Qwen2.5, R1-Distill-Llama = Llama 3); `default` is GPT-2's byte-level regex.
#include "formats/gguf_tokenizer.h"

#include <functional>
#include <map>
#include <set>

#include "core/error.h"

namespace r1 {

namespace {

using nlohmann::json;

struct PreTokenizerSpec {
  std::vector<std::string> names;  // names[0] is what r1 writes
  std::vector<std::string> regexes;
  bool nfc;
  bool ignore_merges;
};

const std::vector<PreTokenizerSpec>& pre_tokenizers() {
  static const std::vector<PreTokenizerSpec> kSpecs = {
      {{"deepseek-v3"},
       {"\\p{N}{1,3}",
        "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
        "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
       false,
       false},
      {{"qwen2", "deepseek-r1-qwen"},
       {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
        "\\s+(?!\\S)|\\s+"},
       true,
       false},
      {{"llama-bpe", "llama3"},
       {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
        "\\s+(?!\\S)|\\s+"},
       false,
       true},
      {{"default", "gpt2", "gpt-2"},
       {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},
       false,
       false},
  };
  return kSpecs;
}

const PreTokenizerSpec* find_pre(const std::string& name) {
  for (const PreTokenizerSpec& s : pre_tokenizers())
    for (const std::string& n : s.names)
      if (n == name) return &s;
  return nullptr;
}

std::string known_list() {
  std::string out;
  for (const std::string& n : known_gguf_pre_tokenizers()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::vector<std::string> known_gguf_pre_tokenizers() {
  std::vector<std::string> out;
  for (const PreTokenizerSpec& s : pre_tokenizers()) out.insert(out.end(), s.names.begin(), s.names.end());
  return out;
}

std::optional<HfTokenizerFiles> hf_tokenizer_from_gguf(const GgufFile& g) {
  std::optional<std::string> model = g.get_string_opt("tokenizer.ggml.model");
  if (!model) return std::nullopt;
  if (*model != "gpt2")
    fail(ErrorKind::kUnsupported,
         "{}: tokenizer.ggml.model is '{}'; r1 reads only byte-level BPE tokenizers ('gpt2')", g.path, *model);
  const std::string pre = g.get_string_opt("tokenizer.ggml.pre").value_or("default");
  const PreTokenizerSpec* spec = find_pre(pre);
  if (!spec)
    fail(ErrorKind::kUnsupported, "{}: tokenizer.ggml.pre '{}' is not a pre-tokenizer r1 knows (known: {})", g.path,
         pre, known_list());

  const GgufArray& tokens = g.get_array("tokenizer.ggml.tokens", GgufType::kString);
  const size_t n = tokens.strings.size();
  if (n == 0) fail("{}: tokenizer.ggml.tokens is empty", g.path);
  if (n > size_t(1) << 24) fail("{}: tokenizer.ggml.tokens has {} entries (limit 2^24)", g.path, n);
  std::vector<int32_t> types(n, int32_t(GgufTokenType::kNormal));
  if (const GgufArray* t = g.get_array_opt("tokenizer.ggml.token_type", GgufType::kInt32)) {
    if (t->size() != n)
      fail("{}: tokenizer.ggml.token_type has {} entries, tokenizer.ggml.tokens {}", g.path, t->size(), n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t v = t->ints.empty() ? int64_t(t->uints[i]) : t->ints[i];
      if (v < 1 || v > 6) fail("{}: tokenizer.ggml.token_type[{}] = {} is not a token type (1..6)", g.path, i, v);
      types[i] = int32_t(v);
    }
  }
  const GgufArray& merges = g.get_array("tokenizer.ggml.merges", GgufType::kString);

  auto token_id = [&](const char* key) -> std::optional<int32_t> {
    std::optional<int64_t> v = g.get_int_opt(key);
    if (!v) return std::nullopt;
    if (*v < 0 || *v >= int64_t(n))
      fail("{}: {} = {} is outside the vocabulary of {} tokens", g.path, key, *v, n);
    return int32_t(*v);
  };
  const std::optional<int32_t> bos = token_id("tokenizer.ggml.bos_token_id");
  const std::optional<int32_t> eos = token_id("tokenizer.ggml.eos_token_id");
  const std::optional<int32_t> pad = token_id("tokenizer.ggml.padding_token_id");
  const std::optional<int32_t> unk = token_id("tokenizer.ggml.unknown_token_id");
  // llama.cpp's default for a BPE vocab is add_bos = true unless the file says otherwise.
  const bool add_bos = g.get_bool_opt("tokenizer.ggml.add_bos_token").value_or(bos.has_value());
  const bool add_eos = g.get_bool_opt("tokenizer.ggml.add_eos_token").value_or(false);
  if (add_bos && !bos) fail("{}: tokenizer.ggml.add_bos_token is true but there is no bos_token_id", g.path);
  if (add_eos && !eos) fail("{}: tokenizer.ggml.add_eos_token is true but there is no eos_token_id", g.path);

  json vocab = json::object();
  json added = json::array();
  for (size_t i = 0; i < n; ++i) {
    const GgufTokenType type = GgufTokenType(types[i]);
    const std::string& text = tokens.strings[i];
    if (type == GgufTokenType::kUnused) continue;  // padding rows of the embedding, not tokens
    if (text.empty()) fail("{}: tokenizer.ggml.tokens[{}] is empty", g.path, i);
    if (!vocab.contains(text)) vocab[text] = int32_t(i);  // duplicates: the lowest id wins
    if (type == GgufTokenType::kControl || type == GgufTokenType::kUserDefined)
      added.push_back({{"id", int32_t(i)},
                       {"content", text},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", type == GgufTokenType::kControl}});
  }
  json merge_list = json::array();
  for (size_t i = 0; i < merges.strings.size(); ++i) {
    const std::string& m = merges.strings[i];
    const size_t sp = m.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == m.size())
      fail("{}: tokenizer.ggml.merges[{}] = '{}' is not two tokens separated by a space", g.path, i, m);
    merge_list.push_back(m);
  }

  json steps = json::array();
  for (const std::string& re : spec->regexes)
    steps.push_back({{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}});
  steps.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}});

  json post = nullptr;
  if (add_bos || add_eos) {
    json single = json::array(), pair = json::array(), specials = json::object();
    auto special = [&](int32_t id, int type_id, json& into) {
      const std::string& text = tokens.strings[size_t(id)];
      into.push_back({{"SpecialToken", {{"id", text}, {"type_id", type_id}}}});
      specials[text] = {{"id", text}, {"ids", {id}}, {"tokens", {text}}};
    };
    for (int part = 0; part < 2; ++part) {
      json& list = part == 0 ? single : pair;
      for (int seq = 0; seq < (part == 0 ? 1 : 2); ++seq) {
        if (add_bos) special(*bos, seq, list);
        list.push_back({{"Sequence", {{"id", seq == 0 ? "A" : "B"}, {"type_id", seq}}}});
        if (add_eos) special(*eos, seq, list);
      }
    }
    post = {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
  }

  HfTokenizerFiles out;
  out.tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", spec->nfc ? json{{"type", "NFC"}} : json(nullptr)},
      {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", steps}}},
      {"post_processor", post},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", unk ? json(tokens.strings[size_t(*unk)]) : json(nullptr)},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", spec->ignore_merges},
        {"vocab", vocab},
        {"merges", merge_list}}}};
  json cfg = {{"add_bos_token", add_bos}, {"add_eos_token", add_eos}};
  if (bos) cfg["bos_token"] = tokens.strings[size_t(*bos)];
  if (eos) cfg["eos_token"] = tokens.strings[size_t(*eos)];
  if (pad) cfg["pad_token"] = tokens.strings[size_t(*pad)];
  if (unk) cfg["unk_token"] = tokens.strings[size_t(*unk)];
  if (std::optional<std::string> tmpl = g.get_string_opt("tokenizer.chat_template")) cfg["chat_template"] = *tmpl;
  out.tokenizer_config = std::move(cfg);
  return out;
}

// ---- Hugging Face → GGUF ----

namespace {

std::string token_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

// The split regexes and NFC flag of a tokenizer.json, to match against the known pre-tokenizers.
void describe_pipeline(const json& tj, const std::string& source, std::vector<std::string>& regexes, bool& nfc,
                       bool& byte_level) {
  nfc = false;
  byte_level = false;
  std::function<void(const json&)> norm = [&](const json& n) {
    if (!n.is_object()) return;
    const std::string type = n.value("type", "");
    if (type == "NFC") nfc = true;
    else if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array())
      for (const json& x : n["normalizers"]) norm(x);
    else
      fail(ErrorKind::kUnsupported, "{}: normalizer '{}' has no GGUF equivalent", source, type);
  };
  if (tj.contains("normalizer")) norm(tj["normalizer"]);
  std::function<void(const json&)> pre = [&](const json& p) {
    if (!p.is_object()) return;
    const std::string type = p.value("type", "");
    if (type == "Sequence" && p.contains("pretokenizers") && p["pretokenizers"].is_array()) {
      for (const json& x : p["pretokenizers"]) pre(x);
    } else if (type == "Split") {
      const json& pat = p.contains("pattern") ? p["pattern"] : json();
      if (!pat.is_object() || !pat.contains("Regex") || !pat["Regex"].is_string())
        fail(ErrorKind::kUnsupported, "{}: a Split pre-tokenizer without a regex has no GGUF equivalent", source);
      regexes.push_back(pat["Regex"].get<std::string>());
    } else if (type == "ByteLevel") {
      byte_level = true;
      // ByteLevel with use_regex splits with GPT-2's regex itself.
      if (p.value("use_regex", true))
        regexes.push_back(find_pre("default")->regexes[0]);
    } else {
      fail(ErrorKind::kUnsupported, "{}: pre-tokenizer '{}' has no GGUF equivalent", source, type);
    }
  };
  if (tj.contains("pre_tokenizer")) pre(tj["pre_tokenizer"]);
}

// Whether a post-processor puts token `id` first in a single-sequence encoding.
bool template_prepends(const json& pp, int64_t id) {
  if (!pp.is_object()) return false;
  const std::string type = pp.value("type", "");
  if (type == "Sequence" && pp.contains("processors") && pp["processors"].is_array()) {
    for (const json& p : pp["processors"])
      if (template_prepends(p, id)) return true;
    return false;
  }
  if (type != "TemplateProcessing" || !pp.contains("single") || !pp["single"].is_array() || pp["single"].empty())
    return false;
  const json& first = pp["single"][0];
  if (!first.is_object() || !first.contains("SpecialToken") || !pp.contains("special_tokens")) return false;
  const std::string name = first["SpecialToken"].value("id", "");
  const json& specials = pp["special_tokens"];
  if (!specials.is_object() || !specials.contains(name)) return false;
  const json& ids = specials[name].contains("ids") ? specials[name]["ids"] : json();
  return ids.is_array() && ids.size() == 1 && ids[0].is_number_integer() && ids[0].get<int64_t>() == id;
}

}  // namespace

std::vector<std::pair<std::string, GgufValue>> gguf_tokenizer_from_hf(const json& tj, const json* tc,
                                                                      const json& model_config, int64_t vocab_size,
                                                                      const std::string& source) {
  if (!tj.is_object() || !tj.contains("model") || !tj["model"].is_object())
    fail("{}: tokenizer.json has no 'model' object", source);
  const json& model = tj["model"];
  if (model.value("type", "BPE") != "BPE")
    fail(ErrorKind::kUnsupported, "{}: tokenizer model '{}' is not byte-level BPE", source, model.value("type", ""));
  std::vector<std::string> regexes;
  bool nfc = false, byte_level = false;
  describe_pipeline(tj, source, regexes, nfc, byte_level);
  if (!byte_level) fail(ErrorKind::kUnsupported, "{}: the tokenizer is not byte-level BPE", source);
  const bool ignore_merges = model.value("ignore_merges", false);
  const PreTokenizerSpec* spec = nullptr;
  for (const PreTokenizerSpec& s : pre_tokenizers())
    if (s.regexes == regexes && s.nfc == nfc && s.ignore_merges == ignore_merges) spec = &s;
  if (!spec)
    fail(ErrorKind::kUnsupported,
         "{}: the tokenizer's pre-tokenizer matches none of the GGUF pre-tokenizers r1 knows ({}); use "
         "--no-tokenizer to convert without it",
         source, known_list());

  // id → text and type.
  if (!model.contains("vocab") || !model["vocab"].is_object()) fail("{}: tokenizer.json model.vocab is missing", source);
  std::map<int64_t, std::string> by_id;
  std::map<int64_t, GgufTokenType> type_of;
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) fail("{}: vocab entry '{}' has a bad id", source, text);
    by_id[id.get<int64_t>()] = text;
  }
  if (tj.contains("added_tokens") && tj["added_tokens"].is_array()) {
    for (const json& a : tj["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || a["id"].get<int64_t>() < 0 ||
          !a.contains("content") || !a["content"].is_string())
        fail("{}: malformed added_tokens entry", source);
      const int64_t id = a["id"].get<int64_t>();
      by_id[id] = a["content"].get<std::string>();
      type_of[id] = a.value("special", false) ? GgufTokenType::kControl : GgufTokenType::kUserDefined;
    }
  }
  if (by_id.empty()) fail("{}: the tokenizer has no tokens", source);
  if (vocab_size > 0 && by_id.rbegin()->first >= vocab_size)
    fail("{}: the tokenizer has token id {}, outside the model's vocab_size {}", source, by_id.rbegin()->first,
         vocab_size);
  const int64_t n = std::max(vocab_size, by_id.rbegin()->first + 1);
  std::vector<std::string> tokens(static_cast<size_t>(n));
  std::vector<int32_t> types(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto it = by_id.find(i);
    if (it == by_id.end()) {
      tokens[size_t(i)] = fmt::format("[PAD{}]", i);
      types[size_t(i)] = int32_t(GgufTokenType::kUnused);
    } else {
      tokens[size_t(i)] = it->second;
      auto t = type_of.find(i);
      types[size_t(i)] = int32_t(t == type_of.end() ? GgufTokenType::kNormal : t->second);
    }
  }
  std::vector<std::string> merges;
  if (model.contains("merges") && model["merges"].is_array()) {
    for (const json& m : model["merges"]) {
      if (m.is_string()) merges.push_back(m.get<std::string>());
      else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      else
        fail("{}: malformed merges entry", source);
    }
  }

  std::vector<std::pair<std::string, GgufValue>> out;
  out.emplace_back("tokenizer.ggml.model", GgufValue::of_string("gpt2"));
  out.emplace_back("tokenizer.ggml.pre", GgufValue::of_string(spec->names[0]));
  out.emplace_back("tokenizer.ggml.tokens", gguf_string_array(std::move(tokens)));
  out.emplace_back("tokenizer.ggml.token_type", gguf_i32_array(types));
  out.emplace_back("tokenizer.ggml.merges", gguf_string_array(std::move(merges)));

  // Special ids: tokenizer_config.json's token strings, else config.json's ids.
  auto lookup = [&](const char* key) -> std::optional<int64_t> {
    if (tc && tc->is_object() && tc->contains(key)) {
      const std::string text = token_text((*tc)[key]);
      if (!text.empty())
        for (const auto& [id, t] : by_id)
          if (t == text) return id;
    }
    return std::nullopt;
  };
  auto config_id = [&](const char* key) -> std::optional<int64_t> {
    auto it = model_config.find(key);
    if (it != model_config.end() && it->is_number_integer()) return it->get<int64_t>();
    if (it != model_config.end() && it->is_array() && !it->empty() && (*it)[0].is_number_integer())
      return (*it)[0].get<int64_t>();
    return std::nullopt;
  };
  std::optional<int64_t> bos = lookup("bos_token"), eos = lookup("eos_token"), pad = lookup("pad_token");
  if (!bos) bos = config_id("bos_token_id");
  if (!eos) eos = config_id("eos_token_id");
  if (bos) out.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::of_u32(uint32_t(*bos)));
  if (eos) out.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::of_u32(uint32_t(*eos)));
  if (pad) out.emplace_back("tokenizer.ggml.padding_token_id", GgufValue::of_u32(uint32_t(*pad)));
  // add_bos: tokenizer_config.json's flag, else whether the post-processor prepends bos.
  bool add_bos = false, add_eos = false;
  if (tc && tc->is_object() && tc->contains("add_bos_token") && (*tc)["add_bos_token"].is_boolean())
    add_bos = (*tc)["add_bos_token"].get<bool>();
  else if (bos && tj.contains("post_processor"))
    add_bos = template_prepends(tj["post_processor"], *bos);
  if (tc && tc->is_object() && tc->contains("add_eos_token") && (*tc)["add_eos_token"].is_boolean())
    add_eos = (*tc)["add_eos_token"].get<bool>();
  out.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::of_bool(add_bos && bos));
  out.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::of_bool(add_eos && eos));
  if (tc && tc->is_object() && tc->contains("chat_template")) {
    const json& ct = (*tc)["chat_template"];
    if (ct.is_string()) {
      out.emplace_back("tokenizer.chat_template", GgufValue::of_string(ct.get<std::string>()));
    } else if (ct.is_array()) {  // named templates: "default" is the chat template
      for (const json& e : ct)
        if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
          out.emplace_back("tokenizer.chat_template", GgufValue::of_string(e["template"].get<std::string>()));
    }
  }
  return out;
}

}  // namespace r1
