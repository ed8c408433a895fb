// tuned_block.cpp — the residual-with-tuners sequence every block runs, and ViT's Block
// (see tuned_block.h).
#include "nn/tuned_block.h"

namespace vt::nn {

void TunedBlock::add_branch(bool attn_site, const std::string& name, std::shared_ptr<BranchTuner> t) {
  attach(name, t);
  (attn_site ? attn_branches : mlp_branches).push_back(std::move(t));
}

void TunedBlock::add_adapter(bool attn_site, const std::string& name, std::shared_ptr<SequentialTuner> t) {
  attach(name, t);
  (attn_site ? attn_adapters : mlp_adapters).push_back(std::move(t));
}

void TunedBlock::add_block_branch(const std::string& name, std::shared_ptr<BranchTuner> t) {
  attach(name, t);
  block_branches.push_back(std::move(t));
}

void TunedBlock::set_dispatcher(const std::string& name, std::shared_ptr<TokenDispatcher> d) {
  attach(name, d);
  mlp_dispatcher = std::move(d);
}

Tensor TunedBlock::residual_with_tuners(const Tensor& x, const Tensor& z, Tensor h, const TokenGrid& grid) {
  // x' = x + DropPath(A(h)) + Σ branches(x, LN1 x)
  for (auto& a : attn_adapters) h = a->forward(h, grid);
  Tensor out = add(x, vt::drop_path(h, drop_path_rate, training()));
  for (auto& b : attn_branches) out = b->forward_add(out, x, z, grid);
  // y = x' + DropPath(A(m ⊙ MLP(LN2 x'))) + Σ branches(x', LN2 x')
  Tensor m = mlp_dispatcher ? mlp_dispatcher->mask(out, grid) : Tensor();
  Tensor z2, h2;
  if (m.defined() && !training() && mlp_dispatcher->sparse) {
    // Only the kept tokens go through LN2 + MLP: (B·N, D) -> gather K rows -> scatter back.
    const int64_t B = out.size(0), N = out.size(1), D = out.size(2);
    std::vector<double> mv = m.to_vector();
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < B * N; ++i)
      if (mv[i] > 0.5) keep.push_back(i);
    if (keep.empty()) keep.push_back(0);  // K = 0 rows: keep one, its output is masked below
    Tensor idx = Tensor::from_vector(keep, {(int64_t)keep.size()}).to(out.device());
    Tensor rows = index_select(out.reshape({B * N, D}), 0, idx);              // (K, D)
    Tensor y = mlp->forward(norm2->forward(rows));                             // (K, D)
    h2 = index_add(Tensor::zeros({B * N, D}, out.dtype(), out.device()), 0, idx, y).reshape({B, N, D});
    if (mv[keep[0]] < 0.5) h2 = mul(h2, m);
  } else {
    z2 = norm2->forward(out);  // (with a dispatcher, sparse mode gives branches no z2)
    h2 = mlp->forward(z2);
    if (m.defined()) h2 = mul(h2, m);
  }
  for (auto& a : mlp_adapters) h2 = a->forward(h2, grid);
  Tensor out2 = add(out, vt::drop_path(h2, drop_path_rate, training()));
  for (auto& b : mlp_branches) out2 = b->forward_add(out2, out, z2, grid);
  for (auto& b : block_branches) out2 = b->forward_add(out2, x, x, grid);
  return out2;
}

Block::Block(int64_t dim, int64_t heads, double mlp_ratio, double eps) {
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(dim, eps));
  attn = register_module("attn", std::make_shared<Attention>(dim, heads));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(dim, eps));
  mlp = register_module("mlp", std::make_shared<Mlp>(dim, (int64_t)(dim * mlp_ratio)));
}

Tensor Block::forward(const Tensor& x) {
  Tensor z = norm1->forward(x);  // (B, N, D)
  return residual_with_tuners(x, z, attn->forward(z), grid);
}

void set_token_skipping(Module& model, bool on) {
  model.apply([on](const std::string&, Module& m) {
    if (auto* d = dynamic_cast<TokenDispatcher*>(&m)) d->sparse = on;
  });
}

}  // namespace vt::nn
