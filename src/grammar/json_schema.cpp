// JSON Schema → grammar IR. Choices made where a schema allows several writings of the same value:
// object properties come in the order of "properties" (optional ones may be skipped), additional
// properties after them (they may repeat a name among themselves: a grammar cannot remember
// arbitrary names, but they never repeat a declared one); enum/const values and property names are written as nlohmann::json dumps
// them (other strings accept every JSON escape); bounded numbers have no exponent, others an
// exponent of at most two digits; a schema without
// "type" takes the types its keywords imply (any value when none). oneOf is matched as anyOf.
// Whitespace between tokens follows GrammarOptions::max_whitespace.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "grammar/ir.h"
#include "grammar/number_range.h"

namespace r1::grammar::detail {

namespace {

using Json = nlohmann::ordered_json;

// Keywords that never change which values match.
const std::set<std::string> kAnnotations = {
    "title",    "description", "default",   "examples",         "$comment",        "$schema",
    "$id",      "deprecated",  "readOnly",  "writeOnly",        "contentMediaType", "contentEncoding",
    "$defs",    "definitions", "$anchor",   "discriminator",    "example",         "$vocabulary"};

// Keywords that constrain values in ways this compiler does not implement.
const std::set<std::string> kUnsupported = {
    "not",          "if",           "then",           "else",
    "dependentSchemas", "dependentRequired", "dependencies", "patternProperties",
    "propertyNames", "unevaluatedProperties", "unevaluatedItems", "contains",
    "minContains",  "maxContains",  "multipleOf",     "minProperties",
    "maxProperties", "$dynamicRef", "$recursiveRef",  "$dynamicAnchor",
    "$recursiveAnchor", "contentSchema"};

enum TypeBit : uint32_t {
  kNull = 1, kBoolean = 2, kObject = 4, kArray = 8, kString = 16, kNumber = 32, kInteger = 64,
};
constexpr uint32_t kAllTypes = kNull | kBoolean | kObject | kArray | kString | kNumber;

const std::set<std::string> kObjectKeywords = {"properties", "required", "additionalProperties"};
const std::set<std::string> kArrayKeywords = {"items", "prefixItems", "additionalItems", "minItems",
                                              "maxItems", "uniqueItems"};
const std::set<std::string> kStringKeywords = {"minLength", "maxLength", "pattern", "format"};
const std::set<std::string> kNumberKeywords = {"minimum", "maximum", "exclusiveMinimum",
                                               "exclusiveMaximum"};

std::string json_string_literal(const std::string& s) { return Json(s).dump(); }

// The text of each format, as a pattern inside a JSON string (RFC 3339 dates and times with real
// month lengths and leap years, RFC 4122 UUIDs, a practical subset of RFC 5321 addresses, RFC 3986
// URI characters after a scheme, RFC 1123 host names, dotted-quad IPv4).
const char* format_pattern(const std::string& format) {
  static const std::string kDate =
      "(\\d{4}-(0[13578]|1[02])-(0[1-9]|[12]\\d|3[01])|\\d{4}-(0[469]|11)-(0[1-9]|[12]\\d|30)"
      "|\\d{4}-02-(0[1-9]|1\\d|2[0-8])"
      "|(\\d\\d(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)-02-29)";
  static const std::string kTime =
      "([01]\\d|2[0-3]):[0-5]\\d:([0-5]\\d|60)(\\.\\d+)?([Zz]|[+-]([01]\\d|2[0-3]):[0-5]\\d)";
  static const std::string kDatePattern = "^" + kDate + "$";
  static const std::string kTimePattern = "^" + kTime + "$";
  static const std::string kDateTimePattern = "^" + kDate + "[Tt]" + kTime + "$";
  if (format == "date") return kDatePattern.c_str();
  if (format == "time") return kTimePattern.c_str();
  if (format == "date-time") return kDateTimePattern.c_str();
  if (format == "uuid") {
    return "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
  }
  if (format == "email") {
    return "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
           "@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\\.)+[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?$";
  }
  if (format == "uri") {  // scheme ":" then RFC 3986 characters or percent escapes
    return "^[A-Za-z][A-Za-z0-9+.\\-]*:([A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$";
  }
  if (format == "hostname") {  // RFC 1123 labels of 1-63 characters (total length not bounded)
    return "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
           "[A-Za-z0-9])?)*$";
  }
  if (format == "ipv4") {
    return "^((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$";
  }
  return nullptr;
}

class SchemaCompiler {
 public:
  SchemaCompiler(IrBuilder& b, const Json& root) : b_(b), root_(root) {}

