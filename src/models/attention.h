// Causal softmax attention of a step's query rows over the paged KV cache, for GQA models whose
// cache slot holds [K of every KV head | V of every KV head]. Shared by the dense architectures.
#pragma once

#include <span>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/ops.h"
#include "models/kv_cache.h"

namespace r1 {

// Where each row of a step lives: its sequence's cache and its position.
struct RowPlace {
  const KvSeq* kv;
  int32_t pos;
};

struct GqaShape {
  int64_t n_heads, n_kv_heads, head_dim;
  float scale;  // softmax scale, usually head_dim^-0.5
};

// out[t, h*head_dim ...] = Σ_{p ≤ pos_t} softmax_p(q_t,h · K_p,g · scale) V_p,g with g the KV head
// of query head h. Reads K at slot offset 0 and V at n_kv_heads*head_dim. `scores` is scratch
// that grows as needed. Each (row, head) is reduced in position order by one thread, so results
// do not depend on the batch or the thread count.
void gqa_attention(ThreadPool& pool, ConstMatView q, std::span<const RowPlace> rows, KvCache& kv,
                   int layer, const GqaShape& shape, FloatBuffer& scores, MatView out);

}  // namespace r1
