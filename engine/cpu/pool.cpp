// pool.cpp — CPU pooling and resampling kernels (NCHW): average pooling, adaptive average
// pooling, and bilinear / bicubic interpolation, each with its backward.
//
// Every kernel works one (n, c) plane at a time and the planes run in parallel. A backward
// kernel scatters the output gradient back with the forward's weights; since a plane's
// scatter stays inside that plane and runs in a fixed order, results are deterministic.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/cpu/cpu_backend.h"

namespace vt {

namespace {

// Window of output o along one axis for pooling: [start, end) clipped to the input, and the
// length it counts with padding (torch: end is first clipped to in + pad, then to in).
struct Window {
  int64_t start, end, padded_len;
};
inline Window pool_window(int64_t o, int64_t k, int64_t s, int64_t p, int64_t in) {
  int64_t start = o * s - p, end = std::min(start + k, in + p);
  const int64_t padded = end - start;
  return {std::max<int64_t>(start, 0), std::min(end, in), padded};
}

// torch's adaptive bins: [floor(o·in/out), ceil((o+1)·in/out)).
inline Window adaptive_window(int64_t o, int64_t in, int64_t out) {
  const int64_t start = o * in / out, end = ((o + 1) * in + out - 1) / out;
  return {start, end, end - start};
}

// Per output coordinate along one axis: `n` input indices and their weights (interpolation).
template <typename T>
struct Taps {
  int n = 0;
  std::vector<int64_t> idx;  // (out, n)
  std::vector<T> wt;         // (out, n)
};

// torch's area_pixel_compute_source_index: the input coordinate sampled by output o.
inline double source_coord(int64_t o, int64_t in, int64_t out, bool align_corners, bool cubic) {
  if (align_corners) return out > 1 ? (double)o * (double)(in - 1) / (double)(out - 1) : 0.0;
  const double src = ((double)o + 0.5) * (double)in / (double)out - 0.5;
  return (!cubic && src < 0) ? 0.0 : src;
}

// Cubic convolution kernel with a = −0.75 (Keys), as torch's upsample_bicubic2d.
constexpr double kCubicA = -0.75;
inline double cubic1(double x) { return ((kCubicA + 2) * x - (kCubicA + 3)) * x * x + 1; }  // |x|≤1
inline double cubic2(double x) {  // 1<|x|<2
  return ((kCubicA * x - 5 * kCubicA) * x + 8 * kCubicA) * x - 4 * kCubicA;
}

// mode 0: bilinear (2 taps, the upper index clamped to the edge);
// mode 1: bicubic (4 taps at floor−1 … floor+2, each index clamped into [0, in)).
template <typename T>
Taps<T> make_taps(int64_t in, int64_t out, int mode, bool align_corners) {
  Taps<T> t;
  t.n = mode == 0 ? 2 : 4;
  t.idx.resize(out * t.n);
  t.wt.resize(out * t.n);
  for (int64_t o = 0; o < out; ++o) {
    const double src = source_coord(o, in, out, align_corners, mode == 1);
    int64_t* ix = &t.idx[o * t.n];
    T* w = &t.wt[o * t.n];
    if (mode == 0) {
      const int64_t i0 = (int64_t)src;  // src >= 0
      const double l1 = std::min(std::max(src - (double)i0, 0.0), 1.0);
      ix[0] = i0;
      ix[1] = i0 + (i0 < in - 1 ? 1 : 0);
      w[0] = T(1.0 - l1);
      w[1] = T(l1);
    } else {
      const double f = std::floor(src), u = src - f;
      const double c[4] = {cubic2(u + 1), cubic1(u), cubic1(1 - u), cubic2(2 - u)};
      for (int k = 0; k < 4; ++k) {
        ix[k] = std::min(std::max((int64_t)f - 1 + k, (int64_t)0), in - 1);
        w[k] = T(c[k]);
      }
    }
  }
  return t;
}

}  // namespace

// x: (N, C, H, W) -> y: (N, C, oh, ow); window kh×kw, stride (sh, sw), zero padding (ph, pw).
void CpuBackend::avg_pool2d(const Tensor& x, const Conv2dGeom& g, bool count_include_pad,
                            Tensor& y) {
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
    const int64_t planes = g.n * g.c, oh = g.oh(), ow = g.ow();
#pragma omp parallel for if (planes * oh * ow * g.kh * g.kw > kParallelGrain)
    for (int64_t p = 0; p < planes; ++p) {
      const scalar_t* xp = px + p * g.h * g.w;
      for (int64_t oy = 0; oy < oh; ++oy) {
        const Window wy = pool_window(oy, g.kh, g.sh, g.ph, g.h);
        for (int64_t ox = 0; ox < ow; ++ox) {
          const Window wx = pool_window(ox, g.kw, g.sw, g.pw, g.w);
          scalar_t s = 0;
          for (int64_t iy = wy.start; iy < wy.end; ++iy)
            for (int64_t ix = wx.start; ix < wx.end; ++ix) s += xp[iy * g.w + ix];
          const int64_t div = count_include_pad ? wy.padded_len * wx.padded_len
                                                : (wy.end - wy.start) * (wx.end - wx.start);
          py[(p * oh + oy) * ow + ox] = s / scalar_t(div);
        }
      }
    }
  });
}

