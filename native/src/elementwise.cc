// Elementwise kernels: broadcast binary arithmetic, unary math, AddN. Each mirrors the formula of the tfjs cpu
// kernel it replaces (same NaN behaviour), so the two backends agree to float rounding.
#include <algorithm>
#include <cmath>

#include "kernels.h"
#include "pool.h"
#include "vecmath.h"

namespace nativecpu {

namespace {

// Elementwise work is memory-bound: below this many elements per thread the hand-off costs more than it saves.
constexpr int64_t kGrain = 1 << 15;

template <class F>
void inner(F f, int64_t n, const float* a, int64_t sa, const float* b, int64_t sb, float* o) {
  if (sa && sb) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
  } else if (sa) {
    const float bv = *b;
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
  } else if (sb) {
    const float av = *a;
    for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
  } else {
    std::fill(o, o + n, f(*a, *b));
  }
}

struct Dim {
  int64_t size, sa, sb;
};

/**
 * The broadcast as a list of dims with per-input strides (0 where broadcast), size-1 dims dropped and
 * neighbours merged when both inputs step through them contiguously, so [B, L, D] + [D] becomes [B*L, D]
 * with strides (D, 1) and (0, 1).
 */
std::vector<Dim> broadcast_dims(const Shape& as, const Shape& bs, const Shape& os) {
  const size_t r = os.size();
  std::vector<Dim> full(r);
  int64_t sa = 1, sb = 1;
  for (size_t i = r; i-- > 0;) {
    const size_t ra = as.size(), rb = bs.size();
    const int64_t na = i + ra >= r ? as[i + ra - r] : 1, nb = i + rb >= r ? bs[i + rb - r] : 1;
    full[i] = {os[i], na == 1 ? 0 : sa, nb == 1 ? 0 : sb};
    sa *= na;
    sb *= nb;
  }
  std::vector<Dim> dims;
  for (const Dim& d : full) {
    if (d.size == 1) continue;
    if (!dims.empty()) {
      Dim& p = dims.back();
      if (p.sa == d.sa * d.size && p.sb == d.sb * d.size) {
        p = {p.size * d.size, d.sa, d.sb};
        continue;
      }
    }
    dims.push_back(d);
  }
  if (dims.empty()) dims.push_back({1, 0, 0});
  return dims;
}

template <class F>
void broadcast_apply(F f, const float* a, const Shape& as, const float* b, const Shape& bs, float* out,
                     const Shape& os) {
  const std::vector<Dim> dims = broadcast_dims(as, bs, os);
  const int rank = static_cast<int>(dims.size());
  const Dim& last = dims[rank - 1];
  int64_t total = 1;
  for (const Dim& d : dims) total *= d.size;
  parallel_for(total, kGrain, [&](int64_t begin, int64_t end) {
    // Multi-index of `begin`, and the input offsets it maps to; then walk row by row.
    std::vector<int64_t> idx(rank);
    int64_t oa = 0, ob = 0, rem = begin;
    for (int d = rank - 1; d >= 0; --d) {
      idx[d] = rem % dims[d].size;
      rem /= dims[d].size;
      oa += idx[d] * dims[d].sa;
      ob += idx[d] * dims[d].sb;
    }
    int64_t pos = begin;
    while (pos < end) {
      const int64_t len = std::min(last.size - idx[rank - 1], end - pos);
      inner(f, len, a + oa, last.sa, b + ob, last.sb, out + pos);
      pos += len;
      idx[rank - 1] += len;
      oa += len * last.sa;
      ob += len * last.sb;
      for (int d = rank - 1; d > 0 && idx[d] == dims[d].size; --d) {
        oa += dims[d - 1].sa - dims[d].size * dims[d].sa;
        ob += dims[d - 1].sb - dims[d].size * dims[d].sb;
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  });
}

template <class F>
void map(F f, const float* x, float* out, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = f(x[i]);
  });
}

// tfjs cpu Erf: Abramowitz & Stegun 7.1.26 (max error 1.5e-7), kept so both backends agree.
inline float erf_as(float x) {
  const float p = 0.3275911f, a1 = 0.254829592f, a2 = -0.284496736f, a3 = 1.421413741f, a4 = -1.453152027f,
              a5 = 1.061405429f;
  const float s = x < 0 ? -1.0f : (x > 0 ? 1.0f : 0.0f), v = std::fabs(x);
  const float t = 1.0f / (1.0f + p * v);
  return s * (1.0f - (((((a5 * t + a4) * t) + a3) * t + a2) * t + a1) * t * fast_exp(-v * v));
}

// tfjs cpu Softplus: thresholds at log(float epsilon) + 2, where log(1 + e^x) rounds to x or to e^x.
inline float softplus(float x) {
  const float threshold = -13.942385152878742f;
  const float e = fast_exp(x);
  if (x < threshold) return e;
  if (x > -threshold) return x;
  return std::log1p(e);
}

}  // namespace

