// matmul.cpp — matmul (batched, broadcasting) and linear, both straight onto backend GEMM.
//
//   matmul: a (..., M, K) @ b (..., K, N) -> (..., M, N)
//           da = g @ bᵀ (needs b),  db = aᵀ @ g (needs a)
//   linear: x (..., K), w (N, K), b (N) -> y = x wᵀ + b   (..., N)
//           dx = g w (needs w),  dw = gᵀ x (needs x),  db = Σ_rows g (needs nothing)
// A frozen w therefore keeps x out of the saved set, and no dw GEMM is run.
// Mixed precision (nn/precision.h): a frozen BF16 w with an F32 x runs both GEMMs in BF16 —
// x (and in the backward g) rounded to BF16, F32 sums, F32 y and dx.
#include "engine/ops/op_utils.h"

namespace vt {

namespace {

// One GEMM operand: memory, whether it is stored transposed, leading dim, batch stride.
struct Operand {
  Tensor t;
  bool trans = false;
  int64_t ld = 0, batch_stride = 0;
};

// Lay out t (already expanded to batch + (rows, cols)) so GEMM can read it without a copy
// when its strides allow (row-major or column-major matrices, uniformly strided batches).
Operand as_operand(const Tensor& t, int64_t nbatch) {
  const int64_t nd = t.dim();
  const Shape& sh = t.shape();
  const Shape& st = t.strides();
  const int64_t rows = sh[nd - 2], cols = sh[nd - 1];
  Operand o;
  bool ok = true;
  if (st[nd - 1] == 1 && (st[nd - 2] >= cols || rows == 1)) {
    o.trans = false;
    o.ld = rows == 1 ? cols : st[nd - 2];
  } else if (st[nd - 2] == 1 && (st[nd - 1] >= rows || cols == 1)) {
    o.trans = true;
    o.ld = cols == 1 ? rows : st[nd - 1];
  } else {
    ok = false;
  }
  bool all_bcast = true;
  for (int64_t i = 0; i < nbatch; ++i) all_bcast = all_bcast && (st[i] == 0 || sh[i] == 1);
  if (ok && nbatch > 0 && !all_bcast) {
    // batch dims must flatten to a single stride
    int64_t last = -1;
    for (int64_t i = nbatch - 1; i >= 0; --i) {
      if (sh[i] == 1) continue;
      if (last >= 0 && st[i] != st[last] * sh[last]) ok = false;
      if (st[i] == 0) ok = false;
      last = i;
      if (o.batch_stride == 0) o.batch_stride = st[i];
    }
  }
  if (!ok) {
    // Copy: one matrix if every batch dim is broadcast, else the whole expanded batch.
    o.t = all_bcast ? contiguous_raw(Tensor::make_view(t.storage(), {rows, cols},
                                                       {st[nd - 2], st[nd - 1]}, t.offset(),
                                                       t.dtype()))
                    : contiguous_raw(t);
    o.trans = false;
    o.ld = cols;
    o.batch_stride = all_bcast ? 0 : rows * cols;
    return o;
  }
  o.t = t;
  return o;
}

// Raw batched matmul, no autograd. a: (..., M, K), b: (..., K, N).
Tensor matmul_raw(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  if (b.size(-2) != K)
    throw Error("matmul: inner dims differ, shapes " + shape_str(a.shape()) + " and " +
                shape_str(b.shape()));
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  const int64_t nb = (int64_t)batch.size(), B = shape_numel(batch);
  Shape sa = batch, sb = batch, so = batch;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  so.insert(so.end(), {M, N});
  Tensor out = Tensor::empty(so, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  Operand A = as_operand(expand_raw(a, sa), nb), Bo = as_operand(expand_raw(b, sb), nb);
  backend_for(a).gemm(a.dtype(), A.trans, Bo.trans, M, N, K, 1.0, A.t.raw(), A.ld,
                      A.batch_stride, Bo.t.raw(), Bo.ld, Bo.batch_stride, 0.0, out.raw(), N,
                      M * N, B);
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  check_defined("matmul", a_in);
  check_defined("matmul", b_in);
  check_same("matmul", a_in, b_in);
  check_float("matmul", a_in);
  if (a_in.dim() == 0 || b_in.dim() == 0)
    throw Error("matmul: both operands need at least 1 dim, got " + shape_str(a_in.shape()) +
                " and " + shape_str(b_in.shape()));
  // torch's 1-D rules: a vector on the left is a row, on the right a column, dropped after.
  if (a_in.dim() == 1) return matmul(a_in.unsqueeze(0), b_in).squeeze(-2);
  if (b_in.dim() == 1) return matmul(a_in, b_in.unsqueeze(1)).squeeze(-1);
  if (a_in.size(-1) != b_in.size(-2))
    throw Error("matmul: inner dims differ, shapes " + shape_str(a_in.shape()) + " and " +
                shape_str(b_in.shape()));
  // (..., M, K) @ (K, N): one big GEMM over the flattened rows, so dW is one GEMM too.
  if (b_in.dim() == 2 && a_in.dim() > 2) {
    Shape os = a_in.shape();
    os.back() = b_in.size(1);
    return matmul(a_in.reshape({-1, a_in.size(-1)}), b_in).reshape(os);
  }
  Tensor out = matmul_raw(a_in, b_in);
  if (auto ctx = grad_ctx({a_in, b_in})) {
    Tensor sa = ctx[1] ? a_in.detach() : Tensor();
    Tensor sb = ctx[0] ? b_in.detach() : Tensor();
    Shape sha = a_in.shape(), shb = b_in.shape();
    record(out, "matmul", ctx, [sa, sb, sha, shb](const Tensor& g) -> Grads {
      Grads r(2);
      if (sb.defined()) r[0] = sum_to(matmul_raw(g, sb.transpose(-1, -2)), sha);
      if (sa.defined()) r[1] = sum_to(matmul_raw(sa.transpose(-1, -2), g), shb);
      return r;
    }, {sa, sb});
  }
  return out;
}

namespace {

// The common body of linear (y = x Wᵀ + b, base undefined, scale 1) and add_linear
// (y = base + scale · (x Wᵀ + b), b optional). The bias and base go into the GEMM itself where
// the backend can (Backend::gemm_bias, Backend::gemm_add); otherwise the output starts as
// base + scale · b and the GEMM accumulates into it (beta = 1).
Tensor linear_impl(const char* name, const Tensor& x, const Tensor& w, const Tensor& b,
                   const Tensor& base, double scale, bool out_bf16 = false) {
  check_defined(name, x);
  check_defined(name, w, "weight");
  // Mixed precision: a frozen BF16 w with an F32 x (rounded here) or a BF16 x (gelu_bf16's
  // output, used as it is); y and the gradients are F32.
  const bool mixed = w.dtype() == DType::BF16 && (x.dtype() == DType::F32 || x.dtype() == DType::BF16);
  const DType out_t = mixed ? DType::F32 : x.dtype();
  if (mixed) {
    if (w.device() != x.device())
      throw Error(std::string(name) + ": tensors on different devices (" + x.device().str() + " and " +
                  w.device().str() + ")");
    if (w.requires_grad())
      throw Error(std::string(name) + ": a BF16 weight " + shape_str(w.shape()) +
                  " must be frozen (trainable weights stay F32: nn/precision.h)");
  } else {
    check_same(name, x, w);
  }
  if (x.dtype() != DType::BF16) check_float(name, x);
  if (w.dim() != 2 || x.dim() < 1 || x.size(-1) != w.size(1))
    throw Error(std::string(name) + ": input " + shape_str(x.shape()) +
                " does not match weight " + shape_str(w.shape()) +
                " (expected (..., K) and (N, K))");
  const int64_t K = w.size(1), N = w.size(0), R = x.numel() / std::max<int64_t>(K, 1);
  auto check_like_output = [&](const Tensor& t, const char* what) {  // bias and base: y's dtype
    if (x.dtype() != DType::BF16) return check_same(name, x, t);
    if (t.dtype() != out_t || t.device() != x.device())
      throw Error(std::string(name) + ": " + what + " is " + dtype_name(t.dtype()) + " on " + t.device().str() +
                  "; with a BF16 input it must be F32 on " + x.device().str());
  };
  if (b.defined()) {
    check_like_output(b, "bias");
    if (b.dim() != 1 || b.size(0) != N)
      throw Error(std::string(name) + ": bias " + shape_str(b.shape()) +
                  " does not match weight " + shape_str(w.shape()));
  }
  Shape os = x.shape();
  os.back() = N;
  if (base.defined()) {
    check_like_output(base, "base");
    if (base.shape() != os)
      throw Error(std::string(name) + ": base " + shape_str(base.shape()) +
                  " does not match the product's shape " + shape_str(os));
  }
  Tensor x2 = contiguous_raw(x);  // (R, K)
  Tensor wc = contiguous_raw(w);  // (N, K)
  const DType gemm_t = mixed ? DType::BF16 : x.dtype();
  if (out_bf16 && (!mixed || base.defined() || (b.defined() && b.requires_grad())))
    throw Error(std::string(name) + ": a BF16 output needs a frozen BF16 weight and a frozen bias (no base)");
  Tensor y = Tensor::empty(os, out_bf16 ? DType::BF16 : out_t, x.device());  // (R, N)
  Backend& be = backend_for(x);
  if (y.numel()) {
    const Tensor xg = mixed ? x2.detach().to(DType::BF16) : x2;  // (R, K) in the GEMM's input type (no copy if BF16)
    const Tensor bc = b.defined() ? contiguous_raw(b) : Tensor();
    // y = x Wᵀ + b in one product where the backend fuses the bias (scale is 1 with a bias),
    // or (BF16 y) rounds as it stores
    const bool fused = !base.defined() && (out_bf16 || (bc.defined() && out_t == DType::F32)) &&
                       be.gemm_bias(gemm_t, false, true, R, N, K, xg.raw(), K, wc.raw(), K,
                                    bc.defined() ? bc.data<float>() : nullptr, y.raw(), out_bf16, N);
    if (!fused && out_bf16) {  // the backend has no fused form: F32, then rounded
      y = linear_impl(name, x2.detach(), w, b.defined() ? b.detach() : Tensor(), Tensor(), 1.0).to(DType::BF16);
    } else if (!fused && base.defined() && out_t == DType::F32 &&
               be.gemm_add(gemm_t, false, true, R, N, K, scale, xg.raw(), K, wc.raw(), K,
                           bc.defined() ? bc.data<float>() : nullptr, contiguous_raw(base).data<float>(),
                           y.data<float>(), N)) {
      // y = base + scale · (x Wᵀ + b), base read by the product itself (Backend::gemm_add)
    } else if (!fused && base.defined() && b.defined()) {
      {
        NoGrad ng;
        be.copy(add(base, mul(b, scale)), y);  // (R, N) = base + scale · b (broadcast)
      }
      be.gemm(gemm_t, false, true, R, N, K, scale, xg.raw(), K, 0, wc.raw(), K, 0, 1.0, y.raw(), N, 0, 1);
    } else if (!fused) {
      if (base.defined()) be.copy(base, y);
      if (b.defined()) {
        Tensor rows = Tensor::make_view(y.storage(), {R, N}, {N, 1}, 0, y.dtype());  // (R, N)
        be.copy(expand_raw(b, {R, N}), rows);
      }
      be.gemm(gemm_t, false, true, R, N, K, scale, xg.raw(), K, 0, wc.raw(), K, 0,
              b.defined() || base.defined() ? 1.0 : 0.0, y.raw(), N, 0, 1);
    }
  }
  if (auto ctx = grad_ctx({x, w, b, base})) {
    Tensor sx = ctx[1] ? x2 : Tensor();  // only dW needs the input
    Tensor sw = ctx[0] ? wc : Tensor();  // only dX needs the weight
    Shape xs = x.shape();
    const bool nb = ctx[2], nbase = ctx[3];
    record(y, name, ctx, [sx, sw, xs, nb, nbase, R, N, K, scale, mixed, gemm_t](const Tensor& g) -> Grads {
      Tensor gc = contiguous_raw(g);  // (R, N)
      Backend& be = backend_for(gc);
      Grads r(4);
      if (sw.defined()) {  // dX (R, K) = scale · g (R, N) · W (N, K)
        // F32, also for a BF16 x or g (gelu_bf16's gradient: already the rounding below)
        r[0] = Tensor::empty(xs, mixed ? DType::F32 : gc.dtype(), gc.device());
        const Tensor gg = mixed ? gc.detach().to(DType::BF16) : gc;
        be.gemm(gemm_t, false, false, R, K, N, scale, gg.raw(), N, 0, sw.raw(), K, 0, 0.0,
                r[0].raw(), K, 0, 1);
      }
      if (sx.defined()) {  // dW (N, K) = scale · gᵀ (N, R) · X (R, K)
        r[1] = Tensor::empty({N, K}, gc.dtype(), gc.device());
        be.gemm(gc.dtype(), true, false, N, K, R, scale, gc.raw(), N, 0, sx.raw(), K, 0, 0.0,
                r[1].raw(), K, 0, 1);
      }
      if (nb) {  // db (N) = scale · Σ_rows g
        r[2] = sum((gc.dtype() == DType::BF16 ? gc.to(DType::F32) : gc).reshape({R, N}), {0});
        if (scale != 1.0) r[2] = mul(r[2], scale);
      }
      if (nbase) r[3] = g;  // d base = g
      return r;
    }, {sx, sw});
  }
  return y;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  return linear_impl("linear", x, w, b, Tensor(), 1.0);
}

Tensor linear_bf16_out(const Tensor& x, const Tensor& w, const Tensor& b) {
  return linear_impl("linear_bf16_out", x, w, b, Tensor(), 1.0, true);
}

Tensor add_linear(const Tensor& base, const Tensor& x, const Tensor& w, double scale, const Tensor& b) {
  check_defined("add_linear", base, "base");
  return linear_impl("add_linear", x, w, b, base, scale);
}

}  // namespace vt
