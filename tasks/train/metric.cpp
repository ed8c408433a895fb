// metric.cpp — the classification metric and topk_correct (see metric.h).
#include "tasks/train/metric.h"

#include <algorithm>
#include <cmath>

#include "engine/ops.h"

namespace vt::tasks {

int64_t topk_correct(const Tensor& logits, const Tensor& labels, int64_t k) {
  Tensor l = logits.to(DType::F64).contiguous();
  const int64_t B = l.size(0), C = l.size(1);
  const double* p = l.data<double>();
  std::vector<double> lab = labels.to_vector();
  int64_t hits = 0;
  for (int64_t i = 0; i < B; ++i) {
    const double* row = p + i * C;
    const int64_t y = (int64_t)lab[i];
    int64_t above = 0;  // classes scoring higher than the true one (ties: lower index wins)
    bool nan = false;   // NaN logits are a miss, never a hit
    for (int64_t c = 0; c < C; ++c) {
      nan = nan || std::isnan(row[c]);
      above += row[c] > row[y] || (row[c] == row[y] && c < y);
    }
    hits += !nan && above < k;
  }
  return hits;
}

namespace {

struct ClassificationMetric : Metric {
  double loss_sum = 0;
  int64_t hit1 = 0, hit5 = 0, n = 0;

  void add(const Tensor& logits, const data::Batch& b) override {
    const int64_t m = b.labels.size(0);
    loss_sum += cross_entropy(logits, b.labels).item() * m;
    hit1 += topk_correct(logits, b.labels, 1);
    hit5 += topk_correct(logits, b.labels, std::min<int64_t>(5, logits.size(1)));
    n += m;
  }
  nlohmann::json result() const override {
    const double d = n ? (double)n : 1.0;
    return {{"top1", 100.0 * hit1 / d}, {"top5", 100.0 * hit5 / d}, {"loss", loss_sum / d}};
  }
  std::string score_name() const override { return "top1"; }
  std::vector<std::string> curve_keys() const override { return {"top1", "top5"}; }
  std::string curve_unit() const override { return "%"; }
  void reduce(const SumFn& sum) override {
    std::vector<double> v = {loss_sum, (double)hit1, (double)hit5, (double)n};
    sum(v);
    loss_sum = v[0], hit1 = (int64_t)v[1], hit5 = (int64_t)v[2], n = (int64_t)v[3];
  }
};

}  // namespace

std::unique_ptr<Metric> classification_metric() { return std::make_unique<ClassificationMetric>(); }

}  // namespace vt::tasks
