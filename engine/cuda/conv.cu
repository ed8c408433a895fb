// conv.cu — CUDA convolution helpers, pooling and resampling (NCHW), forward and backward.
//
//   im2col / col2im            the GEMM path of conv2d (ops/conv.cpp runs the GEMMs)
//   depthwise_conv2d (+ bwd)   direct kernels, one filter per channel or per (image, channel)
//   avg_pool2d, adaptive_avg_pool2d, interpolate (bilinear / bicubic), with backwards
//
// Index convention as the CPU (engine/cpu/conv.cpp, pool.cpp): output (oy, ox) with tap (i, j)
// reads input iy = oy·sh − ph + i·dh, ix = ox·sw − pw + j·dw; padding taps contribute nothing.
//
// Backward passes are written as gathers wherever the inverse map is simple: col2im, the
// depthwise input gradient and both pool backwards run one thread per input pixel that sums
// the outputs it fed, so there are no atomics and results are deterministic. The depthwise
// filter gradient is a block reduction per filter tap. Only interpolate_backward scatters
// with atomicAdd (F32 and F64): the sum order of the (few) outputs landing on one input pixel
// varies from run to run, so its results are not bit-reproducible (differences at rounding
// level).
#include <cmath>

#include "engine/cuda/cuda_common.cuh"

namespace vt::cuda {

namespace {

// Conv2dGeom with the output size precomputed (its oh()/ow() are host functions).
struct Geom {
  int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
};
Geom to_geom(const Conv2dGeom& g) {
  return {g.n, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.oh(), g.ow()};
}

// Output coordinate fed by input coordinate `in` through tap t (-1 if none): solves
// in = o·stride − pad + t·dil for o in [0, out).
__device__ __forceinline__ int64_t out_coord(int64_t in, int64_t t, int64_t stride, int64_t pad,
                                             int64_t dil, int64_t out) {
  const int64_t num = in + pad - t * dil;
  if (num < 0 || num % stride != 0) return -1;
  const int64_t o = num / stride;
  return o < out ? o : -1;
}

// ---------------------------------------------------------------- im2col / col2im
// x (C, H, W) -> col (C·kh·kw, oh·ow), rows ordered (c, i, j).
template <typename T>
__global__ void im2col_kernel(const T* x, Geom g, T* col) {
  const int64_t L = g.oh * g.ow;
  GRID_STRIDE_LOOP(e, g.c * g.kh * g.kw * L) {
    const int64_t row = e / L, l = e % L;
    const int64_t c = row / (g.kh * g.kw), i = (row / g.kw) % g.kh, j = row % g.kw;
    const int64_t iy = (l / g.ow) * g.sh - g.ph + i * g.dh;
    const int64_t ix = (l % g.ow) * g.sw - g.pw + j * g.dw;
    col[e] = (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) ? x[(c * g.h + iy) * g.w + ix] : T(0);
  }
}

// gx (C, H, W) += the col entries that were read from each pixel.
template <typename T>
__global__ void col2im_kernel(const T* col, Geom g, T* gx) {
  const int64_t L = g.oh * g.ow;
  GRID_STRIDE_LOOP(e, g.c * g.h * g.w) {
    const int64_t c = e / (g.h * g.w), iy = (e / g.w) % g.h, ix = e % g.w;
    T acc = T(0);
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t oy = out_coord(iy, i, g.sh, g.ph, g.dh, g.oh);
      if (oy < 0) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t ox = out_coord(ix, j, g.sw, g.pw, g.dw, g.ow);
        if (ox >= 0) acc += col[((c * g.kh + i) * g.kw + j) * L + oy * g.ow + ox];
      }
    }
    gx[e] += acc;
  }
}

