// Tokenizer loading (tokenizer.json + tokenizer_config.json) and the encode/decode pipeline:
// added tokens on raw text -> normalizer -> added tokens on normalized text -> pre-tokenizer ->
// BPE -> post-processor; decode joins token bytes and repairs invalid UTF-8.
#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "tokenizer/bpe.h"
#include "tokenizer/json_loader.h"
#include "tokenizer/json_util.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/unicode.h"

namespace r1 {

using tokjson::json;

namespace {
constexpr uint8_t kValid = 1, kAdded = 2, kSpecial = 4;
const std::string kEmpty;
}  // namespace

struct Tokenizer::Impl {
  TokenMap vocab;      // model vocabulary: text -> id
  TokenMap added_ids;  // added token content -> id
  std::vector<std::string> tokens;  // id -> text
  std::vector<std::string> bytes;   // id -> raw bytes (what decode emits)
  std::vector<uint8_t> flags;
  AddedMatcher raw_matcher;         // added tokens with normalized: false
  AddedMatcher normalized_matcher;  // added tokens with normalized: true
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pretokenizer;
  std::unique_ptr<Bpe> bpe;
  std::vector<int32_t> prefix, suffix;  // post-processor output around the sequence
  TokenizerConfig config;

  void encode_words(std::string_view text, std::vector<int32_t>& ids) const;
  void encode_normalized(std::string_view text, std::vector<int32_t>& ids) const;
};

// ---- loading -----------------------------------------------------------------------------------

namespace {

void parse_model(const json& model, ModelParts* parts, Tokenizer::Impl& m, BpeOptions& opts,
                 std::vector<std::pair<std::string, std::string>>& merges) {
  const std::string path = "model";
  if (!model.is_object()) fail("tokenizer.json: model: expected an object");
  const json* type = tokjson::optional_field(model, "type");
  const std::string t = type && type->is_string() ? type->get<std::string>() : "";
  if (!t.empty() && t != "BPE")
    fail(ErrorKind::kUnsupported, "tokenizer.json: model type '{}' is not supported (only BPE)", t);
  if (t.empty() && !model.contains("merges") && !(parts && parts->merges))
    fail("tokenizer.json: model: no 'type' and no 'merges'; cannot tell the model kind");

  if (const json* d = tokjson::optional_field(model, "dropout")) {
    if (!d->is_number() || d->get<double>() != 0.0)
      fail(ErrorKind::kUnsupported, "tokenizer.json: model.dropout: BPE dropout is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const json* v = tokjson::optional_field(model, key)) {
      if (!v->is_string()) fail("tokenizer.json: model.{}: expected a string", key);
      if (!v->get<std::string>().empty())
        fail(ErrorKind::kUnsupported, "tokenizer.json: model.{} is not supported", key);
    }
  }
  if (tokjson::get_bool(model, "byte_fallback", false, path))
    fail(ErrorKind::kUnsupported, "tokenizer.json: model.byte_fallback is not supported");
  opts.ignore_merges = tokjson::get_bool(model, "ignore_merges", false, path);
  opts.fuse_unk = tokjson::get_bool(model, "fuse_unk", false, path);

  if (parts && parts->vocab) {
    m.vocab.reserve(parts->vocab->size());
    for (auto& [text, id] : *parts->vocab) {
      if (id < 0 || id > tokjson::kMaxTokenId)
        fail("tokenizer.json: model.vocab[\"{}\"]: token id {} is out of range [0, {}]", text, id,
             tokjson::kMaxTokenId);
      m.vocab.insert_or_assign(std::move(text), static_cast<int32_t>(id));
    }
    parts->vocab.reset();
  } else {
    const json& vocab = tokjson::field(model, "vocab", path);
    if (!vocab.is_object()) fail("tokenizer.json: model.vocab: expected an object of token -> id");
    m.vocab.reserve(vocab.size());
    for (auto it = vocab.begin(); it != vocab.end(); ++it)
      m.vocab.insert_or_assign(it.key(),
                               tokjson::get_id(it.value(), "model.vocab[\"" + it.key() + "\"]"));
  }

  if (const json* unk = tokjson::optional_field(model, "unk_token")) {
    if (!unk->is_string()) fail("tokenizer.json: model.unk_token: expected a string");
    const int32_t unk_id = m.vocab.find(unk->get<std::string>());
    if (unk_id < 0)
      fail("tokenizer.json: model.unk_token '{}' is not in the vocabulary", unk->get<std::string>());
    opts.unk_id = unk_id;
  }

  if (parts && parts->merges) {
    merges = std::move(*parts->merges);
    parts->merges.reset();
    return;
  }
  const json& list = tokjson::field(model, "merges", path);
  if (!list.is_array()) fail("tokenizer.json: model.merges: expected an array");
  merges.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    if (e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos)
        fail("tokenizer.json: model.merges[{}]: '{}' is not two tokens separated by a space", i, s);
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    } else {
      fail("tokenizer.json: model.merges[{}]: expected \"a b\" or [\"a\", \"b\"]", i);
    }
  }
}

