// One persistent pool of worker threads shared by every kernel.
//
// Why our own pool and not OpenMP or OpenBLAS's threads: on a small machine (2 cores here) two pools that
// spin-wait after each call fight each other and the JS thread for the same cores. OpenBLAS is therefore
// pinned to one thread (see addon.cc) and every kernel, GEMMs included, splits its work through this pool.
//
// Chunks are claimed, not assigned: the calling (JS) thread works too and takes whatever chunks no worker
// has claimed yet. On a busy machine a worker may wake milliseconds late; the caller then simply does its
// share instead of waiting for it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nativecpu {

class Pool {
 public:
  static Pool& instance();

  ~Pool();
  /** Threads that share a kernel's work, the calling thread included (>= 1). */
  int size() const { return threads_; }
  /** Rebuilds the pool with n threads in all (n >= 1). */
  void resize(int n);
  /**
   * Runs fn(chunk) for every chunk in [0, chunks) on the caller and the workers; returns when all are done.
   * A call from inside a chunk, or while another thread's run is in progress, runs its chunks inline.
   * If chunks throw, the remaining ones still run and the first exception is rethrown here.
   */
  void run(int chunks, const std::function<void(int)>& fn);

 private:
  Pool();
  void start(int n);
  void stop();
  void work(uint32_t seen);
  /** Claims and runs chunks of run `generation` until none is left; returns how many it ran. */
  int drain(uint32_t generation, int chunks, const std::function<void(int)>* fn);

  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // one run at a time: a second caller (another JS worker thread) runs its chunks inline
  std::mutex mu_;
  std::condition_variable wake_, done_;
  // The current run, published under mu_ together with a new generation.
  const std::function<void(int)>* fn_ = nullptr;
  int chunks_ = 0;
  uint32_t generation_ = 0;
  std::atomic<uint32_t> published_{0};  // generation_, readable without the lock (for spinning)
  // (generation << 32) | next unclaimed chunk: a worker holding a stale generation cannot claim a chunk of
  // a newer run, because the generation it compares against is part of the same atomic word.
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int> finished_{0};
  std::exception_ptr error_;  // the first exception a chunk of the current run threw (under mu_)
  bool stopping_ = false;
};

/**
 * Splits [0, n) into at most size() contiguous ranges of at least `grain` items and runs fn(begin, end) on
 * each, in parallel. Small problems (n < 2 * grain) run inline on the caller, with no thread hand-off.
 */
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace nativecpu
