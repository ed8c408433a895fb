// layers.cpp — Linear, LayerNorm, Conv2d, PatchEmbed, Mlp and Attention.
// Initialisation follows torch's defaults (kaiming_uniform(a=√5) weights, uniform biases);
// pretrained weights overwrite it anyway.
#include "nn/layers.h"

#include <cmath>

#include "engine/init.h"

namespace vt::nn {

// ---------------------------------------------------------------- Linear
Linear::Linear(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", Tensor::empty({out, in}));
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (with_bias) {
    bias = register_parameter("bias", Tensor::empty({out}));
    double bound = 1.0 / std::sqrt((double)in);
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) {
  Tensor y = linear(x, weight, bias);  // (..., in) -> (..., out)
  for (auto& t : tuners) y = t->forward(x, y);
  return y;
}

OutputTuner::LowRank OutputTuner::low_rank() {
  throw Error("OutputTuner::low_rank: this tuner is not an additive low-rank term (is_low_rank() is false)");
}

Tensor Linear::forward_bf16(const Tensor& x) {
  if (!gives_bf16_output())
    throw Error("Linear::forward_bf16: needs a frozen BF16 weight, a frozen bias and no tuner but a low-rank one");
  if (tuners.empty()) return linear_bf16_out(x, weight, bias);
  const OutputTuner::LowRank t = tuners[0]->low_rank();
  return linear_lowrank_bf16(x, weight, bias, t.A, t.B, t.scale);
}

void Linear::add_tuner(const std::string& name, std::shared_ptr<OutputTuner> t) {
  tuners.push_back(register_module(name, t));
}

// ---------------------------------------------------------------- LayerNorm
LayerNorm::LayerNorm(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", Tensor::ones({dim}));
  bias = register_parameter("bias", Tensor::zeros({dim}));
}

Tensor LayerNorm::forward(const Tensor& x) {
  Tensor y = layer_norm(x, weight, bias, eps);
  for (auto& t : tuners) y = t->forward(x, y);
  return y;
}

void LayerNorm::add_tuner(const std::string& name, std::shared_ptr<OutputTuner> t) {
  tuners.push_back(register_module(name, t));
}

// ---------------------------------------------------------------- Conv2d
Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t g, bool with_bias)
    : stride{s, s}, padding{p, p}, groups(g) {
  weight = register_parameter("weight", Tensor::empty({out, in / g, k, k}));
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (with_bias) {
    bias = register_parameter("bias", Tensor::empty({out}));
    double bound = 1.0 / std::sqrt((double)(in / g * k * k));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight, bias, stride, padding, {1, 1}, groups);
}

// ---------------------------------------------------------------- PatchEmbed
PatchEmbed::PatchEmbed(int64_t p, int64_t in_chans, int64_t dim, bool with_norm, double norm_eps)
    : patch(p) {
  proj = register_module("proj", std::make_shared<Conv2d>(in_chans, dim, p, p));
  if (with_norm) norm = register_module("norm", std::make_shared<LayerNorm>(dim, norm_eps));
}

Tensor PatchEmbed::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != proj->weight.size(1) || x.size(2) % patch || x.size(3) % patch)
    throw Error("PatchEmbed: input " + shape_str(x.shape()) + " is not (B, " +
                std::to_string(proj->weight.size(1)) + ", H, W) with H, W multiples of " +
                std::to_string(patch));
  // A stride-P PxP conv is one GEMM over patches:
  // (B, C, Gh, P, Gw, P) -> (B, Gh, Gw, C, P, P) -> (B·Gh·Gw, C·P·P) · Wᵀ (C·P·P, D)
  const int64_t B = x.size(0), C = x.size(1), Gh = x.size(2) / patch, Gw = x.size(3) / patch;
  const int64_t D = proj->weight.size(0);
  Tensor patches = x.reshape({B, C, Gh, patch, Gw, patch}).permute({0, 2, 4, 1, 3, 5});
  Tensor w = proj->weight.reshape({D, C * patch * patch});
  Tensor y = linear(patches.reshape({B, Gh, Gw, C * patch * patch}), w, proj->bias);  // (B, Gh, Gw, D)
  for (auto& t : tuners) y = t->forward(x, y);
  if (norm) y = norm->forward(y);
  return y;
}

