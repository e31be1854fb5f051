// Hugging Face directories: single file, shards listed in model.safetensors.index.json, and the
// errors for missing pieces; JsonConfig's typed access.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "formats/json_config.h"
#include "formats/safetensors_writer.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / fs::path("r1_ckpt_" + std::to_string(::getpid()) + "_" +
                                                std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path / name) << text; }
};

TensorToWrite f32_tensor(const std::string& name, Shape shape, float value) {
  return {name, DType::kF32, shape, [value](std::byte* out, uint64_t bytes) {
            for (uint64_t i = 0; i < bytes / 4; ++i) reinterpret_cast<float*>(out)[i] = value;
          }};
}

TEST(Checkpoint, SingleFileRoundTrip) {
  TempDir d;
  d.write("config.json", R"({"model_type":"qwen2"})");
  write_safetensors((d.path / "model.safetensors").string(), {f32_tensor("a", {2, 2}, 1.5f), f32_tensor("b", {3}, -2)});
  auto ckpt = open_checkpoint(d.path.string());
  ASSERT_NE(ckpt->find("a"), nullptr);
  EXPECT_EQ(ckpt->find("a")->view.as<float>()[3], 1.5f);
  EXPECT_EQ(ckpt->find("b")->view.shape, (Shape{3}));
  EXPECT_EQ(ckpt->config["model_type"], "qwen2");
  EXPECT_FALSE(ckpt->generation_config.has_value());
  EXPECT_EQ(ckpt->tensor_bytes(), 28u);
}

TEST(Checkpoint, Shards) {
  TempDir d;
  d.write("config.json", "{}");
  d.write("generation_config.json", R"({"temperature":0.6})");
  write_safetensors((d.path / "s1.safetensors").string(), {f32_tensor("a", {2}, 1)});
  write_safetensors((d.path / "s2.safetensors").string(), {f32_tensor("b", {2}, 2)});
  d.write("model.safetensors.index.json", R"({"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}})");
  auto ckpt = open_checkpoint(d.path.string());
  EXPECT_EQ(ckpt->find("b")->view.as<float>()[1], 2.0f);
  EXPECT_EQ(ckpt->find("b")->file, "s2.safetensors");
  EXPECT_EQ((*ckpt->generation_config)["temperature"], 0.6);
}

std::string open_error(const TempDir& d) {
  try {
    open_checkpoint(d.path.string());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Checkpoint, ShardErrors) {
  TempDir d;
  d.write("config.json", "{}");
  write_safetensors((d.path / "s1.safetensors").string(), {f32_tensor("a", {2}, 1)});
  d.write("model.safetensors.index.json", R"({"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}})");
  EXPECT_NE(open_error(d).find("shard 's2.safetensors'"), std::string::npos);
  d.write("model.safetensors.index.json", R"({"weight_map":{"a":"s1.safetensors","c":"s1.safetensors"}})");
  EXPECT_NE(open_error(d).find("'c'"), std::string::npos);
  d.write("model.safetensors.index.json", R"({"weight_map":{"a":"../etc/passwd"}})");
  EXPECT_NE(open_error(d).find("not a file in the model directory"), std::string::npos);
  d.write("model.safetensors.index.json", R"({"nope":1})");
  EXPECT_NE(open_error(d).find("weight_map"), std::string::npos);
}

TEST(Checkpoint, MissingPieces) {
  TempDir d;
  EXPECT_NE(open_error(d).find("config.json is missing"), std::string::npos);
  d.write("config.json", "{bad json");
  EXPECT_NE(open_error(d).find("not valid JSON"), std::string::npos);
  d.write("config.json", "{}");
  EXPECT_NE(open_error(d).find("no model.safetensors"), std::string::npos);
  EXPECT_TRUE(open_checkpoint(d.path.string(), LoadMode::kMmap, true)->config_only);
  TempDir missing;
  fs::remove_all(missing.path);
  EXPECT_NE(open_error(missing).find("no such model directory"), std::string::npos);
}

TEST(JsonConfig, TypedAccessAndErrors) {
  JsonConfig c(nlohmann::json::parse(R"({"a":3,"b":2.0,"c":"x","d":null,"e":true,"f":1.5,"o":{"k":1}})"),
               "m/config.json");
  EXPECT_EQ(c.integer("a"), 3);
  EXPECT_EQ(c.integer("b"), 2);  // integral float accepted
  EXPECT_EQ(c.integer("d", 7), 7);
  EXPECT_EQ(c.integer("zz", 8), 8);
  EXPECT_TRUE(c.boolean("e", false));
  EXPECT_EQ(c.object("o")->integer("k"), 1);
  EXPECT_FALSE(c.object("d").has_value());
  auto msg = [&](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(msg([&] { c.integer("zz"); }), "m/config.json: 'zz' is missing");
  EXPECT_NE(msg([&] { c.integer("c"); }).find("'c' must be an integer"), std::string::npos);
  EXPECT_NE(msg([&] { c.integer("f"); }).find("must be an integer"), std::string::npos);
  EXPECT_NE(msg([&] { c.boolean("a", false); }).find("true or false"), std::string::npos);
  EXPECT_NE(msg([&] { c.integer_in("a", 4, 10); }).find("must be in [4, 10]"), std::string::npos);
  EXPECT_NE(msg([&] { c.one_of("c", {"y", "z"}); }).find("does not support"), std::string::npos);
  EXPECT_NE(msg([&] { c.object("a"); }).find("must be an object"), std::string::npos);
}

}  // namespace
}  // namespace r1
