// optim.h — optimizers over parameter groups, gradient clipping, and the cosine LR schedule.
//
// Semantics follow torch.optim (and timm for the schedule), so a PyTorch training recipe ports
// over number for number; tests/test_optim.cpp checks a 20-step MLP run against PyTorch.
//
//   AdamW opt(param_groups_no_decay(model.named_parameters(), 0.05), 1e-3);
//   CosineSchedule sched(1e-3, total_iters, warmup_iters, 1e-6, 1e-6);
//   for (int64_t it = 0; it < total_iters; ++it) {
//     sched.apply(opt, it);                  // lr for this iteration
//     opt.zero_grad();
//     Tensor loss = ...;  loss.backward();
//     clip_grad_norm(params, 1.0);           // optional
//     opt.step();
//   }
//
// Gradient accumulation (an effective batch of k micro-batches): backward() adds into each
// leaf's grad, so call zero_grad() once, then for each micro-batch `(loss_i / k).backward()`,
// then step() once. For a loss that is a mean over samples and k equal micro-batches this gives
// exactly the gradient of the big batch (test "gradient accumulation equals one big batch").
//
// Parameters without a gradient (frozen, or unused this step) are skipped, as in torch.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace vt {

struct ParamGroup {
  std::vector<Tensor> params;
  double lr_scale = 1.0;      // this group's lr is optimizer.lr · lr_scale (layer-wise decay)
  double weight_decay = 0.0;
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  double lr;  // base learning rate; schedules set it before each step
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  void zero_grad();      // drops every parameter's gradient (frees it, like set_to_none=True)
  virtual void step() = 0;
  int64_t steps() const { return steps_; }  // how many times step() ran
  // The optimizer's state as named tensors ("steps", "<group>.<param>.<buffer>"), to save with
  // a checkpoint and restore with load_state(): a resumed run then continues exactly.
  virtual std::map<std::string, Tensor> state() const;
  virtual void load_state(const std::map<std::string, Tensor>& st);

 protected:
  std::vector<ParamGroup> groups_;
  int64_t steps_ = 0;
};

// torch.optim.SGD with dampening 0:
//   d = g + wd·p;  buf = momentum·buf + d (buf = d at the first step);
//   d = nesterov ? d + momentum·buf : buf;  p ← p − lr·d
class SGD final : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, double lr, double momentum = 0.0, bool nesterov = false);
  void step() override;
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& st) override;
  double momentum;
  bool nesterov;

 private:
  std::vector<std::vector<Tensor>> buf_;  // [group][param] momentum buffer
};

// torch.optim.AdamW: decoupled decay p ← p·(1 − lr·wd), bias-corrected moments, ε outside
// the square root. The update runs in the backend's fused adamw_step kernel.
class AdamW final : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, double lr, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8);
  void step() override;
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& st) override;
  double beta1, beta2, eps;

 private:
  struct State {
    Tensor m, v;
    int64_t step = 0;  // per parameter, as torch (a skipped parameter does not advance)
  };
  std::vector<std::vector<State>> state_;  // [group][param]
};

// Two groups, as timm's param_groups_weight_decay: {decay params, weight_decay} and
// {no-decay params, 0}. No decay for any tensor with dim <= 1 (biases, norm weights), and for
// names ending in ".bias" or containing "token" or "pos_embed" (cls/dist/prompt tokens,
// position embeddings) or listed in `extra_no_decay`. Frozen params (no requires_grad) are left
// out. Empty groups are dropped.
std::vector<ParamGroup> param_groups_no_decay(
    const std::vector<std::pair<std::string, Tensor>>& named_params, double weight_decay,
    const std::vector<std::string>& extra_no_decay = {});

// torch.nn.utils.clip_grad_norm_ (L2): total = ‖all grads‖₂; if max_norm < total the grads
// are scaled in place by max_norm / (total + 1e-6). Returns total (before clipping).
// Params without a gradient are ignored.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

// Per-iteration cosine schedule with linear warm-up: timm's CosineLRScheduler with
// t_in_epochs=False, cycle_limit=1, cycle_mul=1, cycle_decay=1, k_decay=1, no noise, driven by
// the update count t (T = total_iters, timm's t_initial; W = warmup_iters, timm's warmup_t):
//   t < W:   lr(t) = warmup_lr + t · (base_lr − warmup_lr) / W
//   t ≥ W:   t' = warmup_prefix ? t − W : t        (timm's default: warmup_prefix = false,
//                                                    so the warm-up eats into the cosine)
//            lr(t) = t' < T ? min_lr + ½(base_lr − min_lr)(1 + cos(π t'/T)) : min_lr
// timm's training loop uses lr(k) for the k-th update (k = 0, 1, ...), as apply(opt, k) does.
struct CosineSchedule {
  double base_lr;
  int64_t total_iters;       // timm's t_initial, in updates
  int64_t warmup_iters = 0;  // timm's warmup_t
  double warmup_lr = 0.0;    // timm's warmup_lr_init
  double min_lr = 0.0;       // timm's lr_min
  bool warmup_prefix = false;

  CosineSchedule(double base_lr, int64_t total_iters, int64_t warmup_iters = 0,
                 double warmup_lr = 0.0, double min_lr = 0.0, bool warmup_prefix = false);
  double lr_at(int64_t t) const;
  void apply(Optimizer& opt, int64_t t) const { opt.lr = lr_at(t); }
};

}  // namespace vt
