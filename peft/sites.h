// sites.h — where tuners attach, seen the same way on a ViT and on a Swin.
//
// A tuner file never walks a model itself: it asks for the model's Sites — one BlockSites per
// transformer block (its dotted name, width, heads, the linears and norms, and the functions
// that add branches and adapters) plus the model-level sites (patch embedding, final norm,
// the token sequence of a ViT). ViT and Swin fill the same struct, so a tuner written
// against it works on both (see ARCHITECTURE.md, "tuner sites").
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/swin.h"
#include "nn/vit.h"

namespace vt::peft {

struct BlockSites {
  std::string name;  // "blocks.3" (ViT) or "layers.1.blocks.0" (Swin)
  int64_t index = 0;  // position over all blocks of the model
  int64_t dim = 0, heads = 0, hidden = 0;
  double drop_path = 0.0;  // the block's stochastic-depth rate (branches may apply it too)
  nn::Module* block = nullptr;
  nn::LayerNorm *norm1 = nullptr, *norm2 = nullptr;
  nn::Attention* attn = nullptr;
  nn::Linear *qkv = nullptr, *proj = nullptr, *fc1 = nullptr, *fc2 = nullptr;
  // Attach a tuner beside (branch) or after (adapter) attention (attn_site) or the MLP.
  std::function<void(bool attn_site, const std::string&, std::shared_ptr<nn::BranchTuner>)> add_branch;
  std::function<void(bool attn_site, const std::string&, std::shared_ptr<nn::SequentialTuner>)> add_adapter;
  // Beside the whole block: x_out = Block(x) + t(x, x).
  std::function<void(const std::string&, std::shared_ptr<nn::BranchTuner>)> add_block_branch;
};

struct Sites {
  std::string family;  // "vit" or "swin"
  nn::Module* model = nullptr;
  nn::VisionTransformer* vit = nullptr;  // exactly one of vit / swin is set
  nn::SwinTransformer* swin = nullptr;
  std::vector<BlockSites> blocks;
  nn::PatchEmbed* patch_embed = nullptr;
  nn::LayerNorm* final_norm = nullptr;  // norm (token pool / Swin) or fc_norm (avg pool)
  std::string head_prefix = "head";
  int64_t embed_dim = 0;  // width after patch embedding
};

// Throws vt::Error if the module is neither a VisionTransformer nor a SwinTransformer.
Sites sites_of(nn::Module& model);

}  // namespace vt::peft