// ---------------------------------------------------------------- depthwise
// x (N, C, H, W), w (C | N·C, kh·kw) -> y (N, C, oh, ow)
template <typename T>
__global__ void depthwise_kernel(const T* x, const T* w, Geom g, bool per_sample, T* y) {
  const int64_t ohw = g.oh * g.ow, kk = g.kh * g.kw;
  GRID_STRIDE_LOOP(e, g.n * g.c * ohw) {
    const int64_t p = e / ohw, oy = (e % ohw) / g.ow, ox = e % g.ow;  // p = (n, c) plane
    const T* f = w + (per_sample ? p : p % g.c) * kk;
    const T* xp = x + p * g.h * g.w;
    T acc = T(0);
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t iy = oy * g.sh - g.ph + i * g.dh;
      if (iy < 0 || iy >= g.h) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t ix = ox * g.sw - g.pw + j * g.dw;
        if (ix >= 0 && ix < g.w) acc += f[i * g.kw + j] * xp[iy * g.w + ix];
      }
    }
    y[e] = acc;
  }
}

// gx (N, C, H, W) = Σ_taps w · gy at the outputs each pixel fed (overwrites).
template <typename T>
__global__ void depthwise_grad_input_kernel(const T* gy, const T* w, Geom g, bool per_sample,
                                            T* gx) {
  const int64_t hw = g.h * g.w, ohw = g.oh * g.ow, kk = g.kh * g.kw;
  GRID_STRIDE_LOOP(e, g.n * g.c * hw) {
    const int64_t p = e / hw, iy = (e % hw) / g.w, ix = e % g.w;
    const T* f = w + (per_sample ? p : p % g.c) * kk;
    const T* gp = gy + p * ohw;
    T acc = T(0);
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t oy = out_coord(iy, i, g.sh, g.ph, g.dh, g.oh);
      if (oy < 0) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t ox = out_coord(ix, j, g.sw, g.pw, g.dw, g.ow);
        if (ox >= 0) acc += f[i * g.kw + j] * gp[oy * g.ow + ox];
      }
    }
    gx[e] = acc;
  }
}

// One block per (filter slot, tap): gw[slot, tap] = Σ gy · x over the slot's images and all
// output pixels. A slot is a channel c (summed over the batch) or, per-sample, an (n, c).
template <typename T>
__global__ void depthwise_grad_filter_kernel(const T* x, const T* gy, Geom g, bool per_sample,
                                             T* gw) {
  const int64_t kk = g.kh * g.kw, slot = blockIdx.x / kk, tap = blockIdx.x % kk;
  const int64_t i = tap / g.kw, j = tap % g.kw, c = slot % g.c;
  const int64_t n0 = per_sample ? slot / g.c : 0, nimg = per_sample ? 1 : g.n;
  const int64_t ohw = g.oh * g.ow;
  double acc = 0;
  for (int64_t e = threadIdx.x; e < nimg * ohw; e += blockDim.x) {
    const int64_t p = (n0 + e / ohw) * g.c + c, oy = (e % ohw) / g.ow, ox = e % g.ow;
    const int64_t iy = oy * g.sh - g.ph + i * g.dh, ix = ox * g.sw - g.pw + j * g.dw;
    if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w)
      acc += (double)gy[p * ohw + oy * g.ow + ox] * (double)x[(p * g.h + iy) * g.w + ix];
  }
  acc = group_allreduce<kThreads>(acc, SumOp{});
  if (threadIdx.x == 0) gw[slot * kk + tap] = (T)acc;
}

// ---------------------------------------------------------------- pooling
// torch's avg-pool window along one axis: [start, end) clipped to the input, and the padded
// length used as divisor with count_include_pad.
struct Window {
  int64_t start, end, padded_len;
};
__device__ __forceinline__ Window pool_window(int64_t o, int64_t k, int64_t s, int64_t p,
                                              int64_t in) {
  int64_t start = o * s - p, end = min(start + k, in + p);
  const int64_t padded = end - start;
  return {max(start, (int64_t)0), min(end, in), padded};
}
// torch's adaptive bins: [floor(o·in/out), ceil((o+1)·in/out)).
__device__ __forceinline__ Window adaptive_window(int64_t o, int64_t in, int64_t out) {
  const int64_t start = o * in / out, end = ((o + 1) * in + out - 1) / out;
  return {start, end, end - start};
}

