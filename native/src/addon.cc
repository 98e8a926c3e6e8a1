// The Node binding: unpacks JS arguments (typed arrays, shapes as number arrays, integers), checks every
// buffer is long enough for the shapes it is read or written with (a wrong size from the TS side must be an
// exception, never a write past the end), then calls the kernel. All calls are synchronous: the tensors'
// typed arrays are owned by tfjs, and the JS thread waits while the pool works on them in place.
#include <napi.h>

#include <algorithm>
#include <string>
#include <utility>
#include <type_traits>

#include "blas.h"
#include "kernels.h"
#include "pool.h"

namespace nativecpu {

int threads() { return Pool::instance().size(); }
void set_threads(int n) { Pool::instance().resize(n); }

namespace {

[[noreturn]] void fail(const Napi::Env& env, const std::string& message) {
  throw Napi::TypeError::New(env, "nativecpu: " + message);
}

/** An integer argument, at least `min` (every size, offset and op code the kernels take is >= 0). */
int64_t integer(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min = 0) {
  if (!info[i].IsNumber()) fail(info.Env(), std::string(name) + " must be a number");
  const int64_t v = info[i].As<Napi::Number>().Int64Value();
  if (v < min) fail(info.Env(), std::string(name) + " must be >= " + std::to_string(min));
  return v;
}

/** An array of integers >= 0 (extents or strides). */
Shape shape(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsArray()) fail(info.Env(), std::string(name) + " must be an array of integers");
  Napi::Array a = info[i].As<Napi::Array>();
  Shape s(a.Length());
  for (uint32_t j = 0; j < a.Length(); ++j) {
    Napi::Value v = a.Get(j);
    if (!v.IsNumber() || v.As<Napi::Number>().Int64Value() < 0)
      fail(info.Env(), std::string(name) + " must be an array of integers >= 0");
    s[j] = v.As<Napi::Number>().Int64Value();
  }
  return s;
}

int64_t product(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

struct View {
  void* data;
  int64_t length;
  napi_typedarray_type type;
};

View view(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray()) fail(info.Env(), std::string(name) + " must be a typed array");
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(info.Env(), info[i], &type, &length, &data, nullptr, nullptr) != napi_ok)
    fail(info.Env(), std::string(name) + " could not be read");
  return {data, static_cast<int64_t>(length), type};  // data already includes the view's byte offset
}

int64_t length(const Napi::CallbackInfo& info, size_t i, const char* name) { return view(info, i, name).length; }

/** An element of a JS array that must be a Float32Array (a list argument): its data and length. */
std::pair<float*, int64_t> float_array(const Napi::Env& env, Napi::Value v, const char* message) {
  napi_typedarray_type type;
  size_t len;
  void* data;
  if (!v.IsTypedArray() || napi_get_typedarray_info(env, v, &type, &len, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float32_array)
    fail(env, message);
  return {static_cast<float*>(data), static_cast<int64_t>(len)};
}

/** The typed array at info[i], checked for element type and for at least `need` elements. */
template <class T>
T* typed(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need, bool words = false) {
  const View v = view(info, i, name);
  const bool ok = words ? (v.type == napi_float32_array || v.type == napi_int32_array || v.type == napi_uint32_array)
                        : (std::is_same<T, float>::value ? v.type == napi_float32_array : v.type == napi_int32_array);
  if (!ok) fail(info.Env(), std::string(name) + " has the wrong element type");
  if (v.length < need) {
    fail(info.Env(),
         std::string(name) + " has " + std::to_string(v.length) + " elements, needs " + std::to_string(need));
  }
  return static_cast<T*>(v.data);
}

float* f32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need) {
  return typed<float>(info, i, name, need);
}
int32_t* i32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need) {
  return typed<int32_t>(info, i, name, need);
}
uint32_t* words(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need) {
  return typed<uint32_t>(info, i, name, need, true);
}

