// The public ops: shape checks, the split of matmul over threads, and the choice of kernel table
// (once at start-up from the CPU or R1_ISA, or by set_isa()). All arithmetic is in the tables.
#include "kernels/ops.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/quants.h"
#include "kernels/kernel_table.h"
#include "kernels/quant.h"

namespace r1 {

using kernels::KernelTable;

namespace {

const KernelTable& table_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return kernels::avx512_table();
    case Isa::kAvx2:
      return kernels::avx2_table();
    case Isa::kScalar:
      break;
  }
  return kernels::scalar_table();
}

// The start-up choice: R1_ISA when set (read once, here), else the best the CPU runs.
Isa startup_isa() {
  const char* env = std::getenv("R1_ISA");
  if (env == nullptr || *env == '\0') return best_isa();
  std::optional<Isa> isa = isa_from_name(env);
  if (!isa) fail("R1_ISA={}: unknown instruction set (expected scalar, avx2 or avx512)", env);
  if (!isa_supported(*isa))
    fail(ErrorKind::kUnsupported, "R1_ISA={}: this CPU does not support it (best: {})", env,
         isa_name(best_isa()));
  return *isa;
}

std::atomic<const KernelTable*> g_active{nullptr};

const KernelTable& active() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  if (t == nullptr) [[unlikely]] {
    static const KernelTable* const initial = &table_for(startup_isa());
    const KernelTable* expected = nullptr;
    g_active.compare_exchange_strong(expected, initial, std::memory_order_acq_rel);
    t = g_active.load(std::memory_order_acquire);
  }
  return *t;
}

bool matmul_weight_type(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || t == DType::kF8E4M3 ||
         kernels::quantized_matmul_type(t);
}

void check_weight(const WeightView& w) {
  R1_CHECK(matmul_weight_type(w.dtype), "weight type {} is not supported by the kernels",
           dtype_name(w.dtype));
  R1_CHECK(w.rows >= 0 && w.cols >= 0 && (w.data != nullptr || w.rows * w.cols == 0));
  if (is_block_quantized(w.dtype)) {
    R1_CHECK(w.cols % dtype_info(w.dtype).block_elems == 0, "{} weight with {} columns: not whole blocks",
             dtype_name(w.dtype), w.cols);
  }
  if (w.dtype == DType::kF8E4M3) {
    R1_CHECK(w.scale != nullptr && w.scale_cols == (w.cols + 127) / 128 && w.row0 >= 0,
             "F8_E4M3 weight needs scales [.., {}], got scale_cols {}", (w.cols + 127) / 128,
             w.scale_cols);
  }
}

}  // namespace

namespace kernels {
float* thread_scratch(size_t floats) noexcept {
  thread_local std::unique_ptr<std::byte[], AlignedFree> mem;
  thread_local size_t capacity = 0;
  if (floats > capacity) {
    mem = aligned_alloc_bytes(floats * sizeof(float));  // bad_alloc here terminates: no memory left
    capacity = floats;
  }
  return reinterpret_cast<float*>(mem.get());
}
}  // namespace kernels

int64_t WeightView::row_bytes() const {
  std::optional<uint64_t> bytes = dtype_bytes(dtype, uint64_t(cols));
  R1_CHECK(bytes.has_value(), "{} row of {} columns is not a whole number of blocks",
           dtype_name(dtype), cols);
  return int64_t(*bytes);
}

WeightView WeightView::rows_slice(int64_t begin, int64_t count) const {
  R1_CHECK(begin >= 0 && count >= 0 && begin + count <= rows, "rows [{}, {}) of {}", begin,
           begin + count, rows);
  WeightView v = *this;
  v.rows = count;
  v.data = static_cast<const uint8_t*>(data) + begin * row_bytes();
  v.row0 = row0 + begin;
  // packed rows come in panels of 16: a slice keeps them only if it starts on a panel
  const bool whole_panels = begin % kernels::kPackedRows == 0;
  v.packed = packed && whole_panels ? static_cast<const uint8_t*>(packed) + begin * row_bytes() : nullptr;
  return v;
}

