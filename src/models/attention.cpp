// GQA attention: one work item per (row, KV head), claimed by the threads in turn (rows further into
// the sequence cost more); the query heads of a group share each K/V load.
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
  pool.for_each_dynamic(items, [&](int tid, int64_t item) {
    float* sc = scores.data() + tid * per_thread;
    const int64_t t = item / shape.n_kv_heads, g = item % shape.n_kv_heads;
    const RowPlace& place = rows[size_t(t)];
    const int32_t len = place.pos + 1;
    const float* qrow = q.row(t) + g * group * hd;
    place.kv->for_each_run(kv, layer, len, [&](int32_t p, int32_t n, const KvRun& r) {
      attn_scores(qrow, group, hd, r.at(g * hd), r.stride(), n, shape.scale, sc + p, len);
    });
    for (int64_t j = 0; j < group; ++j) softmax(sc + j * len, len);
    float* o = out.row(t) + g * group * hd;
    std::memset(o, 0, sizeof(float) * size_t(group * hd));
    place.kv->for_each_run(kv, layer, len, [&](int32_t p, int32_t n, const KvRun& r) {
      attn_values(o, group, hd, sc + p, len, r.at(v_offset + g * hd), r.stride(), n);
    });
  });
}

}  // namespace r1
