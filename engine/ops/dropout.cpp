// dropout.cpp — dropout and drop_path (stochastic depth), with masks from the default generator.
//
//   dropout:   y = x · keep / (1 - p),        keep ~ Bernoulli(1 - p) per element
//   drop_path: y = x · keep_b / (1 - p),      keep_b ~ Bernoulli(1 - p) per sample (dim 0)
//   backward:  gx = g · keep / (1 - p)        (the same mask; nothing else is saved)
//
// An element is kept when its uniform draw u (engine/random.h) satisfies u < 1 - p, so a fixed
// seed gives the same mask on every device. Both are the identity when !training or p == 0,
// and produce zeros when p == 1 (as torch), without touching the generator in either case.
#include <string>

#include "engine/ops/op_utils.h"
#include "engine/random.h"

namespace vt {

static void check_p(const char* op, const Tensor& x, double p) {
  check_defined(op, x);
  check_float(op, x);
  if (!(p >= 0.0 && p <= 1.0))
    throw Error(std::string(op) + ": probability p must be in [0, 1], got " + std::to_string(p) +
                " (input " + shape_str(x.shape()) + ")");
}

// keep ? t · scale : 0, for t of keep's shape (any strides).
static Tensor masked_scale(const Tensor& keep, const Tensor& t, double scale) {
  Backend& be = backend_for(t);
  Tensor tc = contiguous_raw(t);
  Tensor out = empty_like(tc);
  be.unary(UnaryOp::MulScalar, tc, out, scale);
  Tensor zero = Tensor::zeros({}, tc.dtype(), tc.device());
  be.where(keep, out, expand_raw(zero, tc.shape()), out);  // element-wise, so in place is safe
  return out;
}

Tensor dropout(const Tensor& x, double p, bool training) {
  check_p("dropout", x, p);
  if (!training || p == 0.0) return x;
  if (p == 1.0) return mul(x, 0.0);  // everything dropped; the gradient is zero too
  // x: (...) -> keep: (...) U8, one byte per element (4x smaller than a float mask).
  Backend& be = backend_for(x);
  Tensor keep = Tensor::empty(x.shape(), DType::U8, x.device());
  {
    Tensor u = rand(x.shape(), 0.0, 1.0, x.dtype(), x.device());
    Tensor threshold = Tensor::full({}, 1.0 - p, x.dtype(), x.device());
    be.binary(BinaryOp::Lt, u, expand_raw(threshold, u.shape()), u);  // u <- (u < 1-p), 1/0
    be.copy(u, keep);
  }
  const double scale = 1.0 / (1.0 - p);
  Tensor y = masked_scale(keep, x, scale);
  if (auto ctx = grad_ctx({x})) {
    record(y, "dropout", ctx, [keep, scale](const Tensor& g) -> Grads {
      return {masked_scale(keep, g, scale)};
    }, {keep});
  }
  return y;
}

Tensor drop_path(const Tensor& x, double p, bool training) {
  check_p("drop_path", x, p);
  if (!training || p == 0.0) return x;
  if (x.dim() == 0)
    throw Error("drop_path: input needs a batch dim, got shape " + shape_str(x.shape()));
  // x: (B, ...) -> mask: (B, 1, ..., 1) holding keep_b / (1 - p), broadcast over each sample.
  Shape ms(x.dim(), 1);
  ms[0] = x.size(0);
  Tensor mask;
  {
    NoGrad ng;
    Tensor u = rand(ms, 0.0, 1.0, x.dtype(), x.device());
    Tensor keep = lt(u, Tensor::full(ms, 1.0 - p, x.dtype(), x.device()));
    mask = p < 1.0 ? mul(keep, 1.0 / (1.0 - p)) : keep;  // p == 1: all zeros
  }
  // mul saves only the (B)-element mask for dx, since the mask needs no gradient.
  return mul(x, mask);
}

}  // namespace vt
