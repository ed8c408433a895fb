// dense_metrics.h — how segmentation and depth predictions are scored (tasks/train/metric.h).
//
// Segmentation (mmseg's IoUMetric): a K×K confusion matrix over all evaluated pixels (255 =
// ignore), then per class IoU = TP / (TP + FP + FN) and Acc = TP / (TP + FN); mIoU and mAcc
// average the classes that occur in the ground truth or the prediction (a class in neither is
// NaN and left out), aAcc = correct pixels / labelled pixels. All in %.
//
// Depth (Eigen et al. 2014, as BTS / the depth toolboxes report them): per image, over pixels
// with min_depth < y < max_depth (and inside the Eigen crop if asked), with the prediction
// clamped to [min_depth, max_depth]:
//   δ_k   = share of pixels with max(ŷ/y, y/ŷ) < 1.25^k, k = 1, 2, 3
//   AbsRel = mean |ŷ − y| / y,  SqRel = mean (ŷ − y)² / y,  RMSE = √mean (ŷ − y)²,
//   RMSE log = √mean (ln ŷ − ln y)²,  log10 = mean |log10 ŷ − log10 y|,
//   SILog = 100 · √( mean(d²) − mean(d)² ), d = ln ŷ − ln y
// then averaged over images. δ1 ranks checkpoints.
#pragma once
#include <array>

#include "tasks/train/metric.h"

namespace vt::dense {

// ---- segmentation
struct ConfusionMatrix {
  int64_t classes;
  std::vector<int64_t> counts;  // [truth · K + prediction]
  explicit ConfusionMatrix(int64_t k) : classes(k), counts(k * k, 0) {}
  // pred, truth: same shape, I64; truth 255 is skipped; other values must be < K.
  void add(const Tensor& pred, const Tensor& truth);
  // {"aAcc", "mIoU", "mAcc", "IoU": [per class, null for NaN], "Acc": [...]}
  nlohmann::json result() const;
};
// Fed (B, K, H, W) logits and batch.targets (B, H, W); reports result() plus the mean loss.
std::unique_ptr<tasks::Metric> segmentation_metric(int64_t classes);

// ---- depth
struct DepthEval {
  double min_depth = 1e-3, max_depth = 10.0;
  bool eigen_crop = false;  // NYU's [45:471, 41:601] of 480×640, scaled to the map's size
};
struct DepthErrors {
  double d1 = 0, d2 = 0, d3 = 0, abs_rel = 0, sq_rel = 0, rmse = 0, rmse_log = 0, log10 = 0, silog = 0;
  int64_t pixels = 0;  // valid pixels (0: the image does not count)
};
// pred, truth: (H, W) or (1, H, W) F32 metres.
DepthErrors depth_errors(const Tensor& pred, const Tensor& truth, const DepthEval& e);
// Fed (B, 1, H, W) depth and batch.targets (B, 1, H, W).
std::unique_ptr<tasks::Metric> depth_metric(const DepthEval& e);

}  // namespace vt::dense
