// conv.cpp — CPU convolution kernels: im2col / col2im for the GEMM path, and a direct
// depthwise convolution (one filter per channel, optionally one filter set per image).
//
// Index convention (NCHW): output pixel (oy, ox) with kernel tap (i, j) reads input pixel
//   iy = oy·sh − ph + i·dh,   ix = ox·sw − pw + j·dw
// and taps that fall into the zero padding contribute nothing. `valid_range` gives, for one
// tap, the range of output coordinates whose input coordinate lies inside the image, so the
// inner loops run without bounds checks.
#include <algorithm>

#include "engine/cpu/cpu_backend.h"

namespace vt {

namespace {

// Output coordinates o in [lo, hi) with 0 <= o·stride + off < in (clamped to [0, out)).
struct Range {
  int64_t lo, hi;
};
inline Range valid_range(int64_t out, int64_t stride, int64_t off, int64_t in) {
  int64_t lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  int64_t hi = in - 1 - off < 0 ? 0 : std::min(out, (in - 1 - off) / stride + 1);
  return {std::min(lo, hi), hi};
}

// One (C·kh·kw, oh·ow) column matrix from one image (C, H, W); rows are ordered (c, i, j) so
// that W (O, C·kh·kw) × col is the convolution.
template <typename T>
void im2col_impl(const T* x, const Conv2dGeom& g, T* col) {
  const int64_t oh = g.oh(), ow = g.ow(), L = oh * ow, rows = g.c * g.kh * g.kw;
#pragma omp parallel for if (rows * L > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r / (g.kh * g.kw), i = (r / g.kw) % g.kh, j = r % g.kw;
    const T* plane = x + c * g.h * g.w;
    T* dst = col + r * L;
    std::fill(dst, dst + L, T(0));
    const Range ry = valid_range(oh, g.sh, i * g.dh - g.ph, g.h);
    const Range rx = valid_range(ow, g.sw, j * g.dw - g.pw, g.w);
    for (int64_t oy = ry.lo; oy < ry.hi; ++oy) {
      const int64_t base = (oy * g.sh - g.ph + i * g.dh) * g.w + (j * g.dw - g.pw);
      for (int64_t ox = rx.lo; ox < rx.hi; ++ox) dst[oy * ow + ox] = plane[base + ox * g.sw];
    }
  }
}

// The adjoint of im2col: every column entry is added back to the input pixel it was read
// from. Parallel over channels (a channel's rows only touch its own plane): no races, and the
// summation order is fixed, so the result is deterministic.
template <typename T>
void col2im_impl(const T* col, const Conv2dGeom& g, T* gx) {
  const int64_t oh = g.oh(), ow = g.ow(), L = oh * ow, kk = g.kh * g.kw;
#pragma omp parallel for if (g.c * kk * L > kParallelGrain)
  for (int64_t c = 0; c < g.c; ++c) {
    T* plane = gx + c * g.h * g.w;
    for (int64_t i = 0; i < g.kh; ++i) {
      const Range ry = valid_range(oh, g.sh, i * g.dh - g.ph, g.h);
      for (int64_t j = 0; j < g.kw; ++j) {
        const Range rx = valid_range(ow, g.sw, j * g.dw - g.pw, g.w);
        const T* src = col + ((c * g.kh + i) * g.kw + j) * L;
        for (int64_t oy = ry.lo; oy < ry.hi; ++oy) {
          const int64_t base = (oy * g.sh - g.ph + i * g.dh) * g.w + (j * g.dw - g.pw);
          for (int64_t ox = rx.lo; ox < rx.hi; ++ox) plane[base + ox * g.sw] += src[oy * ow + ox];
        }
      }
    }
  }
}

// y plane (oh, ow) = x plane (H, W) ⋆ filter (kh, kw)
template <typename T>
void dw_plane_forward(const T* x, const T* f, const Conv2dGeom& g, T* y) {
  const int64_t oh = g.oh(), ow = g.ow();
  std::fill(y, y + oh * ow, T(0));
  for (int64_t i = 0; i < g.kh; ++i) {
    const Range ry = valid_range(oh, g.sh, i * g.dh - g.ph, g.h);
    for (int64_t j = 0; j < g.kw; ++j) {
      const Range rx = valid_range(ow, g.sw, j * g.dw - g.pw, g.w);
      const T wv = f[i * g.kw + j];
      for (int64_t oy = ry.lo; oy < ry.hi; ++oy) {
        const int64_t base = (oy * g.sh - g.ph + i * g.dh) * g.w + (j * g.dw - g.pw);
        T* dst = y + oy * ow;
        for (int64_t ox = rx.lo; ox < rx.hi; ++ox) dst[ox] += wv * x[base + ox * g.sw];
      }
    }
  }
}

// gx plane (H, W) = Σ taps filter[i, j] · gy scattered back (overwrites gx).
template <typename T>
void dw_plane_grad_input(const T* gy, const T* f, const Conv2dGeom& g, T* gx) {
  const int64_t oh = g.oh(), ow = g.ow();
  std::fill(gx, gx + g.h * g.w, T(0));
  for (int64_t i = 0; i < g.kh; ++i) {
    const Range ry = valid_range(oh, g.sh, i * g.dh - g.ph, g.h);
    for (int64_t j = 0; j < g.kw; ++j) {
      const Range rx = valid_range(ow, g.sw, j * g.dw - g.pw, g.w);
      const T wv = f[i * g.kw + j];
      for (int64_t oy = ry.lo; oy < ry.hi; ++oy) {
        const int64_t base = (oy * g.sh - g.ph + i * g.dh) * g.w + (j * g.dw - g.pw);
        const T* src = gy + oy * ow;
        for (int64_t ox = rx.lo; ox < rx.hi; ++ox) gx[base + ox * g.sw] += wv * src[ox];
      }
    }
  }
}

// gf (kh, kw) += Σ_{oy,ox} gy[oy, ox] · x[iy, ix] for one plane.
template <typename T>
void dw_plane_grad_filter(const T* x, const T* gy, const Conv2dGeom& g, T* gf) {
  const int64_t oh = g.oh(), ow = g.ow();
  for (int64_t i = 0; i < g.kh; ++i) {
    const Range ry = valid_range(oh, g.sh, i * g.dh - g.ph, g.h);
    for (int64_t j = 0; j < g.kw; ++j) {
      const Range rx = valid_range(ow, g.sw, j * g.dw - g.pw, g.w);
      T acc = T(0);
      for (int64_t oy = ry.lo; oy < ry.hi; ++oy) {
        const int64_t base = (oy * g.sh - g.ph + i * g.dh) * g.w + (j * g.dw - g.pw);
        const T* gr = gy + oy * ow;
        for (int64_t ox = rx.lo; ox < rx.hi; ++ox) acc += gr[ox] * x[base + ox * g.sw];
      }
      gf[i * g.kw + j] += acc;
    }
  }
}

}  // namespace

