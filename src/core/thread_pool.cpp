// Workers spin briefly on the generation counter (decode issues hundreds of small parallel
// regions per token), then sleep on it with atomic wait (a futex on Linux).
#include "core/thread_pool.h"

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <thread>

#include "core/error.h"

namespace r1 {

namespace {
constexpr int kSpinIterations = 20000;  // ~50-100 µs before sleeping
constexpr int kWaitSpins = 200000;      // ~10 ms: the caller's wait for workers before it yields
constexpr uint64_t kGenMask = 0xffffffffu;
constexpr uint64_t kCountMask = 0xffffffffu;
constexpr uint64_t kClosed = uint64_t(1) << 24;  // added to the entered count: no worker enters
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

void ThreadPool::dispatch(Thunk thunk, void* ctx, bool workers_optional) {
  bool was_busy = busy_.exchange(true, std::memory_order_acquire);
  R1_CHECK(!was_busy, "ThreadPool::run is not reentrant");
  const uint64_t g = generation_.load(std::memory_order_relaxed) + 1;
  thunk_ = thunk;
  ctx_ = ctx;
  done_.store(0, std::memory_order_relaxed);
  job_.store((g & kGenMask) << 32, std::memory_order_release);
  generation_.store(g, std::memory_order_release);
  generation_.notify_all();
  thunk(ctx, 0);
  uint64_t expect = uint64_t(n_threads_ - 1);
  if (workers_optional) expect = job_.fetch_add(kClosed, std::memory_order_acq_rel) & kCountMask;
  // Spin briefly, then yield the core: a worker still running may be waiting for it.
  for (int spins = 0; uint64_t(done_.load(std::memory_order_acquire)) != expect; ++spins) {
    if (spins < kWaitSpins)
      _mm_pause();
    else
      std::this_thread::yield();
  }
  busy_.store(false, std::memory_order_release);
}

void ThreadPool::worker(int tid) {
  const uint64_t workers = uint64_t(n_threads_ - 1);
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
    // Enter job g unless it is closed or already replaced by a later one.
    uint64_t s = job_.load(std::memory_order_acquire);
    bool entered = false;
    while ((s >> 32) == (g & kGenMask) && (s & kCountMask) < workers) {
      if (job_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        entered = true;
        break;
      }
    }
    if (!entered) continue;
    thunk_(ctx_, tid);
    done_.fetch_add(1, std::memory_order_release);
  }
}

}  // namespace r1