void PatchEmbed::add_tuner(const std::string& name, std::shared_ptr<OutputTuner> t) {
  tuners.push_back(register_module(name, t));
}

// ---------------------------------------------------------------- Mlp
Mlp::Mlp(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, hidden));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, dim));
}

Tensor Mlp::forward(const Tensor& x) {
  // Mixed precision (nn/precision.h): when fc2 only needs the activation for its BF16 GEMM,
  // GELU stores it in BF16; when fc1 is frozen BF16 as well, fc1 stores its output in BF16
  // (GELU's saved input), and GELU's gradient is stored in BF16 for fc1's dX GEMM where nothing
  // else reads it (no tuner on fc1: a LoRA's B gradient takes it in F32).
  const bool h_bf16 = fc2->takes_bf16_input() && !(training() && drop > 0);
  const bool a_bf16 = h_bf16 && fc1->gives_bf16_output();
  const Tensor a = a_bf16 ? fc1->forward_bf16(x) : fc1->forward(x);  // (..., hidden)
  Tensor h = h_bf16 ? gelu_bf16(a, a_bf16 && fc1->takes_bf16_input()) : gelu(a);
  if (!h_bf16) h = dropout(h, drop, training());  // (with h_bf16 there is no dropout to apply)
  return dropout(fc2->forward(h), drop, training());  // (..., D)
}

// ---------------------------------------------------------------- Attention
Attention::Attention(int64_t dim, int64_t heads_, bool qkv_bias) : heads(heads_) {
  if (dim % heads) throw Error("Attention: dim " + std::to_string(dim) + " not divisible by " +
                               std::to_string(heads) + " heads");
  qkv = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, qkv_bias));
  proj = register_module("proj", std::make_shared<Linear>(dim, dim));
}

Tensor Attention::forward(const Tensor& x, const Tensor& mask) {
  const int64_t B = x.size(0), N = x.size(1), D = x.size(2), Dh = D / heads;
  if (!prefix && head_tuners.empty()) {  // q, k, v as one tensor: one gradient in the backward
    // BF16 products: a frozen qkv (with no tuner or a low-rank one) stores its output in BF16,
    // and so does PV for a frozen proj with no tuner (nn/precision.h)
    const bool qkv_bf16 = products == DType::BF16 && qkv->gives_bf16_output();
    const bool o_bf16 = products == DType::BF16 && proj->takes_bf16_input();
    const Tensor packed = qkv_bf16 ? qkv->forward_bf16(x) : qkv->forward(x);  // (B, N, 3D)
    Tensor o = scaled_dot_product_attention_qkv(packed.reshape({B, N, 3, heads, Dh}), mask,
                                                std::nullopt, products, o_bf16);  // (B, H, N, Dh)
    return proj->forward(o.transpose(1, 2).reshape({B, N, D}));
  }
  // (B, N, 3D) -> (B, N, 3, H, Dh) -> (3, B, H, N, Dh)
  Tensor qkv_ = qkv->forward(x).reshape({B, N, 3, heads, Dh}).permute({2, 0, 3, 1, 4});
  Tensor q = qkv_.select(0, 0), k = qkv_.select(0, 1), v = qkv_.select(0, 2);  // (B, H, N, Dh)
  Tensor m = mask;
  if (prefix) {  // prefix tuning: extra keys/values (B, H, l, Dh); queries only from tokens
    auto [kp, vp] = prefix->kv(B, heads, Dh);
    k = concat({kp, k}, 2);
    v = concat({vp, v}, 2);
    if (m.defined()) {  // prefix positions are never masked
      Shape ms = m.shape();
      ms.back() = kp.size(2);
      m = concat({Tensor::zeros(ms, m.dtype(), m.device()), m}, -1);
    }
  }
  Tensor o = scaled_dot_product_attention(q, k, v, m, std::nullopt, products);  // (B, H, N, Dh)
  for (auto& t : head_tuners) o = t->forward(q, k, v, m, o);
  return proj->forward(o.transpose(1, 2).reshape({B, N, D}));
}

}  // namespace vt::nn
