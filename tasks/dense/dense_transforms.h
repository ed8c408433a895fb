// dense_transforms.h — joint image + target transforms for segmentation and depth.
//
// Geometry (resize, crop, flip) is applied to the image and its target alike, so pixel (y, x)
// of the target still describes pixel (y, x) of the image; colour changes touch the image only.
// The target's dtype says what it is: I64 = segmentation classes (padding 255 = ignore), F32 =
// depth in metres (padding 0 = no measurement; values are never rescaled). Targets are resized
// with nearest-neighbour sampling, so no new classes or blended depths appear. An undefined
// target (a scenes "classification" example) is allowed: then only the image is transformed.
#pragma once
#include "tasks/data/transforms.h"

namespace vt::data {

// (H, W) or (C, H, W) of any dtype -> (h, w) / (C, h, w), torch's mode='nearest':
// src = min(floor(dst · (float)in / out), in - 1), computed in float as torch does.
Tensor resize_nearest(const Tensor& t, int64_t h, int64_t w);

struct DenseAugment {
  int64_t crop = 0;  // crop side; 0: the transform's size
  double scale_min = 0.5, scale_max = 2.0;
  bool flip = true;
  bool photometric = true;
};

// mmseg's training pipeline, in short: resize so that the short side is size · s with s uniform
// in [scale_min, scale_max] (image bilinear, target nearest), a random crop x crop window, a
// horizontal flip of both with p 0.5, then on the image only brightness (±32/255), contrast and
// saturation (factors in [0.5, 1.5]) each with p 0.5, contrast before or after saturation at
// random (as PhotoMetricDistortion; no hue step), clamped to [0, 1]; normalize; and last, as
// mmseg's Pad, a side shorter than the crop is padded at the bottom / right (image 0 after
// normalisation, classes 255, depth 0).
// (mmseg's cat_max_ratio crop retries are not done.) 1-channel images become 3-channel.
PairTransform dense_train_transform(int64_t size, const Normalization& norm,
                                    const DenseAugment& aug);

// Image bilinear and target nearest to size x size, then normalize. Metrics computed on these
// targets are at the model's resolution, not the data set's original one (the usual evaluation
// upsamples predictions to the original size instead); the aspect ratio is not kept.
PairTransform dense_eval_transform(int64_t size, const Normalization& norm);

}  // namespace vt::data
