// Branch-free float math that the compiler can vectorise (glibc's expf is a scalar call per element).
// Softmax, sigmoid, SiLU and ELU spend most of their time in exp, so this is where it pays.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

namespace nativecpu {

/**
 * exp(x) to about 1 ulp: Cephes' expf (Cody-Waite reduction by ln 2, degree-5 polynomial), with the 2^n
 * scale applied in two halves so results near the float range edges overflow to inf or underflow through
 * the subnormals instead of wrapping. NaN propagates through the arithmetic.
 */
inline float fast_exp(float x) {
  x = x < -104.0f ? -104.0f : x;  // below this exp(x) rounds to 0
  x = x > 89.0f ? 89.0f : x;      // above this exp(x) is inf
  const float fx = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  const float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  // fx is in [-150, 129] (NaN only for a NaN x, whose result p already is); split it so each power of two
  // stays a normal float.
  const int32_t n = static_cast<int32_t>(fx == fx ? fx : 0.0f);
  const int32_t h = n / 2;
  const int32_t e1 = (h + 127) << 23, e2 = (n - h + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &e1, 4);
  std::memcpy(&s2, &e2, 4);
  return p * s1 * s2;
}

/** Max (or min) of a row, NaN if any element is NaN (like the JS kernels). Lane-wise, so it vectorises. */
template <bool kMax>
inline float extreme_row(const float* x, int64_t n) {
  constexpr int kWide = 16;
  float acc[kWide];
  int nan[kWide] = {0};
  std::fill(acc, acc + kWide, x[0]);
  int64_t i = 0;
  for (; i + kWide <= n; i += kWide)
    for (int l = 0; l < kWide; ++l) {
      const float v = x[i + l];
      acc[l] = (kMax ? v > acc[l] : v < acc[l]) ? v : acc[l];
      nan[l] |= v != v;
    }
  float m = acc[0];
  int any = 0;
  for (int l = 0; l < kWide; ++l) {
    m = (kMax ? acc[l] > m : acc[l] < m) ? acc[l] : m;
    any |= nan[l];
  }
  for (; i < n; ++i) {
    m = (kMax ? x[i] > m : x[i] < m) ? x[i] : m;
    any |= x[i] != x[i];
  }
  return any ? std::numeric_limits<float>::quiet_NaN() : m;
}

/**
 * Softmax of one row of n >= 1 (in == out allowed): the row's max subtracted, exponentials and their sum in one
 * pass (lane sums keep the float rounding error near 1 ulp), then divided. NaN anywhere makes the row NaN.
 */
inline void softmax_row(const float* in, float* o, int64_t n) {
  constexpr int kWide = 16;
  const float m = extreme_row<true>(in, n);
  float lanes[kWide] = {0};
  int64_t i = 0;
  for (; i + kWide <= n; i += kWide)
    for (int l = 0; l < kWide; ++l) {
      o[i + l] = fast_exp(in[i + l] - m);
      lanes[l] += o[i + l];
    }
  float total = 0;
  for (; i < n; ++i) {
    o[i] = fast_exp(in[i] - m);
    total += o[i];
  }
  for (int l = 0; l < kWide; ++l) total += lanes[l];
  for (int64_t j = 0; j < n; ++j) o[j] = o[j] / total;
}

}  // namespace nativecpu
