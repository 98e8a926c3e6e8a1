// 2-D convolution and its two gradients, NHWC input and HWIO filter, as im2col + GEMM: the patches of a
// group of images become the rows of a matrix [rows, filter_h * filter_w * in_c], and the filter is already
// that matrix's partner [filter_h * filter_w * in_c, out_c] in memory, so each pass is one sgemm.
#include <algorithm>
#include <cstring>

#include "kernels.h"
#include "pool.h"

namespace nativecpu {

namespace {

// The patch matrix of a group of images is capped near 16 MiB, so a large batch is done in slices.
constexpr int64_t kColsBudget = int64_t{1} << 22;

int64_t patch_size(const ConvGeometry& g) { return static_cast<int64_t>(g.filter_h) * g.filter_w * g.in_c; }

/** Images per slice so that the slice's patch matrix stays within the budget (at least one image). */
int64_t images_per_slice(const ConvGeometry& g) {
  const int64_t per_image = static_cast<int64_t>(g.out_h) * g.out_w * patch_size(g);
  return std::max<int64_t>(1, std::min<int64_t>(g.batch, kColsBudget / std::max<int64_t>(1, per_image)));
}

/** A 1x1 filter at stride 1 without padding is a plain product: the input already is the patch matrix. */
bool pointwise(const ConvGeometry& g) {
  return g.filter_h == 1 && g.filter_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
         g.pad_left == 0 && g.out_h == g.in_h && g.out_w == g.in_w;
}

/** cols[(b, oy, ox), (fy, fx, c)] = x[b0 + b, iy, ix, c], zero outside the image. */
void im2col(const float* x, const ConvGeometry& g, int64_t b0, int64_t images, float* cols) {
  const int64_t k = patch_size(g), pixels = static_cast<int64_t>(g.out_h) * g.out_w;
  parallel_for(images * pixels, std::max<int64_t>(1, 8192 / k), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = b0 + r / pixels, oy = (r % pixels) / g.out_w, ox = r % g.out_w;
      float* row = cols + r * k;
      for (int fy = 0; fy < g.filter_h; ++fy) {
        const int64_t iy = oy * g.stride_h - g.pad_top + static_cast<int64_t>(fy) * g.dilation_h;
        for (int fx = 0; fx < g.filter_w; ++fx) {
          const int64_t ix = ox * g.stride_w - g.pad_left + static_cast<int64_t>(fx) * g.dilation_w;
          float* dst = row + (static_cast<int64_t>(fy) * g.filter_w + fx) * g.in_c;
          if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) {
            std::fill(dst, dst + g.in_c, 0.0f);
          } else {
            std::memcpy(dst, x + ((b * g.in_h + iy) * g.in_w + ix) * g.in_c, static_cast<size_t>(g.in_c) * 4);
          }
        }
      }
    }
  });
}

/**
 * The adjoint of im2col: dx[b0 + b, iy, ix, c] = sum of dcols over the patch entries that read that pixel.
 * Written as a gather per input row (not a scatter per patch), so threads own disjoint rows of dx.
 */
void col2im(const float* dcols, const ConvGeometry& g, int64_t b0, int64_t images, float* dx) {
  const int64_t k = patch_size(g);
  parallel_for(images * g.in_h, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.in_h, iy = r % g.in_h;
      float* out_row = dx + ((b0 + b) * g.in_h + iy) * g.in_w * g.in_c;
      std::fill(out_row, out_row + static_cast<int64_t>(g.in_w) * g.in_c, 0.0f);
      for (int fy = 0; fy < g.filter_h; ++fy) {
        const int64_t ty = iy + g.pad_top - static_cast<int64_t>(fy) * g.dilation_h;
        if (ty < 0 || ty % g.stride_h != 0 || ty / g.stride_h >= g.out_h) continue;
        const int64_t oy = ty / g.stride_h;
        for (int64_t ix = 0; ix < g.in_w; ++ix) {
          float* out = out_row + ix * g.in_c;
          for (int fx = 0; fx < g.filter_w; ++fx) {
            const int64_t tx = ix + g.pad_left - static_cast<int64_t>(fx) * g.dilation_w;
            if (tx < 0 || tx % g.stride_w != 0 || tx / g.stride_w >= g.out_w) continue;
            const int64_t ox = tx / g.stride_w;
            const float* src =
                dcols + ((b * g.out_h + oy) * g.out_w + ox) * k + (static_cast<int64_t>(fy) * g.filter_w + fx) * g.in_c;
            for (int c = 0; c < g.in_c; ++c) out[c] += src[c];
          }
        }
      }
    }
  });
}

}  // namespace

void conv2d(const float* x, const float* w, float* y, const ConvGeometry& g) {
  const int64_t k = patch_size(g), pixels = static_cast<int64_t>(g.out_h) * g.out_w;
  if (pointwise(g)) {
    gemm(x, w, y, static_cast<int>(g.batch * pixels), g.out_c, g.in_c, false, false, 0.0f);
    return;
  }
  const int64_t slice = images_per_slice(g);
  std::vector<float> cols(static_cast<size_t>(slice * pixels * k));
  for (int64_t b0 = 0; b0 < g.batch; b0 += slice) {
    const int64_t images = std::min<int64_t>(slice, g.batch - b0);
    im2col(x, g, b0, images, cols.data());
    gemm(cols.data(), w, y + b0 * pixels * g.out_c, static_cast<int>(images * pixels), g.out_c, static_cast<int>(k),
         false, false, 0.0f);
  }
}

void conv2d_backprop_input(const float* dy, const float* w, float* dx, const ConvGeometry& g) {
  const int64_t k = patch_size(g), pixels = static_cast<int64_t>(g.out_h) * g.out_w;
  if (pointwise(g)) {
    gemm(dy, w, dx, static_cast<int>(g.batch * pixels), g.in_c, g.out_c, false, true, 0.0f);
    return;
  }
  const int64_t slice = images_per_slice(g);
  std::vector<float> dcols(static_cast<size_t>(slice * pixels * k));
  for (int64_t b0 = 0; b0 < g.batch; b0 += slice) {
    const int64_t images = std::min<int64_t>(slice, g.batch - b0);
    gemm(dy + b0 * pixels * g.out_c, w, dcols.data(), static_cast<int>(images * pixels), static_cast<int>(k), g.out_c,
         false, true, 0.0f);
    col2im(dcols.data(), g, b0, images, dx);
  }
}

void conv2d_backprop_filter(const float* x, const float* dy, float* dw, const ConvGeometry& g) {
  const int64_t k = patch_size(g), pixels = static_cast<int64_t>(g.out_h) * g.out_w;
  if (g.batch == 0) {
    std::fill(dw, dw + k * g.out_c, 0.0f);
    return;
  }
  if (pointwise(g)) {
    gemm(x, dy, dw, g.in_c, g.out_c, static_cast<int>(g.batch * pixels), true, false, 0.0f);
    return;
  }
  const int64_t slice = images_per_slice(g);
  std::vector<float> cols(static_cast<size_t>(slice * pixels * k));
  for (int64_t b0 = 0; b0 < g.batch; b0 += slice) {
    const int64_t images = std::min<int64_t>(slice, g.batch - b0);
    im2col(x, g, b0, images, cols.data());
    gemm(cols.data(), dy + b0 * pixels * g.out_c, dw, static_cast<int>(k), g.out_c, static_cast<int>(images * pixels),
         true, false, b0 == 0 ? 0.0f : 1.0f);
  }
}

}  // namespace nativecpu
