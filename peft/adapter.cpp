// adapter.cpp — the sequential bottleneck Adapter (Houlsby et al. 2019; the Pfeiffer placement
// that NOAH's visual-PEFT code uses): after the MLP, inside the residual.
//
//   x = x + A(MLP(LN2 x)),   A(h) = h + W2 · QuickGELU(W1 h + b1) + b2
//
// W1: D -> h, W2: h -> D (bottleneck h = 8: ViT-B/16 12·(2·768·8 + 8 + 768) = 156,768).
// Init: W1, W2 xavier-uniform; b1, b2 ~ N(0, 1e-6) — the adapter starts close to identity.
// Option `site`: "mlp" (default), "attn" (after attention) or "both" (Houlsby's two adapters).
#include "engine/init.h"
#include "peft/method.h"
#include "peft/tuner_util.h"

namespace vt::peft {

namespace {

struct SequentialAdapter : nn::SequentialTuner {
  std::shared_ptr<Bottleneck> net;
  SequentialAdapter(int64_t dim, int64_t hidden, const Tensor& like) {
    net = register_module("net", placed_like(std::make_shared<Bottleneck>(dim, hidden), like));
    init::xavier_uniform_(net->down->weight);
    init::xavier_uniform_(net->up->weight);
    init::normal_(net->down->bias, 0.0, 1e-6);
    init::normal_(net->up->bias, 0.0, 1e-6);
  }
  // h: (B, N, D) -> h + up(QuickGELU(down h))
  Tensor forward(const Tensor& h, const nn::TokenGrid&) override {
    return add(h, net->up->forward(quick_gelu(net->down->forward(h))));
  }
};

void apply_adapter(Sites& s, const Options& o) {
  const int64_t h = o.i("bottleneck");
  const std::string site = o.s("site");
  if (site != "mlp" && site != "attn" && site != "both")
    throw Error("adapter: option 'site' must be mlp, attn or both, got '" + site + "'");
  if (h <= 0) throw Error("adapter: bottleneck must be positive");
  for (BlockSites& b : s.blocks) {
    if (site != "mlp")
      b.add_adapter(true, "adapter_attn", std::make_shared<SequentialAdapter>(b.dim, h, b.qkv->weight));
    if (site != "attn")
      b.add_adapter(false, "adapter_mlp", std::make_shared<SequentialAdapter>(b.dim, h, b.qkv->weight));
  }
}

}  // namespace

Method adapter_method() {
  return {"adapter",
          "Adapter (Houlsby et al. 2019): x = x + A(MLP(LN2 x)), A(h) = h + W2 QuickGELU(W1 h)",
          {{"bottleneck", 8, "bottleneck width h"},
           {"site", "mlp", "where: mlp (after the MLP), attn (after attention) or both"}},
          apply_adapter};
}

}  // namespace vt::peft
