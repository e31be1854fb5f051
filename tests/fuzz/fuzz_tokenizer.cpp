// Fuzz target for the tokenizer. The first byte picks a mode:
//   0-2  encode the rest with the R1 / Qwen-distill (NFC) / Llama-distill tokenizer: raw bytes
//        either encode or give r1::Error (invalid UTF-8 only); their lossy UTF-8 form must
//        round-trip through encode -> decode (exactly, or up to NFC for the NFC tokenizer);
//   3    the rest is a tokenizer.json: it loads or gives r1::Error, and what loads can encode;
//   4    the rest is token ids for the streaming decoder, which must add up to decode().
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

const r1::Tokenizer& tokenizer(int which) {
  static const char* const kDirs[] = {"deepseek-r1", "deepseek-r1-distill-qwen",
                                      "deepseek-r1-distill-llama"};
  static r1::Tokenizer* toks[3] = {};
  if (!toks[which])
    toks[which] = new r1::Tokenizer(
        r1::Tokenizer::from_dir(std::string(R1_TEST_DATA) + "/tokenizers/" + kDirs[which]));
  return *toks[which];
}

[[noreturn]] void die(const char* what, std::string_view text) {
  std::fprintf(stderr, "fuzz_tokenizer: %s for input %s\n", what,
               nlohmann::json(r1::unicode::lossy(text)).dump().c_str());
  std::abort();
}

std::string nfc(std::string_view s) {
  std::string out;
  r1::unicode::normalize(r1::unicode::NormalForm::kNfc, s, out);
  return out;
}

void check_encode(int which, std::string_view data) {
  const r1::Tokenizer& tok = tokenizer(which);
  const bool valid = !r1::unicode::find_invalid_utf8(data);
  try {
    tok.encode(data, true);
    if (!valid) die("invalid UTF-8 was accepted", data);
  } catch (const r1::Error&) {
    if (valid) die("valid UTF-8 was rejected", data);
  }
  const std::string text = r1::unicode::lossy(data);
  const std::vector<int32_t> ids = tok.encode(text, false);
  const std::string decoded = tok.decode(ids, false);
  if (which == 1) {
    // Pieces between added tokens are normalized separately, so the decoded text is the NFC
    // form piecewise; NFC of the whole is the same either way, and it is a fixed point.
    if (nfc(decoded) != nfc(text)) die("NFC round trip differs", text);
    if (tok.decode(tok.encode(decoded, false), false) != decoded) die("not a fixed point", text);
  } else if (decoded != text) {
    die("round trip differs", text);
  }
}

void check_json(std::string_view data) {
  const nlohmann::json j = nlohmann::json::parse(data.begin(), data.end(), nullptr, false);
  if (j.is_discarded()) return;
  try {
    const r1::Tokenizer tok = r1::Tokenizer::from_json(j, nullptr);
    const auto ids = tok.encode("Hello, world! 123 你好 <s>", true);
    tok.decode(ids, true);
  } catch (const r1::Error&) {
  }
}

void check_stream(std::string_view data) {
  const r1::Tokenizer& tok = tokenizer(0);
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 2 < data.size(); i += 3) {
    const uint32_t v = uint8_t(data[i]) | uint32_t(uint8_t(data[i + 1])) << 8 |
                       uint32_t(uint8_t(data[i + 2])) << 16;
    ids.push_back(static_cast<int32_t>(v % 140000) - 100);  // includes invalid ids
  }
  for (bool skip : {false, true}) {
    r1::StreamDecoder d(tok, skip);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string piece = d.push(id);
      if (r1::unicode::find_invalid_utf8(piece)) die("stream piece is not UTF-8", data);
      streamed += piece;
    }
    streamed += d.finish();
    if (streamed != tok.decode(ids, skip)) die("stream differs from decode", data);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  const int mode = bytes[0] % 5;
  if (mode < 3)
    check_encode(mode, data);
  else if (mode == 3)
    check_json(data);
  else
    check_stream(data);
  return 0;
}
