// metric.h — what an evaluation measures. A Metric is fed every batch's model output with the
// batch, then reports named numbers; one of them, its score (higher is better), picks the best
// checkpoint. Classification measures top-1 / top-5 here; the dense tasks bring their own
// (tasks/dense/dense_metrics.h: mIoU for segmentation, δ1 for depth).
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tasks/data/loader.h"

namespace vt::tasks {

struct Metric {
  virtual ~Metric() = default;
  // output: what the model's predict/forward returned for batch.images.
  virtual void add(const Tensor& output, const data::Batch& batch) = 0;
  virtual nlohmann::json result() const = 0;   // e.g. {"top1": 81.2, "top5": 95.0, "loss": 0.61}
  virtual std::string score_name() const = 0;  // the key of result() that ranks checkpoints
  // The keys drawn in the curve's second chart, and that chart's unit.
  virtual std::vector<std::string> curve_keys() const = 0;
  virtual std::string curve_unit() const = 0;
  // Data-parallel evaluation (engine/dist.h): every process measured its part of the data;
  // the metric puts its additive counts in a vector, `sum` adds them over the processes, and
  // it takes the totals back. A metric without counts to add cannot be split (the default).
  using SumFn = std::function<void(std::vector<double>&)>;
  virtual void reduce(const SumFn& sum) {
    (void)sum;
    throw Error("metric '" + score_name() + "' cannot be evaluated across processes");
  }
};
using MetricFactory = std::function<std::unique_ptr<Metric>()>;

// Top-1 / top-5 accuracy in % and the mean cross-entropy of logits (B, classes) against
// batch.labels.
std::unique_ptr<Metric> classification_metric();

// Top-k hits of logits (B, classes) against labels (B) I64.
int64_t topk_correct(const Tensor& logits, const Tensor& labels, int64_t k);

}  // namespace vt::tasks
