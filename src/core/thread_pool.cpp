// Workers spin briefly on the generation counter (decode issues hundreds of small parallel
// regions per token), then sleep on it with atomic wait (a futex on Linux).
#include "core/thread_pool.h"

#include <immintrin.h>
#include <sched.h>

#include <algorithm>

#include "core/error.h"

namespace r1 {

namespace {
constexpr int kSpinIterations = 20000;  // ~50-100 µs before sleeping
}

int ThreadPool::hardware_threads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(int n_threads) {
  n_threads_ = n_threads > 0 ? n_threads : hardware_threads();
  for (int tid = 1; tid < n_threads_; ++tid) threads_.emplace_back([this, tid] { worker(tid); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::dispatch(Thunk thunk, void* ctx) {
  bool was_busy = busy_.exchange(true, std::memory_order_acquire);
  R1_CHECK(!was_busy, "ThreadPool::run is not reentrant");
  thunk_ = thunk;
  ctx_ = ctx;
  pending_.store(n_threads_ - 1, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  thunk(ctx, 0);
  while (pending_.load(std::memory_order_acquire) != 0) _mm_pause();
  busy_.store(false, std::memory_order_release);
}

void ThreadPool::worker(int tid) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int i = 0; g == seen && i < kSpinIterations; ++i) {
      _mm_pause();
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    thunk_(ctx_, tid);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace r1
