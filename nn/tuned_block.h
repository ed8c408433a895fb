// tuned_block.h — the pre-LN transformer block with its tuner slots, shared by ViT and Swin.
//
//   z  = LN1 x;  h = Attn(z)                      the family's attention (ViT: global; Swin:
//                                                 shifted windows), then the shared sequence:
//   h  = A_attn(h)                                sequential adapters after attention
//   x' = x + DropPath(h) + Σ b_attn(x, z)        branches beside attention
//   m  = TD(x')                                   optional token dispatcher (DyT), 0/1 per token
//   h2 = A_mlp(m ⊙ MLP(LN2 x'))                   (eval + sparse: MLP on the kept tokens only)
//   y  = x' + DropPath(h2) + Σ b_mlp(x', LN2 x') + Σ b_block(x, x)
//
// TunedBlock holds LN1, LN2, the MLP, the slots and residual_with_tuners(); a family's block
// adds its attention and calls residual_with_tuners() with the token sequence (B, N, D) and
// the TokenGrid telling how those tokens lie on the image. Tuners (peft/) fill the slots
// through add_branch / add_adapter / add_block_branch / set_dispatcher.
#pragma once
#include "nn/layers.h"

namespace vt::nn {

struct TunedBlock : Module {
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Mlp> mlp;
  double drop_path_rate = 0.0;
  std::vector<std::shared_ptr<BranchTuner>> attn_branches, mlp_branches;
  std::vector<std::shared_ptr<SequentialTuner>> attn_adapters, mlp_adapters;
  std::vector<std::shared_ptr<BranchTuner>> block_branches;  // beside the whole block: (x, x)
  std::shared_ptr<TokenDispatcher> mlp_dispatcher;            // optional: x + m ⊙ MLP(LN2 x)

  virtual Attention& attention() = 0;
  // Attach a tuner beside (branch) or after (adapter) attention (attn_site) or the MLP.
  void add_branch(bool attn_site, const std::string& name, std::shared_ptr<BranchTuner> t);
  void add_adapter(bool attn_site, const std::string& name, std::shared_ptr<SequentialTuner> t);
  void add_block_branch(const std::string& name, std::shared_ptr<BranchTuner> t);
  void set_dispatcher(const std::string& name, std::shared_ptr<TokenDispatcher> d);

 protected:
  // x: the block input (B, N, D); z = LN1 x; h: the attention output (B, N, D). Returns y.
  Tensor residual_with_tuners(const Tensor& x, const Tensor& z, Tensor h, const TokenGrid& grid);
};

// ViT's block: global multi-head attention over the whole sequence.
struct Block : TunedBlock {
  std::shared_ptr<Attention> attn;
  TokenGrid grid;  // set by VisionTransformer before each forward
  Block(int64_t dim, int64_t heads, double mlp_ratio = 4.0, double eps = 1e-6);
  Attention& attention() override { return *attn; }
  Tensor forward(const Tensor& x);  // (B, N, D) -> (B, N, D)
};

// Turns token skipping on or off in every token dispatcher under `model` (DyT): off, every
// token goes through every MLP and is masked afterwards — the same outputs at dense speed.
void set_token_skipping(Module& model, bool on);

}  // namespace vt::nn
