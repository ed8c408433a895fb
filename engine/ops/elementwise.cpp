// elementwise.cpp — broadcasting binary ops, scalar ops and activations, forward and backward.
//
// A binary op's gradient w.r.t. a broadcast input is summed back to that input's shape
// (sum_to). Each op saves only what the requested gradients need: mul saves b only if a needs
// a gradient, and a only if b does.
#include "engine/ops/op_utils.h"

namespace vt {

// ---------------------------------------------------------------- binary
static Tensor binary_raw(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  check_defined(name, a);
  check_defined(name, b);
  check_same(name, a, b);
  check_float(name, a);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.numel()) backend_for(a).binary(op, expand_raw(a, shape), expand_raw(b, shape), out);
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Add, "add", a, b);
  if (auto ctx = grad_ctx({a, b})) {
    Shape sa = a.shape(), sb = b.shape();
    record(out, "add", ctx, [sa, sb](const Tensor& g) -> Grads {
      return {sum_to(g, sa), sum_to(g, sb)};
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Sub, "sub", a, b);
  if (auto ctx = grad_ctx({a, b})) {
    Shape sa = a.shape(), sb = b.shape();
    bool nb = ctx[1];
    record(out, "sub", ctx, [sa, sb, nb](const Tensor& g) -> Grads {
      return {sum_to(g, sa), nb ? neg(sum_to(g, sb)) : Tensor()};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Mul, "mul", a, b);
  if (auto ctx = grad_ctx({a, b})) {
    Tensor sa = ctx[1] ? a.detach() : Tensor();  // dL/db needs a
    Tensor sb = ctx[0] ? b.detach() : Tensor();  // dL/da needs b
    Shape sha = a.shape(), shb = b.shape();
    record(out, "mul", ctx, [sa, sb, sha, shb](const Tensor& g) -> Grads {
      return {sb.defined() ? sum_to(mul(g, sb), sha) : Tensor(),
              sa.defined() ? sum_to(mul(g, sa), shb) : Tensor()};
    }, {sa, sb});
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Div, "div", a, b);
  if (auto ctx = grad_ctx({a, b})) {
    Tensor sb = b.detach();
    Tensor so = ctx[1] ? out.detach() : Tensor();  // d(a/b)/db = -out/b
    Shape sha = a.shape(), shb = b.shape();
    bool na = ctx[0];
    record(out, "div", ctx, [sb, so, sha, shb, na](const Tensor& g) -> Grads {
      Tensor gb_over = div(g, sb);
      return {na ? sum_to(gb_over, sha) : Tensor(),
              so.defined() ? neg(sum_to(mul(gb_over, so), shb)) : Tensor()};
    }, {sb, so});
  }
  return out;
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Max, "maximum", a, b);
  if (auto ctx = grad_ctx({a, b})) {
    Tensor mask = binary_raw(BinaryOp::Lt, "maximum", a.detach(), b.detach());  // 1 where b wins
    Shape sha = a.shape(), shb = b.shape();
    record(out, "maximum", ctx, [mask, sha, shb](const Tensor& g) -> Grads {
      Tensor gb = mul(g, mask);
      return {sum_to(sub(g, gb), sha), sum_to(gb, shb)};
    }, {mask});
  }
  return out;
}

Tensor eq(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::Eq, "eq", a.detach(), b.detach()); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::Gt, "gt", a.detach(), b.detach()); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::Lt, "lt", a.detach(), b.detach()); }

// ---------------------------------------------------------------- unary
// Which of input x / output y the derivative formula reads (see cpu/elementwise.cpp).
static bool grad_uses_y(UnaryOp op) {
  switch (op) {
    case UnaryOp::Exp: case UnaryOp::Sqrt: case UnaryOp::Rsqrt: case UnaryOp::Tanh:
    case UnaryOp::Sigmoid: case UnaryOp::RDivScalar: return true;
    default: return false;
  }
}
static bool grad_uses_x(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: case UnaryOp::Exp: case UnaryOp::Sqrt: case UnaryOp::Rsqrt:
    case UnaryOp::Tanh: case UnaryOp::Sigmoid: case UnaryOp::AddScalar:
    case UnaryOp::MulScalar: case UnaryOp::RSubScalar: return false;
    default: return true;
  }
}

