// attention.cpp — scaled dot-product attention, forward and backward on batched GEMMs.
//
//   q: (B, H, Nq, Dh), k: (B, H, Nk, Dh), v: (B, H, Nk, Dv), mask: additive, broadcastable
//   to (B, H, Nq, Nk) (a padding mask, Swin's relative-position bias, ...) -> o: (B, H, Nq, Dv)
//
//   forward   S = scale · Q Kᵀ (+ mask)     one batched GEMM (mask copied in first, beta = 1)
//             P = softmax(S)                in place: S's buffer becomes P
//             O = P V                       one batched GEMM
//   backward  (P = softmax(scale · Q Kᵀ + M) again, when it was not kept — see Memory)
//             dV = Pᵀ dO
//             dP = dO Vᵀ
//             dS = P ⊙ (dP - rowsum(dP ⊙ P))   the softmax backward kernel, in place on dP
//             dQ = scale · dS K,   dK = scale · dSᵀ Q,   dMask = sum_to(dS, mask's shape)
//
// Memory: the attention matrix P (B·H·Nq·Nk elements) is materialised in the forward pass (S
// is never stored separately: the softmax overwrites it). For the backward pass the node keeps
// either P itself or Q and K to recompute it, whichever is smaller once what the gradients read
// anyway is counted: when q and k both need gradients (any block below a trained tuner),
// Q and K are kept regardless, and recomputing P costs one batched GEMM and a softmax (about
// 3 % of a ViT-S training step) for 7 MB per block at batch 8 (89 MB over ViT-S's 12 blocks).
// With frozen q and k and long sequences, keeping P can be the smaller choice (Swin's 7×7
// windows: P has 49 entries per row, Q and K 2·Dh). Beyond that, only what the requested
// gradients read is saved: V for dP (needed by dQ, dK and dMask), K for dQ, Q for dK.
// The backward allocates one more B·H·Nq·Nk buffer (dP, turned into dS in place). A tiled
// (flash-attention style) kernel that never materialises P is left to the CUDA backend.
//
// q, k, v may be strided views (e.g. slices of a fused qkv projection): a (B, H, rows, cols)
// operand whose matrices are row- or column-major goes to GEMM without a copy.
//
// BF16 products (mixed precision, nn/precision.h): Q, K, V, P, dO and dS are rounded to BF16
// before their GEMMs, which sum in F32 and write F32 (S, O, dV, dP, dQ, dK); the softmax and
// its backward compute in F32 and store P (forward) and dS (backward, unless the mask needs
// its gradient) rounded to BF16 as they write them, with no F32 copy. Q, K, V and P are kept in
// BF16 (half the bytes; P is not recomputed), and the softmax backward reads P widened to F32.
// Output and gradients are F32, with two exceptions. Inputs are F32, or BF16 with BF16 products
// (the packed qkv of a frozen projection, stored in BF16 by its GEMM: nn/layers.cpp), read in
// place; the gradient of a BF16 packed qkv is BF16 (dQ, dK, dV rounded as the GEMMs store them),
// which is what the projection's backward rounds it to anyway (linear_bf16_out,
// linear_lowrank_bf16). And with out_bf16 the PV GEMM stores O in BF16 for a frozen proj.
#include <cmath>

#include "engine/ops/op_utils.h"

