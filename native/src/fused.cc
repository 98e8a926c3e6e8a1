// Fused kernels: one pass over memory where the composed tfjs ops take several, each a separate kernel call with
// its own output buffer and its own trip through tfjs's engine (src/engine/fused.ts says which blocks use them).
// The backward of each is here too, written out by hand, because tfjs would otherwise differentiate the composed
// ops again. Every formula is the composed one's (src/blocks/rmsnorm.ts, feedforward.ts, rope.ts,
// src/train/adamw.ts); test/engine/fused.test.ts holds each to the cpu backend's values and gradients.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <vector>

#include "blas.h"
#include "kernels.h"
#include "pool.h"
#include "vecmath.h"

namespace nativecpu {

namespace {

// Memory-bound work: below this many elements per thread a hand-off costs more than it saves.
constexpr int64_t kGrain = 1 << 14;

/** 1 / sqrt(mean(x^2) + eps) of one row, the mean accumulated in double (as the cpu backend's Mean). */
inline float rms_scale(const float* x, int64_t d, float eps) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= d; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += static_cast<double>(x[i + l]) * x[i + l];
  double s = 0;
  for (; i < d; ++i) s += static_cast<double>(x[i]) * x[i];
  for (int l = 0; l < 8; ++l) s += acc[l];
  const float mean = static_cast<float>(s / static_cast<double>(d));
  return 1.0f / std::sqrt(mean + eps);
}

inline float sigmoid(float a) { return 1.0f / (1.0f + fast_exp(-a)); }

}  // namespace

void rms_norm(const float* x, const float* w, float* out, int64_t rows, int64_t d, float eps) {
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(d, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * d;
      float* o = out + r * d;
      const float s = rms_scale(xr, d, eps);
      for (int64_t j = 0; j < d; ++j) o[j] = xr[j] * s * w[j];
    }
  });
}

void rms_norm_backward(const float* dy, const float* x, const float* w, float* dx, float* dw, int64_t rows,
                       int64_t d, float eps) {
  // dx = s * (g - xhat * mean(g * xhat)) with g = dy * w and xhat = x * s; dw = sum over rows of dy * xhat.
  // Each range sums its rows' dw in its own buffer (double), added together at the end.
  std::mutex mu;
  std::vector<double> total(d, 0.0);
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(d, 1)), [&](int64_t b, int64_t e) {
    std::vector<double> part(d, 0.0);
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * d;
      const float* g = dy + r * d;
      float* o = dx + r * d;
      const float s = rms_scale(xr, d, eps);
      double dot = 0;
      for (int64_t j = 0; j < d; ++j) {
        const float xhat = xr[j] * s;
        dot += static_cast<double>(g[j] * w[j]) * xhat;
        part[j] += static_cast<double>(g[j]) * xhat;
      }
      const float m = static_cast<float>(dot / static_cast<double>(d));
      for (int64_t j = 0; j < d; ++j) o[j] = s * (g[j] * w[j] - xr[j] * s * m);
    }
    std::lock_guard<std::mutex> lock(mu);
    for (int64_t j = 0; j < d; ++j) total[j] += part[j];
  });
  for (int64_t j = 0; j < d; ++j) dw[j] = static_cast<float>(total[j]);
}

void swiglu(const float* a, const float* b, float* out, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = a[i] * sigmoid(a[i]) * b[i];
  });
}

void swiglu_backward(const float* dy, const float* a, const float* b, float* da, float* db, int64_t n) {
  // d/da [a sigmoid(a)] = s + a s (1 - s).
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float s = sigmoid(a[i]);
      const float silu = a[i] * s;
      db[i] = dy[i] * silu;
      da[i] = dy[i] * b[i] * (s + silu * (1.0f - s));
    }
  });
}

void rotary(const float* x, const float* cos, const float* sin, float* out, int64_t batch, int64_t heads,
            int64_t length, int64_t half, bool table_batched, bool inverse) {
  const int64_t rows = batch * heads * length;
  const int64_t dh = 2 * half;
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(dh, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t pos = r % length;
      const int64_t bi = r / (heads * length);
      const int64_t t = ((table_batched ? bi : 0) * length + pos) * half;
      const float* c = cos + t;
      const float* s = sin + t;
      const float* x1 = x + r * dh;
      const float* x2 = x1 + half;
      float* o1 = out + r * dh;
      float* o2 = o1 + half;
      if (!inverse) {
        for (int64_t i = 0; i < half; ++i) {
          o1[i] = x1[i] * c[i] - x2[i] * s[i];
          o2[i] = x2[i] * c[i] + x1[i] * s[i];
        }
      } else {  // the transpose of the rotation: the gradient of the forward
        for (int64_t i = 0; i < half; ++i) {
          o1[i] = x1[i] * c[i] + x2[i] * s[i];
          o2[i] = x2[i] * c[i] - x1[i] * s[i];
        }
      }
    }
  });
}

