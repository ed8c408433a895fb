// roi_align.cu — CUDA RoIAlign (engine/roi_align_math.h has where the samples fall; the CPU
// kernels are engine/cpu/roi_align.cpp).
//
// One thread per output element (k, c, py, px). The forward sums its taps; the backward
// scatters the output gradient to the same taps with atomicAdd (F32 and F64), so its sum order
// varies from run to run: input gradients agree with the CPU to rounding, not bit for bit.
#include "engine/cuda/cuda_common.cuh"
#include "engine/roi_align_math.h"

namespace vt::cuda {

namespace {

template <typename T>
__global__ void roi_align_kernel(const T* x, const T* rois, RoiAlignGeom g, T* y) {
  GRID_STRIDE_LOOP(e, g.k * g.c * g.oh * g.ow) {
    const int64_t px = e % g.ow, py = (e / g.ow) % g.oh, c = (e / (g.ow * g.oh)) % g.c;
    const int64_t k = e / (g.ow * g.oh * g.c);
    const RoiBins<T> r = roi_bins(rois + 5 * k, g);
    const T* plane = x + (r.batch * g.c + c) * g.h * g.w;
    T s = T(0);
    roi_bin_taps(r, py, px, g.h, g.w, [&](int64_t o, T w) { s += w * plane[o]; });
    y[e] = s;
  }
}

template <typename T>
__global__ void roi_align_backward_kernel(const T* gy, const T* rois, RoiAlignGeom g, T* gx) {
  GRID_STRIDE_LOOP(e, g.k * g.c * g.oh * g.ow) {
    const int64_t px = e % g.ow, py = (e / g.ow) % g.oh, c = (e / (g.ow * g.oh)) % g.c;
    const int64_t k = e / (g.ow * g.oh * g.c);
    const RoiBins<T> r = roi_bins(rois + 5 * k, g);
    T* plane = gx + (r.batch * g.c + c) * g.h * g.w;
    const T v = gy[e];
    roi_bin_taps(r, py, px, g.h, g.w, [&](int64_t o, T w) { atomicAdd(plane + o, w * v); });
  }
}

}  // namespace

void CudaBackend::roi_align(const Tensor& x, const Tensor& rois, const RoiAlignGeom& g, Tensor& y) {
  activate();
  check_device("roi_align", *this, x);
  dispatch_float(x.dtype(), "roi_align", [&](auto tag) {
    using T = typename decltype(tag)::type;
    VT_LAUNCH("roi_align", roi_align_kernel<T>, grid_for(g.k * g.c * g.oh * g.ow), kThreads, 0,
              stream_, x.data<T>(), rois.data<T>(), g, y.data<T>());
  });
}

void CudaBackend::roi_align_backward(const Tensor& gy, const Tensor& rois, const RoiAlignGeom& g,
                                     Tensor& gx) {
  activate();
  check_device("roi_align_backward", *this, gy);
  fill(gx, 0.0);
  dispatch_float(gy.dtype(), "roi_align_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    VT_LAUNCH("roi_align_backward", roi_align_backward_kernel<T>,
              grid_for(g.k * g.c * g.oh * g.ow), kThreads, 0, stream_, gy.data<T>(),
              rois.data<T>(), g, gx.data<T>());
  });
}

}  // namespace vt::cuda
