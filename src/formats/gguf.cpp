// GGUF reading (validated, zero-copy) and streaming writing. Layout per the GGUF specification
// (ggml docs/gguf.md): all integers little-endian, strings as u64 length + UTF-8 bytes without a
// terminator, tensor data offsets relative to the aligned start of the data section.
#include "formats/gguf.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <limits>

#include "core/error.h"

namespace r1 {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32

struct GgmlTypeInfo {
  uint32_t id;
  const char* name;
  int block_elems;  // 0: r1 does not know the size of this type
  int block_bytes;
};

// Every ggml type id with its name; sizes only where r1 reads the type.
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {0, "F32", 1, 4},       {1, "F16", 1, 2},        {2, "Q4_0", 32, 18},    {3, "Q4_1", 0, 0},
    {6, "Q5_0", 0, 0},      {7, "Q5_1", 0, 0},       {8, "Q8_0", 32, 34},    {9, "Q8_1", 0, 0},
    {10, "Q2_K", 0, 0},     {11, "Q3_K", 0, 0},      {12, "Q4_K", 256, 144}, {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210}, {15, "Q8_K", 256, 292},  {16, "IQ2_XXS", 0, 0},  {17, "IQ2_XS", 0, 0},
    {18, "IQ3_XXS", 0, 0},  {19, "IQ1_S", 0, 0},     {20, "IQ4_NL", 0, 0},   {21, "IQ3_S", 0, 0},
    {22, "IQ2_S", 0, 0},    {23, "IQ4_XS", 0, 0},    {24, "I8", 1, 1},       {25, "I16", 1, 2},
    {26, "I32", 1, 4},      {27, "I64", 1, 8},       {28, "F64", 1, 8},      {29, "IQ1_M", 0, 0},
    {30, "BF16", 1, 2},     {34, "TQ1_0", 0, 0},     {35, "TQ2_0", 0, 0},    {39, "MXFP4", 0, 0},
};

const GgmlTypeInfo* ggml_info(uint32_t id) {
  for (const GgmlTypeInfo& t : kGgmlTypes)
    if (t.id == id) return &t;
  return nullptr;
}

struct DTypeGgml {
  DType dtype;
  uint32_t ggml;
};
constexpr DTypeGgml kDTypeGgml[] = {
    {DType::kF32, 0},   {DType::kF16, 1},   {DType::kQ4_0, 2},  {DType::kQ8_0, 8},  {DType::kQ4_K, 12},
    {DType::kQ5_K, 13}, {DType::kQ6_K, 14}, {DType::kQ8_K, 15}, {DType::kI8, 24},   {DType::kI16, 25},
    {DType::kI32, 26},  {DType::kI64, 27},  {DType::kF64, 28},  {DType::kBF16, 30},
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool: return 1;
    case GgufType::kUint16:
    case GgufType::kInt16: return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32: return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64: return 8;
    case GgufType::kString: return 8;  // the length prefix: the least a string can take
    case GgufType::kArray: return 12;  // element type + count
  }
  return 1;
}

bool valid_type(uint32_t t) { return t <= 12; }

// Describes the item being read, for error messages; only called when something is wrong.
using Where = std::function<std::string()>;

// Bounds-checked little-endian cursor over the file image.
class Reader {
 public:
  Reader(const std::byte* data, uint64_t size, const std::string& name) : data_(data), size_(size), name_(name) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }
  const std::string& name() const { return name_; }

  template <typename T>
  T get(const Where& where) {
    if (left() < sizeof(T))
      fail("{}: {}: the file ends after {} bytes (truncated?)", name_, where(), size_);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string string(uint64_t max_bytes, const Where& where) {
    const uint64_t n = get<uint64_t>(where);
    if (n > left())
      fail("{}: {}: string length {} runs past the end of the file ({} bytes left; truncated or corrupt)",
           name_, where(), n, left());
    if (n > max_bytes) fail("{}: {}: string length {} exceeds the limit of {} bytes", name_, where(), n, max_bytes);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_t(n));
    pos_ += n;
    return s;
  }

 private:
  const std::byte* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& name_;
};

GgufValue read_value(Reader& r, GgufType type, int depth, const Where& where);

