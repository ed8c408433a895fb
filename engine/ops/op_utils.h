// op_utils.h — small helpers shared by the op files (not part of the public API).
#pragma once
#include <string>

#include "engine/backend.h"
#include "engine/ops.h"

namespace vt {

// A broadcast view of t with `shape`, recording no autograd (for feeding kernels).
inline Tensor expand_raw(const Tensor& t, const Shape& shape) {
  const int64_t lead = (int64_t)shape.size() - t.dim();
  Shape st(shape.size(), 0);
  for (int64_t i = lead; i < (int64_t)shape.size(); ++i)
    st[i] = t.shape()[i - lead] == shape[i] ? t.strides()[i - lead] : 0;
  return Tensor::make_view(t.storage(), shape, st, t.offset(), t.dtype());
}

// Contiguous data of t with no autograd (a copy only if needed).
inline Tensor contiguous_raw(const Tensor& t) {
  if (t.is_contiguous()) return t.detach();
  NoGrad ng;
  return t.contiguous();
}

inline void check_same(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw Error(std::string(op) + ": dtype mismatch " + dtype_name(a.dtype()) + " vs " +
                dtype_name(b.dtype()) + " (shapes " + shape_str(a.shape()) + " and " +
                shape_str(b.shape()) + ")");
  if (a.device() != b.device())
    throw Error(std::string(op) + ": tensors on different devices (" + a.device().str() + " and " +
                b.device().str() + ")");
}

inline void check_defined(const char* op, const Tensor& t, const char* what = "input") {
  if (!t.defined()) throw Error(std::string(op) + ": " + what + " is undefined");
}

inline void check_float(const char* op, const Tensor& t) {
  if (t.dtype() != DType::F32 && t.dtype() != DType::F64)
    throw Error(std::string(op) + ": expected an F32 or F64 tensor, got " + dtype_name(t.dtype()));
}

inline Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }

}  // namespace vt
