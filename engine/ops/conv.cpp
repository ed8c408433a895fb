// conv.cpp — conv2d: dense and grouped convolution as im2col + GEMM, depthwise convolution as a
// direct kernel, and per-sample (dynamic) kernels, forward and backward.
//
//   x: (N, C, H, W), w: (O, C/g, kh, kw), b: (O) -> y: (N, O, oh, ow)
//   per-sample: w: (N, O, C/g, kh, kw), image n is convolved with w[n]; dW is per image too.
//
// Dense / grouped path, per image n (batched over a chunk of images where there are no groups),
// with K = C/g·kh·kw, L = oh·ow, Og = O/g:
//   col = im2col(x[n])                          (C·kh·kw, L); group gi owns rows [gi·K, (gi+1)·K)
//   y[n, gi]  = W[gi] (Og, K) · col[gi] (K, L)  one GEMM batched over the groups
//   dW[gi]   += gY[n, gi] (Og, L) · col[gi]ᵀ    needs x (col is rebuilt from it in backward;
//                                               x is kh·kw times smaller than col)
//   dX[n]     = col2im(W[gi]ᵀ · gY[n, gi])      needs W
//   db        = Σ_{n, oy, ox} gY                needs nothing
// Depthwise (groups == C == O, the 3×3 convs of Convpass / iConFormer) skips im2col and runs
// the backend's direct kernel, with the same save rules. A frozen weight therefore saves only
// W, and no dW work is done.
#include <algorithm>
#include <tuple>
#include <utility>

#include "engine/ops/op_utils.h"

namespace vt {

namespace {

// (a, b) from a 1- or 2-element option (torch accepts an int for both dims).
std::pair<int64_t, int64_t> pair_arg(const std::vector<int64_t>& v, const char* op,
                                     const char* what) {
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1]};
  throw Error(std::string(op) + ": " + what + " needs 1 or 2 values, got " +
              std::to_string(v.size()));
}

// t[n] of a contiguous tensor, as a contiguous view without autograd.
Tensor slice0(const Tensor& t, int64_t n) {
  Shape s(t.shape().begin() + 1, t.shape().end());
  return Tensor::make_view(t.storage(), s, contiguous_strides(s), t.offset() + n * t.strides()[0],
                           t.dtype());
}

// y (N, O, oh, ow) += b (O), in place.
void add_bias(Backend& be, Tensor& y, const Tensor& b) {
  const int64_t N = y.size(0), O = y.size(1), L = y.size(2) * y.size(3);
  Tensor y3 = Tensor::make_view(y.storage(), {N, O, L}, {O * L, L, 1}, y.offset(), y.dtype());
  Tensor b3 = Tensor::make_view(b.storage(), {N, O, L}, {0, b.strides()[0], 0}, b.offset(),
                                b.dtype());
  be.binary(BinaryOp::Add, y3, b3, y3);
}

struct DenseDims {
  int64_t O, groups, Og, K, L;
  DenseDims(const Conv2dGeom& g, int64_t O, int64_t groups)
      : O(O), groups(groups), Og(O / groups), K(g.c / groups * g.kh * g.kw), L(g.oh() * g.ow()) {}
};

// Images whose columns are built at once: all of them, unless those would pass 2^24 elements
// (64 MB in F32). Without groups a chunk's products are then one batched GEMM each, instead of
// one small GEMM per image (Convpass: 8 channels on a 14×14 grid, thousands a step).
int64_t chunk_images(const Conv2dGeom& g, const DenseDims& d) {
  const int64_t per_image = std::max<int64_t>(d.groups * d.K * d.L, 1);
  return std::clamp<int64_t>((int64_t(1) << 24) / per_image, 1, g.n);
}

// col[i] = im2col(x[n0 + i]) for i < m
void im2col_chunk(Backend& be, const Tensor& x, const Conv2dGeom& g, int64_t n0, int64_t m, Tensor& col) {
  for (int64_t i = 0; i < m; ++i) {
    Tensor ci = slice0(col, i);
    be.im2col(slice0(x, n0 + i), g, ci);
  }
}

