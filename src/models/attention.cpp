// GQA attention: one work item per (row, KV head); the query heads of a group share each K/V load.
#include "models/attention.h"

#include <algorithm>
#include <cstring>

namespace r1 {

void gqa_attention(ThreadPool& pool, ConstMatView q, std::span<const RowPlace> rows, KvCache& kv,
                   int layer, const GqaShape& shape, FloatBuffer& scores, MatView out) {
  const int64_t T = int64_t(rows.size());
  const int64_t group = shape.n_heads / shape.n_kv_heads;
  const int64_t hd = shape.head_dim;
  const int64_t v_offset = shape.n_kv_heads * hd;
  int32_t max_len = 0;
  for (const RowPlace& r : rows) max_len = std::max(max_len, r.pos + 1);
  const int n_threads = pool.size();
  const int64_t per_thread = int64_t(max_len) * group;
  if (scores.size() < size_t(per_thread * n_threads)) scores.resize(size_t(per_thread * n_threads));

  const int64_t items = T * shape.n_kv_heads;
  pool.run([&](int tid) {
    float* sc = scores.data() + tid * per_thread;
    const int64_t begin = items * tid / n_threads, end = items * (tid + 1) / n_threads;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / shape.n_kv_heads, g = item % shape.n_kv_heads;
      const RowPlace& place = rows[size_t(t)];
      const int32_t len = place.pos + 1;
      const float* qrow = q.row(t) + g * group * hd;
      for (int32_t p = 0; p < len; ++p) {
        const float* k = place.kv->slot(kv, layer, p) + g * hd;
        for (int64_t j = 0; j < group; ++j) sc[j * len + p] = dot_f32(qrow + j * hd, k, hd) * shape.scale;
      }
      for (int64_t j = 0; j < group; ++j) softmax(sc + j * len, len);
      float* o = out.row(t) + g * group * hd;
      std::memset(o, 0, sizeof(float) * size_t(group * hd));
      for (int32_t p = 0; p < len; ++p) {
        const float* v = place.kv->slot(kv, layer, p) + v_offset + g * hd;
        for (int64_t j = 0; j < group; ++j) axpy_f32(o + j * hd, sc[j * len + p], v, hd);
      }
    }
  });
}

}  // namespace r1
