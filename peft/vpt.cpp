// vpt.cpp — Visual Prompt Tuning (Jia et al., ECCV 2022).
//
// ViT:   x_0 = [CLS; P; patches] after the position embedding     (B, 1 + l + N, D)
//        shallow: the l prompt tokens then travel through every block;
//        deep:    before block i ≥ 1 the prompt outputs are replaced by new prompts P_i.
//        The prompts are dropped before the final norm / pooling.
// Init:  U(−v, v), v = √(6 / (3·P·P + D)) for patch size P (the paper's xavier-style bound).
// ViT-B/16: shallow l·768; deep 12·l·768 (l = 10: 92,160).
//
// Swin (deep only): in VPT-deep a block's prompt tokens only reach the image tokens as keys
// and values — their own outputs are replaced before the next block — so on Swin each block's
// prompts become LN1 + qkv-projected extra keys/values shared by every window, with no relative
// position bias. This is our reading of VPT on hierarchical models: it matches VPT-deep's
// equation within each window; VPT-shallow has no such form on Swin and is refused.
#include <cmath>

#include "engine/init.h"
#include "peft/method.h"
#include "peft/tuner_util.h"

namespace vt::peft {

namespace {

struct VisualPrompts : nn::TokenTuner {
  Tensor prompts;  // (depth or 1, l, D)
  bool deep;
  VisualPrompts(int64_t layers, int64_t len, int64_t dim, double bound, bool deep_, const Tensor& like)
      : deep(deep_) {
    prompts = register_parameter("prompts", empty_like_dev({layers, len, dim}, like));
    init::uniform_(prompts, -bound, bound);
  }
  Tensor before_block(int64_t i, const Tensor& x) override {  // x: (B, T, D)
    if (i > 0 && !deep) return x;
    const int64_t B = x.size(0), D = x.size(2), l = prompts.size(1);
    Tensor p = prompts.select(0, i).unsqueeze(0).expand({B, l, D});  // (B, l, D)
    Tensor cls = x.narrow(1, 0, 1);
    Tensor rest = i == 0 ? x.narrow(1, 1, x.size(1) - 1)            // insert after CLS
                         : x.narrow(1, 1 + l, x.size(1) - 1 - l);   // replace the old prompts
    return concat({cls, p, rest}, 1);
  }
  Tensor after_blocks(const Tensor& x) override {  // drop the prompts: (B, 1 + N, D)
    const int64_t l = prompts.size(1);
    return concat({x.narrow(1, 0, 1), x.narrow(1, 1 + l, x.size(1) - 1 - l)}, 1);
  }
};

// Swin: block prompts as keys/values through the block's own LN1 and qkv (see the header).
struct PromptKV : nn::PrefixProvider {
  Tensor prompts;  // (l, C)
  nn::LayerNorm* norm1;
  nn::Linear* qkv;
  PromptKV(int64_t len, int64_t dim, double bound, nn::LayerNorm* n, nn::Linear* q)
      : norm1(n), qkv(q) {
    prompts = register_parameter("prompts", empty_like_dev({len, dim}, q->weight));
    init::uniform_(prompts, -bound, bound);
  }
  std::pair<Tensor, Tensor> kv(int64_t batch, int64_t heads, int64_t head_dim) override {
    const int64_t l = prompts.size(0);
    // (l, C) -> (l, 3C) -> (3, H, l, Dh); keys and values broadcast over the windows
    Tensor t = qkv->forward(norm1->forward(prompts)).reshape({l, 3, heads, head_dim})
                   .permute({1, 2, 0, 3});
    auto pick = [&](int64_t j) {
      return t.select(0, j).unsqueeze(0).expand({batch, heads, l, head_dim});
    };
    return {pick(1), pick(2)};
  }
};

void apply_vpt(Sites& s, const Options& o) {
  const int64_t l = o.i("length");
  const bool deep = o.b("deep");
  if (l <= 0) throw Error("vpt: length must be positive");
  const int64_t P = s.patch;
  if (s.set_token_tuner) {  // one token sequence through every block (ViT)
    const int64_t D = s.embed_dim, depth = (int64_t)s.blocks.size();
    const double bound = std::sqrt(6.0 / (3.0 * P * P + D));
    s.set_token_tuner(std::make_shared<VisualPrompts>(deep ? depth : 1, l, D, bound, deep,
                                                      s.patch_embed->proj->weight));
    return;
  }
  if (!deep) throw Error("vpt: VPT-shallow needs one token sequence through all blocks, which a " +
                         s.family + " model does not have; use deep=true");
  for (BlockSites& b : s.blocks) {
    if (b.attn->prefix) throw Error("vpt: " + b.name + ".attn already has a prefix provider");
    const double bound = std::sqrt(6.0 / (3.0 * P * P + b.dim));
    auto p = std::make_shared<PromptKV>(l, b.dim, bound, b.norm1, b.qkv);
    b.attn->prefix = p;
    b.attn->attach("vpt", p);
  }
}

}  // namespace

Method vpt_method() {
  return {"vpt",
          "VPT (Jia et al. 2022): l learnable prompt tokens after CLS; deep: new ones per block",
          {{"length", 10, "prompt length l"},
           {"deep", true, "VPT-deep (new prompts before every block) or VPT-shallow"}},
          apply_vpt};
}

}  // namespace vt::peft
