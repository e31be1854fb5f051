// GGUF reader and writer: the converted golden files, a write/read round trip of every value
// type, and malformed files (every truncation, bad magic/version, absurd counts and lengths,
// bad offsets, overlaps, misalignment, unknown types, overflow) rejected with errors that name
// the file and the offending key or tensor.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "formats/gguf.h"

namespace r1 {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string data_path(const std::string& name) { return std::string(R1_TEST_DATA) + "/gguf/" + name; }

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

GgufFile parse(const std::string& bytes) {
  return parse_gguf(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size(), "t.gguf");
}

// Little-endian image builder for hand-made (and hand-broken) files.
struct Img {
  std::string b;
  template <typename T>
  Img& put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof(v));
    return *this;
  }
  Img& u32(uint32_t v) { return put(v); }
  Img& u64(uint64_t v) { return put(v); }
  Img& str(const std::string& s) {
    u64(s.size());
    b += s;
    return *this;
  }
  Img& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    b.append("GGUF", 4);
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  Img& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
  Img& kv_str(const std::string& key, const std::string& v) { return str(key).u32(8).str(v); }
  Img& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name).u32(uint32_t(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  Img& align(size_t a = 32) {
    while (b.size() % a) b.push_back('\0');
    return *this;
  }
  Img& zeros(size_t n) {
    b.append(n, '\0');
    return *this;
  }
};

void expect_error(const std::string& bytes, const std::string& needle) {
  try {
    parse(bytes);
    ADD_FAILURE() << "parsed without error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(needle));
    EXPECT_THAT(e.what(), HasSubstr("t.gguf"));
  }
}

// One F32 tensor [4] at offset 0.
std::string one_tensor_file(const std::string& tname = "w", std::vector<uint64_t> dims = {4}, uint32_t type = 0,
                            uint64_t offset = 0, size_t data = 16) {
  Img img;
  img.header(1, 1).kv_str("general.architecture", "llama").tensor(tname, dims, type, offset).align().zeros(data);
  return img.b;
}

TEST(Gguf, ReadsConvertedGoldenFile) {
  GgufFile g = open_gguf(data_path("llama_llama3rope_bf16.f16.gguf"));
  EXPECT_EQ(g.version, 3u);
  EXPECT_EQ(g.alignment, 32u);
  EXPECT_EQ(g.metadata.size(), 25u);
  EXPECT_EQ(g.tensors.size(), 22u);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_int("llama.block_count"), 2);
  EXPECT_EQ(g.get_int("llama.rope.dimension_count"), 32);
  EXPECT_FLOAT_EQ(float(g.get_float("llama.rope.freq_base")), 500000.0f);
  EXPECT_EQ(g.get_bool_opt("tokenizer.ggml.add_bos_token"), false);
  const GgufArray& tokens = g.get_array("tokenizer.ggml.tokens", GgufType::kString);
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens.strings[256], "\xc4\xa0t");  // "Ġt"
  EXPECT_EQ(tokens.strings[300], "<|tok_300|>");
  EXPECT_EQ(g.get_array("tokenizer.ggml.merges", GgufType::kString).strings, std::vector<std::string>{"\xc4\xa0 t"});
  EXPECT_EQ(g.get_array("tokenizer.ggml.token_type", GgufType::kInt32).ints[300], 4);
  // The first tensor is rope_freqs (F32 [16]) at data offset 0; 2-D weights are F16 [out, in].
  EXPECT_EQ(g.tensors[0].name, "rope_freqs.weight");
  EXPECT_EQ(g.tensors[0].view.dtype, DType::kF32);
  EXPECT_EQ(g.tensors[0].view.data, static_cast<const void*>(g.file->data() + g.data_offset));
  EXPECT_EQ(g.data_offset % 32, 0u);
  const GgufTensorInfo* down = g.find_tensor("blk.0.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->dims, (std::vector<uint64_t>{256, 128}));
  EXPECT_EQ(down->view.shape, (Shape{128, 256}));
  EXPECT_EQ(down->view.dtype, DType::kF16);
  EXPECT_EQ(down->view.nbytes, 128u * 256u * 2u);
  // llama3 divisors: 1 for the high frequencies, the factor 8 for the lowest.
  const float* f = g.tensors[0].view.as<float>();
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[15], 8.0f);
}

