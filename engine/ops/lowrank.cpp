// lowrank.cpp — a frozen BF16 linear with a LoRA on all its outputs, as one BF16 GEMM (mixed
// precision, nn/precision.h; nn/layers.cpp uses it for a LoRA on a BF16 qkv).
//
//   forward   X' = [x | h] (R, K + r)        x rounded to BF16 as it is copied in; h = x Aᵀ made
//                                            from that BF16 x by its own GEMM, which stores it
//                                            in BF16 in place (X''s last r columns)
//             W' = [W | s·B] (N, K + r)      W is BF16 already; s·B rounded
//             y  = X' W'ᵀ + b (R, N)         one GEMM, F32 sums, stored in BF16
//   backward  g (R, N) in BF16 (attention's gradient of the packed qkv), or F32 rounded first
//             dh = s · g B        (R, r)     BF16 GEMM, F32 out
//             dB = s · gᵀ h       (N, r)     BF16 GEMM on X''s h columns
//             dA = dhᵀ x          (r, K)     BF16 GEMM on X''s x columns, dh rounded
//             dx = g W + dh A     (R, K)     BF16 GEMM, then the low-rank part added by an F32
//                                            GEMM with beta 1 (no second (R, K) tensor, no add)
// Saved for the backward: X' (BF16, half of x's F32 bytes, with h in it), W, A and B.
// Where the backend has no BF16-output GEMM: add_linear(linear(x, W, b), linear(x, A), B, s),
// rounded once (F32 throughout, its own graph).
#include "engine/ops/op_utils.h"

