// dense_loss.h — the training losses of the dense tasks and the numbers they are judged by.
//
//   segmentation: per-pixel cross-entropy, ignore index 255 (mmseg's default)
//   depth:        scale-invariant log loss (Eigen et al. 2014, as BTS trains with it):
//                   d = log ŷ − log y over valid pixels (y > min_depth),
//                   SILog = α · √( mean(d²) − λ · mean(d)² ),  λ = 0.85, α = 10
#pragma once
#include "engine/ops.h"

namespace vt::dense {

constexpr int64_t kIgnoreIndex = 255;

// logits (B, K, H, W), target (B, H, W) I64 with 255 = ignore -> scalar
Tensor segmentation_loss(const Tensor& logits, const Tensor& target);

// pred, target (B, 1, H, W) metres; pixels with target <= min_depth do not count. A batch with
// no valid pixel gives 0 (and no gradient). across_ranks: the means are over every
// data-parallel rank's pixels (engine/dist.h; every rank gets the global batch's loss).
Tensor silog_loss(const Tensor& pred, const Tensor& target, double min_depth = 1e-3,
                  double lambda = 0.85, double alpha = 10.0, bool across_ranks = false);

}  // namespace vt::dense
