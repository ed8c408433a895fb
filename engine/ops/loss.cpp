// loss.cpp — the training losses, composed from differentiable ops (so their backward is the
// composition's): cross_entropy (class indices, label smoothing, ignore_index), cross_entropy
// with soft targets, kl_div, mse_loss, smooth_l1_loss.
//
// Conventions follow torch 1.13's torch.nn.functional. Reductions: "mean", "sum", "none"
// (kl_div also "batchmean"). Two torch behaviours worth knowing:
//   * cross_entropy's "mean" divides by the number of non-ignored targets. When every target is
//     ignored that is 0/0: the loss is NaN (as torch), and the gradient is exactly zero (as
//     torch; ignored positions are masked by replacement, never by multiplication).
//   * label smoothing ε mixes the usual loss with the mean over classes of -log p:
//       loss_i = (1-ε)·(-log p_i[t_i]) + ε/C · Σ_c -log p_i[c]
//     with ignored positions removed from both parts.
#include "engine/ops/op_utils.h"

namespace vt {

namespace {

void check_reduction(const char* op, const std::string& r, bool batchmean = false) {
  if (r != "mean" && r != "sum" && r != "none" && !(batchmean && r == "batchmean"))
    throw Error(std::string(op) + ": unknown reduction '" + r + "' (expected mean, sum" +
                (batchmean ? ", batchmean" : "") + " or none)");
}

Tensor reduce_loss(const Tensor& per, const std::string& r) {
  if (r == "none") return per;
  if (r == "sum") return sum(per);
  return mean(per);
}

// logits (N, C, d1, ...) -> (N·d1·..., C): the class dim moved last and the rest flattened.
Tensor classes_last(const Tensor& logits) {
  if (logits.dim() == 2) return logits;
  Shape perm{0};
  for (int64_t d = 2; d < logits.dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  return logits.permute(perm).reshape({-1, logits.size(1)});
}

// Shape of per-element losses: logits' shape without the class dim.
Shape without_classes(const Shape& s) {
  Shape r = s;
  r.erase(r.begin() + 1);
  return r;
}

void check_logits(const char* op, const Tensor& logits) {
  check_defined(op, logits, "logits");
  check_float(op, logits);
  if (logits.dim() < 2)
    throw Error(std::string(op) + ": logits must be (N, C) or (N, C, d1, ...), got " +
                shape_str(logits.shape()));
}

}  // namespace

// logits: (N, C, d...) float, target: (N, d...) I64 in [0, C) or ignore_index
//   -> (N, d...) for "none", else a scalar
Tensor cross_entropy(const Tensor& logits, const Tensor& target, double label_smoothing,
                     int64_t ignore_index, const std::string& reduction) {
  check_logits("cross_entropy", logits);
  check_defined("cross_entropy", target, "target");
  check_reduction("cross_entropy", reduction);
  if (target.dtype() != DType::I64)
    throw Error(std::string("cross_entropy: target must hold I64 class indices, got ") +
                dtype_name(target.dtype()) + " (for probabilities use cross_entropy_soft)");
  const Shape per_shape = without_classes(logits.shape());
  if (target.shape() != per_shape)
    throw Error("cross_entropy: target " + shape_str(target.shape()) + " does not match logits " +
                shape_str(logits.shape()) + " (expected " + shape_str(per_shape) + ")");
  if (label_smoothing < 0.0 || label_smoothing > 1.0)
    throw Error("cross_entropy: label_smoothing must be in [0, 1], got " +
                std::to_string(label_smoothing));
  const int64_t C = logits.size(1), M = target.numel();

  // Validate the targets on the host and split them into a safe index (ignored -> class 0)
  // and a mask of ignored positions.
  Tensor t_host = contiguous_raw(target.to(Device::cpu()));
  Tensor safe = Tensor::empty({M, 1}, DType::I64);      // (M, 1)
  Tensor ignored = Tensor::empty({M}, DType::Bool);     // (M)
  const int64_t* pt = t_host.data<int64_t>();
  int64_t* ps = safe.data<int64_t>();
  uint8_t* pi = ignored.data<uint8_t>();
  for (int64_t i = 0; i < M; ++i) {
    const bool ign = pt[i] == ignore_index;
    if (!ign && (pt[i] < 0 || pt[i] >= C))
      throw Error("cross_entropy: target " + std::to_string(pt[i]) + " is out of range for " +
                  std::to_string(C) + " classes (logits " + shape_str(logits.shape()) + ")");
    ps[i] = ign ? 0 : pt[i];
    pi[i] = ign;
  }
  safe = safe.to(logits.device());
  ignored = ignored.to(logits.device());

  Tensor lp = log_softmax(classes_last(logits), 1);                        // (M, C)
  Tensor per = masked_fill(neg(gather(lp, 1, safe).reshape({M})), ignored, 0.0);  // (M)
  Tensor smooth;  // Σ_c -log p, ignored positions zeroed
  if (label_smoothing > 0.0) {
    smooth = masked_fill(neg(sum(lp, {1})), ignored, 0.0);  // (M)
    per = add(mul(per, 1.0 - label_smoothing), mul(smooth, label_smoothing / (double)C));
  }
  if (reduction == "none") return per.reshape(per_shape);
  Tensor total = sum(per);
  if (reduction == "sum") return total;
  int64_t kept = 0;
  for (int64_t i = 0; i < M; ++i) kept += !pi[i];
  // kept == 0: 0 · (1/0) = NaN, as torch.
  return mul(total, 1.0 / (double)kept);
}

// logits: (N, C, d...), target_probs: same shape -> loss_i = -Σ_c q_ic · log p_ic;
// "mean" averages over the N·d... positions (torch's probability-target form).
Tensor cross_entropy_soft(const Tensor& logits, const Tensor& target_probs,
                          const std::string& reduction) {
  check_logits("cross_entropy_soft", logits);
  check_defined("cross_entropy_soft", target_probs, "target");
  check_reduction("cross_entropy_soft", reduction);
  check_same("cross_entropy_soft", logits, target_probs);
  if (target_probs.shape() != logits.shape())
    throw Error("cross_entropy_soft: target " + shape_str(target_probs.shape()) +
                " does not match logits " + shape_str(logits.shape()));
  Tensor per = neg(sum(mul(log_softmax(logits, 1), target_probs), {1}));  // (N, d...)
  return reduce_loss(per, reduction);
}

// log_input: log q (any shape), target: p (or log p if log_target), same shape.
// Pointwise p·(log p - log q), with 0·log 0 = 0. "batchmean" divides the sum by N = size(0).
Tensor kl_div(const Tensor& log_input, const Tensor& target, const std::string& reduction,
              bool log_target) {
  check_defined("kl_div", log_input);
  check_defined("kl_div", target, "target");
  check_reduction("kl_div", reduction, true);
  check_same("kl_div", log_input, target);
  check_float("kl_div", log_input);
  if (log_input.shape() != target.shape())
    throw Error("kl_div: input " + shape_str(log_input.shape()) + " and target " +
                shape_str(target.shape()) + " differ");
  Tensor per;
  if (log_target) {
    per = mul(exp(target), sub(target, log_input));
  } else {
    // xlogy(p, p) without NaN at p = 0 (in the value or the gradient): log of p where p > 0,
    // of 1 elsewhere, so 0·log(1) = 0.
    Tensor pos = gt(target, Tensor::zeros({}, target.dtype(), target.device())).to(DType::Bool);
    Tensor one = Tensor::ones({}, target.dtype(), target.device());
    Tensor log_p = log(where(pos, target, one));
    per = mul(target, sub(log_p, log_input));
  }
  if (reduction == "batchmean") {
    const int64_t n = log_input.dim() ? log_input.size(0) : 1;
    return mul(sum(per), 1.0 / (double)n);
  }
  return reduce_loss(per, reduction);
}

static void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b, "target");
  check_same(op, a, b);
  check_float(op, a);
  if (a.shape() != b.shape())
    throw Error(std::string(op) + ": input " + shape_str(a.shape()) + " and target " +
                shape_str(b.shape()) + " differ");
}

// a, b: same shape -> (a - b)²
Tensor mse_loss(const Tensor& a, const Tensor& b, const std::string& reduction) {
  check_pair("mse_loss", a, b);
  check_reduction("mse_loss", reduction);
  return reduce_loss(square(sub(a, b)), reduction);
}

// a, b: same shape, d = |a - b| -> 0.5·d²/β where d < β, d - 0.5·β elsewhere (β = 0: L1)
Tensor smooth_l1_loss(const Tensor& a, const Tensor& b, double beta,
                      const std::string& reduction) {
  check_pair("smooth_l1_loss", a, b);
  check_reduction("smooth_l1_loss", reduction);
  if (beta < 0.0)
    throw Error("smooth_l1_loss: beta must be >= 0, got " + std::to_string(beta));
  Tensor d = abs(sub(a, b));
  if (beta == 0.0) return reduce_loss(d, reduction);
  Tensor inside = lt(d, Tensor::full({}, beta, d.dtype(), d.device())).to(DType::Bool);
  Tensor per = where(inside, mul(square(d), 0.5 / beta), add(d, -0.5 * beta));
  return reduce_loss(per, reduction);
}

}  // namespace vt
