// optim.cpp — SGD, AdamW, no-decay parameter groups, gradient clipping, cosine schedule.
//
// Updates write into each parameter's existing memory (backend copy / fused kernel), so every
// holder of the parameter handle (the model, a tuner, a checkpoint writer) sees the new values.
// Nothing here records autograd.
#include "engine/optim.h"

#include <cmath>

#include "engine/backend.h"
#include "engine/ops.h"

namespace vt {

namespace {

// The gradient to use for p, or undefined if p takes no part in this step.
Tensor usable_grad(const Tensor& p, const char* opt) {
  if (!p.requires_grad()) return Tensor();
  Tensor g = p.grad();
  if (!g.defined()) return Tensor();
  if (g.shape() != p.shape() || g.dtype() != p.dtype())
    throw Error(std::string(opt) + ": gradient " + shape_str(g.shape()) + " " +
                dtype_name(g.dtype()) + " does not match parameter " + shape_str(p.shape()) +
                " " + dtype_name(p.dtype()));
  return g;
}

// p's memory ← values (same shape).
void assign(const Tensor& p, const Tensor& values) {
  Tensor dst = p;
  backend_for(p).copy(values, dst);
}

}  // namespace

// ---------------------------------------------------------------- Optimizer
Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr_)
    : lr(lr_), groups_(std::move(groups)) {
  if (!(lr >= 0)) throw Error("optimizer: learning rate must be >= 0, got " + std::to_string(lr));
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (size_t pi = 0; pi < groups_[gi].params.size(); ++pi) {
      const Tensor& p = groups_[gi].params[pi];
      const std::string where = "group " + std::to_string(gi) + " param " + std::to_string(pi);
      if (!p.defined()) throw Error("optimizer: " + where + " is undefined");
      if (!p.is_leaf())
        throw Error("optimizer: " + where + " " + shape_str(p.shape()) +
                    " is not a leaf tensor (it has a grad_fn)");
      if (p.dtype() != DType::F32 && p.dtype() != DType::F64)
        throw Error("optimizer: " + where + " " + shape_str(p.shape()) + " has dtype " +
                    dtype_name(p.dtype()) + " (expected F32 or F64)");
    }
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) const_cast<Tensor&>(p).zero_grad();
}

// ---------------------------------------------------------------- SGD
SGD::SGD(std::vector<ParamGroup> groups, double lr_, double momentum_, bool nesterov_)
    : Optimizer(std::move(groups), lr_), momentum(momentum_), nesterov(nesterov_) {
  if (!(momentum >= 0)) throw Error("SGD: momentum must be >= 0, got " + std::to_string(momentum));
  if (nesterov && momentum <= 0) throw Error("SGD: nesterov needs momentum > 0");
  buf_.resize(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) buf_[g].resize(groups_[g].params.size());
}

void SGD::step() {
  NoGrad ng;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& group = groups_[gi];
    const double lr_g = lr * group.lr_scale;
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      const Tensor& p = group.params[pi];
      Tensor d = usable_grad(p, "SGD");
      if (!d.defined()) continue;
      if (group.weight_decay != 0) d = add(d, mul(p, group.weight_decay));  // d = g + wd·p
      if (momentum != 0) {
        Tensor& buf = buf_[gi][pi];
        buf = buf.defined() ? add(mul(buf, momentum), d) : d.clone();  // buf = μ·buf + d
        d = nesterov ? add(d, mul(buf, momentum)) : buf;
      }
      assign(p, sub(p, mul(d, lr_g)));  // p ← p − lr·d
    }
  }
  ++steps_;
}

// ---------------------------------------------------------------- AdamW
AdamW::AdamW(std::vector<ParamGroup> groups, double lr_, double beta1_, double beta2_,
             double eps_)
    : Optimizer(std::move(groups), lr_), beta1(beta1_), beta2(beta2_), eps(eps_) {
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    throw Error("AdamW: betas must be in [0, 1), got (" + std::to_string(beta1) + ", " +
                std::to_string(beta2) + ")");
  if (!(eps >= 0)) throw Error("AdamW: eps must be >= 0, got " + std::to_string(eps));
  state_.resize(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) state_[g].resize(groups_[g].params.size());
}

void AdamW::step() {
  NoGrad ng;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& group = groups_[gi];
    const double lr_g = lr * group.lr_scale;
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      Tensor p = group.params[pi];
      Tensor g = usable_grad(p, "AdamW");
      if (!g.defined()) continue;
      if (!p.is_contiguous())
        throw Error("AdamW: parameter " + shape_str(p.shape()) +
                    " is not contiguous (the fused step needs contiguous parameters)");
      g = g.is_contiguous() ? g : g.contiguous();
      State& st = state_[gi][pi];
      if (!st.m.defined()) {
        st.m = Tensor::zeros(p.shape(), p.dtype(), p.device());
        st.v = Tensor::zeros(p.shape(), p.dtype(), p.device());
      }
      ++st.step;
      backend_for(p).adamw_step(p, g, st.m, st.v, lr_g, beta1, beta2, eps, group.weight_decay,
                                st.step);
    }
  }
  ++steps_;
}