// x: (N, C, H, W), w: (O, C/g, kh, kw) or (N, O, ...) -> y: (N, O, oh, ow); all contiguous.
void dense_forward(Backend& be, const Tensor& x, const Tensor& w, const Conv2dGeom& g,
                   const DenseDims& d, bool per_sample, Tensor& y) {
  const int64_t nb = chunk_images(g, d), GK = d.groups * d.K, ws = per_sample ? d.O * d.K : 0;
  Tensor col = Tensor::empty({nb, GK, d.L}, x.dtype(), x.device());  // (m, C·kh·kw, L)
  for (int64_t n0 = 0; n0 < g.n; n0 += nb) {
    const int64_t m = std::min(nb, g.n - n0);
    im2col_chunk(be, x, g, n0, m, col);
    const char* wn = static_cast<const char*>(w.raw()) + (per_sample ? n0 * ws * dtype_size(w.dtype()) : 0);
    if (d.groups == 1) {  // y[n] (O, L) = W (O, K) · col[n] (K, L), batched over the m images
      be.gemm(x.dtype(), false, false, d.O, d.L, d.K, 1.0, wn, d.K, ws, col.raw(), d.L, d.K * d.L, 0.0,
              slice0(y, n0).raw(), d.L, d.O * d.L, m);
      continue;
    }
    for (int64_t i = 0; i < m; ++i)  // per image and group: (Og, K) · (K, L) -> (Og, L)
      be.gemm(x.dtype(), false, false, d.Og, d.L, d.K, 1.0, wn + i * ws * dtype_size(w.dtype()), d.K, d.Og * d.K,
              slice0(col, i).raw(), d.L, d.K * d.L, 0.0, slice0(y, n0 + i).raw(), d.L, d.Og * d.L, d.groups);
  }
}

