// rpn.h — the region proposal network of Faster / Mask R-CNN (Ren et al. 2015), as torchvision's
// RegionProposalNetwork computes it.
//
//   head, per pyramid level (shared weights):  t = ReLU(conv3×3(P_l))
//        objectness = conv1×1(t) -> (B, A, H, W),  deltas = conv1×1(t) -> (B, 4A, H, W)
//   proposals: anchors (tasks/instance/anchors.h) moved by the decoded deltas; per image and
//        level the pre_nms_top_n most object-like, clipped to the image, boxes under 1e-3 px
//        dropped, NMS at nms_threshold within each level, the post_nms_top_n best kept.
//        Proposals carry no gradient.
//   loss: anchors matched to ground truth (IoU >= 0.7 object, < 0.3 background, and each
//        object's best anchors), batch_per_image anchors sampled with at most half objects;
//        L = BCE(objectness of the sampled, their labels)
//          + smooth_l1(deltas of sampled objects − encoded boxes, β = 1/9) / #sampled
#pragma once
#include <vector>

#include "nn/layers.h"
#include "tasks/instance/anchors.h"
#include "tasks/instance/boxes.h"
#include "tasks/instance/instance_data.h"

namespace vt::instance {

struct RpnConfig {
  std::vector<std::vector<double>> anchor_sizes{{32}, {64}, {128}, {256}, {512}};  // per level
  std::vector<double> aspect_ratios{0.5, 1.0, 2.0};
  int64_t pre_nms_top_n_train = 2000, pre_nms_top_n_test = 1000;
  int64_t post_nms_top_n_train = 2000, post_nms_top_n_test = 1000;
  double nms_threshold = 0.7, fg_iou = 0.7, bg_iou = 0.3;
  int64_t batch_per_image = 256;
  double positive_fraction = 0.5;
  double min_size = 1e-3, score_threshold = 0.0;
};

struct RpnHead : nn::Module {
  std::shared_ptr<nn::Conv2d> conv, cls_logits, bbox_pred;
  RpnHead(int64_t channels, int64_t anchors_per_location);  // weights N(0, 0.01²), biases 0
  // maps: L × (B, C, H_l, W_l) -> per level objectness (B, A, H, W) and deltas (B, 4A, H, W)
  std::pair<std::vector<Tensor>, std::vector<Tensor>> forward(const std::vector<Tensor>& maps);
};

struct RpnOutput {
  std::vector<Tensor> proposals;   // per image (P, 4) F32 on the CPU
  Tensor loss_objectness, loss_box;  // training with targets only
};

struct RegionProposalNetwork : nn::Module {
  RpnConfig cfg;
  AnchorGenerator anchor_gen;
  BoxCoder coder;  // weights (1, 1, 1, 1)
  std::shared_ptr<RpnHead> head;
  RegionProposalNetwork(const RpnConfig& cfg, int64_t channels);
  // maps: the pyramid of a (B, 3, image_h, image_w) batch. With targets (one per image) the
  // losses are computed too; `gen` draws the sampled anchors.
  RpnOutput forward(const std::vector<Tensor>& maps, int64_t image_h, int64_t image_w,
                    const std::vector<InstanceTarget>* targets, Generator* gen);
};

}  // namespace vt::instance
