// dense_loss.cpp — segmentation_loss, silog_loss (see dense_loss.h).
#include "tasks/dense/dense_loss.h"

#include "engine/dist.h"

namespace vt::dense {

Tensor segmentation_loss(const Tensor& logits, const Tensor& target) {
  return cross_entropy(logits, target, 0.0, kIgnoreIndex);
}

Tensor silog_loss(const Tensor& pred, const Tensor& target, double min_depth, double lambda,
                  double alpha, bool across_ranks) {
  if (pred.shape() != target.shape())
    throw Error("silog_loss: prediction " + shape_str(pred.shape()) + " and target " +
                shape_str(target.shape()) + " differ");
  Tensor valid = gt(target, Tensor::scalar(min_depth, target.dtype(), target.device())).to(pred.dtype());
  std::vector<double> count = {sum(valid).item()};
  if (across_ranks) dist::all_reduce_sum(count);
  const double n = count[0];
  if (n == 0) return mul(sum(pred), 0.0);
  auto total = [across_ranks](const Tensor& t) { return across_ranks ? dist::sum_across_ranks(t) : t; };
  // Invalid pixels compare the prediction with itself (d = 0) and are masked out anyway.
  Tensor y = add(mul(target, valid), mul(pred.detach(), rsub(1.0, valid)));
  Tensor d = mul(sub(log(pred), log(y)), valid);  // (B, 1, H, W)
  Tensor mean_d = mul(total(sum(d)), 1.0 / n), mean_d2 = mul(total(sum(square(d))), 1.0 / n);
  return mul(sqrt(sub(mean_d2, mul(square(mean_d), lambda))), alpha);
}

}  // namespace vt::dense
