// Stop strings matched on streamed text across token boundaries. Text that could still turn out
// to be the start of a stop string is held back; once it cannot, it is released.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops = {});

  // Adds decoded text; returns the text that can be emitted now. When a stop string completes,
  // stopped() turns true and the returned text ends just before it (the stop string and anything
  // after it are dropped).
  std::string push(std::string_view text);
  // End of generation: releases the held-back text (nothing after a stop).
  std::string flush();
  bool stopped() const { return stopped_; }
  const std::string& matched() const { return matched_; }  // the stop string that fired

 private:
  std::vector<std::string> stops_;
  std::string held_;
  std::string matched_;
  bool stopped_ = false;
};

}  // namespace r1