void binary(Binary op, const float* a, const Shape& as, const float* b, const Shape& bs, float* out,
            const Shape& os) {
  switch (op) {
    case Binary::kAdd: return broadcast_apply([](float x, float y) { return x + y; }, a, as, b, bs, out, os);
    case Binary::kSub: return broadcast_apply([](float x, float y) { return x - y; }, a, as, b, bs, out, os);
    case Binary::kMul: return broadcast_apply([](float x, float y) { return x * y; }, a, as, b, bs, out, os);
    case Binary::kDiv: return broadcast_apply([](float x, float y) { return x / y; }, a, as, b, bs, out, os);
    // Math.max / Math.min: NaN if either side is NaN.
    case Binary::kMax:
      return broadcast_apply([](float x, float y) { return (x > y || x != x) ? x : y; }, a, as, b, bs, out, os);
    case Binary::kMin:
      return broadcast_apply([](float x, float y) { return (x < y || x != x) ? x : y; }, a, as, b, bs, out, os);
    case Binary::kSquaredDifference:
      return broadcast_apply([](float x, float y) { return (x - y) * (x - y); }, a, as, b, bs, out, os);
    case Binary::kPow:
      return broadcast_apply([](float x, float y) { return std::pow(x, y); }, a, as, b, bs, out, os);
    case Binary::kPrelu:
      return broadcast_apply([](float x, float al) { return x < 0 ? al * x : x; }, a, as, b, bs, out, os);
  }
}

void unary(Unary op, const float* x, float* out, int64_t n, float alpha, float beta) {
  switch (op) {
    case Unary::kAbs: return map([](float v) { return std::fabs(v); }, x, out, n);
    case Unary::kNeg: return map([](float v) { return -v; }, x, out, n);
    case Unary::kExp: return map([](float v) { return fast_exp(v); }, x, out, n);
    case Unary::kLog: return map([](float v) { return std::log(v); }, x, out, n);
    case Unary::kLog1p: return map([](float v) { return std::log1p(v); }, x, out, n);
    case Unary::kSqrt: return map([](float v) { return std::sqrt(v); }, x, out, n);
    case Unary::kRsqrt: return map([](float v) { return 1.0f / std::sqrt(v); }, x, out, n);
    case Unary::kSquare: return map([](float v) { return v * v; }, x, out, n);
    case Unary::kReciprocal: return map([](float v) { return 1.0f / v; }, x, out, n);
    case Unary::kSigmoid: return map([](float v) { return 1.0f / (1.0f + fast_exp(-v)); }, x, out, n);
    case Unary::kTanh: return map([](float v) { return std::tanh(v); }, x, out, n);
    case Unary::kRelu: return map([](float v) { return (v < 0.0f) ? 0.0f : v; }, x, out, n);
    case Unary::kRelu6: return map([](float v) { return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v); }, x, out, n);
    case Unary::kElu: return map([](float v) { return v >= 0.0f ? v : fast_exp(v) - 1.0f; }, x, out, n);
    case Unary::kSoftplus: return map(softplus, x, out, n);
    case Unary::kErf: return map(erf_as, x, out, n);
    case Unary::kSin: return map([](float v) { return std::sin(v); }, x, out, n);
    case Unary::kCos: return map([](float v) { return std::cos(v); }, x, out, n);
    case Unary::kStep:
      return map([alpha](float v) { return v != v ? v : (v > 0.0f ? 1.0f : alpha); }, x, out, n);
    case Unary::kLeakyRelu: return map([alpha](float v) { return v < 0.0f ? alpha * v : v; }, x, out, n);
    case Unary::kClipByValue:
      return map([alpha, beta](float v) { return v > beta ? beta : (v < alpha ? alpha : v); }, x, out, n);
    case Unary::kCount: return;
  }
}

void add_n(const float* const* xs, int count, float* out, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    std::copy(xs[0] + begin, xs[0] + end, out + begin);
    for (int t = 1; t < count; ++t) {
      const float* x = xs[t];
      for (int64_t i = begin; i < end; ++i) out[i] += x[i];
    }
  });
}

}  // namespace nativecpu