TEST(Gguf, ReadsQuantizedGoldenFile) {
  GgufFile g = open_gguf(data_path("qwen2_rand256.Q4_K_M.gguf"));
  const GgufTensorInfo* q = g.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->ggml_type, 12u);
  EXPECT_EQ(q->view.dtype, DType::kQ4_K);
  EXPECT_EQ(q->view.shape, (Shape{256, 256}));
  EXPECT_EQ(q->view.nbytes, 256u * 144u);
  EXPECT_EQ(g.find_tensor("blk.0.attn_q.bias")->view.dtype, DType::kF32);
  EXPECT_EQ(g.get_int("general.file_type"), 15);
}

TEST(Gguf, WriteReadRoundTripOfEveryValueType) {
  const std::string path = (fs::temp_directory_path() / "r1_test_gguf_roundtrip.gguf").string();
  std::vector<float> w(2 * 64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i) * 0.5f - 3.0f;
  std::vector<uint16_t> h(32, 0x3c00);  // f16 ones
  {
    GgufWriter out(path, 64);
    GgufValue u8;
    u8.type = GgufType::kUint8;
    u8.u = 200;
    GgufValue i8;
    i8.type = GgufType::kInt8;
    i8.i = -100;
    GgufValue i64;
    i64.type = GgufType::kInt64;
    i64.i = -(int64_t(1) << 40);
    GgufValue f64;
    f64.type = GgufType::kFloat64;
    f64.f = 0.1;
    out.set("a.u8", u8);
    out.set("a.i8", i8);
    out.set("a.u32", GgufValue::of_u32(4000000000u));
    out.set("a.i32", GgufValue::of_i32(-7));
    out.set("a.u64", GgufValue::of_u64(uint64_t(1) << 63));
    out.set("a.i64", i64);
    out.set("a.f32", GgufValue::of_f32(1.5f));
    out.set("a.f64", f64);
    out.set("a.bool", GgufValue::of_bool(true));
    out.set("a.str", GgufValue::of_string(std::string("h\0llo", 5)));
    out.set("a.strs", gguf_string_array({"x", "", "zz"}));
    out.set("a.ints", gguf_i32_array({1, -2, 3}));
    out.set("a.floats", gguf_f32_array({0.25f, -1.0f}));
    GgufValue nested;  // [[1, -2, 3], ["x", "", "zz"]]
    nested.type = GgufType::kArray;
    auto arr = std::make_shared<GgufArray>();
    arr->type = GgufType::kArray;
    arr->arrays = {gguf_i32_array({1, -2, 3}), gguf_string_array({"x", "", "zz"})};
    nested.array = arr;
    out.set("a.nested", nested);
    EXPECT_EQ(out.add_tensor("w", {64, 2}, DType::kF32), w.size() * 4);
    EXPECT_EQ(out.add_tensor("h", {32}, DType::kF16), 64u);
    out.write_header();
    out.write_data(w.data(), 100);  // in pieces
    out.write_data(reinterpret_cast<const char*>(w.data()) + 100, w.size() * 4 - 100);
    out.write_data(h.data(), 64);
    out.finish();
  }
  GgufFile g = open_gguf(path);
  EXPECT_EQ(g.alignment, 64u);
  EXPECT_EQ(g.find("a.u8")->u, 200u);
  EXPECT_EQ(g.get_int("a.i8"), -100);
  EXPECT_EQ(g.get_int("a.u32"), 4000000000);
  EXPECT_EQ(g.get_int("a.i32"), -7);
  EXPECT_EQ(g.find("a.u64")->u, uint64_t(1) << 63);
  EXPECT_THROW(g.get_int("a.u64"), Error);  // beyond int64
  EXPECT_EQ(g.get_int("a.i64"), -(int64_t(1) << 40));
  EXPECT_EQ(g.get_float("a.f32"), 1.5);
  EXPECT_EQ(g.get_float("a.f64"), 0.1);
  EXPECT_EQ(g.get_bool_opt("a.bool"), true);
  EXPECT_EQ(g.get_string("a.str"), std::string("h\0llo", 5));
  EXPECT_EQ(g.get_array("a.strs", GgufType::kString).strings, (std::vector<std::string>{"x", "", "zz"}));
  EXPECT_EQ(g.get_array("a.ints", GgufType::kInt32).ints, (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(g.get_array("a.floats", GgufType::kFloat32).floats, (std::vector<double>{0.25, -1.0}));
  const GgufArray& n = g.get_array("a.nested", GgufType::kArray);
  ASSERT_EQ(n.arrays.size(), 2u);
  EXPECT_EQ(n.arrays[0].array->ints, (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(n.arrays[1].array->strings, (std::vector<std::string>{"x", "", "zz"}));
  // Typed access names the key on a type mismatch.
  try {
    g.get_string("a.u32");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'a.u32' must be a string"));
  }
  EXPECT_THROW(g.get_int("missing.key"), Error);
  ASSERT_EQ(g.tensors.size(), 2u);
  EXPECT_EQ(g.tensors[0].view.shape, (Shape{2, 64}));
  EXPECT_EQ(std::memcmp(g.tensors[0].view.data, w.data(), w.size() * 4), 0);
  EXPECT_EQ(g.tensors[1].offset % 64, 0u);
  EXPECT_EQ(std::memcmp(g.tensors[1].view.data, h.data(), 64), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(g.tensors[1].view.data) % 64, 0u);
  fs::remove(path);
}

TEST(Gguf, UnfinishedWriterRemovesTheFile) {
  const std::string path = (fs::temp_directory_path() / "r1_test_gguf_unfinished.gguf").string();
  {
    GgufWriter out(path);
    out.add_tensor("w", {32}, DType::kF32);
    out.write_header();
    EXPECT_TRUE(fs::exists(path));
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(GgufMalformed, EveryTruncationOfARealFileIsAnError) {
  const std::string full = read_all(data_path("qwen2_rand256.Q8_0.gguf"));
  GgufFile g = parse(full);
  // Header bytes: every prefix; then a sample of the data section (a cut there leaves the last
  // tensor short).
  const size_t header = size_t(g.data_offset);
  for (size_t n = 0; n < full.size(); n += (n < header + 64 ? 1 : 4099)) {
    SCOPED_TRACE(n);
    EXPECT_THROW(parse(full.substr(0, n)), Error);
  }
}

TEST(GgufMalformed, Header) {
  expect_error("", "too short");
  expect_error("GGU", "too short");
  expect_error(std::string("GGML") + std::string(20, '\0'), "bad magic");
  expect_error(Img().header(0, 0, 1).b, "version 1 is not supported");
  expect_error(Img().header(0, 0, 4).b, "unsupported GGUF version 4");
  expect_error(Img().header(0, 0, 0x03000000).b, "big-endian");
  expect_error(Img().header(0, uint64_t(1) << 60).b, "metadata count");
  expect_error(Img().header(uint64_t(1) << 60, 0).b, "tensor count");
  EXPECT_EQ(parse(Img().header(0, 0).b).tensors.size(), 0u);  // an empty file is valid
}

TEST(GgufMalformed, Metadata) {
  // A string length far past the end of the file.
  expect_error(Img().header(0, 1).str("k").u32(8).u64(uint64_t(1) << 62).b, "runs past the end");
  expect_error(Img().header(0, 1).u64(uint64_t(1) << 62).zeros(16).b, "runs past the end");
  expect_error(Img().header(0, 1).str("").u32(4).u32(1).b, "empty key");
  expect_error(Img().header(0, 1).str("k").u32(13).u32(1).b, "unknown value type 13");
  expect_error(Img().header(0, 1).str("k").u32(7).put(uint8_t(2)).b, "neither 0 nor 1");
  expect_error(Img().header(0, 2).kv_u32("k", 1).kv_u32("k", 2).b, "'k' appears twice");
  // Arrays: absurd counts, unknown element types, too deep nesting.
  expect_error(Img().header(0, 1).str("k").u32(9).u32(4).u64(uint64_t(1) << 61).b, "cannot fit");
  expect_error(Img().header(0, 1).str("k").u32(9).u32(8).u64(uint64_t(1) << 40).b, "cannot fit");
  expect_error(Img().header(0, 1).str("k").u32(9).u32(99).u64(0).b, "unknown array element type 99");
  Img deep;
  deep.header(0, 1).str("k").u32(9);
  for (int i = 0; i < 10; ++i) deep.u32(9).u64(1);
  deep.u32(4).u64(0);
  expect_error(deep.b, "nested deeper");
  // The key is named when its value is cut short.
  expect_error(Img().header(0, 1).str("my.key").u32(6).u32(7).b.substr(0, 24 + 8 + 6 + 4 + 2), "metadata 'my.key'");
  // general.alignment must be a uint32 power of two.
  expect_error(Img().header(0, 1).kv_u32("general.alignment", 48).b, "not a power of two");
  expect_error(Img().header(0, 1).kv_u32("general.alignment", 0).b, "not a power of two");
  expect_error(Img().header(0, 1).kv_u32("general.alignment", 4).b, "not a power of two that is a multiple of 8");
  expect_error(Img().header(0, 1).kv_str("general.alignment", "32").b, "must be uint32");
}

TEST(GgufMalformed, TensorInfos) {
  EXPECT_EQ(parse(one_tensor_file()).tensors.size(), 1u);
  expect_error(one_tensor_file("w", {}), "0 dimensions");
  expect_error(one_tensor_file("w", {1, 1, 1, 1, 4}), "5 dimensions");
  expect_error(one_tensor_file("w", {4, 0}), "'w' has a zero dimension");
  expect_error(one_tensor_file("w", {uint64_t(1) << 40, uint64_t(1) << 40}), "overflows");
  expect_error(one_tensor_file("w", {uint64_t(1) << 62, 2}), "overflows");
  expect_error(one_tensor_file("w", {4}, 99), "unknown ggml type 99");
  expect_error(one_tensor_file("w", {256}, 10), "type Q2_K, which r1 does not support");
  expect_error(one_tensor_file("w", {33}, 8), "not a multiple of its block size 32");
  expect_error(one_tensor_file("w", {4}, 0, 8), "offset 8 is not a multiple of the alignment 32");
  expect_error(one_tensor_file("w", {4}, 0, 64), "runs past the end");
  expect_error(one_tensor_file("w", {4}, 0, uint64_t(-32)), "runs past the end");
  expect_error(one_tensor_file("w", {8}, 0, 0, 16), "runs past the end");  // 32 bytes declared, 16 present
  expect_error(one_tensor_file(""), "empty name");
  expect_error(one_tensor_file(std::string(65, 'n')), "exceeds the limit of 64 bytes");
  // Two tensors: duplicates and overlaps.
  Img dup;
  dup.header(2, 0).tensor("a", {4}, 0, 0).tensor("a", {4}, 0, 32).align().zeros(64);
  expect_error(dup.b, "tensor 'a' appears twice");
  Img overlap;
  overlap.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).align().zeros(64);
  expect_error(overlap.b, "'a' and 'b' overlap");
  Img ok;
  ok.header(2, 0).tensor("a", {8}, 0, 0).tensor("b", {4}, 0, 32).align().zeros(64);
  EXPECT_EQ(parse(ok.b).tensors.size(), 2u);
}

TEST(GgufMalformed, FileErrorsNameThePath) {
  const std::string path = (fs::temp_directory_path() / "r1_test_bad.gguf").string();
  {
    std::ofstream out(path, std::ios::binary);
    out << "GGUF\x03";
  }
  try {
    open_gguf(path);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path));
  }
  fs::remove(path);
  EXPECT_THROW(open_gguf(path), Error);  // missing file
}

}  // namespace
}  // namespace r1
