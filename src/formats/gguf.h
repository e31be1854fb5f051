// GGUF (versions 2 and 3): a little-endian header (magic "GGUF", version, tensor count, metadata
// count), typed metadata key/values (scalars, strings, arrays of any type including nested
// arrays), tensor infos (name, dims innermost first, ggml type, offset), then the tensor data
// section aligned to `general.alignment` (default 32). The reader validates every count, length,
// offset and size against the file before handing out zero-copy views; errors name the file and
// the key or tensor. The writer streams a file in the same layout.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace r1 {

enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
const char* gguf_type_name(GgufType t);

struct GgufArray;

// One metadata value. Integers keep their GGUF type; `i` holds signed values, `u` unsigned ones,
// `f` both float widths (f32 values are exact in a double).
struct GgufValue {
  GgufType type = GgufType::kUint32;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  std::shared_ptr<const GgufArray> array;  // type == kArray

  bool is_integer() const;
  bool is_float() const { return type == GgufType::kFloat32 || type == GgufType::kFloat64; }
  // Any integer type as int64 (nullopt if not an integer or out of range).
  std::optional<int64_t> as_int() const;

  static GgufValue of_u32(uint32_t v);
  static GgufValue of_i32(int32_t v);
  static GgufValue of_u64(uint64_t v);
  static GgufValue of_f32(float v);
  static GgufValue of_bool(bool v);
  static GgufValue of_string(std::string v);
};

// Arrays are stored compactly by element type: integers in `ints` (signed types) or `uints`,
// floats in `floats`, bools in `bools`, strings in `strings`, nested arrays in `arrays`.
struct GgufArray {
  GgufType type = GgufType::kUint8;
  std::vector<int64_t> ints;
  std::vector<uint64_t> uints;
  std::vector<double> floats;
  std::vector<uint8_t> bools;
  std::vector<std::string> strings;
  std::vector<GgufValue> arrays;
  uint64_t size() const;
};

GgufValue gguf_string_array(std::vector<std::string> items);
GgufValue gguf_i32_array(const std::vector<int32_t>& items);
GgufValue gguf_f32_array(const std::vector<float>& items);

// ggml tensor type ids (the subset r1 names; others are reported by number).
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};
// "Q4_K", "IQ2_XXS", ... or "type 123" for ids outside the known table.
std::string ggml_type_name(uint32_t type);
// The r1 type a ggml type is read as; nullopt for types r1 cannot use.
std::optional<DType> dtype_from_ggml(uint32_t type);
uint32_t ggml_from_dtype(DType t);  // R1_CHECK that t has a ggml id

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // GGUF order: dims[0] (ne0) is the innermost (row length)
  uint32_t ggml_type = 0;
  uint64_t offset = 0;         // from the start of the data section
  TensorView view;             // shape in row-major order (dims reversed), zero-copy data
};

struct GgufFile {
  std::string path;
  std::shared_ptr<MappedFile> file;  // keeps the views alive (null for parse_gguf)
  uint32_t version = 3;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // start of the tensor data section in the file
  std::vector<std::pair<std::string, GgufValue>> metadata;  // file order
  std::map<std::string, size_t> metadata_index;
  std::vector<GgufTensorInfo> tensors;  // file order
  std::map<std::string, size_t> tensor_index;

  const GgufValue* find(const std::string& key) const;
  const GgufTensorInfo* find_tensor(const std::string& name) const;

  // Typed access: errors name the file and the key (missing, wrong type, out of range).
  std::string get_string(const std::string& key) const;
  std::optional<std::string> get_string_opt(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  std::optional<int64_t> get_int_opt(const std::string& key) const;
  double get_float(const std::string& key) const;  // floats, or integers converted
  std::optional<double> get_float_opt(const std::string& key) const;
  std::optional<bool> get_bool_opt(const std::string& key) const;
  // An array whose elements have type `elem` (any integer type when elem is an integer type).
  const GgufArray& get_array(const std::string& key, GgufType elem) const;
  const GgufArray* get_array_opt(const std::string& key, GgufType elem) const;
};

// Limits that keep a hostile file from making the reader allocate without bound.
inline constexpr uint64_t kGgufMaxStringBytes = uint64_t(1) << 30;  // one metadata string
inline constexpr uint64_t kGgufMaxKeyBytes = 65535;   // the specification's limit on a key
inline constexpr uint64_t kGgufMaxTensorName = 64;    // ggml's GGML_MAX_NAME
inline constexpr int kGgufMaxArrayDepth = 8;
inline constexpr int kGgufMaxDims = 4;

// Validates and indexes a GGUF image of `size` bytes; views point into `data`.
GgufFile parse_gguf(const std::byte* data, uint64_t size, const std::string& name);
// Maps (or reads, per `mode`) and parses a file.
GgufFile open_gguf(const std::string& path, LoadMode mode = LoadMode::kMmap);
// True when the first bytes of `path` are the GGUF magic.
bool is_gguf_file(const std::string& path);

// ---- writing ----

// Streams a GGUF v3 file: set metadata and declare every tensor first, then write the tensor
// data in declaration order (each tensor's bytes may arrive in pieces).
class GgufWriter {
 public:
  explicit GgufWriter(std::string path, uint64_t alignment = 32);
  ~GgufWriter();  // removes a file that was not finished
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  void set(const std::string& key, GgufValue value);  // keeps first-set order
  // dims in GGUF order (ne0 first). Returns the byte size the tensor's data must have.
  uint64_t add_tensor(const std::string& name, const std::vector<uint64_t>& dims, DType type);

  void write_header();  // after every set()/add_tensor()
  void write_data(const void* data, uint64_t bytes);  // appends to the current tensor
  void finish();        // checks every declared byte was written, closes the file

 private:
  struct Pending {
    std::string name;
    std::vector<uint64_t> dims;
    DType type;
    uint64_t offset, bytes;
  };
  void put(const void* p, size_t n);
  void pad_to(uint64_t multiple);
  std::string path_;
  uint64_t alignment_;
  std::FILE* out_ = nullptr;
  uint64_t pos_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Pending> tensors_;
  uint64_t data_bytes_ = 0;
  size_t current_ = 0;        // tensor being written
  uint64_t current_done_ = 0; // bytes of it written so far
  uint64_t data_start_ = 0;
  bool header_written_ = false;
  bool finished_ = false;
};

}  // namespace r1
