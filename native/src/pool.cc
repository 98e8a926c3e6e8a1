#include "pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NATIVECPU_PAUSE() _mm_pause()
#else
#define NATIVECPU_PAUSE() std::this_thread::yield()
#endif

namespace nativecpu {

namespace {
// Kernels come in bursts (one tfjs op after another, tens of microseconds of JS between them), so a worker
// polls for a while before sleeping: a condition-variable wake-up costs about as much as a small kernel.
// The poll is short (~50 us) so that an idle lab, or a machine shared with other processes, loses little.
constexpr int kSpins = 4000;
// Set on pool workers, and on the caller while it runs chunks, so nested parallel calls stay inline.
thread_local bool in_pool = false;
}  // namespace

Pool& Pool::instance() {
  static Pool pool;
  return pool;
}

Pool::Pool() { start(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))); }

Pool::~Pool() { stop(); }

void Pool::start(int n) {
  stopping_ = false;
  threads_ = n;
  // The generation is read here, not in the new thread: a run may start before the thread first runs.
  const uint32_t seen = generation_;
  for (int i = 1; i < n; ++i) workers_.emplace_back([this, seen] { work(seen); });
}

void Pool::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    published_.store(++generation_);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  threads_ = 1;
}

void Pool::resize(int n) {
  if (n < 1) n = 1;
  if (n == size()) return;
  stop();
  start(n);
}

int Pool::drain(uint32_t generation, int chunks, const std::function<void(int)>* fn) {
  int ran = 0;
  uint64_t t = ticket_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(t >> 32) != generation || static_cast<int>(t & 0xffffffffu) >= chunks) return ran;
    if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel)) continue;
    try {
      (*fn)(static_cast<int>(t & 0xffffffffu));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    ++ran;
    if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) {
      // Taking the lock orders this notify after the caller's predicate check, so the wake-up is not lost.
      { std::lock_guard<std::mutex> lock(mu_); }
      done_.notify_one();
    }
    t = ticket_.load(std::memory_order_acquire);
  }
}

void Pool::run(int chunks, const std::function<void(int)>& fn) {
  std::unique_lock<std::mutex> exclusive(run_mu_, std::defer_lock);
  if (chunks <= 1 || threads_ == 1 || in_pool || !exclusive.try_lock()) {
    for (int c = 0; c < chunks; ++c) fn(c);
    return;
  }
  in_pool = true;
  uint32_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    generation = ++generation_;
    fn_ = &fn;
    chunks_ = chunks;
    finished_.store(0);
    error_ = nullptr;
    ticket_.store(static_cast<uint64_t>(generation) << 32);
    published_.store(generation, std::memory_order_release);
  }
  wake_.notify_all();
  drain(generation, chunks, &fn);
  for (int i = 0; i < kSpins && finished_.load(std::memory_order_acquire) != chunks; ++i) NATIVECPU_PAUSE();
  if (finished_.load(std::memory_order_acquire) != chunks) {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return finished_.load() == chunks; });
  }
  in_pool = false;
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::swap(error, error_);
  }
  if (error) std::rethrow_exception(error);
}

void Pool::work(uint32_t seen) {
  in_pool = true;
  for (;;) {
    for (int i = 0; i < kSpins && published_.load(std::memory_order_acquire) == seen; ++i) NATIVECPU_PAUSE();
    const std::function<void(int)>* fn;
    int chunks;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stopping_) return;
      fn = fn_;
      chunks = chunks_;
    }
    // fn is only called for a chunk this worker claimed in generation `seen`; the caller of that run is
    // then still waiting (its chunk is unfinished), so fn is still alive.
    drain(seen, chunks, fn);
  }
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  Pool& pool = Pool::instance();
  const int64_t chunks = std::min<int64_t>(pool.size(), std::max<int64_t>(1, n / std::max<int64_t>(1, grain)));
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  pool.run(static_cast<int>(chunks), [&](int c) {
    const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    if (begin < end) fn(begin, end);
  });
}

}  // namespace nativecpu
