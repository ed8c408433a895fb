// instance_setup.h — what `finetune` and `eval` add for --task instance: COCO or scene data and
// their loaders, Mask R-CNN on the backbone (tasks/instance), and --save-predictions pictures.
#pragma once
#include "examples/vitune/dense_setup.h"
#include "tasks/instance/instance_dataset.h"
#include "tasks/instance/instance_model.h"

namespace vitune {

// coco:ROOT:ANNOTATIONS.json or scenes:N[:SIZE]; limit > 0 keeps the first `limit` images.
// The class names go to `names` (if given).
vt::data::DatasetPtr open_instances(const std::string& spec, bool train, int64_t limit,
                                    std::vector<std::string>* names = nullptr);
// Training: with --augment large-scale jitter (0.1 … 2) and flips, else a plain resize;
// evaluation: the longer side resized to size, padded to size × size.
std::unique_ptr<vt::data::DataLoader> instance_loader(const DataOptions& d, vt::data::DatasetPtr data,
                                                      bool train, int64_t size);

// The detector for square inputs of `size` (MaskRcnnConfig::for_input) with the options' width.
vt::instance::MaskRcnnConfig detector_config(const TaskOptions& t, int64_t size, int64_t classes);

// The trainer's view of backbone + detector; `save` writes an adapter directory with `info`.
// With t.save_predictions, the evaluation also writes its first t.save_limit images as
// DIR/NNNN.png: image | truth | detections with a score of at least 0.5 (masks tinted, boxes
// outlined), at the image's original size.
vt::tasks::TaskModel instance_task(vt::nn::ImageModel& b, vt::instance::MaskRcnn& det, const TaskOptions& t,
                                   const vt::peft::AdapterInfo& info, const vt::data::Normalization& norm);

}  // namespace vitune
