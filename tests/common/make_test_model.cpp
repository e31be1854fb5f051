// Writes a chat-ready random-weight test model directory (for the server end-to-end tests).
// Usage: r1_test_model OUT_DIR [GOLDEN_NAME]
#include <cstdio>

#include "test_model.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR [GOLDEN_NAME]\n", argv[0]);
    return 2;
  }
  r1::testing::write_chat_model(argc > 2 ? argv[2] : "qwen2_tied_f32", argv[1]);
  return 0;
}