void CpuBackend::im2col(const Tensor& x, const Conv2dGeom& g, Tensor& col) {
  dispatch_float(x.dtype(), "im2col", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    im2col_impl(x.data<scalar_t>(), g, col.data<scalar_t>());
  });
}

void CpuBackend::col2im(const Tensor& col, const Conv2dGeom& g, Tensor& gx) {
  dispatch_float(col.dtype(), "col2im", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    col2im_impl(col.data<scalar_t>(), g, gx.data<scalar_t>());
  });
}

// x: (N, C, H, W), w: (C, 1, kh, kw) or (N, C, 1, kh, kw) -> y: (N, C, oh, ow)
void CpuBackend::depthwise_conv2d(const Tensor& x, const Tensor& w, const Conv2dGeom& g,
                                  bool per_sample, Tensor& y) {
  dispatch_float(x.dtype(), "depthwise_conv2d", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const scalar_t* px = x.data<scalar_t>();
    const scalar_t* pw = w.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
    const int64_t planes = g.n * g.c, hw = g.h * g.w, ohw = g.oh() * g.ow(), kk = g.kh * g.kw;
#pragma omp parallel for if (planes * ohw * kk > kParallelGrain)
    for (int64_t p = 0; p < planes; ++p) {
      const int64_t filter = per_sample ? p : p % g.c;  // (n, c) or c
      dw_plane_forward(px + p * hw, pw + filter * kk, g, py + p * ohw);
    }
  });
}

// gx: (N, C, H, W) needs w; gw: w's shape, needs x. Either may be undefined (not wanted).
void CpuBackend::depthwise_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy,
                                           const Conv2dGeom& g, bool per_sample, Tensor& gx,
                                           Tensor& gw) {
  dispatch_float(gy.dtype(), "depthwise_conv2d_backward", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const scalar_t* pg = gy.data<scalar_t>();
    const int64_t planes = g.n * g.c, hw = g.h * g.w, ohw = g.oh() * g.ow(), kk = g.kh * g.kw;
    const bool par = planes * ohw * kk > kParallelGrain;
    if (gx.defined()) {
      const scalar_t* pw = w.data<scalar_t>();
      scalar_t* pgx = gx.data<scalar_t>();
#pragma omp parallel for if (par)
      for (int64_t p = 0; p < planes; ++p) {
        const int64_t filter = per_sample ? p : p % g.c;
        dw_plane_grad_input(pg + p * ohw, pw + filter * kk, g, pgx + p * hw);
      }
    }
    if (gw.defined()) {
      // One filter slot per (n, c) when per-sample, else per c summed over the batch (in
      // batch order, so the result does not depend on the thread count).
      const scalar_t* px = x.data<scalar_t>();
      scalar_t* pgw = gw.data<scalar_t>();
      const int64_t slots = per_sample ? planes : g.c;
#pragma omp parallel for if (par)
      for (int64_t s = 0; s < slots; ++s) {
        scalar_t* gf = pgw + s * kk;
        std::fill(gf, gf + kk, scalar_t(0));
        const int64_t n0 = per_sample ? s / g.c : 0, n1 = per_sample ? n0 + 1 : g.n;
        const int64_t c = s % g.c;
        for (int64_t n = n0; n < n1; ++n) {
          const int64_t p = n * g.c + c;
          dw_plane_grad_filter(px + p * hw, pg + p * ohw, g, gf);
        }
      }
    }
  });
}

}  // namespace vt
