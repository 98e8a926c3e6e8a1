// Reductions (Sum, Mean, Max, Min over any axes) and Softmax over the last axis.
//
// tfjs's cpu kernels transpose the reduced axes innermost and then reduce rows. Here the axes are first
// collapsed into the pattern [kept K0, reduced R, kept K1], which covers every single run of reduced axes
// with no copy: K1 == 1 reduces contiguous rows (LayerNorm statistics, softmax sums); K1 > 1 adds whole
// rows into an accumulator (bias gradients, broadcast gradients summed over the batch). Only patterns with
// two separate runs of reduced axes are transposed first. Sums accumulate in double, like the JS kernels.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.h"
#include "pool.h"
#include "vecmath.h"

namespace nativecpu {

namespace {

constexpr int64_t kGrain = 1 << 15;
constexpr int kLanes = 8;  // independent accumulators, so the compiler can vectorise a strict-order loop

inline float fmax_nan(float m, float v) { return (v > m || v != v) ? v : m; }
inline float fmin_nan(float m, float v) { return (v < m || v != v) ? v : m; }

double sum_row(const float* x, int64_t n) {
  double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[i + l];
  double s = 0;
  for (; i < n; ++i) s += x[i];
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

/** One partial result over rows [r0, r1) of a [R, width] block: double sums, or float extremes. */
void accumulate_rows(Reduce op, const float* x, int64_t r0, int64_t r1, int64_t width, int64_t stride,
                     double* acc) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * stride;
    if (op == Reduce::kSum || op == Reduce::kMean) {
      for (int64_t c = 0; c < width; ++c) acc[c] += row[c];
    } else if (op == Reduce::kMax) {
      for (int64_t c = 0; c < width; ++c) acc[c] = fmax_nan(static_cast<float>(acc[c]), row[c]);
    } else {
      for (int64_t c = 0; c < width; ++c) acc[c] = fmin_nan(static_cast<float>(acc[c]), row[c]);
    }
  }
}

double identity(Reduce op, const float* first) {
  return (op == Reduce::kSum || op == Reduce::kMean) ? 0.0 : static_cast<double>(*first);
}

double combine(Reduce op, double a, double b) {
  if (op == Reduce::kSum || op == Reduce::kMean) return a + b;
  const float fa = static_cast<float>(a), fb = static_cast<float>(b);
  return op == Reduce::kMax ? fmax_nan(fa, fb) : fmin_nan(fa, fb);
}

double reduce_row(Reduce op, const float* x, int64_t n) {
  if (op == Reduce::kSum || op == Reduce::kMean) return sum_row(x, n);
  return op == Reduce::kMax ? extreme_row<true>(x, n) : extreme_row<false>(x, n);
}

float finish(Reduce op, double v, int64_t count) {
  return op == Reduce::kMean ? static_cast<float>(v / static_cast<double>(count)) : static_cast<float>(v);
}

/** x viewed as [k0, r, k1]; out is [k0, k1]. */
void reduce3(Reduce op, const float* x, int64_t k0, int64_t r, int64_t k1, float* out) {
  const int threads = Pool::instance().size();
  const int64_t outputs = k0 * k1;
  if (outputs < threads * 16 && r * outputs >= 2 * kGrain) {
    // Few outputs, long reductions (a full sum, a bias gradient of a few channels): split R across threads.
    const int parts = threads;
    std::vector<double> partial(static_cast<size_t>(parts * outputs));
    Pool::instance().run(parts, [&](int p) {
      const int64_t r0 = r * p / parts, r1 = r * (p + 1) / parts;
      double* acc = partial.data() + p * outputs;
      for (int64_t a = 0; a < k0; ++a) {
        const float* base = x + a * r * k1;
        if (k1 == 1) {
          acc[a] = r1 > r0 ? reduce_row(op, base + r0, r1 - r0) : identity(op, base);
        } else {
          std::fill(acc + a * k1, acc + (a + 1) * k1, 0.0);
          if (op != Reduce::kSum && op != Reduce::kMean)
            std::copy(base + r0 * k1, base + (r0 + 1) * k1, acc + a * k1);
          accumulate_rows(op, base, r0, r1, k1, k1, acc + a * k1);
        }
      }
    });
    for (int64_t o = 0; o < outputs; ++o) {
      double v = partial[o];
      for (int p = 1; p < parts; ++p) v = combine(op, v, partial[p * outputs + o]);
      out[o] = finish(op, v, r);
    }
    return;
  }
  if (k1 == 1) {
    parallel_for(k0, std::max<int64_t>(1, kGrain / r), [&](int64_t b, int64_t e) {
      for (int64_t a = b; a < e; ++a) out[a] = finish(op, reduce_row(op, x + a * r, r), r);
    });
    return;
  }
  // Output positions o = a * k1 + c; a chunk of them is a run of columns within one or more a-slices.
  parallel_for(outputs, std::max<int64_t>(1, kGrain / r), [&](int64_t b, int64_t e) {
    std::vector<double> acc;
    for (int64_t o = b; o < e;) {
      const int64_t a = o / k1, c0 = o % k1, c1 = std::min(k1, c0 + (e - o));
      const float* base = x + a * r * k1 + c0;
      acc.assign(static_cast<size_t>(c1 - c0), 0.0);
      if (op != Reduce::kSum && op != Reduce::kMean) std::copy(base, base + (c1 - c0), acc.begin());
      accumulate_rows(op, base, 0, r, c1 - c0, k1, acc.data());
      for (int64_t c = c0; c < c1; ++c) out[a * k1 + c] = finish(op, acc[c - c0], r);
      o += c1 - c0;
    }
  });
}

}  // namespace

