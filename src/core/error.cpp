// R1_CHECK failure path: a bug, not bad input, so it aborts with the location.
#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace r1 {

void check_failed(const char* file, int line, const char* condition, const std::string& message) {
  std::fprintf(stderr, "r1: internal check failed at %s:%d: %s%s%s\n", file, line, condition,
               message.empty() ? "" : ": ", message.c_str());
  std::abort();
}

}  // namespace r1