  int32_t compile(const Json& s, const std::string& path, int depth) {
    if (depth > kMaxNesting) {
      fail(ErrorKind::kLimit, "JSON schema nested deeper than {} levels at {}", kMaxNesting,
           where(path));
    }
    if (s.is_boolean()) return s.get<bool>() ? b_.ref(any_value_rule()) : b_.nothing();
    if (!s.is_object()) fail("JSON schema at {} must be an object or a boolean", where(path));
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (kUnsupported.count(it.key()) ||
          (it.key() == "uniqueItems" && !(it.value().is_boolean() && !it.value().get<bool>()))) {
        fail(ErrorKind::kUnsupported, "unsupported JSON Schema keyword '{}' at {}", it.key(),
             where(path));
      }
    }
    if (s.contains("$ref")) {
      only_with(s, path, "$ref", {});
      const Json& ref = s["$ref"];
      if (!ref.is_string()) fail("'$ref' at {} must be a string", where(path));
      return b_.ref(ref_rule(ref.get<std::string>(), path, depth));
    }
    if (s.contains("allOf")) {
      only_with(s, path, "allOf", {});
      const Json& all = s["allOf"];
      if (!all.is_array() || all.empty()) fail("'allOf' at {} must be a non-empty array", where(path));
      if (all.size() != 1) {
        fail(ErrorKind::kUnsupported,
             "unsupported JSON Schema keyword 'allOf' with {} schemas at {} (only one is supported)",
             all.size(), where(path));
      }
      return compile(all[0], path + "/allOf/0", depth + 1);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      only_with(s, path, key, {});
      const Json& list = s[key];
      if (!list.is_array() || list.empty()) {
        fail("'{}' at {} must be a non-empty array", key, where(path));
      }
      std::vector<int32_t> alts;
      for (size_t i = 0; i < list.size(); ++i) {
        alts.push_back(compile(list[i], fmt::format("{}/{}/{}", path, key, i), depth + 1));
      }
      return b_.choice(alts);
    }
    uint32_t types = type_set(s, path);
    if (s.contains("enum") || s.contains("const")) return enum_values(s, path, types);
    std::vector<int32_t> alts;
    if (types & kNull) alts.push_back(b_.bytes("null"));
    if (types & kBoolean) alts.push_back(b_.choice({b_.bytes("true"), b_.bytes("false")}));
    if (types & (kNumber | kInteger)) alts.push_back(number(s, path, !(types & kNumber)));
    if (types & kString) alts.push_back(string(s, path));
    if (types & kArray) alts.push_back(array(s, path, depth));
    if (types & kObject) alts.push_back(object(s, path, depth));
    return b_.choice(alts);
  }

  int32_t any_value_rule() {
    int32_t* rule = b_.memo("rule:value");
    if (*rule >= 0) return *rule;
    *rule = b_.new_rule("value");
    int32_t object = b_.new_rule("object"), array = b_.new_rule("array");
    int32_t ws = b_.ws(), value = b_.ref(*rule);
    int32_t string = b_.json_string(CharSet::all(), 0, kInf);
    int32_t member = b_.seq({string, ws, b_.bytes(":"), ws, value});
    int32_t sep = b_.seq({ws, b_.bytes(","), ws});
    b_.set_body(object, b_.seq({b_.bytes("{"), ws,
                                b_.optional(b_.seq({member, b_.repeat(b_.seq({sep, member}), 0, kInf),
                                                    ws})),
                                b_.bytes("}")}));
    b_.set_body(array, b_.seq({b_.bytes("["), ws,
                               b_.optional(b_.seq({value, b_.repeat(b_.seq({sep, value}), 0, kInf),
                                                   ws})),
                               b_.bytes("]")}));
    b_.set_body(*rule, b_.choice({b_.ref(object), b_.ref(array), string,
                                  build_number(b_, false, std::nullopt, std::nullopt),
                                  b_.bytes("true"), b_.bytes("false"), b_.bytes("null")}));
    *b_.memo("rule:object") = object;
    return *rule;
  }

