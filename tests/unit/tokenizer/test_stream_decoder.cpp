// Streaming detokenizer: characters split across tokens are held until complete, invalid bytes
// become U+FFFD exactly where the reference's whole-sequence decode puts them, and the pieces
// always add up to Tokenizer::decode.
#include <gtest/gtest.h>

#include <random>

#include "tiny_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace r1 {
namespace {

// Vocabulary = the 256 single bytes (id = byte) plus two added tokens.
Tokenizer byte_tokenizer() {
  auto j = test::tiny_json({});
  j["added_tokens"] = {test::added_token(256, "<s>", true, false),
                       test::added_token(257, "<think>", false, false)};
  return Tokenizer::from_json(j, nullptr);
}

std::string stream_all(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip,
                       std::vector<std::string>* pieces = nullptr) {
  StreamDecoder d(tok, skip);
  std::string out;
  for (int32_t id : ids) {
    std::string p = d.push(id);
    if (pieces) pieces->push_back(p);
    out += p;
  }
  std::string tail = d.finish();
  if (pieces) pieces->push_back(tail);
  return out + tail;
}

TEST(StreamDecoder, HoldsASplitCharacterUntilComplete) {
  const Tokenizer tok = byte_tokenizer();
  StreamDecoder d(tok);
  EXPECT_EQ(d.push('a'), "a");
  EXPECT_EQ(d.push(0xF0), "");  // 😀 = F0 9F 98 80
  EXPECT_EQ(d.push(0x9F), "");
  EXPECT_EQ(d.push(0x98), "");
  EXPECT_EQ(d.push(0x80), "😀");
  EXPECT_EQ(d.push(0xC3), "");  // é = C3 A9
  EXPECT_EQ(d.push(0xA9), "é");
  EXPECT_EQ(d.finish(), "");
}

TEST(StreamDecoder, UnfinishedCharacterAtTheEndBecomesOneReplacement) {
  const Tokenizer tok = byte_tokenizer();
  StreamDecoder d(tok);
  EXPECT_EQ(d.push('x'), "x");
  EXPECT_EQ(d.push(0xE4), "");
  EXPECT_EQ(d.push(0xB8), "");
  EXPECT_EQ(d.finish(), "\uFFFD");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{'x', 0xE4, 0xB8}, false), "x\uFFFD");
}

TEST(StreamDecoder, InvalidBytesAreReplacedAsSoonAsTheyAreKnownBad) {
  const Tokenizer tok = byte_tokenizer();
  StreamDecoder d(tok);
  EXPECT_EQ(d.push(0xFF), "\uFFFD");           // can never start a character
  EXPECT_EQ(d.push(0xC3), "");                 // could be é...
  EXPECT_EQ(d.push('a'), "\uFFFD" "a");        // ...but was not
  EXPECT_EQ(d.push(0xE4), "");
  EXPECT_EQ(d.push(0xB8), "");
  EXPECT_EQ(d.push(0xF0), "\uFFFD");           // E4 B8 cut short by a new lead byte
  EXPECT_EQ(d.finish(), "\uFFFD");
}

TEST(StreamDecoder, SkipsSpecialTokensOnlyWhenAsked) {
  const Tokenizer tok = byte_tokenizer();
  const std::vector<int32_t> ids = {256, 'h', 'i', 257, 0xC3, 256, 0xA9};
  EXPECT_EQ(stream_all(tok, ids, false), tok.decode(ids, false));
  EXPECT_EQ(stream_all(tok, ids, true), tok.decode(ids, true));
  EXPECT_EQ(stream_all(tok, ids, true), "hi<think>é");  // the skipped token does not split é
}

TEST(StreamDecoder, RandomByteStreamsAddUpToDecode) {
  const Tokenizer tok = byte_tokenizer();
  std::mt19937 rng(42);
  const std::string sample = "aé世😀\u0301";
  for (int rep = 0; rep < 2000; ++rep) {
    std::vector<int32_t> ids;
    const int n = rng() % 24;
    for (int i = 0; i < n; ++i) {
      const int r = rng() % 10;
      if (r < 6)
        ids.push_back(static_cast<uint8_t>(sample[rng() % sample.size()]));  // often valid runs
      else if (r < 9)
        ids.push_back(rng() % 256);
      else
        ids.push_back(256 + rng() % 2);
    }
    for (bool skip : {false, true}) {
      std::vector<std::string> pieces;
      ASSERT_EQ(stream_all(tok, ids, skip, &pieces), tok.decode(ids, skip));
      for (const std::string& p : pieces) ASSERT_FALSE(unicode::find_invalid_utf8(p));
    }
  }
}

TEST(StreamDecoder, RealVocabularySplitsEmojiAcrossTokens) {
  const Tokenizer tok = Tokenizer::from_dir(test::data_dir("deepseek-r1"));
  const std::string text = "Hi 👨‍👩‍👧 你好 🇫🇷!";
  const auto ids = tok.encode(text, false);
  std::vector<std::string> pieces;
  EXPECT_EQ(stream_all(tok, ids, false, &pieces), text);
  int held = 0;  // tokens that ended inside a character, so their push returned nothing
  for (size_t i = 0; i + 1 < pieces.size(); ++i) {
    EXPECT_FALSE(unicode::find_invalid_utf8(pieces[i]));
    held += pieces[i].empty();
  }
  EXPECT_GT(held, 0) << "the sample should split some character across tokens";
}

}  // namespace
}  // namespace r1