namespace {

/**
 * dst [rows, 2 half] (contiguous) = scale * RoPE rotation of the rows of src (row stride `stride`), with the
 * tables' rows for positions 0 .. rows - 1; `inverse` rotates back (the transpose, for gradients).
 */
void rotate_rows(const float* src, int64_t stride, float* dst, int64_t dst_stride, int64_t rows, int64_t half,
                 const float* cos, const float* sin, float scale, bool inverse) {
  const float sign = inverse ? -1.0f : 1.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x1 = src + r * stride;
    const float* x2 = x1 + half;
    const float* c = cos + r * half;
    const float* s = sin + r * half;
    float* o1 = dst + r * dst_stride;
    float* o2 = o1 + half;
    for (int64_t i = 0; i < half; ++i) {
      const float a = x1[i], b = x2[i];
      o1[i] = (a * c[i] - sign * b * s[i]) * scale;
      o2[i] = (b * c[i] + sign * a * s[i]) * scale;
    }
  }
}

}  // namespace

void attention(const AttentionShape& g, const float* q, const float* k, const float* v, const float* cos,
               const float* sin, const float* bias, float* out, float* probs) {
  const int64_t L = g.length, H = g.heads, Dh = 2 * g.half, D = H * Dh;
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  parallel_for(g.batch * H, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> qr(L * Dh), kr(L * Dh);
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t b = item / H, h = item % H;
      const int64_t off = b * L * D + h * Dh;
      const int64_t t = (g.tables_batched ? b : 0) * L * g.half;
      rotate_rows(q + off, D, qr.data(), Dh, L, g.half, cos + t, sin + t, scale, false);
      rotate_rows(k + off, D, kr.data(), Dh, L, g.half, cos + t, sin + t, 1.0f, false);
      float* p = probs + item * L * L;
      cblas_sgemm(kRowMajor, kNoTrans, kTrans, L, L, Dh, 1.0f, qr.data(), Dh, kr.data(), Dh, 0.0f, p, L);
      const float* bm = bias ? bias + (g.bias_batched ? b : 0) * L * L : nullptr;
      for (int64_t i = 0; i < L; ++i) {
        float* row = p + i * L;
        if (bm)
          for (int64_t j = 0; j < L; ++j) row[j] += bm[i * L + j];
        softmax_row(row, row, L);
      }
      cblas_sgemm(kRowMajor, kNoTrans, kNoTrans, L, Dh, L, 1.0f, p, L, v + off, D, 0.0f, out + off, D);
    }
  });
}

void attention_backward(const AttentionShape& g, const float* dout, const float* q, const float* k, const float* v,
                        const float* cos, const float* sin, const float* probs, float* dq, float* dk, float* dv) {
  const int64_t L = g.length, H = g.heads, Dh = 2 * g.half, D = H * Dh;
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  parallel_for(g.batch * H, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> qr(L * Dh), kr(L * Dh), ds(L * L), dqr(L * Dh), dkr(L * Dh);
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t b = item / H, h = item % H;
      const int64_t off = b * L * D + h * Dh;
      const int64_t t = (g.tables_batched ? b : 0) * L * g.half;
      const float* p = probs + item * L * L;
      rotate_rows(q + off, D, qr.data(), Dh, L, g.half, cos + t, sin + t, scale, false);
      rotate_rows(k + off, D, kr.data(), Dh, L, g.half, cos + t, sin + t, 1.0f, false);
      // dV = P^T dO; dP = dO V^T; dS = P * (dP - rowsum(dP * P)) (softmax's backward).
      cblas_sgemm(kRowMajor, kTrans, kNoTrans, L, Dh, L, 1.0f, p, L, dout + off, D, 0.0f, dv + off, D);
      cblas_sgemm(kRowMajor, kNoTrans, kTrans, L, L, Dh, 1.0f, dout + off, D, v + off, D, 0.0f, ds.data(), L);
      for (int64_t i = 0; i < L; ++i) {
        float* d = ds.data() + i * L;
        const float* pr = p + i * L;
        double dot = 0;
        for (int64_t j = 0; j < L; ++j) dot += static_cast<double>(d[j]) * pr[j];
        const float s = static_cast<float>(dot);
        for (int64_t j = 0; j < L; ++j) d[j] = pr[j] * (d[j] - s);
      }
      // Scores = (scale Qr) Kr^T: dQr = dS Kr (times scale below), dKr = dS^T (scale Qr); then rotate back.
      cblas_sgemm(kRowMajor, kNoTrans, kNoTrans, L, Dh, L, 1.0f, ds.data(), L, kr.data(), Dh, 0.0f, dqr.data(), Dh);
      cblas_sgemm(kRowMajor, kTrans, kNoTrans, L, Dh, L, 1.0f, ds.data(), L, qr.data(), Dh, 0.0f, dkr.data(), Dh);
      rotate_rows(dqr.data(), Dh, dq + off, D, L, g.half, cos + t, sin + t, scale, true);
      rotate_rows(dkr.data(), Dh, dk + off, D, L, g.half, cos + t, sin + t, 1.0f, true);
    }
  });
}