template <typename T>
__global__ void avg_pool_kernel(const T* x, Geom g, bool include_pad, T* y) {
  const int64_t ohw = g.oh * g.ow;
  GRID_STRIDE_LOOP(e, g.n * g.c * ohw) {
    const int64_t p = e / ohw, oy = (e % ohw) / g.ow, ox = e % g.ow;
    const Window wy = pool_window(oy, g.kh, g.sh, g.ph, g.h);
    const Window wx = pool_window(ox, g.kw, g.sw, g.pw, g.w);
    const T* xp = x + p * g.h * g.w;
    T s = T(0);
    for (int64_t iy = wy.start; iy < wy.end; ++iy)
      for (int64_t ix = wx.start; ix < wx.end; ++ix) s += xp[iy * g.w + ix];
    const int64_t div = include_pad ? wy.padded_len * wx.padded_len
                                    : (wy.end - wy.start) * (wx.end - wx.start);
    y[e] = s / T(div);
  }
}

// One thread per input pixel: the windows containing row iy are those with
// oy·sh − ph <= iy < oy·sh − ph + kh, i.e. oy in [ceil((iy + ph − kh + 1)/sh), (iy + ph)/sh].
template <typename T>
__global__ void avg_pool_backward_kernel(const T* gy, Geom g, bool include_pad, T* gx) {
  const int64_t hw = g.h * g.w, ohw = g.oh * g.ow;
  GRID_STRIDE_LOOP(e, g.n * g.c * hw) {
    const int64_t p = e / hw, iy = (e % hw) / g.w, ix = e % g.w;
    const int64_t ny = iy + g.ph, nx = ix + g.pw;
    const int64_t oy0 = ny - g.kh + 1 <= 0 ? 0 : (ny - g.kh + 1 + g.sh - 1) / g.sh;
    const int64_t ox0 = nx - g.kw + 1 <= 0 ? 0 : (nx - g.kw + 1 + g.sw - 1) / g.sw;
    const int64_t oy1 = min(g.oh - 1, ny / g.sh), ox1 = min(g.ow - 1, nx / g.sw);
    const T* gp = gy + p * ohw;
    T acc = T(0);
    for (int64_t oy = oy0; oy <= oy1; ++oy) {
      const Window wy = pool_window(oy, g.kh, g.sh, g.ph, g.h);
      for (int64_t ox = ox0; ox <= ox1; ++ox) {
        const Window wx = pool_window(ox, g.kw, g.sw, g.pw, g.w);
        const int64_t div = include_pad ? wy.padded_len * wx.padded_len
                                        : (wy.end - wy.start) * (wx.end - wx.start);
        acc += gp[oy * g.ow + ox] / T(div);
      }
    }
    gx[e] = acc;
  }
}

template <typename T>
__global__ void adaptive_pool_kernel(const T* x, int64_t planes, int64_t H, int64_t W,
                                     int64_t oh, int64_t ow, T* y) {
  GRID_STRIDE_LOOP(e, planes * oh * ow) {
    const int64_t p = e / (oh * ow), oy = (e / ow) % oh, ox = e % ow;
    const Window wy = adaptive_window(oy, H, oh), wx = adaptive_window(ox, W, ow);
    const T* xp = x + p * H * W;
    T s = T(0);
    for (int64_t iy = wy.start; iy < wy.end; ++iy)
      for (int64_t ix = wx.start; ix < wx.end; ++ix) s += xp[iy * W + ix];
    y[e] = s / T(wy.padded_len * wx.padded_len);
  }
}

