// lora.cpp — LoRA (Hu et al., ICLR 2022), as NOAH's visual-PEFT code applies it.
//
//   y = W x + b  +  s · B A x        A: (r, in), B: (out, r), s = α / r (or 1)
//
// Default target: the fused qkv of every block (NOAH: `qkv += B·A·x`, r = 8, no scale;
// ViT-B/16: 12 · (8·768 + 2304·8) = 294,912). Targets q, k, v put a separate LoRA on that
// third of the qkv rows; proj, fc1, fc2 on those linears. Init: A kaiming-uniform(a=√5), B = 0,
// so training starts from the pretrained function. Mergeable: W += s·B A (peft/merge.cpp).
#include "peft/lora.h"

#include <cmath>
#include <sstream>

#include "engine/init.h"
#include "peft/method.h"

namespace vt::peft {

LoRA::LoRA(const Tensor& like, int64_t in, int64_t rows, int64_t r, int64_t row0_,
           int64_t out_total_, double scale_)
    : scale(scale_), row0(row0_), out_total(out_total_) {
  A = register_parameter("A", Tensor::empty({r, in}, like.dtype(), like.device()));
  B = register_parameter("B", Tensor::zeros({rows, r}, like.dtype(), like.device()));
  init::kaiming_uniform_(A, std::sqrt(5.0));
}

Tensor LoRA::forward(const Tensor& x, const Tensor& y) {
  const Tensor h = linear(x, A);  // (..., in) -> (..., r)
  const int64_t rows = B.size(0);
  if (rows == out_total) return add_linear(y, h, B, scale);  // y + s·B h in one GEMM
  // A q/k/v part of the fused qkv: pad the delta to the full width.
  Tensor d = linear(h, B);  // (..., rows)
  if (scale != 1.0) d = mul(d, scale);
  return add(y, pad(d, {row0, out_total - row0 - rows}));
}

Tensor LoRA::delta_weight() const {
  NoGrad ng;
  Tensor d = mul(matmul(B, A), scale);  // (rows, in)
  if (B.size(0) != out_total) d = pad(d, {0, 0, row0, out_total - row0 - B.size(0)});
  return d;
}

void LoRA::merge_into(nn::StateDict& sd, const std::string& host) const {
  auto it = sd.find(host + ".weight");
  if (it == sd.end()) throw Error("merge: LoRA host '" + host + "' has no weight");
  NoGrad ng;
  it->second = add(it->second, delta_weight());
}

std::shared_ptr<LoRA> attach_lora(const nn::BlockSites& b, const std::string& target, int64_t r, double scale) {
  if (r <= 0) throw Error("lora: r must be positive, got " + std::to_string(r));
  const int64_t D = b.dim;
  nn::Linear* host = nullptr;
  int64_t rows = 0, row0 = 0;
  if (target == "qkv") host = b.qkv, rows = 3 * D;
  else if (target == "q" || target == "k" || target == "v")
    host = b.qkv, rows = D, row0 = (target == "q" ? 0 : target == "k" ? D : 2 * D);
  else if (target == "proj") host = b.proj, rows = D;
  else if (target == "fc1") host = b.fc1, rows = b.hidden;
  else if (target == "fc2") host = b.fc2, rows = D;
  else throw Error("lora: unknown target '" + target + "' (targets: qkv, q, k, v, proj, fc1, fc2)");
  auto t = std::make_shared<LoRA>(host->weight, host->in_features(), rows, r, row0, host->out_features(), scale);
  host->add_tuner("lora_" + target, t);
  return t;
}

namespace {

void apply_lora(Sites& s, const Options& o) {
  const int64_t r = o.i("r");
  if (r <= 0) throw Error("lora: r must be positive, got " + std::to_string(r));
  const double alpha = o.d("alpha");
  const double scale = alpha > 0 ? alpha / r : 1.0;
  std::stringstream ts(o.s("targets"));
  std::string t;
  std::vector<std::string> targets;
  while (std::getline(ts, t, ','))
    if (!t.empty()) targets.push_back(t);
  if (targets.empty()) throw Error("lora: option 'targets' names no layer");
  for (BlockSites& b : s.blocks)
    for (const std::string& tg : targets) attach_lora(b, tg, r, scale);
}

}  // namespace

Method lora_method() {
  return {"lora",
          "LoRA (Hu et al. 2022): y = Wx + s·BAx on the chosen linears (default: the fused qkv)",
          {{"r", 8, "rank"},
           {"alpha", 0.0, "scale s = alpha/r; 0 means s = 1 (NOAH's visual-PEFT setting)"},
           {"targets", "qkv", "comma-separated: qkv, q, k, v, proj, fc1, fc2"}},
          apply_lora, /*mergeable=*/true};
}

}  // namespace vt::peft