uint64_t packed_weight_bytes(const WeightView& w) {
  return uint64_t((w.rows + kernels::kPackedRows - 1) / kernels::kPackedRows * kernels::kPackedRows) *
         uint64_t(w.row_bytes());
}

std::unique_ptr<std::byte[], AlignedFree> pack_weights(WeightView& w) {
  check_weight(w);
  const KernelTable& k = active();
  if (k.packable == nullptr || w.rows == 0 || w.cols == 0 || !k.packable(w)) return nullptr;
  // 4 KiB pages: with the big copies (the dense MLP and the output head) on huge pages, decode of
  // r1-small Q4_K_M ran at 30-34 t/s on one thread against 63-66 without them, the expert matrices
  // on 4 KiB pages streaming three times slower, and the 1.5B shape's Q4_K_M at 76% of the bound
  // against 84% (r1 bench -p 0 -n 32 -t 1). Loading is slower on 4 KiB pages (more page faults).
  auto mem = aligned_alloc_bytes(size_t(packed_weight_bytes(w)));
  k.pack_weights(w, reinterpret_cast<uint8_t*>(mem.get()));
  w.packed = mem.get();
  return mem;
}

Isa active_isa() { return active().isa; }

void set_isa(Isa isa) {
  R1_CHECK(isa_supported(isa), "set_isa({}): not supported by this CPU", isa_name(isa));
  g_active.store(&table_for(isa), std::memory_order_release);
}

void matmul(ThreadPool& pool, ConstMatView x, const WeightView& w, MatView y) {
  const MatmulJob job{x, w, y};
  matmul_batch(pool, std::span(&job, 1));
}

