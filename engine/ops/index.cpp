// index.cpp — gather/scatter-style ops: index_select, index_add, gather, scatter_add, where,
// masked_fill, each with its backward beside it.
//
// The four indexing ops come in adjoint pairs, so each one's backward is its partner:
//   index_select(x, d, i)     -> dx = index_add(0, d, i, g)
//   index_add(x, d, i, src)   -> dx = g,  dsrc = index_select(g, d, i)
//   gather(x, d, i)           -> dx = scatter_add(0, d, i, g)
//   scatter_add(x, d, i, src) -> dx = g,  dsrc = gather(g, d, i)
// Index tensors are I64, never get gradients, and are range-checked by the kernels (an
// out-of-range index throws vt::Error naming the op, the index and the dim size). Duplicate
// indices accumulate (deterministically: see cpu/index.cpp).
#include "engine/ops/op_utils.h"

namespace vt {

namespace {

void check_index(const char* op, const Tensor& index, const Tensor& x) {
  check_defined(op, index, "index");
  if (index.dtype() != DType::I64)
    throw Error(std::string(op) + ": index must be I64, got " + dtype_name(index.dtype()) +
                " (shape " + shape_str(index.shape()) + ")");
  if (index.device() != x.device())
    throw Error(std::string(op) + ": index on " + index.device().str() + ", input on " +
                x.device().str());
}

// index_select / index_add: a 0-d or 1-d index; returns it as a contiguous (J) tensor.
Tensor slice_index(const char* op, const Tensor& index, const Tensor& x) {
  check_index(op, index, x);
  if (index.dim() > 1)
    throw Error(std::string(op) + ": index must be 0-d or 1-d, got shape " +
                shape_str(index.shape()));
  return contiguous_raw(index).reshape({index.numel()});
}

// The result of index_select without autograd. x: (..., X, ...) -> (..., J, ...)
Tensor index_select_raw(const Tensor& x, int64_t dim, const Tensor& idx) {
  Shape os = x.shape();
  os[dim] = idx.numel();
  Tensor out = Tensor::empty(os, x.dtype(), x.device());
  if (out.numel()) backend_for(x).index_select(contiguous_raw(x), dim, idx, out);
  return out;
}

// base (a fresh contiguous tensor, modified) += src scattered by idx along dim.
void index_add_into(Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src) {
  if (src.numel()) backend_for(base).index_add(base, dim, idx, contiguous_raw(src));
}

// A fresh contiguous copy of x, no autograd (the tensor the accumulating ops add into).
Tensor fresh_copy(const Tensor& x) {
  Tensor c = empty_like(x);
  if (c.numel()) backend_for(x).copy(x, c);
  return c;
}

// gather / scatter_add: idx has x's rank and fits inside `other` (the tensor indexed by the
// non-`dim` coordinates) in every dim but `dim`, and inside `src` in every dim.
void check_gather_shapes(const char* op, const Tensor& x, int64_t dim, const Tensor& index,
                         const Tensor* src) {
  bool ok = index.dim() == x.dim() && (!src || src->dim() == x.dim());
  for (int64_t d = 0; ok && d < x.dim(); ++d) {
    if (d != dim && index.size(d) > x.size(d)) ok = false;
    if (src && index.size(d) > src->size(d)) ok = false;
  }
  if (!ok)
    throw Error(std::string(op) + ": index " + shape_str(index.shape()) + " does not fit input " +
                shape_str(x.shape()) +
                (src ? " and src " + shape_str(src->shape()) : std::string()) + " along dim " +
                std::to_string(dim) + " (same rank; index no larger in every other dim)");
}

Tensor gather_raw(const Tensor& x, int64_t dim, const Tensor& idx) {
  Tensor out = Tensor::empty(idx.shape(), x.dtype(), x.device());
  if (out.numel()) backend_for(x).gather(contiguous_raw(x), dim, idx, out);
  return out;
}

void scatter_add_into(Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src) {
  if (idx.numel()) backend_for(base).scatter_add(base, dim, idx, contiguous_raw(src));
}

}  // namespace

// ---------------------------------------------------------------- index_select / index_add
// x: (..., X, ...), index: (J) in [0, X) -> (..., J, ...)
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("index_select", x);
  dim = wrap_dim(dim, x.dim(), "index_select");
  Tensor idx = slice_index("index_select", index, x);
  Tensor out = index_select_raw(x, dim, idx);
  if (auto ctx = grad_ctx({x})) {
    Shape in = x.shape();
    record(out, "index_select", ctx, [idx, in, dim](const Tensor& g) -> Grads {
      Tensor gx = Tensor::zeros(in, g.dtype(), g.device());  // (..., X, ...)
      index_add_into(gx, dim, idx, g);
      return {gx};
    }, {idx});
  }
  return out;
}

// x: (..., X, ...), index: (J), src: (..., J, ...) -> x with src's slices added at rows index
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined("index_add", x);
  check_defined("index_add", src, "src");
  check_same("index_add", x, src);
  check_float("index_add", x);
  dim = wrap_dim(dim, x.dim(), "index_add");
  Tensor idx = slice_index("index_add", index, x);
  Shape want = x.shape();
  want[dim] = idx.numel();
  if (src.shape() != want)
    throw Error("index_add: src " + shape_str(src.shape()) + " does not match input " +
                shape_str(x.shape()) + " with " + std::to_string(idx.numel()) +
                " indices along dim " + std::to_string(dim) + " (expected " + shape_str(want) +
                ")");
  Tensor out = fresh_copy(x);
  index_add_into(out, dim, idx, src);
  if (auto ctx = grad_ctx({x, src})) {
    Tensor sidx = ctx[1] ? idx : Tensor();  // only dsrc reads the index
    record(out, "index_add", ctx, [sidx, dim](const Tensor& g) -> Grads {
      return {g, sidx.defined() ? index_select_raw(g, dim, sidx) : Tensor()};
    }, {sidx});
  }
  return out;
}