void parse_added_tokens(const json& list, std::vector<AddedTokenSpec>& out) {
  if (!list.is_array()) fail("tokenizer.json: added_tokens: expected an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = fmt::format("added_tokens[{}]", i);
    const json& t = list[i];
    AddedTokenSpec a;
    a.id = tokjson::get_id(tokjson::field(t, "id", path), path + ".id");
    a.content = tokjson::get_string(t, "content", path);
    a.special = tokjson::get_bool(t, "special", false, path);
    a.normalized = tokjson::get_bool(t, "normalized", true, path);
    a.lstrip = tokjson::get_bool(t, "lstrip", false, path);
    a.rstrip = tokjson::get_bool(t, "rstrip", false, path);
    a.single_word = tokjson::get_bool(t, "single_word", false, path);
    if (a.content.empty()) continue;  // the reference ignores empty added tokens
    if (auto bad = unicode::find_invalid_utf8(a.content))
      fail("tokenizer.json: {}.content is not valid UTF-8", path);
    out.push_back(std::move(a));
  }
}

// Adds one post-processor's ids around the sequence; later processors wrap earlier ones.
void parse_post_processor(const json& j, const std::string& path, const Tokenizer::Impl& m,
                          std::vector<int32_t>& prefix, std::vector<int32_t>& suffix) {
  const std::string type = tokjson::type_of(j, path);
  auto check_id = [&](int32_t id, const std::string& where) {
    if (id < 0 || id >= static_cast<int32_t>(m.tokens.size()) || !(m.flags[id] & kValid))
      fail("tokenizer.json: {}: token id {} is not in the vocabulary", where, id);
    return id;
  };
  if (type == "Sequence") {
    const json& list = tokjson::field(j, "processors", path);
    if (!list.is_array()) fail("tokenizer.json: {}.processors: expected an array", path);
    for (size_t i = 0; i < list.size(); ++i)
      parse_post_processor(list[i], fmt::format("{}.processors[{}]", path, i), m, prefix, suffix);
  } else if (type == "ByteLevel") {
    // Only adjusts offsets; the ids are unchanged.
  } else if (type == "TemplateProcessing") {
    const json& single = tokjson::field(j, "single", path);
    const json& specials = tokjson::field(j, "special_tokens", path);
    if (!single.is_array()) fail("tokenizer.json: {}.single: expected an array", path);
    std::vector<int32_t> before, after;
    bool seen_a = false;
    for (size_t i = 0; i < single.size(); ++i) {
      const std::string ipath = fmt::format("{}.single[{}]", path, i);
      const json& item = single[i];
      if (const json* st = tokjson::optional_field(item, "SpecialToken")) {
        const std::string name = tokjson::get_string(*st, "id", ipath + ".SpecialToken");
        const json* entry = tokjson::optional_field(specials, name.c_str());
        if (!entry)
          fail("tokenizer.json: {}: special token '{}' is not in {}.special_tokens", ipath, name,
               path);
        const json& ids = tokjson::field(*entry, "ids", path + ".special_tokens." + name);
        if (!ids.is_array()) fail("tokenizer.json: {}.special_tokens.{}.ids: expected an array", path, name);
        for (const json& id : ids)
          (seen_a ? after : before)
              .push_back(check_id(tokjson::get_id(id, ipath), path + ".special_tokens." + name));
      } else if (const json* seq = tokjson::optional_field(item, "Sequence")) {
        if (tokjson::get_string(*seq, "id", ipath + ".Sequence") != "A")
          fail("tokenizer.json: {}: a single-sequence template can only hold sequence A", ipath);
        if (seen_a) fail("tokenizer.json: {}: sequence A appears twice", ipath);
        seen_a = true;
      } else {
        fail("tokenizer.json: {}: expected SpecialToken or Sequence", ipath);
      }
    }
    if (!seen_a) fail("tokenizer.json: {}.single: the template has no sequence A", path);
    prefix.insert(prefix.begin(), before.begin(), before.end());
    suffix.insert(suffix.end(), after.begin(), after.end());
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    // Single sequence: [cls] A [sep]; both are ["token", id].
    auto pair_id = [&](const char* key) {
      const json& v = tokjson::field(j, key, path);
      if (!v.is_array() || v.size() != 2) fail("tokenizer.json: {}.{}: expected [token, id]", path, key);
      return check_id(tokjson::get_id(v[1], path + "." + key), path + "." + key);
    };
    prefix.insert(prefix.begin(), pair_id("cls"));
    suffix.push_back(pair_id("sep"));
  } else {
    fail(ErrorKind::kUnsupported, "tokenizer.json: {}: post-processor '{}' is not supported", path,
         type);
  }
}