namespace vt {

Tensor linear_lowrank_bf16(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& A, const Tensor& B,
                           double scale) {
  const std::string name = "linear_lowrank_bf16";
  check_defined(name.c_str(), x);
  check_defined(name.c_str(), w, "weight");
  check_defined(name.c_str(), A, "A");
  check_defined(name.c_str(), B, "B");
  if (w.dtype() != DType::BF16 || w.requires_grad() || (b.defined() && b.requires_grad()))
    throw Error(name + ": needs a frozen BF16 weight and a frozen bias (the weight is " + dtype_name(w.dtype()) +
                (w.requires_grad() ? ", trainable)" : ")"));
  for (const Tensor* t : {&x, &A, &B, &b})
    if (t->defined() && (t->dtype() != DType::F32 || t->device() != w.device()))
      throw Error(name + ": x, A, B and the bias must be F32 on " + w.device().str() + ", got " +
                  dtype_name(t->dtype()) + " on " + t->device().str());
  const int64_t K = w.size(1), N = w.size(0), r = A.dim() == 2 ? A.size(0) : -1;
  if (w.dim() != 2 || x.dim() < 1 || x.size(-1) != K)
    throw Error(name + ": input " + shape_str(x.shape()) + " does not match weight " + shape_str(w.shape()));
  if (r < 0 || A.size(1) != K || B.dim() != 2 || B.size(0) != N || B.size(1) != r)
    throw Error(name + ": A " + shape_str(A.shape()) + " and B " + shape_str(B.shape()) + " do not match weight " +
                shape_str(w.shape()) + " (expected (r, K) and (N, r))");
  if (b.defined() && (b.dim() != 1 || b.size(0) != N))
    throw Error(name + ": bias " + shape_str(b.shape()) + " does not match weight " + shape_str(w.shape()));
  const int64_t R = K ? x.numel() / K : 0, Kr = K + r;
  Shape os = x.shape();
  os.back() = N;
  Tensor y = Tensor::empty(os, DType::BF16, x.device());  // (R, N)
  Tensor xa = Tensor::empty({R, Kr}, DType::BF16, x.device());  // [x | h]
  Backend& be = backend_for(x);
  const Tensor wc = contiguous_raw(w), Ac = contiguous_raw(A.detach()), Bc = contiguous_raw(B.detach());
  auto cols = [](const Tensor& cat, int64_t rows, int64_t n, int64_t col) {  // cat[:, col : col + n]
    return Tensor::make_view(cat.storage(), {rows, n}, {cat.size(1), 1}, col, DType::BF16);
  };
  if (y.numel()) {
    Tensor xpart = cols(xa, R, K, 0), wa = Tensor::empty({N, Kr}, DType::BF16, x.device());  // [W | s·B]
    Tensor wpart = cols(wa, N, K, 0), bpart = cols(wa, N, r, K);
    be.copy(contiguous_raw(x.detach()).reshape({R, K}), xpart);
    be.copy(wc, wpart);
    {
      NoGrad ng;
      be.copy(mul(Bc, scale), bpart);
    }
    const Tensor Ab = Ac.to(DType::BF16), bc = b.defined() ? contiguous_raw(b) : Tensor();
    char* hpart = static_cast<char*>(xa.raw()) + K * dtype_size(DType::BF16);
    if (!be.gemm_bias(DType::BF16, false, true, R, r, K, xa.raw(), Kr, Ab.raw(), K, nullptr, hpart, true, Kr) ||
        !be.gemm_bias(DType::BF16, false, true, R, N, Kr, xa.raw(), Kr, wa.raw(), Kr,
                      bc.defined() ? bc.data<float>() : nullptr, y.raw(), true, N))
      return add_linear(linear(x, w, b), linear(x, A), B, scale).to(DType::BF16);
  }
  if (auto ctx = grad_ctx({x, A, B})) {
    const bool nx = ctx[0], nA = ctx[1], nB = ctx[2];
    const Tensor sw = nx ? wc : Tensor(), sA = nx ? Ac : Tensor(), sB = nx || nA ? Bc : Tensor();
    const Shape xs = x.shape();
    record(y, "linear_lowrank_bf16", ctx, [=](const Tensor& g) -> Grads {
      const Tensor gg = contiguous_raw(g.detach()).to(DType::BF16);  // (R, N)
      Backend& be = backend_for(gg);
      const char* h = static_cast<const char*>(xa.raw()) + K * dtype_size(DType::BF16);
      Grads d(3);
      Tensor dh;
      if (nx || nA) {  // dh (R, r) = s · g B
        dh = Tensor::empty({R, r}, DType::F32, gg.device());
        const Tensor Bb = sB.to(DType::BF16);
        be.gemm(DType::BF16, false, false, R, r, N, scale, gg.raw(), N, 0, Bb.raw(), r, 0, 0.0, dh.raw(), r, 0, 1);
      }
      if (nB) {  // dB (N, r) = s · gᵀ h
        d[2] = Tensor::empty({N, r}, DType::F32, gg.device());
        be.gemm(DType::BF16, true, false, N, r, R, scale, gg.raw(), N, 0, h, Kr, 0, 0.0, d[2].raw(), r, 0, 1);
      }
      if (nA) {  // dA (r, K) = dhᵀ x
        d[1] = Tensor::empty({r, K}, DType::F32, gg.device());
        const Tensor dhb = dh.to(DType::BF16);
        be.gemm(DType::BF16, true, false, r, K, R, 1.0, dhb.raw(), r, 0, xa.raw(), Kr, 0, 0.0, d[1].raw(), K, 0, 1);
      }
      if (nx) {  // dx (R, K) = g W, then += dh A
        d[0] = Tensor::empty(xs, DType::F32, gg.device());
        be.gemm(DType::BF16, false, false, R, K, N, 1.0, gg.raw(), N, 0, sw.raw(), K, 0, 0.0, d[0].raw(), K, 0, 1);
        be.gemm(DType::F32, false, false, R, K, r, 1.0, dh.raw(), r, 0, sA.raw(), K, 0, 1.0, d[0].raw(), K, 0, 1);
      }
      return d;
    }, {xa, sw, sA, sB});
  }
  return y;
}

}  // namespace vt
