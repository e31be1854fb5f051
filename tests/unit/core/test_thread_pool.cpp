// The pool runs every thread once per call and splits ranges statically or in claimed chunks.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace r1 {
namespace {

TEST(ThreadPool, CoversRangeExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
      });
      for (auto& h : hits) EXPECT_EQ(h.load(), 1);
    }
  }
}

TEST(ThreadPool, RunCallsEachThreadOnceManyTimes) {
  ThreadPool pool(3);
  std::atomic<int> total{0};
  for (int rep = 0; rep < 2000; ++rep) pool.run([&](int tid) { total += tid + 1; });
  EXPECT_EQ(total.load(), 2000 * 6);
}

TEST(ThreadPool, GrainAlignedChunks) {
  ThreadPool pool(2);
  std::vector<std::pair<int64_t, int64_t>> chunks(2, {-1, -1});
  std::atomic<int> idx{0};
  pool.parallel_for_grain(100, 16, [&](int64_t b, int64_t e) { chunks[size_t(idx++)] = {b, e}; });
  for (auto [b, e] : chunks) {
    EXPECT_EQ(b % 16, 0);
    EXPECT_TRUE(e % 16 == 0 || e == 100);
  }
}

// Claimed chunks cover the range exactly once, on grain boundaries, whatever the thread count.
TEST(ThreadPool, DynamicChunksCoverRangeOnceOnGrains) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 15, 16, 17, 100, 1536, 8960}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<bool> aligned{true};
      pool.parallel_for_dynamic(n, 16, [&](int64_t b, int64_t e) {
        if (b % 16 != 0 || (e % 16 != 0 && e != n) || b >= e) aligned = false;
        for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
      });
      EXPECT_TRUE(aligned.load()) << "threads " << threads << " n " << n;
      for (auto& h : hits) EXPECT_EQ(h.load(), 1) << "threads " << threads << " n " << n;
    }
  }
}

// Each thread starts on its own contiguous slice; a thread whose slice is done takes over the rest
// of a slower thread's. Here the caller stalls on its first chunk until the worker has taken
// units of the caller's slice (or 10 s have passed).
TEST(ThreadPool, DynamicSliceOfAStalledThreadIsTakenOver) {
  ThreadPool pool(2);
  constexpr int64_t n = 64;
  const auto caller = std::this_thread::get_id();
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  std::atomic<int64_t> worker_first{-1};
  std::atomic<bool> took_over{false};
  bool stalled = false;
  pool.parallel_for_dynamic(n, 1, [&](int64_t b, int64_t e) {
    if (std::this_thread::get_id() == caller) {
      if (!stalled) {
        stalled = true;
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!took_over.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
      }
    } else {
      int64_t none = -1;
      worker_first.compare_exchange_strong(none, b);
      if (b < n / 2) took_over = true;
    }
    for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
  });
  EXPECT_EQ(worker_first.load(), n / 2);
  EXPECT_TRUE(took_over.load());
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPool, DynamicItemsRunOnceWithValidThreadIds) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 5, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<bool> tid_ok{true};
      pool.for_each_dynamic(n, [&](int tid, int64_t i) {
        if (tid < 0 || tid >= threads) tid_ok = false;
        hits[size_t(i)]++;
      });
      EXPECT_TRUE(tid_ok.load());
      for (auto& h : hits) EXPECT_EQ(h.load(), 1) << "threads " << threads << " n " << n;
    }
  }
}

// More threads than cores: claimed jobs may close before some workers start, and the next job
// (claimed or static) must still run correctly: a static run() calls every thread exactly once,
// claimed chunks cover their range once.
TEST(ThreadPool, ClaimedAndStaticJobsInterleavedOnMoreThreadsThanCores) {
  const int threads = std::max(4, 2 * ThreadPool::hardware_threads());
  ThreadPool pool(threads);
  for (int rep = 0; rep < 300; ++rep) {
    const int64_t n = 1 + rep % 97;
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.parallel_for_dynamic(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1) << "rep " << rep;
    std::vector<std::atomic<int>> calls(static_cast<size_t>(threads));
    pool.run([&](int tid) { calls[size_t(tid)]++; });
    for (auto& c : calls) ASSERT_EQ(c.load(), 1) << "rep " << rep;
    std::atomic<int64_t> items{0};
    pool.for_each_dynamic(n, [&](int, int64_t) { items++; });
    ASSERT_EQ(items.load(), n);
  }
}

}  // namespace
}  // namespace r1