/** The largest element reached by a strided view: offset + sum (shape - 1) * stride, plus one. */
int64_t extent(int64_t offset, const Shape& strides, const Shape& s) {
  int64_t last = offset;
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d] == 0) return 0;
    last += (s[d] - 1) * strides[d];
  }
  return last + 1;
}

// matmul(a, b, out, aIndex, bIndex, m, n, k, transA, transB)
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  const int64_t m = integer(info, 5, "m"), n = integer(info, 6, "n"), k = integer(info, 7, "k");
  const bool ta = info[8].ToBoolean(), tb = info[9].ToBoolean();
  const int64_t batch = length(info, 3, "aIndex");
  const int32_t* ai = i32(info, 3, "aIndex", batch);
  const int32_t* bi = i32(info, 4, "bIndex", batch);
  int32_t amax = 0, bmax = 0;
  for (int64_t i = 0; i < batch; ++i) {
    if (ai[i] < 0 || bi[i] < 0) fail(info.Env(), "negative batch index");
    amax = std::max(amax, ai[i]);
    bmax = std::max(bmax, bi[i]);
  }
  const float* a = f32(info, 0, "a", (amax + 1) * m * k);
  const float* b = f32(info, 1, "b", (bmax + 1) * k * n);
  float* c = f32(info, 2, "out", batch * m * n);
  matmul(a, b, c, batch, ai, bi, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), ta, tb);
  return info.Env().Undefined();
}

ConvGeometry geometry(const Napi::CallbackInfo& info, size_t i) {
  const int32_t* g = i32(info, i, "geometry", 15);
  for (int j = 0; j < 13; ++j)
    if (g[j] < (j >= 9 ? 1 : 0)) fail(info.Env(), "conv geometry: negative extent, or a stride or dilation below 1");
  ConvGeometry c{g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13], g[14]};
  return c;
}

int64_t input_size(const ConvGeometry& g) { return static_cast<int64_t>(g.batch) * g.in_h * g.in_w * g.in_c; }
int64_t output_size(const ConvGeometry& g) { return static_cast<int64_t>(g.batch) * g.out_h * g.out_w * g.out_c; }
int64_t filter_size(const ConvGeometry& g) {
  return static_cast<int64_t>(g.filter_h) * g.filter_w * g.in_c * g.out_c;
}

// conv2d(x, filter, out, geometry)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  const ConvGeometry g = geometry(info, 3);
  conv2d(f32(info, 0, "x", input_size(g)), f32(info, 1, "filter", filter_size(g)), f32(info, 2, "out", output_size(g)),
         g);
  return info.Env().Undefined();
}

// conv2dBackpropInput(dy, filter, dx, geometry)
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  const ConvGeometry g = geometry(info, 3);
  conv2d_backprop_input(f32(info, 0, "dy", output_size(g)), f32(info, 1, "filter", filter_size(g)),
                        f32(info, 2, "dx", input_size(g)), g);
  return info.Env().Undefined();
}

// conv2dBackpropFilter(x, dy, dw, geometry)
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  const ConvGeometry g = geometry(info, 3);
  conv2d_backprop_filter(f32(info, 0, "x", input_size(g)), f32(info, 1, "dy", output_size(g)),
                         f32(info, 2, "dw", filter_size(g)), g);
  return info.Env().Undefined();
}

// binary(op, a, aShape, b, bShape, out, outShape)
Napi::Value BinaryOp(const Napi::CallbackInfo& info) {
  const int64_t op = integer(info, 0, "op");
  if (op < 0 || op > static_cast<int64_t>(Binary::kPrelu)) fail(info.Env(), "unknown binary op");
  const Shape as = shape(info, 2, "aShape"), bs = shape(info, 4, "bShape"), os = shape(info, 6, "outShape");
  if (as.size() > os.size() || bs.size() > os.size()) fail(info.Env(), "input rank exceeds output rank");
  for (size_t i = 0; i < os.size(); ++i) {
    const size_t r = os.size() - i;  // position counted from the end
    for (const Shape* s : {&as, &bs}) {
      if (r > s->size()) continue;
      const int64_t d = (*s)[s->size() - r];
      if (d != 1 && d != os[i]) fail(info.Env(), "shapes do not broadcast to the output shape");
    }
  }
  binary(static_cast<Binary>(op), f32(info, 1, "a", product(as)), as, f32(info, 3, "b", product(bs)), bs,
         f32(info, 5, "out", product(os)), os);
  return info.Env().Undefined();
}

