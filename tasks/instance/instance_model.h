// instance_model.h — Mask R-CNN as the trainer runs it (tasks/train/trainer.h): the loss of a
// batch, detection mapped back to each image's original size, and COCO box and mask AP.
//
//   training loss  L = L_rpn_objectness + L_rpn_box + L_classifier + L_box + L_mask on the
//                  batch's objects (crowd regions left out); the samplers draw from the
//                  default generator, so a resumed run draws what an uninterrupted one would
//   evaluation     detections in the network's input, boxes divided by Instances::scale and
//                  clipped to the original image, masks pasted there and cut at 0.5; COCO AP
//                  (tasks/instance/coco_eval.h) against the original annotations
#pragma once
#include "tasks/instance/coco_eval.h"
#include "tasks/instance/mask_rcnn.h"
#include "tasks/train/trainer.h"

namespace vt::instance {

// The detector's training targets from a batch's instances (crowd regions dropped).
std::vector<InstanceTarget> training_targets(const std::vector<data::Instances>& instances);

// Detections of each image of the batch at its original size (masks pasted there as
// probabilities). images: the batch's, on the model's device.
std::vector<Detections> detect_original_size(nn::ImageModel& backbone, MaskRcnn& detector,
                                             const Tensor& images,
                                             const std::vector<data::Instances>& instances);

// COCO AP over the evaluated images: {"mask_AP", "mask_AP50", ..., "box_AP", ...} in %
// (kCocoStatNames, prefixed), "images", "detections"; the score is mask_AP.
struct InstanceMetric : tasks::Metric {
  int64_t num_classes;
  std::vector<EvalImage> box_images, mask_images;
  int64_t detections = 0;
  explicit InstanceMetric(int64_t k) : num_classes(k) {}
  void add(const Tensor& output, const data::Batch& batch) override;  // not used: throws
  void add_detections(const std::vector<Detections>& dets, const std::vector<data::Instances>& truth);
  nlohmann::json result() const override;
  std::string score_name() const override { return "mask_AP"; }
  std::vector<std::string> curve_keys() const override { return {"mask_AP", "box_AP"}; }
  std::string curve_unit() const override { return "%"; }
};

// `observe`, if set, also sees every evaluated batch with its detections (at the original
// sizes), e.g. to draw them.
using DetectionObserver = std::function<void(const data::Batch&, const std::vector<Detections>&)>;
tasks::TaskModel instance_task_model(nn::ImageModel& backbone, MaskRcnn& detector,
                                     DetectionObserver observe = nullptr);

}  // namespace vt::instance
