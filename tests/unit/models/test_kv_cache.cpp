// The paged KV cache: each layer keeps its slots' values segment by segment, page after page, and
// the runs a sequence hands to attention (a page, or consecutive pages joined) address every value
// of every stored position, with the next run's start for prefetching.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/dtype.h"
#include "models/kv_cache.h"

namespace r1 {
namespace {

// The value stored for (layer, pos, i): distinct and exactly representable in f16.
float value_of(int layer, int32_t pos, int64_t i) { return float(layer * 256 + pos * 16 + i % 16) + 0.5f; }

float read(const KvSpan& s, int64_t elem) {
  if (s.type == DType::kF16) return f16_to_f32(static_cast<const uint16_t*>(s.data)[elem]);
  return static_cast<const float*>(s.data)[elem];
}

TEST(KvCache, RunsAddressEveryStoredValue) {
  for (DType type : {DType::kF32, DType::kF16})
    for (int64_t segment : {0, 4, 8}) {
      const KvLayout layout{2, 16, segment};
      KvCache cache(layout, 64, 4, type);
      // A second sequence takes pages in between, so the first one's pages are not contiguous.
      KvSeq seq, other;
      const int32_t len = 11;
      for (int32_t p = 0; p < len; ++p) {
        ASSERT_TRUE(seq.reserve(cache, 1));
        ASSERT_TRUE(other.reserve(cache, 1));
        for (int layer = 0; layer < 2; ++layer) {
          std::vector<float> v(16), w(16, -1.0f);
          for (int64_t i = 0; i < 16; ++i) v[size_t(i)] = value_of(layer, p, i);
          seq.store(cache, layer, p, v.data());
          other.store(cache, layer, p, w.data());
        }
        seq.advance(1);
        other.advance(1);
      }
      for (int layer = 0; layer < 2; ++layer) {
        std::vector<int32_t> starts;
        std::vector<const void*> nexts, datas;
        seq.for_each_run(cache, layer, len, [&](int32_t p, int32_t n, const KvRun& run) {
          EXPECT_EQ(run.stride(), layout.seg());
          for (int32_t r = 0; r < n; ++r)
            for (int64_t i = 0; i < 16; ++i)
              ASSERT_EQ(read(run.at(i), r * run.stride()), value_of(layer, p + r, i))
                  << dtype_name(type) << " segment " << segment << " pos " << p + r << " value " << i;
          starts.push_back(p);
          datas.push_back(run.at(0).data);
          nexts.push_back(run.at(0).next);
        });
        ASSERT_EQ(starts, (std::vector<int32_t>{0, 4, 8}));
        // Each run names where the following one starts; the last names none.
        EXPECT_EQ(nexts[0], datas[1]);
        EXPECT_EQ(nexts[1], datas[2]);
        EXPECT_EQ(nexts[2], nullptr);
        // at() moves the prefetch address along with the data.
        seq.for_each_run(cache, layer, 8, [&](int32_t p, int32_t, const KvRun& run) {
          if (p == 0)
            EXPECT_EQ(static_cast<const uint8_t*>(run.at(3).next) - static_cast<const uint8_t*>(run.at(0).next),
                      static_cast<const uint8_t*>(run.at(3).data) - static_cast<const uint8_t*>(run.at(0).data));
        });
      }
    }
}

// Consecutive pages of one sequence join into longer runs, up to max_run() slots (about 64 KiB
// of one segment), each naming where the following one starts; every value of both segments is
// where its run says. (RunsAddressEveryStoredValue covers pages that are not consecutive.)
TEST(KvCache, ConsecutivePagesJoinIntoRuns) {
  for (DType type : {DType::kF32, DType::kF16}) {
    const KvLayout layout{1, 1024, 512};  // two segments of 512 values: 2 or 1 KiB per slot
    KvCache cache(layout, 200, 4, type);
    const int32_t run = type == DType::kF32 ? 32 : 64;
    ASSERT_EQ(cache.max_run(), run);
    // f32: every value distinct; f16: integers below 2048, exact, distinct within two slots
    auto value = [&](int32_t pos, int64_t i) {
      const int64_t v = int64_t(pos) * 1024 + i;
      return float(type == DType::kF32 ? v : v % 2048);
    };
    KvSeq seq;
    const int32_t len = 150;
    ASSERT_TRUE(seq.reserve(cache, len));
    std::vector<float> v(1024);
    for (int32_t p = 0; p < len; ++p) {
      for (int64_t i = 0; i < 1024; ++i) v[size_t(i)] = value(p, i);
      seq.store(cache, 0, p, v.data());
    }
    seq.advance(len);
    std::vector<int32_t> starts, lengths;
    std::vector<const void*> datas, nexts;
    seq.for_each_run(cache, 0, len, [&](int32_t p, int32_t n, const KvRun& r) {
      for (int32_t k = 0; k < n; ++k)
        for (int64_t i : {0, 1, 255, 511, 512, 513, 900, 1023})
          ASSERT_EQ(read(r.at(i), k * r.stride()), value(p + k, i))
              << dtype_name(type) << " pos " << p + k << " value " << i;
      starts.push_back(p);
      lengths.push_back(n);
      datas.push_back(r.at(512).data);
      nexts.push_back(r.at(512).next);
    });
    std::vector<int32_t> want_starts, want_lengths;
    for (int32_t p = 0; p < len; p += run) {
      want_starts.push_back(p);
      want_lengths.push_back(std::min(run, len - p));
    }
    EXPECT_EQ(starts, want_starts) << dtype_name(type);
    EXPECT_EQ(lengths, want_lengths) << dtype_name(type);
    for (size_t k = 0; k + 1 < datas.size(); ++k) EXPECT_EQ(nexts[k], datas[k + 1]) << "run " << k;
    EXPECT_EQ(nexts.back(), nullptr);
  }
}

}  // namespace
}  // namespace r1