// unary(op, x, out, alpha, beta)
Napi::Value UnaryOp(const Napi::CallbackInfo& info) {
  const int64_t op = integer(info, 0, "op");
  if (op < 0 || op >= static_cast<int64_t>(Unary::kCount)) fail(info.Env(), "unknown unary op");
  const int64_t n = length(info, 2, "out");
  if (!info[3].IsNumber() || !info[4].IsNumber()) fail(info.Env(), "alpha and beta must be numbers");
  unary(static_cast<Unary>(op), f32(info, 1, "x", n), f32(info, 2, "out", n), n,
        static_cast<float>(info[3].As<Napi::Number>().DoubleValue()),
        static_cast<float>(info[4].As<Napi::Number>().DoubleValue()));
  return info.Env().Undefined();
}

// addN(xs, out)
Napi::Value AddN(const Napi::CallbackInfo& info) {
  if (!info[0].IsArray()) fail(info.Env(), "xs must be an array of Float32Arrays");
  Napi::Array list = info[0].As<Napi::Array>();
  const int64_t n = length(info, 1, "out");
  float* out = f32(info, 1, "out", n);
  std::vector<const float*> xs;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const auto [data, len] = float_array(info.Env(), list.Get(i), "every addend must be a Float32Array of the output's length");
    if (len < n) fail(info.Env(), "every addend must be a Float32Array of the output's length");
    xs.push_back(data);
  }
  if (xs.empty()) fail(info.Env(), "addN needs at least one addend");
  add_n(xs.data(), static_cast<int>(xs.size()), out, n);
  return info.Env().Undefined();
}

// reduce(op, x, shape, axes, out)
Napi::Value ReduceOp(const Napi::CallbackInfo& info) {
  const int64_t op = integer(info, 0, "op");
  if (op < 0 || op > static_cast<int64_t>(Reduce::kMin)) fail(info.Env(), "unknown reduction");
  const Shape s = shape(info, 2, "shape"), axes = shape(info, 3, "axes");
  std::vector<bool> reduced(s.size(), false);
  int64_t outputs = 1;
  for (int64_t a : axes) {
    if (a < 0 || a >= static_cast<int64_t>(s.size())) fail(info.Env(), "reduction axis out of range");
    reduced[a] = true;
  }
  for (size_t i = 0; i < s.size(); ++i)
    if (!reduced[i]) outputs *= s[i];
  reduce(static_cast<Reduce>(op), f32(info, 1, "x", product(s)), s, reduced, f32(info, 4, "out", outputs));
  return info.Env().Undefined();
}

// softmax(x, out, n): rows of n
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const int64_t n = integer(info, 2, "n", 1);
  const int64_t size = length(info, 0, "x");
  if (size % n != 0) fail(info.Env(), "softmax: the length is not a multiple of the row size");
  softmax(f32(info, 0, "x", size), f32(info, 1, "out", size), size / n, n);
  return info.Env().Undefined();
}

// copyStrided(src, srcOffset, srcStrides, dst, dstOffset, dstStrides, shape)
Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  const int64_t so = integer(info, 1, "srcOffset"), dof = integer(info, 4, "dstOffset");
  const Shape ss = shape(info, 2, "srcStrides"), ds = shape(info, 5, "dstStrides"), s = shape(info, 6, "shape");
  if (ss.size() != s.size() || ds.size() != s.size()) fail(info.Env(), "strides and shape differ in rank");
  for (size_t i = 0; i < s.size(); ++i)
    if (ss[i] < 0 || ds[i] < 0 || s[i] < 0) fail(info.Env(), "negative stride or extent");
  copy_strided(words(info, 0, "src", extent(so, ss, s)), so, ss, words(info, 3, "dst", extent(dof, ds, s)), dof, ds,
               s);
  return info.Env().Undefined();
}

