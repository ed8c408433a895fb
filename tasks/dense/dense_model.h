// dense_model.h — a backbone carrying a dense decoder: its feature maps, the forward, sliding-
// window inference and the TaskModel the trainer runs (tasks/train/trainer.h).
//
//   images (B, 3, H, W) --backbone (frozen + tuners)--> maps --decode_head--> (B, K, H, W) logits
//                                                                        or (B, 1, H, W) metres
// The maps are the backbone's ImageModel::forward_feature_maps (nn/model.h).
//
// The decoder is attached to the backbone module as the child "decode_head", so its tensors
// are named decode_head.* next to the tuners' names: apply_method keeps it trainable and an
// adapter checkpoint (peft/adapter_file.h) carries it with the tuners.
#pragma once
#include <functional>

#include "nn/model.h"
#include "tasks/dense/decoders.h"
#include "tasks/dense/dense_metrics.h"
#include "tasks/train/trainer.h"

namespace vt::dense {

// Builds the decoder for this backbone and attaches it as "decode_head" (trainable).
std::shared_ptr<DenseHead> attach_dense_head(nn::ImageModel& backbone, const DenseHeadConfig& cfg);

// images (B, 3, H, W) -> the head's output at (H, W).
Tensor dense_forward(nn::ImageModel& backbone, DenseHead& head, const Tensor& images);

// Sliding-window inference (mmseg's "slide" mode): crop×crop windows every `stride` pixels,
// the last row and column of windows flush with the border, outputs averaged where windows
// overlap. Images smaller than the crop run whole.
Tensor slide_inference(const std::function<Tensor(const Tensor&)>& fn, const Tensor& images,
                       int64_t crop, int64_t stride);

struct DenseTaskOptions {
  int64_t slide_crop = 0, slide_stride = 0;  // 0: whole-image inference
  DepthEval depth;                           // depth metric settings
};

// forward, loss (cross-entropy with ignore 255, or SILog), predict (whole or sliding) and the
// task's metric; `save` is left for the caller.
tasks::TaskModel dense_task_model(nn::ImageModel& backbone, DenseHead& head, const DenseTaskOptions& o);

}  // namespace vt::dense