void check_decoder(const json& j, const std::string& path) {
  if (j.is_null())
    fail(ErrorKind::kUnsupported,
         "tokenizer.json: decoder is null; only the ByteLevel decoder is supported");
  const std::string type = tokjson::type_of(j, path);
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    const json& list = tokjson::field(j, "decoders", path);
    if (!list.is_array()) fail("tokenizer.json: {}.decoders: expected an array", path);
    for (size_t i = 0; i < list.size(); ++i)
      check_decoder(list[i], fmt::format("{}.decoders[{}]", path, i));
    return;
  }
  fail(ErrorKind::kUnsupported, "tokenizer.json: {}: decoder '{}' is not supported", path, type);
}

std::optional<std::string> config_token(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  fail("tokenizer_config.json: {}: expected a string or an object with 'content'", key);
}

void parse_config(const json& cfg, const Tokenizer& tok, TokenizerConfig& out) {
  if (!cfg.is_object()) fail("tokenizer_config.json: expected a JSON object");
  out.bos_token = config_token(cfg, "bos_token");
  out.eos_token = config_token(cfg, "eos_token");
  out.pad_token = config_token(cfg, "pad_token");
  out.unk_token = config_token(cfg, "unk_token");
  if (out.bos_token) out.bos_id = tok.token_to_id(*out.bos_token);
  if (out.eos_token) out.eos_id = tok.token_to_id(*out.eos_token);
  if (out.pad_token) out.pad_id = tok.token_to_id(*out.pad_token);
  for (auto [key, dst] : {std::pair{"add_bos_token", &out.add_bos_token},
                          std::pair{"add_eos_token", &out.add_eos_token}}) {
    auto it = cfg.find(key);
    if (it == cfg.end() || it->is_null()) continue;
    if (!it->is_boolean()) fail("tokenizer_config.json: {}: expected true or false", key);
    *dst = it->get<bool>();
  }
  auto ct = cfg.find("chat_template");
  if (ct != cfg.end() && !ct->is_null()) {
    if (ct->is_string()) {
      out.chat_template = ct->get<std::string>();
    } else if (ct->is_array()) {
      for (const json& e : *ct) {
        if (!e.is_object() || !e.contains("name") || !e.contains("template") ||
            !e["name"].is_string() || !e["template"].is_string())
          fail("tokenizer_config.json: chat_template: list entries need 'name' and 'template' strings");
        out.named_templates[e["name"].get<std::string>()] = e["template"].get<std::string>();
      }
      auto d = out.named_templates.find("default");
      if (d != out.named_templates.end()) out.chat_template = d->second;
    } else {
      fail("tokenizer_config.json: chat_template: expected a string or a list of named templates");
    }
  }
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, "cannot read {}", path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json read_json_file(const std::filesystem::path& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail("{}: invalid JSON: {}", path.string(), e.what());
  }
}

}  // namespace

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path base(dir);
  const fs::path tj = base / "tokenizer.json";
  if (!fs::exists(tj))
    fail(ErrorKind::kNotFound, "{}: no tokenizer.json in this directory", dir);
  TokenizerJson tokenizer = parse_tokenizer_json(read_file(tj), tj.string());
  const fs::path tc = base / "tokenizer_config.json";
  if (fs::exists(tc)) {
    const json config = read_json_file(tc);
    return build(tokenizer.tree, &tokenizer.parts, &config);
  }
  return build(tokenizer.tree, &tokenizer.parts, nullptr);
}

