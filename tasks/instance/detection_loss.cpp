// detection_loss.cpp — smooth L1 and binary cross-entropy on logits (detection_loss.h).
#include "tasks/instance/detection_loss.h"

#include <string>

namespace vt::instance {

Tensor smooth_l1_sum(const Tensor& pred, const Tensor& target, double beta) {
  if (pred.shape() != target.shape())
    throw Error("smooth_l1: prediction " + shape_str(pred.shape()) + " and target " +
                shape_str(target.shape()) + " differ in shape");
  if (pred.numel() == 0) return sum(pred);  // 0, still attached to pred
  Tensor d = pred - target, a = abs(d);
  Tensor small = lt(a, Tensor::scalar(beta, a.dtype(), a.device()));  // 1 inside the quadratic zone
  return sum(small * (square(d) * (0.5 / beta)) + (1.0 - small) * (a - 0.5 * beta));
}

Tensor bce_with_logits_mean(const Tensor& logits, const Tensor& target) {
  if (logits.shape() != target.shape())
    throw Error("binary_cross_entropy_with_logits: logits " + shape_str(logits.shape()) +
                " and target " + shape_str(target.shape()) + " differ in shape");
  return mean(softplus(logits) - logits * target);
}

}  // namespace vt::instance
