// adaptformer.cpp — AdaptFormer (Chen et al., NeurIPS 2022): a bottleneck in parallel with the
// MLP, reading the residual stream itself (no LayerNorm).
//
//   x' = x + MLP(LN2 x) + s · (Dropout(ReLU(x Wd + bd)) Wu + bu)
//
// s = 0.1, dropout 0.1, bottleneck 8 on VTAB-1K (ViT-B/16: 156,768), 64 on full data sets.
// Init: Wd kaiming-uniform(a=√5), bd = 0, Wu = 0, bu = 0 — the branch starts at zero.
#include <cmath>

#include "engine/init.h"
#include "peft/method.h"
#include "peft/tuner_util.h"

namespace vt::peft {

namespace {

struct AdaptFormerBranch : nn::BranchTuner {
  std::shared_ptr<Bottleneck> net;
  double scale, drop;
  AdaptFormerBranch(int64_t dim, int64_t hidden, double s, double p, const Tensor& like)
      : scale(s), drop(p) {
    net = register_module("net", placed_like(std::make_shared<Bottleneck>(dim, hidden), like));
    init::kaiming_uniform_(net->down->weight, std::sqrt(5.0));
    init::zeros_(net->down->bias);
    init::zeros_(net->up->weight);
    init::zeros_(net->up->bias);
  }
  // x: (B, N, D) the MLP's residual input -> u = drop(relu(down x)) (B, N, h)
  Tensor hidden(const Tensor& x) { return dropout(relu(net->down->forward(x)), drop, training()); }
  // -> s · up(u) (B, N, D)
  Tensor forward(const Tensor& x, const Tensor&, const nn::TokenGrid&) override {
    return mul(net->up->forward(hidden(x)), scale);
  }
  // -> base + s · up(u), in up's GEMM
  Tensor forward_add(const Tensor& base, const Tensor& x, const Tensor&, const nn::TokenGrid&) override {
    return net->up_add(base, hidden(x), scale);
  }
};

void apply_adaptformer(Sites& s, const Options& o) {
  const int64_t h = o.i("bottleneck");
  if (h <= 0) throw Error("adaptformer: bottleneck must be positive");
  for (BlockSites& b : s.blocks)
    b.add_branch(false, "adaptformer", std::make_shared<AdaptFormerBranch>(
                                           b.dim, h, o.d("scale"), o.d("dropout"), b.qkv->weight));
}

}  // namespace

Method adaptformer_method() {
  return {"adaptformer",
          "AdaptFormer (Chen et al. 2022): x' = x + MLP(LN2 x) + s·ReLU(x Wd) Wu, beside the MLP",
          {{"bottleneck", 8, "bottleneck width"},
           {"scale", 0.1, "s, the branch's scale"},
           {"dropout", 0.1, "dropout after the ReLU"}},
          apply_adaptformer};
}

}  // namespace vt::peft
