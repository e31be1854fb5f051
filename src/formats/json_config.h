// Typed access to a JSON configuration object (config.json, rope_scaling, ...) with errors that
// name the file and the key: a missing required key, a wrong type or an unsupported value.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

namespace r1 {

class JsonConfig {
 public:
  JsonConfig(const nlohmann::json& j, std::string source);

  const std::string& source() const { return source_; }
  const nlohmann::json& json() const { return j_; }
  // Present and not null.
  bool has(const char* key) const;

  int64_t integer(const char* key) const;
  int64_t integer(const char* key, int64_t fallback) const;
  double number(const char* key) const;
  double number(const char* key, double fallback) const;
  bool boolean(const char* key, bool fallback) const;
  std::string string(const char* key) const;
  std::string string(const char* key, const std::string& fallback) const;
  // A nested object (e.g. rope_scaling); nullopt when absent or null.
  std::optional<JsonConfig> object(const char* key) const;

  // Integer in [lo, hi] (inclusive), else an error naming the key.
  int64_t integer_in(const char* key, int64_t lo, int64_t hi) const;
  int64_t integer_in(const char* key, int64_t fallback, int64_t lo, int64_t hi) const;
  // The string value must be one of `allowed`.
  std::string one_of(const char* key, std::initializer_list<const char*> allowed) const;
  std::string one_of(const char* key, const std::string& fallback,
                     std::initializer_list<const char*> allowed) const;

  [[noreturn]] void fail_key(const char* key, const std::string& problem) const;

 private:
  const nlohmann::json& at(const char* key) const;  // required: present and not null
  nlohmann::json j_;
  std::string source_;
};

}  // namespace r1