std::shared_ptr<const GgufArray> read_array(Reader& r, int depth, const Where& where) {
  if (depth >= kGgufMaxArrayDepth)
    fail("{}: {}: arrays nested deeper than {} levels", r.name(), where(), kGgufMaxArrayDepth);
  const uint32_t et = r.get<uint32_t>(where);
  if (!valid_type(et)) fail("{}: {}: unknown array element type {}", r.name(), where(), et);
  const uint64_t n = r.get<uint64_t>(where);
  const GgufType elem = GgufType(et);
  if (n > r.left() / scalar_size(elem))
    fail("{}: {}: array of {} {} elements cannot fit in the {} bytes left in the file", r.name(), where(), n,
         gguf_type_name(elem), r.left());
  auto a = std::make_shared<GgufArray>();
  a->type = elem;
  const size_t count = size_t(n);
  auto elem_where = [&](uint64_t i) { return fmt::format("{} element {}", where(), i); };
  switch (elem) {
    case GgufType::kUint8: a->uints.reserve(count); for (size_t i = 0; i < count; ++i) a->uints.push_back(r.get<uint8_t>(where)); break;
    case GgufType::kUint16: a->uints.reserve(count); for (size_t i = 0; i < count; ++i) a->uints.push_back(r.get<uint16_t>(where)); break;
    case GgufType::kUint32: a->uints.reserve(count); for (size_t i = 0; i < count; ++i) a->uints.push_back(r.get<uint32_t>(where)); break;
    case GgufType::kUint64: a->uints.reserve(count); for (size_t i = 0; i < count; ++i) a->uints.push_back(r.get<uint64_t>(where)); break;
    case GgufType::kInt8: a->ints.reserve(count); for (size_t i = 0; i < count; ++i) a->ints.push_back(r.get<int8_t>(where)); break;
    case GgufType::kInt16: a->ints.reserve(count); for (size_t i = 0; i < count; ++i) a->ints.push_back(r.get<int16_t>(where)); break;
    case GgufType::kInt32: a->ints.reserve(count); for (size_t i = 0; i < count; ++i) a->ints.push_back(r.get<int32_t>(where)); break;
    case GgufType::kInt64: a->ints.reserve(count); for (size_t i = 0; i < count; ++i) a->ints.push_back(r.get<int64_t>(where)); break;
    case GgufType::kFloat32: a->floats.reserve(count); for (size_t i = 0; i < count; ++i) a->floats.push_back(r.get<float>(where)); break;
    case GgufType::kFloat64: a->floats.reserve(count); for (size_t i = 0; i < count; ++i) a->floats.push_back(r.get<double>(where)); break;
    case GgufType::kBool:
      a->bools.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        const uint8_t b = r.get<uint8_t>(where);
        if (b > 1) fail("{}: {}: bool value {} is neither 0 nor 1", r.name(), elem_where(i), b);
        a->bools.push_back(b);
      }
      break;
    case GgufType::kString:
      a->strings.reserve(count);
      for (size_t i = 0; i < count; ++i) a->strings.push_back(r.string(kGgufMaxStringBytes, [&] { return elem_where(i); }));
      break;
    case GgufType::kArray:
      a->arrays.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        a->arrays.push_back(read_value(r, GgufType::kArray, depth + 1, [&] { return elem_where(i); }));
      }
      break;
  }
  return a;
}

GgufValue read_value(Reader& r, GgufType type, int depth, const Where& where) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufType::kUint8: v.u = r.get<uint8_t>(where); break;
    case GgufType::kUint16: v.u = r.get<uint16_t>(where); break;
    case GgufType::kUint32: v.u = r.get<uint32_t>(where); break;
    case GgufType::kUint64: v.u = r.get<uint64_t>(where); break;
    case GgufType::kInt8: v.i = r.get<int8_t>(where); break;
    case GgufType::kInt16: v.i = r.get<int16_t>(where); break;
    case GgufType::kInt32: v.i = r.get<int32_t>(where); break;
    case GgufType::kInt64: v.i = r.get<int64_t>(where); break;
    case GgufType::kFloat32: v.f = r.get<float>(where); break;
    case GgufType::kFloat64: v.f = r.get<double>(where); break;
    case GgufType::kBool: {
      const uint8_t b = r.get<uint8_t>(where);
      if (b > 1) fail("{}: {}: bool value {} is neither 0 nor 1", r.name(), where(), b);
      v.b = b != 0;
      break;
    }
    case GgufType::kString: v.s = r.string(kGgufMaxStringBytes, where); break;
    case GgufType::kArray: v.array = read_array(r, depth, where); break;
  }
  return v;
}

