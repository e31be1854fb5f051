// Builds chat-ready model directories for engine, CLI and server tests: the weights of a golden
// checkpoint (tests/data/models) plus a small byte-level BPE tokenizer that fills its 512-id
// vocabulary, the DeepSeek-R1 special tokens and chat template, and a generation_config.json.
// Random weights make the text meaningless but every code path real.
#pragma once

#include <string>

namespace r1::testing {

// Writes the model directory at `dir` (created if needed).
void write_chat_model(const std::string& golden, const std::string& dir);

// Creates (once per process, in a temporary directory) and returns the directory. `golden` names a folder of
// tests/data/models with a 512-id vocabulary.
std::string chat_model_dir(const std::string& golden = "qwen2_tied_f32");

// Special token ids of that vocabulary.
inline constexpr int kBos = 506, kEos = 507, kUser = 508, kAssistant = 509, kThink = 510, kEndThink = 511;
// DeepSeek's nine tool-call tokens take ids 497..505 in R1's order: <｜tool▁calls▁begin｜>,
// <｜tool▁calls▁end｜>, <｜tool▁call▁begin｜>, <｜tool▁call▁end｜>, <｜tool▁sep｜>,
// <｜tool▁outputs▁begin｜>, <｜tool▁outputs▁end｜>, <｜tool▁output▁begin｜>, <｜tool▁output▁end｜>.
inline constexpr int kFirstToolToken = 497, kToolCallsBegin = 497, kToolCallBegin = 499;

}  // namespace r1::testing
