// Constrained-decoding benchmark on a real vocabulary (DeepSeek-R1, 129,280 ids): the one-time
// cost of preprocessing the vocabulary and compiling each schema, then the time of fill_mask and
// accept_token per token while walking valid documents token by token (greedy longest token that
// the mask allows). Reports mean / p50 / p99 / max of wall time and, because the machine may be
// shared, of the thread's CPU time as well; asserts nothing.
#include <fmt/format.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "grammar/grammar.h"
#include "hf_vocab.h"

using r1::grammar::CompiledGrammar;
using r1::grammar::Grammar;
using r1::grammar::GrammarBuilder;
using r1::grammar::Matcher;
using r1::grammar::Vocabulary;
using Clock = std::chrono::steady_clock;

namespace {

struct Case {
  std::string name;
  std::function<Grammar()> grammar;
  std::vector<std::string> documents;
};

const char* kPersonSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 80},
    "age": {"type": "integer", "minimum": 0, "maximum": 150},
    "email": {"type": "string", "format": "email"},
    "status": {"enum": ["active", "inactive", "pending"]},
    "address": {
      "type": "object",
      "properties": {
        "street": {"type": "string"},
        "city": {"type": "string"},
        "zip": {"type": "string", "pattern": "^[0-9]{5}(-[0-9]{4})?$"},
        "country": {"type": "string", "enum": ["US", "CA", "MX"]}
      },
      "required": ["street", "city", "zip"],
      "additionalProperties": false
    },
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 10},
    "score": {"type": "number", "minimum": 0, "maximum": 1}
  },
  "required": ["name", "age", "address"],
  "additionalProperties": false
})";

const char* kCatalogSchema = R"({
  "type": "object",
  "properties": {
    "products": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "properties": {
          "id": {"type": "string", "format": "uuid"},
          "name": {"type": "string", "maxLength": 100},
          "price": {"type": "number", "minimum": 0},
          "currency": {"enum": ["USD", "EUR", "JPY"]},
          "categories": {"type": "array", "items": {"enum": ["books", "toys", "food", "garden"]}},
          "in_stock": {"type": "boolean"},
          "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4,6}$"}
        },
        "required": ["id", "name", "price", "in_stock"],
        "additionalProperties": false
      }
    },
    "updated": {"type": "string", "format": "date-time"}
  },
  "required": ["products"],
  "additionalProperties": false
})";

const char* kEventSchema = R"({
  "type": "object",
  "properties": {
    "title": {"type": "string"},
    "date": {"type": "string", "format": "date"},
    "start": {"type": "string", "format": "time"},
    "location": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "attendees": {
      "type": "array",
      "items": {
        "type": "object",
        "properties": {
          "name": {"type": "string"},
          "role": {"type": "string", "enum": ["host", "guest", "speaker"]},
          "rsvp": {"type": "boolean"}
        },
        "required": ["name", "role"],
        "additionalProperties": false
      }
    },
    "notes": {"type": "string", "maxLength": 500},
    "priority": {"type": "integer", "minimum": 1, "maximum": 5}
  },
  "required": ["title", "date", "attendees"],
  "additionalProperties": false
})";

const char* kTreeSchema = R"({
  "$defs": {
    "node": {
      "type": "object",
      "properties": {
        "name": {"type": "string"},
        "size": {"type": "integer", "minimum": 0},
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}
      },
      "required": ["name"],
      "additionalProperties": false
    }
  },
  "$ref": "#/$defs/node"
})";

