// mask_rcnn.h — Mask R-CNN on a (frozen, tuned) backbone's feature maps:
//
//   images (B, 3, H, W) --backbone--> maps --neck--> P2..P6 (B, C, H/s, W/s), s = 4..64
//     --rpn--> proposals per image --roi_heads--> boxes, classes, scores, masks
//
// The detector is one module (tasks/instance/neck.h, rpn.h, roi_heads.h); attached to the
// backbone as the child "detector", its tensors are named detector.* next to the tuners', so
// apply_method keeps it trainable and an adapter file carries it (as tasks/dense/dense_model.h
// does with decode_head).
#pragma once
#include <nlohmann/json.hpp>

#include "nn/model.h"
#include "tasks/instance/neck.h"
#include "tasks/instance/roi_heads.h"
#include "tasks/instance/rpn.h"

namespace vt::instance {

struct MaskRcnnConfig {
  int64_t num_classes = 0;  // object classes, without background
  int64_t channels = 256;   // pyramid width
  RpnConfig rpn;
  RoiHeadsConfig roi;       // num_classes is copied from above
  nlohmann::json to_json() const;
  static MaskRcnnConfig from_json(const nlohmann::json& j);  // missing keys keep defaults
};

struct MaskRcnnLosses {
  Tensor rpn_objectness, rpn_box, classifier, box, mask;
  Tensor total() const;  // the plain sum, as torchvision's reference training
};

struct MaskRcnn : nn::Module {
  MaskRcnnConfig cfg;
  std::shared_ptr<InstanceNeck> neck;
  std::shared_ptr<RegionProposalNetwork> rpn;
  std::shared_ptr<RoiHeads> roi_heads;
  MaskRcnn(const MaskRcnnConfig& cfg, const std::vector<int64_t>& feature_channels);
  // maps: the backbone's; the images were image_h × image_w. Training: one target per image,
  // the sampling draws from gen.
  MaskRcnnLosses losses(const std::vector<Tensor>& maps, int64_t image_h, int64_t image_w,
                        const std::vector<InstanceTarget>& targets, Generator& gen);
  std::vector<Detections> detect(const std::vector<Tensor>& maps, int64_t image_h, int64_t image_w);
};

// Builds the detector for this backbone and attaches it as "detector" (trainable).
std::shared_ptr<MaskRcnn> attach_mask_rcnn(nn::ImageModel& backbone, const MaskRcnnConfig& cfg);

}  // namespace vt::instance
