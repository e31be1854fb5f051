// SAX handler for tokenizer.json: a small tree builder plus two capture modes for the
// vocabulary object and the merges array under "model".
#include "tokenizer/json_loader.h"

#include "core/error.h"

namespace r1 {

namespace {

using nlohmann::json;

class Handler : public nlohmann::json_sax<json> {
 public:
  explicit Handler(ModelParts& parts) : parts_(parts) {}

  json tree;
  std::string error;  // set when a captured entry is malformed

  bool null() override { return value(json(nullptr)); }
  bool boolean(bool v) override { return value(json(v)); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::kVocab) return vocab_id(v);
    return value(json(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::kVocab)
      return vocab_id(v > uint64_t(INT64_MAX) ? int64_t(-1) : static_cast<int64_t>(v));
    return value(json(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return value(json(v)); }
  bool string(string_t& v) override {
    if (mode_ == Mode::kMerges) return merge_string(v);
    if (mode_ == Mode::kMergePair) {
      pair_.push_back(std::move(v));
      return true;
    }
    return value(json(std::move(v)));
  }
  bool binary(binary_t&) override { return bad("binary values are not JSON"); }

  bool start_object(std::size_t) override {
    if (mode_ != Mode::kTree) return bad_entry();
    if (is_model_field("vocab")) {
      mode_ = Mode::kVocab;
      parts_.vocab.emplace();
      return true;
    }
    stack_.push_back(insert(json::object()));
    return true;
  }
  bool key(string_t& k) override {
    if (mode_ == Mode::kVocab) {
      pending_key_ = std::move(k);
      return true;
    }
    key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kTree;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kMergePair;
      pair_.clear();
      return true;
    }
    if (mode_ != Mode::kTree) return bad_entry();
    if (is_model_field("merges")) {
      mode_ = Mode::kMerges;
      parts_.merges.emplace();
      return true;
    }
    stack_.push_back(insert(json::array()));
    return true;
  }
  bool end_array() override {
    if (mode_ == Mode::kMergePair) {
      if (pair_.size() != 2) return bad_entry();
      parts_.merges->emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      mode_ = Mode::kMerges;
      return true;
    }
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kTree;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    if (error.empty()) error = fmt::format("invalid JSON: {}", e.what());
    return false;
  }

 private:
  enum class Mode { kTree, kVocab, kMerges, kMergePair };

  // True when the container about to open is the value of `name` directly under "model".
  bool is_model_field(const char* name) const {
    return stack_.size() == 2 && key_ == name && model_ && stack_[1] == model_;
  }

  json* insert(json v) {
    if (stack_.empty()) {
      tree = std::move(v);
      return &tree;
    }
    json* parent = stack_.back();
    if (parent->is_object()) {
      json& slot = (*parent)[key_];
      slot = std::move(v);
      if (stack_.size() == 1 && key_ == "model" && slot.is_object()) model_ = &slot;
      return &slot;
    }
    parent->push_back(std::move(v));
    return &parent->back();
  }
  bool value(json v) {
    if (mode_ != Mode::kTree) return bad_entry();
    insert(std::move(v));
    return true;
  }
  bool vocab_id(int64_t id) {
    parts_.vocab->emplace_back(std::move(pending_key_), id);
    return true;
  }
  bool merge_string(const std::string& s) {
    const size_t sp = s.find(' ');
    if (sp == std::string::npos)
      return bad(fmt::format("model.merges[{}]: '{}' is not two tokens separated by a space",
                             parts_.merges->size(), s));
    parts_.merges->emplace_back(s.substr(0, sp), s.substr(sp + 1));
    return true;
  }
  bool bad_entry() {
    if (mode_ == Mode::kVocab) return bad("model.vocab: expected an object of token -> integer id");
    return bad(fmt::format("model.merges[{}]: expected \"a b\" or [\"a\", \"b\"]",
                           parts_.merges ? parts_.merges->size() : 0));
  }
  bool bad(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }

  ModelParts& parts_;
  Mode mode_ = Mode::kTree;
  std::vector<json*> stack_;
  json* model_ = nullptr;
  std::string key_, pending_key_;
  std::vector<std::string> pair_;
};

}  // namespace

TokenizerJson parse_tokenizer_json(std::string_view text, const std::string& path) {
  TokenizerJson out;
  Handler handler(out.parts);
  const bool ok = json::sax_parse(text.begin(), text.end(), &handler);
  if (!ok || !handler.error.empty())
    fail("{}: {}", path, handler.error.empty() ? "invalid JSON" : handler.error);
  out.tree = std::move(handler.tree);
  return out;
}

}  // namespace r1