// Bins containing input row iy: oy in [floor(iy·oh/H), ceil((iy+1)·oh/H) − 1], checked.
template <typename T>
__global__ void adaptive_pool_backward_kernel(const T* gy, int64_t planes, int64_t H, int64_t W,
                                              int64_t oh, int64_t ow, T* gx) {
  GRID_STRIDE_LOOP(e, planes * H * W) {
    const int64_t p = e / (H * W), iy = (e / W) % H, ix = e % W;
    const int64_t oy0 = iy * oh / H, oy1 = min(oh - 1, ((iy + 1) * oh + H - 1) / H - 1);
    const int64_t ox0 = ix * ow / W, ox1 = min(ow - 1, ((ix + 1) * ow + W - 1) / W - 1);
    const T* gp = gy + p * oh * ow;
    T acc = T(0);
    for (int64_t oy = oy0; oy <= oy1; ++oy) {
      const Window wy = adaptive_window(oy, H, oh);
      if (iy < wy.start || iy >= wy.end) continue;
      for (int64_t ox = ox0; ox <= ox1; ++ox) {
        const Window wx = adaptive_window(ox, W, ow);
        if (ix < wx.start || ix >= wx.end) continue;
        acc += gp[oy * ow + ox] / T(wy.padded_len * wx.padded_len);
      }
    }
    gx[e] = acc;
  }
}

// ---------------------------------------------------------------- interpolation
// The input taps of output coordinate o along one axis, as the CPU's make_taps: coordinates
// and weights in double (torch's area_pixel_compute_source_index), weights rounded to T.
// mode 0 bilinear: 2 taps (upper index clamped to the edge); mode 1 bicubic: 4 taps at
// floor−1 … floor+2 clamped into [0, in), Keys kernel with a = −0.75.
template <typename T>
struct Taps {
  int n;
  int64_t idx[4];
  T wt[4];
};

