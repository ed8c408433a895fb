// swin.h — the Swin Transformer (timm's current SwinTransformer: its state-dict names and configs).
//
//   x = PatchEmbed(img)                        (B, H, W, C) channels-last, LayerNorm'd
//   for stage s:  x = PatchMerging(x)  (s ≥ 1)  (B, H/2, W/2, 2C)   layers.{s}.downsample
//                 x = SwinBlock_b(x)           (B, H, W, C)        layers.{s}.blocks.{b}
//   f = mean_{H,W}(norm(x));  logits = head.fc(f)
//
// A SwinBlock is a pre-LN transformer block whose attention runs inside non-overlapping
// W×W windows, with a learned bias per relative position (table[(2W-1)², heads], gathered by
// relative_position_index). Odd blocks first roll the map by -W/2 (and back afterwards) so
// windows straddle the previous block's borders; the tokens a roll wrapped around are kept
// apart by a -100 additive mask. When a stage's resolution at cfg.img_size is ≤ W its window
// shrinks to that resolution and it does not shift (timm's rule); window and shift are fixed
// at construction. A map (at another input size) that does not divide into windows is
// zero-padded after LN1 and cut back after attention, as torchvision and mmseg do (padded
// tokens take part in attention unmasked); PatchMerging still needs even sizes.
//
// Tuner sites are TunedBlock's (nn/tuned_block.h): the Linears (qkv, proj, fc1, fc2), branches
// beside attention and MLP, adapters after each, a token dispatcher. Branches and adapters see
// token sequences (B, H·W, C) in row-major grid order, no CLS token; the attention branch sees
// the block input and LN1 of it (before the shift and window partition).
// WindowAttention is an Attention, so a prefix provider gives every window the same prefix.
#pragma once
#include <string>

#include "nn/model.h"
#include "nn/tuned_block.h"

namespace vt::nn {

struct SwinConfig {
  std::string name = "swin_custom";
  int64_t img_size = 224, patch = 4, in_chans = 3, window = 7, dim = 96;
  std::vector<int64_t> depths{2, 2, 6, 2}, heads{3, 6, 12, 24};
  double mlp_ratio = 4.0;
  int64_t num_classes = 1000;  // 0: no head, forward returns pooled features
  double eps = 1e-5;
  double drop_path = 0.0;  // stochastic depth, linearly increasing over all blocks

  int64_t num_stages() const { return (int64_t)depths.size(); }
  int64_t stage_dim(int64_t s) const { return dim << s; }
  int64_t num_features() const { return stage_dim(num_stages() - 1); }
  // swin_{tiny,small,base}_patch4_window7_224 and test configs swin_test_{tiny,micro}.
  static SwinConfig named(const std::string& name);
  static SwinConfig from_json(const std::string& json_text);  // keys as the fields above
  nlohmann::json to_json() const;                             // every field, read back by from_json
  static std::vector<std::string> names();
};

// ---- window helpers (free functions, tested on their own) ----
// (W², W²) I64: idx[i][j] = (hi-hj+W-1)·(2W-1) + (wi-wj+W-1) for tokens i, j of a W×W window.
Tensor relative_position_index(int64_t window);
// (nW, W², W²) of 0 / -100: which token pairs of each window of the rolled H×W map came from
// different regions before the roll by -shift. Built on the host, in dtype, on device.
Tensor shifted_window_mask(int64_t H, int64_t W, int64_t window, int64_t shift, DType dtype,
                           Device device);
Tensor window_partition(const Tensor& x, int64_t window);  // (B, H, W, C) -> (B·nW, W², C)
Tensor window_reverse(const Tensor& w, int64_t window, int64_t H, int64_t W);  // the inverse

// Multi-head attention inside windows with the relative-position bias (timm WindowAttention).
struct WindowAttention : Attention {
  Tensor relative_position_bias_table;  // ((2W-1)², heads), trainable
  Tensor rel_index;                     // (W², W²) I64, non-persistent buffer
  int64_t window;
  WindowAttention(int64_t dim, int64_t heads, int64_t window);
  Tensor bias();  // (1, heads, W², W²), differentiable w.r.t. the table
  // xw: (B·nW, W², C) windows of `batch` images; shift_mask: (nW, W², W²) or undefined.
  Tensor forward_windows(const Tensor& xw, int64_t batch, const Tensor& shift_mask);
};

struct SwinBlock : TunedBlock {
  std::shared_ptr<WindowAttention> attn;
  int64_t window, shift;
  SwinBlock(int64_t dim, int64_t heads, int64_t window, int64_t shift, double mlp_ratio = 4.0,
            double eps = 1e-5);
  Attention& attention() override { return *attn; }
  Tensor forward(const Tensor& x);  // (B, H, W, C) -> (B, H, W, C)

