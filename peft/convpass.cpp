// convpass.cpp — Convpass, convolutional bypasses (Jie & Deng 2022; official code
// JieShibo/PETL-ViT, convpass/). Beside attention and beside the MLP, fed by that sub-block's
// LayerNorm output z:
//
//   x = x + DropPath(Attn(LN1 x)) + s·DropPath(C_a(LN1 x))
//   x = x + DropPath(MLP(LN2 x))  + s·DropPath(C_m(LN2 x))
//   C(z): u = QuickGELU(z Wd + bd)                      D -> h          (B, N, h)
//         grid tokens of u as an h×H×W map -> Conv2d 3×3 (h -> h, pad 1, bias)
//         each prefix token (CLS, prompts) as an h×1×1 map through the same conv — only the
//         centre tap sees it, so it is u_cls · W[:, :, 1, 1]ᵀ + b
//         -> QuickGELU -> Dropout(0.1) -> Wu (h -> D, bias)
//
// Init: Wd xavier-uniform, bd = 0; Wu = bu = 0; conv bias 0 and conv weight "identity"
// (zeros with eye(h) at the centre tap; the official default) or "xavier".
// Params (ViT-B/16, h = 8): 2·12·((2h+1)·768 + 9h² + 2h) = 327,552; attention only 163,776.
// Swin: the attention bypass reads the block input's LN1 before the shift and the window
// partition, the conv runs on the stage's H×W grid, there is no CLS.
#include "engine/backend.h"
#include "engine/init.h"
#include "peft/method.h"
#include "peft/tuner_util.h"

namespace vt::peft {

namespace {

struct ConvBypass : nn::BranchTuner {
  std::shared_ptr<Bottleneck> net;  // down D -> h, up h -> D
  std::shared_ptr<nn::Conv2d> conv;  // h -> h, 3×3, pad 1
  double scale, drop, drop_path_rate;
  ConvBypass(int64_t dim, int64_t h, double s, double p, double dp, bool xavier, const Tensor& like)
      : scale(s), drop(p), drop_path_rate(dp) {
    net = register_module("net", placed_like(std::make_shared<Bottleneck>(dim, h), like));
    conv = register_module("conv", placed_like(std::make_shared<nn::Conv2d>(h, h, 3, 1, 1), like));
    init::xavier_uniform_(net->down->weight);
    init::zeros_(net->down->bias);
    init::zeros_(net->up->weight);
    init::zeros_(net->up->bias);
    init::zeros_(conv->bias);
    if (xavier) {
      init::xavier_uniform_(conv->weight);
    } else {  // identity: zeros with eye(h) at the centre tap, weight[o, i, 1, 1] = [o == i]
      std::vector<double> w(h * h * 9, 0.0);
      for (int64_t i = 0; i < h; ++i) w[((i * h + i) * 3 + 1) * 3 + 1] = 1.0;
      Tensor src = Tensor::from_vector(w, conv->weight.shape()).to(like.dtype()).to(like.device());
      backend_for(conv->weight).copy(src, conv->weight);
    }
  }
  // z: (B, N, D) = prefix tokens then the grid -> s · DropPath(C(z))
  Tensor forward(const Tensor&, const Tensor& z, const nn::TokenGrid& g) override {
    Tensor y = net->up->forward(hidden(z, g));  // (B, N, D)
    return vt::drop_path(mul(y, scale), drop_path_rate, training());
  }
  // -> base + s · C(z), the add in up's GEMM (unless DropPath drops samples: then as above)
  Tensor forward_add(const Tensor& base, const Tensor& x, const Tensor& z, const nn::TokenGrid& g) override {
    if (drop_path_rate > 0 && training()) return BranchTuner::forward_add(base, x, z, g);
    return net->up_add(base, hidden(z, g), scale);
  }
  // C(z) up to the up-projection: Dropout(QuickGELU(conv(QuickGELU(down z)))) (B, N, h)
  Tensor hidden(const Tensor& z, const nn::TokenGrid& g) {
    const int64_t B = z.size(0), N = z.size(1), p = g.prefix, h = conv->weight.size(0);
    if (g.h * g.w + p != N)
      throw Error("convpass: " + std::to_string(N) + " tokens do not form " + std::to_string(p) +
                  " prefix tokens + a " + std::to_string(g.h) + "×" + std::to_string(g.w) + " grid");
    Tensor u = quick_gelu(net->down->forward(z));  // (B, N, h)
    // grid: (B, H·W, h) -> (B, h, H, W) -> conv -> (B, H·W, h)
    Tensor map = u.narrow(1, p, N - p).reshape({B, g.h, g.w, h}).permute({0, 3, 1, 2});
    Tensor c = conv->forward(map).permute({0, 2, 3, 1}).reshape({B, N - p, h});
    if (p > 0) {  // prefix tokens: a 1×1 map, only the centre tap applies
      Tensor centre = conv->weight.select(3, 1).select(2, 1);  // (h, h)
      c = concat({linear(u.narrow(1, 0, p), centre, conv->bias), c}, 1);
    }
    return dropout(quick_gelu(c), drop, training());
  }
};

void apply_convpass(Sites& s, const Options& o) {
  const int64_t h = o.i("bottleneck");
  const std::string sites = o.s("sites"), ci = o.s("conv_init");
  if (h <= 0) throw Error("convpass: bottleneck must be positive");
  if (sites != "both" && sites != "attn")
    throw Error("convpass: option 'sites' must be both or attn, got '" + sites + "'");
  if (ci != "identity" && ci != "xavier")
    throw Error("convpass: option 'conv_init' must be identity or xavier, got '" + ci + "'");
  for (BlockSites& b : s.blocks) {
    auto make = [&] {
      return std::make_shared<ConvBypass>(b.dim, h, o.d("scale"), o.d("dropout"), b.drop_path,
                                          ci == "xavier", b.qkv->weight);
    };
    b.add_branch(true, "convpass_attn", make());
    if (sites == "both") b.add_branch(false, "convpass_mlp", make());
  }
}

}  // namespace

Method convpass_method() {
  return {"convpass",
          "Convpass (Jie & Deng 2022): 3×3-conv bypasses beside attention and MLP, x += s·C(LN x)",
          {{"bottleneck", 8, "bottleneck width h"},
           {"scale", 10.0, "s (per task from 0.01, 0.1, 1, 10, 100)"},
           {"dropout", 0.1, "dropout before the up-projection"},
           {"sites", "both", "both (attention and MLP) or attn (attention only)"},
           {"conv_init", "identity", "identity (eye(h) at the centre tap) or xavier"}},
          apply_convpass};
}

}  // namespace vt::peft
