// The pushdown parser over a Program: stacks are persistent linked frames in an arena (a frame is a
// state, the character count of a counted rule, and its caller's frame), and a parser
// configuration is the set of stack heads that can consume the next byte. The same stepping code
// serves the matcher and the vocabulary walks that precompute token masks; there the bottom frame's
// caller is unknown (kExit) and its count is symbolic.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/program.h"

namespace r1::grammar::detail {

inline constexpr int32_t kBottom = -1;  // caller of the root frame: ending it completes the match
inline constexpr int32_t kExit = -2;    // caller of a walk's base frame: not known
inline constexpr size_t kMaxHeads = 1024;  // stacks kept per step (see Stepper::close)

struct StackNode {
  int32_t state;
  uint32_t count;
  int32_t parent;
};

struct Heads {
  std::vector<int32_t> ids;
  bool complete = false;  // the root frame ended: the input so far is a complete match
  bool exited = false;    // a walk's base frame ended
  uint32_t exit_count = UINT32_MAX;  // the base frame's character count when it ended
  void clear() {
    ids.clear();
    complete = exited = false;
    exit_count = UINT32_MAX;
  }
  bool empty() const { return ids.empty() && !complete && !exited; }
};

class Stepper {
 public:
  explicit Stepper(const Program& p);

  std::vector<StackNode> nodes;

  // A node with these fields; nodes made (or closed) in the current step are shared.
  int32_t node_for(int32_t state, uint32_t count, int32_t parent);
  // Adds the stacks reachable from node `id` without consuming input (calls pushed, ended rules
  // popped) to `out`. Call begin_step first.
  void close(int32_t id, Heads& out);
  void begin_step();
  void step_byte(std::span<const int32_t> in, uint8_t byte, Heads& out);
  void step_symbol(std::span<const int32_t> in, int32_t symbol, Heads& out);
  // Runs `bytes` from the single stack `head`; true if the result is not empty. Leaves the arena
  // as it was.
  bool accepts(int32_t head, std::string_view bytes, Heads& a, Heads& b);
  // The same once the frame above `caller` has ended: continues in the caller (never kBottom).
  bool accepts_after(int32_t caller, std::string_view bytes, Heads& a, Heads& b);
  void truncate(size_t n) { nodes.resize(n); }

 private:
  struct Slot {
    int32_t state, parent;
    uint32_t count;
    int32_t id;
    uint32_t epoch;
  };
  void remember(int32_t id);
  int32_t lookup(int32_t state, uint32_t count, int32_t parent) const;
  void grow();

  const Program& p_;
  std::vector<uint32_t> stamp_;
  std::vector<Slot> slots_;
  uint32_t used_ = 0;
  uint32_t epoch_ = 1;
  std::vector<int32_t> work_;
};

class Parser {
 public:
  explicit Parser(std::shared_ptr<const CompiledGrammar> grammar);

  void reset();
  bool accept_token(int32_t id);
  bool accept_bytes(std::string_view bytes);
  void fill_mask(std::span<uint32_t> mask) const;
  bool complete() const { return history_.back().complete; }
  bool terminated() const { return history_.back().terminated; }
  void rollback(int n);
  int steps() const { return static_cast<int>(history_.size()) - 1; }
  int stacks() const { return static_cast<int>(current().size()); }
  std::string shortest_completion() const;

 private:
  struct Step {
    uint32_t heads_begin, heads_end;
    uint32_t arena_size;
    bool complete, terminated;
  };
  std::span<const int32_t> current() const {
    const Step& s = history_.back();
    return {heads_.data() + s.heads_begin, s.heads_end - s.heads_begin};
  }
  bool run_bytes(std::span<const int32_t> from, std::string_view bytes, Heads& out) const;
  void push_step(const Heads& h, bool terminated);
  int64_t completion_cost(int32_t head) const;

  std::shared_ptr<const CompiledGrammar> grammar_;
  const Program& p_;
  const Vocabulary& vocab_;
  mutable Stepper stepper_;
  std::vector<int32_t> heads_;
  std::vector<Step> history_;
  mutable Heads scratch_a_, scratch_b_, scratch_c_;
};

}  // namespace r1::grammar::detail
