// dyt.h — DyT's pieces the trainer and the commands need besides the method itself:
// the full loss (two forward passes) and the measured compute at inference.
#pragma once
#include <functional>

#include "nn/module.h"

namespace vt::peft {

// CE(student) + CE(complete model: no skipping, same weights) + KL(p_complete.detach ‖ p_student)
// + rate_weight · (mean(M) − r)², the mean over batch, blocks and patch tokens.
Tensor dyt_loss(nn::Module& model, const std::function<Tensor(const Tensor&)>& forward,
                const Tensor& images, const Tensor& labels, double target_rate, double rate_weight = 2.0);

// Tests: the dispatcher `name` ("blocks.3.dispatcher") uses `noise` — the Gumbel difference
// G1 − G2, (B, N − prefix, 1) — in its training passes instead of sampling one, so a training
// forward can be compared with a reference; an undefined tensor returns it to sampling.
// A noise of another shape is refused when the dispatcher runs.
void dyt_fix_noise(nn::Module& model, const std::string& name, const Tensor& noise);

// Token statistics of the dispatchers since the last reset: the share of patch tokens that
// went through the MLPs (eval passes only), and the model's MLP share of the dense FLOPs.
struct DyTStats {
  double mlp_token_rate = 1.0;  // kept / total patch tokens over all blocks and images
  int64_t images = 0;
};
void dyt_reset_stats(nn::Module& model);
DyTStats dyt_stats(nn::Module& model);

}  // namespace vt::peft
