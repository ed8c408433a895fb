// neck.h — the feature pyramid Mask R-CNN reads, five levels of `channels` maps at strides
// 4, 8, 16, 32, 64 (P2..P6):
//   hierarchical backbone (Swin, four stages): torchvision's FeaturePyramidNetwork,
//     lateral 1×1 convs, top-down  L_i = lateral_i(C_i) + nearest_upsample(L_{i+1}),
//     P_i = 3×3 conv(L_i);
//   plain ViT (one stride-16 map): ViTDet's simple feature pyramid (tasks/dense/decoders.h);
//   P6 = P5 subsampled by 2 (max pooling with a 1×1 window, as torchvision's LastLevelMaxPool).
#pragma once
#include "tasks/dense/decoders.h"

namespace vt::instance {

// x: (B, C, h, w) -> (B, C, H, W), torch's "nearest" (source pixel floor(i · h / H)).
Tensor upsample_nearest(const Tensor& x, int64_t H, int64_t W);

struct FeaturePyramid : nn::Module {
  std::vector<std::shared_ptr<nn::Conv2d>> inner, layer;  // per backbone level
  FeaturePyramid(const std::vector<int64_t>& in_channels, int64_t channels);
  std::vector<Tensor> forward(const std::vector<Tensor>& maps);  // L maps -> L maps, finest first
};

struct InstanceNeck : nn::Module {
  std::shared_ptr<FeaturePyramid> fpn;             // hierarchical backbones
  std::shared_ptr<dense::SimpleFeaturePyramid> sfp;  // plain ViT
  // feature_channels: the backbone's maps (one entry: a plain ViT; four: a hierarchical one)
  InstanceNeck(const std::vector<int64_t>& feature_channels, int64_t channels);
  std::vector<Tensor> forward(const std::vector<Tensor>& maps);  // -> P2..P6
};

}  // namespace vt::instance