template <typename T>
__device__ Taps<T> make_taps(int64_t o, int64_t in, int64_t out, int mode, bool align_corners) {
  double src;
  if (align_corners) {
    src = out > 1 ? (double)o * (double)(in - 1) / (double)(out - 1) : 0.0;
  } else {
    src = ((double)o + 0.5) * (double)in / (double)out - 0.5;
    if (mode == 0 && src < 0) src = 0.0;
  }
  Taps<T> t;
  if (mode == 0) {
    const int64_t i0 = (int64_t)src;
    const double l1 = fmin(fmax(src - (double)i0, 0.0), 1.0);
    t.n = 2;
    t.idx[0] = i0;
    t.idx[1] = i0 + (i0 < in - 1 ? 1 : 0);
    t.wt[0] = T(1.0 - l1);
    t.wt[1] = T(l1);
  } else {
    constexpr double A = -0.75;
    auto cubic1 = [](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
    auto cubic2 = [](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
    const double f = floor(src), u = src - f;
    const double c[4] = {cubic2(u + 1), cubic1(u), cubic1(1 - u), cubic2(2 - u)};
    t.n = 4;
    for (int k = 0; k < 4; ++k) {
      t.idx[k] = min(max((int64_t)f - 1 + k, (int64_t)0), in - 1);
      t.wt[k] = T(c[k]);
    }
  }
  return t;
}

template <typename T>
__global__ void interpolate_kernel(const T* x, int64_t planes, int64_t H, int64_t W, int64_t oh,
                                   int64_t ow, int mode, bool align_corners, T* y) {
  GRID_STRIDE_LOOP(e, planes * oh * ow) {
    const int64_t p = e / (oh * ow), oy = (e / ow) % oh, ox = e % ow;
    const Taps<T> ty = make_taps<T>(oy, H, oh, mode, align_corners);
    const Taps<T> tx = make_taps<T>(ox, W, ow, mode, align_corners);
    const T* xp = x + p * H * W;
    T s = T(0);
    for (int a = 0; a < ty.n; ++a) {
      const T* row = xp + ty.idx[a] * W;
      T r = T(0);
      for (int b = 0; b < tx.n; ++b) r += tx.wt[b] * row[tx.idx[b]];
      s += ty.wt[a] * r;
    }
    y[e] = s;
  }
}

// Scatter of each output gradient to its taps (gx zeroed first). atomicAdd: see the header.
template <typename T>
__global__ void interpolate_backward_kernel(const T* gy, int64_t planes, int64_t H, int64_t W,
                                            int64_t oh, int64_t ow, int mode, bool align_corners,
                                            T* gx) {
  GRID_STRIDE_LOOP(e, planes * oh * ow) {
    const int64_t p = e / (oh * ow), oy = (e / ow) % oh, ox = e % ow;
    const Taps<T> ty = make_taps<T>(oy, H, oh, mode, align_corners);
    const Taps<T> tx = make_taps<T>(ox, W, ow, mode, align_corners);
    T* xp = gx + p * H * W;
    const T v = gy[e];
    for (int a = 0; a < ty.n; ++a) {
      T* row = xp + ty.idx[a] * W;
      const T va = ty.wt[a] * v;
      for (int b = 0; b < tx.n; ++b) atomicAdd(row + tx.idx[b], tx.wt[b] * va);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- entry points
void CudaBackend::im2col(const Tensor& x, const Conv2dGeom& g, Tensor& col) {
  activate();
  check_device("im2col", *this, x);
  dispatch_float(x.dtype(), "im2col", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Geom gg = to_geom(g);
    VT_LAUNCH("im2col", im2col_kernel<T>, grid_for(gg.c * gg.kh * gg.kw * gg.oh * gg.ow),
              kThreads, 0, stream_, x.data<T>(), gg, col.data<T>());
  });
}

void CudaBackend::col2im(const Tensor& col, const Conv2dGeom& g, Tensor& gx) {
  activate();
  check_device("col2im", *this, col);
  dispatch_float(col.dtype(), "col2im", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Geom gg = to_geom(g);
    VT_LAUNCH("col2im", col2im_kernel<T>, grid_for(gg.c * gg.h * gg.w), kThreads, 0, stream_,
              col.data<T>(), gg, gx.data<T>());
  });
}

void CudaBackend::depthwise_conv2d(const Tensor& x, const Tensor& w, const Conv2dGeom& g,
                                   bool per_sample, Tensor& y) {
  activate();
  check_device("depthwise_conv2d", *this, x);
  dispatch_float(x.dtype(), "depthwise_conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Geom gg = to_geom(g);
    VT_LAUNCH("depthwise_conv2d", depthwise_kernel<T>, grid_for(gg.n * gg.c * gg.oh * gg.ow),
              kThreads, 0, stream_, x.data<T>(), w.data<T>(), gg, per_sample, y.data<T>());
  });
}

// gx needs w, gw needs x; either output may be undefined (not wanted).
void CudaBackend::depthwise_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy,
                                            const Conv2dGeom& g, bool per_sample, Tensor& gx,
                                            Tensor& gw) {
  activate();
  check_device("depthwise_conv2d_backward", *this, gy);
  dispatch_float(gy.dtype(), "depthwise_conv2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Geom gg = to_geom(g);
    if (gx.defined())
      VT_LAUNCH("depthwise_conv2d_grad_input", depthwise_grad_input_kernel<T>,
                grid_for(gg.n * gg.c * gg.h * gg.w), kThreads, 0, stream_, gy.data<T>(),
                w.data<T>(), gg, per_sample, gx.data<T>());
    if (gw.defined()) {
      const int64_t slots = per_sample ? gg.n * gg.c : gg.c;
      VT_LAUNCH("depthwise_conv2d_grad_filter", depthwise_grad_filter_kernel<T>,
                (unsigned)(slots * gg.kh * gg.kw), kThreads, 0, stream_, x.data<T>(),
                gy.data<T>(), gg, per_sample, gw.data<T>());
    }
  });
}

