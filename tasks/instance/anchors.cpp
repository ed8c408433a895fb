// anchors.cpp — anchor grids, IoU matching and balanced sampling (tasks/instance/anchors.h).
#include "tasks/instance/anchors.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "engine/ops.h"

namespace vt::instance {

Tensor AnchorGenerator::cell_anchors(size_t level, DType dtype) const {
  if (level >= sizes.size())
    throw Error("AnchorGenerator: no sizes for pyramid level " + std::to_string(level) + " (" +
                std::to_string(sizes.size()) + " levels configured)");
  std::vector<double> out;
  // torchvision: (ratio, size) pairs with the ratio outer, computed in the anchors' dtype
  for (double r : aspect_ratios)
    for (double s : sizes[level]) {
      const bool f32 = dtype == DType::F32;
      const double hr = f32 ? (double)std::sqrt((float)r) : std::sqrt(r);
      const double wr = f32 ? (double)(1.0f / (float)hr) : 1.0 / hr;
      const double w = f32 ? (double)((float)wr * (float)s) : wr * s;
      const double h = f32 ? (double)((float)hr * (float)s) : hr * s;
      for (double v : {-w, -h, w, h}) out.push_back(std::nearbyint(f32 ? (double)((float)v / 2.0f) : v / 2.0));
    }
  return Tensor::from_vector(out, {(int64_t)out.size() / 4, 4}).to(dtype);
}

Tensor AnchorGenerator::anchors(const std::vector<std::pair<int64_t, int64_t>>& map_sizes,
                                int64_t image_h, int64_t image_w, DType dtype) const {
  if (map_sizes.size() != sizes.size())
    throw Error("AnchorGenerator: " + std::to_string(map_sizes.size()) + " feature maps but sizes for " +
                std::to_string(sizes.size()) + " levels");
  std::vector<double> out;
  for (size_t l = 0; l < map_sizes.size(); ++l) {
    const auto [h, w] = map_sizes[l];
    if (h < 1 || w < 1 || h > image_h || w > image_w)
      throw Error("AnchorGenerator: level " + std::to_string(l) + " map " + std::to_string(h) +
                  "×" + std::to_string(w) + " does not fit the image " + std::to_string(image_h) +
                  "×" + std::to_string(image_w));
    const int64_t sy = image_h / h, sx = image_w / w;
    Tensor cell = cell_anchors(l, DType::F64);
    const double* c = cell.data<double>();
    const int64_t a = cell.size(0);
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j)
        for (int64_t k = 0; k < a; ++k) {
          const double dx = double(j * sx), dy = double(i * sy);
          out.insert(out.end(), {c[4 * k] + dx, c[4 * k + 1] + dy, c[4 * k + 2] + dx, c[4 * k + 3] + dy});
        }
  }
  return Tensor::from_vector(out, {(int64_t)out.size() / 4, 4}).to(dtype);
}

std::vector<int64_t> Matcher::operator()(const Tensor& iou_) const {
  if (!iou_.defined() || iou_.dim() != 2 || iou_.size(0) < 1)
    throw Error("Matcher: expected an IoU matrix (ground truth, predictions) with at least one "
                "ground-truth row, got " + (iou_.defined() ? shape_str(iou_.shape()) : std::string("undefined")));
  NoGrad ng;
  Tensor iou = iou_.detach().to(Device::cpu()).to(DType::F64).contiguous();
  const int64_t m = iou.size(0), n = iou.size(1);
  const double* q = iou.data<double>();
  std::vector<int64_t> match(n), best_gt(n);
  std::vector<double> best(n);
  for (int64_t j = 0; j < n; ++j) {  // first maximum, as torch's max(dim=0)
    int64_t g = 0;
    for (int64_t i = 1; i < m; ++i)
      if (q[i * n + j] > q[g * n + j]) g = i;
    best_gt[j] = g, best[j] = q[g * n + j];
    match[j] = best[j] < low ? kBelow : best[j] < high ? kBetween : g;
  }
  if (allow_low_quality)
    for (int64_t i = 0; i < m; ++i) {
      const double* row = q + i * n;
      const double top = *std::max_element(row, row + n);
      for (int64_t j = 0; j < n; ++j)
        if (row[j] == top) match[j] = best_gt[j];
    }
  return match;
}

Sampled sample_balanced(const std::vector<int64_t>& labels, int64_t batch,
                        double positive_fraction, Generator& gen) {
  std::vector<int64_t> pos, neg;
  for (int64_t i = 0; i < (int64_t)labels.size(); ++i) {
    if (labels[i] >= 1) pos.push_back(i);
    else if (labels[i] == 0) neg.push_back(i);
  }
  const int64_t num_pos = std::min<int64_t>((int64_t)pos.size(), (int64_t)(batch * positive_fraction));
  const int64_t num_neg = std::min<int64_t>((int64_t)neg.size(), batch - num_pos);
  // A uniform draw without replacement: the k smallest of one uniform key per candidate.
  auto draw = [&](std::vector<int64_t>& from, int64_t k) {
    if (k >= (int64_t)from.size()) return from;
    Tensor keys = rand({(int64_t)from.size()}, 0.0, 1.0, DType::F64, Device::cpu(), &gen);
    const double* u = keys.data<double>();
    std::vector<int64_t> order(from.size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int64_t a, int64_t b) { return u[a] < u[b] || (u[a] == u[b] && a < b); });
    std::vector<int64_t> picked;
    for (int64_t t = 0; t < k; ++t) picked.push_back(from[order[t]]);
    std::sort(picked.begin(), picked.end());
    return picked;
  };
  return {draw(pos, num_pos), draw(neg, num_neg)};
}

}  // namespace vt::instance
