// boxes.h — box arithmetic for detection, as torchvision.ops and torchvision's detection
// utilities define it. Boxes are (x1, y1, x2, y2) in pixels; every function takes and returns
// CPU tensors (F32 or F64; inputs on another device are copied), and none records gradients:
// detection differentiates only through the predicted deltas and scores, never through boxes.
//
//   IoU(a, b)    = |a ∩ b| / (|a| + |b| − |a ∩ b|),   |box| = (x2 − x1)(y2 − y1)
//   NMS          keep the highest-scoring box, drop every box whose IoU with it is > threshold,
//                repeat on what is left; batched NMS does that within each class only
//   box coding   (torchvision's BoxCoder) of box g against reference box p, weights (wx, wy, ww, wh):
//                  dx = wx·(gx − px)/pw, dy = wy·(gy − py)/ph, dw = ww·ln(gw/pw), dh = wh·ln(gh/ph)
//                with centres x = x1 + w/2; decoding inverts it, dw and dh clamped at
//                ln(1000/16) so exp() stays bounded.
#pragma once
#include <array>

#include "engine/tensor.h"

namespace vt::instance {

// a: (N, 4), b: (M, 4) -> (N, M) IoU (0 where the union is empty).
Tensor box_iou(const Tensor& a, const Tensor& b);

// boxes (N, 4), scores (N) -> I64 indices of the kept boxes, by decreasing score (ties keep
// input order).
Tensor nms(const Tensor& boxes, const Tensor& scores, double iou_threshold);
// As nms, but a box suppresses only boxes of its own class `classes` (N, I64).
Tensor batched_nms(const Tensor& boxes, const Tensor& scores, const Tensor& classes,
                   double iou_threshold);

// Each box clamped to the image [0, width] × [0, height].
Tensor clip_boxes(const Tensor& boxes, int64_t height, int64_t width);
// I64 indices of the boxes at least min_size wide and high.
Tensor remove_small_boxes(const Tensor& boxes, double min_size);

struct BoxCoder {
  std::array<double, 4> weights{1, 1, 1, 1};  // (wx, wy, ww, wh): RPN 1s, box head (10, 10, 5, 5)
  double clip = 4.135166556742356;             // ln(1000 / 16)
  // boxes (N, 4) against reference boxes (N, 4) -> deltas (N, 4)
  Tensor encode(const Tensor& boxes, const Tensor& reference) const;
  // deltas (N, 4·K) applied to reference boxes (N, 4) -> boxes (N, K, 4)
  Tensor decode(const Tensor& deltas, const Tensor& reference) const;
};

}  // namespace vt::instance