namespace vt {

namespace {

// A (B, H, rows, cols) tensor as a GEMM operand: base pointer, whether the matrices are
// stored transposed, leading dim, and the element strides of the two batch dims.
struct Mat {
  Tensor t;  // keeps the memory alive (a copy if the strides did not fit)
  bool trans = false;
  int64_t ld = 0, sb = 0, sh = 0;
  Mat T() const { Mat m = *this; m.trans = !m.trans; return m; }  // the transposed matrices
};

Mat as_mat(const Tensor& x) {
  const Shape& sh = x.shape();
  const Shape& st = x.strides();
  const int64_t rows = sh[2], cols = sh[3];
  Mat m;
  if (st[3] == 1 && (rows == 1 || st[2] >= cols)) {
    m.t = x, m.trans = false, m.ld = rows == 1 ? cols : st[2];
  } else if (st[2] == 1 && (cols == 1 || st[3] >= rows)) {
    m.t = x, m.trans = true, m.ld = cols == 1 ? rows : st[3];
  } else {
    m.t = contiguous_raw(x), m.trans = false, m.ld = cols;
  }
  m.sb = m.t.strides()[0];
  m.sh = m.t.strides()[1];
  return m;
}

// C[b,h] = alpha · op(A[b,h]) · op(B[b,h]) + beta · C[b,h], with C a (B, H, m, n) tensor of
// row-major matrices (contiguous, or e.g. a (B, m, H, n) buffer seen through a permute). One
// GEMM call over all B·H matrices when the batch dims of A, B and C each collapse to one stride,
// else one call over both batch dims where the backend has it (Backend::gemm_batch2), else one
// call (batched over H) per b. A and B share a dtype: C's, or BF16 with an F32 C
// (Backend::gemm's mixed form), or BF16 with a BF16 C (beta 0): F32 sums rounded as stored,
// by the backend's two-batch-dim product where it has that form, else through an F32 scratch.
void bgemm(const Mat& A, const Mat& Bm, Tensor& C, int64_t m, int64_t n, int64_t k,
           double alpha, double beta) {
  const int64_t nb = C.size(0), nh = C.size(1);
  const size_t es = dtype_size(A.t.dtype()), ec = dtype_size(C.dtype());
  const int64_t ldc = m == 1 ? n : C.strides()[2], cb = C.strides()[0], ch = C.strides()[1];
  Backend& be = backend_for(C);
  if (C.dtype() == DType::BF16) {
    if (A.t.dtype() != DType::BF16 || beta != 0.0)
      throw Error("attention: a BF16 product output needs BF16 operands and beta 0");
    if (be.gemm_batch2(DType::BF16, A.trans, Bm.trans, m, n, k, alpha, A.t.raw(), A.ld, A.sh, A.sb, Bm.t.raw(),
                       Bm.ld, Bm.sh, Bm.sb, 0.0, C.raw(), true, ldc, ch, cb, nh, nb))
      return;
    Tensor c32 = Tensor::empty(C.shape(), DType::F32, C.device());
    bgemm(A, Bm, c32, m, n, k, alpha, 0.0);
    be.copy(c32, C);
    return;
  }
  auto flat = [&](int64_t sb, int64_t sh, int64_t& s) {  // a single stride over the (B, H) batch?
    s = nh == 1 ? sb : sh;
    return nb == 1 || nh == 1 || sb == sh * nh;
  };
  int64_t sa = 0, sbb = 0, sc = 0;
  const char* pa = static_cast<const char*>(A.t.raw());
  const char* pb = static_cast<const char*>(Bm.t.raw());
  char* pc = static_cast<char*>(C.raw());
  if (flat(A.sb, A.sh, sa) && flat(Bm.sb, Bm.sh, sbb) && flat(cb, ch, sc)) {
    be.gemm(A.t.dtype(), A.trans, Bm.trans, m, n, k, alpha, pa, A.ld, sa, pb, Bm.ld, sbb, beta,
            pc, ldc, sc, nb * nh);
    return;
  }
  if (be.gemm_batch2(A.t.dtype(), A.trans, Bm.trans, m, n, k, alpha, pa, A.ld, A.sh, A.sb, pb, Bm.ld,
                     Bm.sh, Bm.sb, beta, pc, false, ldc, ch, cb, nh, nb))
    return;
  for (int64_t b = 0; b < nb; ++b)
    be.gemm(A.t.dtype(), A.trans, Bm.trans, m, n, k, alpha, pa + b * A.sb * es, A.ld, A.sh,
            pb + b * Bm.sb * es, Bm.ld, Bm.sh, beta, pc + b * cb * ec, ldc, ch, nh);
}

[[noreturn]] void shape_error(const Tensor& q, const Tensor& k, const Tensor& v,
                              const std::string& why) {
  throw Error("scaled_dot_product_attention: " + why + " (q " + shape_str(q.shape()) + ", k " +
              shape_str(k.shape()) + ", v " + shape_str(v.shape()) + ")");
}

// A GEMM operand in the products' dtype: x itself (F32), or x rounded to BF16 (contiguous).
Tensor in_products(const Tensor& x, DType products) {
  return products == DType::BF16 ? x.detach().to(DType::BF16) : x;
}

// P = softmax(scale · Q Kᵀ + mask), (B, H, Nq, Nk): the forward pass, and the backward pass
// when P was not kept. P is in `like`'s dtype (S's buffer, the softmax in place), or with
// `bf16` stored straight from the softmax in BF16 for the PV product (S F32 then).
Tensor attention_probs(const Mat& mq, const Mat& mk, const Tensor& mask, const Shape& sshape,
                       double scale, const Tensor& like, bool bf16 = false) {
  Tensor S = Tensor::empty(sshape, bf16 ? DType::F32 : like.dtype(), like.device());
  Tensor P = bf16 ? Tensor::empty(sshape, DType::BF16, like.device()) : S;
  if (P.numel()) {
    Backend& be = backend_for(like);
    if (mask.defined()) be.copy(expand_raw(mask, sshape), S);
    bgemm(mq, mk.T(), S, sshape[2], sshape[3], mk.t.size(3), scale,
          mask.defined() ? 1.0 : 0.0);  // S = scale·QKᵀ + M
    be.softmax(S, P, false);            // P = softmax(S)
  }
  return P;
}

// Validates the operands; returns the scale.
double check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                       std::optional<double> scale_opt, DType products) {
  const char* name = "scaled_dot_product_attention";
  check_defined(name, q, "q");
  check_defined(name, k, "k");
  check_defined(name, v, "v");
  // BF16 q, k, v (a frozen qkv projection that stores its output in BF16) with BF16 products
  if (!(q.dtype() == DType::BF16 && products == DType::BF16)) check_float(name, q);
  check_same(name, q, k);
  check_same(name, q, v);
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4)
    shape_error(q, k, v, "expected 4-D (B, H, N, Dh) tensors");
  const int64_t B = q.size(0), H = q.size(1), Nq = q.size(2), Dh = q.size(3);
  const int64_t Nk = k.size(2);
  if (k.size(0) != B || k.size(1) != H || v.size(0) != B || v.size(1) != H)
    shape_error(q, k, v, "batch and head dims differ");
  if (k.size(3) != Dh) shape_error(q, k, v, "q and k head dims differ");
  if (v.size(2) != Nk) shape_error(q, k, v, "k and v sequence lengths differ");
  const Shape sshape{B, H, Nq, Nk};
  if (mask.defined()) {
    if (q.dtype() == DType::BF16) {
      if (mask.dtype() != DType::F32 || mask.device() != q.device())
        throw Error(std::string(name) + ": with BF16 q, k, v the mask must be F32 on " + q.device().str() +
                    ", got " + dtype_name(mask.dtype()) + " on " + mask.device().str());
    } else {
      check_same(name, q, mask);
    }
    if (mask.dim() > 4 || broadcast_shapes(mask.shape(), sshape, name) != sshape)
      throw Error(std::string(name) + ": mask of shape " + shape_str(mask.shape()) +
                  " does not broadcast to the scores " + shape_str(sshape));
  }
  if (products != DType::F32 && products != DType::BF16)
    throw Error(std::string(name) + ": products in " + dtype_name(products) + " (F32 or BF16)");
  if (products == DType::BF16 && q.dtype() != DType::F32 && q.dtype() != DType::BF16)
    throw Error(std::string(name) + ": BF16 products take F32 or BF16 q, k, v, got " + dtype_name(q.dtype()));
  return scale_opt ? *scale_opt : 1.0 / std::sqrt((double)Dh);
}

