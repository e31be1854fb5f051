// Shared helpers of the kernel tests: random weights of every type, ISA enumeration, and a
// bitwise comparison that treats any two NaNs as equal (NaN payloads are not part of the contract).
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/cpu.h"
#include "core/dtype.h"
#include "kernels/ops.h"

namespace r1::test {

// Every ISA this CPU runs, scalar first.
inline std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

// Restores the ISA active before the scope.
class IsaScope {
 public:
  explicit IsaScope(Isa isa) : saved_(active_isa()) { set_isa(isa); }
  ~IsaScope() { set_isa(saved_); }

 private:
  Isa saved_;
};

inline bool same_bits(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

// Index of the first element whose bits differ, or -1.
inline int64_t first_mismatch(const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!same_bits(a[i], b[i])) return i;
  return -1;
}

// A weight matrix with storage owned by the test, optionally placed at a byte offset from a
// 64-byte boundary to exercise unaligned loads.
struct TestWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  WeightView view;
};

inline TestWeight make_weight(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng,
                              int64_t misalign_bytes = 0, float scale_lo = 0.002f,
                              float scale_hi = 0.03f) {
  TestWeight tw;
  std::normal_distribution<float> nd(0.0f, 1.0f);
  int64_t elem = dtype == DType::kF32 ? 4 : (dtype == DType::kF8E4M3 ? 1 : 2);
  tw.bytes.assign(size_t(rows * cols * elem + misalign_bytes + 64), 0);
  uint8_t* base = tw.bytes.data();
  base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
  base += misalign_bytes;
  for (int64_t i = 0; i < rows * cols; ++i) {
    float v = nd(rng) * 0.5f;
    switch (dtype) {
      case DType::kF32:
        std::memcpy(base + i * 4, &v, 4);
        break;
      case DType::kBF16: {
        uint16_t h = f32_to_bf16(v);
        std::memcpy(base + i * 2, &h, 2);
        break;
      }
      case DType::kF16: {
        uint16_t h = f32_to_f16(v);
        std::memcpy(base + i * 2, &h, 2);
        break;
      }
      default:
        base[i] = f32_to_fp8_e4m3(v * 200.0f);
        break;
    }
  }
  tw.view.dtype = dtype;
  tw.view.rows = rows;
  tw.view.cols = cols;
  tw.view.data = base;
  if (dtype == DType::kF8E4M3) {
    int64_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
    std::uniform_real_distribution<float> ud(scale_lo, scale_hi);
    tw.scales.resize(size_t(sr * sc));
    for (float& s : tw.scales) s = ud(rng);
    tw.view.scale = tw.scales.data();
    tw.view.scale_cols = sc;
  }
  return tw;
}

// Activations [rows, cols] with row stride `stride`, starting `offset` floats into the buffer.
struct TestActs {
  std::vector<float> buf;
  ConstMatView view{nullptr, 0, 0, 0};
};
inline TestActs make_acts(int64_t rows, int64_t cols, int64_t stride, std::mt19937& rng,
                          int64_t offset = 0) {
  TestActs a;
  std::normal_distribution<float> nd(0.0f, 1.0f);
  a.buf.resize(size_t(rows * stride + offset + 16));
  for (float& v : a.buf) v = nd(rng);
  a.view = ConstMatView(a.buf.data() + offset, rows, cols, stride);
  return a;
}

inline const char* dtype_label(DType t) { return dtype_name(t).data(); }

// The (unpacked, packed) views the packed-weight tests compare: the whole matrix, a slice that
// starts on a 16-row panel (keeps the packing) and one that starts off it (drops it). rows >= 16.
inline std::array<std::pair<WeightView, WeightView>, 3> packed_slice_cases(const WeightView& plain,
                                                                          const WeightView& packed) {
  return {{{plain, packed},
           {plain.rows_slice(16, plain.rows - 16), packed.rows_slice(16, packed.rows - 16)},
           {plain.rows_slice(5, 7), packed.rows_slice(5, 7)}}};
}

}  // namespace r1::test
