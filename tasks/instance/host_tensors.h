// host_tensors.h — the small conversions the detector's bookkeeping needs (internal to
// tasks/instance): index lists and box lists live on the CPU as plain vectors or F32 tensors,
// outside autograd.
#pragma once
#include <cmath>
#include <limits>
#include <vector>

#include "engine/ops.h"

namespace vt::instance {

// A contiguous F32 copy on the CPU, detached.
inline Tensor cpu_f32(const Tensor& t) {
  NoGrad ng;
  return t.detach().to(Device::cpu()).to(DType::F32).contiguous();
}

// An I64 index tensor (n) on `device`.
inline Tensor i64(const std::vector<int64_t>& v, Device device = Device::cpu()) {
  return Tensor::from_vector(v, {(int64_t)v.size()}).to(device);
}

// The elements of an integer tensor.
inline std::vector<int64_t> ints(const Tensor& t) {
  std::vector<int64_t> v;
  for (double x : t.to_vector()) v.push_back((int64_t)x);
  return v;
}

// A score as a sort key: NaN (a diverged model) ranks last instead of breaking the ordering.
template <typename T>
T score_key(T s) { return std::isnan(s) ? -std::numeric_limits<T>::infinity() : s; }

// Rows `idx` of t, detached.
inline Tensor rows(const Tensor& t, const std::vector<int64_t>& idx) {
  NoGrad ng;
  return index_select(t, 0, i64(idx, t.device()));
}

}  // namespace vt::instance
