// roi_align.cpp — CPU RoIAlign kernels (engine/roi_align_math.h has where the samples fall).
//
// A roi's taps are the same for every channel, so each roi first lists its taps once, bin by
// bin (offset in the plane, weight), and then runs that list over its C channels. The forward
// runs rois in parallel. The backward lists the taps of every roi, then runs channels in
// parallel: a channel's scatter stays in its own planes and goes in a fixed order, so the
// input gradient is deterministic.
#include <algorithm>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/roi_align_math.h"

namespace vt {

namespace {

template <typename T>
struct RoiTaps {
  int64_t batch = 0;
  std::vector<int64_t> start;  // bin b's taps are [start[b], start[b + 1])
  std::vector<int64_t> offset;
  std::vector<T> weight;
};

template <typename T>
void list_taps(const T* roi, const RoiAlignGeom& g, RoiTaps<T>& t) {
  const RoiBins<T> r = roi_bins(roi, g);
  t.batch = r.batch;
  t.start.assign(1, 0);
  t.offset.clear();
  t.weight.clear();
  for (int64_t py = 0; py < g.oh; ++py)
    for (int64_t px = 0; px < g.ow; ++px) {
      roi_bin_taps(r, py, px, g.h, g.w, [&](int64_t o, T w) {
        t.offset.push_back(o);
        t.weight.push_back(w);
      });
      t.start.push_back((int64_t)t.offset.size());
    }
}

}  // namespace

// x: (N, C, H, W), rois: (K, 5) -> y: (K, C, oh, ow)
void CpuBackend::roi_align(const Tensor& x, const Tensor& rois, const RoiAlignGeom& g, Tensor& y) {
  dispatch_float(x.dtype(), "roi_align", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    const T* pr = rois.data<T>();
    T* py = y.data<T>();
    const int64_t plane = g.h * g.w, bins = g.oh * g.ow;
#pragma omp parallel
    {
      RoiTaps<T> t;
#pragma omp for schedule(dynamic, 1)
      for (int64_t k = 0; k < g.k; ++k) {
        list_taps(pr + 5 * k, g, t);
        for (int64_t c = 0; c < g.c; ++c) {
          const T* xp = px + (t.batch * g.c + c) * plane;
          T* yp = py + (k * g.c + c) * bins;
          for (int64_t b = 0; b < bins; ++b) {
            T s = T(0);
            for (int64_t i = t.start[b]; i < t.start[b + 1]; ++i) s += t.weight[i] * xp[t.offset[i]];
            yp[b] = s;
          }
        }
      }
    }
  });
}

// gy: (K, C, oh, ow), rois: (K, 5) -> gx: (N, C, H, W), zeroed here
void CpuBackend::roi_align_backward(const Tensor& gy, const Tensor& rois, const RoiAlignGeom& g,
                                    Tensor& gx) {
  dispatch_float(gy.dtype(), "roi_align_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pg = gy.data<T>();
    const T* pr = rois.data<T>();
    T* px = gx.data<T>();
    const int64_t plane = g.h * g.w, bins = g.oh * g.ow;
    std::fill(px, px + gx.numel(), T(0));
    std::vector<RoiTaps<T>> taps(g.k);
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t k = 0; k < g.k; ++k) list_taps(pr + 5 * k, g, taps[k]);
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t k = 0; k < g.k; ++k) {
        const RoiTaps<T>& t = taps[k];
        T* xp = px + (t.batch * g.c + c) * plane;
        const T* gp = pg + (k * g.c + c) * bins;
        for (int64_t b = 0; b < bins; ++b)
          for (int64_t i = t.start[b]; i < t.start[b + 1]; ++i) xp[t.offset[i]] += t.weight[i] * gp[b];
      }
  });
}

}  // namespace vt