 private:
  Tensor mask_;  // the shift mask for the last map size seen (rebuilt when H, W, dtype or device change)
  int64_t mask_h_ = 0, mask_w_ = 0;
};

// 2×2 neighbourhoods to channels, LayerNorm, then a 4C -> 2C projection (no bias).
struct PatchMerging : Module {
  std::shared_ptr<LayerNorm> norm;
  std::shared_ptr<Linear> reduction;
  PatchMerging(int64_t dim, double eps = 1e-5);
  Tensor forward(const Tensor& x);  // (B, H, W, C) -> (B, H/2, W/2, 2C)
};

// One stage: merging (stages ≥ 1), then blocks with the window and shift timm picks for the
// stage's resolution at cfg.img_size. first_block numbers the blocks for drop_path's schedule.
struct SwinStage : Module {
  std::shared_ptr<PatchMerging> downsample;  // null in stage 0
  std::vector<std::shared_ptr<SwinBlock>> blocks;
  SwinStage(const SwinConfig& cfg, int64_t stage, int64_t first_block);
  Tensor forward(const Tensor& x);  // (B, H, W, C) -> (B, H', W', C')
};

struct SwinHead : Module {  // timm's ClassifierHead: the Linear is head.fc
  std::shared_ptr<Linear> fc;
  SwinHead(int64_t in, int64_t classes);  // zero-initialised (fine-tuning starts from 0 logits)
};

struct SwinTransformer : ImageModel {
  SwinConfig cfg;
  std::shared_ptr<PatchEmbed> patch_embed;
  std::vector<std::shared_ptr<SwinStage>> layers;
  std::shared_ptr<LayerNorm> norm;
  std::shared_ptr<SwinHead> head;        // null when num_classes == 0

  explicit SwinTransformer(const SwinConfig& cfg);
  // Every stage's output, channels-last (B, H_s, W_s, C_s), before the final norm.
  std::vector<Tensor> forward_stages(const Tensor& images);
  std::vector<std::shared_ptr<SwinBlock>> all_blocks() const;  // in order, for tuners

  // ---- ImageModel (nn/model.h) ----
  std::string name() const override { return cfg.name; }
  std::string family() const override { return "swin"; }
  int64_t img_size() const override { return cfg.img_size; }
  int64_t in_chans() const override { return cfg.in_chans; }
  int64_t num_features() const override { return cfg.num_features(); }
  int64_t num_classes() const override { return head ? cfg.num_classes : 0; }
  Tensor forward_features(const Tensor& images) override;  // mean over H, W of norm(last map): (B, C)
  Tensor forward_head(const Tensor& features) override;    // head.fc
  void reset_head(int64_t classes) override;               // zero-initialised
  // The stage outputs as (B, C_s, H_s, W_s) views, for dense decoders (FPN/UperNet-style).
  std::vector<Tensor> forward_feature_maps(const Tensor& images) override;
  std::vector<int64_t> feature_map_channels() const override;
  TunerSites tuner_sites() override;
  // timm ("head.fc.weight"), old timm / Microsoft and torchvision ("head.weight") heads.
  int64_t checkpoint_classes(const StateDict& sd) const override;
  LoadReport load_checkpoint(StateDict sd, const LoadOptions& opt, const std::string& source) override;
  nlohmann::json config_json() const override { return cfg.to_json(); }
  ForwardCost forward_cost(int64_t img) const override;
};

}  // namespace vt::nn