// ---------------------------------------------------------------- state (for resuming)
namespace {
std::string key(size_t g, size_t p, const char* what) {
  return std::to_string(g) + "." + std::to_string(p) + "." + what;
}
// Copies a saved buffer into a fresh tensor shaped like the parameter, checking the shape.
Tensor restore(const std::map<std::string, Tensor>& st, const std::string& k, const Tensor& p) {
  auto it = st.find(k);
  if (it == st.end()) throw Error("optimizer state: no '" + k + "'");
  const Tensor& t = it->second;
  if (t.shape() != p.shape())
    throw Error("optimizer state: '" + k + "' is " + shape_str(t.shape()) + ", the parameter " +
                shape_str(p.shape()));
  return t.to(p.dtype()).to(p.device()).clone();
}
int64_t saved_count(const std::map<std::string, Tensor>& st, const std::string& k) {
  auto it = st.find(k);
  if (it == st.end()) throw Error("optimizer state: no '" + k + "'");
  if (it->second.numel() != 1) throw Error("optimizer state: '" + k + "' must hold one number, it is " + shape_str(it->second.shape()));
  const double v = it->second.item();
  if (!(v >= 0 && v <= 9007199254740992.0) || v != std::floor(v))  // 2^53, NaN refused too
    throw Error("optimizer state: '" + k + "' must be a count (a whole number >= 0), got " + std::to_string(v));
  return (int64_t)v;
}
}  // namespace

std::map<std::string, Tensor> Optimizer::state() const {
  return {{"steps", Tensor::scalar((double)steps_, DType::F64)}};
}

void Optimizer::load_state(const std::map<std::string, Tensor>& st) {
  steps_ = saved_count(st, "steps");
}

std::map<std::string, Tensor> SGD::state() const {
  auto st = Optimizer::state();
  for (size_t g = 0; g < buf_.size(); ++g)
    for (size_t p = 0; p < buf_[g].size(); ++p)
      if (buf_[g][p].defined()) st[key(g, p, "momentum")] = buf_[g][p];
  return st;
}

void SGD::load_state(const std::map<std::string, Tensor>& st) {
  Optimizer::load_state(st);
  for (size_t g = 0; g < buf_.size(); ++g)
    for (size_t p = 0; p < buf_[g].size(); ++p)
      buf_[g][p] = st.count(key(g, p, "momentum")) ? restore(st, key(g, p, "momentum"), groups_[g].params[p])
                                                   : Tensor();
}

std::map<std::string, Tensor> AdamW::state() const {
  auto st = Optimizer::state();
  for (size_t g = 0; g < state_.size(); ++g)
    for (size_t p = 0; p < state_[g].size(); ++p) {
      const State& s = state_[g][p];
      if (!s.m.defined()) continue;
      st[key(g, p, "exp_avg")] = s.m;
      st[key(g, p, "exp_avg_sq")] = s.v;
      st[key(g, p, "step")] = Tensor::scalar((double)s.step, DType::F64);
    }
  return st;
}

void AdamW::load_state(const std::map<std::string, Tensor>& st) {
  Optimizer::load_state(st);
  for (size_t g = 0; g < state_.size(); ++g)
    for (size_t p = 0; p < state_[g].size(); ++p) {
      State& s = state_[g][p];
      if (!st.count(key(g, p, "exp_avg"))) {
        s = State{};
        continue;
      }
      const Tensor& param = groups_[g].params[p];
      s.m = restore(st, key(g, p, "exp_avg"), param);
      s.v = restore(st, key(g, p, "exp_avg_sq"), param);
      s.step = saved_count(st, key(g, p, "step"));
    }
}

// ---------------------------------------------------------------- helpers
std::vector<ParamGroup> param_groups_no_decay(
    const std::vector<std::pair<std::string, Tensor>>& named_params, double weight_decay,
    const std::vector<std::string>& extra_no_decay) {
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  ParamGroup no_decay{{}, 1.0, 0.0}, decay{{}, 1.0, weight_decay};
  for (const auto& [name, p] : named_params) {
    if (!p.defined() || !p.requires_grad()) continue;  // frozen: not optimised at all
    bool skip = p.dim() <= 1 || ends_with(name, ".bias") || name == "bias" ||
                name.find("token") != std::string::npos ||
                name.find("pos_embed") != std::string::npos;
    for (const auto& n : extra_no_decay) skip = skip || n == name;
    (skip ? no_decay : decay).params.push_back(p);
  }
  std::vector<ParamGroup> out;
  if (!no_decay.params.empty()) out.push_back(std::move(no_decay));
  if (!decay.params.empty()) out.push_back(std::move(decay));
  return out;
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  NoGrad ng;
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  // Σ‖g‖² summed on the device, one transfer at the end.
  Tensor total_sq;
  for (const Tensor& g : grads) {
    Tensor s = sum(square(g)).to(DType::F64);
    total_sq = total_sq.defined() ? add(total_sq, s) : s;
  }
  const double total = std::sqrt(total_sq.item());
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0)
    for (const Tensor& g : grads) assign(g, mul(g, coef));
  return total;
}

CosineSchedule::CosineSchedule(double base_lr_, int64_t total_iters_, int64_t warmup_iters_,
                               double warmup_lr_, double min_lr_, bool warmup_prefix_)
    : base_lr(base_lr_), total_iters(total_iters_), warmup_iters(warmup_iters_),
      warmup_lr(warmup_lr_), min_lr(min_lr_), warmup_prefix(warmup_prefix_) {
  if (total_iters <= 0 || warmup_iters < 0)
    throw Error("CosineSchedule: need total_iters > 0 and warmup_iters >= 0, got " +
                std::to_string(total_iters) + " and " + std::to_string(warmup_iters));
}

double CosineSchedule::lr_at(int64_t t) const {
  const double pi = 3.14159265358979323846;
  if (t < warmup_iters)
    return warmup_lr + (double)t * (base_lr - warmup_lr) / (double)warmup_iters;
  const int64_t tc = warmup_prefix ? t - warmup_iters : t;
  if (tc >= total_iters) return min_lr;
  const double progress = (double)tc / (double)total_iters;  // in [0, 1)
  return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(pi * progress));
}

}  // namespace vt
