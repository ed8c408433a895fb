// layers.h — the building blocks of ViT and Swin, with the sites where tuners attach.
//
// Tuner sites (docs/ARCHITECTURE.md): a Linear, a LayerNorm and a PatchEmbed carry `tuners`
// that rewrite their output (LoRA, SSF, FacT, ...); an Attention carries a prefix provider
// (prefix tuning) and head tuners; a block (nn/tuned_block.h) carries branches, adapters and a
// token dispatcher. Layers never know which tuner is attached: peft/ fills the sites.
#pragma once
#include <memory>
#include <vector>

#include "nn/module.h"

namespace vt::nn {

// A tuner on a layer's output: y' = forward(x, y), where y = layer(x) of the frozen layer
// (x Wᵀ + b for a Linear; LN(x) for a LayerNorm; the patch tokens for a PatchEmbed).
struct OutputTuner : Module {
  virtual Tensor forward(const Tensor& x, const Tensor& y) = 0;
  // An additive low-rank term on all outputs, y' = y + scale · (x Aᵀ) Bᵀ (LoRA), where the
  // tuner is one: a Linear with a frozen BF16 weight then makes y' in one GEMM, stored in BF16
  // (linear_lowrank_bf16), for a reader that takes BF16.
  struct LowRank {
    Tensor A, B;  // (r, in), (out, r)
    double scale = 1.0;
  };
  virtual bool is_low_rank() const { return false; }
  virtual LowRank low_rank();  // only where is_low_rank()
};

struct Linear : Module {
  Tensor weight, bias;  // (out, in), (out) or undefined
  std::vector<std::shared_ptr<OutputTuner>> tuners;
  Linear(int64_t in, int64_t out, bool bias = true);
  Tensor forward(const Tensor& x);  // x: (..., in) -> (..., out)
  void add_tuner(const std::string& name, std::shared_ptr<OutputTuner> t);
  // True when forward() reads x only through a frozen BF16 weight's GEMM (no tuner sees x):
  // x may then come in BF16 (nn/precision.h).
  bool takes_bf16_input() const {
    return tuners.empty() && weight.dtype() == DType::BF16 && !weight.requires_grad();
  }
  // forward() with y stored in BF16, where that is the same layer rounded once: a frozen BF16
  // weight and bias, and no tuner (linear_bf16_out) or one low-rank term (linear_lowrank_bf16).
  bool gives_bf16_output() const {
    return weight.dtype() == DType::BF16 && !weight.requires_grad() && !(bias.defined() && bias.requires_grad()) &&
           (tuners.empty() || (tuners.size() == 1 && tuners[0]->is_low_rank()));
  }
  Tensor forward_bf16(const Tensor& x);
  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }
};

struct LayerNorm : Module {
  Tensor weight, bias;
  double eps;
  std::vector<std::shared_ptr<OutputTuner>> tuners;
  explicit LayerNorm(int64_t dim, double eps = 1e-6);
  Tensor forward(const Tensor& x);
  void add_tuner(const std::string& name, std::shared_ptr<OutputTuner> t);
};

struct Conv2d : Module {
  Tensor weight, bias;
  std::vector<int64_t> stride, padding;
  int64_t groups;
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
         int64_t groups = 1, bool bias = true);
  Tensor forward(const Tensor& x);  // (B, C, H, W) -> (B, out, H', W')
};

// Patch embedding: a stride-P PxP conv, computed as patchify + one GEMM.
struct PatchEmbed : Module {
  std::shared_ptr<Conv2d> proj;
  std::shared_ptr<LayerNorm> norm;  // Swin has one; ViT does not
  int64_t patch;
  std::vector<std::shared_ptr<OutputTuner>> tuners;  // on the tokens, before `norm`
  PatchEmbed(int64_t patch, int64_t in_chans, int64_t dim, bool with_norm = false,
             double norm_eps = 1e-5);
  Tensor forward(const Tensor& x);  // (B, 3, H, W) -> (B, H/P, W/P, D)
  void add_tuner(const std::string& name, std::shared_ptr<OutputTuner> t);
};

struct Mlp : Module {
  std::shared_ptr<Linear> fc1, fc2;
  double drop = 0.0;
  Mlp(int64_t dim, int64_t hidden);
  Tensor forward(const Tensor& x);  // (..., D) -> (..., D); GELU (erf) between
};

// Extra keys/values for attention (prefix tuning): returns (k_pre, v_pre), each (B, H, l, Dh).
struct PrefixProvider : Module {
  virtual std::pair<Tensor, Tensor> kv(int64_t batch, int64_t heads, int64_t head_dim) = 0;
};

// A tuner on the attention's per-head output, before the output projection (U-Tuning's
// parallel prefix): o' = forward(q, k, v, mask, o), all (B, H, N·, Dh); mask as Attention's.
struct HeadTuner : Module {
  virtual Tensor forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                         const Tensor& o) = 0;
};

// Multi-head self-attention with a fused qkv projection (timm layout: rows q | k | v).
struct Attention : Module {
  std::shared_ptr<Linear> qkv, proj;
  std::shared_ptr<PrefixProvider> prefix;  // optional
  std::vector<std::shared_ptr<HeadTuner>> head_tuners;
  int64_t heads;
  DType products = DType::F32;  // BF16: QKᵀ and PV in BF16 (nn/precision.h sets it)
  Attention(int64_t dim, int64_t heads, bool qkv_bias = true);
  // x: (B, N, D); mask: additive, broadcastable to (B, H, N, N), or undefined.
  Tensor forward(const Tensor& x, const Tensor& mask = Tensor());
};

// How a block's token sequence (B, N, D) lies on the image: `prefix` tokens first (ViT: CLS and
// any prompts; Swin: none), then an h×w grid in row-major order. Set by the model.
struct TokenGrid {
  int64_t prefix = 0, h = 0, w = 0;
};

// A tuner beside a sub-block (attention or MLP) of a Block.
// x: the sub-block's residual input (B, N, D); z: its LayerNorm output. Returns a delta
// added to the residual stream.
struct BranchTuner : Module {
  virtual Tensor forward(const Tensor& x, const Tensor& z, const TokenGrid& grid) = 0;
  // base + forward(x, z, grid): the residual stream with the delta added. A tuner may fold the
  // add into its last GEMM instead (add_linear: AdaptFormer's and Convpass's up-projection).
  virtual Tensor forward_add(const Tensor& base, const Tensor& x, const Tensor& z, const TokenGrid& grid) {
    return add(base, forward(x, z, grid));
  }
};
// A tuner after a sub-block's output h (B, N, D) (before the residual add): returns h'.
struct SequentialTuner : Module {
  virtual Tensor forward(const Tensor& h, const TokenGrid& grid) = 0;
};

// A per-token gate on a block's MLP (DyT's token dispatcher). mask() sees the MLP's residual
// input x (B, N, D) and returns (B, N, 1) of 0/1 (in training it may carry a straight-through
// gradient), or an undefined tensor for "every token". In eval mode with `sparse` set, the
// block then runs LN2 + MLP only on the kept tokens (gather, compute, scatter back).
struct TokenDispatcher : Module {
  bool sparse = true;
  virtual Tensor mask(const Tensor& x, const TokenGrid& grid) = 0;
};

// A tuner on the token sequence between blocks (VPT). before_block(i, x) runs before block i
// and returns the new sequence; after_blocks(x) runs before the final norm (e.g. to drop prompts).
struct TokenTuner : Module {
  virtual Tensor before_block(int64_t i, const Tensor& x) = 0;
  virtual Tensor after_blocks(const Tensor& x) { return x; }
};

}  // namespace vt::nn
