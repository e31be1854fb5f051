// libFuzzer target: the streaming tool-call parser on arbitrary model output. The input is cut
// into pieces at positions taken from its first bytes; parsing it whole and in pieces must give the
// same content and calls, and streamed content must never be longer than the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "chat/tool_calls.h"
#include "core/error.h"

namespace {

struct Result {
  std::string content, args;
  std::vector<r1::chat::ToolCall> calls;
};

Result parse(const std::string& text, const std::vector<size_t>& cuts) {
  r1::chat::ToolCallParser p;
  Result r;
  size_t at = 0;
  auto take = [&](const r1::chat::ToolCallParser::Output& o) {
    r.content += o.content;
    for (const auto& d : o.deltas) r.args += d.arguments;
  };
  for (size_t cut : cuts) {
    if (cut < at || cut > text.size()) continue;
    take(p.push(std::string_view(text).substr(at, cut - at)));
    at = cut;
  }
  take(p.push(std::string_view(text).substr(at)));
  take(p.finish());
  r.calls = p.calls();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t n_cuts = data[0] % 8;
  if (size < 1 + n_cuts) return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1 + n_cuts, size - 1 - n_cuts);
  std::vector<size_t> cuts;
  size_t pos = 0;
  for (size_t i = 0; i < n_cuts; ++i) {
    pos += data[1 + i];
    cuts.push_back(pos);
  }
  const Result whole = parse(text, {});
  const Result pieces = parse(text, cuts);
  if (whole.content != pieces.content || whole.args != pieces.args || whole.calls.size() != pieces.calls.size())
    __builtin_trap();
  std::string args;
  for (size_t i = 0; i < whole.calls.size(); ++i) {
    if (whole.calls[i].name != pieces.calls[i].name || whole.calls[i].arguments != pieces.calls[i].arguments)
      __builtin_trap();
    args += whole.calls[i].arguments;
  }
  if (args != whole.args || whole.content.size() > text.size()) __builtin_trap();
  return 0;
}