uint64_t checked_mul(uint64_t a, uint64_t b, bool* overflow) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) *overflow = true;
  return a * b;
}

}  // namespace

// ---- values ----

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "unknown";
}

namespace {
bool is_signed_int(GgufType t) {
  return t == GgufType::kInt8 || t == GgufType::kInt16 || t == GgufType::kInt32 || t == GgufType::kInt64;
}
bool is_unsigned_int(GgufType t) {
  return t == GgufType::kUint8 || t == GgufType::kUint16 || t == GgufType::kUint32 || t == GgufType::kUint64;
}
}  // namespace

bool GgufValue::is_integer() const { return is_signed_int(type) || is_unsigned_int(type); }

std::optional<int64_t> GgufValue::as_int() const {
  if (is_signed_int(type)) return i;
  if (is_unsigned_int(type) && u <= uint64_t(std::numeric_limits<int64_t>::max())) return int64_t(u);
  return std::nullopt;
}

GgufValue GgufValue::of_u32(uint32_t v) { GgufValue x; x.type = GgufType::kUint32; x.u = v; return x; }
GgufValue GgufValue::of_i32(int32_t v) { GgufValue x; x.type = GgufType::kInt32; x.i = v; return x; }
GgufValue GgufValue::of_u64(uint64_t v) { GgufValue x; x.type = GgufType::kUint64; x.u = v; return x; }
GgufValue GgufValue::of_f32(float v) { GgufValue x; x.type = GgufType::kFloat32; x.f = v; return x; }
GgufValue GgufValue::of_bool(bool v) { GgufValue x; x.type = GgufType::kBool; x.b = v; return x; }
GgufValue GgufValue::of_string(std::string v) { GgufValue x; x.type = GgufType::kString; x.s = std::move(v); return x; }

uint64_t GgufArray::size() const {
  switch (type) {
    case GgufType::kString: return strings.size();
    case GgufType::kArray: return arrays.size();
    case GgufType::kBool: return bools.size();
    case GgufType::kFloat32:
    case GgufType::kFloat64: return floats.size();
    default: return is_signed_int(type) ? ints.size() : uints.size();
  }
}

GgufValue gguf_string_array(std::vector<std::string> items) {
  auto a = std::make_shared<GgufArray>();
  a->type = GgufType::kString;
  a->strings = std::move(items);
  GgufValue v;
  v.type = GgufType::kArray;
  v.array = std::move(a);
  return v;
}

GgufValue gguf_i32_array(const std::vector<int32_t>& items) {
  auto a = std::make_shared<GgufArray>();
  a->type = GgufType::kInt32;
  a->ints.assign(items.begin(), items.end());
  GgufValue v;
  v.type = GgufType::kArray;
  v.array = std::move(a);
  return v;
}

GgufValue gguf_f32_array(const std::vector<float>& items) {
  auto a = std::make_shared<GgufArray>();
  a->type = GgufType::kFloat32;
  a->floats.assign(items.begin(), items.end());
  GgufValue v;
  v.type = GgufType::kArray;
  v.array = std::move(a);
  return v;
}

std::string ggml_type_name(uint32_t type) {
  const GgmlTypeInfo* t = ggml_info(type);
  return t ? std::string(t->name) : fmt::format("type {}", type);
}

std::optional<DType> dtype_from_ggml(uint32_t type) {
  for (const DTypeGgml& m : kDTypeGgml)
    if (m.ggml == type) return m.dtype;
  return std::nullopt;
}

uint32_t ggml_from_dtype(DType t) {
  for (const DTypeGgml& m : kDTypeGgml)
    if (m.dtype == t) return m.ggml;
  R1_CHECK(false, "{} has no ggml type id", dtype_name(t));
  return 0;
}

// ---- typed access ----

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = metadata_index.find(key);
  return it == metadata_index.end() ? nullptr : &metadata[it->second].second;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index.find(name);
  return it == tensor_index.end() ? nullptr : &tensors[it->second];
}

std::optional<std::string> GgufFile::get_string_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kString)
    fail("{}: metadata '{}' must be a string, found {}", path, key, gguf_type_name(v->type));
  return v->s;
}

std::string GgufFile::get_string(const std::string& key) const {
  auto v = get_string_opt(key);
  if (!v) fail("{}: required metadata key '{}' is missing", path, key);
  return *v;
}

