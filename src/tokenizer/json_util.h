// Typed field access for tokenizer.json with errors that name the offending path
// ("tokenizer.json: pre_tokenizer.pretokenizers[1].behavior: expected a string").
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "core/error.h"

namespace r1::tokjson {

using nlohmann::json;

inline const json& field(const json& obj, const char* key, const std::string& path) {
  if (!obj.is_object()) fail("tokenizer.json: {}: expected an object", path);
  auto it = obj.find(key);
  if (it == obj.end()) fail("tokenizer.json: {}: missing field '{}'", path, key);
  return *it;
}

inline const json* optional_field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

inline std::string get_string(const json& obj, const char* key, const std::string& path) {
  const json& v = field(obj, key, path);
  if (!v.is_string()) fail("tokenizer.json: {}.{}: expected a string", path, key);
  return v.get<std::string>();
}

inline bool get_bool(const json& obj, const char* key, bool fallback, const std::string& path) {
  const json* v = optional_field(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail("tokenizer.json: {}.{}: expected true or false", path, key);
  return v->get<bool>();
}

// Token ids are bounded so that a hostile file cannot make the tables huge (real vocabularies
// have at most a few hundred thousand ids).
inline constexpr int64_t kMaxTokenId = (int64_t{1} << 21) - 1;

inline int32_t get_id(const json& v, const std::string& path) {
  if (!v.is_number_integer()) fail("tokenizer.json: {}: expected an integer token id", path);
  const int64_t id = v.get<int64_t>();
  if (id < 0 || id > kMaxTokenId)
    fail("tokenizer.json: {}: token id {} is out of range [0, {}]", path, id, kMaxTokenId);
  return static_cast<int32_t>(id);
}

inline std::string type_of(const json& obj, const std::string& path) {
  return get_string(obj, "type", path);
}

}  // namespace r1::tokjson