Tokenizer Tokenizer::from_json(const json& j, const json* tokenizer_config) {
  return build(j, nullptr, tokenizer_config);
}

Tokenizer Tokenizer::build(const json& j, ModelParts* parts, const json* tokenizer_config) {
  if (!j.is_object()) fail("tokenizer.json: expected a JSON object at the top level");
  for (const char* key : {"truncation", "padding"})
    if (tokjson::optional_field(j, key))
      fail(ErrorKind::kUnsupported, "tokenizer.json: {} is set; r1 does not truncate or pad", key);

  auto m = std::make_shared<Impl>();
  BpeOptions opts;
  std::vector<std::pair<std::string, std::string>> merges;
  parse_model(tokjson::field(j, "model", "(top level)"), parts, *m, opts, merges);

  std::vector<AddedTokenSpec> added;
  if (const json* list = tokjson::optional_field(j, "added_tokens")) parse_added_tokens(*list, added);

  const json null_json;
  const json* norm = tokjson::optional_field(j, "normalizer");
  m->normalizer = std::make_unique<Normalizer>(norm ? *norm : null_json);
  const json* pre = tokjson::optional_field(j, "pre_tokenizer");
  m->pretokenizer = std::make_unique<PreTokenizer>(pre ? *pre : null_json);
  const json* dec = tokjson::optional_field(j, "decoder");
  check_decoder(dec ? *dec : null_json, "decoder");

  // Added-token ids follow the reference library rather than the ids written in the file: a
  // token whose text is in the vocabulary takes the vocabulary's id, a repeated text keeps its
  // first id (the later flags win), and any other token gets the next id after the vocabulary
  // and the added tokens so far. Well-formed files declare exactly these ids.
  const auto vocab_len = static_cast<int64_t>(m->vocab.size());
  int64_t max_added = -1;
  int32_t size = 0;
  for (const auto& [text, id] : m->vocab.entries()) size = std::max(size, id + 1);
  size_t moved = 0;
  for (AddedTokenSpec& a : added) {
    int64_t id;
    if (const int32_t known = m->added_ids.find(a.content); known >= 0)
      id = known;
    else if (const int32_t in_vocab = m->vocab.find(a.content); in_vocab >= 0)
      id = in_vocab;
    else if (max_added < 0)
      id = vocab_len;
    else
      id = (max_added >= vocab_len || vocab_len == 0) ? max_added + 1 : vocab_len;
    if (id > tokjson::kMaxTokenId) fail("tokenizer.json: too many added tokens");
    if (id != a.id && moved++ == 0)
      log_warn("tokenizer.json: added token '{}' is declared with id {} but gets id {}",
               a.content, a.id, id);
    a.id = static_cast<int32_t>(id);
    m->added_ids.insert_or_assign(a.content, a.id);
    max_added = std::max(max_added, id);
    size = std::max(size, a.id + 1);
  }
  // Later duplicates of a text replace the earlier entry's flags.
  {
    std::vector<AddedTokenSpec> unique;
    for (const AddedTokenSpec& a : added) {
      auto same = std::find_if(unique.begin(), unique.end(),
                               [&](const AddedTokenSpec& u) { return u.content == a.content; });
      if (same != unique.end())
        *same = a;
      else
        unique.push_back(a);
    }
    added.swap(unique);
  }
  m->tokens.resize(size);
  m->flags.assign(size, 0);
  for (const auto& [text, id] : m->vocab.entries()) {
    if (m->flags[id] & kValid) {
      log_warn("tokenizer.json: id {} is used by '{}' and '{}'", id, m->tokens[id], text);
      if (text >= m->tokens[id]) continue;  // keep a deterministic choice
    }
    m->tokens[id] = text;
    m->flags[id] = kValid;
  }
  std::string normalized_storage;
  for (const AddedTokenSpec& a : added) {
    m->tokens[a.id] = a.content;
    m->flags[a.id] = kValid | kAdded | (a.special ? kSpecial : 0);
    if (a.normalized && !m->normalizer->empty())
      m->normalized_matcher.add(m->normalizer->apply(a.content, normalized_storage), a);
    else if (a.normalized)
      m->normalized_matcher.add(a.content, a);
    else
      m->raw_matcher.add(a.content, a);
  }
  // Decoder bytes: the ByteLevel decoder maps a token through the alphabet, and passes a token
  // containing any character outside it (e.g. "<｜User｜>") through as its UTF-8 text.
  const ByteAlphabet& alphabet = ByteAlphabet::get();
  m->bytes.resize(size);
  for (int32_t id = 0; id < size; ++id) {
    std::string raw;
    if (alphabet.decode_string(m->tokens[id], raw))
      m->bytes[id] = std::move(raw);
    else
      m->bytes[id] = m->tokens[id];
  }

  opts.raw_bytes = m->pretokenizer->raw_bytes_out();
  m->bpe = std::make_unique<Bpe>(m->vocab, merges, opts);

  if (const json* post = tokjson::optional_field(j, "post_processor"))
    parse_post_processor(*post, "post_processor", *m, m->prefix, m->suffix);

  Tokenizer tok(m);
  if (tokenizer_config) parse_config(*tokenizer_config, tok, m->config);
  return tok;
}

