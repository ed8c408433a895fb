// reduce.cpp — sum / mean / max / argmax / var over dims, with keepdim.
//
// A set of adjacent dims reduces in one kernel call over an (outer, r, inner) view; scattered
// dims are first permuted to the end. The gradient of a sum is the output gradient broadcast
// back (an expand view, no copy); max sends it to the first maximal element.
#include <algorithm>

#include "engine/ops/op_utils.h"

namespace vt {

static std::vector<int64_t> norm_dims(std::vector<int64_t> dims, int64_t nd, const char* op) {
  if (dims.empty())
    for (int64_t i = 0; i < nd; ++i) dims.push_back(i);
  for (auto& d : dims) d = wrap_dim(d, nd, op);
  std::sort(dims.begin(), dims.end());
  if (std::adjacent_find(dims.begin(), dims.end()) != dims.end())
    throw Error(std::string(op) + ": repeated dim");
  return dims;
}

static Shape kept_shape(const Shape& s, const std::vector<int64_t>& dims) {
  Shape k = s;
  for (int64_t d : dims) k[d] = 1;
  return k;
}
static Shape dropped_shape(const Shape& s, const std::vector<int64_t>& dims) {
  Shape r;
  for (int64_t i = 0; i < (int64_t)s.size(); ++i)
    if (!std::binary_search(dims.begin(), dims.end(), i)) r.push_back(s[i]);
  return r;
}

// Raw reduction (no autograd) of x over sorted dims; result has keepdim shape.
static Tensor reduce_raw(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims) {
  Shape keep = kept_shape(x.shape(), dims);
  Tensor src = contiguous_raw(x);
  const bool adjacent = dims.empty() || dims.back() - dims.front() + 1 == (int64_t)dims.size();
  int64_t outer = 1, r = 1, inner = 1;
  if (adjacent) {
    for (int64_t i = 0; i < x.dim(); ++i) {
      if (!dims.empty() && i < dims.front()) outer *= x.shape()[i];
      else if (!dims.empty() && i <= dims.back()) r *= x.shape()[i];
      else inner *= x.shape()[i];
    }
  } else {  // move the reduced dims last, then reduce rows
    Shape perm;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (!std::binary_search(dims.begin(), dims.end(), i)) perm.push_back(i);
    for (int64_t d : dims) perm.push_back(d);
    NoGrad ng;
    src = x.detach().permute(perm).contiguous();
    for (int64_t d : dims) r *= x.shape()[d];
    outer = x.numel() / std::max<int64_t>(r, 1);
  }
  Tensor out = Tensor::empty(keep, op == ReduceOp::ArgMax ? DType::I64 : x.dtype(), x.device());
  if (out.numel()) {
    if (r == 0) backend_for(x).fill(out, 0.0);
    else backend_for(x).reduce(op, src, out, outer, r, inner);
  }
  return out;
}

Tensor sum(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  check_defined("sum", x);
  check_float("sum", x);
  dims = norm_dims(dims, x.dim(), "sum");
  Tensor out = reduce_raw(ReduceOp::Sum, x, dims);
  if (!keepdim) out = out.detach().reshape(dropped_shape(x.shape(), dims));
  if (auto ctx = grad_ctx({x})) {
    Shape in = x.shape(), keep = kept_shape(x.shape(), dims);
    record(out, "sum", ctx, [in, keep](const Tensor& g) -> Grads {
      return {g.reshape(keep).expand(in)};
    });
  }
  return out;
}

Tensor mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  dims = norm_dims(dims, x.dim(), "mean");
  int64_t n = 1;
  for (int64_t d : dims) n *= x.shape()[d];
  return mul(sum(x, dims, keepdim), 1.0 / (double)std::max<int64_t>(n, 1));
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  check_float("argmax", x);
  dim = wrap_dim(dim, x.dim(), "argmax");
  Tensor idx = reduce_raw(ReduceOp::ArgMax, x, {dim});
  return keepdim ? idx : idx.squeeze(dim);
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  check_float("max", x);
  dim = wrap_dim(dim, x.dim(), "max");
  Tensor out = reduce_raw(ReduceOp::Max, x, {dim});  // keepdim shape
  if (auto ctx = grad_ctx({x})) {
    Tensor idx = reduce_raw(ReduceOp::ArgMax, x, {dim});
    Shape in = x.shape(), keep = out.shape();
    record(out, "max", ctx, [idx, in, keep, dim](const Tensor& g) -> Grads {
      Tensor zeros = Tensor::zeros(in, g.dtype(), g.device());
      return {scatter_add(zeros, dim, idx, g.reshape(keep))};
    }, {idx});
  }
  return keepdim ? out : out.squeeze(dim);
}

Tensor var(const Tensor& x, std::vector<int64_t> dims, int64_t correction, bool keepdim) {
  dims = norm_dims(dims, x.dim(), "var");
  int64_t n = 1;
  for (int64_t d : dims) n *= x.shape()[d];
  Tensor d = sub(x, mean(x, dims, true));
  return mul(sum(square(d), dims, keepdim), 1.0 / (double)std::max<int64_t>(n - correction, 1));
}

}  // namespace vt
