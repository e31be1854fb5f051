// Renders every case of tests/data/jinja2_cases/cases.jsonl (snippets rendered by Jinja2 3.1.6 set
// up as transformers sets it up) and compares byte for byte; where Jinja2 raised, we must raise.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "core/error.h"

namespace {

using nlohmann::ordered_json;

struct RefCase {
  ordered_json data;
};
// gtest prints parameters of failing tests; the name is enough.
void PrintTo(const RefCase& c, std::ostream* os) { *os << c.data["name"].get<std::string>(); }

std::vector<RefCase> load_cases() {
  std::vector<RefCase> cases;
  std::ifstream in(std::string(R1_TEST_DATA) + "/jinja2_cases/cases.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) cases.push_back({ordered_json::parse(line)});
  return cases;
}

const std::vector<RefCase>& cases() {
  static const std::vector<RefCase> all = load_cases();
  return all;
}

class Jinja2Reference : public testing::TestWithParam<RefCase> {};

TEST_P(Jinja2Reference, SameAsJinja2) {
  const ordered_json& c = GetParam().data;
  const std::string name = c["name"].get<std::string>();
  const std::string src = c["template"].get<std::string>();
  SCOPED_TRACE("template: " + src);
  if (c.contains("error")) {
    EXPECT_THROW(r1::chat::ChatTemplate::parse(src, name).render(c["context"]), r1::Error)
        << "Jinja2 raised " << c["error"].get<std::string>();
    return;
  }
  std::string out;
  try {
    out = r1::chat::ChatTemplate::parse(src, name).render(c["context"]);
  } catch (const r1::Error& e) {
    FAIL() << "unexpected error: " << e.what();
  }
  EXPECT_EQ(out, c["expected"].get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(Cases, Jinja2Reference, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<RefCase>& info) { return info.param.data["name"].get<std::string>(); });

TEST(Jinja2ReferenceData, IsPresent) { EXPECT_GE(cases().size(), 150u); }

}  // namespace
