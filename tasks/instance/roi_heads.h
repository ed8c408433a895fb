// roi_heads.h — the box and mask heads of Mask R-CNN (He et al. 2017) on a feature pyramid, as
// torchvision's RoIHeads computes them (with aligned RoIAlign, as Detectron2 and ViTDet pool).
//
//   pooling   a box of area a goes to level k = clamp(floor(4 + log2(√a / s0) + 1e-6), k_min,
//             k_max) (the map of stride 2^k) and is RoIAligned there: 7×7 for boxes, 14×14 for
//             masks, 2×2 samples per bin. s0, the box size that pools from stride 16, is 224
//             for COCO-sized images; small images want it smaller.
//   box head  fc6, fc7 (ReLU) on the flattened 7×7 features -> class logits (K + 1, 0 =
//             background) and per-class deltas (box coding weights 10, 10, 5, 5)
//   mask head four 3×3 convs (ReLU), a 2×2 stride-2 deconv (ReLU), a 1×1 conv -> (K, 28, 28)
//   training  proposals + the ground-truth boxes, matched at IoU 0.5 (below: background),
//             batch_per_image sampled with at most a quarter objects;
//             L_cls = CE(logits, labels),  L_box = smooth_l1(deltas of the true class −
//             encoded boxes, β = 1/9) / #sampled,
//             L_mask = BCE(mask logits of the true class, the object's mask RoIAligned onto
//             the proposal at 28×28, unaligned as torchvision), over the sampled objects
//   inference softmax scores, per-class boxes decoded and clipped, background dropped, scores
//             > score_threshold, boxes under 0.01 px dropped, NMS 0.5 within each class, the
//             detections_per_image best; each detection's mask of its class, σ(logits),
//             pasted into the image (tasks/instance/paste_masks.h)
#pragma once
#include <vector>

#include "engine/random.h"
#include "nn/conv_layers.h"
#include "tasks/instance/boxes.h"
#include "tasks/instance/instance_data.h"

namespace vt::instance {

struct RoiHeadsConfig {
  int64_t num_classes = 0;  // K object classes (the heads add background)
  int64_t representation = 1024;
  int64_t mask_channels = 256;
  int64_t box_pool = 7, mask_pool = 14, sampling_ratio = 2;
  bool aligned = true;
  double canonical_scale = 224;  // s0 above
  double fg_iou = 0.5, bg_iou = 0.5;
  int64_t batch_per_image = 512;
  double positive_fraction = 0.25;
  double score_threshold = 0.05, nms_threshold = 0.5;
  int64_t detections_per_image = 100;
};

// RoIAlign of each box on its pyramid level. maps: L × (B, C, H_l, W_l) with strides
// image / map = powers of two; boxes: per image (P_i, 4) -> (Σ P_i, C, out, out).
Tensor multi_scale_roi_align(const std::vector<Tensor>& maps, const std::vector<Tensor>& boxes,
                             int64_t image_h, int64_t image_w, int64_t out, int64_t sampling_ratio,
                             bool aligned, double canonical_scale = 224);

struct BoxHead : nn::Module {
  std::shared_ptr<nn::Linear> fc6, fc7, cls_score, bbox_pred;
  BoxHead(int64_t in_features, int64_t representation, int64_t num_classes);
  // (P, C, 7, 7) -> class logits (P, K + 1) and deltas (P, 4(K + 1))
  std::pair<Tensor, Tensor> forward(const Tensor& pooled);
};

struct MaskHead : nn::Module {
  std::vector<std::shared_ptr<nn::Conv2d>> convs;  // fcn1..fcn4, 3×3
  std::shared_ptr<nn::ConvTranspose2d> deconv;     // 2×2, stride 2
  std::shared_ptr<nn::Conv2d> logits;              // 1×1
  MaskHead(int64_t in_channels, int64_t channels, int64_t num_classes);
  Tensor forward(const Tensor& pooled);  // (P, C, 14, 14) -> (P, K + 1, 28, 28)
};

struct RoiOutput {
  Tensor loss_classifier, loss_box, loss_mask;  // training
  std::vector<Detections> detections;           // inference
};

struct RoiHeads : nn::Module {
  RoiHeadsConfig cfg;
  BoxCoder coder{{10, 10, 5, 5}};
  std::shared_ptr<BoxHead> box_head;
  std::shared_ptr<MaskHead> mask_head;
  RoiHeads(const RoiHeadsConfig& cfg, int64_t channels);
  // With targets: the three losses (sampling draws from gen). Without: detections, with masks
  // pasted into image_h × image_w if paste (else Detections::mask_probs only).
  RoiOutput forward(const std::vector<Tensor>& maps, const std::vector<Tensor>& proposals,
                    int64_t image_h, int64_t image_w, const std::vector<InstanceTarget>* targets,
                    Generator* gen, bool paste = true);
};

}  // namespace vt::instance