std::optional<int64_t> GgufFile::get_int_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer()) fail("{}: metadata '{}' must be an integer, found {}", path, key, gguf_type_name(v->type));
  auto i = v->as_int();
  if (!i) fail("{}: metadata '{}' = {} is out of range", path, key, v->u);
  return *i;
}

int64_t GgufFile::get_int(const std::string& key) const {
  auto v = get_int_opt(key);
  if (!v) fail("{}: required metadata key '{}' is missing", path, key);
  return *v;
}

std::optional<double> GgufFile::get_float_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_float()) return v->f;
  if (v->is_integer()) return is_signed_int(v->type) ? double(v->i) : double(v->u);
  fail("{}: metadata '{}' must be a number, found {}", path, key, gguf_type_name(v->type));
}

double GgufFile::get_float(const std::string& key) const {
  auto v = get_float_opt(key);
  if (!v) fail("{}: required metadata key '{}' is missing", path, key);
  return *v;
}

std::optional<bool> GgufFile::get_bool_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kBool) fail("{}: metadata '{}' must be a bool, found {}", path, key, gguf_type_name(v->type));
  return v->b;
}

const GgufArray* GgufFile::get_array_opt(const std::string& key, GgufType elem) const {
  const GgufValue* v = find(key);
  if (!v) return nullptr;
  if (v->type != GgufType::kArray) fail("{}: metadata '{}' must be an array, found {}", path, key, gguf_type_name(v->type));
  const GgufType t = v->array->type;
  const bool ok = t == elem || (is_signed_int(elem) && is_signed_int(t)) || (is_unsigned_int(elem) && is_unsigned_int(t)) ||
                  ((is_signed_int(elem) || is_unsigned_int(elem)) && (is_signed_int(t) || is_unsigned_int(t))) ||
                  (elem == GgufType::kFloat32 && t == GgufType::kFloat64);
  if (!ok)
    fail("{}: metadata '{}' must be an array of {}, found an array of {}", path, key, gguf_type_name(elem),
         gguf_type_name(t));
  return v->array.get();
}

const GgufArray& GgufFile::get_array(const std::string& key, GgufType elem) const {
  const GgufArray* a = get_array_opt(key, elem);
  if (!a) fail("{}: required metadata key '{}' is missing", path, key);
  return *a;
}

// ---- parsing ----