json Tokenizer::spec_to_json(const BpeTokenizerSpec& spec) {
  json vocab = json::object();
  for (size_t i = 0; i < spec.vocab.size(); ++i) vocab[spec.vocab[i]] = i;
  json merges = json::array();
  for (const auto& [a, b] : spec.merges) merges.push_back(json::array({a, b}));
  json added = json::array();
  for (const AddedTokenSpec& a : spec.added_tokens)
    added.push_back({{"id", a.id}, {"content", a.content}, {"single_word", a.single_word},
                     {"lstrip", a.lstrip}, {"rstrip", a.rstrip}, {"normalized", a.normalized},
                     {"special", a.special}});
  json steps = json::array();
  for (const std::string& re : spec.split_regexes)
    steps.push_back({{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"},
                     {"invert", false}});
  steps.push_back(
      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}});

  json post = nullptr;
  if (!spec.bos_ids.empty() || !spec.eos_ids.empty()) {
    json single = json::array(), specials = json::object();
    auto add_special = [&](const std::vector<int32_t>& ids, const char* name) {
      if (ids.empty()) return;
      single.push_back({{"SpecialToken", {{"id", name}, {"type_id", 0}}}});
      specials[name] = {{"id", name}, {"ids", ids}, {"tokens", json::array()}};
    };
    add_special(spec.bos_ids, "bos");
    single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
    add_special(spec.eos_ids, "eos");
    post = {{"type", "TemplateProcessing"}, {"single", single}, {"pair", json::array()},
            {"special_tokens", specials}};
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", spec.nfc ? json{{"type", "NFC"}} : json(nullptr)},
          {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", steps}}},
          {"post_processor", post},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false},
                       {"use_regex", false}}},
          {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                     {"fuse_unk", false}, {"byte_fallback", false},
                     {"ignore_merges", spec.ignore_merges}, {"vocab", vocab}, {"merges", merges}}}};
}

