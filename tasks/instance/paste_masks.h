// paste_masks.h — a detection's small mask (M × M probabilities, in its box) put back into the
// image, as torchvision's paste_masks_in_image: the mask is padded by one zero pixel a side and
// its box grown by (M + 2)/M about its centre (so the mask's edge can fade out), the box
// truncated to whole pixels, the padded mask resized bilinearly to the box's w × h = (x2 − x1 +
// 1) × (y2 − y1 + 1) and copied into the image where box and image overlap; 0 elsewhere.
#pragma once
#include "engine/tensor.h"

namespace vt::instance {

// masks (D, M, M), boxes (D, 4) -> (D, image_h, image_w) F32 probabilities, on the CPU
Tensor paste_masks(const Tensor& masks, const Tensor& boxes, int64_t image_h, int64_t image_w);

}  // namespace vt::instance