void attention_cached(const AttentionShape& g, int64_t past, const float* q, const float* k, const float* v,
                      const float* past_k, const float* past_v, const float* cos, const float* sin, const float* bias,
                      float* out) {
  const int64_t L = g.length, H = g.heads, Dh = 2 * g.half, D = H * Dh, Lk = past + L;
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  parallel_for(g.batch * H, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> qr(L * Dh), kr(L * Dh), p(L * Lk);
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t b = item / H, h = item % H;
      const int64_t off = b * L * D + h * Dh;
      const int64_t t = (g.tables_batched ? b : 0) * L * g.half;
      const float* pk = past_k + item * past * Dh;  // the cache's [batch, heads, past, Dh], keys already rotated
      const float* pv = past_v + item * past * Dh;
      rotate_rows(q + off, D, qr.data(), Dh, L, g.half, cos + t, sin + t, scale, false);
      rotate_rows(k + off, D, kr.data(), Dh, L, g.half, cos + t, sin + t, 1.0f, false);
      // Scores against the past keys, then against the new ones, side by side in one [L, past + L] block.
      cblas_sgemm(kRowMajor, kNoTrans, kTrans, L, past, Dh, 1.0f, qr.data(), Dh, pk, Dh, 0.0f, p.data(), Lk);
      cblas_sgemm(kRowMajor, kNoTrans, kTrans, L, L, Dh, 1.0f, qr.data(), Dh, kr.data(), Dh, 0.0f, p.data() + past, Lk);
      const float* bm = bias ? bias + (g.bias_batched ? b : 0) * L * Lk : nullptr;
      for (int64_t i = 0; i < L; ++i) {
        float* row = p.data() + i * Lk;
        if (bm)
          for (int64_t j = 0; j < Lk; ++j) row[j] += bm[i * Lk + j];
        softmax_row(row, row, Lk);
      }
      cblas_sgemm(kRowMajor, kNoTrans, kNoTrans, L, Dh, past, 1.0f, p.data(), Lk, pv, Dh, 0.0f, out + off, D);
      cblas_sgemm(kRowMajor, kNoTrans, kNoTrans, L, Dh, L, 1.0f, p.data() + past, Lk, v + off, D, 1.0f, out + off, D);
    }
  });
}

void adamw(const AdamWTensor* tensors, int64_t count, const AdamWHyper& h) {
  // Work is split by element across every tensor at once, so one large matrix and many small gains share the
  // threads evenly. offsets[i] is where tensor i starts in that joint numbering.
  std::vector<int64_t> offsets(count + 1, 0);
  for (int64_t i = 0; i < count; ++i) offsets[i + 1] = offsets[i] + tensors[i].n;
  const float b1 = h.beta1, b2 = h.beta2, c1 = 1.0f - h.beta1, c2 = 1.0f - h.beta2;
  parallel_for(offsets[count], kGrain, [&](int64_t lo, int64_t hi) {
    int64_t t = std::upper_bound(offsets.begin(), offsets.end(), lo) - offsets.begin() - 1;
    for (int64_t pos = lo; pos < hi; ++t) {
      const AdamWTensor& a = tensors[t];
      const int64_t begin = pos - offsets[t], end = std::min(hi, offsets[t + 1]) - offsets[t];
      const float decay = a.decay ? h.lr_decay : 0.0f;
      for (int64_t i = begin; i < end; ++i) {
        const float g = h.grad_scale == 1.0f ? a.g[i] : a.g[i] * h.grad_scale;
        const float m = a.m[i] * b1 + g * c1;
        const float v = a.v[i] * b2 + (g * g) * c2;
        a.m_out[i] = m;
        a.v_out[i] = v;
        const float update = (m / h.bc1) / (std::sqrt(v / h.bc2) + h.eps);
        a.p_out[i] = (a.p[i] - update * h.lr) - a.p[i] * decay;
      }
      pos = offsets[t] + end;
    }
  });
}

double sum_squares(const float* const* xs, const int64_t* lengths, int64_t count) {
  std::mutex mu;
  double total = 0;
  std::vector<int64_t> offsets(count + 1, 0);
  for (int64_t i = 0; i < count; ++i) offsets[i + 1] = offsets[i] + lengths[i];
  parallel_for(offsets[count], kGrain, [&](int64_t lo, int64_t hi) {
    double part = 0;
    int64_t t = std::upper_bound(offsets.begin(), offsets.end(), lo) - offsets.begin() - 1;
    for (int64_t pos = lo; pos < hi; ++t) {
      const int64_t begin = pos - offsets[t], end = std::min(hi, offsets[t + 1]) - offsets[t];
      const float* x = xs[t];
      for (int64_t i = begin; i < end; ++i) part += static_cast<double>(x[i]) * x[i];
      pos = offsets[t] + end;
    }
    std::lock_guard<std::mutex> lock(mu);
    total += part;
  });
  return total;
}

}  // namespace nativecpu