Tokenizer Tokenizer::from_spec(const BpeTokenizerSpec& spec) {
  return from_json(spec_to_json(spec), nullptr);
}

// ---- encode / decode -------------------------------------------------------------------------

void Tokenizer::Impl::encode_words(std::string_view text, std::vector<int32_t>& ids) const {
  thread_local std::string buf;
  thread_local std::vector<Piece> pieces;
  buf.assign(text);
  pretokenizer->run(buf, pieces);
  for (const Piece& p : pieces)
    bpe->encode(std::string_view(buf).substr(p.begin, p.end - p.begin), ids);
}

void Tokenizer::Impl::encode_normalized(std::string_view text, std::vector<int32_t>& ids) const {
  if (normalized_matcher.empty()) {
    encode_words(text, ids);
    return;
  }
  std::vector<Segment> segs;
  normalized_matcher.split(text, segs);
  for (const Segment& s : segs) {
    if (s.id >= 0)
      ids.push_back(s.id);
    else
      encode_words(text.substr(s.begin, s.end - s.begin), ids);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (auto bad = unicode::find_invalid_utf8(text))
    fail("text to encode is not valid UTF-8 (byte 0x{:02X} at offset {})",
         static_cast<uint8_t>(text[*bad]), *bad);
  const Impl& m = *impl_;
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids = m.prefix;
  std::vector<Segment> segs;
  if (m.raw_matcher.empty()) {
    if (!text.empty()) segs.push_back({0, static_cast<uint32_t>(text.size()), -1});
  } else {
    m.raw_matcher.split(text, segs);
  }
  std::string storage;
  for (const Segment& s : segs) {
    if (s.id >= 0) {
      ids.push_back(s.id);
      continue;
    }
    const std::string_view piece = text.substr(s.begin, s.end - s.begin);
    m.encode_normalized(m.normalizer->empty() ? piece : m.normalizer->apply(piece, storage), ids);
  }
  if (add_special_tokens) ids.insert(ids.end(), m.suffix.begin(), m.suffix.end());
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const Impl& m = *impl_;
  std::string joined;
  for (const int32_t id : ids) {
    if (!is_valid_id(id)) continue;
    if (skip_special_tokens && (m.flags[id] & kSpecial)) continue;
    joined += m.bytes[id];
  }
  return unicode::lossy(joined);
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->tokens.size()); }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const Impl& m = *impl_;
  if (const int32_t id = m.added_ids.find(token); id >= 0) return id;
  if (const int32_t id = m.vocab.find(token); id >= 0) return id;
  return std::nullopt;
}

bool Tokenizer::is_valid_id(int32_t id) const {
  return id >= 0 && id < vocab_size() && (impl_->flags[id] & kValid);
}

const std::string& Tokenizer::id_to_token(int32_t id) const {
  return is_valid_id(id) ? impl_->tokens[id] : kEmpty;
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  return is_valid_id(id) ? impl_->bytes[id] : kEmpty;
}

bool Tokenizer::is_special(int32_t id) const { return is_valid_id(id) && (impl_->flags[id] & kSpecial); }
bool Tokenizer::is_added(int32_t id) const { return is_valid_id(id) && (impl_->flags[id] & kAdded); }
const TokenizerConfig& Tokenizer::config() const { return impl_->config; }

// ---- streaming -------------------------------------------------------------------------------

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

std::string StreamDecoder::push(int32_t id) {
  if (!tokenizer_.is_valid_id(id) || (skip_special_ && tokenizer_.is_special(id))) return {};
  pending_ += tokenizer_.token_bytes(id);
  // Hold back only a tail that more bytes could still complete; everything before it is final
  // (complete characters, or invalid bytes that are U+FFFD whatever follows).
  const size_t keep = unicode::incomplete_tail_length(pending_);
  std::string out = unicode::lossy(std::string_view(pending_).substr(0, pending_.size() - keep));
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out = unicode::lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace r1
