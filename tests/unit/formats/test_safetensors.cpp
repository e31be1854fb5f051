// The safetensors reader against well-formed and hostile inputs: every malformed file gives a
// clear r1::Error naming the file (and tensor), never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/safetensors.h"

namespace r1 {
namespace {

std::vector<std::byte> image(const std::string& header, size_t data_bytes, uint64_t claimed_len = ~0ull) {
  uint64_t len = claimed_len == ~0ull ? header.size() : claimed_len;
  std::vector<std::byte> out(8 + header.size() + data_bytes);
  std::memcpy(out.data(), &len, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  for (size_t i = 0; i < data_bytes; ++i) out[8 + header.size() + i] = std::byte(i & 0xff);
  return out;
}

std::string error_of(const std::vector<std::byte>& img) {
  try {
    parse_safetensors(img.data(), img.size(), "x.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, ParsesViewsAndMetadata) {
  auto img = image(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                   R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},"e":{"dtype":"F16","shape":[0],"data_offsets":[32,32]}})",
                   32);
  SafetensorsFile f = parse_safetensors(img.data(), img.size(), "x.safetensors");
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  const TensorView& a = f.tensors.at("a");
  EXPECT_EQ(a.dtype, DType::kF32);
  EXPECT_EQ(a.shape, (Shape{2, 3}));
  EXPECT_EQ(a.nbytes, 24u);
  const size_t header_len = img.size() - 32 - 8;
  EXPECT_EQ(static_cast<const std::byte*>(a.data), img.data() + 8 + header_len);  // zero-copy
  EXPECT_EQ(f.tensors.at("b").dtype, DType::kBF16);
  EXPECT_EQ(f.tensors.at("e").numel(), 0);
}

TEST(Safetensors, RejectsTruncatedAndAbsurdHeaders) {
  std::vector<std::byte> tiny(5);
  EXPECT_NE(error_of(tiny).find("too short"), std::string::npos);
  auto absurd = image("{}", 0, uint64_t(1) << 40);
  EXPECT_NE(error_of(absurd).find("absurd"), std::string::npos);
  auto past_end = image("{}", 0, 100);
  EXPECT_NE(error_of(past_end).find("past the end"), std::string::npos);
  auto truncated = image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  std::string e = error_of(truncated);
  EXPECT_NE(e.find("'a'"), std::string::npos) << e;
  EXPECT_NE(e.find("past the end"), std::string::npos) << e;
}

TEST(Safetensors, RejectsBadJsonAndEntries) {
  EXPECT_NE(error_of(image("{not json", 0)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(image("[1,2]", 0)).find("JSON object"), std::string::npos);
  // a number too large for a double is a JSON error too (nlohmann reports it as out_of_range)
  EXPECT_NE(error_of(image(R"({"a":6E6666666})", 0)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(image(R"({"a":5})", 0)).find("'a'"), std::string::npos);
  EXPECT_NE(error_of(image(R"({"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4)).find("unknown dtype"),
            std::string::npos);
  EXPECT_NE(error_of(image(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4)).find("negative"),
            std::string::npos);
  EXPECT_NE(error_of(image(R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,4]}})", 4)).find("shape"),
            std::string::npos);
  EXPECT_NE(error_of(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", 4)).find("data_offsets"),
            std::string::npos);
  EXPECT_NE(error_of(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4)).find("reversed"),
            std::string::npos);
  EXPECT_NE(error_of(image(R"({"__metadata__":{"k":1}})", 0)).find("__metadata__"), std::string::npos);
}

TEST(Safetensors, RejectsWrongByteSizes) {
  // 3 F32 values need 12 bytes, not 8.
  std::string e = error_of(image(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8));
  EXPECT_NE(e.find("'w'"), std::string::npos);
  EXPECT_NE(e.find("needs 12 bytes"), std::string::npos) << e;
  // A shape whose byte size overflows 64 bits.
  e = error_of(image(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8));
  EXPECT_NE(e.find("overflow"), std::string::npos) << e;
}

TEST(Safetensors, RejectsOverlaps) {
  std::string e = error_of(image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                 16));
  EXPECT_NE(e.find("overlap"), std::string::npos) << e;
  // An overlap hidden behind an empty tensor between the two.
  e = error_of(image(R"({"a":{"dtype":"U8","shape":[100],"data_offsets":[0,100]},)"
                     R"("e":{"dtype":"U8","shape":[0],"data_offsets":[10,10]},)"
                     R"("c":{"dtype":"U8","shape":[10],"data_offsets":[50,60]}})",
                     100));
  EXPECT_NE(e.find("overlap"), std::string::npos) << e;
}

TEST(Safetensors, OpenReportsMissingFile) {
  try {
    open_safetensors("/nonexistent/model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.safetensors"), std::string::npos);
  }
}

}  // namespace
}  // namespace r1