std::vector<Case> cases() {
  std::vector<Case> out;
  out.push_back({"person (nested object, enum, pattern, format, bounds)",
                 [] { return Grammar::from_json_schema(kPersonSchema); },
                 {R"({"name": "Ada Lovelace", "age": 36, "email": "ada@analytical.engine.org", "status": "active", "address": {"street": "12 St James's Square", "city": "London", "zip": "12345", "country": "US"}, "tags": ["math", "poetry", "engines"], "score": 0.975})",
                  "{\n  \"name\": \"Zoë Müller-Schmidt\",\n  \"age\": 29,\n  \"address\": {\n    \"street\": \"Hauptstraße 5\",\n    \"city\": \"Zürich\",\n    \"zip\": \"80331-1234\"\n  },\n  \"tags\": [\n    \"配達\",\n    \"rust\"\n  ]\n}"}});
  out.push_back({"catalog (array of objects, uuid, date-time, pattern)",
                 [] { return Grammar::from_json_schema(kCatalogSchema); },
                 {R"({"products": [{"id": "3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b", "name": "The Art of Computer Programming, Volume 1", "price": 89.99, "currency": "USD", "categories": ["books"], "in_stock": true, "sku": "BKS-00123"}, {"id": "a1b2c3d4-e5f6-4789-abcd-ef0123456789", "name": "Wooden train set", "price": 45, "categories": ["toys", "garden"], "in_stock": false}], "updated": "2024-03-15T09:30:00Z"})",
                  "{\n    \"products\": [\n        {\n            \"id\": \"00000000-0000-4000-8000-000000000000\",\n            \"name\": \"Tomato seeds (heirloom, 50 pack)\",\n            \"price\": 3.5,\n            \"currency\": \"EUR\",\n            \"in_stock\": true\n        }\n    ]\n}"}});
  out.push_back({"event (anyOf null, date/time, nested array)",
                 [] { return Grammar::from_json_schema(kEventSchema); },
                 {R"({"title": "Quarterly planning", "date": "2024-02-29", "start": "14:30:00+01:00", "location": null, "attendees": [{"name": "Grace", "role": "host", "rsvp": true}, {"name": "Linus", "role": "guest"}, {"name": "Barbara", "role": "speaker", "rsvp": false}], "notes": "Bring the Q1 numbers; we will discuss \"growth\" and hiring.\nAlso: lunch.", "priority": 2})",
                  R"({"title":"Standup","date":"2024-12-31","location":"Room 4","attendees":[]})"}});
  out.push_back({"tree (recursive $ref)", [] { return Grammar::from_json_schema(kTreeSchema); },
                 {R"({"name": "root", "size": 3, "children": [{"name": "src", "children": [{"name": "main.cpp", "size": 1024}, {"name": "util.h", "size": 77}]}, {"name": "README.md", "size": 4096, "children": []}]})"}});
  out.push_back({"json_object (any JSON object)", [] { return Grammar::any_json_object(); },
                 {R"({"query": "weather in Paris", "results": [{"temp_c": 18.5, "conditions": ["cloudy", "light rain"], "wind": {"speed": 12, "dir": "SW"}}], "ok": true, "error": null})",
                  "{\n  \"a\": [1, 2, 3, {\"b\": [true, false, null]}],\n  \"long text\": \"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.\"\n}"}});
  out.push_back({"tool calls (special tokens + two argument schemas)",
                 [] {
                   GrammarBuilder b;
                   auto weather = b.json_schema(nlohmann::ordered_json::parse(
                       R"({"type":"object","properties":{"location":{"type":"string"},"unit":{"enum":["celsius","fahrenheit"]}},"required":["location"],"additionalProperties":false})"));
                   auto search = b.json_schema(nlohmann::ordered_json::parse(
                       R"({"type":"object","properties":{"query":{"type":"string"},"max_results":{"type":"integer","minimum":1,"maximum":50}},"required":["query"],"additionalProperties":false})"));
                   auto call = [&](const char* name, GrammarBuilder::Expr args) {
                     return b.seq({b.literal(std::string(name) + "\n```json\n"), args,
                                   b.literal("\n```")});
                   };
                   auto one = b.seq({b.token("<｜tool▁call▁begin｜>"), b.literal("function"),
                                     b.token("<｜tool▁sep｜>"),
                                     b.choice({call("get_weather", weather), call("web_search", search)}),
                                     b.token("<｜tool▁call▁end｜>")});
                   return b.build(b.seq({b.token("<｜tool▁calls▁begin｜>"),
                                         b.repeat(b.seq({one, b.optional(b.literal("\n"))}), 1, -1),
                                         b.token("<｜tool▁calls▁end｜>")}));
                 },
                 {"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"location\": \"Tokyo\", \"unit\": \"celsius\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>web_search\n```json\n{\"query\": \"cherry blossom forecast 2025\", \"max_results\": 5}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"}});
  return out;
}

