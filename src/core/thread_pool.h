// Fork-join thread pool for the kernels. Kernels split output rows, never a reduction, so results
// depend neither on the thread count nor on which thread computes a row: work is split statically
// (thread i always gets the same slice) or, for memory-bound streams whose speed per thread varies
// at run time, each thread starts on its own contiguous slice and one that runs out takes the back
// half of what another has left. Claimed work does not wait for a worker that has not started when
// the caller runs out of work (on a machine with more runnable threads than cores, a worker may
// not be scheduled for milliseconds): the job is closed to it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace r1 {

class ThreadPool {
 public:
  // n_threads <= 0 means one per available core.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(tid) once on each of size() threads (the caller is tid 0) and returns when all are
  // done. Not reentrant: fn must not call run() on the same pool.
  template <typename F>
  void run(F&& fn) {
    if (n_threads_ == 1) {
      fn(0);
      return;
    }
    auto thunk = [](void* ctx, int tid) { (*static_cast<F*>(ctx))(tid); };
    dispatch(thunk, &fn, /*workers_optional=*/false);
  }

  // Splits [0, n) into size() contiguous chunks of near-equal length, fn(begin, end) per chunk.
  template <typename F>
  void parallel_for(int64_t n, F&& fn) {
    int t = n_threads_;
    if (n <= 1 || t == 1) {
      if (n > 0) fn(int64_t(0), n);
      return;
    }
    run([&](int tid) {
      int64_t b = n * tid / t, e = n * (tid + 1) / t;
      if (b < e) fn(b, e);
    });
  }

  // Like parallel_for, but chunk boundaries are multiples of `grain` (e.g. a kernel's row tile).
  template <typename F>
  void parallel_for_grain(int64_t n, int64_t grain, F&& fn) {
    int64_t units = (n + grain - 1) / grain;
    parallel_for(units, [&](int64_t b, int64_t e) { fn(b * grain, std::min(n, e * grain)); });
  }

  // Like parallel_for_grain, but a thread slowed down by the machine does not hold up the others:
  // each thread claims its own slice of whole grains front to back, in chunks that shrink as the
  // slice runs out, and a thread whose slice is done takes over the back half of what is left of
  // another's. Each thread's work stays a few long runs of consecutive rows, so streams of
  // weights keep their prefetch distance (with chunks taken in turn from one shared counter, a
  // 1.3 MB Q4_K matrix streamed at 65% of the read bandwidth on 2 threads; this way at 88-97%).
  // For work whose result does not depend on which thread runs a chunk.
  template <typename F>
  void parallel_for_dynamic(int64_t n, int64_t grain, F&& fn) {
    const int64_t units = (n + grain - 1) / grain;
    const int t = n_threads_;
    if (units <= 1 || t == 1) {
      if (n > 0) fn(int64_t(0), n);
      return;
    }
    share_units(units);
    run_claimed([&](int tid) {
      int64_t b = 0, e = 0;
      while (claim_units(tid, b, e)) fn(b * grain, std::min(n, e * grain));
    });
  }

  // Calls fn(tid, i) for every i in [0, n), threads claiming items one at a time from a shared
  // counter (items of uneven cost, e.g. attention rows of growing length). tid indexes per-thread
  // scratch; the result of an item must not depend on it.
  template <typename F>
  void for_each_dynamic(int64_t n, F&& fn) {
    if (n_threads_ == 1 || n <= 1) {
      for (int64_t i = 0; i < n; ++i) fn(0, i);
      return;
    }
    std::atomic<int64_t> next{0};
    run_claimed([&](int tid) {
      for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n; i = next.fetch_add(1, std::memory_order_relaxed))
        fn(tid, i);
    });
  }

  static int hardware_threads();

 private:
  using Thunk = void (*)(void*, int);
  // Like run(), for fn that only claims work from shared counters: the caller's own call claims
  // everything left, so workers that have not entered by the time it returns are not waited for.
  template <typename F>
  void run_claimed(F&& fn) {
    auto thunk = [](void* ctx, int tid) { (*static_cast<F*>(ctx))(tid); };
    dispatch(thunk, &fn, /*workers_optional=*/true);
  }
  void dispatch(Thunk thunk, void* ctx, bool workers_optional);
  void worker(int tid);
  // parallel_for_dynamic's bookkeeping: units [0, units) in one contiguous slice per thread, and
  // the next chunk for thread tid as [b, e) (false when no thread has any left).
  void share_units(int64_t units);
  bool claim_units(int tid, int64_t& b, int64_t& e);

  // A thread's unclaimed units [front, end): front in the low 32 bits, end in the high ones.
  struct alignas(64) Slice {
    std::atomic<uint64_t> v{0};
  };

  int n_threads_;
  std::vector<std::thread> threads_;
  std::unique_ptr<Slice[]> slices_;
  Thunk thunk_ = nullptr;
  void* ctx_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  // The current job: its generation (high 32 bits) and the workers that entered it (low 32 bits;
  // kClosed added when the caller closes it). A worker enters only the generation it woke for.
  std::atomic<uint64_t> job_{0};
  std::atomic<int> done_{0};  // workers that finished the current job
  std::atomic<bool> stop_{false};
  std::atomic<bool> busy_{false};
};

}  // namespace r1