 private:
  static std::string where(const std::string& path) { return path.empty() ? "/" : path; }

  // Besides `keyword`, only annotations, $defs and the listed keywords may appear.
  void only_with(const Json& s, const std::string& path, const char* keyword,
                 const std::set<std::string>& allowed) {
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (it.key() == keyword || kAnnotations.count(it.key()) || allowed.count(it.key())) continue;
      if (it.key() == "nullable" || it.key() == "uniqueItems") continue;
      bool known = it.key() == "type" || kObjectKeywords.count(it.key()) ||
                   kArrayKeywords.count(it.key()) || kStringKeywords.count(it.key()) ||
                   kNumberKeywords.count(it.key()) || it.key() == "enum" || it.key() == "const" ||
                   it.key() == "anyOf" || it.key() == "oneOf" || it.key() == "allOf" ||
                   it.key() == "$ref";
      if (known) {
        fail(ErrorKind::kUnsupported,
             "unsupported JSON Schema keyword '{}' next to '{}' at {}", it.key(), keyword,
             where(path));
      }
    }
  }

  uint32_t type_set(const Json& s, const std::string& path) {
    uint32_t types = 0;
    if (s.contains("type")) {
      const Json& t = s["type"];
      std::vector<Json> names = t.is_array() ? std::vector<Json>(t.begin(), t.end())
                                             : std::vector<Json>{t};
      if (names.empty()) fail("'type' at {} is an empty array", where(path));
      for (const Json& n : names) {
        if (!n.is_string()) fail("'type' at {} must be a string or an array of strings", where(path));
        std::string name = n.get<std::string>();
        if (name == "null") types |= kNull;
        else if (name == "boolean") types |= kBoolean;
        else if (name == "object") types |= kObject;
        else if (name == "array") types |= kArray;
        else if (name == "string") types |= kString;
        else if (name == "number") types |= kNumber;
        else if (name == "integer") types |= kInteger;
        else fail("unknown type '{}' at {}", name, where(path));
      }
    } else {
      for (auto it = s.begin(); it != s.end(); ++it) {
        if (kObjectKeywords.count(it.key())) types |= kObject;
        if (kArrayKeywords.count(it.key()) && it.key() != "uniqueItems") types |= kArray;
        if (kStringKeywords.count(it.key())) types |= kString;
        if (kNumberKeywords.count(it.key())) types |= kNumber;
      }
      if (types == 0) types = kAllTypes;
    }
    if (s.contains("nullable") && s["nullable"].is_boolean() && s["nullable"].get<bool>()) {
      types |= kNull;
    }
    return types;
  }

  static bool has_type(const Json& v, uint32_t types) {
    if (v.is_null()) return types & kNull;
    if (v.is_boolean()) return types & kBoolean;
    if (v.is_object()) return types & kObject;
    if (v.is_array()) return types & kArray;
    if (v.is_string()) return types & kString;
    if (v.is_number_integer() || v.is_number_unsigned()) return types & (kNumber | kInteger);
    if (v.is_number_float()) {
      double d = v.get<double>();
      return (types & kNumber) || ((types & kInteger) && d == static_cast<double>(
                                                              static_cast<long long>(d)));
    }
    return false;
  }

  int32_t enum_values(const Json& s, const std::string& path, uint32_t types) {
    only_with(s, path, s.contains("enum") ? "enum" : "const", {"type", "enum", "const", "nullable"});
    std::vector<Json> values;
    if (s.contains("enum")) {
      const Json& e = s["enum"];
      if (!e.is_array()) fail("'enum' at {} must be an array", where(path));
      values.assign(e.begin(), e.end());
    }
    if (s.contains("const")) {
      if (s.contains("enum") &&
          std::find(values.begin(), values.end(), s["const"]) == values.end()) {
        values.clear();
      } else {
        values = {s["const"]};
      }
    }
    std::vector<int32_t> alts;
    for (const Json& v : values) {
      if (has_type(v, types)) alts.push_back(literal_value(v, path, 0));
    }
    return b_.choice(alts);
  }