void matmul_batch(ThreadPool& pool, std::span<const MatmulJob> jobs) {
  auto addr = [](const float* p) { return reinterpret_cast<uintptr_t>(p); };
  for (const MatmulJob& j : jobs) {
    const ConstMatView& x = j.x;
    const WeightView& w = j.w;
    const MatView& y = j.y;
    check_weight(w);
    R1_CHECK(x.cols == w.cols && y.rows == x.rows && y.cols == w.rows,
             "matmul shapes: x [{},{}] w [{},{}] y [{},{}]", x.rows, x.cols, w.rows, w.cols, y.rows,
             y.cols);
    R1_CHECK(x.stride >= x.cols && y.stride >= y.cols);
    if (x.rows == 0 || w.rows == 0) continue;
    const uintptr_t y_end = addr(y.row(y.rows - 1) + y.cols);
    for (const MatmulJob& o : jobs) {  // its own x and every other job's
      if (o.x.rows == 0 || o.x.cols == 0) continue;
      const uintptr_t x_end = addr(o.x.row(o.x.rows - 1) + o.x.cols);
      R1_CHECK(x_end <= addr(y.data) || y_end <= addr(o.x.data), "matmul: y overlaps x");
    }
    if (w.cols == 0)
      for (int64_t t = 0; t < y.rows; ++t) std::fill(y.row(t), y.row(t) + y.cols, 0.0f);
  }
  const KernelTable& k = active();

  // Per job: its first output column in the joint range (jobs start on a grain boundary so a
  // chunk's columns of one job are whole grains) and, for the block-quantized weights, where its
  // activation rows are quantized. Jobs with the same x and activation format share those rows.
  struct Plan {
    int64_t begin = 0;
    int64_t xq_offset = -1;  // bytes into xq; -1: f32 activations
    int64_t xq_row_bytes = 0;
    bool quantizes = false;  // the first job with this x and format
  };
  // (thread_local buffers: the lambdas below run on other threads, so they use these spans)
  thread_local std::vector<Plan> plan_buf;
  plan_buf.assign(jobs.size(), Plan{});
  const std::span<Plan> plans(plan_buf);
  int64_t total = 0, xq_bytes = 0, xq_rows = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const MatmulJob& j = jobs[i];
    Plan& p = plans[i];
    if (j.x.rows == 0 || j.w.rows == 0 || j.w.cols == 0) {
      p.begin = -1;
      continue;
    }
    p.begin = total;
    total += (j.w.rows + k.row_grain - 1) / k.row_grain * k.row_grain;
    if (!kernels::quantized_matmul_type(j.w.dtype)) continue;
    p.xq_row_bytes = kernels::act_row_bytes(j.w.dtype, j.w.cols);
    for (size_t e = 0; e < i && p.xq_offset < 0; ++e) {
      const ConstMatView& o = jobs[e].x;
      if (plans[e].xq_offset >= 0 && o.data == j.x.data && o.rows == j.x.rows && o.cols == j.x.cols &&
          o.stride == j.x.stride && kernels::act_block_elems(jobs[e].w.dtype) == kernels::act_block_elems(j.w.dtype))
        p.xq_offset = plans[e].xq_offset;
    }
    if (p.xq_offset >= 0) continue;
    p.xq_offset = xq_bytes;
    p.quantizes = true;
    xq_bytes += j.x.rows * p.xq_row_bytes;
    xq_rows += j.x.rows;
  }
  if (total == 0) return;

  // Quantize the activation rows once (in parallel for prefill) ...
  thread_local std::vector<uint8_t> xq;
  if (xq.size() < size_t(xq_bytes)) xq.resize(size_t(xq_bytes));
  uint8_t* xq_data = xq.data();
  if (xq_rows > 0) {
    thread_local std::vector<std::pair<size_t, int64_t>> first_buf;  // (job, its first row in the joint count)
    first_buf.clear();
    int64_t r = 0;
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (!plans[i].quantizes) continue;
      first_buf.push_back({i, r});
      r += jobs[i].x.rows;
    }
    const std::span<const std::pair<size_t, int64_t>> firsts(first_buf);
    pool.parallel_for_grain(xq_rows, 8, [&](int64_t b, int64_t e) {
      auto it = std::upper_bound(firsts.begin(), firsts.end(), b, [](int64_t v, const auto& f) { return v < f.second; }) - 1;
      for (int64_t row = b; row < e; ++row) {
        while (it + 1 != firsts.end() && (it + 1)->second <= row) ++it;
        const MatmulJob& j = jobs[it->first];
        const Plan& p = plans[it->first];
        const int64_t t = row - it->second;
        k.quantize_act_row(j.w.dtype, j.x.row(t), j.x.cols, xq_data + p.xq_offset + t * p.xq_row_bytes);
      }
    });
  }
  // ... then split the output columns of all jobs among the threads.
  pool.parallel_for_dynamic(total, k.row_grain, [&](int64_t b, int64_t e) {
    for (size_t i = 0; i < jobs.size(); ++i) {
      const Plan& p = plans[i];
      if (p.begin < 0 || p.begin >= e) continue;
      const MatmulJob& j = jobs[i];
      const int64_t lo = std::max(b, p.begin) - p.begin, hi = std::min(e - p.begin, j.w.rows);
      if (lo >= hi) continue;
      if (p.xq_offset >= 0)
        k.qmatmul_rows(xq_data + p.xq_offset, p.xq_row_bytes, j.x.rows, j.w, j.y, lo, hi);
      else
        k.matmul_rows(j.x, j.w, j.y, lo, hi);
    }
  });
}

float dot_f32(const float* a, const float* b, int64_t n) { return active().dot_f32(a, b, n); }

void axpy_f32(float* y, float a, const float* x, int64_t n) { active().axpy_f32(y, a, x, n); }