static Tensor unary_op(UnaryOp op, const char* name, const Tensor& x, double alpha = 0.0) {
  check_defined(name, x);
  check_float(name, x);
  Tensor xc = contiguous_raw(x);
  Tensor y = empty_like(xc);
  if (y.numel()) backend_for(x).unary(op, xc, y, alpha);
  if (auto ctx = grad_ctx({x})) {
    Tensor sx = grad_uses_x(op) ? xc : Tensor();
    Tensor sy = grad_uses_y(op) ? y.detach() : Tensor();
    record(y, name, ctx, [op, alpha, sx, sy](const Tensor& g) -> Grads {
      Tensor gc = contiguous_raw(g);
      Tensor gx = empty_like(gc);
      backend_for(gc).unary_backward(op, sx, sy, gc, gx, alpha);
      return {gx};
    }, {sx, sy});
  }
  return y;
}

Tensor add(const Tensor& a, double s) { return unary_op(UnaryOp::AddScalar, "add_scalar", a, s); }
Tensor mul(const Tensor& a, double s) { return unary_op(UnaryOp::MulScalar, "mul_scalar", a, s); }
Tensor rsub(double s, const Tensor& a) { return unary_op(UnaryOp::RSubScalar, "rsub", a, s); }
Tensor rdiv(double s, const Tensor& a) { return unary_op(UnaryOp::RDivScalar, "rdiv", a, s); }
Tensor pow(const Tensor& a, double p) { return unary_op(UnaryOp::PowScalar, "pow", a, p); }
Tensor neg(const Tensor& x) { return unary_op(UnaryOp::Neg, "neg", x); }
Tensor exp(const Tensor& x) { return unary_op(UnaryOp::Exp, "exp", x); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::Log, "log", x); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::Sqrt, "sqrt", x); }
Tensor rsqrt(const Tensor& x) { return unary_op(UnaryOp::Rsqrt, "rsqrt", x); }
Tensor abs(const Tensor& x) { return unary_op(UnaryOp::Abs, "abs", x); }
Tensor square(const Tensor& x) { return unary_op(UnaryOp::Square, "square", x); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryOp::Tanh, "tanh", x); }
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::Sigmoid, "sigmoid", x); }
Tensor relu(const Tensor& x) { return unary_op(UnaryOp::Relu, "relu", x); }
Tensor gelu(const Tensor& x, bool tanh_approx) {
  return tanh_approx ? unary_op(UnaryOp::GeluTanh, "gelu_tanh", x) : unary_op(UnaryOp::Gelu, "gelu", x);
}
// y = GELU(x) in BF16, x F32 or BF16 (math in F32, Backend::unary); dx = GELU'(x) · dy, in F32
// or (bf16_grad) BF16.
Tensor gelu_bf16(const Tensor& x, bool bf16_grad) {
  const char* name = "gelu_bf16";
  check_defined(name, x);
  if (x.dtype() != DType::F32 && x.dtype() != DType::BF16)
    throw Error(std::string(name) + ": expected an F32 or BF16 tensor, got " + dtype_name(x.dtype()));
  Tensor xc = contiguous_raw(x);
  Tensor y = Tensor::empty(xc.shape(), DType::BF16, xc.device());
  if (y.numel()) backend_for(x).unary(UnaryOp::Gelu, xc, y, 0.0);
  if (auto ctx = grad_ctx({x})) {
    Tensor sx = xc.detach();
    record(y, name, ctx, [sx, bf16_grad](const Tensor& g) -> Grads {
      Tensor gc = contiguous_raw(g.dtype() == DType::BF16 ? g.to(DType::F32) : g);  // (F32 from fc2's dX)
      Tensor gx = Tensor::empty(gc.shape(), bf16_grad ? DType::BF16 : DType::F32, gc.device());
      if (gx.numel()) backend_for(gc).unary_backward(UnaryOp::Gelu, sx, Tensor(), gc, gx, 0.0);
      return {gx};
    }, {sx});
  }
  return y;
}
Tensor quick_gelu(const Tensor& x) { return unary_op(UnaryOp::QuickGelu, "quick_gelu", x); }
Tensor softplus(const Tensor& x) { return unary_op(UnaryOp::Softplus, "softplus", x); }

}  // namespace vt