// gx (N, C, H, W) from w; gw (w's shape) from x. Undefined outputs are skipped.
void dense_backward(Backend& be, const Tensor& x, const Tensor& w, const Tensor& gy,
                    const Conv2dGeom& g, const DenseDims& d, bool per_sample, Tensor& gx,
                    Tensor& gw) {
  const DType dt = gy.dtype();
  const int64_t nb = chunk_images(g, d), GK = d.groups * d.K, ws = per_sample ? d.O * d.K : 0;
  const size_t es = dtype_size(dt);
  Tensor col = Tensor::empty({nb, GK, d.L}, dt, gy.device());  // col, then dcol
  // Without groups, a shared W's gradient is summed over a chunk's images by one more GEMM:
  // gW (1, O·K) += 1 (1, m) · gWn (m, O·K)
  const bool sum_images = gw.defined() && d.groups == 1 && !per_sample;
  Tensor gwn = sum_images ? Tensor::empty({nb, d.O * d.K}, dt, gy.device()) : Tensor();
  Tensor ones = sum_images ? Tensor::ones({1, nb}, dt, gy.device()) : Tensor();
  if (gx.defined()) be.fill(gx, 0.0);
  if (gw.defined()) be.fill(gw, 0.0);
  for (int64_t n0 = 0; n0 < g.n; n0 += nb) {
    const int64_t m = std::min(nb, g.n - n0);
    const char* gyn = static_cast<const char*>(gy.raw()) + n0 * d.O * d.L * es;  // (m, O, L)
    if (gw.defined()) {
      im2col_chunk(be, x, g, n0, m, col);
      char* gwp = static_cast<char*>(gw.raw()) + (per_sample ? n0 * ws * es : 0);
      if (d.groups == 1) {  // dW[n] (O, K) = gY[n] (O, L) · col[n]ᵀ (L, K), batched over the m images
        be.gemm(dt, false, true, d.O, d.K, d.L, 1.0, gyn, d.L, d.O * d.L, col.raw(), d.L, d.K * d.L, 0.0,
                sum_images ? gwn.raw() : gwp, d.K, d.O * d.K, m);
        if (sum_images)
          be.gemm(dt, false, false, 1, d.O * d.K, m, 1.0, ones.raw(), m, 0, gwn.raw(), d.O * d.K, 0, 1.0, gw.raw(),
                  d.O * d.K, 0, 1);
      } else {
        for (int64_t i = 0; i < m; ++i)  // dW[gi] (Og, K) += gY[n, gi] (Og, L) · col[gi]ᵀ (L, K)
          be.gemm(dt, false, true, d.Og, d.K, d.L, 1.0, gyn + i * d.O * d.L * es, d.L, d.Og * d.L,
                  slice0(col, i).raw(), d.L, d.K * d.L, 1.0, gwp + i * ws * es, d.K, d.Og * d.K, d.groups);
      }
    }
    if (gx.defined()) {
      // dcol[gi] (K, L) = W[gi]ᵀ (K, Og) · gY[n, gi] (Og, L);  gx[n] += col2im(dcol)
      const char* wn = static_cast<const char*>(w.raw()) + (per_sample ? n0 * ws * es : 0);
      if (d.groups == 1)  // batched over the m images
        be.gemm(dt, true, false, d.K, d.L, d.O, 1.0, wn, d.K, ws, gyn, d.L, d.O * d.L, 0.0, col.raw(), d.L,
                d.K * d.L, m);
      else
        for (int64_t i = 0; i < m; ++i)
          be.gemm(dt, true, false, d.K, d.L, d.Og, 1.0, wn + i * ws * es, d.K, d.Og * d.K, gyn + i * d.O * d.L * es,
                  d.L, d.Og * d.L, 0.0, slice0(col, i).raw(), d.L, d.K * d.L, d.groups);
      for (int64_t i = 0; i < m; ++i) {
        Tensor gxn = slice0(gx, n0 + i);
        be.col2im(slice0(col, i), g, gxn);
      }
    }
  }
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, std::vector<int64_t> stride,
              std::vector<int64_t> padding, std::vector<int64_t> dilation, int64_t groups) {
  const char* op = "conv2d";
  check_defined(op, x);
  check_defined(op, w, "weight");
  check_same(op, x, w);
  check_float(op, x);
  auto shapes = [&] {
    return "input " + shape_str(x.shape()) + ", weight " + shape_str(w.shape()) + ", groups " +
           std::to_string(groups);
  };
  if (x.dim() != 4 || (w.dim() != 4 && w.dim() != 5))
    throw Error("conv2d: expected input (N, C, H, W) and weight (O, C/groups, kh, kw) or "
                "(N, O, C/groups, kh, kw); got " + shapes());
  const bool per_sample = w.dim() == 5;
  const int64_t N = x.size(0), C = x.size(1), O = w.size(-4);
  if (per_sample && w.size(0) != N)
    throw Error("conv2d: a per-sample weight needs one filter set per image; got " + shapes());
  if (groups < 1 || C % groups != 0 || O % groups != 0)
    throw Error("conv2d: groups must divide both input channels and output channels; got " +
                shapes());
  if (w.size(-3) * groups != C)
    throw Error("conv2d: channel mismatch, weight expects " + std::to_string(w.size(-3) * groups) +
                " input channels, input has " + std::to_string(C) + "; got " + shapes());

  Conv2dGeom g;
  g.n = N, g.c = C, g.h = x.size(2), g.w = x.size(3), g.kh = w.size(-2), g.kw = w.size(-1);
  std::tie(g.sh, g.sw) = pair_arg(stride, op, "stride");
  std::tie(g.ph, g.pw) = pair_arg(padding, op, "padding");
  std::tie(g.dh, g.dw) = pair_arg(dilation, op, "dilation");
  if (g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.ph < 0 || g.pw < 0)
    throw Error("conv2d: stride and dilation must be >= 1 and padding >= 0; got " + shapes());
  if (g.h + 2 * g.ph < g.dh * (g.kh - 1) + 1 || g.w + 2 * g.pw < g.dw * (g.kw - 1) + 1)
    throw Error("conv2d: (dilated) kernel is larger than the padded input; got " + shapes() +
                ", padding [" + std::to_string(g.ph) + ", " + std::to_string(g.pw) + "]");
  if (b.defined()) {
    check_same(op, x, b);
    if (b.dim() != 1 || b.size(0) != O)
      throw Error("conv2d: bias " + shape_str(b.shape()) + " does not match " + shapes());
  }

  Tensor xc = contiguous_raw(x);  // (N, C, H, W)
  Tensor wc = contiguous_raw(w);  // ([N,] O, C/g, kh, kw)
  Tensor y = Tensor::empty({N, O, g.oh(), g.ow()}, x.dtype(), x.device());
  Backend& be = backend_for(x);
  const bool depthwise = groups == C && O == C;
  const DenseDims d(g, O, groups);
  if (y.numel()) {
    if (depthwise) be.depthwise_conv2d(xc, wc, g, per_sample, y);
    else dense_forward(be, xc, wc, g, d, per_sample, y);
    if (b.defined()) add_bias(be, y, b);
  }

  if (auto ctx = grad_ctx({x, w, b})) {
    Tensor sx = ctx[1] ? xc : Tensor();  // only dW needs the input
    Tensor sw = ctx[0] ? wc : Tensor();  // only dX needs the weight
    Shape xs = x.shape(), ws = w.shape();
    const bool nb = ctx[2];
    record(y, "conv2d", ctx, [=](const Tensor& gy) -> Grads {
      Tensor gc = contiguous_raw(gy);  // (N, O, oh, ow)
      Backend& be = backend_for(gc);
      Grads r(3);
      if (sw.defined()) r[0] = Tensor::empty(xs, gc.dtype(), gc.device());
      if (sx.defined()) r[1] = Tensor::empty(ws, gc.dtype(), gc.device());
      if (depthwise) be.depthwise_conv2d_backward(sx, sw, gc, g, per_sample, r[0], r[1]);
      else dense_backward(be, sx, sw, gc, g, d, per_sample, r[0], r[1]);
      if (nb) r[2] = sum(gc, {0, 2, 3});
      return r;
    }, {sx, sw});
  }
  return y;
}

}  // namespace vt