void CpuBackend::avg_pool2d_backward(const Tensor& gy, const Conv2dGeom& g,
                                     bool count_include_pad, Tensor& gx) {
  dispatch_float(gy.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const scalar_t* pg = gy.data<scalar_t>();
    scalar_t* px = gx.data<scalar_t>();
    const int64_t planes = g.n * g.c, oh = g.oh(), ow = g.ow();
#pragma omp parallel for if (planes * oh * ow * g.kh * g.kw > kParallelGrain)
    for (int64_t p = 0; p < planes; ++p) {
      scalar_t* xp = px + p * g.h * g.w;
      std::fill(xp, xp + g.h * g.w, scalar_t(0));
      for (int64_t oy = 0; oy < oh; ++oy) {
        const Window wy = pool_window(oy, g.kh, g.sh, g.ph, g.h);
        for (int64_t ox = 0; ox < ow; ++ox) {
          const Window wx = pool_window(ox, g.kw, g.sw, g.pw, g.w);
          const int64_t div = count_include_pad ? wy.padded_len * wx.padded_len
                                                : (wy.end - wy.start) * (wx.end - wx.start);
          const scalar_t v = pg[(p * oh + oy) * ow + ox] / scalar_t(div);
          for (int64_t iy = wy.start; iy < wy.end; ++iy)
            for (int64_t ix = wx.start; ix < wx.end; ++ix) xp[iy * g.w + ix] += v;
        }
      }
    }
  });
}

// x: (N, C, H, W) -> y: (N, C, oh, ow), each output the mean of its adaptive bin.
void CpuBackend::adaptive_avg_pool2d(const Tensor& x, Tensor& y) {
  dispatch_float(x.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
    const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
    const int64_t oh = y.size(2), ow = y.size(3);
#pragma omp parallel for if (planes * H * W > kParallelGrain)
    for (int64_t p = 0; p < planes; ++p) {
      const scalar_t* xp = px + p * H * W;
      for (int64_t oy = 0; oy < oh; ++oy) {
        const Window wy = adaptive_window(oy, H, oh);
        for (int64_t ox = 0; ox < ow; ++ox) {
          const Window wx = adaptive_window(ox, W, ow);
          scalar_t s = 0;
          for (int64_t iy = wy.start; iy < wy.end; ++iy)
            for (int64_t ix = wx.start; ix < wx.end; ++ix) s += xp[iy * W + ix];
          py[(p * oh + oy) * ow + ox] = s / scalar_t(wy.padded_len * wx.padded_len);
        }
      }
    }
  });
}

