// conv_layers.h — the convolutional pieces of dense decoders (UperNet, ViTDet's feature
// pyramid, depth heads), named as mmseg/mmcv and torchvision name them:
//
//   BatchNorm2d      y = (x - μ) / √(σ² + ε) · γ + β over (B, H, W) per channel; batch statistics
//                    in training (running averages updated, momentum 0.1), running ones in eval
//   LayerNorm2d      LayerNorm over the channels of a (B, C, H, W) map (ViTDet, ConvNeXt)
//   ConvModule       conv → norm → ReLU (mmcv's ConvModule: conv.weight, bn.*), no conv bias
//                    when a norm follows
//   ConvTranspose2d  kernel = stride (2×2, stride 2: each pixel becomes a k×k patch), torch's
//                    weight layout (in, out, k, k)
//
// All are composed from engine ops, so their gradients come from the ops' own.
#pragma once
#include "nn/layers.h"

namespace vt::nn {

struct BatchNorm2d : Module {
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double eps, momentum;
  // Data-parallel (engine/dist.h): batch statistics over every rank's part of the global batch
  // (torch's SyncBatchNorm): μ = Σ_ranks Σx / N, σ² = Σ_ranks Σ(x − μ)² / N, differentiable.
  bool sync_across_ranks = false;
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x);  // (B, C, H, W) -> (B, C, H, W)
};

// Sets sync_across_ranks on every BatchNorm2d in `m`.
void set_sync_batch_norm(Module& m, bool on);

struct LayerNorm2d : Module {
  Tensor weight, bias;
  double eps;
  explicit LayerNorm2d(int64_t channels, double eps = 1e-6);
  Tensor forward(const Tensor& x);  // (B, C, H, W) -> (B, C, H, W)
};

// conv k×k (padding k/2) → BatchNorm2d → ReLU, or with norm = false: conv (+ bias) → ReLU.
struct ConvModule : Module {
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;  // null without norm
  ConvModule(int64_t in, int64_t out, int64_t kernel, bool norm = true);
  Tensor forward(const Tensor& x);  // (B, in, H, W) -> (B, out, H, W)
};

struct ConvTranspose2d : Module {
  Tensor weight, bias;  // (in, out, k, k), (out)
  int64_t k;
  ConvTranspose2d(int64_t in, int64_t out, int64_t kernel);  // stride = kernel
  Tensor forward(const Tensor& x);  // (B, in, H, W) -> (B, out, k·H, k·W)
};

}  // namespace vt::nn
