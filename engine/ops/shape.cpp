// shape.cpp — joining, splitting, padding and rolling: concat, split, chunk, stack, pad, roll.
//
// None of these needs a kernel of its own. split and chunk are narrow() views (their backward
// is narrow's). concat, pad and roll allocate the output and fill narrow()ed windows of it
// with the backend's strided copy; their backward reads the same windows out of the gradient:
//   concat: dx_i = g.narrow(dim, offset_i, size_i)
//   pad:    dx   = pad(g, -pads)      (padding and cropping undo each other)
//   roll:   dx   = roll(g, -shifts)
#include <algorithm>

#include "engine/ops/op_utils.h"

namespace vt {

namespace {
// A narrow() view that records no autograd (for addressing windows of fresh outputs).
Tensor window(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  Shape sh = t.shape();
  sh[dim] = length;
  return Tensor::make_view(t.storage(), sh, t.strides(), t.offset() + start * t.strides()[dim],
                           t.dtype());
}
}  // namespace

// ---------------------------------------------------------------- concat / stack
// xs[i]: (..., n_i, ...) -> (..., Σ n_i, ...); every other dim must agree.
Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) throw Error("concat: needs at least one tensor");
  for (const Tensor& x : xs) check_defined("concat", x);
  const Tensor& x0 = xs[0];
  if (x0.dim() == 0) throw Error("concat: cannot concatenate 0-d tensors (use stack)");
  dim = wrap_dim(dim, x0.dim(), "concat");
  Shape os = x0.shape();
  os[dim] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    check_same("concat", x0, xs[i]);
    bool ok = xs[i].dim() == x0.dim();
    for (int64_t d = 0; ok && d < x0.dim(); ++d) ok = d == dim || xs[i].size(d) == x0.size(d);
    if (!ok)
      throw Error("concat: tensor " + std::to_string(i) + " has shape " +
                  shape_str(xs[i].shape()) + ", expected " + shape_str(x0.shape()) +
                  " in every dim but " + std::to_string(dim));
    os[dim] += xs[i].size(dim);
  }
  Tensor out = Tensor::empty(os, x0.dtype(), x0.device());
  Backend& be = backend_for(x0);
  std::vector<int64_t> offsets(xs.size());
  for (size_t i = 0, off = 0; i < xs.size(); off += xs[i].size(dim), ++i) {
    offsets[i] = off;
    Tensor w = window(out, dim, off, xs[i].size(dim));
    if (w.numel()) be.copy(xs[i], w);
  }
  if (auto ctx = grad_ctx(xs)) {
    std::vector<int64_t> sizes(xs.size());
    std::vector<bool> need(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) sizes[i] = xs[i].size(dim), need[i] = ctx[i];
    record(out, "concat", ctx, [offsets, sizes, need, dim](const Tensor& g) -> Grads {
      Grads r(sizes.size());
      for (size_t i = 0; i < sizes.size(); ++i)
        if (need[i]) r[i] = g.narrow(dim, offsets[i], sizes[i]);
      return r;
    });
  }
  return out;
}

// xs[i]: all the same shape S -> S with a new dim of size xs.size() at `dim`.
Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) throw Error("stack: needs at least one tensor");
  for (const Tensor& x : xs) check_defined("stack", x);
  dim = wrap_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].shape() != xs[0].shape())
      throw Error("stack: tensor " + std::to_string(i) + " has shape " +
                  shape_str(xs[i].shape()) + ", expected " + shape_str(xs[0].shape()));
    parts.push_back(xs[i].unsqueeze(dim));
  }
  return concat(parts, dim);
}

// ---------------------------------------------------------------- split / chunk
// x: (..., n, ...) -> views of (..., sizes[i], ...) with Σ sizes = n. A single size s means
// pieces of s (the last one smaller), like torch.split(x, s).
std::vector<Tensor> split(const Tensor& x, std::vector<int64_t> sizes, int64_t dim) {
  check_defined("split", x);
  dim = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.size(dim);
  if (sizes.size() == 1) {
    const int64_t s = sizes[0];
    if (s <= 0 && !(s == 0 && n == 0))
      throw Error("split: split size must be positive, got " + std::to_string(s));
    sizes.clear();
    for (int64_t at = 0; at < n || (n == 0 && sizes.empty()); at += std::max<int64_t>(s, 1))
      sizes.push_back(std::min(s, n - at));
  }
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) throw Error("split: negative size in " + shape_str(sizes));
    total += s;
  }
  if (total != n)
    throw Error("split: sizes " + shape_str(sizes) + " sum to " + std::to_string(total) +
                ", but dim " + std::to_string(dim) + " of " + shape_str(x.shape()) + " has " +
                std::to_string(n));
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(dim, at, s));
    at += s;
  }
  return out;
}

