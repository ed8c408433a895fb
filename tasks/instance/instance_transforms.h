// instance_transforms.h — image + objects transforms for instance segmentation: the geometry is
// applied to the image, the boxes and the masks alike.
//
// Training (ViTDet's large-scale jitter): resize by r = size · s / max(H, W), s uniform in
// [scale_min, scale_max], to round(H·r) × round(W·r) (image bilinear, masks nearest, boxes and
// areas by the resize's factors w'/W and h'/H), a random size × size crop where the result is
// larger, a horizontal flip with p = flip_p, normalize, and pad the image and the masks to
// size × size at the bottom and right (image zeros after normalisation, masks 0). Boxes are
// clipped to the crop; objects left with no mask pixel, or a box under one pixel a side, are
// dropped, and crowd regions are dropped (not trained on). An image left without objects keeps
// M = 0. The draws, all from the example's generator: s, then the crop's top and left (each only
// where that side is longer than size), then the flip.
// Evaluation: resize by r = size / max(H, W), normalize, pad to size × size; the objects stay at
// the original size (AP is measured there) and Instances::scale is multiplied by r (from 1: r).
// Both: 1-channel images become 3-channel; the image comes out (3, size, size) F32, contiguous,
// and the instances on the CPU, contiguous. An example without instances has its image
// transformed alone; instances that do not fit the image (data::Instances' shapes and dtypes)
// throw vt::Error.
#pragma once
#include "tasks/data/transforms.h"

namespace vt::instance {

struct InstanceAugment {
  double scale_min = 0.1, scale_max = 2.0;  // ViTDet's LSJ range; 1, 1 for a plain resize
  double flip_p = 0.5;
};

data::ExampleTransform instance_train_transform(int64_t size, const data::Normalization& norm,
                                                const InstanceAugment& aug);
data::ExampleTransform instance_eval_transform(int64_t size, const data::Normalization& norm);

}  // namespace vt::instance
