// Regexes (raw and inside JSON strings) against PCRE2, bounded numbers against exact decimal
// comparison of the text, formats against hand-written checks, and the errors for unsupported or
// malformed schemas.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "grammar/ir.h"
#include "grammar_test_util.h"
#include "schema_validator.h"

namespace r1::grammar::testing {
namespace {

std::string random_string(std::mt19937& rng, const std::string& alphabet, size_t max_len) {
  std::string s;
  size_t n = rng() % (max_len + 1);
  for (size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
  return s;
}

TEST(GrammarRegex, RawPatternsAgreeWithPcre2) {
  const char* patterns[] = {
      "abc",          "a|b|cd",        "(ab)*c",     "a+b?c{2,3}",  "[a-c]{2}x|y",
      "[^ab]+",       "\\d{2,}-\\w",   "(a|ab)(c|bcd)", "x{0,2}y{3}", "(?:ab|ba){1,3}",
      "[\\d\\-]+",    "a.c",           "(a(b(c)?)?)+", "[b-d]*[a-b]", "\\s?a"};
  std::mt19937 rng(1);
  for (const char* p : patterns) {
    auto g = compile(Grammar::from_regex(p));
    std::string anchored = std::string("^(?:") + p + ")$";
    for (int i = 0; i < 3000; ++i) {
      std::string s = random_string(rng, "abcdxy1-_ \n", 7);
      EXPECT_EQ(matches(g, s), regex_search(anchored, s)) << "pattern " << p << " text '" << s << "'";
    }
  }
}

TEST(GrammarRegex, JsonStringPatternsUseSearchSemantics) {
  // Unanchored patterns match anywhere in the string (JSON Schema "pattern" semantics).
  const char* patterns[] = {"ab",        "^ab",     "ab$",           "^a[bc]+$",   "b{2}",
                            "^(x|yz)*$", "^\\w+@", "^[^a]*$",       "é+",         "^.{2,3}$",
                            "\\\\",      "\"",     "^[\\u00e0-\\u00ff]b$"};
  std::mt19937 rng(2);
  for (const char* p : patterns) {
    nlohmann::json schema = {{"type", "string"}, {"pattern", p}};
    auto g = compile(Grammar::from_json_schema(schema.dump()));
    for (int i = 0; i < 2000; ++i) {
      std::string s = random_string(rng, "abcxyz@\"\\", 6);
      if (i % 5 == 0) s += "\xC3\xA9";  // é
      bool expected = regex_search(p, s);
      std::string doc = nlohmann::json(s).dump();
      EXPECT_EQ(matches(g, doc), expected) << "pattern " << p << " doc " << doc;
      // The same value with every character escaped as \uXXXX.
      std::string escaped = "\"";
      std::vector<uint32_t> cps;
      ASSERT_TRUE(grammar::detail::decode_utf8(s, cps));
      for (uint32_t c : cps) escaped += fmt::format("\\u{:04X}", c);
      escaped += "\"";
      EXPECT_EQ(matches(g, escaped), expected) << "pattern " << p << " doc " << escaped;
    }
  }
}

TEST(GrammarRegex, PatternWithLengthBounds) {
  nlohmann::json schema = {{"type", "string"}, {"pattern", "^(ab|c)+$"}, {"minLength", 3},
                           {"maxLength", 5}};
  auto g = compile(Grammar::from_json_schema(schema.dump()));
  std::mt19937 rng(3);
  for (int i = 0; i < 3000; ++i) {
    std::string s = random_string(rng, "abc", 7);
    bool expected = regex_search("^(ab|c)+$", s) && s.size() >= 3 && s.size() <= 5;
    EXPECT_EQ(matches(g, nlohmann::json(s).dump()), expected) << s;
  }
}

TEST(GrammarRegex, UnsupportedConstructsNameThemselves) {
  struct Case {
    const char* pattern;
    const char* message;
  };
  const Case cases[] = {{"(a)\\1", "backreference"},   {"a(?=b)", "lookahead"},
                        {"(?<!a)b", "lookbehind"},     {"\\bword", "word boundary"},
                        {"\\p{L}", "property"},        {"a^b", "'^'"},
                        {"(a", "missing ')'"},         {"[a-", "missing ']'"},
                        {"*a", "nothing to repeat"},   {"a{3,2}", "out of order"}};
  for (const Case& c : cases) {
    try {
      Grammar::from_regex(c.pattern);
      ADD_FAILURE() << "no error for " << c.pattern;
    } catch (const r1::Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
          << c.pattern << ": " << e.what();
    }
  }
}

// Exact comparison of decimal texts (JSON numbers without exponent).
int compare_decimal(const std::string& a, const std::string& b) {
  auto split = [](const std::string& s, bool& neg, std::string& ip, std::string& fp) {
    neg = !s.empty() && s[0] == '-';
    std::string t = neg ? s.substr(1) : s;
    size_t dot = t.find('.');
    ip = t.substr(0, dot);
    fp = dot == std::string::npos ? "" : t.substr(dot + 1);
    ip.erase(0, std::min(ip.find_first_not_of('0'), ip.size() - 1));
    while (!fp.empty() && fp.back() == '0') fp.pop_back();
    if (ip == "0" && fp.empty()) neg = false;
  };
  bool na, nb;
  std::string ia, fa, ib, fb;
  split(a, na, ia, fa);
  split(b, nb, ib, fb);
  if (na != nb) return na ? -1 : 1;
  int mag;
  if (ia.size() != ib.size()) {
    mag = ia.size() < ib.size() ? -1 : 1;
  } else if (ia != ib) {
    mag = ia < ib ? -1 : 1;
  } else {
    mag = fa == fb ? 0 : fa < fb ? -1 : 1;
  }
  return na ? -mag : mag;
}

// Valid JSON, no exponent, no negative zero (how bounded numbers are written).
bool canonical_number(const std::string& s) {
  try {
    if (!nlohmann::json::parse(s).is_number()) return false;
  } catch (...) {
    return false;
  }
  if (s.find_first_of("eE") != std::string::npos) return false;
  return s[0] != '-' || s.find_first_of("123456789") != std::string::npos;
}

TEST(GrammarNumbers, IntegerRangesAreExact) {
  struct Range {
    const char* lo;
    const char* hi;
  };
  const Range ranges[] = {{"0", "0"},     {"-7", "13"},   {"5", "1234"},  {"-1000", "-999"},
                          {"99", "101"},  {"-15", "-3"},  {"0", "100"},   {"10", "19"}};
  for (const Range& r : ranges) {
    std::string schema = fmt::format(R"({{"type":"integer","minimum":{},"maximum":{}}})", r.lo, r.hi);
    auto g = compile_schema(schema);
    long lo = std::stol(r.lo), hi = std::stol(r.hi);
    for (long x = lo - 40; x <= hi + 40; ++x) {
      EXPECT_EQ(matches(g, std::to_string(x)), x >= lo && x <= hi) << schema << " x=" << x;
    }
    EXPECT_FALSE(matches(g, "-0")) << schema;
    EXPECT_FALSE(matches(g, "007")) << schema;
  }
  // One-sided and exclusive bounds, including fractional ones on integers.
  auto g = compile_schema(R"({"type":"integer","exclusiveMinimum":2.5,"exclusiveMaximum":7})");
  for (long x = -5; x <= 12; ++x) EXPECT_EQ(matches(g, std::to_string(x)), x >= 3 && x <= 6) << x;
  g = compile_schema(R"({"type":"integer","minimum":-3})");
  for (long x = -50; x <= 5000; x += 7) EXPECT_EQ(matches(g, std::to_string(x)), x >= -3) << x;
}

TEST(GrammarNumbers, DecimalRangesAreExact) {
  struct Case {
    const char* schema;
    const char* lo;
    bool lo_strict;
    const char* hi;
    bool hi_strict;
  };
  const Case cases[] = {
      {R"({"type":"number","minimum":0,"maximum":1})", "0", false, "1", false},
      {R"({"type":"number","minimum":-1.5,"maximum":2.25})", "-1.5", false, "2.25", false},
      {R"({"type":"number","exclusiveMinimum":0.1,"exclusiveMaximum":0.12})", "0.1", true, "0.12", true},
      {R"({"type":"number","minimum":-0.05,"exclusiveMaximum":0})", "-0.05", false, "0", true},
      {R"({"type":"number","exclusiveMinimum":-10,"maximum":-9.99})", "-10", true, "-9.99", false},
      {R"({"type":"number","minimum":12.5})", "12.5", false, nullptr, false},
      {R"({"type":"number","exclusiveMaximum":-3})", nullptr, false, "-3", true},
  };
  std::mt19937 rng(5);
  for (const Case& c : cases) {
    auto g = compile_schema(c.schema);
    for (int i = 0; i < 4000; ++i) {
      std::string s = random_string(rng, "-0123456789.", 6);
      if (i % 3 == 0) s = std::to_string(static_cast<int>(rng() % 30) - 15) + "." + random_string(rng, "0123456789", 3);
      bool ok = canonical_number(s);
      if (ok && c.lo) {
        int k = compare_decimal(s, c.lo);
        ok = c.lo_strict ? k > 0 : k >= 0;
      }
      if (ok && c.hi) {
        int k = compare_decimal(s, c.hi);
        ok = c.hi_strict ? k < 0 : k <= 0;
      }
      EXPECT_EQ(matches(g, s), ok) << c.schema << " text " << s;
    }
  }
}

TEST(GrammarNumbers, UnboundedNumbersFollowJsonSyntax) {
  // RFC 8259's number grammar as a PCRE2 pattern, with the grammar's two-digit exponent bound.
  const std::string kJsonNumber = "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]{1,2})?$";
  auto g = compile_schema(R"({"type":"number"})");
  std::mt19937 rng(6);
  for (int i = 0; i < 5000; ++i) {
    std::string s = random_string(rng, "-+0123.eE", 7);
    EXPECT_EQ(matches(g, s), regex_search(kJsonNumber, s)) << s;
  }
}

TEST(GrammarFormats, AgreeWithHandWrittenChecks) {
  std::mt19937 rng(7);
  struct Case {
    const char* format;
    std::vector<std::string> samples;
  };
  const Case cases[] = {
      {"date", {"2024-02-29", "2023-02-29", "2000-02-29", "1900-02-29", "2021-04-31", "2021-12-31",
                "2021-13-01", "2021-00-10", "99-01-01"}},
      {"time", {"23:59:60Z", "24:00:00Z", "12:30:15.123+05:30", "12:30:15", "01:02:03z",
                "01:02:03-24:00"}},
      {"date-time", {"2024-01-01T00:00:00Z", "2024-01-01t10:11:12.5-01:00", "2024-01-01 00:00:00Z"}},
      {"uuid", {"123e4567-e89b-12d3-a456-426614174000", "123e4567e89b12d3a456426614174000",
                "123E4567-E89B-12D3-A456-42661417400G"}},
      {"email", {"a@b.co", "first.last+tag@sub.example.org", "a..b@c.de", "a@b", "a@-b.com",
                 "@b.com", "a@b.c1"}},
      {"ipv4", {"192.168.0.1", "256.1.1.1", "01.2.3.4", "1.2.3", "0.0.0.0"}},
      {"uri", {"https://example.com/a?b=c#d", "mailto:x@y.z", "urn:isbn:0451450523",
               "http://a/%7Euser", "http://a/%7", "1http://x", "http://a b", "x:"}},
      {"hostname", {"example.com", "a-b.c", "-a.com", "a..b", "xn--bcher-kva.example",
                    std::string(63, 'a') + ".com", std::string(64, 'a') + ".com"}},
  };
  for (const Case& c : cases) {
    auto g = compile_schema(fmt::format(R"({{"type":"string","format":"{}"}})", c.format));
    for (const std::string& s : c.samples) {
      EXPECT_EQ(matches(g, nlohmann::json(s).dump()), valid_format(c.format, s))
          << c.format << " " << s;
    }
    // Random mutations of the valid samples.
    for (int i = 0; i < 500; ++i) {
      std::string s = c.samples[rng() % c.samples.size()];
      s[rng() % s.size()] = "0123456789-:.TZ+@ab"[rng() % 19];
      EXPECT_EQ(matches(g, nlohmann::json(s).dump()), valid_format(c.format, s))
          << c.format << " " << s;
    }
  }
}

TEST(GrammarSchema, UnsupportedKeywordsAreNamed) {
  const char* cases[][2] = {
      {R"({"type":"object","patternProperties":{"^a":{}}})", "patternProperties"},
      {R"({"not":{"type":"string"}})", "'not'"},
      {R"({"type":"number","multipleOf":3})", "multipleOf"},
      {R"({"type":"array","contains":{"type":"string"}})", "contains"},
      {R"({"type":"array","uniqueItems":true})", "uniqueItems"},
      {R"({"allOf":[{"type":"string"},{"minLength":2}]})", "allOf"},
      {R"({"if":{"type":"string"},"then":{}})", "'if'"},
      {R"({"type":"string","format":"ipv6"})", "format"},
      {R"({"type":"string","pattern":"(a)\\1"})", "backreference"},
      {R"({"$ref":"http://example.com/s.json"})", "$ref"},
      {R"({"type":"string","$ref":"#/$defs/a","$defs":{"a":{}}})", "'type' next to '$ref'"},
      {R"({"type":"object","minProperties":1})", "minProperties"},
  };
  for (const auto& c : cases) {
    try {
      Grammar::from_json_schema(c[0]);
      ADD_FAILURE() << "no error for " << c[0];
    } catch (const r1::Error& e) {
      EXPECT_NE(std::string(e.what()).find(c[1]), std::string::npos) << c[0] << ": " << e.what();
    }
  }
}

TEST(GrammarSchema, MalformedSchemasAreErrors) {
  const char* cases[] = {
      R"({"type":"strin"})",
      R"({"type":5})",
      R"({"type":"string","minLength":-1})",
      R"({"type":"string","maxLength":"3"})",
      R"({"properties":[]})",
      R"({"required":"a"})",
      R"({"enum":3})",
      R"({"anyOf":[]})",
      R"({"$ref":"#/$defs/missing"})",
      R"({"type":"integer","minimum":"0"})",
      R"([1,2])",
      R"({"type":"string",)",
      R"({"$ref":"#"})",
      R"({"type":"string","minLength":3,"maxLength":2})",
      R"({"type":"integer","minimum":5,"maximum":4})",
      R"({"enum":[]})",
  };
  for (const char* c : cases) {
    EXPECT_THROW(CompiledGrammar::compile(Grammar::from_json_schema(c), byte_vocab()), r1::Error)
        << c;
  }
}

TEST(GrammarBuilder, SpecialTokensOnlyWhereNamed) {
  // A tool-call-like grammar: a special token, a literal, a JSON value, a special token.
  std::vector<std::string> extra = {"<|begin|>", "<|end|>", "<|other|>"};
  auto vocab = std::make_shared<Vocabulary>(
      [&] {
        std::vector<std::string> t;
        for (int b = 0; b < 256; ++b) t.emplace_back(1, static_cast<char>(b));
        t.push_back("<eos>");
        for (auto& e : extra) t.push_back(e);
        return t;
      }(),
      std::vector<int32_t>{256}, std::vector<int32_t>{256, 257, 258, 259});
  GrammarBuilder b;
  auto args = b.json_schema(nlohmann::ordered_json::parse(
      R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false})"));
  auto g = CompiledGrammar::compile(
      b.build(b.seq({b.token("<|begin|>"), b.literal("get_weather\n"), args, b.token("<|end|>")})),
      vocab);
  Matcher m(g);
  std::vector<uint32_t> mask(vocab->mask_words());
  m.fill_mask(mask);
  EXPECT_TRUE(mask_has(mask, 257));
  EXPECT_FALSE(mask_has(mask, '<'));  // the special token's text is not spelled out in bytes
  EXPECT_FALSE(mask_has(mask, 259));
  ASSERT_TRUE(m.accept_token(257));
  EXPECT_FALSE(m.accept_token(257));
  ASSERT_TRUE(m.accept_bytes("get_weather\n{\"city\": \"<|end|>\"}"));  // text inside the string
  m.fill_mask(mask);
  EXPECT_TRUE(mask_has(mask, 258));
  EXPECT_FALSE(mask_has(mask, 256));  // not complete yet
  EXPECT_FALSE(mask_has(mask, '<'));
  ASSERT_TRUE(m.accept_token(258));
  EXPECT_TRUE(m.is_complete());
  m.fill_mask(mask);
  EXPECT_TRUE(mask_has(mask, 256));
  // Compiling against a vocabulary without the token is an error naming it.
  GrammarBuilder b2;
  try {
    CompiledGrammar::compile(b2.build(b2.token("<|missing|>")), vocab);
    ADD_FAILURE();
  } catch (const r1::Error& e) {
    EXPECT_NE(std::string(e.what()).find("<|missing|>"), std::string::npos);
  }
}

}  // namespace
}  // namespace r1::grammar::testing
