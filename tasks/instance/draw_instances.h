// draw_instances.h — pictures of instance segmentations (eval --save-predictions, the demo):
// each object's mask tinted half-way to its colour and its box outlined in that colour, the
// colour chosen by the object's class (a fixed palette: class k, hue k · 0.618 turns).
#pragma once
#include "engine/tensor.h"

namespace vt::instance {

// image (3, H, W) F32 in [0, 1]; boxes (D, 4) (x1, y1, x2, y2) in its pixels; labels (D) I64;
// masks (D, H, W), an object where > 0.5 (U8 or probabilities) -> (3, H, W) F32.
Tensor draw_instances(const Tensor& image, const Tensor& boxes, const Tensor& labels, const Tensor& masks);

}  // namespace vt::instance
