// pool.cpp — pooling and resampling ops on NCHW images: avg_pool2d, adaptive_avg_pool2d and
// interpolate (bilinear / bicubic), forward and backward.
//
// All three are linear in x, so their backward needs no saved tensor: only the geometry. The
// backward kernels scatter the output gradient with the forward's weights.
#include "engine/ops/op_utils.h"

namespace vt {

namespace {

void check_image(const char* op, const Tensor& x) {
  check_defined(op, x);
  check_float(op, x);
  if (x.dim() != 4)
    throw Error(std::string(op) + ": expected (N, C, H, W), got " + shape_str(x.shape()));
}

// (a, b) from a 1- or 2-element option (torch accepts an int for both dims).
void pair_arg(const std::vector<int64_t>& v, const char* op, const char* what, int64_t& a,
              int64_t& b) {
  if (v.size() != 1 && v.size() != 2)
    throw Error(std::string(op) + ": " + what + " needs 1 or 2 values, got " +
                std::to_string(v.size()));
  a = v[0];
  b = v.back();
}

}  // namespace

// x: (N, C, H, W) -> (N, C, oh, ow); stride defaults to the kernel.
Tensor avg_pool2d(const Tensor& x, std::vector<int64_t> kernel, std::vector<int64_t> stride,
                  std::vector<int64_t> padding, bool count_include_pad) {
  const char* op = "avg_pool2d";
  check_image(op, x);
  Conv2dGeom g;
  g.n = x.size(0), g.c = x.size(1), g.h = x.size(2), g.w = x.size(3);
  pair_arg(kernel, op, "kernel", g.kh, g.kw);
  pair_arg(stride.empty() ? kernel : stride, op, "stride", g.sh, g.sw);
  pair_arg(padding, op, "padding", g.ph, g.pw);
  auto desc = [&] {
    return "input " + shape_str(x.shape()) + ", kernel [" + std::to_string(g.kh) + ", " +
           std::to_string(g.kw) + "], padding [" + std::to_string(g.ph) + ", " +
           std::to_string(g.pw) + "]";
  };
  if (g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1 || g.ph < 0 || g.pw < 0)
    throw Error("avg_pool2d: kernel and stride must be >= 1, padding >= 0; got " + desc());
  if (2 * g.ph > g.kh || 2 * g.pw > g.kw)  // as torch: padding at most half the kernel
    throw Error("avg_pool2d: padding must be at most half the kernel; got " + desc());
  if (g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw)
    throw Error("avg_pool2d: kernel is larger than the padded input; got " + desc());
  Tensor xc = contiguous_raw(x);
  Tensor y = Tensor::empty({g.n, g.c, g.oh(), g.ow()}, x.dtype(), x.device());
  if (y.numel()) backend_for(x).avg_pool2d(xc, g, count_include_pad, y);
  if (auto ctx = grad_ctx({x})) {
    record(y, op, ctx, [g, count_include_pad](const Tensor& gy) -> Grads {
      Tensor gc = contiguous_raw(gy);  // (N, C, oh, ow)
      Tensor gx = Tensor::empty({g.n, g.c, g.h, g.w}, gc.dtype(), gc.device());
      if (gx.numel()) backend_for(gc).avg_pool2d_backward(gc, g, count_include_pad, gx);
      return {gx};
    });
  }
  return y;
}

// x: (N, C, H, W) -> (N, C, oh, ow); output (i, j) averages the bin
// rows [floor(i·H/oh), ceil((i+1)·H/oh)) × cols [floor(j·W/ow), ceil((j+1)·W/ow)).
Tensor adaptive_avg_pool2d(const Tensor& x, std::vector<int64_t> output_size) {
  const char* op = "adaptive_avg_pool2d";
  check_image(op, x);
  int64_t oh, ow;
  pair_arg(output_size, op, "output_size", oh, ow);
  if (oh < 1 || ow < 1 || x.size(2) < 1 || x.size(3) < 1)
    throw Error("adaptive_avg_pool2d: needs a non-empty input and output, got input " +
                shape_str(x.shape()) + " and output size [" + std::to_string(oh) + ", " +
                std::to_string(ow) + "]");
  Tensor xc = contiguous_raw(x);
  Tensor y = Tensor::empty({x.size(0), x.size(1), oh, ow}, x.dtype(), x.device());
  if (y.numel()) backend_for(x).adaptive_avg_pool2d(xc, y);
  if (auto ctx = grad_ctx({x})) {
    Shape xs = x.shape();
    record(y, op, ctx, [xs](const Tensor& gy) -> Grads {
      Tensor gc = contiguous_raw(gy);
      Tensor gx = Tensor::empty(xs, gc.dtype(), gc.device());
      if (gx.numel()) backend_for(gc).adaptive_avg_pool2d_backward(gc, gx);
      return {gx};
    });
  }
  return y;
}

// x: (N, C, H, W) -> (N, C, size[0], size[1]), torch.nn.functional.interpolate semantics
// (source coordinates from align_corners; bicubic with a = −0.75 and edge-clamped taps).
Tensor interpolate(const Tensor& x, std::vector<int64_t> size, const std::string& mode,
                   bool align_corners) {
  const char* op = "interpolate";
  check_image(op, x);
  int m;
  if (mode == "bilinear") m = 0;
  else if (mode == "bicubic") m = 1;
  else throw Error("interpolate: unknown mode '" + mode + "' (expected bilinear or bicubic)");
  int64_t oh, ow;
  pair_arg(size, op, "size", oh, ow);
  if (oh < 1 || ow < 1 || x.size(2) < 1 || x.size(3) < 1)
    throw Error("interpolate: needs a non-empty input and output, got input " +
                shape_str(x.shape()) + " and size [" + std::to_string(oh) + ", " +
                std::to_string(ow) + "]");
  Tensor xc = contiguous_raw(x);
  Tensor y = Tensor::empty({x.size(0), x.size(1), oh, ow}, x.dtype(), x.device());
  if (y.numel()) backend_for(x).interpolate(xc, y, m, align_corners);
  if (auto ctx = grad_ctx({x})) {
    Shape xs = x.shape();
    record(y, op, ctx, [xs, m, align_corners](const Tensor& gy) -> Grads {
      Tensor gc = contiguous_raw(gy);
      Tensor gx = Tensor::empty(xs, gc.dtype(), gc.device());
      if (gx.numel()) backend_for(gc).interpolate_backward(gc, gx, m, align_corners);
      return {gx};
    });
  }
  return y;
}

}  // namespace vt
