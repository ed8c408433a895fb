// utuning.cpp — U-Tuning (Jiang et al. 2023, "Rethinking efficient tuning methods from a
// unified perspective"; no official code — this is our reading, see docs/METHODS.md).
//
// Every tuner is a light module U in parallel with a frozen operation OP:  x' = OP(x) + U(x),
// OP ∈ {attention, MLP, the whole block}. Three forms of U, freely combined:
//
//   adapter@SITE   U(x) = s · (φ(x Wd + bd) Wu + bu), φ = ReLU, x = OP's input (LN1 x for
//                  attention, LN2 x for the MLP, the block input for "block"); Wu = 0 at init.
//   prefix@attn    Attn_pre = (1−λ)·Attn(Q, K, V) + λ·Attn(Q, K_pre, V_pre), per query
//                  λ = Σ_j e^{q·k_pre_j} / (Σ_i e^{q·k_i} + Σ_j e^{q·k_pre_j}): the share of
//                  softmax mass on the prefix. K_pre, V_pre ∈ R^{l×D} (xavier). This is prefix
//                  tuning rewritten in parallel form — the two are equal (tested).
//   prompt@attn    as prefix, but K_pre, V_pre are learnable prompt tokens P ∈ R^{l×D} passed
//                  through the block's frozen LN1 and k/v projections (VPT-deep's role, parallel).
//
// The default, our reading of the paper's headline FGVC setting (0.36 M on ViT-B/16, a
// prefix-style attention tuner plus an MLP adapter): "prefix@attn,adapter@mlp" with l = 11,
// h = 8: 12·(2·11·768) + 12·(2·768·8 + 8 + 768) = 202,752 + 156,768 = 359,520 parameters.
#include <sstream>

#include "engine/init.h"
#include "peft/method.h"
#include "peft/tuner_util.h"

