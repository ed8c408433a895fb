// tuner_sites.h — where tuners attach, seen the same way on every model family.
//
// A tuner file (peft/) never walks a model itself: it asks the model (ImageModel::tuner_sites,
// nn/model.h) for its TunerSites — one BlockSites per transformer block (its dotted name,
// width, heads, the linears and norms, and the block's slots, nn/tuned_block.h) plus the
// model-level sites (patch embedding, final norm, the norms between stages, the token
// sequence where the family has one). ViT and Swin fill the same struct, so a tuner written
// against it works on both (docs/ARCHITECTURE.md, "tuner sites").
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/tuned_block.h"

namespace vt::nn {

struct BlockSites {
  std::string name;   // "blocks.3" (ViT) or "layers.1.blocks.0" (Swin)
  int64_t index = 0;  // position over all blocks of the model
  int64_t dim = 0, heads = 0, hidden = 0;
  double drop_path = 0.0;  // the block's stochastic-depth rate (branches may apply it too)
  TunedBlock* block = nullptr;
  LayerNorm *norm1 = nullptr, *norm2 = nullptr;
  Attention* attn = nullptr;
  Linear *qkv = nullptr, *proj = nullptr, *fc1 = nullptr, *fc2 = nullptr;

  // Attach a tuner beside (branch) or after (adapter) attention (attn_site) or the MLP.
  void add_branch(bool attn_site, const std::string& n, std::shared_ptr<BranchTuner> t) const {
    block->add_branch(attn_site, n, std::move(t));
  }
  void add_adapter(bool attn_site, const std::string& n, std::shared_ptr<SequentialTuner> t) const {
    block->add_adapter(attn_site, n, std::move(t));
  }
  // Beside the whole block: x_out = Block(x) + t(x, x).
  void add_block_branch(const std::string& n, std::shared_ptr<BranchTuner> t) const {
    block->add_block_branch(n, std::move(t));
  }
};

struct TunerSites {
  std::string family;  // the model family ("vit", "swin"), for error messages
  Module* model = nullptr;
  std::vector<BlockSites> blocks;
  PatchEmbed* patch_embed = nullptr;
  LayerNorm* final_norm = nullptr;         // the norm before pooling / the head
  std::vector<LayerNorm*> stage_norms;     // norms between stages (Swin's PatchMerging); may be empty
  std::string head_prefix = "head";
  int64_t embed_dim = 0;  // width after patch embedding
  int64_t patch = 0;      // patch size
  // Sets the tuner on the token sequence between blocks (VPT's prompts), where the family has
  // one sequence through all blocks (ViT); empty otherwise.
  std::function<void(std::shared_ptr<TokenTuner>)> set_token_tuner;
};

// The sites of one block (the dims are read off its layers).
BlockSites block_sites(TunedBlock& b, const std::string& name, int64_t index);

}  // namespace vt::nn
