// The two OpenBLAS entry points the addon uses, declared here rather than through <cblas.h>: the header
// lives in a different folder on every system (Debian's /usr/include/x86_64-linux-gnu, /usr/include/openblas,
// Homebrew's opt/openblas/include), while the library itself links as -lopenblas everywhere.
#pragma once

extern "C" {
// CBLAS enums are plain ints in the C ABI: order 101 = row-major, transpose 111 = no, 112 = yes.
void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc);
void openblas_set_num_threads(int num_threads);
}

namespace nativecpu {
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
}  // namespace nativecpu