struct Stats {
  std::vector<double> mask_us, mask_cpu_us, accept_us;
};

// CPU time of this thread (unaffected by other processes competing for the cores).
double cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = std::string(R1_TEST_DATA) + "/tokenizers/deepseek-r1/tokenizer.json";
  int repeats = 5;
  bool json_out = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--tokenizer") && i + 1 < argc) path = argv[++i];
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--json")) json_out = true;
    else {
      fmt::print(stderr, "usage: bench_grammar [--tokenizer tokenizer.json] [--repeats N] [--json]\n");
      return 2;
    }
  }
  auto t0 = Clock::now();
  auto hf = r1::grammar::testing::load_hf_vocab(path, 129280, "<｜end▁of▁sentence｜>");
  auto t1 = Clock::now();
  double vocab_cpu0 = cpu_us();
  auto vocab = std::make_shared<Vocabulary>(hf.tokens, hf.eos_ids, hf.special_ids);
  double vocab_cpu_ms = (cpu_us() - vocab_cpu0) / 1e3;
  auto t2 = Clock::now();
  double load_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  double vocab_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
  std::unordered_map<std::string, int32_t> by_bytes;
  size_t max_len = 0;
  for (int32_t id = 0; id < vocab->size(); ++id) {
    if (vocab->token(id).empty() || vocab->is_eos(id)) continue;
    by_bytes.emplace(vocab->token(id), id);
    max_len = std::max(max_len, vocab->token(id).size());
  }
  if (!json_out) {
    fmt::print("vocabulary: {} ids ({}), tokenizer.json parse {:.0f} ms, trie build {:.1f} ms "
               "(CPU {:.1f} ms)\n\n", vocab->size(), path, load_ms, vocab_ms, vocab_cpu_ms);
    fmt::print("{:<34} {:>9} {:>8} {:>8} {:>6} {:>7} {:>5} | {:>7} {:>6} {:>6} {:>7} | {:>7} {:>6} | {:>6}\n",
               "schema", "compile", "cpu", "again", "states", "cache", "tok", "mask µs", "p50", "p99",
               "max", "cpu µs", "p99", "accept");
  }
  nlohmann::json report = {{"vocab_size", vocab->size()}, {"vocab_build_ms", vocab_ms},
                         {"vocab_build_cpu_ms", vocab_cpu_ms}};
  Stats all;
  std::vector<uint32_t> mask(vocab->mask_words());
  for (const Case& c : cases()) {
    auto c0 = Clock::now();
    double cpu0 = cpu_us();
    auto compiled = CompiledGrammar::compile(c.grammar(), vocab);
    double compile_cpu_ms = (cpu_us() - cpu0) / 1e3;
    double compile_ms = std::chrono::duration<double, std::milli>(Clock::now() - c0).count();
    // Again: rules shared with earlier grammars (JSON strings...) now come from the vocabulary's memo.
    double cpu1 = cpu_us();
    (void)CompiledGrammar::compile(c.grammar(), vocab);
    double recompile_cpu_ms = (cpu_us() - cpu1) / 1e3;
    Stats st;
    size_t tokens = 0;
    for (int rep = 0; rep < repeats; ++rep) {
      for (const std::string& doc : c.documents) {
        Matcher m(compiled);
        size_t pos = 0;
        while (true) {
          double ca = cpu_us();
          auto a = Clock::now();
          m.fill_mask(mask);
          auto b = Clock::now();
          st.mask_cpu_us.push_back(cpu_us() - ca);
          st.mask_us.push_back(std::chrono::duration<double, std::micro>(b - a).count());
          if (pos == doc.size()) {
            bool eos_ok = (mask[1 >> 5] >> 1) & 1u;
            if (!eos_ok || !m.accept_token(1)) {
              fmt::print(stderr, "{}: end of sequence not allowed after the document\n", c.name);
              return 1;
            }
            break;
          }
          int32_t chosen = -1;
          for (size_t len = std::min(max_len, doc.size() - pos); len > 0; --len) {
            auto it = by_bytes.find(doc.substr(pos, len));
            if (it != by_bytes.end() && ((mask[it->second >> 5] >> (it->second & 31)) & 1u)) {
              chosen = it->second;
              break;
            }
          }
          if (chosen < 0) {
            fmt::print(stderr, "{}: no allowed token at byte {} of the document: '{}'\n", c.name, pos,
                       doc.substr(pos, 20));
            return 1;
          }
          auto e = Clock::now();
          bool ok = m.accept_token(chosen);
          st.accept_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - e).count());
          if (!ok) {
            fmt::print(stderr, "{}: allowed token {} rejected by accept_token\n", c.name, chosen);
            return 1;
          }
          pos += vocab->token(chosen).size();
          if (rep == 0) ++tokens;
        }
      }
    }
    const auto& s = compiled->stats();
    if (!json_out) {
      fmt::print("{:<34} {:>6.1f} ms {:>5.1f} ms {:>5.1f} ms {:>6} {:>4.1f} MB {:>5} | {:>7.2f} {:>6.2f} {:>6.2f} "
                 "{:>7.1f} | {:>7.2f} {:>6.2f} | {:>6.2f}\n",
                 c.name.substr(0, 34), compile_ms, compile_cpu_ms, recompile_cpu_ms, s.states, s.cache_bytes / 1e6,
                 tokens, mean(st.mask_us), percentile(st.mask_us, 0.5),
                 percentile(st.mask_us, 0.99), percentile(st.mask_us, 1.0), mean(st.mask_cpu_us),
                 percentile(st.mask_cpu_us, 0.99), mean(st.accept_us));
    }
    report["schemas"].push_back({{"name", c.name},
                                 {"compile_ms", compile_ms},
                                 {"compile_cpu_ms", compile_cpu_ms},
                                 {"recompile_cpu_ms", recompile_cpu_ms},
                                 {"automaton_ms", s.automaton_seconds * 1e3},
                                 {"mask_precompute_ms", s.mask_seconds * 1e3},
                                 {"states", s.states},
                                 {"cache_bytes", s.cache_bytes},
                                 {"tokens_per_walk", tokens},
                                 {"mask_us_mean", mean(st.mask_us)},
                                 {"mask_us_p99", percentile(st.mask_us, 0.99)},
                                 {"mask_us_max", percentile(st.mask_us, 1.0)},
                                 {"mask_cpu_us_mean", mean(st.mask_cpu_us)},
                                 {"mask_cpu_us_p99", percentile(st.mask_cpu_us, 0.99)},
                                 {"accept_us_mean", mean(st.accept_us)}});
    all.mask_us.insert(all.mask_us.end(), st.mask_us.begin(), st.mask_us.end());
    all.mask_cpu_us.insert(all.mask_cpu_us.end(), st.mask_cpu_us.begin(), st.mask_cpu_us.end());
    all.accept_us.insert(all.accept_us.end(), st.accept_us.begin(), st.accept_us.end());
  }
  report["mask_us_mean"] = mean(all.mask_us);
  report["mask_us_p99"] = percentile(all.mask_us, 0.99);
  report["mask_cpu_us_mean"] = mean(all.mask_cpu_us);
  report["mask_cpu_us_p99"] = percentile(all.mask_cpu_us, 0.99);
  report["accept_us_mean"] = mean(all.accept_us);
  if (json_out) {
    fmt::print("{}\n", report.dump(2));
  } else {
    fmt::print("\nall schemas, {} steps: fill_mask wall mean {:.2f} µs, p99 {:.2f} µs, max {:.1f} µs; "
               "CPU mean {:.2f} µs, p99 {:.2f} µs; accept_token mean {:.2f} µs\n",
               all.mask_us.size(), mean(all.mask_us), percentile(all.mask_us, 0.99),
               percentile(all.mask_us, 1.0), mean(all.mask_cpu_us),
               percentile(all.mask_cpu_us, 0.99), mean(all.accept_us));
  }
  return 0;
}
