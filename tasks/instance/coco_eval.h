// coco_eval.h — COCO's box and mask average precision / recall (COCOeval with iouType "bbox" or
// "segm", its default parameters), restated step by step; tests/reference/coco_eval.py is the
// same in numpy.
//
// For each category k and image (skipped when it has neither ground truth nor detections of k),
// detections are sorted by score (stable, descending) and cut to 100; IoU is box IoU or mask IoU
// (rle.h; for a crowd region intersection / detection area). Then for each area range:
//   a ground truth is ignored when it is a crowd region or its `area` is outside the range, and
//   the ignored ones go last; at each IoU threshold t ∈ 0.50:0.05:0.95 each detection in turn
//   takes the ground truth of highest IoU ≥ t not yet taken (crowd regions can be taken again),
//   a non-ignored one before any ignored one. A detection matched to an ignored ground truth,
//   or unmatched with its area (box w·h, or mask area) outside the range, is ignored.
// For each category, area range and maxDets m ∈ {1, 10, 100}: the first m detections of every
// image are pooled and sorted by score (stable, images in order). With TP_i, FP_i the running
// counts of matched / unmatched detections (ignored ones count in neither) and N the
// non-ignored ground truth (N = 0: the category is left out),
//   recall_i = TP_i / N,   precision_i = TP_i / (TP_i + FP_i + ε),   ε = 2^-52;
// precision is made non-increasing from the right and read at the 101 recall points
// r = 0, 0.01, …, 1 at the first i with recall_i ≥ r (0 past the last detection):
//   AP(t, k) = mean of the 101 values,   AR(t, k) = recall of the last detection.
// The 12 numbers average these over categories and thresholds, leaving out the -1 of left-out
// categories (-1 when nothing is left): AP, AP50, AP75, APs/m/l with 100 detections, AR1, AR10,
// AR100, ARs/m/l with 100. Area ranges in pixels, bounds included: all [0, 1e10], small
// [0, 32²], medium [32², 96²], large [96², 1e10]. Values are in 0..1.
#pragma once
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "tasks/instance/rle.h"

namespace vt::instance {

struct GtObject {
  int64_t category = 0;
  Box bbox{};            // [x, y, w, h]: what box IoU compares
  double area = 0;       // the annotation's area: its area range, for boxes and masks alike
  bool iscrowd = false;  // a crowd region: never counted, matched detections are ignored
  Rle mask;              // for segm
};

struct Detection {
  int64_t category = 0;
  double score = 0;
  Box bbox{};  // for bbox; its w·h is the area that decides the area range
  Rle mask;    // for segm; its area decides the area range
};

// One image's ground truth and detections (every image of the evaluated set, in a fixed order:
// ties in score across images are broken by that order).
struct EvalImage {
  std::vector<GtObject> gt;
  std::vector<Detection> dt;
};

enum class IouType { Bbox, Segm };

// COCOeval's parameters (fixed): T IoU thresholds, R recall points, A area ranges, M maxDets.
constexpr int kIouSteps = 10, kRecallSteps = 101, kAreaRanges = 4, kMaxDetSteps = 3;
// 0.50, 0.55, ..., 0.95 as numpy's linspace gives them (0.9 is 0.8999999999999999).
extern const std::array<double, kIouSteps> kIouThresholds;
extern const std::array<int64_t, kMaxDetSteps> kMaxDets;                    // 1, 10, 100
extern const std::array<std::array<double, 2>, kAreaRanges> kAreaRangeBounds;  // all, s, m, l

struct CocoStats {
  double ap = -1, ap50 = -1, ap75 = -1, ap_small = -1, ap_medium = -1, ap_large = -1;
  double ar1 = -1, ar10 = -1, ar100 = -1, ar_small = -1, ar_medium = -1, ar_large = -1;
  std::array<double, 12> values() const;  // in the order above (COCOeval's stats)
  // {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"}
  nlohmann::json to_json() const;
};
extern const std::array<const char*, 12> kCocoStatNames;

// COCOeval's accumulated curves: precision [T][R][K][A][M] and recall [T][K][A][M], -1 where
// category k is left out (no non-ignored ground truth in that area range).
struct CocoCurves {
  std::vector<int64_t> categories;  // K, ascending
  std::vector<double> precision, recall;
  double precision_at(int t, int r, size_t k, int a, int m) const {
    const size_t K = categories.size();
    const size_t at = (((size_t)t * kRecallSteps + r) * K + k) * kAreaRanges + a;
    return precision[at * kMaxDetSteps + m];
  }
  double recall_at(int t, size_t k, int a, int m) const {
    return recall[(((size_t)t * categories.size() + k) * kAreaRanges + a) * kMaxDetSteps + m];
  }
};

// Evaluates the categories given (sorted and deduplicated; empty: those of the ground truth).
// Objects of other categories are left out, as COCOeval does with params.catIds. Throws
// vt::Error on non-finite scores, boxes or areas and, for segm, on masks of different sizes
// within an image.
CocoCurves coco_accumulate(const std::vector<EvalImage>& images, IouType type,
                           std::vector<int64_t> categories = {});
CocoStats coco_summarize(const CocoCurves& curves);
CocoStats coco_evaluate(const std::vector<EvalImage>& images, IouType type,
                        std::vector<int64_t> categories = {});

}  // namespace vt::instance