void reduce(Reduce op, const float* x, const Shape& shape, const std::vector<bool>& reduced, float* out) {
  // Collapse: drop size-1 axes, merge neighbours with the same flag.
  std::vector<int64_t> sizes;
  std::vector<bool> flags;
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (reduced[i]) count *= shape[i];
    if (shape[i] == 1) continue;
    if (!flags.empty() && flags.back() == reduced[i]) {
      sizes.back() *= shape[i];
    } else {
      sizes.push_back(shape[i]);
      flags.push_back(reduced[i]);
    }
  }
  if (count == 0) {
    // tfjs: an empty sum is 0; an empty max or min has no value (the JS kernels leave whatever they read).
    int64_t outputs = 1;
    for (size_t i = 0; i < shape.size(); ++i)
      if (!reduced[i]) outputs *= shape[i];
    std::fill(out, out + outputs, op == Reduce::kSum ? 0.0f : std::numeric_limits<float>::quiet_NaN());
    return;
  }
  const size_t n = sizes.size();
  if (n == 0) return reduce3(op, x, 1, 1, 1, out);
  if (n == 1) return flags[0] ? reduce3(op, x, 1, sizes[0], 1, out) : reduce3(op, x, sizes[0], 1, 1, out);
  if (n == 2) {
    return flags[0] ? reduce3(op, x, 1, sizes[0], sizes[1], out) : reduce3(op, x, sizes[0], sizes[1], 1, out);
  }
  if (n == 3 && !flags[0]) return reduce3(op, x, sizes[0], sizes[1], sizes[2], out);
  // Several runs of reduced axes: move them innermost ([kept..., reduced...]) and reduce rows.
  Shape strides(n), perm_shape, perm_strides;
  int64_t s = 1, kept = 1, red = 1;
  for (size_t i = n; i-- > 0;) {
    strides[i] = s;
    s *= sizes[i];
  }
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < n; ++i)
      if (flags[i] == (pass == 1)) {
        perm_shape.push_back(sizes[i]);
        perm_strides.push_back(strides[i]);
        (pass == 1 ? red : kept) *= sizes[i];
      }
  Shape dense(n);
  s = 1;
  for (size_t i = n; i-- > 0;) {
    dense[i] = s;
    s *= perm_shape[i];
  }
  std::vector<float> moved(static_cast<size_t>(kept * red));
  copy_strided(reinterpret_cast<const uint32_t*>(x), 0, perm_strides, reinterpret_cast<uint32_t*>(moved.data()), 0,
               dense, perm_shape);
  reduce3(op, moved.data(), kept, red, 1, out);
}

void softmax(const float* x, float* out, int64_t rows, int64_t n) {
  if (n == 0) return;
  parallel_for(rows, std::max<int64_t>(1, kGrain / n), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const float* in = x + row * n;
      float* o = out + row * n;
      softmax_row(in, o, n);
    }
  });
}

}  // namespace nativecpu
