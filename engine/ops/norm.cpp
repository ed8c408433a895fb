// norm.cpp — layer norm over the last dim, one fused kernel each way.
//
//   x: (..., D), w, b: (D) or undefined -> y: (..., D)
//   y = (x - mean) · rstd ⊙ w + b,  mean/rstd per row, rstd = 1/sqrt(biased var + eps)
//
// What the gradients need, and so what is saved (frozen-awareness):
//   dx needs x, mean, rstd and w;   dw needs x, mean, rstd;   db needs nothing but g.
// A frozen weight therefore costs no dw work, and a layer norm whose input needs no gradient
// and whose weight is frozen saves nothing at all (db alone is a column sum of g).
#include "engine/ops/op_utils.h"

namespace vt {

static void check_affine(const Tensor& x, const Tensor& p, const char* what) {
  if (!p.defined()) return;
  check_same("layer_norm", x, p);
  if (p.dim() != 1 || p.size(0) != x.size(-1))
    throw Error(std::string("layer_norm: ") + what + " of shape " + shape_str(p.shape()) +
                " does not match input " + shape_str(x.shape()) + " (expected [" +
                std::to_string(x.size(-1)) + "])");
}

Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  check_defined("layer_norm", x);
  check_float("layer_norm", x);
  if (x.dim() == 0) throw Error("layer_norm: input must have at least 1 dim, got []");
  check_affine(x, w, "weight");
  check_affine(x, b, "bias");
  const int64_t D = x.size(-1), R = D ? x.numel() / D : 0;

  Tensor xc = contiguous_raw(x);                       // (R, D)
  Tensor wc = w.defined() ? contiguous_raw(w) : Tensor();
  Tensor bc = b.defined() ? contiguous_raw(b) : Tensor();
  Tensor y = empty_like(xc);                           // (R, D)
  Tensor mean = Tensor::empty({R}, x.dtype(), x.device());
  Tensor rstd = Tensor::empty({R}, x.dtype(), x.device());
  if (y.numel()) backend_for(x).layer_norm(xc, wc, bc, eps, y, mean, rstd);

  if (auto ctx = grad_ctx({x, w, b})) {
    const bool nx = ctx[0], nw = ctx[1], nb = ctx[2];
    const bool need_stats = nx || nw;                  // x̂ appears in dx and dw only
    Tensor sx = need_stats ? xc : Tensor();
    Tensor sm = need_stats ? mean : Tensor();
    Tensor sr = need_stats ? rstd : Tensor();
    Tensor sw = nx ? wc : Tensor();                    // only dx reads the weight
    Shape xs = x.shape();
    record(y, "layer_norm", ctx, [sx, sm, sr, sw, xs, nx, nw, nb, D](const Tensor& g) -> Grads {
      Tensor gc = contiguous_raw(g);                   // (R, D)
      Grads r(3);
      if (nx) r[0] = Tensor::empty(xs, gc.dtype(), gc.device());
      if (nw) r[1] = Tensor::empty({D}, gc.dtype(), gc.device());
      if (nb) r[2] = Tensor::empty({D}, gc.dtype(), gc.device());
      if (gc.numel()) {
        backend_for(gc).layer_norm_backward(sx, sw, sm, sr, gc, r[0], r[1], r[2]);
      } else {  // no rows: the column sums are empty sums
        if (nw) backend_for(gc).fill(r[1], 0.0);
        if (nb) backend_for(gc).fill(r[2], 0.0);
      }
      return r;
    }, {sx, sm, sr, sw});
  }
  return y;
}

}  // namespace vt
