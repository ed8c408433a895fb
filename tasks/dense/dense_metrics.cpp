// dense_metrics.cpp — the confusion matrix, depth errors and their Metrics (see dense_metrics.h).
#include "tasks/dense/dense_metrics.h"

#include <cmath>

#include "tasks/dense/dense_loss.h"

namespace vt::dense {

using json = nlohmann::json;

// ---------------------------------------------------------------- segmentation
void ConfusionMatrix::add(const Tensor& pred, const Tensor& truth) {
  if (pred.shape() != truth.shape())
    throw Error("ConfusionMatrix: prediction " + shape_str(pred.shape()) + " and truth " +
                shape_str(truth.shape()) + " differ");
  Tensor p = pred.to(DType::I64).contiguous(), t = truth.to(DType::I64).contiguous();
  const int64_t* pp = p.data<int64_t>();
  const int64_t* tp = t.data<int64_t>();
  for (int64_t i = 0, n = p.numel(); i < n; ++i) {
    if (tp[i] == kIgnoreIndex) continue;
    if (tp[i] < 0 || tp[i] >= classes || pp[i] < 0 || pp[i] >= classes)
      throw Error("ConfusionMatrix: label " + std::to_string(tp[i]) + " / prediction " +
                  std::to_string(pp[i]) + " outside [0, " + std::to_string(classes) + ") (255 = ignore)");
    ++counts[tp[i] * classes + pp[i]];
  }
}

json ConfusionMatrix::result() const {
  const int64_t K = classes;
  json iou = json::array(), acc = json::array();
  double iou_sum = 0, acc_sum = 0, correct = 0, total = 0;
  int64_t iou_n = 0, acc_n = 0;
  for (int64_t c = 0; c < K; ++c) {
    double tp = (double)counts[c * K + c], truth = 0, predicted = 0;
    for (int64_t j = 0; j < K; ++j) truth += (double)counts[c * K + j], predicted += (double)counts[j * K + c];
    const double uni = truth + predicted - tp;
    correct += tp, total += truth;
    if (uni > 0) iou.push_back(100.0 * tp / uni), iou_sum += 100.0 * tp / uni, ++iou_n;
    else iou.push_back(nullptr);
    if (truth > 0) acc.push_back(100.0 * tp / truth), acc_sum += 100.0 * tp / truth, ++acc_n;
    else acc.push_back(nullptr);
  }
  return {{"aAcc", total > 0 ? 100.0 * correct / total : 0.0},
          {"mIoU", iou_n ? iou_sum / iou_n : 0.0},
          {"mAcc", acc_n ? acc_sum / acc_n : 0.0},
          {"IoU", iou},
          {"Acc", acc}};
}

namespace {

struct SegmentationMetric : tasks::Metric {
  ConfusionMatrix cm;
  double loss_sum = 0;
  int64_t batches = 0;
  explicit SegmentationMetric(int64_t k) : cm(k) {}
  void add(const Tensor& logits, const data::Batch& b) override {
    if (!b.targets.defined()) throw Error("segmentation metric: the batch has no label maps");
    if (logits.size(1) != cm.classes)
      throw Error("segmentation metric: the model gives " + std::to_string(logits.size(1)) +
                  " classes, the metric counts " + std::to_string(cm.classes));
    cm.add(argmax(logits, 1), b.targets);
    loss_sum += segmentation_loss(logits, b.targets).item(), ++batches;
  }
  json result() const override {
    json j = cm.result();
    j.erase("IoU"), j.erase("Acc");  // per-class lists: see ConfusionMatrix for them
    j["loss"] = batches ? loss_sum / batches : 0.0;
    return j;
  }
  std::string score_name() const override { return "mIoU"; }
  std::vector<std::string> curve_keys() const override { return {"mIoU", "mAcc", "aAcc"}; }
  std::string curve_unit() const override { return "%"; }
  void reduce(const SumFn& sum) override {  // the confusion matrix, the loss and its batches
    std::vector<double> v(cm.counts.begin(), cm.counts.end());
    v.push_back(loss_sum), v.push_back((double)batches);
    sum(v);
    for (size_t i = 0; i < cm.counts.size(); ++i) cm.counts[i] = (int64_t)v[i];
    loss_sum = v[cm.counts.size()], batches = (int64_t)v[cm.counts.size() + 1];
  }
};

}  // namespace

std::unique_ptr<tasks::Metric> segmentation_metric(int64_t classes) {
  return std::make_unique<SegmentationMetric>(classes);
}

// ---------------------------------------------------------------- depth
DepthErrors depth_errors(const Tensor& pred, const Tensor& truth, const DepthEval& e) {
  if (pred.numel() != truth.numel() || truth.size(-1) != pred.size(-1))
    throw Error("depth_errors: prediction " + shape_str(pred.shape()) + " and truth " +
                shape_str(truth.shape()) + " differ");
  Tensor p = pred.to(DType::F64).contiguous(), t = truth.to(DType::F64).contiguous();
  const int64_t H = truth.size(-2), W = truth.size(-1);
  int64_t r0 = 0, r1 = H, c0 = 0, c1 = W;
  if (e.eigen_crop) {
    r0 = (int64_t)(45.0 / 480 * H), r1 = (int64_t)(471.0 / 480 * H);
    c0 = (int64_t)(41.0 / 640 * W), c1 = (int64_t)(601.0 / 640 * W);
  }
  const double* pp = p.data<double>();
  const double* tp = t.data<double>();
  DepthErrors r;
  double s_d = 0, s_d2 = 0;
  for (int64_t y = r0; y < r1; ++y)
    for (int64_t x = c0; x < c1; ++x) {
      const double g = tp[y * W + x];
      if (!(g > e.min_depth && g < e.max_depth)) continue;
      const double q = std::min(std::max(pp[y * W + x], e.min_depth), e.max_depth);
      const double ratio = std::max(q / g, g / q), d = std::log(q) - std::log(g);
      r.d1 += ratio < 1.25, r.d2 += ratio < 1.25 * 1.25, r.d3 += ratio < 1.25 * 1.25 * 1.25;
      r.abs_rel += std::fabs(q - g) / g, r.sq_rel += (q - g) * (q - g) / g;
      r.rmse += (q - g) * (q - g), r.rmse_log += d * d;
      r.log10 += std::fabs(std::log10(q) - std::log10(g));
      s_d += d, s_d2 += d * d;
      ++r.pixels;
    }
  if (r.pixels == 0) return r;
  const double n = (double)r.pixels;
  r.d1 /= n, r.d2 /= n, r.d3 /= n, r.abs_rel /= n, r.sq_rel /= n, r.log10 /= n;
  r.rmse = std::sqrt(r.rmse / n), r.rmse_log = std::sqrt(r.rmse_log / n);
  r.silog = 100.0 * std::sqrt(std::max(0.0, s_d2 / n - (s_d / n) * (s_d / n)));
  return r;
}

namespace {

struct DepthMetric : tasks::Metric {
  DepthEval e;
  DepthErrors sum;
  int64_t images = 0, batches = 0;
  double loss_sum = 0;
  explicit DepthMetric(const DepthEval& ev) : e(ev) {}
  void add(const Tensor& pred, const data::Batch& b) override {
    if (!b.targets.defined()) throw Error("depth metric: the batch has no depth maps");
    if (pred.shape() != b.targets.shape())
      throw Error("depth metric: prediction " + shape_str(pred.shape()) + ", target " +
                  shape_str(b.targets.shape()));
    for (int64_t i = 0; i < pred.size(0); ++i) {
      DepthErrors r = depth_errors(pred.select(0, i), b.targets.select(0, i), e);
      if (r.pixels == 0) continue;
      sum.d1 += r.d1, sum.d2 += r.d2, sum.d3 += r.d3, sum.abs_rel += r.abs_rel;
      sum.sq_rel += r.sq_rel, sum.rmse += r.rmse, sum.rmse_log += r.rmse_log;
      sum.log10 += r.log10, sum.silog += r.silog, ++images;
    }
    loss_sum += silog_loss(pred, b.targets, e.min_depth).item(), ++batches;
  }
  json result() const override {
    const double n = images ? (double)images : 1.0;
    return {{"d1", sum.d1 / n}, {"d2", sum.d2 / n}, {"d3", sum.d3 / n},
            {"abs_rel", sum.abs_rel / n}, {"sq_rel", sum.sq_rel / n}, {"rmse", sum.rmse / n},
            {"rmse_log", sum.rmse_log / n}, {"log10", sum.log10 / n}, {"silog", sum.silog / n},
            {"loss", batches ? loss_sum / batches : 0.0}};
  }
  std::string score_name() const override { return "d1"; }
  std::vector<std::string> curve_keys() const override { return {"d1", "abs_rel", "rmse"}; }
  std::string curve_unit() const override { return "δ1 (share), AbsRel, RMSE (m)"; }
  void reduce(const SumFn& add) override {
    std::vector<double> v = {sum.d1,  sum.d2,       sum.d3,    sum.abs_rel, sum.sq_rel,       sum.rmse,
                             sum.rmse_log, sum.log10, sum.silog, loss_sum,   (double)images, (double)batches};
    add(v);
    sum.d1 = v[0], sum.d2 = v[1], sum.d3 = v[2], sum.abs_rel = v[3], sum.sq_rel = v[4], sum.rmse = v[5];
    sum.rmse_log = v[6], sum.log10 = v[7], sum.silog = v[8], loss_sum = v[9];
    images = (int64_t)v[10], batches = (int64_t)v[11];
  }
};

}  // namespace

std::unique_ptr<tasks::Metric> depth_metric(const DepthEval& e) { return std::make_unique<DepthMetric>(e); }

}  // namespace vt::dense
