// Data movement: the strided copy behind Transpose, Slice, Concat and Pad; Gather; UnsortedSegmentSum.
// Copies move 4-byte words, so float32 and int32 tensors share them.
#include <algorithm>
#include <cstring>

#include "kernels.h"
#include "pool.h"

namespace nativecpu {

namespace {

constexpr int64_t kGrain = 1 << 15;
constexpr int64_t kTile = 32;  // transpose tile: 32 x 32 words = 4 KiB, both sides stay in L1

struct Dim {
  int64_t size, ss, ds;  // extent, source stride, destination stride
};

std::vector<Dim> collapse(const Shape& shape, const Shape& ss, const Shape& ds) {
  std::vector<Dim> dims;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!dims.empty()) {
      Dim& p = dims.back();
      if (p.ss == ss[i] * shape[i] && p.ds == ds[i] * shape[i]) {
        p = {p.size * shape[i], ss[i], ds[i]};
        continue;
      }
    }
    dims.push_back({shape[i], ss[i], ds[i]});
  }
  if (dims.empty()) dims.push_back({1, 1, 1});
  return dims;
}

/** Offsets of the outer multi-index `flat` (dims in `outer`, last fastest). */
void offsets(const std::vector<Dim>& outer, int64_t flat, int64_t* so, int64_t* dof) {
  int64_t s = 0, d = 0;
  for (size_t i = outer.size(); i-- > 0;) {
    const int64_t k = flat % outer[i].size;
    flat /= outer[i].size;
    s += k * outer[i].ss;
    d += k * outer[i].ds;
  }
  *so = s;
  *dof = d;
}

}  // namespace

void copy_strided(const uint32_t* src, int64_t src_offset, const Shape& src_strides, uint32_t* dst,
                  int64_t dst_offset, const Shape& dst_strides, const Shape& shape) {
  for (int64_t n : shape)
    if (n == 0) return;
  src += src_offset;
  dst += dst_offset;
  std::vector<Dim> dims = collapse(shape, src_strides, dst_strides);
  const Dim last = dims.back();
  dims.pop_back();
  int64_t rows = 1;
  for (const Dim& d : dims) rows *= d.size;

  // A transpose moves the source's contiguous axis away from the end: copy tile by tile so that both the
  // reads (along that axis) and the writes (along the last axis) stay within cache lines.
  int t = -1;
  if (last.ss != 1 && last.ds == 1)
    for (size_t i = 0; i < dims.size(); ++i)
      if (dims[i].ss == 1) t = static_cast<int>(i);
  if (t >= 0) {
    const Dim col = dims[t];
    std::vector<Dim> outer = dims;
    outer.erase(outer.begin() + t);
    int64_t outer_count = 1;
    for (const Dim& d : outer) outer_count *= d.size;
    const int64_t tiles = (col.size + kTile - 1) / kTile;
    parallel_for(outer_count * tiles, std::max<int64_t>(1, kGrain / (kTile * last.size)), [&](int64_t b, int64_t e) {
      for (int64_t task = b; task < e; ++task) {
        int64_t so, dof;
        offsets(outer, task / tiles, &so, &dof);
        const int64_t i0 = (task % tiles) * kTile, i1 = std::min(col.size, i0 + kTile);
        for (int64_t j0 = 0; j0 < last.size; j0 += kTile) {
          const int64_t j1 = std::min(last.size, j0 + kTile);
          for (int64_t i = i0; i < i1; ++i) {
            const uint32_t* s = src + so + i;
            uint32_t* d = dst + dof + i * col.ds;
            for (int64_t j = j0; j < j1; ++j) d[j] = s[j * last.ss];
          }
        }
      }
    });
    return;
  }

  parallel_for(rows, std::max<int64_t>(1, kGrain / last.size), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t so, dof;
      offsets(dims, r, &so, &dof);
      const uint32_t* s = src + so;
      uint32_t* d = dst + dof;
      if (last.ss == 1 && last.ds == 1) {
        std::memcpy(d, s, static_cast<size_t>(last.size) * 4);
      } else {
        for (int64_t j = 0; j < last.size; ++j) d[j * last.ds] = s[j * last.ss];
      }
    }
  });
}

int64_t gather(const uint32_t* x, int64_t outer, int64_t axis, int64_t inner, const int32_t* indices,
               int64_t count, uint32_t* out) {
  for (int64_t j = 0; j < count; ++j)
    if (indices[j] < 0 || indices[j] >= axis) return j;
  parallel_for(outer * count, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, inner)), [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t o = task / count, j = task % count;
      std::memcpy(out + task * inner, x + (o * axis + indices[j]) * inner, static_cast<size_t>(inner) * 4);
    }
  });
  return -1;
}

void unsorted_segment_sum(const float* x, const int32_t* ids, int64_t rows, int64_t inner, int64_t segments,
                          float* out) {
  std::fill(out, out + segments * inner, 0.0f);
  // Threads own disjoint column ranges, so rows that hit the same segment never race.
  parallel_for(inner, std::max<int64_t>(16, kGrain / std::max<int64_t>(1, rows)), [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t s = ids[r];
      if (s < 0 || s >= segments) continue;
      const float* src = x + r * inner;
      float* dst = out + s * inner;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  });
}

}  // namespace nativecpu
