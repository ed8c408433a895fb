// decoders.cpp — SimpleFeaturePyramid, UperDecoder, DenseHead (see decoders.h).
#include "tasks/dense/decoders.h"

#include <cmath>

#include "engine/init.h"

namespace vt::dense {

namespace {
Tensor resize_to(const Tensor& x, int64_t h, int64_t w) {  // bilinear, align_corners = false
  if (x.size(2) == h && x.size(3) == w) return x;
  return interpolate(x, {h, w}, "bilinear", false);
}
}  // namespace

// ---------------------------------------------------------------- SimpleFeaturePyramid
SimpleFeaturePyramid::SimpleFeaturePyramid(int64_t D, int64_t C) {
  if (D % 4) throw Error("SimpleFeaturePyramid: the width " + std::to_string(D) + " is not a multiple of 4");
  up4a = register_module("up4_deconv1", std::make_shared<nn::ConvTranspose2d>(D, D / 2, 2));
  up4_norm = register_module("up4_norm", std::make_shared<nn::LayerNorm2d>(D / 2));
  up4b = register_module("up4_deconv2", std::make_shared<nn::ConvTranspose2d>(D / 2, D / 4, 2));
  up2 = register_module("up2_deconv", std::make_shared<nn::ConvTranspose2d>(D, D / 2, 2));
  const int64_t in[4] = {D / 4, D / 2, D, D};
  for (int l = 0; l < 4; ++l) {
    const std::string p = "level" + std::to_string(l) + ".";
    lateral.push_back(register_module(p + "lateral", std::make_shared<nn::Conv2d>(in[l], C, 1, 1, 0, 1, false)));
    lateral_norm.push_back(register_module(p + "lateral_norm", std::make_shared<nn::LayerNorm2d>(C)));
    output.push_back(register_module(p + "output", std::make_shared<nn::Conv2d>(C, C, 3, 1, 1, 1, false)));
    output_norm.push_back(register_module(p + "output_norm", std::make_shared<nn::LayerNorm2d>(C)));
  }
}

std::vector<Tensor> SimpleFeaturePyramid::forward(const Tensor& x) {  // x: (B, D, h, w)
  std::vector<Tensor> levels{
      up4b->forward(gelu(up4_norm->forward(up4a->forward(x)))),  // (B, D/4, 4h, 4w)
      up2->forward(x),                                            // (B, D/2, 2h, 2w)
      x,                                                          // (B, D, h, w)
      avg_pool2d(x, {2, 2}),                                      // (B, D, h/2, w/2)
  };
  for (int l = 0; l < 4; ++l) {
    Tensor y = lateral_norm[l]->forward(lateral[l]->forward(levels[l]));  // (B, C, ·, ·)
    levels[l] = output_norm[l]->forward(output[l]->forward(y));
  }
  return levels;
}

// ---------------------------------------------------------------- UperDecoder
UperDecoder::UperDecoder(const std::vector<int64_t>& in, int64_t C, std::vector<int64_t> scales)
    : pool_scales(std::move(scales)) {
  if (in.empty()) throw Error("UperDecoder: no input levels");
  for (size_t i = 0; i < pool_scales.size(); ++i)
    psp_modules.push_back(register_module("psp_modules." + std::to_string(i),
                                          std::make_shared<nn::ConvModule>(in.back(), C, 1)));
  bottleneck = register_module(
      "bottleneck", std::make_shared<nn::ConvModule>(in.back() + (int64_t)pool_scales.size() * C, C, 3));
  for (size_t i = 0; i + 1 < in.size(); ++i) {
    lateral_convs.push_back(register_module("lateral_convs." + std::to_string(i),
                                            std::make_shared<nn::ConvModule>(in[i], C, 1)));
    fpn_convs.push_back(register_module("fpn_convs." + std::to_string(i),
                                        std::make_shared<nn::ConvModule>(C, C, 3)));
  }
  fpn_bottleneck = register_module("fpn_bottleneck",
                                   std::make_shared<nn::ConvModule>((int64_t)in.size() * C, C, 3));
}

Tensor UperDecoder::forward(const std::vector<Tensor>& feats) {
  const size_t L = lateral_convs.size() + 1;
  if (feats.size() != L)
    throw Error("UperDecoder: expected " + std::to_string(L) + " feature maps, got " +
                std::to_string(feats.size()));
  // Pyramid pooling on the coarsest map: average-pool to s×s, 1×1 conv, back to its size.
  const Tensor& top = feats.back();  // (B, C_L, h, w)
  std::vector<Tensor> psp{top};
  for (size_t i = 0; i < pool_scales.size(); ++i) {
    Tensor p = psp_modules[i]->forward(adaptive_avg_pool2d(top, {pool_scales[i], pool_scales[i]}));
    psp.push_back(resize_to(p, top.size(2), top.size(3)));  // (B, C, h, w)
  }
  std::vector<Tensor> lat;
  for (size_t i = 0; i + 1 < L; ++i) lat.push_back(lateral_convs[i]->forward(feats[i]));
  lat.push_back(bottleneck->forward(concat(psp, 1)));
  // Top-down: each level plus the upsampled coarser one.
  for (size_t i = L - 1; i > 0; --i)
    lat[i - 1] = add(lat[i - 1], resize_to(lat[i], lat[i - 1].size(2), lat[i - 1].size(3)));
  std::vector<Tensor> outs;
  for (size_t i = 0; i + 1 < L; ++i) outs.push_back(fpn_convs[i]->forward(lat[i]));
  outs.push_back(lat[L - 1]);
  for (size_t i = 1; i < L; ++i) outs[i] = resize_to(outs[i], outs[0].size(2), outs[0].size(3));
  return fpn_bottleneck->forward(concat(outs, 1));  // (B, C, H_0, W_0)
}

// ---------------------------------------------------------------- DenseHead
nlohmann::json DenseHeadConfig::to_json() const {
  return {{"task", task}, {"num_classes", num_classes}, {"channels", channels},
          {"dropout", dropout}, {"max_depth", max_depth}};
}

DenseHeadConfig DenseHeadConfig::from_json(const nlohmann::json& j) {
  DenseHeadConfig c;
  c.task = j.value("task", c.task);
  c.num_classes = j.value("num_classes", c.num_classes);
  c.channels = j.value("channels", c.channels);
  c.dropout = j.value("dropout", c.dropout);
  c.max_depth = j.value("max_depth", c.max_depth);
  return c;
}

DenseHead::DenseHead(const DenseHeadConfig& c, const std::vector<int64_t>& feature_channels) : cfg(c) {
  const int64_t C = cfg.channels;
  if (cfg.task != "segmentation" && cfg.task != "depth")
    throw Error("DenseHead: unknown task '" + cfg.task + "' (segmentation or depth)");
  if (cfg.task == "segmentation" && cfg.num_classes < 2)
    throw Error("DenseHead: segmentation needs at least 2 classes, got " + std::to_string(cfg.num_classes));
  if (C < 4) throw Error("DenseHead: channels must be at least 4");
  std::vector<int64_t> in = feature_channels;
  if (feature_channels.size() == 1) {  // a plain ViT: build the pyramid
    sfp = register_module("sfp", std::make_shared<SimpleFeaturePyramid>(feature_channels[0], C));
    in.assign(4, C);
  } else {
    for (size_t i = 0; i < in.size(); ++i)
      out_norms.push_back(register_module("norm" + std::to_string(i), std::make_shared<nn::LayerNorm2d>(in[i], 1e-5)));
  }
  decoder = register_module("decoder", std::make_shared<UperDecoder>(in, C));
  if (cfg.task == "segmentation") {
    conv_seg = register_module("conv_seg", std::make_shared<nn::Conv2d>(C, cfg.num_classes, 1));
    init::normal_(conv_seg->weight, 0.0, 0.01);  // mmseg's init of the classifier
    init::zeros_(conv_seg->bias);
  } else {
    up1 = register_module("up1", std::make_shared<nn::ConvModule>(C, C / 2, 3));
    up2 = register_module("up2", std::make_shared<nn::ConvModule>(C / 2, C / 4, 3));
    conv_depth = register_module("conv_depth", std::make_shared<nn::Conv2d>(C / 4, 1, 3, 1, 1));
  }
}

Tensor DenseHead::forward(const std::vector<Tensor>& feats, int64_t H, int64_t W) {
  std::vector<Tensor> levels;
  if (sfp) {
    if (feats.size() != 1) throw Error("DenseHead: a ViT decoder takes one map, got " + std::to_string(feats.size()));
    levels = sfp->forward(feats[0]);
  } else {
    if (feats.size() != out_norms.size())
      throw Error("DenseHead: expected " + std::to_string(out_norms.size()) + " maps, got " +
                  std::to_string(feats.size()));
    for (size_t i = 0; i < feats.size(); ++i) levels.push_back(out_norms[i]->forward(feats[i]));
  }
  Tensor f = decoder->forward(levels);  // (B, C, H/4, W/4)
  if (conv_seg) return resize_to(conv_seg->forward(dropout(f, cfg.dropout, training())), H, W);
  f = up1->forward(resize_to(f, 2 * f.size(2), 2 * f.size(3)));  // (B, C/2, H/2, W/2)
  f = up2->forward(resize_to(f, 2 * f.size(2), 2 * f.size(3)));  // (B, C/4, H, W)
  Tensor d = mul(sigmoid(conv_depth->forward(f)), cfg.max_depth);  // (B, 1, H, W) metres
  return resize_to(d, H, W);
}

}  // namespace vt::dense
