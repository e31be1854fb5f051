// Added-token matching, normalizers and pre-tokenizers with the reference library's semantics
// (split behaviours, empty pieces dropped, per-piece prefix space, byte-level mapping).
#include "tokenizer/pipeline.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>

#include "core/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/json_util.h"

namespace r1 {

using tokjson::json;

namespace {

// The GPT-2 pattern a ByteLevel pre-tokenizer with use_regex applies.
constexpr std::string_view kByteLevelPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Start of the character that ends at `end` (> 0).
size_t prev_char_start(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

char32_t char_before(std::string_view s, size_t end) {
  const size_t i = prev_char_start(s, end);
  const size_t n = unicode::valid_sequence_length(s, i);
  return n ? unicode::decode_at(s, i, n) : 0;
}

char32_t char_at(std::string_view s, size_t i, size_t* len) {
  const size_t n = unicode::valid_sequence_length(s, i);
  *len = n ? n : 1;
  return n ? unicode::decode_at(s, i, n) : 0;
}

}  // namespace

// ---- added tokens ----------------------------------------------------------------------------

AddedMatcher::AddedMatcher() { root_.fill(-1); }

int32_t AddedMatcher::child(int32_t node, uint8_t b) const {
  for (const auto& [byte, next] : nodes_[node].children)
    if (byte == b) return next;
  return -1;
}

void AddedMatcher::add(std::string_view pattern, const AddedTokenSpec& token) {
  if (pattern.empty()) return;  // an empty pattern can never be cut out
  const auto first = static_cast<uint8_t>(pattern[0]);
  int32_t node = root_[first];
  if (node < 0) {
    node = root_[first] = static_cast<int32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  for (size_t i = 1; i < pattern.size(); ++i) {
    const auto b = static_cast<uint8_t>(pattern[i]);
    int32_t next = child(node, b);
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      nodes_.emplace_back();
      nodes_[node].children.emplace_back(b, next);
    }
    node = next;
  }
  // Two tokens with the same pattern: the later one wins, like a rebuilt trie would.
  nodes_[node].token = static_cast<int32_t>(tokens_.size());
  tokens_.push_back(token);
}

void AddedMatcher::split(std::string_view text, std::vector<Segment>& out) const {
  const auto n = static_cast<uint32_t>(text.size());
  uint32_t done = 0;  // text before this offset is already emitted
  uint32_t i = 0;
  while (i < n) {
    int32_t node = root_[static_cast<uint8_t>(text[i])];
    if (node < 0) {
      ++i;
      continue;
    }
    int32_t best = nodes_[node].token;
    uint32_t best_end = i + 1;
    for (uint32_t k = i + 1; k < n; ++k) {
      node = child(node, static_cast<uint8_t>(text[k]));
      if (node < 0) break;
      if (nodes_[node].token >= 0) {
        best = nodes_[node].token;
        best_end = k + 1;
      }
    }
    if (best < 0) {
      ++i;
      continue;
    }
    const AddedTokenSpec& tok = tokens_[best];
    uint32_t start = i, stop = best_end;
    i = best_end;  // the next match is searched after this one even if it is rejected below
    if (tok.single_word) {
      const bool word_before = start > 0 && unicode::is_word_char(char_before(text, start));
      size_t len;
      const bool word_after = stop < n && unicode::is_word_char(char_at(text, stop, &len));
      if (word_before || word_after) continue;
    }
    if (tok.lstrip) {
      while (start > done) {
        if (!unicode::is_white_space(char_before(text, start))) break;
        start = static_cast<uint32_t>(prev_char_start(text, start));
      }
    }
    if (tok.rstrip) {
      size_t len;
      while (stop < n && unicode::is_white_space(char_at(text, stop, &len)))
        stop += static_cast<uint32_t>(len);
      i = stop;
    }
    if (done < start) out.push_back({done, start, -1});
    out.push_back({start, stop, tok.id});
    done = stop;
  }
  if (done < n) out.push_back({done, n, -1});
}

// ---- normalizers -----------------------------------------------------------------------------

namespace {
void add_normalizer(const json& j, const std::string& path,
                    std::vector<unicode::NormalForm>& forms) {
  const std::string type = tokjson::type_of(j, path);
  if (type == "Sequence") {
    const json& list = tokjson::field(j, "normalizers", path);
    if (!list.is_array()) fail("tokenizer.json: {}.normalizers: expected an array", path);
    for (size_t i = 0; i < list.size(); ++i)
      add_normalizer(list[i], fmt::format("{}.normalizers[{}]", path, i), forms);
  } else if (type == "NFC") {
    forms.push_back(unicode::NormalForm::kNfc);
  } else if (type == "NFD") {
    forms.push_back(unicode::NormalForm::kNfd);
  } else if (type == "NFKC") {
    forms.push_back(unicode::NormalForm::kNfkc);
  } else if (type == "NFKD") {
    forms.push_back(unicode::NormalForm::kNfkd);
  } else {
    fail(ErrorKind::kUnsupported, "tokenizer.json: {}: normalizer '{}' is not supported", path,
         type);
  }
}
}  // namespace

Normalizer::Normalizer(const json& j) {
  if (!j.is_null()) add_normalizer(j, "normalizer", forms_);
}

std::string_view Normalizer::apply(std::string_view text, std::string& storage) const {
  // ASCII is unchanged by every form. Code points below U+0300 (lead bytes below 0xCC) are also
  // unchanged by NFC and never combine with a following character, so NFC can skip them too.
  uint8_t max_byte = 0;
  for (const char c : text) max_byte = std::max(max_byte, static_cast<uint8_t>(c));
  if (max_byte < 0x80) return text;
  if (max_byte < 0xCC) {
    bool only_nfc = true;
    for (auto f : forms_) only_nfc &= f == unicode::NormalForm::kNfc;
    if (only_nfc) return text;
  }
  std::string tmp;
  std::string_view cur = text;
  for (auto form : forms_) {
    unicode::normalize(form, cur, tmp);
    storage.swap(tmp);
    cur = storage;
  }
  return cur;
}

// ---- pre-tokenizers --------------------------------------------------------------------------

struct PreTokenizer::Step {
  enum class Kind { kSplit, kByteLevel, kDigits } kind;
  std::unique_ptr<Regex> regex;  // Split pattern, or ByteLevel's own when use_regex
  Behavior behavior = Behavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;
  bool individual_digits = false;
  bool map_bytes = false;  // ByteLevel not last: write the alphabet form into the buffer
};

PreTokenizer::PreTokenizer(const json& j) {
  if (!j.is_null()) add_json(j);
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (steps_[i].kind != Step::Kind::kByteLevel) continue;
    has_byte_level_ = true;
    if (i + 1 == steps_.size())
      raw_bytes_out_ = true;
    else
      steps_[i].map_bytes = true;
  }
}

PreTokenizer::~PreTokenizer() = default;

namespace {
PreTokenizer::Behavior parse_behavior(const json& j, const std::string& path) {
  const std::string b = tokjson::get_string(j, "behavior", path);
  using B = PreTokenizer::Behavior;
  if (b == "Removed") return B::kRemoved;
  if (b == "Isolated") return B::kIsolated;
  if (b == "MergedWithPrevious") return B::kMergedWithPrevious;
  if (b == "MergedWithNext") return B::kMergedWithNext;
  if (b == "Contiguous") return B::kContiguous;
  fail("tokenizer.json: {}.behavior: unknown split behavior '{}'", path, b);
}
}  // namespace

void PreTokenizer::add_json(const json& j) {
  // Flatten nested Sequences in order.
  std::function<void(const json&, const std::string&)> add = [&](const json& s,
                                                                  const std::string& path) {
    const std::string type = tokjson::type_of(s, path);
    Step step{};
    if (type == "Sequence") {
      const json& list = tokjson::field(s, "pretokenizers", path);
      if (!list.is_array()) fail("tokenizer.json: {}.pretokenizers: expected an array", path);
      for (size_t i = 0; i < list.size(); ++i)
        add(list[i], fmt::format("{}.pretokenizers[{}]", path, i));
      return;
    } else if (type == "Split") {
      step.kind = Step::Kind::kSplit;
      const json& pat = tokjson::field(s, "pattern", path);
      if (const json* re = tokjson::optional_field(pat, "Regex")) {
        if (!re->is_string()) fail("tokenizer.json: {}.pattern.Regex: expected a string", path);
        step.regex = std::make_unique<Regex>(re->get<std::string>());
      } else if (const json* str = tokjson::optional_field(pat, "String")) {
        if (!str->is_string()) fail("tokenizer.json: {}.pattern.String: expected a string", path);
        step.regex = std::make_unique<Regex>(str->get<std::string>(), /*literal=*/true);
      } else {
        fail("tokenizer.json: {}.pattern: expected {{\"Regex\": ...}} or {{\"String\": ...}}",
             path);
      }
      step.behavior = parse_behavior(s, path);
      step.invert = tokjson::get_bool(s, "invert", false, path);
    } else if (type == "ByteLevel") {
      step.kind = Step::Kind::kByteLevel;
      step.add_prefix_space = tokjson::get_bool(s, "add_prefix_space", true, path);
      if (tokjson::get_bool(s, "use_regex", true, path))
        step.regex = std::make_unique<Regex>(kByteLevelPattern);
    } else if (type == "Digits") {
      step.kind = Step::Kind::kDigits;
      step.individual_digits = tokjson::get_bool(s, "individual_digits", false, path);
    } else {
      fail(ErrorKind::kUnsupported, "tokenizer.json: {}: pre-tokenizer '{}' is not supported",
           path, type);
    }
    steps_.push_back(std::move(step));
  };
  add(j, "pre_tokenizer");
}

namespace {

// (range, is_match) parts of one piece -> pieces, following a split behavior. Ranges are
// absolute buffer offsets; empty results are dropped (as the reference drops empty splits).
struct Part {
  uint32_t begin, end;
  bool match;
};

void apply_behavior(std::vector<Part>& parts, PreTokenizer::Behavior behavior,
                    std::vector<Piece>& out) {
  using B = PreTokenizer::Behavior;
  auto emit = [&](uint32_t b, uint32_t e) {
    if (e > b) out.push_back({b, e});
  };
  switch (behavior) {
    case B::kRemoved:
      for (const Part& p : parts)
        if (!p.match) emit(p.begin, p.end);
      break;
    case B::kIsolated:
      for (const Part& p : parts) emit(p.begin, p.end);
      break;
    case B::kContiguous:
    case B::kMergedWithPrevious: {
      const bool contiguous = behavior == B::kContiguous;
      std::vector<Part> merged;
      bool prev_match = false;
      for (const Part& p : parts) {
        const bool join = contiguous ? (p.match == prev_match) : (p.match && !prev_match);
        if (join && !merged.empty())
          merged.back().end = p.end;
        else
          merged.push_back(p);
        prev_match = p.match;
      }
      for (const Part& p : merged) emit(p.begin, p.end);
      break;
    }
    case B::kMergedWithNext: {
      std::vector<Part> merged;  // built right to left
      bool prev_match = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->match && !prev_match && !merged.empty())
          merged.back().begin = it->begin;
        else
          merged.push_back(*it);
        prev_match = it->match;
      }
      for (auto it = merged.rbegin(); it != merged.rend(); ++it) emit(it->begin, it->end);
      break;
    }
  }
}

}  // namespace

