// The addon's kernels as plain C++ over raw float32 (or 4-byte) buffers. addon.cc unpacks the JS arguments
// and calls these; nothing here knows about Node. Shapes are row-major; every output buffer is written in
// full (callers pass fresh, zero-filled typed arrays, but no kernel relies on that).
#pragma once

#include <cstdint>
#include <vector>

namespace nativecpu {

using Shape = std::vector<int64_t>;

// ---- matmul.cc ----
/** C = op(A) op(B) + beta C for one row-major product (A [m, k] or [k, m] when transA), split across threads. */
void gemm(const float* a, const float* b, float* c, int m, int n, int k, bool trans_a, bool trans_b, float beta);
/**
 * C[i] = op(A[aIndex[i]]) op(B[bIndex[i]]) for i in [0, batch): A is [*, m, k] ([*, k, m] when transA),
 * B is [*, k, n] ([*, n, k] when transB), C is [batch, m, n]. The index arrays carry batch broadcasting.
 */
void matmul(const float* a, const float* b, float* c, int64_t batch, const int32_t* a_index, const int32_t* b_index,
            int m, int n, int k, bool trans_a, bool trans_b);

// ---- conv.cc (NHWC input, HWIO filter) ----
struct ConvGeometry {
  int batch, in_h, in_w, in_c, out_h, out_w, out_c, filter_h, filter_w, stride_h, stride_w, dilation_h,
      dilation_w, pad_top, pad_left;
};
/** y[b, oh, ow, oc] = sum x[b, ih, iw, ic] w[fh, fw, ic, oc] (im2col + GEMM). */
void conv2d(const float* x, const float* w, float* y, const ConvGeometry& g);
/** dx = the gradient of conv2d with respect to x, given dy [batch, out_h, out_w, out_c]. */
void conv2d_backprop_input(const float* dy, const float* w, float* dx, const ConvGeometry& g);
/** dw = the gradient of conv2d with respect to w. */
void conv2d_backprop_filter(const float* x, const float* dy, float* dw, const ConvGeometry& g);

// ---- elementwise.cc ----
enum class Binary : int { kAdd, kSub, kMul, kDiv, kMax, kMin, kSquaredDifference, kPow, kPrelu };
/** out = a op b with numpy broadcasting; `out_shape` is the broadcast shape. */
void binary(Binary op, const float* a, const Shape& a_shape, const float* b, const Shape& b_shape, float* out,
            const Shape& out_shape);

enum class Unary : int {
  kAbs, kNeg, kExp, kLog, kLog1p, kSqrt, kRsqrt, kSquare, kReciprocal, kSigmoid, kTanh, kRelu, kRelu6, kElu,
  kSoftplus, kErf, kSin, kCos, kStep, kLeakyRelu, kClipByValue, kCount
};
/**
 * out[i] = op(x[i]); `alpha` is Step's value at x <= 0, LeakyRelu's slope and ClipByValue's minimum, `beta`
 * ClipByValue's maximum. In place is allowed.
 */
void unary(Unary op, const float* x, float* out, int64_t n, float alpha, float beta);
/** out = sum of the `count` arrays, each of n elements. */
void add_n(const float* const* xs, int count, float* out, int64_t n);

// ---- reduce.cc ----
enum class Reduce : int { kSum, kMean, kMax, kMin };
/** Reduces x over the axes flagged in `reduced` (one flag per axis); out has the kept axes, in order. */
void reduce(Reduce op, const float* x, const Shape& shape, const std::vector<bool>& reduced, float* out);
/** Softmax over the last axis of x viewed as [rows, n]. */
void softmax(const float* x, float* out, int64_t rows, int64_t n);

// ---- layout.cc (any 4-byte element type) ----
/**
 * dst[dst_offset + sum i_d dst_strides[d]] = src[src_offset + sum i_d src_strides[d]] for every index i in
 * `shape`. Transpose, slice, concat and pad are all this copy with different strides.
 */
void copy_strided(const uint32_t* src, int64_t src_offset, const Shape& src_strides, uint32_t* dst,
                  int64_t dst_offset, const Shape& dst_strides, const Shape& shape);
/**
 * out[o, j, i] = x[o, indices[j], i] for x [outer, axis, inner]. Returns the position of the first index
 * outside [0, axis), or -1 when all are valid (then out is filled).
 */
int64_t gather(const uint32_t* x, int64_t outer, int64_t axis, int64_t inner, const int32_t* indices,
               int64_t count, uint32_t* out);
/** out[s, i] = sum over j with ids[j] == s of x[j, i]; ids outside [0, segments) are dropped (as in TF). */
void unsorted_segment_sum(const float* x, const int32_t* ids, int64_t rows, int64_t inner, int64_t segments,
                          float* out);

// ---- fused.cc (one pass where the composed tfjs ops take several; backward passes written out) ----
/** out = x / sqrt(mean(x^2) + eps) * w over rows of d (RMSNorm). */
void rms_norm(const float* x, const float* w, float* out, int64_t rows, int64_t d, float eps);
/** The gradients of rms_norm: dx [rows, d] and dw [d], given dy. */
void rms_norm_backward(const float* dy, const float* x, const float* w, float* dx, float* dw, int64_t rows,
                       int64_t d, float eps);
/** out = a * sigmoid(a) * b (SwiGLU's gate: SiLU(w1 x) * (w3 x)). */
void swiglu(const float* a, const float* b, float* out, int64_t n);
void swiglu_backward(const float* dy, const float* a, const float* b, float* da, float* db, int64_t n);
/**
 * RoPE's rotation of x [batch, heads, length, 2 * half] ("rotate half" pairs i, i + half) by the angle tables
 * cos, sin [batch or 1, length, half]; `inverse` rotates the other way (the forward's gradient).
 */
void rotary(const float* x, const float* cos, const float* sin, float* out, int64_t batch, int64_t heads,
            int64_t length, int64_t half, bool table_batched, bool inverse);
/** Sizes of a fused attention: q, k, v, out are [batch, length, heads, 2 half] (the projections' own layout). */
struct AttentionShape {
  int64_t batch, length, heads, half;
  bool tables_batched;  // RoPE tables [batch, length, half] rather than [1, length, half]
  bool bias_batched;    // additive mask [batch, length, length] rather than [1, length, length]
};
/**
 * Self-attention with RoPE in one pass per (batch, head): softmax(rot(q) rot(k)^T / sqrt(Dh) + bias) v. Writes
 * out and the probabilities probs [batch, heads, length, length], which the backward reuses. bias may be null.
 */
void attention(const AttentionShape& g, const float* q, const float* k, const float* v, const float* cos,
               const float* sin, const float* bias, float* out, float* probs);
/** The gradients dq, dk, dv of `attention` given dout and its probs. */
void attention_backward(const AttentionShape& g, const float* dout, const float* q, const float* k, const float* v,
                        const float* cos, const float* sin, const float* probs, float* dq, float* dk, float* dv);
/**
 * `attention` for new positions after a cached past (inference: no probabilities kept, no backward): past_k and
 * past_v [batch, heads, past, 2 half] (keys rotated, as the cache stores them); bias [batch or 1, length,
 * past + length] or null. past >= 1.
 */
void attention_cached(const AttentionShape& g, int64_t past, const float* q, const float* k, const float* v,
                      const float* past_k, const float* past_v, const float* cos, const float* sin, const float* bias,
                      float* out);
/** One parameter tensor of an AdamW update: inputs p, g, m, v and fresh outputs, all of n elements. */
struct AdamWTensor {
  const float *p, *g, *m, *v;
  float *p_out, *m_out, *v_out;
  int64_t n;
  bool decay;
};
struct AdamWHyper {
  float lr, beta1, beta2, eps, lr_decay, bc1, bc2;  // lr_decay = lr * weight decay, as the JS side rounds it
  float grad_scale;  // every gradient is multiplied by this first (global-norm clipping); 1 = as given
};
/** AdamW (src/train/adamw.ts's formula) over every tensor in one call. */
void adamw(const AdamWTensor* tensors, int64_t count, const AdamWHyper& h);
/** Sum of x^2 over every element of every array, in double (the global gradient norm's square). */
double sum_squares(const float* const* xs, const int64_t* lengths, int64_t count);

// ---- addon.cc (the pool's size) ----
int threads();
void set_threads(int n);

}  // namespace nativecpu