// gather(x, outer, axis, inner, indices, out) -> position of the first bad index, or -1
Napi::Value Gather(const Napi::CallbackInfo& info) {
  const int64_t outer = integer(info, 1, "outer"), axis = integer(info, 2, "axis"), inner = integer(info, 3, "inner");
  const int64_t count = length(info, 4, "indices");
  const int64_t bad = gather(words(info, 0, "x", outer * axis * inner), outer, axis, inner,
                             i32(info, 4, "indices", count), count, words(info, 5, "out", outer * count * inner));
  return Napi::Number::New(info.Env(), static_cast<double>(bad));
}

// unsortedSegmentSum(x, ids, inner, segments, out)
Napi::Value UnsortedSegmentSum(const Napi::CallbackInfo& info) {
  const int64_t inner = integer(info, 2, "inner"), segments = integer(info, 3, "segments");
  const int64_t rows = length(info, 1, "ids");
  unsorted_segment_sum(f32(info, 0, "x", rows * inner), i32(info, 1, "ids", rows), rows, inner, segments,
                       f32(info, 4, "out", segments * inner));
  return info.Env().Undefined();
}

float number(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) fail(info.Env(), std::string(name) + " must be a number");
  return static_cast<float>(info[i].As<Napi::Number>().DoubleValue());
}

// rmsNorm(x, w, out, d, eps): rows of d
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  const int64_t d = integer(info, 3, "d", 1);
  const int64_t n = length(info, 0, "x");
  if (n % d != 0) fail(info.Env(), "rmsNorm: the length is not a multiple of d");
  rms_norm(f32(info, 0, "x", n), f32(info, 1, "w", d), f32(info, 2, "out", n), n / d, d, number(info, 4, "eps"));
  return info.Env().Undefined();
}

// rmsNormBackward(dy, x, w, dx, dw, d, eps)
Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  const int64_t d = integer(info, 5, "d", 1);
  const int64_t n = length(info, 1, "x");
  if (n % d != 0) fail(info.Env(), "rmsNormBackward: the length is not a multiple of d");
  rms_norm_backward(f32(info, 0, "dy", n), f32(info, 1, "x", n), f32(info, 2, "w", d), f32(info, 3, "dx", n),
                    f32(info, 4, "dw", d), n / d, d, number(info, 6, "eps"));
  return info.Env().Undefined();
}

// swiglu(a, b, out)
Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  const int64_t n = length(info, 0, "a");
  swiglu(f32(info, 0, "a", n), f32(info, 1, "b", n), f32(info, 2, "out", n), n);
  return info.Env().Undefined();
}

// swigluBackward(dy, a, b, da, db)
Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  const int64_t n = length(info, 1, "a");
  swiglu_backward(f32(info, 0, "dy", n), f32(info, 1, "a", n), f32(info, 2, "b", n), f32(info, 3, "da", n),
                  f32(info, 4, "db", n), n);
  return info.Env().Undefined();
}

// rotary(x, cos, sin, out, batch, heads, length, half, tableBatched, inverse)
Napi::Value Rotary(const Napi::CallbackInfo& info) {
  const int64_t b = integer(info, 4, "batch"), h = integer(info, 5, "heads"), l = integer(info, 6, "length"),
                half = integer(info, 7, "half");
  const bool batched = info[8].ToBoolean(), inverse = info[9].ToBoolean();
  const int64_t n = b * h * l * 2 * half, table = (batched ? b : 1) * l * half;
  rotary(f32(info, 0, "x", n), f32(info, 1, "cos", table), f32(info, 2, "sin", table), f32(info, 3, "out", n), b, h,
         l, half, batched, inverse);
  return info.Env().Undefined();
}

AttentionShape attention_shape(const Napi::CallbackInfo& info, size_t i) {
  AttentionShape g{integer(info, i, "batch"), integer(info, i + 1, "length"), integer(info, i + 2, "heads"),
                   integer(info, i + 3, "half"), info[i + 4].ToBoolean(), info[i + 5].ToBoolean()};
  return g;
}

