// decoders.h — dense prediction heads on a frozen backbone's feature maps.
//
//   SimpleFeaturePyramid  (ViTDet, Li et al. 2022) one stride-16 ViT map -> strides 4, 8, 16, 32:
//                         4: deconv 2×2 → LN → GELU → deconv 2×2;  8: deconv 2×2;  16: identity;
//                         32: 2×2 pooling (average here; ViTDet max-pools) — then per level a
//                         1×1 conv → LN and a 3×3 conv → LN to `channels`
//   UperDecoder           (UperNet, Xiao et al. 2018, as mmseg's UPerHead) pyramid pooling on the
//                         coarsest map, a top-down FPN, every level upsampled to the finest and
//                         fused by a 3×3 ConvModule -> (B, channels, H/4, W/4)
//   DenseHead             the whole decoder a backbone carries as `decode_head`:
//                           segmentation: dropout → 1×1 conv -> class logits, bilinear to (H, W)
//                           depth: two (×2 upsample → 3×3 ConvModule) stages to full
//                                  resolution → 3×3 conv → max_depth · sigmoid  (metres)
// Every resize is bilinear with align_corners = false, as mmseg's.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "nn/conv_layers.h"

namespace vt::dense {

struct SimpleFeaturePyramid : nn::Module {
  std::shared_ptr<nn::ConvTranspose2d> up4a, up4b, up2;
  std::shared_ptr<nn::LayerNorm2d> up4_norm;
  std::vector<std::shared_ptr<nn::Conv2d>> lateral, output;        // per level, no bias
  std::vector<std::shared_ptr<nn::LayerNorm2d>> lateral_norm, output_norm;
  SimpleFeaturePyramid(int64_t dim, int64_t channels);
  std::vector<Tensor> forward(const Tensor& x);  // (B, D, h, w) -> 4 × (B, channels, s·h, s·w)
};

struct UperDecoder : nn::Module {
  std::vector<int64_t> pool_scales;
  std::vector<std::shared_ptr<nn::ConvModule>> psp_modules, lateral_convs, fpn_convs;
  std::shared_ptr<nn::ConvModule> bottleneck, fpn_bottleneck;
  UperDecoder(const std::vector<int64_t>& in_channels, int64_t channels,
              std::vector<int64_t> pool_scales = {1, 2, 3, 6});
  // feats: L maps (B, C_i, H_i, W_i), finest first -> (B, channels, H_0, W_0)
  Tensor forward(const std::vector<Tensor>& feats);
};

struct DenseHeadConfig {
  std::string task = "segmentation";  // "segmentation" | "depth"
  int64_t num_classes = 0;            // segmentation
  int64_t channels = 256;             // decoder width (mmseg's UperNet: 512)
  double dropout = 0.1;               // before the segmentation classifier
  double max_depth = 10.0;            // depth output range (0, max_depth) metres
  nlohmann::json to_json() const;
  static DenseHeadConfig from_json(const nlohmann::json& j);  // missing keys keep defaults
};

struct DenseHead : nn::Module {
  DenseHeadConfig cfg;
  std::shared_ptr<SimpleFeaturePyramid> sfp;               // plain ViT backbones only
  std::vector<std::shared_ptr<nn::LayerNorm2d>> out_norms;  // hierarchical (Swin) backbones
  std::shared_ptr<UperDecoder> decoder;
  std::shared_ptr<nn::Conv2d> conv_seg;                      // segmentation
  std::shared_ptr<nn::ConvModule> up1, up2;                  // depth
  std::shared_ptr<nn::Conv2d> conv_depth;
  // feature_channels: the backbone's maps (one entry: a plain ViT, which gets the pyramid).
  DenseHead(const DenseHeadConfig& cfg, const std::vector<int64_t>& feature_channels);
  // feats: the backbone's maps -> (B, classes, H, W) logits or (B, 1, H, W) depth in metres.
  Tensor forward(const std::vector<Tensor>& feats, int64_t H, int64_t W);
};

}  // namespace vt::dense
