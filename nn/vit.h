// vit.h — the Vision Transformer (timm's VisionTransformer, its state-dict names and configs).
//
//   x = PatchEmbed(img)                       (B, N, D), N = (H/P)·(W/P)
//   x = [cls; x] + pos_embed                  (B, 1+N, D); pos_embed resized bicubically if the
//                                             image grid differs from the trained one
//   x = Block_i(x)  for i < depth             token tuners (VPT) may edit x before each block
//   f = norm(x)[:, 0]   (token pool)  or  fc_norm(mean(x[:, 1:]))  (avg pool)
//   logits = head(f)
//
// Checkpoints: timm, torchvision and Google .npz layouts (nn/checkpoint.h).
#pragma once
#include <string>

#include "nn/model.h"

namespace vt::nn {

struct ViTConfig {
  std::string name = "vit_custom";
  int64_t img_size = 224, patch = 16, in_chans = 3;
  int64_t dim = 768, depth = 12, heads = 12;
  double mlp_ratio = 4.0;
  int64_t num_classes = 1000;  // 0: no head, forward returns pooled features
  double eps = 1e-6;
  std::string global_pool = "token";  // "token" or "avg"
  double drop_path = 0.0;             // stochastic depth, linearly increasing over blocks

  // vit_tiny/small/base/large_patch16_224 and test configs vit_test_{tiny,micro}.
  static ViTConfig named(const std::string& name);
  static ViTConfig from_json(const std::string& json_text);  // keys as the fields above
  nlohmann::json to_json() const;                            // every field, read back by from_json
  static std::vector<std::string> names();
};

struct VisionTransformer : ImageModel {
  ViTConfig cfg;
  std::shared_ptr<PatchEmbed> patch_embed;
  Tensor cls_token, pos_embed;  // (1, 1, D), (1, 1 + G², D)
  std::vector<std::shared_ptr<Block>> blocks;
  std::shared_ptr<LayerNorm> norm, fc_norm;  // norm for token pooling, fc_norm for avg
  std::shared_ptr<Linear> head;              // null when num_classes == 0
  std::shared_ptr<TokenTuner> token_tuner;

  explicit VisionTransformer(const ViTConfig& cfg);
  Tensor forward_tokens(const Tensor& images);  // (B, 3, H, W) -> (B, 1+N, D) after the blocks
  void set_token_tuner(std::shared_ptr<TokenTuner> t);

  // ---- ImageModel (nn/model.h) ----
  std::string name() const override { return cfg.name; }
  std::string family() const override { return "vit"; }
  int64_t img_size() const override { return cfg.img_size; }
  int64_t in_chans() const override { return cfg.in_chans; }
  int64_t num_features() const override { return cfg.dim; }
  int64_t num_classes() const override { return head ? cfg.num_classes : 0; }
  Tensor forward_features(const Tensor& images) override;  // pooled, normed features (B, D)
  Tensor forward_head(const Tensor& features) override;    // (B, D) -> (B, classes)
  void reset_head(int64_t classes) override;
  // One map: the last block's patch tokens (after the final norm with token pooling; CLS and
  // prompts dropped) as (B, D, H/P, W/P).
  std::vector<Tensor> forward_feature_maps(const Tensor& images) override;
  std::vector<int64_t> feature_map_channels() const override { return {cfg.dim}; }
  TunerSites tuner_sites() override;
  // timm ("head.weight"), torchvision ("heads.head.weight") and Google ("head/kernel") heads.
  int64_t checkpoint_classes(const StateDict& sd) const override;
  LoadReport load_checkpoint(StateDict sd, const LoadOptions& opt, const std::string& source) override;
  nlohmann::json config_json() const override { return cfg.to_json(); }
  ForwardCost forward_cost(int64_t img) const override;
};

// pos: (1, 1 + gh·gw, D) -> (1, 1 + nh·nw, D), bicubic over the grid, the CLS row kept.
Tensor resample_pos_embed(const Tensor& pos, int64_t gh, int64_t gw, int64_t nh, int64_t nw);

}  // namespace vt::nn