  // One JSON value, written as dumped, with the usual whitespace allowed between its tokens.
  int32_t literal_value(const Json& v, const std::string& path, int depth) {
    if (depth > kMaxNesting) {
      fail(ErrorKind::kLimit, "enum/const value at {} nested deeper than {} levels", where(path),
           kMaxNesting);
    }
    int32_t ws = b_.ws();
    if (v.is_object()) {
      std::vector<int32_t> parts{b_.bytes("{"), ws};
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) parts.insert(parts.end(), {ws, b_.bytes(","), ws});
        first = false;
        parts.insert(parts.end(), {b_.bytes(json_string_literal(it.key())), ws, b_.bytes(":"), ws,
                                   literal_value(it.value(), path, depth + 1)});
      }
      if (!first) parts.push_back(ws);
      parts.push_back(b_.bytes("}"));
      return b_.seq(parts);
    }
    if (v.is_array()) {
      std::vector<int32_t> parts{b_.bytes("["), ws};
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) parts.insert(parts.end(), {ws, b_.bytes(","), ws});
        parts.push_back(literal_value(v[i], path, depth + 1));
      }
      if (!v.empty()) parts.push_back(ws);
      parts.push_back(b_.bytes("]"));
      return b_.seq(parts);
    }
    return b_.bytes(v.dump());
  }

  static uint32_t count_keyword(const Json& s, const char* key, const std::string& path,
                                uint32_t fallback) {
    if (!s.contains(key)) return fallback;
    const Json& v = s[key];
    if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
      return static_cast<uint32_t>(std::min<uint64_t>(v.get<uint64_t>(), kInf - 1));
    }
    if (v.is_number_float() && v.get<double>() >= 0 && v.get<double>() == static_cast<double>(
                                                          static_cast<uint64_t>(v.get<double>()))) {
      return static_cast<uint32_t>(std::min<double>(v.get<double>(), kInf - 1));
    }
    fail("'{}' at {} must be a non-negative integer", key, where(path));
  }

  static std::optional<NumberBound> bound(const Json& s, const char* key, const char* exclusive_key,
                                          const std::string& path) {
    std::optional<NumberBound> result;
    auto read = [&](const Json& v, const char* name) {
      if (!v.is_number()) fail("'{}' at {} must be a number", name, where(path));
      NumberBound nb;
      if (!Decimal::parse(v.dump(), nb.value)) {
        fail(ErrorKind::kUnsupported, "'{}' at {} is out of range", name, where(path));
      }
      return nb;
    };
    if (s.contains(key)) result = read(s[key], key);
    if (s.contains(exclusive_key)) {
      const Json& e = s[exclusive_key];
      if (e.is_boolean()) {  // draft 4: a flag on minimum/maximum
        if (e.get<bool>() && result) result->exclusive = true;
      } else {
        NumberBound nb = read(e, exclusive_key);
        nb.exclusive = true;
        // Keep the tighter of the two bounds.
        bool lower = std::string(key) == "minimum";
        if (!result) {
          result = nb;
        } else {
          double a = s[key].get<double>(), c = e.get<double>();
          if (lower ? c >= a : c <= a) result = nb;
        }
      }
    }
    return result;
  }

  int32_t number(const Json& s, const std::string& path, bool integer) {
    return build_number(b_, integer, bound(s, "minimum", "exclusiveMinimum", path),
                        bound(s, "maximum", "exclusiveMaximum", path));
  }

  int32_t string(const Json& s, const std::string& path) {
    uint32_t min = count_keyword(s, "minLength", path, 0);
    uint32_t max = count_keyword(s, "maxLength", path, kInf);
    std::string pattern;
    if (s.contains("format")) {
      if (!s["format"].is_string()) fail("'format' at {} must be a string", where(path));
      std::string format = s["format"].get<std::string>();
      const char* p = format_pattern(format);
      if (!p) {
        fail(ErrorKind::kUnsupported, "unsupported JSON Schema keyword 'format' value '{}' at {}",
             format, where(path));
      }
      if (s.contains("pattern")) {
        fail(ErrorKind::kUnsupported,
             "unsupported JSON Schema keyword 'format' together with 'pattern' at {}", where(path));
      }
      pattern = p;
    } else if (s.contains("pattern")) {
      if (!s["pattern"].is_string()) fail("'pattern' at {} must be a string", where(path));
      pattern = s["pattern"].get<std::string>();
    } else {
      return b_.json_string(CharSet::all(), min, max);
    }
    CharSet chars;
    uint32_t pmin, pmax;
    if (regex_as_class_repeat(pattern, chars, pmin, pmax)) {
      return b_.json_string(chars, std::max(min, pmin), std::min(max, pmax));
    }
    int32_t* rule = b_.memo(fmt::format("pattern:{}:{}:{}", min, max, pattern));
    if (*rule < 0) {
      int32_t body = build_regex(b_, pattern, RegexMode::kJsonString, min, max);
      *rule = b_.new_rule(fmt::format("pattern{}", b_.data().rules.size()),
                          b_.seq({body, b_.bytes("\"")}), /*inline_ok=*/false);
    }
    return b_.seq({b_.bytes("\""), b_.ref(*rule)});
  }

  int32_t array(const Json& s, const std::string& path, int depth) {
    uint32_t min = count_keyword(s, "minItems", path, 0);
    uint32_t max = count_keyword(s, "maxItems", path, kInf);
    std::vector<int32_t> prefix;
    const Json* rest_schema = nullptr;
    std::string rest_path;
    bool rest_any = false;
    const Json* prefix_list = nullptr;
    std::string prefix_key;
    if (s.contains("prefixItems")) {
      prefix_list = &s["prefixItems"];
      prefix_key = "prefixItems";
      if (s.contains("items")) rest_schema = &s["items"], rest_path = path + "/items";
    } else if (s.contains("items") && s["items"].is_array()) {  // draft 4-2019 tuple form
      prefix_list = &s["items"];
      prefix_key = "items";
      if (s.contains("additionalItems")) {
        rest_schema = &s["additionalItems"], rest_path = path + "/additionalItems";
      }
    } else if (s.contains("items")) {
      rest_schema = &s["items"], rest_path = path + "/items";
    } else {
      rest_any = true;
    }
    if (prefix_list) {
      if (!prefix_list->is_array()) fail("'{}' at {} must be an array", prefix_key, where(path));
      for (size_t i = 0; i < prefix_list->size(); ++i) {
        prefix.push_back(
            compile((*prefix_list)[i], fmt::format("{}/{}/{}", path, prefix_key, i), depth + 1));
      }
      if (!rest_schema && !b_.options().strict) rest_any = true;
    }
    int32_t rest = -1;
    if (rest_schema) {
      bool none = rest_schema->is_boolean() && !rest_schema->get<bool>();
      if (!none) rest = compile(*rest_schema, rest_path, depth + 1);
    } else if (rest_any) {
      rest = b_.ref(any_value_rule());
    }
    uint32_t k = static_cast<uint32_t>(prefix.size());
    if (rest < 0) max = std::min(max, k);
    if (max != kInf && min > max) return b_.nothing();

    int32_t ws = b_.ws(), sep = b_.seq({ws, b_.bytes(","), ws});
    // tail(i): what may follow once i >= 1 items are written (more items, then whitespace).
    std::function<int32_t(uint32_t)> tail = [&](uint32_t i) -> int32_t {
      if (max != kInf && i >= max) return i >= min ? ws : b_.nothing();
      if (i < k) {
        std::vector<int32_t> alts{b_.seq({sep, prefix[i], tail(i + 1)})};
        if (i >= min) alts.push_back(ws);
        return b_.choice(alts);
      }
      uint32_t lo = min > i ? min - i : 0, hi = max == kInf ? kInf : max - i;
      return b_.seq({b_.repeat(b_.seq({sep, rest}), lo, hi), ws});
    };
    std::vector<int32_t> body;
    if (min == 0) body.push_back(b_.empty());
    if (max != 0) body.push_back(b_.seq({k > 0 ? prefix[0] : rest, tail(1)}));
    return b_.seq({b_.bytes("["), ws, b_.choice(body), b_.bytes("]")});
  }

  int32_t object(const Json& s, const std::string& path, int depth) {
    struct Property {
      std::string name;
      int32_t value;
      bool required;
    };
    std::vector<Property> props;
    std::set<std::string> required;
    if (s.contains("required")) {
      const Json& r = s["required"];
      if (!r.is_array()) fail("'required' at {} must be an array of strings", where(path));
      for (const Json& n : r) {
        if (!n.is_string()) fail("'required' at {} must be an array of strings", where(path));
        required.insert(n.get<std::string>());
      }
    }
    if (s.contains("properties")) {
      const Json& p = s["properties"];
      if (!p.is_object()) fail("'properties' at {} must be an object", where(path));
      for (auto it = p.begin(); it != p.end(); ++it) {
        int32_t value = compile(it.value(), path + "/properties/" + it.key(), depth + 1);
        props.push_back({it.key(), value, required.count(it.key()) > 0});
      }
    }
    // Additional properties: a schema for their values, or none (-1).
    int32_t extra = -1;
    if (s.contains("additionalProperties")) {
      const Json& a = s["additionalProperties"];
      if (!(a.is_boolean() && !a.get<bool>())) {
        extra = compile(a, path + "/additionalProperties", depth + 1);
      }
    } else if (!b_.options().strict) {
      extra = b_.ref(any_value_rule());
    }
    // Required names without a declared schema take the additional-properties one.
    for (const std::string& name : required) {
      bool declared = std::any_of(props.begin(), props.end(),
                                  [&](const Property& p) { return p.name == name; });
      if (!declared) props.push_back({name, extra >= 0 ? extra : b_.nothing(), true});
    }

    int32_t ws = b_.ws(), sep = b_.seq({ws, b_.bytes(","), ws});
    auto member = [&](int32_t key, int32_t value) {
      return b_.seq({key, ws, b_.bytes(":"), ws, value});
    };
    // States (i, f): before property i, f = whether a property was written already. Then the
    // additional properties (2k, 2k+1), then the end state.
    uint32_t k = static_cast<uint32_t>(props.size());
    auto id = [](uint32_t i, uint32_t f) { return 2 * i + f; };
    GraphDef g;
    g.n_states = 2 * (k + 1) + 1;
    g.start = id(0, 0);
    uint32_t end = 2 * (k + 1);
    g.accept = {end};
    int32_t eps = b_.empty();
    for (uint32_t i = 0; i < k; ++i) {
      int32_t m = member(b_.bytes(json_string_literal(props[i].name)), props[i].value);
      g.edges.push_back({id(i, 0), id(i + 1, 1), m});
      g.edges.push_back({id(i, 1), id(i + 1, 1), b_.seq({sep, m})});
      if (!props[i].required) {
        g.edges.push_back({id(i, 0), id(i + 1, 0), eps});
        g.edges.push_back({id(i, 1), id(i + 1, 1), eps});
      }
    }
    if (extra >= 0) {
      std::vector<std::string> names;
      for (const Property& p : props) names.push_back(p.name);
      int32_t m = member(other_key(names), extra);
      g.edges.push_back({id(k, 0), id(k, 1), m});
      g.edges.push_back({id(k, 1), id(k, 1), b_.seq({sep, m})});
    }
    g.edges.push_back({id(k, 0), end, eps});
    g.edges.push_back({id(k, 1), end, ws});
    return b_.seq({b_.bytes("{"), ws, b_.graph(std::move(g)), b_.bytes("}")});
  }

  // A quoted property name that decodes to none of `names` (any JSON escapes allowed): a trie of
  // the names over characters, leaving it for a free state on any other character.
  int32_t other_key(const std::vector<std::string>& names) {
    if (names.empty()) return b_.json_string(CharSet::all(), 0, kInf);
    std::string key = "otherkey";
    for (const std::string& n : names) key += ":" + json_string_literal(n);
    int32_t* rule = b_.memo(key);
    if (*rule < 0) {
      struct TrieNode {
        std::vector<std::pair<uint32_t, uint32_t>> kids;  // char → node
        bool terminal = false;
      };
      std::vector<TrieNode> trie(1);
      std::vector<uint32_t> chars;
      for (const std::string& n : names) {
        if (!decode_utf8(n, chars)) fail("property name {} is not valid UTF-8", json_string_literal(n));
        uint32_t node = 0;
        for (uint32_t c : chars) {
          auto it = std::find_if(trie[node].kids.begin(), trie[node].kids.end(),
                                 [&](auto& kv) { return kv.first == c; });
          if (it != trie[node].kids.end()) {
            node = it->second;
          } else {
            trie.push_back({});
            uint32_t next = static_cast<uint32_t>(trie.size() - 1);
            trie[node].kids.push_back({c, next});
            node = next;
          }
        }
        trie[node].terminal = true;
      }
      uint32_t n_trie = static_cast<uint32_t>(trie.size());
      uint32_t free = n_trie, done = n_trie + 1;
      GraphDef g;
      g.n_states = n_trie + 2;
      g.start = 0;
      g.accept = {done};
      int32_t quote = b_.bytes("\"");
      for (uint32_t u = 0; u < n_trie; ++u) {
        CharSet others = CharSet::all();
        for (auto [c, v] : trie[u].kids) {
          g.edges.push_back({u, v, b_.json_char(CharSet::single(c))});
          others = others.minus(CharSet::single(c));
        }
        g.edges.push_back({u, free, b_.json_char(others)});
        if (!trie[u].terminal) g.edges.push_back({u, done, quote});
      }
      g.edges.push_back({free, free, b_.json_char(CharSet::all())});
      g.edges.push_back({free, done, quote});
      *rule = b_.new_rule(fmt::format("key{}", b_.data().rules.size()), b_.graph(std::move(g)),
                          /*inline_ok=*/false);
    }
    return b_.seq({b_.bytes("\""), b_.ref(*rule)});
  }

  // Resolves a local JSON pointer ("#", "#/$defs/Name", ...) to a rule compiled once.
  int32_t ref_rule(const std::string& ref, const std::string& path, int depth) {
    auto it = ref_rules_.find(ref);
    if (it != ref_rules_.end()) return it->second;
    if (ref.empty() || ref[0] != '#') {
      fail(ErrorKind::kUnsupported,
           "unsupported $ref '{}' at {} (only local JSON pointers such as #/$defs/Name)", ref,
           where(path));
    }
    const Json* target = &root_;
    std::string pointer = ref.substr(1);
    if (!pointer.empty() && pointer[0] != '/') {
      fail(ErrorKind::kUnsupported, "unsupported $ref '{}' at {} (anchors are not supported)", ref,
           where(path));
    }
    size_t pos = 1;
    while (pos <= pointer.size() && !pointer.empty()) {
      size_t next = pointer.find('/', pos);
      std::string token = pointer.substr(pos, next == std::string::npos ? std::string::npos
                                                                        : next - pos);
      std::string decoded;
      for (size_t i = 0; i < token.size(); ++i) {
        if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
          decoded += token[i + 1] == '0' ? '~' : '/';
          ++i;
        } else if (token[i] == '%' && i + 2 < token.size() && isxdigit(token[i + 1]) &&
                   isxdigit(token[i + 2])) {
          decoded += static_cast<char>(std::stoi(token.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else {
          decoded += token[i];
        }
      }
      if (target->is_object() && target->contains(decoded)) {
        target = &(*target)[decoded];
      } else if (target->is_array() && !decoded.empty() &&
                 decoded.find_first_not_of("0123456789") == std::string::npos &&
                 decoded.size() < 10 && std::stoul(decoded) < target->size()) {
        target = &(*target)[std::stoul(decoded)];
      } else {
        fail("$ref '{}' at {} points to nothing", ref, where(path));
      }
      if (next == std::string::npos) break;
      pos = next + 1;
    }
    int32_t rule = b_.new_rule(ref == "#" ? "schema" : ref.substr(ref.rfind('/') + 1));
    ref_rules_[ref] = rule;
    b_.set_body(rule, compile(*target, ref.substr(1), depth + 1));
    return rule;
  }

  IrBuilder& b_;
  const Json& root_;
  std::map<std::string, int32_t> ref_rules_;
};

}  // namespace

int32_t build_json_schema(IrBuilder& b, const nlohmann::ordered_json& schema) {
  SchemaCompiler compiler(b, schema);
  try {
    return compiler.compile(schema, "", 0);
  } catch (const nlohmann::json::exception& e) {  // e.g. a built value holding invalid UTF-8
    fail("JSON schema cannot be used: {}", e.what());
  }
}

int32_t build_any_json_value(IrBuilder& b) {
  nlohmann::ordered_json empty_schema = nlohmann::ordered_json::object();
  SchemaCompiler compiler(b, empty_schema);
  return b.ref(compiler.any_value_rule());
}

int32_t build_any_json_object(IrBuilder& b) {
  nlohmann::ordered_json empty_schema = nlohmann::ordered_json::object();
  SchemaCompiler compiler(b, empty_schema);
  compiler.any_value_rule();
  return b.ref(*b.memo("rule:object"));
}

}  // namespace r1::grammar::detail
