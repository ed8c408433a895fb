// roi_align.cpp — RoIAlign (Mask R-CNN's region features), torchvision.ops.roi_align's
// semantics; engine/roi_align_math.h has the sampling, the backends the kernels.
//
// RoIAlign is linear in x, so the backward needs only the rois and the geometry: the output
// gradient is scattered back with the forward's bilinear weights. The rois get no gradient
// (Mask R-CNN detaches its proposals).
#include <cmath>

#include "engine/ops/op_utils.h"

namespace vt {

namespace {

// Each roi must name an image of the batch and lie where sampling it stays bounded: finite,
// and with the adaptive grid at most kMaxGrid samples a side per bin.
constexpr double kMaxGrid = 1024;

void check_rois(const Tensor& rois_cpu, const RoiAlignGeom& g) {
  dispatch_float(rois_cpu.dtype(), "roi_align", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* r = rois_cpu.data<T>();
    for (int64_t k = 0; k < g.k; ++k, r += 5) {
      auto where = [&] {
        std::string s = "roi_align: roi " + std::to_string(k) + " (";
        for (int i = 0; i < 5; ++i) s += (i ? ", " : "") + std::to_string((double)r[i]);
        return s + ")";
      };
      for (int i = 0; i < 5; ++i)
        if (!std::isfinite((double)r[i])) throw Error(where() + " is not finite");
      if (r[0] != std::floor(r[0]) || r[0] < 0 || r[0] >= g.n)
        throw Error(where() + ": batch index must be an integer in [0, " + std::to_string(g.n) +
                    ")");
      const double s = g.spatial_scale;
      const double span_h = std::abs((double)r[4] - (double)r[2]) * s / g.oh;
      const double span_w = std::abs((double)r[3] - (double)r[1]) * s / g.ow;
      if (g.sampling_ratio <= 0 && (span_h > kMaxGrid || span_w > kMaxGrid))
        throw Error(where() + " spans more than " + std::to_string((int)kMaxGrid) +
                    " map pixels per bin: the adaptive sampling grid would be unbounded");
    }
  });
}

}  // namespace

// x: (N, C, H, W), rois: (K, 5) rows (batch index, x1, y1, x2, y2) -> (K, C, oh, ow)
Tensor roi_align(const Tensor& x, const Tensor& rois, std::vector<int64_t> output_size,
                 double spatial_scale, int64_t sampling_ratio, bool aligned) {
  const char* op = "roi_align";
  check_defined(op, x);
  check_defined(op, rois, "rois");
  check_float(op, x);
  check_same(op, x, rois);
  if (x.dim() != 4 || rois.dim() != 2 || rois.size(1) != 5)
    throw Error("roi_align: expected x (N, C, H, W) and rois (K, 5), got " + shape_str(x.shape()) +
                " and " + shape_str(rois.shape()));
  if (output_size.size() != 2 || output_size[0] < 1 || output_size[1] < 1)
    throw Error("roi_align: output_size must be two sizes >= 1");
  if (!(spatial_scale > 0) || !std::isfinite(spatial_scale))
    throw Error("roi_align: spatial_scale must be positive and finite, got " +
                std::to_string(spatial_scale));
  if (x.size(2) < 1 || x.size(3) < 1)
    throw Error("roi_align: empty feature map " + shape_str(x.shape()));
  RoiAlignGeom g;
  g.n = x.size(0), g.c = x.size(1), g.h = x.size(2), g.w = x.size(3);
  g.k = rois.size(0), g.oh = output_size[0], g.ow = output_size[1];
  g.spatial_scale = spatial_scale, g.sampling_ratio = sampling_ratio, g.aligned = aligned;
  Tensor rc = contiguous_raw(rois);
  check_rois(rc.device() == Device::cpu() ? rc : rc.to(Device::cpu()), g);
  Tensor xc = contiguous_raw(x);
  Tensor y = Tensor::empty({g.k, g.c, g.oh, g.ow}, x.dtype(), x.device());
  if (y.numel()) backend_for(x).roi_align(xc, rc, g, y);
  if (auto ctx = grad_ctx({x})) {
    record(y, op, ctx, [g, rc](const Tensor& gy) -> Grads {
      Tensor gc = contiguous_raw(gy);  // (K, C, oh, ow)
      Tensor gx = Tensor::empty({g.n, g.c, g.h, g.w}, gc.dtype(), gc.device());
      if (gx.numel()) backend_for(gc).roi_align_backward(gc, rc, g, gx);
      return {gx};
    }, {rc});
  }
  return y;
}

}  // namespace vt
