// instance_demo.h — the instance-segmentation stage of `vitune dense-demo`: the frozen scene
// Swin adapted with a PEFT method and Mask R-CNN to find every drawn shape (its class, box and
// visible mask) in the synthetic scenes, scored by COCO mask and box AP against a trivial
// detector (one whole-image detection per class).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "examples/vitune/commands.h"
#include "tasks/data/transforms.h"

namespace vitune {

struct InstanceDemoSettings {
  std::string pretrained, out, method;  // model directory; OUT/instance is written
  int64_t train_images = 600, eval_images = 200, epochs = 8, channels = 64, workers = 1;
  std::string progress = "auto";
  PrecisionOption precision;
  vt::data::Normalization norm;
};

struct InstanceDemoResult {
  nlohmann::json metrics;  // the last evaluation's (mask_AP, mask_AP50, box_AP, ...)
  nlohmann::json trivial;  // the trivial detector's mask_AP50 and box_AP50
  int64_t trainable = 0;
  double seconds = 0;
};

InstanceDemoResult adapt_instances(const InstanceDemoSettings& s);

}  // namespace vitune
