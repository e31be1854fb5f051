// JsonConfig: every accessor validates type and presence; messages read
// "<file>: 'key' must be an integer (got string \"x\")".
#include "formats/json_config.h"

#include <cmath>

#include "core/error.h"

namespace r1 {

namespace {
std::string describe(const nlohmann::json& v) {
  std::string dump = v.dump();
  if (dump.size() > 40) dump = dump.substr(0, 37) + "...";
  return fmt::format("{} {}", v.type_name(), dump);
}
}  // namespace

JsonConfig::JsonConfig(const nlohmann::json& j, std::string source) : j_(j), source_(std::move(source)) {
  if (!j_.is_object()) fail("{}: must be a JSON object, got {}", source_, j_.type_name());
}

void JsonConfig::fail_key(const char* key, const std::string& problem) const {
  fail("{}: '{}' {}", source_, key, problem);
}

bool JsonConfig::has(const char* key) const {
  auto it = j_.find(key);
  return it != j_.end() && !it->is_null();
}

const nlohmann::json& JsonConfig::at(const char* key) const {
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) fail_key(key, "is missing");
  return *it;
}

int64_t JsonConfig::integer(const char* key) const {
  const auto& v = at(key);
  if (v.is_number_integer()) return v.get<int64_t>();
  // Some configs write integers as 1.0; accept exact integral floats.
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return int64_t(d);
  }
  fail_key(key, "must be an integer (got " + describe(v) + ")");
}

int64_t JsonConfig::integer(const char* key, int64_t fallback) const {
  return has(key) ? integer(key) : fallback;
}

double JsonConfig::number(const char* key) const {
  const auto& v = at(key);
  if (!v.is_number()) fail_key(key, "must be a number (got " + describe(v) + ")");
  double d = v.get<double>();
  if (!std::isfinite(d)) fail_key(key, "must be finite");
  return d;
}

double JsonConfig::number(const char* key, double fallback) const {
  return has(key) ? number(key) : fallback;
}

bool JsonConfig::boolean(const char* key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = at(key);
  if (!v.is_boolean()) fail_key(key, "must be true or false (got " + describe(v) + ")");
  return v.get<bool>();
}

std::string JsonConfig::string(const char* key) const {
  const auto& v = at(key);
  if (!v.is_string()) fail_key(key, "must be a string (got " + describe(v) + ")");
  return v.get<std::string>();
}

std::string JsonConfig::string(const char* key, const std::string& fallback) const {
  return has(key) ? string(key) : fallback;
}

std::optional<JsonConfig> JsonConfig::object(const char* key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = at(key);
  if (!v.is_object()) fail_key(key, "must be an object (got " + describe(v) + ")");
  return JsonConfig(v, source_ + ": " + key);
}

int64_t JsonConfig::integer_in(const char* key, int64_t lo, int64_t hi) const {
  int64_t v = integer(key);
  if (v < lo || v > hi) fail_key(key, fmt::format("is {}, must be in [{}, {}]", v, lo, hi));
  return v;
}

int64_t JsonConfig::integer_in(const char* key, int64_t fallback, int64_t lo, int64_t hi) const {
  return has(key) ? integer_in(key, lo, hi) : fallback;
}

std::string JsonConfig::one_of(const char* key, std::initializer_list<const char*> allowed) const {
  std::string v = string(key);
  std::string list;
  for (const char* a : allowed) {
    if (v == a) return v;
    list += list.empty() ? "" : ", ";
    list += fmt::format("'{}'", a);
  }
  fail_key(key, fmt::format("is '{}', which r1 does not support (supported: {})", v, list));
}

std::string JsonConfig::one_of(const char* key, const std::string& fallback,
                               std::initializer_list<const char*> allowed) const {
  return has(key) ? one_of(key, allowed) : fallback;
}

}  // namespace r1
