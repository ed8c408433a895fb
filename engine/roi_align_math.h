// roi_align_math.h — where RoIAlign samples, written once for both backends (plain inline
// functions on the CPU, __host__ __device__ under nvcc). engine/cpu/roi_align.cpp and
// engine/cuda/roi_align.cu map it over the outputs; engine/ops/roi_align.cpp is the op.
//
// RoIAlign (He et al. 2017, as torchvision.ops.roi_align): roi k = (b, x1, y1, x2, y2) in image
// coordinates is scaled by spatial_scale (and shifted by −0.5 px when aligned) onto the map,
// cut into oh × ow bins, and each bin averages a grid_h × grid_w grid of bilinear samples at the
// sub-bin centres:
//   y = y1' + py·bin_h + (iy + ½)·bin_h / grid_h     (x likewise)
//   out[k, c, py, px] = 1/(grid_h·grid_w) · Σ_samples bilinear(x[b, c], y, x)
// grid = sampling_ratio, or ceil(roi size / bins) when sampling_ratio <= 0. A sample more than one
// pixel outside the map is 0; one within a pixel of the border is clamped onto it.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define VT_ROI_FN __host__ __device__ __forceinline__
#else
#define VT_ROI_FN inline
#endif

namespace vt {

struct RoiAlignGeom {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input map (N, C, H, W)
  int64_t k = 0, oh = 0, ow = 0;       // output (K, C, oh, ow)
  double spatial_scale = 1.0;
  int64_t sampling_ratio = -1;
  bool aligned = true;
};

// One roi on the map: its top-left corner, bin size and sampling grid.
template <typename T>
struct RoiBins {
  int64_t batch;
  T y0, x0, bin_h, bin_w;
  int64_t grid_h, grid_w;
};

// roi: 5 values (b, x1, y1, x2, y2). The batch index is truncated as torchvision does; the op
// checks it and the coordinates before any kernel runs.
template <typename T>
VT_ROI_FN RoiBins<T> roi_bins(const T* roi, const RoiAlignGeom& g) {
  const T scale = (T)g.spatial_scale, offset = g.aligned ? T(0.5) : T(0);
  RoiBins<T> r;
  r.batch = (int64_t)roi[0];
  r.x0 = roi[1] * scale - offset;
  r.y0 = roi[2] * scale - offset;
  T roi_w = roi[3] * scale - offset - r.x0, roi_h = roi[4] * scale - offset - r.y0;
  if (!g.aligned) {  // torchvision's legacy mode: at least one pixel
    roi_w = roi_w > T(1) ? roi_w : T(1);
    roi_h = roi_h > T(1) ? roi_h : T(1);
  }
  r.bin_h = roi_h / (T)g.oh;
  r.bin_w = roi_w / (T)g.ow;
  r.grid_h = g.sampling_ratio > 0 ? g.sampling_ratio : (int64_t)ceil(roi_h / (T)g.oh);
  r.grid_w = g.sampling_ratio > 0 ? g.sampling_ratio : (int64_t)ceil(roi_w / (T)g.ow);
  return r;
}

// The four bilinear taps of point (y, x) on an H × W plane: offsets y·W + x and weights.
// Returns false (no taps) for a point more than a pixel outside.
template <typename T>
VT_ROI_FN bool bilinear_taps(T y, T x, int64_t H, int64_t W, int64_t idx[4], T wt[4]) {
  if (y < T(-1) || y > (T)H || x < T(-1) || x > (T)W) return false;
  if (y <= T(0)) y = T(0);
  if (x <= T(0)) x = T(0);
  int64_t y_lo = (int64_t)y, x_lo = (int64_t)x, y_hi, x_hi;
  if (y_lo >= H - 1) {
    y_hi = y_lo = H - 1;
    y = (T)y_lo;
  } else {
    y_hi = y_lo + 1;
  }
  if (x_lo >= W - 1) {
    x_hi = x_lo = W - 1;
    x = (T)x_lo;
  } else {
    x_hi = x_lo + 1;
  }
  const T ly = y - (T)y_lo, lx = x - (T)x_lo, hy = T(1) - ly, hx = T(1) - lx;
  idx[0] = y_lo * W + x_lo, wt[0] = hy * hx;
  idx[1] = y_lo * W + x_hi, wt[1] = hy * lx;
  idx[2] = y_hi * W + x_lo, wt[2] = ly * hx;
  idx[3] = y_hi * W + x_hi, wt[3] = ly * lx;
  return true;
}

// Calls visit(offset, weight) for every tap of output bin (py, px) of roi r, the weights already
// divided by the sample count: out = Σ weight · plane[offset].
template <typename T, typename Visit>
VT_ROI_FN void roi_bin_taps(const RoiBins<T>& r, int64_t py, int64_t px, int64_t H, int64_t W,
                            Visit&& visit) {
  const int64_t count = r.grid_h * r.grid_w > 1 ? r.grid_h * r.grid_w : 1;
  const T inv = T(1) / (T)count;
  for (int64_t iy = 0; iy < r.grid_h; ++iy) {
    const T y = r.y0 + (T)py * r.bin_h + ((T)iy + T(0.5)) * r.bin_h / (T)r.grid_h;
    for (int64_t ix = 0; ix < r.grid_w; ++ix) {
      const T x = r.x0 + (T)px * r.bin_w + ((T)ix + T(0.5)) * r.bin_w / (T)r.grid_w;
      int64_t idx[4];
      T wt[4];
      if (!bilinear_taps(y, x, H, W, idx, wt)) continue;
      for (int t = 0; t < 4; ++t) visit(idx[t], wt[t] * inv);
    }
  }
}

}  // namespace vt
