// tuner_util.h — small pieces several tuners share: new tensors and layers placed like the
// weights they tune (same dtype, same device), and the bottleneck MLP of adapter-style tuners.
#pragma once
#include <memory>

#include "nn/layers.h"

namespace vt::peft {

// The dtype a tuner's own (trainable) tensors take beside a frozen weight `ref`: ref's, except
// that a BF16 weight (mixed precision, nn/precision.h) gets F32 master weights.
inline DType working_dtype(const Tensor& ref) { return ref.dtype() == DType::BF16 ? DType::F32 : ref.dtype(); }

// A new module moved to `ref`'s working dtype and device (tuners attach to models in any dtype).
template <typename M>
std::shared_ptr<M> placed_like(std::shared_ptr<M> m, const Tensor& ref) {
  m->to(working_dtype(ref));
  m->to(ref.device());
  return m;
}

// An uninitialised (shape) tensor with ref's working dtype and device.
inline Tensor empty_like_dev(const Shape& shape, const Tensor& ref) {
  return Tensor::empty(shape, working_dtype(ref), ref.device());
}

// down: D -> h, up: h -> D, both with bias; the activation sits between (chosen by the tuner).
struct Bottleneck : nn::Module {
  std::shared_ptr<nn::Linear> down, up;
  Bottleneck(int64_t dim, int64_t hidden) {
    down = register_module("down", std::make_shared<nn::Linear>(dim, hidden));
    up = register_module("up", std::make_shared<nn::Linear>(hidden, dim));
  }
  // base + s · up(u), the add and the scale inside up's GEMM (add_linear) unless a tuner sits
  // on up: (B, N, h) -> (B, N, D)
  Tensor up_add(const Tensor& base, const Tensor& u, double s) {
    if (!up->tuners.empty()) return add(base, mul(up->forward(u), s));
    return add_linear(base, u, up->weight, s, up->bias);
  }
};

}  // namespace vt::peft
