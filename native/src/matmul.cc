// Batched matrix product on OpenBLAS sgemm, split across the pool (OpenBLAS itself runs single-threaded).
#include <algorithm>

#include "blas.h"
#include "kernels.h"
#include "pool.h"

namespace nativecpu {

namespace {
// Below this many multiply-adds, one thread finishes before a hand-off would pay off.
constexpr int64_t kSerialMacs = 1 << 16;
// A split of one product never gives a thread fewer rows (or columns) than this: sgemm's micro-kernels
// work on blocks of 8 to 16 rows, and thinner slices waste them.
constexpr int64_t kMinSplit = 32;

/** Rows [r0, r1) of C (by_rows) or its columns [r0, r1), computed by one single-threaded sgemm. */
void sgemm_slice(const float* a, const float* b, float* c, bool by_rows, int64_t r0, int64_t r1, int m, int n, int k,
                 bool ta, bool tb, float beta) {
  const int lda = ta ? m : k, ldb = tb ? k : n;
  const int ota = ta ? kTrans : kNoTrans, otb = tb ? kTrans : kNoTrans;
  const int len = static_cast<int>(r1 - r0);
  if (by_rows) {
    cblas_sgemm(kRowMajor, ota, otb, len, n, k, 1.0f, ta ? a + r0 : a + r0 * lda, lda, b, ldb, beta, c + r0 * n, n);
  } else {
    cblas_sgemm(kRowMajor, ota, otb, m, len, k, 1.0f, a, lda, tb ? b + r0 * ldb : b + r0, ldb, beta, c + r0, n);
  }
}

}  // namespace

void gemm(const float* a, const float* b, float* c, int m, int n, int k, bool trans_a, bool trans_b, float beta) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // sgemm rejects a leading dimension of 0
    for (int64_t i = 0; i < static_cast<int64_t>(m) * n; ++i) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
    return;
  }
  const bool by_rows = m >= n;
  const int64_t side = by_rows ? m : n;
  const int64_t macs = static_cast<int64_t>(m) * n * k;
  if (macs < kSerialMacs || side < 2 * kMinSplit) {
    sgemm_slice(a, b, c, by_rows, 0, side, m, n, k, trans_a, trans_b, beta);
    return;
  }
  parallel_for(side, kMinSplit, [&](int64_t s0, int64_t s1) {
    sgemm_slice(a, b, c, by_rows, s0, s1, m, n, k, trans_a, trans_b, beta);
  });
}

void matmul(const float* a, const float* b, float* c, int64_t batch, const int32_t* a_index, const int32_t* b_index,
            int m, int n, int k, bool trans_a, bool trans_b) {
  const int64_t a_size = static_cast<int64_t>(m) * k, b_size = static_cast<int64_t>(k) * n,
                c_size = static_cast<int64_t>(m) * n;
  if (k == 0) {
    std::fill(c, c + batch * c_size, 0.0f);
    return;
  }
  auto one = [&](int64_t i, bool split) {
    const float* ai = a + a_index[i] * a_size;
    const float* bi = b + b_index[i] * b_size;
    if (split) {
      gemm(ai, bi, c + i * c_size, m, n, k, trans_a, trans_b, 0.0f);
    } else {
      sgemm_slice(ai, bi, c + i * c_size, true, 0, m, m, n, k, trans_a, trans_b, 0.0f);
    }
  };
  // Enough products to go round (attention heads): one thread per product. Otherwise (a linear layer,
  // batch 1) each product is split across the threads.
  if (batch >= Pool::instance().size() && batch * c_size * k >= kSerialMacs) {
    parallel_for(batch, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) one(i, false);
    });
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i, true);
  }
}

}  // namespace nativecpu