void CpuBackend::adaptive_avg_pool2d_backward(const Tensor& gy, Tensor& gx) {
  dispatch_float(gy.dtype(), "adaptive_avg_pool2d_backward", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const scalar_t* pg = gy.data<scalar_t>();
    scalar_t* px = gx.data<scalar_t>();
    const int64_t planes = gx.size(0) * gx.size(1), H = gx.size(2), W = gx.size(3);
    const int64_t oh = gy.size(2), ow = gy.size(3);
#pragma omp parallel for if (planes * H * W > kParallelGrain)
    for (int64_t p = 0; p < planes; ++p) {
      scalar_t* xp = px + p * H * W;
      std::fill(xp, xp + H * W, scalar_t(0));
      for (int64_t oy = 0; oy < oh; ++oy) {
        const Window wy = adaptive_window(oy, H, oh);
        for (int64_t ox = 0; ox < ow; ++ox) {
          const Window wx = adaptive_window(ox, W, ow);
          const scalar_t v =
              pg[(p * oh + oy) * ow + ox] / scalar_t(wy.padded_len * wx.padded_len);
          for (int64_t iy = wy.start; iy < wy.end; ++iy)
            for (int64_t ix = wx.start; ix < wx.end; ++ix) xp[iy * W + ix] += v;
        }
      }
    }
  });
}

// x: (N, C, H, W) -> y: (N, C, oh, ow); y[oy, ox] = Σ_a Σ_b wy[oy, a]·wx[ox, b]·x[iy_a, ix_b]
void CpuBackend::interpolate(const Tensor& x, Tensor& y, int mode, bool align_corners) {
  dispatch_float(x.dtype(), "interpolate", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
    const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
    const int64_t oh = y.size(2), ow = y.size(3);
    const Taps<scalar_t> ty = make_taps<scalar_t>(H, oh, mode, align_corners);
    const Taps<scalar_t> tx = make_taps<scalar_t>(W, ow, mode, align_corners);
    const int n = ty.n;
#pragma omp parallel for if (planes * oh * ow * n * n > kParallelGrain)
    for (int64_t p = 0; p < planes; ++p) {
      const scalar_t* xp = px + p * H * W;
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          scalar_t s = 0;
          for (int a = 0; a < n; ++a) {
            const scalar_t* row = xp + ty.idx[oy * n + a] * W;
            scalar_t r = 0;
            for (int b = 0; b < n; ++b) r += tx.wt[ox * n + b] * row[tx.idx[ox * n + b]];
            s += ty.wt[oy * n + a] * r;
          }
          py[(p * oh + oy) * ow + ox] = s;
        }
    }
  });
}

// gy: (N, C, oh, ow) -> gx: (N, C, H, W), each gy scattered to the taps it was made from.
void CpuBackend::interpolate_backward(const Tensor& gy, Tensor& gx, int mode, bool align_corners) {
  dispatch_float(gy.dtype(), "interpolate_backward", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const scalar_t* pg = gy.data<scalar_t>();
    scalar_t* px = gx.data<scalar_t>();
    const int64_t planes = gx.size(0) * gx.size(1), H = gx.size(2), W = gx.size(3);
    const int64_t oh = gy.size(2), ow = gy.size(3);
    const Taps<scalar_t> ty = make_taps<scalar_t>(H, oh, mode, align_corners);
    const Taps<scalar_t> tx = make_taps<scalar_t>(W, ow, mode, align_corners);
    const int n = ty.n;
#pragma omp parallel for if (planes * oh * ow * n * n > kParallelGrain)
    for (int64_t p = 0; p < planes; ++p) {
      scalar_t* xp = px + p * H * W;
      std::fill(xp, xp + H * W, scalar_t(0));
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const scalar_t v = pg[(p * oh + oy) * ow + ox];
          for (int a = 0; a < n; ++a) {
            scalar_t* row = xp + ty.idx[oy * n + a] * W;
            const scalar_t va = ty.wt[oy * n + a] * v;
            for (int b = 0; b < n; ++b) row[tx.idx[ox * n + b]] += tx.wt[ox * n + b] * va;
          }
        }
    }
  });
}

}  // namespace vt
