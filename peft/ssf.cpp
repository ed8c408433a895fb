// ssf.cpp — SSF, Scaling & Shifting your Features (Lian et al., NeurIPS 2022).
//
//   y' = γ ⊙ y + β     per channel, after: patch embedding, LN1, qkv, proj, LN2, fc1, fc2 and
//                      the final norm (ViT-B/16: 2·(768 + 12·(768+2304+768+768+3072+768) + 768)
//                      = 205,824); on Swin also after the patch-embedding norm and after the
//                      norm of every PatchMerging (dongzelian/SSF models/swin_transformer.py)
// Init γ ~ N(1, 0.02), β ~ N(0, 0.02). Re-parameterisable: after a linear or a LayerNorm,
// γ ⊙ (W x + b) + β = (γ ⊙ W) x + (γ ⊙ b + β), so merging rescales the host's rows.
#include "engine/init.h"
#include "peft/merge.h"
#include "peft/method.h"
#include "peft/tuner_util.h"

namespace vt::peft {

namespace {

struct SSF : nn::OutputTuner, Mergeable {
  Tensor scale, shift;  // (C)
  std::string weight_key, bias_key;  // the host's tensors, relative to the host's name
  SSF(int64_t channels, const Tensor& like, std::string wkey = "weight", std::string bkey = "bias")
      : weight_key(std::move(wkey)), bias_key(std::move(bkey)) {
    scale = register_parameter("scale", empty_like_dev({channels}, like));
    shift = register_parameter("shift", empty_like_dev({channels}, like));
    init::normal_(scale, 1.0, 0.02);
    init::normal_(shift, 0.0, 0.02);
  }
  Tensor forward(const Tensor&, const Tensor& y) override {  // y: (..., C)
    return add(mul(y, scale), shift);
  }
  // W' = diag(γ) W (the first dim of W is the output channel), b' = γ ⊙ b + β
  void merge_into(nn::StateDict& sd, const std::string& host) const override {
    NoGrad ng;
    auto wi = sd.find(host + "." + weight_key);
    if (wi == sd.end()) throw Error("merge: SSF host '" + host + "' has no " + weight_key);
    Tensor& W = wi->second;
    Shape bshape(W.dim(), 1);
    bshape[0] = scale.size(0);
    W = mul(W, scale.reshape(bshape));
    auto bi = sd.find(host + "." + bias_key);
    Tensor b = bi == sd.end() ? Tensor::zeros({scale.size(0)}, W.dtype(), W.device()) : bi->second;
    sd[host + "." + bias_key] = add(mul(b, scale), shift);
  }
};

void apply_ssf(Sites& s, const Options&) {
  const Tensor& like = s.patch_embed->proj->weight;
  s.patch_embed->add_tuner("ssf", std::make_shared<SSF>(s.embed_dim, like, "proj.weight", "proj.bias"));
  // Swin, as the official SSF code: also after the patch-embedding norm and each PatchMerging norm.
  if (s.patch_embed->norm)
    s.patch_embed->norm->add_tuner("ssf", std::make_shared<SSF>(s.embed_dim, like));
  for (nn::LayerNorm* n : s.stage_norms) n->add_tuner("ssf", std::make_shared<SSF>(n->weight.size(0), like));
  for (BlockSites& b : s.blocks) {
    b.norm1->add_tuner("ssf", std::make_shared<SSF>(b.dim, like));
    b.qkv->add_tuner("ssf", std::make_shared<SSF>(3 * b.dim, like));
    b.proj->add_tuner("ssf", std::make_shared<SSF>(b.dim, like));
    b.norm2->add_tuner("ssf", std::make_shared<SSF>(b.dim, like));
    b.fc1->add_tuner("ssf", std::make_shared<SSF>(b.hidden, like));
    b.fc2->add_tuner("ssf", std::make_shared<SSF>(b.dim, like));
  }
  s.final_norm->add_tuner("ssf", std::make_shared<SSF>(s.final_norm->weight.size(0), like));
}

}  // namespace

Method ssf_method() {
  return {"ssf",
          "SSF (Lian et al. 2022): y' = γ⊙y + β after patch-embed, LN1, qkv, proj, LN2, fc1, fc2, final LN",
          {}, apply_ssf, /*mergeable=*/true};
}

}  // namespace vt::peft
