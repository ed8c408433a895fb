// draw_instances.cpp — masks tinted and boxes outlined on an image (tasks/instance/draw_instances.h).
#include "tasks/instance/draw_instances.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "tasks/instance/host_tensors.h"

namespace vt::instance {

namespace {
// A saturated colour for class k: hue k · φ⁻¹ turns, so neighbouring classes differ.
void class_colour(int64_t k, float rgb[3]) {
  const double h = std::fmod(0.618033988749895 * (double)k, 1.0) * 6.0;
  const double x = 1.0 - std::fabs(std::fmod(h, 2.0) - 1.0);
  const double table[6][3] = {{1, x, 0}, {x, 1, 0}, {0, 1, x}, {0, x, 1}, {x, 0, 1}, {1, 0, x}};
  const int sector = std::min(5, (int)h);
  for (int c = 0; c < 3; ++c) rgb[c] = (float)(0.15 + 0.85 * table[sector][c]);
}
}  // namespace

Tensor draw_instances(const Tensor& image, const Tensor& boxes, const Tensor& labels, const Tensor& masks) {
  if (image.dim() != 3 || image.size(0) != 3)
    throw Error("draw_instances: expected a (3, H, W) image, got " + shape_str(image.shape()));
  const int64_t H = image.size(1), W = image.size(2), D = labels.numel();
  if (boxes.dim() != 2 || boxes.size(0) != D || masks.dim() != 3 || masks.size(0) != D ||
      masks.size(1) != H || masks.size(2) != W)
    throw Error("draw_instances: boxes " + shape_str(boxes.shape()) + ", labels " + shape_str(labels.shape()) +
                " and masks " + shape_str(masks.shape()) + " do not describe the same objects of a " +
                std::to_string(H) + "×" + std::to_string(W) + " image");
  Tensor out = cpu_f32(image).clone();
  float* o = out.data<float>();
  const int64_t plane = H * W;
  Tensor b = cpu_f32(boxes), m = cpu_f32(masks);
  const std::vector<int64_t> l = ints(labels);
  for (int64_t d = 0; d < D; ++d) {
    float rgb[3];
    class_colour(l[d], rgb);
    const float* md = m.data<float>() + d * plane;
    for (int64_t p = 0; p < plane; ++p)
      if (md[p] > 0.5f)
        for (int c = 0; c < 3; ++c) o[c * plane + p] = 0.5f * o[c * plane + p] + 0.5f * rgb[c];
    const float* bd = b.data<float>() + 4 * d;
    if (!std::isfinite(bd[0] + bd[1] + bd[2] + bd[3])) continue;
    const int64_t x0 = std::clamp<int64_t>((int64_t)std::floor(bd[0]), 0, W - 1);
    const int64_t y0 = std::clamp<int64_t>((int64_t)std::floor(bd[1]), 0, H - 1);
    const int64_t x1 = std::clamp<int64_t>((int64_t)std::ceil(bd[2]) - 1, 0, W - 1);
    const int64_t y1 = std::clamp<int64_t>((int64_t)std::ceil(bd[3]) - 1, 0, H - 1);
    auto put = [&](int64_t y, int64_t x) {
      for (int c = 0; c < 3; ++c) o[c * plane + y * W + x] = rgb[c];
    };
    for (int64_t x = x0; x <= x1; ++x) put(y0, x), put(y1, x);
    for (int64_t y = y0; y <= y1; ++y) put(y, x0), put(y, x1);
  }
  return out;
}

}  // namespace vt::instance
