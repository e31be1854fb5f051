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
  slices_ = std::make_unique<Slice[]>(size_t(n_threads_));
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

namespace {
uint64_t slice_of(int64_t front, int64_t end) { return uint64_t(front) | uint64_t(end) << 32; }
int64_t slice_front(uint64_t v) { return int64_t(v & 0xffffffffu); }
int64_t slice_end(uint64_t v) { return int64_t(v >> 32); }
}  // namespace

void ThreadPool::share_units(int64_t units) {
  R1_CHECK(units < (int64_t(1) << 32), "parallel_for_dynamic: {} units", units);
  const int t = n_threads_;
  for (int i = 0; i < t; ++i)
    slices_[size_t(i)].v.store(slice_of(units * i / t, units * (i + 1) / t), std::memory_order_relaxed);
  // (dispatch's release store of the job publishes these to the workers)
}

bool ThreadPool::claim_units(int tid, int64_t& b, int64_t& e) {
  std::atomic<uint64_t>& own = slices_[size_t(tid)].v;
  for (;;) {
    // The front of its own slice: an eighth of what is left (at least one unit), so a thread
    // that runs out early still finds half a chunk's worth to take over.
    uint64_t v = own.load(std::memory_order_relaxed);
    while (slice_front(v) < slice_end(v)) {
      const int64_t f = slice_front(v), end = slice_end(v);
      const int64_t take = std::max<int64_t>(1, (end - f) / 8);
      if (own.compare_exchange_weak(v, slice_of(f + take, end), std::memory_order_relaxed)) {
        b = f;
        e = f + take;
        return true;
      }
    }
    // Its own slice is done: take the back half of the first other slice with units left and
    // make it this thread's slice (so a third thread may in turn take half of that).
    bool took = false;
    for (int k = 1; k < n_threads_ && !took; ++k) {
      std::atomic<uint64_t>& other = slices_[size_t((tid + k) % n_threads_)].v;
      uint64_t o = other.load(std::memory_order_relaxed);
      while (slice_front(o) < slice_end(o)) {
        const int64_t f = slice_front(o), end = slice_end(o);
        const int64_t cut = end - (end - f + 1) / 2;
        if (other.compare_exchange_weak(o, slice_of(f, cut), std::memory_order_relaxed)) {
          own.store(slice_of(cut, end), std::memory_order_relaxed);
          took = true;
          break;
        }
      }
    }
    if (!took) return false;
  }
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