void PreTokenizer::run(std::string& buf, std::vector<Piece>& pieces) const {
  pieces.clear();
  if (buf.empty()) return;
  pieces.push_back({0, static_cast<uint32_t>(buf.size())});
  std::vector<Piece> next;
  std::vector<Part> parts;
  std::vector<std::pair<uint32_t, uint32_t>> matches;
  const ByteAlphabet& alphabet = ByteAlphabet::get();

  auto split_regex = [&](const Regex& re, const Piece& p, Behavior behavior, bool invert) {
    matches.clear();
    re.find_all(std::string_view(buf).substr(p.begin, p.end - p.begin), matches);
    if (matches.empty() && !invert && behavior != Behavior::kRemoved) {
      next.push_back(p);  // no match: the piece stays whole under every keeping behavior
      return;
    }
    parts.clear();
    uint32_t prev = p.begin;
    for (auto [b, e] : matches) {
      b += p.begin;
      e += p.begin;
      if (prev != b) parts.push_back({prev, b, invert});
      parts.push_back({b, e, !invert});
      prev = e;
    }
    if (prev != p.end) parts.push_back({prev, p.end, invert});
    apply_behavior(parts, behavior, next);
  };

  for (const Step& step : steps_) {
    next.clear();
    switch (step.kind) {
      case Step::Kind::kSplit:
        for (const Piece& p : pieces) split_regex(*step.regex, p, step.behavior, step.invert);
        break;
      case Step::Kind::kDigits:
        for (const Piece& p : pieces) {
          parts.clear();
          for (uint32_t i = p.begin; i < p.end;) {
            size_t len;
            const bool digit = unicode::is_numeric(char_at(buf, i, &len));
            parts.push_back({i, static_cast<uint32_t>(i + len), digit});
            i += static_cast<uint32_t>(len);
          }
          // Non-digit characters merge into runs; digits stay one per part when individual.
          std::vector<Part> runs;
          for (const Part& part : parts) {
            if (!runs.empty() && runs.back().match == part.match &&
                (!part.match || !step.individual_digits))
              runs.back().end = part.end;
            else
              runs.push_back(part);
          }
          apply_behavior(runs, Behavior::kIsolated, next);
        }
        break;
      case Step::Kind::kByteLevel:
        for (Piece p : pieces) {
          if (step.add_prefix_space && buf[p.begin] != ' ') {
            std::string spaced(1, ' ');
            spaced.append(buf, p.begin, p.end - p.begin);
            const auto start = static_cast<uint32_t>(buf.size());
            buf += spaced;
            p = {start, static_cast<uint32_t>(buf.size())};
          }
          if (step.regex)
            split_regex(*step.regex, p, Behavior::kIsolated, false);
          else
            next.push_back(p);
        }
        if (step.map_bytes) {
          for (Piece& p : next) {
            const auto start = static_cast<uint32_t>(buf.size());
            std::string mapped;
            alphabet.encode_string(std::string_view(buf).substr(p.begin, p.end - p.begin),
                                   mapped);
            buf += mapped;
            p = {start, static_cast<uint32_t>(buf.size())};
          }
        }
        break;
    }
    pieces.swap(next);
  }
}

}  // namespace r1
