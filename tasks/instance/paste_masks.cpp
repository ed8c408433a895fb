// paste_masks.cpp — small masks back into the image (tasks/instance/paste_masks.h).
#include "tasks/instance/paste_masks.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/ops.h"

namespace vt::instance {

Tensor paste_masks(const Tensor& masks_, const Tensor& boxes_, int64_t image_h, int64_t image_w) {
  NoGrad ng;
  if (masks_.dim() != 3 || masks_.size(1) != masks_.size(2) || boxes_.dim() != 2 ||
      boxes_.size(1) != 4 || boxes_.size(0) != masks_.size(0))
    throw Error("paste_masks: expected masks (D, M, M) and boxes (D, 4), got " +
                shape_str(masks_.shape()) + " and " + shape_str(boxes_.shape()));
  const int64_t D = masks_.size(0), M = masks_.size(1);
  Tensor masks = pad(masks_.detach().to(Device::cpu()).to(DType::F32), {1, 1, 1, 1});  // (D, M+2, M+2)
  Tensor boxes = boxes_.detach().to(Device::cpu()).to(DType::F32).contiguous();
  Tensor out = Tensor::zeros({D, image_h, image_w});
  const float scale = float(M + 2) / float(M);
  for (int64_t d = 0; d < D; ++d) {
    // Detections are clipped to the image; clamping here too keeps a stray box's resize bounded.
    float b[4];
    const float* raw = boxes.data<float>() + 4 * d;
    for (int i = 0; i < 4; ++i) {
      const float lim = float(i % 2 ? image_h : image_w);
      b[i] = std::isnan(raw[i]) ? raw[i] : std::clamp(raw[i], -lim, 2 * lim);
    }
    const float w_half = (b[2] - b[0]) * 0.5f * scale, h_half = (b[3] - b[1]) * 0.5f * scale;
    const float xc = (b[2] + b[0]) * 0.5f, yc = (b[3] + b[1]) * 0.5f;
    if (std::isnan(w_half + h_half + xc + yc)) continue;  // a diverged box: nothing to paste
    auto trunc = [](float v) { return (int64_t)v; };  // toward zero, as torch's .to(int64)
    const int64_t x0 = trunc(xc - w_half), y0 = trunc(yc - h_half);
    const int64_t x1 = trunc(xc + w_half), y1 = trunc(yc + h_half);
    const int64_t w = std::max<int64_t>(x1 - x0 + 1, 1), h = std::max<int64_t>(y1 - y0 + 1, 1);
    const int64_t ix0 = std::max<int64_t>(x0, 0), ix1 = std::min<int64_t>(x1 + 1, image_w);
    const int64_t iy0 = std::max<int64_t>(y0, 0), iy1 = std::min<int64_t>(y1 + 1, image_h);
    if (ix0 >= ix1 || iy0 >= iy1) continue;  // outside the image
    Tensor resized = interpolate(masks.select(0, d).reshape({1, 1, M + 2, M + 2}), {h, w}).contiguous();
    const float* r = resized.data<float>();
    float* o = out.data<float>() + d * image_h * image_w;
    for (int64_t y = iy0; y < iy1; ++y)
      for (int64_t x = ix0; x < ix1; ++x) o[y * image_w + x] = r[(y - y0) * w + (x - x0)];
  }
  return out;
}

}  // namespace vt::instance
