// mask_rcnn.h — Mask R-CNN on a (frozen, tuned) backbone's feature maps:
//
//   images (B, 3, H, W) --backbone--> maps --neck--> P2..P6 (B, C, H/s, W/s), s = 4..64
//     --rpn--> proposals per image --roi_heads--> boxes, classes, scores, masks
//
// The detector is one module (tasks/instance/neck.h, rpn.h, roi_heads.h). Attached to the
// backbone as its task head, the child "decode_head" (as tasks/dense/dense_model.h attaches a
// dense decoder), its tensors are named decode_head.* next to the tuners': apply_method keeps
// them trainable and an adapter file carries them, with the config under "decode_head"
// ({"task": "instance", ...}).
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
  nlohmann::json to_json() const;  // with "task": "instance"
  static MaskRcnnConfig from_json(const nlohmann::json& j);  // missing keys keep defaults
  // Defaults for square inputs of `size` pixels: anchors s·2^l for P2..P6 with
  // s = max(8, size / 32) (32 … 512 at 1024 px, COCO's). The pooling level keeps its canonical
  // box size 224 at every input size: it is what sets how many map cells a box spans (a small
  // image's boxes all pool from the finest level). The heads scale with the pyramid's width: a
  // box head of 4 · channels, a mask head of `channels` (torchvision's 1024 and 256 at 256).
  static MaskRcnnConfig for_input(int64_t size, int64_t num_classes, int64_t channels = 256);
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
  // paste: masks pasted into image_h × image_w (else only Detections::mask_probs)
  std::vector<Detections> detect(const std::vector<Tensor>& maps, int64_t image_h, int64_t image_w,
                                 bool paste = true);
};

// Builds the detector for this backbone and attaches it as "decode_head" (trainable).
std::shared_ptr<MaskRcnn> attach_mask_rcnn(nn::ImageModel& backbone, const MaskRcnnConfig& cfg);

}  // namespace vt::instance