namespace vt::peft {

namespace {

// log Σ exp over the last dim, keeping it: (..., n) -> (..., 1)
Tensor logsumexp_last(const Tensor& x) {
  Tensor m = max(x, -1, true).detach();
  return add(m, log(sum(exp(sub(x, m)), {-1}, true)));
}

// The parallel prefix/prompt tuner on attention's per-head output (nn::HeadTuner).
struct ParallelPrefix : nn::HeadTuner {
  Tensor key, value;        // prefix: (l, D) learnable keys and values
  Tensor prompts;           // prompt: (l, D) tokens, projected by the frozen LN1 + qkv
  nn::LayerNorm* norm1 = nullptr;
  nn::Linear* qkv = nullptr;
  ParallelPrefix(bool prompt, int64_t len, int64_t dim, const Tensor& like, nn::LayerNorm* n,
                 nn::Linear* q) {
    if (prompt) {
      norm1 = n, qkv = q;
      prompts = register_parameter("prompts", empty_like_dev({len, dim}, like));
      init::xavier_uniform_(prompts);
    } else {
      key = register_parameter("key", empty_like_dev({len, dim}, like));
      value = register_parameter("value", empty_like_dev({len, dim}, like));
      init::xavier_uniform_(key);
      init::xavier_uniform_(value);
    }
  }
  // q: (B, H, N, Dh), k: (B, H, N, Dh), mask: (.., N, N) or undefined, o = Attn(Q, K, V)
  Tensor forward(const Tensor& q, const Tensor& k, const Tensor&, const Tensor& mask,
                 const Tensor& o) override {
    const int64_t B = q.size(0), H = q.size(1), Dh = q.size(3);
    Tensor kp, vp;  // (1, H, l, Dh)
    if (prompts.defined()) {
      const int64_t l = prompts.size(0);
      Tensor t = qkv->forward(norm1->forward(prompts)).reshape({l, 3, H, Dh}).permute({1, 2, 0, 3});
      kp = t.select(0, 1).unsqueeze(0), vp = t.select(0, 2).unsqueeze(0);
    } else {
      const int64_t l = key.size(0);
      kp = key.reshape({l, H, Dh}).permute({1, 0, 2}).unsqueeze(0);
      vp = value.reshape({l, H, Dh}).permute({1, 0, 2}).unsqueeze(0);
    }
    const double scale = 1.0 / std::sqrt((double)Dh);
    const int64_t l = kp.size(2);
    kp = kp.expand({B, H, l, Dh}), vp = vp.expand({B, H, l, Dh});
    Tensor st = mul(matmul(q, k.transpose(-2, -1)), scale);  // (B, H, N, N): the frozen scores
    if (mask.defined()) st = add(st, mask);
    Tensor sp = mul(matmul(q, kp.transpose(-2, -1)), scale);  // (B, H, N, l)
    Tensor lambda = sigmoid(sub(logsumexp_last(sp), logsumexp_last(st)));  // (B, H, N, 1)
    Tensor p = matmul(softmax(sp, -1), vp);                                  // (B, H, N, Dh)
    return add(o, mul(lambda, sub(p, o)));  // (1 − λ)·o + λ·p
  }
};

// The parallel adapter: U(x) = s · (ReLU(x Wd + bd) Wu + bu) on OP's input.
struct ParallelAdapter : nn::BranchTuner {
  std::shared_ptr<Bottleneck> net;
  double scale;
  ParallelAdapter(int64_t dim, int64_t h, double s, const Tensor& like) : scale(s) {
    net = register_module("net", placed_like(std::make_shared<Bottleneck>(dim, h), like));
    init::kaiming_uniform_(net->down->weight, std::sqrt(5.0));
    init::zeros_(net->down->bias);
    init::zeros_(net->up->weight);
    init::zeros_(net->up->bias);
  }
  Tensor forward(const Tensor&, const Tensor& z, const nn::TokenGrid&) override {
    return mul(net->up->forward(relu(net->down->forward(z))), scale);
  }
};

void apply_utuning(Sites& s, const Options& o) {
  std::stringstream ss(o.s("tuners"));
  std::string item;
  std::vector<std::pair<std::string, std::string>> tuners;  // (kind, site)
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    auto at = item.find('@');
    std::string kind = item.substr(0, at), site = at == std::string::npos ? "" : item.substr(at + 1);
    const bool ok = (kind == "adapter" && (site == "attn" || site == "mlp" || site == "block")) ||
                    ((kind == "prefix" || kind == "prompt") && site == "attn");
    if (!ok)
      throw Error("utuning: '" + item + "' is not one of adapter@attn, adapter@mlp, adapter@block, "
                  "prefix@attn, prompt@attn");
    tuners.push_back({kind, site});
  }
  if (tuners.empty()) throw Error("utuning: option 'tuners' lists no tuner");
  const int64_t l = o.i("prefix_length"), h = o.i("bottleneck");
  if (l <= 0 || h <= 0) throw Error("utuning: prefix_length and bottleneck must be positive");
  for (BlockSites& b : s.blocks)
    for (auto& [kind, site] : tuners) {
      const Tensor& like = b.qkv->weight;
      if (kind == "adapter") {
        auto a = std::make_shared<ParallelAdapter>(b.dim, h, o.d("adapter_scale"), like);
        if (site == "block") b.add_block_branch("utuning_adapter_block", a);
        else b.add_branch(site == "attn", "utuning_adapter_" + site, a);
      } else {
        auto p = std::make_shared<ParallelPrefix>(kind == "prompt", l, b.dim, like, b.norm1, b.qkv);
        b.attn->head_tuners.push_back(p);
        b.attn->attach("utuning_" + kind, p);
      }
    }
}

}  // namespace

Method utuning_method() {
  return {"utuning",
          "U-Tuning (Jiang et al. 2023): parallel tuners x' = OP(x) + U(x) on attention, MLP or block",
          {{"tuners", "prefix@attn,adapter@mlp",
            "comma-separated KIND@SITE: adapter@{attn,mlp,block}, prefix@attn, prompt@attn"},
           {"prefix_length", 11, "l, prefix/prompt length"},
           {"bottleneck", 8, "h, the parallel adapter's width"},
           {"adapter_scale", 1.0, "s, the parallel adapter's scale"}},
          apply_utuning};
}

}  // namespace vt::peft
