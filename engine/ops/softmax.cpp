// softmax.cpp — softmax and log_softmax over any dim.
//
// The backend kernels work on the last dim. Another dim is moved last with a transpose (an
// autograd-aware view), normalised there, and the result transposed back, so the gradient
// flows through the same two views.
//
// Backward needs only the output y (softmax: gx = y ⊙ (g - Σ g ⊙ y); log_softmax:
// gx = g - exp(y) · Σ g), so y is the one tensor saved — never the input.
#include "engine/ops/op_utils.h"

namespace vt {

static Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_defined(name, x);
  check_float(name, x);
  if (x.dim() == 0) return softmax_impl(x.reshape({1}), 0, log).reshape({});
  const int64_t d = wrap_dim(dim, x.dim(), name);
  const int64_t last = x.dim() - 1;
  if (d != last) return softmax_impl(x.transpose(d, last), last, log).transpose(d, last);

  // x: (..., D) -> y: (..., D), normalised along D
  Tensor xc = contiguous_raw(x);
  Tensor y = empty_like(xc);
  if (y.numel()) backend_for(x).softmax(xc, y, log);
  if (auto ctx = grad_ctx({x})) {
    Tensor sy = y.detach();
    record(y, name, ctx, [sy, log](const Tensor& g) -> Grads {
      Tensor gc = contiguous_raw(g);
      Tensor gx = empty_like(gc);
      if (gx.numel()) backend_for(gc).softmax_backward(sy, gc, gx, log);
      return {gx};
    }, {sy});
  }
  return y;
}

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

}  // namespace vt
