// conv_layers.cpp — BatchNorm2d, LayerNorm2d, ConvModule, ConvTranspose2d (see conv_layers.h).
#include "nn/conv_layers.h"

#include <cmath>

#include "engine/backend.h"
#include "engine/dist.h"
#include "engine/init.h"

namespace vt::nn {

// ---------------------------------------------------------------- BatchNorm2d
BatchNorm2d::BatchNorm2d(int64_t c, double eps_, double momentum_) : eps(eps_), momentum(momentum_) {
  weight = register_parameter("weight", Tensor::ones({c}));
  bias = register_parameter("bias", Tensor::zeros({c}));
  running_mean = register_buffer("running_mean", Tensor::zeros({c}));
  running_var = register_buffer("running_var", Tensor::ones({c}));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::I64));
}

void set_sync_batch_norm(Module& m, bool on) {
  for (auto& [name, mod] : m.named_modules())
    if (auto* bn = dynamic_cast<BatchNorm2d*>(mod)) bn->sync_across_ranks = on;
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != weight.size(0))
    throw Error("BatchNorm2d: expected (B, " + std::to_string(weight.size(0)) + ", H, W), got " +
                shape_str(x.shape()));
  const int64_t C = x.size(1);
  const Shape per_channel{1, C, 1, 1};
  Tensor mu, var_;
  if (training()) {
    int64_t n = x.numel() / C;
    if (sync_across_ranks && dist::world_size() > 1) {  // the global batch's statistics
      std::vector<double> count = {(double)n};
      dist::all_reduce_sum(count);
      n = (int64_t)count[0];
      mu = mul(dist::sum_across_ranks(sum(x, {0, 2, 3}, true)), 1.0 / (double)n);  // (1, C, 1, 1)
      var_ = mul(dist::sum_across_ranks(sum(square(sub(x, mu)), {0, 2, 3}, true)), 1.0 / (double)n);
    } else {
      mu = mean(x, {0, 2, 3}, /*keepdim=*/true);                      // (1, C, 1, 1)
      var_ = var(x, {0, 2, 3}, /*correction=*/0, /*keepdim=*/true);  // biased, as torch normalises
    }
    NoGrad ng;  // running averages: the unbiased variance, as torch keeps it
    Tensor rm = add(mul(running_mean, 1 - momentum), mul(mu.detach().reshape({C}), momentum));
    Tensor rv = add(mul(running_var, 1 - momentum),
                    mul(var_.detach().reshape({C}), momentum * n / std::max<int64_t>(n - 1, 1)));
    backend_for(running_mean).copy(rm, running_mean);
    backend_for(running_var).copy(rv, running_var);
    Tensor nb = add(num_batches_tracked.to(DType::F64), 1.0);  // I64 counter, copied back
    backend_for(num_batches_tracked).copy(nb, num_batches_tracked);
  } else {
    mu = running_mean.reshape(per_channel);
    var_ = running_var.reshape(per_channel);
  }
  Tensor scale = mul(rsqrt(add(var_, eps)), weight.reshape(per_channel));  // (1, C, 1, 1)
  return add(mul(sub(x, mu), scale), bias.reshape(per_channel));
}

// ---------------------------------------------------------------- LayerNorm2d
LayerNorm2d::LayerNorm2d(int64_t c, double eps_) : eps(eps_) {
  weight = register_parameter("weight", Tensor::ones({c}));
  bias = register_parameter("bias", Tensor::zeros({c}));
}

Tensor LayerNorm2d::forward(const Tensor& x) {
  Tensor y = layer_norm(x.permute({0, 2, 3, 1}), weight, bias, eps);  // (B, H, W, C)
  return y.permute({0, 3, 1, 2});
}

// ---------------------------------------------------------------- ConvModule
ConvModule::ConvModule(int64_t in, int64_t out, int64_t kernel, bool norm) {
  conv = register_module("conv", std::make_shared<Conv2d>(in, out, kernel, 1, kernel / 2, 1, !norm));
  if (norm) bn = register_module("bn", std::make_shared<BatchNorm2d>(out));
}

Tensor ConvModule::forward(const Tensor& x) {
  Tensor y = conv->forward(x);
  if (bn) y = bn->forward(y);
  return relu(y);
}

// ---------------------------------------------------------------- ConvTranspose2d
ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, int64_t kernel) : k(kernel) {
  weight = register_parameter("weight", Tensor::empty({in, out, k, k}));
  init::kaiming_uniform_(weight, std::sqrt(5.0));  // torch's fan_in here is out·k·k
  bias = register_parameter("bias", Tensor::empty({out}));
  const double bound = 1.0 / std::sqrt((double)(out * k * k));
  init::uniform_(bias, -bound, bound);
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  const int64_t B = x.size(0), Ci = weight.size(0), Co = weight.size(1), H = x.size(2), W = x.size(3);
  if (x.dim() != 4 || x.size(1) != Ci)
    throw Error("ConvTranspose2d: expected (B, " + std::to_string(Ci) + ", H, W), got " +
                shape_str(x.shape()));
  // With stride = kernel the output patches do not overlap: every input pixel times the
  // weight, (Ci) · (Ci, Co·k·k), is its own k×k patch of the output.
  Tensor p = matmul(x.permute({0, 2, 3, 1}), weight.reshape({Ci, Co * k * k}));  // (B, H, W, Co·k·k)
  p = p.reshape({B, H, W, Co, k, k}).permute({0, 3, 1, 4, 2, 5});                // (B, Co, H, k, W, k)
  return add(p.reshape({B, Co, H * k, W * k}), bias.reshape({1, Co, 1, 1}));
}

}  // namespace vt::nn