// The op's work for validated q, k, v (B, H, N, Dh). `packed`, when defined, is the
// (B, N, 3, H, Dh) tensor that q, k and v are (graph-less) views of: the node then has
// {packed, mask} as inputs, and its backward writes dQ, dK and dV straight into one gradient
// of packed's shape (no zero-filled gradient per view, and no sums of them).
Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale,
              DType products, const Tensor& packed, bool out_bf16 = false) {
  const char* name = "scaled_dot_product_attention";
  const int64_t B = q.size(0), H = q.size(1), Nq = q.size(2), Dh = q.size(3);
  const int64_t Nk = k.size(2), Dv = v.size(3);
  const Shape sshape{B, H, Nq, Nk};
  const bool bf16 = products == DType::BF16;

  // O is written as (B, Nq, H, Dv) and returned as its (B, H, Nq, Dv) view: the heads' merge
  // that follows (transpose(1, 2) + reshape to (B, Nq, H·Dv)) is then a view, not a copy.
  // O is F32 also for BF16 q, k, v (then read as they are, views of the packed BF16 qkv), or
  // with out_bf16 stored in BF16 by the PV GEMM.
  const DType io_t = out_bf16 ? DType::BF16 : bf16 ? DType::F32 : q.dtype();
  Tensor out = Tensor::empty({B, Nq, H, Dv}, io_t, q.device()).permute({0, 2, 1, 3});
  Mat mq = as_mat(in_products(q, products)), mk = as_mat(in_products(k, products)),
      mv = as_mat(in_products(v, products));
  Tensor P = attention_probs(mq, mk, mask, sshape, scale, out, bf16);                // F32 or BF16
  if (out.numel()) bgemm(as_mat(P), mv, out, Nq, Dv, Nk, 1.0, 0.0);  // O = P V

  const bool is_packed = packed.defined();
  if (auto ctx = is_packed ? grad_ctx({packed, mask}) : grad_ctx({q, k, v, mask})) {
    const bool nq = ctx[0], nk = is_packed ? ctx[0] : ctx[1], nv = is_packed ? ctx[0] : ctx[2],
               nm = is_packed ? ctx[1] : ctx[3];
    const bool need_ds = nq || nk || nm;
    // Keep P, or Q and K to recompute it: whichever adds less to what is saved anyway. BF16
    // products keep P, in BF16: half the bytes of an F32 P, and the backward saves the
    // recomputation (a batched GEMM and a softmax, 4 % of a ViT-S step).
    const int64_t extra_qk = (nk ? 0 : mq.t.numel()) + (nq ? 0 : mk.t.numel());
    const bool recompute = !bf16 && extra_qk <= P.numel();
    Tensor sp = recompute ? Tensor() : P;                            // needed by every gradient
    Tensor sv = need_ds ? mv.t.detach() : Tensor();                   // dP = dO Vᵀ
    Tensor sk = nq || recompute ? mk.t.detach() : Tensor();           // dQ = scale · dS K
    Tensor sq = nk || recompute ? mq.t.detach() : Tensor();           // dK = scale · dSᵀ Q
    Tensor smask = recompute && mask.defined() ? mask.detach() : Tensor();
    P = Tensor();  // the forward's P is freed here unless sp holds it
    Shape qs = q.shape(), ks = k.shape(), vs = v.shape();
    Shape ms = mask.defined() ? mask.shape() : Shape{};
    Shape ps = is_packed ? packed.shape() : Shape{};
    const bool packed_bf16 = is_packed && packed.dtype() == DType::BF16;
    record(out, name, ctx, [=](const Tensor& g) -> Grads {
      // dO: (B, H, Nq, Dv), row-major matrices as they come (typically the heads' merge seen
      // backwards: a (B, Nq, H, Dv) buffer); copied only if not.
      Tensor gc = g.strides()[3] == 1 && g.strides()[2] >= Dv ? g : contiguous_raw(g);
      const Tensor probs = recompute ? attention_probs(as_mat(sq), as_mat(sk), smask, sshape,
                                                       scale, gc)
                                     : sp;                 // F32, or BF16 kept by BF16 products
      Mat mg = as_mat(in_products(gc, products)), mp = as_mat(in_products(probs, products));
      const DType gt = bf16 ? DType::F32 : gc.dtype();  // the gradients' (and dP's) dtype: dO may be BF16
      Grads r(4);
      // packed: one (B, N, 3, H, Dh) gradient, dQ / dK / dV written into its views; for a BF16
      // packed qkv (BF16 products) stored in BF16, the form its frozen projection's dX GEMM reads
      Tensor gpacked;
      if (is_packed) {
        gpacked = Tensor::empty(ps, packed_bf16 ? DType::BF16 : gt, gc.device());
        for (int i = 0; i < 3; ++i) r[i] = gpacked.select(2, i).permute({0, 2, 1, 3});
      }
      if (nv) {  // dV (B, H, Nk, Dv) = Pᵀ dO
        if (!is_packed) r[2] = Tensor::empty(vs, gt, gc.device());
        if (r[2].numel()) bgemm(mp.T(), mg, r[2], Nk, Dv, Nq, 1.0, 0.0);
      }
      if (!need_ds) return is_packed ? Grads{gpacked, Tensor()} : r;
      Tensor dS = Tensor::empty(sshape, gt, gc.device());  // (B, H, Nq, Nk): dP, then dS
      // In BF16 products dS is stored rounded straight from the softmax backward, unless the
      // mask's gradient needs it in F32.
      Tensor dS_in = bf16 && !nm ? Tensor::empty(sshape, DType::BF16, gc.device()) : dS;
      if (dS.numel()) {
        bgemm(mg, as_mat(sv).T(), dS, Nq, Nk, Dv, 1.0, 0.0);  // dP = dO Vᵀ
        backend_for(gc).softmax_backward(probs, dS, dS_in, false);  // dS = P ⊙ (dP - Σ dP ⊙ P)
      }
      Mat mds = as_mat(in_products(dS_in, products));
      if (nq) {  // dQ (B, H, Nq, Dh) = scale · dS K
        if (!is_packed) r[0] = Tensor::empty(qs, gt, gc.device());
        if (r[0].numel()) bgemm(mds, as_mat(sk), r[0], Nq, Dh, Nk, scale, 0.0);
      }
      if (nk) {  // dK (B, H, Nk, Dh) = scale · dSᵀ Q
        if (!is_packed) r[1] = Tensor::empty(ks, gt, gc.device());
        if (r[1].numel()) bgemm(mds.T(), as_mat(sq), r[1], Nk, Dh, Nq, scale, 0.0);
      }
      if (nm) r[3] = sum_to(dS, ms);  // the mask was broadcast: sum dS back to its shape
      return is_packed ? Grads{gpacked, r[3]} : r;
    }, {sp, sv, sk, sq, smask});
  }
  return out;
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask, std::optional<double> scale,
                                    DType products) {
  return attend(q, k, v, mask, check_attention(q, k, v, mask, scale, products), products, Tensor());
}

Tensor scaled_dot_product_attention_qkv(const Tensor& qkv, const Tensor& mask, std::optional<double> scale,
                                        DType products, bool out_bf16) {
  check_defined("scaled_dot_product_attention_qkv", qkv, "qkv");
  if (out_bf16 && products != DType::BF16)
    throw Error("scaled_dot_product_attention_qkv: a BF16 output needs BF16 products");
  if (qkv.dim() != 5 || qkv.size(2) != 3)
    throw Error("scaled_dot_product_attention_qkv: expected qkv of shape (B, N, 3, H, Dh), got " +
                shape_str(qkv.shape()));
  // Views without a graph of their own: the node records qkv itself (see attend).
  const Tensor base = qkv.detach();
  const Tensor q = base.select(2, 0).permute({0, 2, 1, 3}), k = base.select(2, 1).permute({0, 2, 1, 3}),
               v = base.select(2, 2).permute({0, 2, 1, 3});  // (B, H, N, Dh)
  return attend(q, k, v, mask, check_attention(q, k, v, mask, scale, products), products, qkv, out_bf16);
}

}  // namespace vt
