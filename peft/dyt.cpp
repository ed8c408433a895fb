// dyt.cpp — DyT, Dynamic Tuning (Zhao et al., NeurIPS 2024; code NUS-HPC-AI-Lab/Dynamic-Tuning),
// the default "MLP dispatch" variant: tokens may skip a block's MLP, never its attention.
//
//   x  = x + Attn(LN1 x)                       all tokens
//   m  = TD(x)                                 per token in {0, 1}, CLS always 1
//   x' = x + m ⊙ MLP(LN2 x) + Adapter(x)      the adapter sees every token
//
// Token dispatcher: Linear(D -> 1) per block. Training: Gumbel-sigmoid S = σ((E + G1 − G2)/τ),
// τ = 5, G = −log(Exp(1)); M = [S > 0.5] with the straight-through estimator (forward M,
// gradient of S). Inference: M = [σ(E) > 0.5], and the MLP really runs only on kept tokens
// (TunedBlock's sparse path, nn/tuned_block.cpp) — where the time is saved.
// Adapter: s · (Dropout0.1(ReLU(x Wd + bd)) Wu + bu), s = 1, Wd kaiming-uniform(a=√5), Wu = 0;
// bottleneck 8 (ViT-B/16: 156,768, plus 9,228 dispatcher parameters).
// MoE adapter (DyT†; not in the released code): N experts {Wd_i, Wu_i}, a router Linear(D -> N)
// on each image's mean token gives α = softmax(router) — the paper does not say how α is
// normalised: softmax is OUR choice — and each image uses Σ α_i Wd_i, Σ α_i Wu_i (biases too).
// Loss: see dyt.h. On ViT and Swin (every block of nn/tuned_block.h has the dispatch slot;
// on Swin every token may skip, there is no CLS); classification only (its loss).
#include "peft/dyt.h"

#include <cmath>

#include "engine/init.h"
#include "engine/random.h"
#include "peft/method.h"
#include "peft/tuner_util.h"