// torch.chunk: pieces of ceil(n / chunks) along dim (so possibly fewer than `chunks`).
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  check_defined("chunk", x);
  if (chunks <= 0) throw Error("chunk: number of chunks must be positive, got " + std::to_string(chunks));
  dim = wrap_dim(dim, x.dim(), "chunk");
  const int64_t n = x.size(dim);
  if (n == 0) return split(x, std::vector<int64_t>(chunks, 0), dim);  // torch: `chunks` empties
  return split(x, {(n + chunks - 1) / chunks}, dim);
}

// ---------------------------------------------------------------- pad
// pads = (left_last, right_last, left_prev, right_prev, ...), as torch.nn.functional.pad in
// constant mode; negative amounts crop. x: (..., n) -> (..., n + left + right)
Tensor pad(const Tensor& x, std::vector<int64_t> pads, double value) {
  check_defined("pad", x);
  if (pads.size() % 2 != 0 || (int64_t)pads.size() / 2 > x.dim())
    throw Error("pad: " + std::to_string(pads.size()) + " pad values for input " +
                shape_str(x.shape()) + " (need an even number, at most 2 per dim)");
  const int64_t nd = x.dim();
  Shape os = x.shape();
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    const int64_t d = nd - 1 - (int64_t)i;
    os[d] += pads[2 * i] + pads[2 * i + 1];
    if (os[d] < 0)
      throw Error("pad: pads " + shape_str(pads) + " leave dim " + std::to_string(d) + " of " +
                  shape_str(x.shape()) + " with negative size " + std::to_string(os[d]));
  }
  Tensor out = Tensor::full(os, value, x.dtype(), x.device());
  // The part of x that survives cropping, and where it lands in out.
  Tensor src = x.detach(), dst = out;
  bool empty = false;
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    const int64_t d = nd - 1 - (int64_t)i, l = pads[2 * i], r = pads[2 * i + 1];
    const int64_t crop_l = std::max<int64_t>(-l, 0), crop_r = std::max<int64_t>(-r, 0);
    const int64_t len = x.size(d) - crop_l - crop_r;
    if (len <= 0) {
      empty = true;
      break;
    }
    src = window(src, d, crop_l, len);
    dst = window(dst, d, std::max<int64_t>(l, 0), len);
  }
  if (!empty && src.numel()) backend_for(x).copy(src, dst);
  if (auto ctx = grad_ctx({x})) {
    std::vector<int64_t> neg_pads(pads.size());
    for (size_t i = 0; i < pads.size(); ++i) neg_pads[i] = -pads[i];
    record(out, "pad", ctx, [neg_pads](const Tensor& g) -> Grads { return {pad(g, neg_pads)}; });
  }
  return out;
}

// ---------------------------------------------------------------- roll
// Elements shifted by shifts[i] along dims[i], wrapping around (torch.roll). With no dims,
// x is rolled as a flat sequence. Repeated dims add their shifts.
Tensor roll(const Tensor& x, std::vector<int64_t> shifts, std::vector<int64_t> dims) {
  check_defined("roll", x);
  if (dims.empty()) {
    if (shifts.size() != 1)
      throw Error("roll: without dims, exactly one shift is needed, got " + shape_str(shifts));
    return roll(x.flatten(), shifts, {0}).reshape(x.shape());
  }
  if (shifts.size() != dims.size())
    throw Error("roll: " + std::to_string(shifts.size()) + " shifts for " +
                std::to_string(dims.size()) + " dims");
  // Net shift per dim, in [0, n).
  std::vector<int64_t> shift(x.dim(), 0);
  for (size_t i = 0; i < dims.size(); ++i) shift[wrap_dim(dims[i], x.dim(), "roll")] += shifts[i];
  std::vector<int64_t> rolled;  // dims with a non-zero net shift
  for (int64_t d = 0; d < x.dim(); ++d) {
    const int64_t n = x.size(d);
    shift[d] = n ? ((shift[d] % n) + n) % n : 0;
    if (shift[d]) rolled.push_back(d);
  }
  Tensor out = empty_like(x);
  // Along a rolled dim, x's [0, n-s) lands at [s, n) and x's [n-s, n) at [0, s). With k rolled
  // dims that is 2^k block copies; bit j of `part` picks the piece along rolled[j].
  if (x.numel()) {
    const size_t k = rolled.size();
    for (size_t part = 0; part < (size_t(1) << k); ++part) {
      Tensor src = x.detach(), dst = out;
      for (size_t j = 0; j < k; ++j) {
        const int64_t d = rolled[j], n = x.size(d), s = shift[d];
        if (part >> j & 1) {
          src = window(src, d, n - s, s);
          dst = window(dst, d, 0, s);
        } else {
          src = window(src, d, 0, n - s);
          dst = window(dst, d, s, n - s);
        }
      }
      backend_for(x).copy(src, dst);
    }
  }
  if (auto ctx = grad_ctx({x})) {
    std::vector<int64_t> back(shifts.size());
    for (size_t i = 0; i < shifts.size(); ++i) back[i] = -shifts[i];
    record(out, "roll", ctx, [back, dims](const Tensor& g) -> Grads { return {roll(g, back, dims)}; });
  }
  return out;
}

}  // namespace vt
