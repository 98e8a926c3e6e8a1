// Branch-free float math that the compiler can vectorise (glibc's expf is a scalar call per element).
// Softmax, sigmoid, SiLU and ELU spend most of their time in exp, so this is where it pays.
#pragma once

#include <cstdint>
#include <cstring>

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

}  // namespace nativecpu