GgufFile parse_gguf(const std::byte* data, uint64_t size, const std::string& name) {
  GgufFile out;
  out.path = name;
  Reader r(data, size, name);
  auto header = [] { return std::string("header"); };
  if (size < 4) fail("{}: not a GGUF file: {} bytes, too short for the header", name, size);
  const uint32_t magic = r.get<uint32_t>(header);
  if (magic != kMagic) fail("{}: not a GGUF file (bad magic; expected \"GGUF\")", name);
  const uint32_t version = r.get<uint32_t>(header);
  if (version == 0x02000000 || version == 0x03000000)
    fail("{}: big-endian GGUF files are not supported", name);
  if (version == 1) fail("{}: GGUF version 1 is not supported (re-convert the model: versions 2 and 3 are read)", name);
  if (version != 2 && version != 3) fail("{}: unsupported GGUF version {} (versions 2 and 3 are read)", name, version);
  out.version = version;
  const uint64_t n_tensors = r.get<uint64_t>(header);
  const uint64_t n_kv = r.get<uint64_t>(header);
  // The smallest metadata entry is 8 (key length) + 1 (key) + 4 (type) + 1 (value) bytes; the
  // smallest tensor info 8 + 1 + 4 + 8 + 4 + 8.
  if (n_kv > r.left() / 14)
    fail("{}: metadata count {} cannot fit in the {}-byte file (corrupt header)", name, n_kv, size);
  if (n_tensors > r.left() / 33)
    fail("{}: tensor count {} cannot fit in the {}-byte file (corrupt header)", name, n_tensors, size);

  out.metadata.reserve(size_t(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    auto where_key = [&] { return fmt::format("metadata entry {}", k); };
    std::string key = r.string(kGgufMaxKeyBytes, where_key);
    if (key.empty()) fail("{}: metadata entry {} has an empty key", name, k);
    auto where = [&] { return fmt::format("metadata '{}'", key); };
    const uint32_t type = r.get<uint32_t>(where);
    if (!valid_type(type)) fail("{}: metadata '{}' has unknown value type {}", name, key, type);
    GgufValue v = read_value(r, GgufType(type), 0, where);
    if (out.metadata_index.count(key)) fail("{}: metadata key '{}' appears twice", name, key);
    out.metadata_index.emplace(key, out.metadata.size());
    out.metadata.emplace_back(std::move(key), std::move(v));
  }

  if (const GgufValue* a = out.find("general.alignment")) {
    if (a->type != GgufType::kUint32)
      fail("{}: metadata 'general.alignment' must be uint32, found {}", name, gguf_type_name(a->type));
    // The specification requires a multiple of 8; it also keeps every block's f16 scale aligned.
    if (a->u < 8 || (a->u & (a->u - 1)) != 0)
      fail("{}: general.alignment = {} is not a power of two that is a multiple of 8", name, a->u);
    out.alignment = a->u;
  }

  out.tensors.reserve(size_t(n_tensors));
  for (uint64_t t = 0; t < n_tensors; ++t) {
    GgufTensorInfo info;
    auto where_name = [&] { return fmt::format("tensor info {}", t); };
    info.name = r.string(kGgufMaxTensorName, where_name);
    if (info.name.empty()) fail("{}: tensor info {} has an empty name", name, t);
    auto where = [&] { return fmt::format("tensor '{}'", info.name); };
    const uint32_t n_dims = r.get<uint32_t>(where);
    if (n_dims < 1 || n_dims > uint32_t(kGgufMaxDims))
      fail("{}: tensor '{}' has {} dimensions (1 to {} allowed)", name, info.name, n_dims, kGgufMaxDims);
    bool overflow = false;
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = r.get<uint64_t>(where);
      if (dim == 0) fail("{}: tensor '{}' has a zero dimension", name, info.name);
      info.dims.push_back(dim);
      numel = checked_mul(numel, dim, &overflow);
    }
    if (overflow || numel > uint64_t(std::numeric_limits<int64_t>::max()))
      fail("{}: tensor '{}': element count overflows (dims too large)", name, info.name);
    info.ggml_type = r.get<uint32_t>(where);
    info.offset = r.get<uint64_t>(where);
    const GgmlTypeInfo* gt = ggml_info(info.ggml_type);
    if (!gt) fail("{}: tensor '{}' has unknown ggml type {}", name, info.name, info.ggml_type);
    std::optional<DType> dt = dtype_from_ggml(info.ggml_type);
    if (!dt || gt->block_elems == 0)
      fail(ErrorKind::kUnsupported,
           "{}: tensor '{}' has type {}, which r1 does not support (supported: F32, F16, BF16, Q8_0, Q4_0, "
           "Q4_K, Q5_K, Q6_K)",
           name, info.name, gt->name);
    if (info.dims[0] % uint64_t(gt->block_elems) != 0)
      fail("{}: tensor '{}' of type {} has rows of {} elements, not a multiple of its block size {}", name,
           info.name, gt->name, info.dims[0], gt->block_elems);
    if (info.offset % out.alignment != 0)
      fail("{}: tensor '{}' data offset {} is not a multiple of the alignment {}", name, info.name, info.offset,
           out.alignment);
    if (out.tensor_index.count(info.name)) fail("{}: tensor '{}' appears twice", name, info.name);
    info.view.dtype = *dt;
    for (uint32_t d = n_dims; d-- > 0;) info.view.shape.push_back(int64_t(info.dims[d]));
    std::optional<uint64_t> bytes = dtype_bytes(*dt, numel);
    if (!bytes) fail("{}: tensor '{}': byte size overflows", name, info.name);
    info.view.nbytes = *bytes;
    out.tensor_index.emplace(info.name, out.tensors.size());
    out.tensors.push_back(std::move(info));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t header_end = r.pos();
  const uint64_t pad = (out.alignment - header_end % out.alignment) % out.alignment;
  out.data_offset = header_end + pad;
  if (out.data_offset > size) {
    if (!out.tensors.empty())
      fail("{}: the file ends before its tensor data section (truncated?)", name);
    out.data_offset = size;
  }
  const uint64_t data_size = size - out.data_offset;
  struct Span {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  spans.reserve(out.tensors.size());
  for (GgufTensorInfo& info : out.tensors) {
    if (info.offset > data_size || info.view.nbytes > data_size - info.offset)
      fail("{}: tensor '{}' ({} bytes at data offset {}) runs past the end of the file ({} data bytes; truncated?)",
           name, info.name, info.view.nbytes, info.offset, data_size);
    info.view.data = data + out.data_offset + info.offset;
    spans.push_back({info.offset, info.offset + info.view.nbytes, &info.name});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end)
      fail("{}: tensors '{}' and '{}' overlap in the data section", name, *spans[i - 1].name, *spans[i].name);
  return out;
}

GgufFile open_gguf(const std::string& path, LoadMode mode) {
  std::shared_ptr<MappedFile> file = MappedFile::open(path, mode);
  GgufFile g = parse_gguf(file->data(), file->size(), path);
  g.file = std::move(file);
  return g;
}

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

// ---- writing ----

GgufWriter::GgufWriter(std::string path, uint64_t alignment) : path_(std::move(path)), alignment_(alignment) {
  R1_CHECK(alignment_ >= 8 && (alignment_ & (alignment_ - 1)) == 0);
  if (alignment_ != 32) set("general.alignment", GgufValue::of_u32(uint32_t(alignment_)));
}

GgufWriter::~GgufWriter() {
  if (out_) std::fclose(out_);
  if (header_written_ && !finished_) {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
}

void GgufWriter::set(const std::string& key, GgufValue value) {
  R1_CHECK(!header_written_);
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}

uint64_t GgufWriter::add_tensor(const std::string& name, const std::vector<uint64_t>& dims, DType type) {
  R1_CHECK(!header_written_);
  if (name.empty() || name.size() > kGgufMaxTensorName)
    fail("{}: tensor name '{}' must have 1 to {} bytes", path_, name, kGgufMaxTensorName);
  for (const Pending& p : tensors_)
    if (p.name == name) fail("{}: tensor '{}' added twice", path_, name);
  R1_CHECK(!dims.empty() && int(dims.size()) <= kGgufMaxDims);
  uint64_t numel = 1;
  for (uint64_t d : dims) numel *= d;
  R1_CHECK(dims[0] % uint64_t(dtype_info(type).block_elems) == 0, "tensor {}: row not whole blocks", name);
  const uint64_t bytes = dtype_bytes(type, numel).value();
  tensors_.push_back({name, dims, type, data_bytes_, bytes});
  data_bytes_ += (bytes + alignment_ - 1) / alignment_ * alignment_;
  return bytes;
}

void GgufWriter::put(const void* p, size_t n) {
  if (n && std::fwrite(p, 1, n, out_) != n)
    fail(ErrorKind::kIo, "{}: write failed: {}", path_, std::strerror(errno));
  pos_ += n;
}

void GgufWriter::pad_to(uint64_t multiple) {
  static const char zeros[64] = {};
  uint64_t pad = (multiple - pos_ % multiple) % multiple;
  while (pad > 0) {
    const size_t n = size_t(std::min<uint64_t>(pad, sizeof(zeros)));
    put(zeros, n);
    pad -= n;
  }
}

namespace {
using PutFn = std::function<void(const void*, size_t)>;
void put_value(const GgufValue& v, const PutFn& put);
}

void GgufWriter::write_header() {
  R1_CHECK(!header_written_);
  out_ = std::fopen(path_.c_str(), "wb");
  if (!out_) fail(ErrorKind::kIo, "{}: cannot create: {}", path_, std::strerror(errno));
  header_written_ = true;
  auto put_fn = [this](const void* p, size_t n) { put(p, n); };
  auto put_str = [&](const std::string& s) {
    const uint64_t n = s.size();
    put(&n, 8);
    put(s.data(), s.size());
  };
  const uint32_t magic = kMagic, version = 3;
  const uint64_t n_tensors = tensors_.size(), n_kv = kv_.size();
  put(&magic, 4);
  put(&version, 4);
  put(&n_tensors, 8);
  put(&n_kv, 8);
  for (const auto& [key, value] : kv_) {
    put_str(key);
    const uint32_t type = uint32_t(value.type);
    put(&type, 4);
    put_value(value, put_fn);
  }
  for (const Pending& t : tensors_) {
    put_str(t.name);
    const uint32_t n_dims = uint32_t(t.dims.size());
    put(&n_dims, 4);
    for (uint64_t d : t.dims) put(&d, 8);
    const uint32_t type = ggml_from_dtype(t.type);
    put(&type, 4);
    put(&t.offset, 8);
  }
  pad_to(alignment_);
  data_start_ = pos_;
  current_ = 0;
  current_done_ = 0;
}

void GgufWriter::write_data(const void* data, uint64_t bytes) {
  R1_CHECK(header_written_ && !finished_);
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    R1_CHECK(current_ < tensors_.size(), "more tensor data written than declared");
    const Pending& t = tensors_[current_];
    const uint64_t n = std::min(bytes, t.bytes - current_done_);
    put(p, size_t(n));
    p += n;
    bytes -= n;
    current_done_ += n;
    if (current_done_ == t.bytes) {
      pad_to(alignment_);
      ++current_;
      current_done_ = 0;
    }
  }
}

void GgufWriter::finish() {
  R1_CHECK(header_written_ && !finished_);
  // Zero-byte tensors cannot exist (dims >= 1), so every declared tensor must be complete.
  R1_CHECK(current_ == tensors_.size() && current_done_ == 0, "tensor data incomplete: {} of {} tensors written",
           current_, tensors_.size());
  R1_CHECK(pos_ == data_start_ + data_bytes_);
  if (std::fclose(out_) != 0) {
    out_ = nullptr;
    fail(ErrorKind::kIo, "{}: write failed: {}", path_, std::strerror(errno));
  }
  out_ = nullptr;
  finished_ = true;
}

namespace {

void put_array_elems(const GgufArray& a, const PutFn& put) {
  auto put_int = [&](auto v) { put(&v, sizeof(v)); };
  switch (a.type) {
    case GgufType::kUint8: for (uint64_t v : a.uints) put_int(uint8_t(v)); break;
    case GgufType::kUint16: for (uint64_t v : a.uints) put_int(uint16_t(v)); break;
    case GgufType::kUint32: for (uint64_t v : a.uints) put_int(uint32_t(v)); break;
    case GgufType::kUint64: for (uint64_t v : a.uints) put_int(uint64_t(v)); break;
    case GgufType::kInt8: for (int64_t v : a.ints) put_int(int8_t(v)); break;
    case GgufType::kInt16: for (int64_t v : a.ints) put_int(int16_t(v)); break;
    case GgufType::kInt32: for (int64_t v : a.ints) put_int(int32_t(v)); break;
    case GgufType::kInt64: for (int64_t v : a.ints) put_int(int64_t(v)); break;
    case GgufType::kFloat32: for (double v : a.floats) put_int(float(v)); break;
    case GgufType::kFloat64: for (double v : a.floats) put_int(double(v)); break;
    case GgufType::kBool: for (uint8_t v : a.bools) put_int(uint8_t(v ? 1 : 0)); break;
    case GgufType::kString:
      for (const std::string& s : a.strings) {
        const uint64_t n = s.size();
        put(&n, 8);
        put(s.data(), s.size());
      }
      break;
    case GgufType::kArray:
      for (const GgufValue& v : a.arrays) put_value(v, put);
      break;
  }
}

void put_value(const GgufValue& v, const PutFn& put) {
  auto put_int = [&](auto x) { put(&x, sizeof(x)); };
  switch (v.type) {
    case GgufType::kUint8: put_int(uint8_t(v.u)); break;
    case GgufType::kUint16: put_int(uint16_t(v.u)); break;
    case GgufType::kUint32: put_int(uint32_t(v.u)); break;
    case GgufType::kUint64: put_int(uint64_t(v.u)); break;
    case GgufType::kInt8: put_int(int8_t(v.i)); break;
    case GgufType::kInt16: put_int(int16_t(v.i)); break;
    case GgufType::kInt32: put_int(int32_t(v.i)); break;
    case GgufType::kInt64: put_int(int64_t(v.i)); break;
    case GgufType::kFloat32: put_int(float(v.f)); break;
    case GgufType::kFloat64: put_int(double(v.f)); break;
    case GgufType::kBool: put_int(uint8_t(v.b ? 1 : 0)); break;
    case GgufType::kString: {
      const uint64_t n = v.s.size();
      put(&n, 8);
      put(v.s.data(), v.s.size());
      break;
    }
    case GgufType::kArray: {
      R1_CHECK(v.array != nullptr);
      const uint32_t et = uint32_t(v.array->type);
      const uint64_t n = v.array->size();
      put(&et, 4);
      put(&n, 8);
      put_array_elems(*v.array, put);
      break;
    }
  }
}

}  // namespace

}  // namespace r1
