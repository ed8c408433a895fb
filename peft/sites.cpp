// sites.cpp — fills peft::Sites from a VisionTransformer or a SwinTransformer.
#include "peft/sites.h"

namespace vt::peft {

namespace {

template <typename B>
BlockSites block_sites(B& b, const std::string& name, int64_t index) {
  BlockSites s;
  s.name = name;
  s.index = index;
  s.block = &b;
  s.norm1 = b.norm1.get();
  s.norm2 = b.norm2.get();
  s.attn = b.attn.get();
  s.qkv = b.attn->qkv.get();
  s.proj = b.attn->proj.get();
  s.fc1 = b.mlp->fc1.get();
  s.fc2 = b.mlp->fc2.get();
  s.dim = s.qkv->in_features();
  s.heads = b.attn->heads;
  s.hidden = s.fc1->out_features();
  s.drop_path = b.drop_path_rate;
  s.add_branch = [&b](bool at, const std::string& n, std::shared_ptr<nn::BranchTuner> t) {
    b.add_branch(at, n, std::move(t));
  };
  s.add_adapter = [&b](bool at, const std::string& n, std::shared_ptr<nn::SequentialTuner> t) {
    b.add_adapter(at, n, std::move(t));
  };
  s.add_block_branch = [&b](const std::string& n, std::shared_ptr<nn::BranchTuner> t) {
    b.add_block_branch(n, std::move(t));
  };
  return s;
}

}  // namespace

Sites sites_of(nn::Module& model) {
  Sites s;
  s.model = &model;
  if (auto* vit = dynamic_cast<nn::VisionTransformer*>(&model)) {
    s.family = "vit";
    s.vit = vit;
    s.patch_embed = vit->patch_embed.get();
    s.final_norm = vit->norm ? vit->norm.get() : vit->fc_norm.get();
    s.embed_dim = vit->cfg.dim;
    for (size_t i = 0; i < vit->blocks.size(); ++i)
      s.blocks.push_back(block_sites(*vit->blocks[i], "blocks." + std::to_string(i), (int64_t)i));
    return s;
  }
  if (auto* swin = dynamic_cast<nn::SwinTransformer*>(&model)) {
    s.family = "swin";
    s.swin = swin;
    s.patch_embed = swin->patch_embed.get();
    s.final_norm = swin->norm.get();
    s.embed_dim = swin->cfg.dim;
    int64_t index = 0;
    for (size_t st = 0; st < swin->layers.size(); ++st)
      for (size_t b = 0; b < swin->layers[st]->blocks.size(); ++b)
        s.blocks.push_back(block_sites(*swin->layers[st]->blocks[b],
                                       "layers." + std::to_string(st) + ".blocks." + std::to_string(b),
                                       index++));
    return s;
  }
  throw Error("peft: the model is neither a VisionTransformer nor a SwinTransformer");
}

}  // namespace vt::peft
