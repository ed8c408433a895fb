// detection_loss.h — the losses of the region proposal network and the box and mask heads,
// composed from engine ops (so their gradients are the ops' own), as torch.nn.functional
// defines them:
//   smooth_l1_sum(p, t, β)   = Σ ½(p − t)²/β where |p − t| < β, else |p − t| − ½β
//   bce_with_logits_mean(x, y) = mean( softplus(x) − x·y )     (= −y log σ(x) − (1−y) log(1−σ(x)))
#pragma once
#include "engine/ops.h"

namespace vt::instance {

Tensor smooth_l1_sum(const Tensor& pred, const Tensor& target, double beta);
Tensor bce_with_logits_mean(const Tensor& logits, const Tensor& target);

}  // namespace vt::instance
