// view.cpp — views without copies (reshape, permute, narrow, expand, squeeze), and the copies
// that change layout, dtype or device (contiguous, clone, to). Each records its own backward.
#include <algorithm>

#include "engine/backend.h"
#include "engine/ops.h"

namespace vt {

static Tensor alias(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset) {
  return Tensor::make_view(x.storage(), shape, strides, offset, x.dtype());
}

// Copy src into a fresh contiguous tensor of dtype dt on device dev (no autograd).
static Tensor copy_to(const Tensor& src, DType dt, Device dev) {
  Tensor out = Tensor::empty(src.shape(), dt, dev);
  if (src.numel() == 0) return out;
  if (src.device() == dev) {
    backend_for(dev).copy(src, out);
  } else {
    // Host<->device copies go through the non-CPU backend, on contiguous same-dtype data.
    Device gpu = src.device().type == Device::CPU ? dev : src.device();
    Tensor s = src;
    if (!s.is_contiguous() || s.dtype() != dt) s = copy_to(s, dt, s.device());
    backend_for(gpu).copy(s, out);
  }
  return out;
}

Tensor Tensor::reshape(const Shape& req) const {
  Shape shape = req;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) throw Error("reshape: more than one -1 in " + shape_str(req));
      infer = (int64_t)i;
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0 && known > 0) shape[infer] = numel() / known;
  if (shape_numel(shape) != numel())
    throw Error("reshape: cannot view " + shape_str(this->shape()) + " as " + shape_str(req));
  if (shape == this->shape()) return *this;
  Tensor src = is_contiguous() ? *this : contiguous();
  Tensor out = alias(src, shape, contiguous_strides(shape), src.offset());
  if (auto ctx = grad_ctx({src})) {
    Shape in = src.shape();
    record(out, "reshape", ctx, [in](const Tensor& g) -> Grads { return {g.reshape(in)}; });
  }
  return out;
}

Tensor Tensor::permute(const Shape& dims) const {
  if ((int64_t)dims.size() != dim())
    throw Error("permute: " + shape_str(dims) + " does not match a tensor of shape " +
                shape_str(shape()));
  Shape sh(dim()), st(dim()), inv(dim());
  std::vector<bool> used(dim(), false);
  for (int64_t i = 0; i < dim(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    if (used[d]) throw Error("permute: repeated dim in " + shape_str(dims));
    used[d] = true;
    sh[i] = shape()[d];
    st[i] = strides()[d];
    inv[d] = i;
  }
  Tensor out = alias(*this, sh, st, offset());
  if (auto ctx = grad_ctx({*this}))
    record(out, "permute", ctx, [inv](const Tensor& g) -> Grads { return {g.permute(inv)}; });
  return out;
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  Shape p(dim());
  for (int64_t i = 0; i < dim(); ++i) p[i] = i;
  std::swap(p[wrap_dim(a, dim(), "transpose")], p[wrap_dim(b, dim(), "transpose")]);
  return permute(p);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  if (start < 0) start += shape()[d];
  if (start < 0 || length < 0 || start + length > shape()[d])
    throw Error("narrow: range [" + std::to_string(start) + ", " +
                std::to_string(start + length) + ") out of bounds for dim " + std::to_string(d) +
                " of shape " + shape_str(shape()));
  Shape sh = shape();
  sh[d] = length;
  Tensor out = alias(*this, sh, strides(), offset() + start * strides()[d]);
  if (auto ctx = grad_ctx({*this})) {
    Shape in = shape();
    record(out, "narrow", ctx, [in, d, start, length](const Tensor& g) -> Grads {
      Tensor gx = Tensor::zeros(in, g.dtype(), g.device());
      Tensor window = gx.narrow(d, start, length);
      backend_for(g).copy(g, window);
      return {gx};
    });
  }
  return out;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& req) const {
  if ((int64_t)req.size() < dim())
    throw Error("expand: cannot expand " + shape_str(shape()) + " to " + shape_str(req));
  const int64_t lead = (int64_t)req.size() - dim();
  Shape sh(req.size()), st(req.size(), 0);
  for (int64_t i = 0; i < (int64_t)req.size(); ++i) {
    if (i < lead) {
      sh[i] = req[i];
      continue;
    }
    int64_t have = shape()[i - lead], want = req[i] == -1 ? have : req[i];
    if (have != want && have != 1)
      throw Error("expand: cannot expand " + shape_str(shape()) + " to " + shape_str(req));
    sh[i] = want;
    st[i] = have == want ? strides()[i - lead] : 0;
  }
  if (sh == shape()) return *this;
  Tensor out = alias(*this, sh, st, offset());
  if (auto ctx = grad_ctx({*this})) {
    Shape in = shape();
    record(out, "expand", ctx, [in](const Tensor& g) -> Grads { return {sum_to(g, in)}; });
  }
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape sh = shape(), st = strides();
  int64_t stride = d < dim() ? strides()[d] * shape()[d] : 1;
  sh.insert(sh.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  Tensor out = alias(*this, sh, st, offset());
  if (auto ctx = grad_ctx({*this}))
    record(out, "unsqueeze", ctx, [d](const Tensor& g) -> Grads { return {g.squeeze(d)}; });
  return out;
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (shape()[d] != 1) return *this;
  Shape sh = shape(), st = strides();
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = alias(*this, sh, st, offset());
  if (auto ctx = grad_ctx({*this}))
    record(out, "squeeze", ctx, [d](const Tensor& g) -> Grads { return {g.unsqueeze(d)}; });
  return out;
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten");
  end = wrap_dim(end, dim(), "flatten");
  Shape sh(shape().begin(), shape().begin() + start);
  int64_t n = 1;
  for (int64_t i = start; i <= end; ++i) n *= shape()[i];
  sh.push_back(n);
  sh.insert(sh.end(), shape().begin() + end + 1, shape().end());
  return reshape(sh);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = copy_to(*this, dtype(), device());
  if (auto ctx = grad_ctx({*this}))
    record(out, "clone", ctx, [](const Tensor& g) -> Grads { return {g}; });
  return out;
}

Tensor Tensor::to(Device dev) const {
  if (dev == device()) return *this;
  Tensor out = copy_to(*this, dtype(), dev);
  if (auto ctx = grad_ctx({*this})) {
    Device from = device();
    record(out, "to_device", ctx, [from](const Tensor& g) -> Grads { return {g.to(from)}; });
  }
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = copy_to(*this, dt, device());
  if (is_floating(dt) && is_floating(dtype())) {
    if (auto ctx = grad_ctx({*this})) {
      DType from = dtype();
      record(out, "to_dtype", ctx, [from](const Tensor& g) -> Grads { return {g.to(from)}; });
    }
  }
  return out;
}

}  // namespace vt