namespace vt::peft {

namespace {

struct Dispatcher : nn::TokenDispatcher {
  std::shared_ptr<nn::Linear> gate;  // D -> 1
  double tau;
  bool complete = false;  // the "complete model" pass: every token, no gate
  Tensor last_rate;       // mean of the (straight-through) mask over patch tokens, last pass
  Tensor fixed_noise;     // when defined, used in training instead of sampling G1 − G2 (dyt.h)
  int64_t kept = 0, total = 0;  // eval-pass counts since the last reset
  Dispatcher(int64_t dim, double t, const Tensor& like) : tau(t) {
    gate = register_module("gate", placed_like(std::make_shared<nn::Linear>(dim, 1), like));
  }
  Tensor mask(const Tensor& x, const nn::TokenGrid& g) override {  // x: (B, N, D)
    if (complete) return Tensor();
    const int64_t B = x.size(0), N = x.size(1), p = g.prefix;
    Tensor e = gate->forward(x.narrow(1, p, N - p));  // (B, N−p, 1)
    Tensor m;
    if (training()) {
      auto gumbel = [&] {  // −log(Exp(1)) = −log(−log U)
        Tensor u = rand(e.shape(), 1e-10, 1.0, e.dtype(), e.device());
        return neg(log(neg(log(u))));
      };
      if (fixed_noise.defined() && fixed_noise.shape() != e.shape())
        throw Error("dyt: fixed noise " + shape_str(fixed_noise.shape()) + " does not match the gate's " +
                    shape_str(e.shape()));
      Tensor noise = fixed_noise.defined() ? fixed_noise : sub(gumbel(), gumbel());
      Tensor s = sigmoid(mul(add(e, noise), 1.0 / tau));
      Tensor hard = gt(s, Tensor::scalar(0.5, s.dtype(), s.device()));
      m = add(sub(hard, s.detach()), s);  // forward: hard; backward: through S
    } else {
      m = gt(e, Tensor::scalar(0.0, e.dtype(), e.device()));  // σ(E) > 0.5
      NoGrad ng;
      kept += (int64_t)sum(m).item(), total += m.numel();
    }
    last_rate = mean(m);
    if (p == 0) return m;
    return concat({Tensor::ones({B, p, 1}, m.dtype(), m.device()), m}, 1);  // CLS always kept
  }
};

struct DyTAdapter : nn::BranchTuner {
  std::shared_ptr<Bottleneck> net;   // single adapter
  Tensor wd, bd, wu, bu;             // MoE: (E, h, D), (E, h), (E, D, h), (E, D)
  std::shared_ptr<nn::Linear> router;
  double scale, drop;
  DyTAdapter(int64_t dim, int64_t h, int64_t experts, double s, double p, const Tensor& like)
      : scale(s), drop(p) {
    if (experts <= 1) {
      net = register_module("net", placed_like(std::make_shared<Bottleneck>(dim, h), like));
      init::kaiming_uniform_(net->down->weight, std::sqrt(5.0));
      init::zeros_(net->down->bias), init::zeros_(net->up->weight), init::zeros_(net->up->bias);
      return;
    }
    router = register_module("router", placed_like(std::make_shared<nn::Linear>(dim, experts), like));
    wd = register_parameter("down_weight", empty_like_dev({experts, h, dim}, like));
    bd = register_parameter("down_bias", Tensor::zeros({experts, h}, like.dtype(), like.device()));
    wu = register_parameter("up_weight", Tensor::zeros({experts, dim, h}, like.dtype(), like.device()));
    bu = register_parameter("up_bias", Tensor::zeros({experts, dim}, like.dtype(), like.device()));
    for (int64_t i = 0; i < experts; ++i) init::kaiming_uniform_(wd.select(0, i), std::sqrt(5.0));
  }
  Tensor forward(const Tensor& x, const Tensor&, const nn::TokenGrid&) override {  // x: (B, N, D)
    if (net) return mul(net->up->forward(dropout(relu(net->down->forward(x)), drop, training())), scale);
    const int64_t B = x.size(0), E = wd.size(0), h = wd.size(1), D = wd.size(2);
    Tensor a = softmax(router->forward(mean(x, {1})), -1);                 // (B, E)
    Tensor Wd = matmul(a, wd.reshape({E, h * D})).reshape({B, h, D});       // per image Σ α_i Wd_i
    Tensor Bd = matmul(a, bd).unsqueeze(1);                                 // (B, 1, h)
    Tensor Wu = matmul(a, wu.reshape({E, D * h})).reshape({B, D, h});
    Tensor Bu = matmul(a, bu).unsqueeze(1);                                 // (B, 1, D)
    Tensor u = dropout(relu(add(matmul(x, Wd.transpose(1, 2)), Bd)), drop, training());  // (B, N, h)
    return mul(add(matmul(u, Wu.transpose(1, 2)), Bu), scale);
  }
};

std::vector<Dispatcher*> dispatchers(nn::Module& m) {
  std::vector<Dispatcher*> out;
  for (auto& [n, mod] : m.named_modules())
    if (auto* d = dynamic_cast<Dispatcher*>(mod)) out.push_back(d);
  return out;
}

void apply_dyt(Sites& s, const Options& o) {
  const int64_t h = o.i("bottleneck"), experts = o.i("experts");
  if (h <= 0 || experts <= 0) throw Error("dyt: bottleneck and experts must be positive");
  for (size_t i = 0; i < s.blocks.size(); ++i) {
    BlockSites& b = s.blocks[i];
    auto d = std::make_shared<Dispatcher>(b.dim, o.d("tau"), b.qkv->weight);
    b.block->set_dispatcher("dispatcher", d);
    b.add_branch(false, "dyt_adapter",
                 std::make_shared<DyTAdapter>(b.dim, h, experts, o.d("scale"), o.d("dropout"), b.qkv->weight));
  }
}

}  // namespace

Tensor dyt_loss(nn::Module& model, const std::function<Tensor(const Tensor&)>& forward,
                const Tensor& images, const Tensor& labels, double r, double rate_weight) {
  auto ds = dispatchers(model);
  if (ds.empty()) throw Error("dyt_loss: the model has no DyT dispatchers");
  for (auto* d : ds) d->complete = true;
  Tensor complete = forward(images);  // every token through every MLP
  for (auto* d : ds) d->complete = false;
  Tensor student = forward(images);
  Tensor rate;
  for (auto* d : ds) rate = rate.defined() ? add(rate, d->last_rate) : d->last_rate;
  rate = mul(rate, 1.0 / ds.size());
  Tensor kl = kl_div(log_softmax(student, -1), softmax(complete.detach(), -1), "batchmean");
  Tensor loss = add(add(cross_entropy(student, labels), cross_entropy(complete, labels)), kl);
  return add(loss, mul(square(add(rate, -r)), rate_weight));
}

void dyt_fix_noise(nn::Module& model, const std::string& name, const Tensor& noise) {
  for (auto& [n, mod] : model.named_modules())
    if (n == name) {
      auto* d = dynamic_cast<Dispatcher*>(mod);
      if (!d) throw Error("dyt_fix_noise: module '" + name + "' is not a DyT dispatcher");
      d->fixed_noise = noise;
      return;
    }
  throw Error("dyt_fix_noise: the model has no module '" + name + "'");
}

void dyt_reset_stats(nn::Module& model) {
  for (auto* d : dispatchers(model)) d->kept = d->total = 0;
}

DyTStats dyt_stats(nn::Module& model) {
  DyTStats s;
  int64_t kept = 0, total = 0;
  for (auto* d : dispatchers(model)) kept += d->kept, total += d->total;
  if (total) s.mlp_token_rate = (double)kept / total;
  return s;
}

Method dyt_method() {
  Method m{"dyt",
          "DyT (Zhao et al. 2024): per-token MLP skipping (Gumbel-sigmoid dispatcher) + parallel adapter",
          {{"bottleneck", 8, "adapter width (8 on VTAB-1K, 64 on full data sets)"},
           {"experts", 1, "N > 1: the MoE adapter (per-image softmax-merged experts)", 1, 64},
           {"rate", 0.5, "r, the target share of tokens through the MLPs (used by the loss)"},
           {"tau", 5.0, "Gumbel-sigmoid temperature"},
           {"scale", 1.0, "adapter scale s"},
           {"dropout", 0.1, "adapter dropout"}},
          apply_dyt};
  m.tasks = {"classification"};  // the loss below is a classification loss
  m.loss = [](nn::Module& model, const Options& o, const Forward& fwd, const Tensor& x, const Tensor& y) {
    return dyt_loss(model, fwd, x, y, o.d("rate"));
  };
  m.reset_stats = dyt_reset_stats;
  m.report = [](nn::ImageModel& model, const Options&, int64_t img) {
    // Multiply-adds per image (fvcore's convention): everything, less the MLP work of the
    // image tokens the dispatchers skipped.
    const double rate = dyt_stats(model).mlp_token_rate;
    const nn::ForwardCost c = model.forward_cost(img);
    return json{{"dyt_mlp_token_rate", rate},
                {"dyt_gmacs_per_image", (c.macs - (1 - rate) * c.skippable_mlp_macs) / 1e9},
                {"dense_gmacs_per_image", c.macs / 1e9}};
  };
  return m;
}

}  // namespace vt::peft
