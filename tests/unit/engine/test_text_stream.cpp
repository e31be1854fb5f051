// Stop strings across token boundaries with held-back text, and the reasoning split with and
// without the opening tag, by token ids and by text.
#include <gtest/gtest.h>

#include "engine/reasoning.h"
#include "engine/stop_strings.h"

namespace r1 {
namespace {

std::string feed(StopMatcher& m, const std::vector<std::string>& pieces, std::vector<std::string>* emitted = nullptr) {
  std::string out;
  for (const auto& p : pieces) {
    std::string e = m.push(p);
    if (emitted) emitted->push_back(e);
    out += e;
  }
  return out + m.flush();
}

TEST(StopMatcher, SpansTokensAndHoldsBack) {
  StopMatcher m({"STOP"});
  std::vector<std::string> emitted;
  EXPECT_EQ(feed(m, {"hello S", "T", "OP world"}, &emitted), "hello ");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.matched(), "STOP");
  EXPECT_EQ(emitted[0], "hello ");  // "S" held back
  EXPECT_EQ(emitted[1], "");        // "ST" held back
}

TEST(StopMatcher, ReleasesWhenPrefixBreaks) {
  StopMatcher m({"STOP"});
  std::vector<std::string> emitted;
  EXPECT_EQ(feed(m, {"a ST", "AR b"}, &emitted), "a STAR b");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(emitted[0], "a ");
  EXPECT_EQ(emitted[1], "STAR b");
}

TEST(StopMatcher, EarliestOfSeveralAndOverlaps) {
  StopMatcher m({"world", "lo w", "\n\n"});
  EXPECT_EQ(feed(m, {"hel", "lo world"}), "hel");
  EXPECT_EQ(m.matched(), "lo w");
  StopMatcher n({"aab"});
  EXPECT_EQ(feed(n, {"a", "a", "a", "b", "c"}), "a");  // "aaab": the match starts at index 1
  StopMatcher none;
  EXPECT_EQ(feed(none, {"x", "y"}), "xy");
  StopMatcher tail({"END"});
  EXPECT_EQ(feed(tail, {"abc E", "N"}), "abc EN");  // held text released at the end
}

struct Out {
  std::string reasoning, content;
};

Out run(ReasoningParser& p, const std::vector<std::pair<int32_t, std::string>>& tokens) {
  Out o;
  for (const auto& [id, text] : tokens) {
    auto piece = p.push(id, text);
    o.reasoning += piece.reasoning;
    o.content += piece.content;
  }
  auto piece = p.finish();
  o.reasoning += piece.reasoning;
  o.content += piece.content;
  return o;
}

const ReasoningTokens kIds{100, 101};

TEST(Reasoning, PromptOpenedTheReasoningTokenMode) {
  ReasoningParser p(kIds, /*starts_in_reasoning=*/true);
  Out o = run(p, {{1, "Let"}, {2, " me"}, {3, " think."}, {4, "\n"}, {101, "</think>"}, {5, "\n\n"}, {6, "42"}});
  EXPECT_EQ(o.reasoning, "Let me think.");
  EXPECT_EQ(o.content, "42");
  EXPECT_EQ(p.reasoning_tokens(), 5);  // four reasoning tokens and the closing tag
  EXPECT_TRUE(p.reasoning_closed());
}

TEST(Reasoning, BothTagsInOutputTokenMode) {
  ReasoningParser p(kIds, false);
  Out o = run(p, {{100, "<think>"}, {7, "\n"}, {1, "hmm"}, {101, "</think>"}, {6, "yes"}});
  EXPECT_EQ(o.reasoning, "hmm");
  EXPECT_EQ(o.content, "yes");
  EXPECT_TRUE(p.has_reasoning());
}

TEST(Reasoning, NoReasoningAtAll) {
  ReasoningParser p(kIds, false);
  Out o = run(p, {{1, "Just"}, {2, " an answer"}});
  EXPECT_EQ(o.reasoning, "");
  EXPECT_EQ(o.content, "Just an answer");
  EXPECT_EQ(p.reasoning_tokens(), 0);
}

TEST(Reasoning, TextTagIsNotTheTokenInTokenMode) {
  // "</think>" spelled as ordinary text tokens does not close the reasoning when the vocabulary
  // has the dedicated token.
  ReasoningParser p(kIds, true);
  Out o = run(p, {{1, "a </"}, {2, "think> b"}});
  EXPECT_EQ(o.reasoning, "a </think> b");
  EXPECT_EQ(o.content, "");
}

TEST(Reasoning, TextModeTagsSplitAcrossTokens) {
  ReasoningParser p({}, false);
  std::vector<std::string> reasoning_steps;
  Out o;
  for (std::string t : {"<th", "ink>\nstep", " one\n</", "thi", "nk>\n\nfinal", " answer"}) {
    auto piece = p.push(0, t);
    reasoning_steps.push_back(piece.reasoning);
    o.reasoning += piece.reasoning;
    o.content += piece.content;
  }
  auto last = p.finish();
  o.reasoning += last.reasoning;
  o.content += last.content;
  EXPECT_EQ(o.reasoning, "step one");
  EXPECT_EQ(o.content, "final answer");
  EXPECT_EQ(reasoning_steps[0], "");  // "<th" could still be the tag: held
  EXPECT_EQ(p.reasoning_tokens(), 5);  // every token up to the one completing "</think>"
}

TEST(Reasoning, TextModeStartsInReasoning) {
  ReasoningParser p({}, true);
  Out o = run(p, {{0, "x < y"}, {0, "</think>"}, {0, "ok"}});
  EXPECT_EQ(o.reasoning, "x < y");
  EXPECT_EQ(o.content, "ok");
}

TEST(Reasoning, UnclosedReasoningAtEnd) {
  ReasoningParser p({}, true);
  Out o = run(p, {{0, "still thinking </thi"}});
  EXPECT_EQ(o.reasoning, "still thinking </thi");
  EXPECT_FALSE(p.reasoning_closed());
}

TEST(Reasoning, DisabledIsAllContent) {
  ReasoningParser p(kIds, true, /*enabled=*/false);
  Out o = run(p, {{100, "<think>"}, {1, "x"}});
  EXPECT_EQ(o.content, "<think>x");
}

}  // namespace
}  // namespace r1