void attn_scores(const float* q, int64_t group, int64_t hd, KvSpan k, int64_t k_stride, int64_t n,
                 float scale, float* s, int64_t ld) {
  R1_CHECK(k.type == DType::kF32 || k.type == DType::kF16, "KV cache type {}", dtype_name(k.type));
  if (k.type == DType::kF16)
    active().attn_scores_f16(q, group, hd, static_cast<const uint16_t*>(k.data), k_stride, n, scale, s, ld,
                             static_cast<const uint16_t*>(k.next));
  else
    active().attn_scores_f32(q, group, hd, static_cast<const float*>(k.data), k_stride, n, scale, s, ld,
                             static_cast<const float*>(k.next));
}

void attn_values(float* o, int64_t group, int64_t hd, const float* w, int64_t ld, KvSpan v,
                 int64_t v_stride, int64_t n) {
  R1_CHECK(v.type == DType::kF32 || v.type == DType::kF16, "KV cache type {}", dtype_name(v.type));
  if (v.type == DType::kF16)
    active().attn_values_f16(o, group, hd, w, ld, static_cast<const uint16_t*>(v.data), v_stride, n,
                             static_cast<const uint16_t*>(v.next));
  else
    active().attn_values_f32(o, group, hd, w, ld, static_cast<const float*>(v.data), v_stride, n,
                             static_cast<const float*>(v.next));
}

void dequantize_row(const WeightView& w, int64_t row, float* out) {
  check_weight(w);
  R1_CHECK(row >= 0 && row < w.rows, "row {} of {}", row, w.rows);
  if (is_block_quantized(w.dtype)) {
    dequantize(w.dtype, static_cast<const uint8_t*>(w.data) + row * w.row_bytes(), out, w.cols);
    return;
  }
  active().dequantize_row(w, row, out);
}

void rms_norm(const float* x, const float* w, float eps, int64_t n, float* out) {
  active().rms_norm(x, w, eps, n, out);
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  active().silu_mul(gate, up, n, out);
}

void softmax(float* x, int64_t n) { active().softmax(x, n); }

void add_inplace(float* y, const float* x, int64_t n) { active().add_inplace(y, x, n); }

void scale_inplace(float* x, float a, int64_t n) { active().scale_inplace(x, a, n); }

int64_t argmax(const float* x, int64_t n) {
  R1_CHECK(n > 0);
  return active().argmax(x, n);
}

void rope_neox(float* x, const float* cos, const float* sin, int64_t dim) {
  active().rope_neox(x, cos, sin, dim);
}

void rope_interleaved(float* x, const float* cos, const float* sin, int64_t dim) {
  active().rope_interleaved(x, cos, sin, dim);
}

double measure_read_bandwidth(ThreadPool& pool, const void* buf, uint64_t bytes, int reps) {
  const KernelTable& k = active();
  const uint64_t lines = bytes / 64;
  const auto* base = static_cast<const uint8_t*>(buf);
  std::atomic<float> sink{0.0f};
  double best = 0.0;
  for (int r = 0; r < std::max(reps, 1); ++r) {
    for (bool prefetch : {true, false}) {
      auto start = std::chrono::steady_clock::now();
      pool.parallel_for(int64_t(lines), [&](int64_t b, int64_t e) {
        float v = k.read_stream(base + b * 64, uint64_t(e - b) * 64, prefetch);
        sink.fetch_add(v, std::memory_order_relaxed);
      });
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (s > 0) best = std::max(best, double(lines * 64) / s);
    }
  }
  return best;
}

double measure_fma_peak(ThreadPool& pool) {
  const KernelTable& k = active();
  const int64_t iters = k.isa == Isa::kScalar ? 5'000'000 : 20'000'000;
  std::atomic<double> flops{0.0};
  std::atomic<float> sink{0.0f};
  auto start = std::chrono::steady_clock::now();
  pool.run([&](int) {
    float s = 0;
    double f = k.fma_loop(iters, &s);
    double cur = flops.load();
    while (!flops.compare_exchange_weak(cur, cur + f)) {
    }
    sink.fetch_add(s, std::memory_order_relaxed);
  });
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return secs > 0 ? flops.load() / secs : 0.0;
}

}  // namespace r1