// ---------------------------------------------------------------- gather / scatter_add
// x: (..., X, ...), index: (..., J, ...) of x's rank -> index's shape, x's dtype
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("gather", x);
  check_index("gather", index, x);
  dim = wrap_dim(dim, x.dim(), "gather");
  check_gather_shapes("gather", x, dim, index, nullptr);
  Tensor idx = contiguous_raw(index);
  Tensor out = gather_raw(x, dim, idx);
  if (auto ctx = grad_ctx({x})) {
    Shape in = x.shape();
    record(out, "gather", ctx, [idx, in, dim](const Tensor& g) -> Grads {
      Tensor gx = Tensor::zeros(in, g.dtype(), g.device());
      scatter_add_into(gx, dim, idx, g);
      return {gx};
    }, {idx});
  }
  return out;
}

// x: (..., X, ...), index: (..., J, ...), src at least index's size -> x's shape
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined("scatter_add", x);
  check_defined("scatter_add", src, "src");
  check_same("scatter_add", x, src);
  check_float("scatter_add", x);
  check_index("scatter_add", index, x);
  dim = wrap_dim(dim, x.dim(), "scatter_add");
  check_gather_shapes("scatter_add", x, dim, index, &src);
  Tensor idx = contiguous_raw(index);
  Tensor out = fresh_copy(x);
  scatter_add_into(out, dim, idx, src);
  if (auto ctx = grad_ctx({x, src})) {
    Tensor sidx = ctx[1] ? idx : Tensor();
    Shape ss = src.shape();
    record(out, "scatter_add", ctx, [sidx, ss, dim](const Tensor& g) -> Grads {
      if (!sidx.defined()) return {g, Tensor()};
      Tensor gs = gather_raw(g, dim, sidx);  // index's shape
      if (gs.shape() != ss) {                // src elements outside index's box got no use
        Tensor full = Tensor::zeros(ss, g.dtype(), g.device());
        Tensor window = full;
        for (int64_t d = 0; d < (int64_t)ss.size(); ++d) window = window.narrow(d, 0, gs.size(d));
        backend_for(g).copy(gs, window);
        gs = full;
      }
      return {g, gs};
    }, {sidx});
  }
  return out;
}

// ---------------------------------------------------------------- where / masked_fill
namespace {
void check_mask(const char* op, const Tensor& m) {
  check_defined(op, m, "condition");
  if (m.dtype() != DType::Bool && m.dtype() != DType::U8)
    throw Error(std::string(op) + ": condition must be Bool or U8, got " + dtype_name(m.dtype()) +
                " (shape " + shape_str(m.shape()) + ")");
}

// cond ? a : b over `shape` (each operand broadcast to it), no autograd.
Tensor where_raw(const Tensor& cond, const Tensor& a, const Tensor& b, const Shape& shape) {
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.numel())
    backend_for(a).where(expand_raw(cond, shape), expand_raw(a, shape), expand_raw(b, shape), out);
  return out;
}
}  // namespace

// cond, a, b broadcast together -> cond ? a : b. da = g where cond, db = g elsewhere.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_mask("where", cond);
  check_defined("where", a);
  check_defined("where", b);
  check_same("where", a, b);
  check_float("where", a);
  if (cond.device() != a.device())
    throw Error("where: condition on " + cond.device().str() + ", values on " + a.device().str());
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(),
                                 "where");
  Tensor out = where_raw(cond, a, b, shape);
  if (auto ctx = grad_ctx({a, b})) {
    Tensor c = cond.detach();
    Shape sa = a.shape(), sb = b.shape();
    bool na = ctx[0], nb = ctx[1];
    record(out, "where", ctx, [c, sa, sb, na, nb](const Tensor& g) -> Grads {
      Tensor zero = Tensor::zeros({}, g.dtype(), g.device());
      return {na ? sum_to(where_raw(c, g, zero, g.shape()), sa) : Tensor(),
              nb ? sum_to(where_raw(c, zero, g, g.shape()), sb) : Tensor()};
    }, {c});
  }
  return out;
}

// x, mask broadcastable to x -> x with `value` where mask. dx = g with masked entries zeroed.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  check_defined("masked_fill", x);
  check_mask("masked_fill", mask);
  check_float("masked_fill", x);
  if (broadcast_shapes(mask.shape(), x.shape(), "masked_fill") != x.shape())
    throw Error("masked_fill: mask " + shape_str(mask.shape()) + " does not broadcast to input " +
                shape_str(x.shape()));
  Tensor v = Tensor::full({}, value, x.dtype(), x.device());
  Tensor out = where_raw(mask, v, x, x.shape());
  if (auto ctx = grad_ctx({x})) {
    Tensor m = mask.detach();
    record(out, "masked_fill", ctx, [m](const Tensor& g) -> Grads {
      return {where_raw(m, Tensor::zeros({}, g.dtype(), g.device()), g, g.shape())};
    }, {m});
  }
  return out;
}

}  // namespace vt
