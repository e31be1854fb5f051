// Encode throughput of r1's tokenizer, single-threaded: loads a tokenizer directory, encodes a
// text file once on a fresh tokenizer (empty word cache) and then several more times, and
// prints JSON with MB/s (10^6 bytes per second) for the first run and the median of the rest.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  CLI::App app{"r1 tokenizer encode benchmark"};
  std::string model, file, ids_out;
  int runs = 5;
  bool special = false;
  app.add_option("--model", model, "Directory holding tokenizer.json")->required();
  app.add_option("--file", file, "UTF-8 text to encode as one string")->required();
  app.add_option("--runs", runs, "Timed runs after the first (cold) one")->check(CLI::Range(1, 1000));
  app.add_option("--ids-out", ids_out, "Write the ids as a JSON array here (to compare)");
  app.add_flag("--special", special, "add_special_tokens=true");
  CLI11_PARSE(app, argc, argv);
  try {
    std::ifstream in(file, std::ios::binary);
    if (!in) r1::fail("cannot read {}", file);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();

    using clock = std::chrono::steady_clock;
    auto seconds = [](clock::time_point a, clock::time_point b) {
      return std::chrono::duration<double>(b - a).count();
    };
    auto t0 = clock::now();
    const r1::Tokenizer tok = r1::Tokenizer::from_dir(model);
    auto t1 = clock::now();
    const std::vector<int32_t> ids = tok.encode(text, special);
    auto t2 = clock::now();
    std::vector<double> times;
    for (int i = 0; i < runs; ++i) {
      auto a = clock::now();
      auto again = tok.encode(text, special);
      auto b = clock::now();
      if (again != ids) r1::fail("encode is not deterministic");
      times.push_back(seconds(a, b));
    }
    std::sort(times.begin(), times.end());
    const double mb = text.size() / 1e6;
    const double median = times[times.size() / 2];
    if (!ids_out.empty()) {
      std::ofstream out(ids_out);
      out << nlohmann::json(ids).dump();
    }
    nlohmann::json report = {{"engine", "r1"},
                             {"bytes", text.size()},
                             {"tokens", ids.size()},
                             {"load_s", seconds(t0, t1)},
                             {"cold_s", seconds(t1, t2)},
                             {"cold_mb_s", mb / seconds(t1, t2)},
                             {"warm_median_s", median},
                             {"warm_mb_s", mb / median}};
    std::printf("%s\n", report.dump().c_str());
  } catch (const r1::Error& e) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
    return 1;
  }
  return 0;
}