void CudaBackend::avg_pool2d(const Tensor& x, const Conv2dGeom& g, bool count_include_pad,
                             Tensor& y) {
  activate();
  check_device("avg_pool2d", *this, x);
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Geom gg = to_geom(g);
    VT_LAUNCH("avg_pool2d", avg_pool_kernel<T>, grid_for(gg.n * gg.c * gg.oh * gg.ow), kThreads,
              0, stream_, x.data<T>(), gg, count_include_pad, y.data<T>());
  });
}

void CudaBackend::avg_pool2d_backward(const Tensor& gy, const Conv2dGeom& g,
                                      bool count_include_pad, Tensor& gx) {
  activate();
  check_device("avg_pool2d_backward", *this, gy);
  dispatch_float(gy.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Geom gg = to_geom(g);
    VT_LAUNCH("avg_pool2d_backward", avg_pool_backward_kernel<T>,
              grid_for(gg.n * gg.c * gg.h * gg.w), kThreads, 0, stream_, gy.data<T>(), gg,
              count_include_pad, gx.data<T>());
  });
}

void CudaBackend::adaptive_avg_pool2d(const Tensor& x, Tensor& y) {
  activate();
  check_device("adaptive_avg_pool2d", *this, x);
  dispatch_float(x.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t planes = x.size(0) * x.size(1), oh = y.size(2), ow = y.size(3);
    VT_LAUNCH("adaptive_avg_pool2d", adaptive_pool_kernel<T>, grid_for(planes * oh * ow),
              kThreads, 0, stream_, x.data<T>(), planes, x.size(2), x.size(3), oh, ow,
              y.data<T>());
  });
}

void CudaBackend::adaptive_avg_pool2d_backward(const Tensor& gy, Tensor& gx) {
  activate();
  check_device("adaptive_avg_pool2d_backward", *this, gy);
  dispatch_float(gy.dtype(), "adaptive_avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t planes = gx.size(0) * gx.size(1), H = gx.size(2), W = gx.size(3);
    VT_LAUNCH("adaptive_avg_pool2d_backward", adaptive_pool_backward_kernel<T>,
              grid_for(planes * H * W), kThreads, 0, stream_, gy.data<T>(), planes, H, W,
              gy.size(2), gy.size(3), gx.data<T>());
  });
}

void CudaBackend::interpolate(const Tensor& x, Tensor& y, int mode, bool align_corners) {
  activate();
  check_device("interpolate", *this, x);
  if (mode != 0 && mode != 1) throw Error("interpolate: unknown mode " + std::to_string(mode));
  dispatch_float(x.dtype(), "interpolate", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t planes = x.size(0) * x.size(1), oh = y.size(2), ow = y.size(3);
    VT_LAUNCH("interpolate", interpolate_kernel<T>, grid_for(planes * oh * ow), kThreads, 0,
              stream_, x.data<T>(), planes, x.size(2), x.size(3), oh, ow, mode, align_corners,
              y.data<T>());
  });
}

void CudaBackend::interpolate_backward(const Tensor& gy, Tensor& gx, int mode,
                                       bool align_corners) {
  activate();
  check_device("interpolate_backward", *this, gy);
  if (mode != 0 && mode != 1)
    throw Error("interpolate_backward: unknown mode " + std::to_string(mode));
  dispatch_float(gy.dtype(), "interpolate_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t planes = gx.size(0) * gx.size(1), oh = gy.size(2), ow = gy.size(3);
    VT_CUDA_CHECK(cudaMemsetAsync(gx.raw(), 0, gx.nbytes(), stream_));
    VT_LAUNCH("interpolate_backward", interpolate_backward_kernel<T>, grid_for(planes * oh * ow),
              kThreads, 0, stream_, gy.data<T>(), planes, gx.size(2), gx.size(3), oh, ow, mode,
              align_corners, gx.data<T>());
  });
}

}  // namespace vt::cuda
