// iconformer.cpp — iConFormer (Jo, Choi, Cho, Min 2024): an input-conditioned dynamic adapter.
// No official code and no full text: this is OUR READING of the paper's description (see
// docs/METHODS.md) — an input-conditioned network (iCoN) generates channel-wise (depthwise)
// convolution kernels for every input instance from down-projected features, and applies them
// as an adaptive convolution over the tokens laid out on their spatial grid:
//
//   Z = X Wd + bd                      C -> d                           (B, N, d)
//   g = mean over tokens of Z          one descriptor per image         (B, d)
//   K = reshape(g Wk + bk)             one k×k kernel per channel, per image  (B, d, 1, k, k)
//   Y = depthwise_conv(Z on the H×W grid, K, pad k/2)                    (B, N_grid, d)
//   out = X + s · (GELU(Y + Z) Wu + bu)      Wu = bu = 0 at init: it starts as the identity
//
// Prefix tokens (ViT's CLS) have no spatial neighbours: for them Y = 0. Placed sequentially
// after attention and after the MLP of every block (before the residual add), on ViT and Swin.
// Default d = 32, k = 3: trainable share of the backbone ViT-B/16 1.66 %, Swin-B 2.3 %, inside
// the paper's 1.6–2.8 % (tested). Init: Wd, Wk as torch Linear layers; Wu, bu zero.
#include <cmath>

#include "engine/init.h"
#include "peft/method.h"
#include "peft/tuner_util.h"

namespace vt::peft {

namespace {

struct DynamicConvAdapter : nn::SequentialTuner {
  std::shared_ptr<Bottleneck> net;     // down C -> d, up d -> C
  std::shared_ptr<nn::Linear> kernel;  // iCoN: d -> d·k²
  int64_t k;
  double scale;
  DynamicConvAdapter(int64_t dim, int64_t d, int64_t k_, double s, const Tensor& like) : k(k_), scale(s) {
    net = register_module("net", placed_like(std::make_shared<Bottleneck>(dim, d), like));
    kernel = register_module("icon", placed_like(std::make_shared<nn::Linear>(d, d * k * k), like));
    init::zeros_(net->up->weight);
    init::zeros_(net->up->bias);
  }
  // x: (B, N, C), N = prefix + H·W -> x + s·(GELU(Y + Z) Wu + bu)
  Tensor forward(const Tensor& x, const nn::TokenGrid& g) override {
    const int64_t B = x.size(0), N = x.size(1), p = g.prefix, d = kernel->in_features();
    if (g.h * g.w + p != N)
      throw Error("iconformer: " + std::to_string(N) + " tokens do not form " + std::to_string(p) +
                  " prefix tokens + a " + std::to_string(g.h) + "×" + std::to_string(g.w) + " grid");
    Tensor z = net->down->forward(x);                                   // (B, N, d)
    Tensor kern = kernel->forward(mean(z, {1})).reshape({B, d, 1, k, k});  // per image, per channel
    Tensor map = z.narrow(1, p, N - p).reshape({B, g.h, g.w, d}).permute({0, 3, 1, 2});
    Tensor y = conv2d(map, kern, Tensor(), {1, 1}, {k / 2, k / 2}, {1, 1}, d)  // (B, d, H, W)
                   .permute({0, 2, 3, 1}).reshape({B, N - p, d});
    if (p > 0) y = concat({Tensor::zeros({B, p, d}, x.dtype(), x.device()), y}, 1);
    Tensor u = net->up->forward(gelu(add(y, z)));                        // (B, N, C)
    return add(x, mul(u, scale));
  }
};

void apply_iconformer(Sites& s, const Options& o) {
  const int64_t d = o.i("bottleneck"), k = o.i("kernel");
  if (d <= 0) throw Error("iconformer: bottleneck must be positive");
  if (k <= 0 || k % 2 == 0) throw Error("iconformer: kernel must be odd and positive, got " + std::to_string(k));
  const std::string site = o.s("site");
  if (site != "both" && site != "attn" && site != "mlp")
    throw Error("iconformer: option 'site' must be both, attn or mlp, got '" + site + "'");
  for (BlockSites& b : s.blocks) {
    auto make = [&] { return std::make_shared<DynamicConvAdapter>(b.dim, d, k, o.d("scale"), b.qkv->weight); };
    if (site != "mlp") b.add_adapter(true, "iconformer_attn", make());
    if (site != "attn") b.add_adapter(false, "iconformer_mlp", make());
  }
}

}  // namespace

Method iconformer_method() {
  return {"iconformer",
          "iConFormer (Jo et al. 2024, our reading): per-image depthwise kernels from pooled features, "
          "x + s·GELU(DWConv_K(x)(Z) + Z) Wu",
          {{"bottleneck", 32, "d, the down-projected width"},
           {"kernel", 3, "k, the generated kernels' size (odd)", 1, 31},
           {"scale", 1.0, "s"},
           {"site", "both", "after attention and MLP (both), or only one (attn, mlp)"}},
          apply_iconformer};
}

}  // namespace vt::peft
