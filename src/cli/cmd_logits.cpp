// `r1 logits`: the raw model output for given token ids, one row per position — from one full
// prefill, or with --decode one token at a time through the KV cache. No tokenizer needed.
#include <fmt/format.h>

#include <cstdio>
#include <sstream>

#include "cli/command.h"
#include "cli/common.h"
#include "core/error.h"
#include "models/model.h"

namespace r1::cli {
namespace {

struct LogitsOptions {
  ModelOptions model;
  std::string ids;
  bool decode = false;
  int threads = 1;
};

std::vector<int32_t> parse_ids(const std::string& text, int64_t vocab) {
  std::vector<int32_t> ids;
  std::string token;
  std::istringstream in(text);
  while (in >> token) {
    for (char& c : token)
      if (c == ',') c = ' ';
    std::istringstream part(token);
    std::string piece;
    while (part >> piece) {
      size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(piece, &used);
      } catch (const std::exception&) {
        fail("--ids: '{}' is not a token id", piece);
      }
      if (used != piece.size()) fail("--ids: '{}' is not a token id", piece);
      if (v < 0 || v >= vocab) fail("--ids: token id {} is outside the vocabulary [0, {})", v, vocab);
      ids.push_back(int32_t(v));
    }
  }
  if (ids.empty()) fail("--ids: no token ids given");
  return ids;
}

void print_rows(std::FILE* out, const FloatBuffer& rows, int64_t n_rows, int64_t vocab, bool& first_row) {
  fmt::memory_buffer buf;
  for (int64_t r = 0; r < n_rows; ++r) {
    buf.clear();
    fmt::format_to(std::back_inserter(buf), "{}[", first_row ? "" : ",");
    first_row = false;
    for (int64_t v = 0; v < vocab; ++v) fmt::format_to(std::back_inserter(buf), "{}{}", v ? "," : "", rows[size_t(r * vocab + v)]);
    buf.push_back(']');
    std::fwrite(buf.data(), 1, buf.size(), out);
  }
}

int run_logits(const LogitsOptions& o) {
  auto model = load_model(resolve_model_path(o.model.model), {o.model.load_mode()});
  const int64_t vocab = model->info().vocab_size;
  std::vector<int32_t> ids = parse_ids(o.ids, vocab);
  const int64_t n = int64_t(ids.size());
  if (n > model->info().max_position_embeddings)
    fail("--ids: {} tokens exceed the model's context of {}", n, model->info().max_position_embeddings);
  ThreadPool pool(o.threads);
  KvCache cache(model->kv_layout(), n);
  KvSeq seq;
  R1_CHECK(seq.reserve(cache, int32_t(n)));
  std::fputs("{\"logits\": [", stdout);
  bool first = true;
  FloatBuffer logits;
  if (!o.decode) {
    logits.resize(size_t(n * vocab));
    SeqChunk chunk{ids, &seq, /*all_logits=*/true};
    model->forward(pool, {&chunk, 1}, cache, MatView{logits.data(), n, vocab, vocab});
    print_rows(stdout, logits, n, vocab, first);
  } else {
    logits.resize(size_t(vocab));
    for (int64_t i = 0; i < n; ++i) {
      SeqChunk chunk{std::span<const int32_t>(ids).subspan(size_t(i), 1), &seq, false};
      model->forward(pool, {&chunk, 1}, cache, MatView{logits.data(), 1, vocab, vocab});
      print_rows(stdout, logits, 1, vocab, first);
    }
  }
  std::fputs("]}\n", stdout);
  return 0;
}

R1_COMMAND("logits", "Print the logits of every position for token ids (JSON)", [](CLI::App& app) {
  auto o = std::make_shared<LogitsOptions>();
  add_model_options(app, o->model, /*required=*/false);
  app.add_option("--ids", o->ids, "Token ids, separated by spaces or commas")->required();
  app.add_flag("--decode", o->decode, "Compute the rows one token at a time through the KV cache");
  add_threads_option(app, o->threads);
  return [o] { return run_logits(*o); };
});

}  // namespace
}  // namespace r1::cli
