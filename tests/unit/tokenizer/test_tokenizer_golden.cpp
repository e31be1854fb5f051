// Golden tokenization: every line of tests/data/tokenizers/<model>/golden_public.jsonl (ids from
// the Hugging Face tokenizers library) must give the same ids, decoded and decoded_skip_special.
// One test per (model, category) so a failure names where to look. Nothing is skipped.
// Unicode versions: the reference's Oniguruma has Unicode 16.0 tables, Debian 12's PCRE2 has 14.0
// (test_tokenizer.cpp pins this). random_codepoints has three code points assigned after 14.0
// (U+2EE14 in 15.1, U+1CD37 and U+13C18 in 16.0), but in those lines the
// pieces come out the same either way, so every public line matches. A held-out line can differ
// when such a character decides a split (a letter after a space, say).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "tokenizer/tokenizer.h"

namespace r1 {
namespace {

const char* const kModels[] = {"deepseek-v3", "deepseek-r1", "deepseek-r1-distill-qwen",
                               "deepseek-r1-distill-llama"};
const char* const kCategories[] = {
    "llamacpp_inp", "prose_en", "code",     "numbers",          "multilingual",
    "emoji",        "combining", "whitespace", "punctuation",   "special_literals",
    "long",         "random_unicode", "random_ascii", "random_codepoints"};

std::string dir_of(const std::string& model) {
  return std::string(R1_TEST_DATA) + "/tokenizers/" + model;
}

const Tokenizer& tokenizer_for(const std::string& model) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& t = cache[model];
  if (!t) t = std::make_unique<Tokenizer>(Tokenizer::from_dir(dir_of(model)));
  return *t;
}

std::vector<nlohmann::json> lines_of(const std::string& model, const std::string& category) {
  std::ifstream in(dir_of(model) + "/golden_public.jsonl");
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["category"] == category) out.push_back(std::move(j));
  }
  return out;
}

std::string show_ids(const std::vector<int32_t>& ids) { return nlohmann::json(ids).dump(); }

class GoldenTokenization
    : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(GoldenTokenization, MatchesReference) {
  const std::string model = std::get<0>(GetParam()), category = std::get<1>(GetParam());
  const Tokenizer& tok = tokenizer_for(model);
  const auto lines = lines_of(model, category);
  ASSERT_FALSE(lines.empty()) << "no golden lines for " << model << " / " << category;
  int failures = 0;
  for (const auto& l : lines) {
    const std::string text = l["text"];
    const bool special = l["add_special_tokens"];
    const auto expected = l["ids"].get<std::vector<int32_t>>();
    const auto ids = tok.encode(text, special);
    const std::string where = nlohmann::json(text).dump().substr(0, 200) +
                              (special ? " (add_special_tokens)" : "");
    EXPECT_EQ(show_ids(ids), show_ids(expected)) << where;
    EXPECT_EQ(tok.decode(expected, false), l["decoded"].get<std::string>()) << where;
    EXPECT_EQ(tok.decode(expected, true), l["decoded_skip_special"].get<std::string>()) << where;
    failures += ids != expected;
  }
  RecordProperty("lines", static_cast<int>(lines.size()));
  EXPECT_EQ(failures, 0) << failures << " of " << lines.size() << " lines differ";
}

INSTANTIATE_TEST_SUITE_P(
    Tokenizers, GoldenTokenization,
    ::testing::Combine(::testing::ValuesIn(kModels), ::testing::ValuesIn(kCategories)),
    [](const auto& info) {
      std::string name = std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
      for (char& c : name)
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
      return name;
    });

// Every line of every file belongs to one of the categories above, so none goes unchecked.
TEST(GoldenTokenization, EveryLineHasAKnownCategory) {
  const std::set<std::string> known(std::begin(kCategories), std::end(kCategories));
  for (const char* model : kModels) {
    std::ifstream in(dir_of(model) + "/golden_public.jsonl");
    ASSERT_TRUE(in) << model;
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      EXPECT_TRUE(known.count(nlohmann::json::parse(line)["category"].get<std::string>()))
          << model << " line " << n;
    }
    EXPECT_GT(n, 1000u) << model;
  }
}

}  // namespace
}  // namespace r1
