// anchors.h — the reference boxes of the region proposal network and how boxes are matched to
// ground truth and sampled for the losses (torchvision's AnchorGenerator, Matcher and
// BalancedPositiveNegativeSampler).
//
//   anchors      per pyramid level l with stride s_l: at every map position (i, j) the cell
//                anchors shifted by (j·s_l, i·s_l); a cell anchor of size S and aspect ratio
//                r = h/w is (−w/2, −h/2, w/2, h/2) rounded, w = S/√r, h = S·√r.
//                Order: level, then position (row-major), then anchor.
//   matching     each prediction takes the ground-truth box it overlaps most; IoU < low -> -1
//                (background), low <= IoU < high -> -2 (ignored). With low-quality matches
//                allowed, every ground-truth box also keeps the predictions that overlap it
//                best (ties included), whatever their IoU.
//   sampling     at most batch · positive_fraction positives, the rest of the batch negatives,
//                each drawn uniformly without replacement.
#pragma once
#include <utility>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace vt::instance {

struct AnchorGenerator {
  std::vector<std::vector<double>> sizes;        // per level, e.g. {{32}, {64}, {128}, {256}, {512}}
  std::vector<double> aspect_ratios{0.5, 1.0, 2.0};
  int64_t per_location(size_t level) const { return (int64_t)(sizes.at(level).size() * aspect_ratios.size()); }
  // (A, 4) anchors around the origin for one level, rounded as torchvision's
  Tensor cell_anchors(size_t level, DType dtype = DType::F32) const;
  // One image's anchors for maps of these (H, W) sizes: (Σ_l H_l·W_l·A_l, 4). Each level's
  // stride is image size // map size, per axis.
  Tensor anchors(const std::vector<std::pair<int64_t, int64_t>>& map_sizes, int64_t image_h,
                 int64_t image_w, DType dtype = DType::F32) const;
};

struct Matcher {
  static constexpr int64_t kBelow = -1, kBetween = -2;
  double high = 0.7, low = 0.3;
  bool allow_low_quality = true;
  // iou: (M ground-truth boxes, N predictions), M >= 1 -> for each prediction its ground-truth
  // index, kBelow or kBetween
  std::vector<int64_t> operator()(const Tensor& iou) const;
};

// labels: >= 1 positive (a class), 0 negative, < 0 ignored -> the drawn indices of each kind,
// in increasing order.
struct Sampled {
  std::vector<int64_t> positive, negative;
};
Sampled sample_balanced(const std::vector<int64_t>& labels, int64_t batch,
                        double positive_fraction, Generator& gen);

}  // namespace vt::instance