// attention(q, k, v, cos, sin, bias | null, out, probs, batch, length, heads, half, tablesBatched, biasBatched)
Napi::Value Attention(const Napi::CallbackInfo& info) {
  const AttentionShape g = attention_shape(info, 8);
  const int64_t n = g.batch * g.length * g.heads * 2 * g.half;
  const int64_t table = (g.tables_batched ? g.batch : 1) * g.length * g.half;
  const int64_t scores = g.batch * g.heads * g.length * g.length;
  const float* bias = info[5].IsNull() ? nullptr : f32(info, 5, "bias", (g.bias_batched ? g.batch : 1) * g.length * g.length);
  attention(g, f32(info, 0, "q", n), f32(info, 1, "k", n), f32(info, 2, "v", n), f32(info, 3, "cos", table),
            f32(info, 4, "sin", table), bias, f32(info, 6, "out", n), f32(info, 7, "probs", scores));
  return info.Env().Undefined();
}

// attentionCached(q, k, v, pastK, pastV, past, cos, sin, bias | null, out, batch, length, heads, half, tablesBatched,
// biasBatched)
Napi::Value AttentionCached(const Napi::CallbackInfo& info) {
  const AttentionShape g = attention_shape(info, 10);
  const int64_t past = integer(info, 5, "past", 1);
  const int64_t n = g.batch * g.length * g.heads * 2 * g.half;
  const int64_t cached = g.batch * g.heads * past * 2 * g.half;
  const int64_t table = (g.tables_batched ? g.batch : 1) * g.length * g.half;
  const float* bias =
      info[8].IsNull() ? nullptr : f32(info, 8, "bias", (g.bias_batched ? g.batch : 1) * g.length * (past + g.length));
  attention_cached(g, past, f32(info, 0, "q", n), f32(info, 1, "k", n), f32(info, 2, "v", n), f32(info, 3, "pastK", cached),
                   f32(info, 4, "pastV", cached), f32(info, 6, "cos", table), f32(info, 7, "sin", table), bias,
                   f32(info, 9, "out", n));
  return info.Env().Undefined();
}

// attentionBackward(dout, q, k, v, cos, sin, probs, dq, dk, dv, batch, length, heads, half, tablesBatched)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  AttentionShape g = attention_shape(info, 10);
  const int64_t n = g.batch * g.length * g.heads * 2 * g.half;
  const int64_t table = (g.tables_batched ? g.batch : 1) * g.length * g.half;
  const int64_t scores = g.batch * g.heads * g.length * g.length;
  attention_backward(g, f32(info, 0, "dout", n), f32(info, 1, "q", n), f32(info, 2, "k", n), f32(info, 3, "v", n),
                     f32(info, 4, "cos", table), f32(info, 5, "sin", table), f32(info, 6, "probs", scores),
                     f32(info, 7, "dq", n), f32(info, 8, "dk", n), f32(info, 9, "dv", n));
  return info.Env().Undefined();
}

// adamw(tensors, decay, hyper): tensors a list of [p, g, m, v, pOut, mOut, vOut] (same lengths), decay a
// Uint8Array (1 = decay this tensor), hyper [lr, beta1, beta2, eps, lr * weightDecay, bc1, bc2, gradScale]
Napi::Value AdamW(const Napi::CallbackInfo& info) {
  if (!info[0].IsArray()) fail(info.Env(), "tensors must be an array of [p, g, m, v, pOut, mOut, vOut]");
  Napi::Array list = info[0].As<Napi::Array>();
  if (!info[1].IsTypedArray()) fail(info.Env(), "decay must be a Uint8Array");
  Napi::Uint8Array decay = info[1].As<Napi::Uint8Array>();
  if (decay.ElementLength() < list.Length()) fail(info.Env(), "decay needs one flag per tensor");
  const float* hy = f32(info, 2, "hyper", 8);
  std::vector<AdamWTensor> tensors;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value entry = list.Get(i);
    if (!entry.IsArray() || entry.As<Napi::Array>().Length() != 7) fail(info.Env(), "each tensor must be [p, g, m, v, pOut, mOut, vOut]");
    Napi::Array t = entry.As<Napi::Array>();
    float* ptrs[7];
    int64_t n = -1;
    for (uint32_t j = 0; j < 7; ++j) {
      const auto [data, len] = float_array(info.Env(), t.Get(j), "adamw: every buffer must be a Float32Array");
      if (n < 0) n = len;
      if (len < n) fail(info.Env(), "adamw: a buffer is shorter than its parameter");
      ptrs[j] = data;
    }
    tensors.push_back({ptrs[0], ptrs[1], ptrs[2], ptrs[3], ptrs[4], ptrs[5], ptrs[6], n, decay[i] != 0});
  }
  adamw(tensors.data(), static_cast<int64_t>(tensors.size()), {hy[0], hy[1], hy[2], hy[3], hy[4], hy[5], hy[6], hy[7]});
  return info.Env().Undefined();
}

// sumSquares(arrays) -> sum of squares of every element, as a double
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  if (!info[0].IsArray()) fail(info.Env(), "sumSquares: expected an array of Float32Arrays");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<const float*> xs;
  std::vector<int64_t> lengths;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const auto [data, len] = float_array(info.Env(), list.Get(i), "sumSquares: every array must be a Float32Array");
    xs.push_back(data);
    lengths.push_back(len);
  }
  return Napi::Number::New(info.Env(), sum_squares(xs.data(), lengths.data(), static_cast<int64_t>(xs.size())));
}

Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), threads()); }

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const int64_t n = integer(info, 0, "threads", 1);
  if (n > 1024) fail(info.Env(), "threads must be in [1, 1024]");
  set_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

/** Exports fn, turning any C++ exception (bad_alloc, ...) into a JS error instead of a crash. */
void Export(Napi::Env env, Napi::Object exports, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  exports.Set(name, Napi::Function::New(env, [fn](const Napi::CallbackInfo& info) -> Napi::Value {
    try {
      return fn(info);
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("nativecpu: ") + e.what());
    }
  }));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // The pool does the threading; OpenBLAS's own threads would compete with it for the same cores.
  openblas_set_num_threads(1);
  Export(env, exports, "matmul", Matmul);
  Export(env, exports, "conv2d", Conv2d);
  Export(env, exports, "conv2dBackpropInput", Conv2dBackpropInput);
  Export(env, exports, "conv2dBackpropFilter", Conv2dBackpropFilter);
  Export(env, exports, "binary", BinaryOp);
  Export(env, exports, "unary", UnaryOp);
  Export(env, exports, "addN", AddN);
  Export(env, exports, "reduce", ReduceOp);
  Export(env, exports, "softmax", Softmax);
  Export(env, exports, "copyStrided", CopyStrided);
  Export(env, exports, "gather", Gather);
  Export(env, exports, "unsortedSegmentSum", UnsortedSegmentSum);
  Export(env, exports, "rmsNorm", RmsNorm);
  Export(env, exports, "rmsNormBackward", RmsNormBackward);
  Export(env, exports, "swiglu", Swiglu);
  Export(env, exports, "swigluBackward", SwigluBackward);
  Export(env, exports, "rotary", Rotary);
  Export(env, exports, "adamw", AdamW);
  Export(env, exports, "attention", Attention);
  Export(env, exports, "attentionCached", AttentionCached);
  Export(env, exports, "sumSquares", SumSquares);
  Export(env, exports, "attentionBackward", AttentionBackward);
  Export(env, exports, "threads", Threads);
  Export(env, exports, "setThreads", SetThreads);
  return exports;
}

}  // namespace

}  // namespace nativecpu

static Napi::Object InitNativecpu(Napi::Env env, Napi::Object exports) { return nativecpu::Init(env, exports); }

NODE_API_MODULE(nativecpu, InitNativecpu)
