// dense_transforms.cpp — resize_nearest and the joint train/eval transforms for dense targets.
// Geometry on targets is done with byte copies of whole elements, so any dtype works.
#include "tasks/dense/dense_transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tasks/dense/dense_data.h"

namespace vt::data {

namespace {

// (H, W) or (C, H, W) -> {C, H, W} (C = 1 for 2-d tensors).
void planes_of(const char* op, const Tensor& t, int64_t& C, int64_t& H, int64_t& W) {
  if (!t.defined() || (t.dim() != 2 && t.dim() != 3))
    throw Error(std::string(op) + ": expected an (H, W) or (C, H, W) tensor, got " +
                (t.defined() ? shape_str(t.shape()) : std::string("an undefined tensor")));
  C = t.dim() == 3 ? t.size(0) : 1;
  H = t.size(-2), W = t.size(-1);
}

Shape with_hw(const Tensor& t, int64_t h, int64_t w) {
  Shape s = t.shape();
  s[s.size() - 2] = h, s[s.size() - 1] = w;
  return s;
}

// The (h, w) window at (top, left) of t ((H, W) or (C, H, W)); parts outside t are `fill`.
Tensor crop_or_pad(const Tensor& t, int64_t top, int64_t left, int64_t h, int64_t w, double fill) {
  int64_t C, H, W;
  planes_of("crop_or_pad", t, C, H, W);
  const Tensor x = t.contiguous();
  Tensor y = Tensor::full(with_hw(t, h, w), fill, t.dtype());
  const size_t es = dtype_size(t.dtype());
  const int64_t x0 = std::max<int64_t>(left, 0), x1 = std::min<int64_t>(left + w, W);
  if (x1 <= x0) return y;
  const char* src = (const char*)x.raw();
  char* dst = (char*)y.raw();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = std::max<int64_t>(top, 0); r < std::min<int64_t>(top + h, H); ++r)
      std::memcpy(dst + ((c * h + (r - top)) * w + (x0 - left)) * es,
                  src + ((c * H + r) * W + x0) * es, (size_t)(x1 - x0) * es);
  return y;
}

// Mirrors the last dimension of an (H, W) or (C, H, W) tensor of any dtype.
Tensor flip_lr(const Tensor& t) {
  int64_t C, H, W;
  planes_of("flip_lr", t, C, H, W);
  const Tensor x = t.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  const size_t es = dtype_size(t.dtype());
  const char* src = (const char*)x.raw();
  char* dst = (char*)y.raw();
  for (int64_t r = 0; r < C * H; ++r)
    for (int64_t j = 0; j < W; ++j)
      std::memcpy(dst + (r * W + j) * es, src + (r * W + W - 1 - j) * es, es);
  return y;
}

// The padding value of a target: 255 (ignore) for classes, 0 (no measurement) for depth.
double target_fill(const Tensor& target) {
  if (target.dtype() == DType::I64) return (double)kIgnoreLabel;
  if (target.dtype() == DType::F32) return 0.0;
  throw Error(std::string("dense transform: a target must be I64 (classes) or F32 (depth), got ") +
              dtype_name(target.dtype()) + " " + shape_str(target.shape()));
}

void check_pair(const Tensor& image, const Tensor& target) {
  if (!target.defined()) return;
  target_fill(target);
  int64_t C, H, W;
  planes_of("dense transform (target)", target, C, H, W);
  if (image.dim() != 3 || image.size(1) != H || image.size(2) != W)
    throw Error("dense transform: target " + shape_str(target.shape()) +
                " does not match image " + shape_str(image.shape()));
}

// img (3, H, W) in [0, 1], in place: PhotoMetricDistortion without the hue step.
void photometric(Tensor& img, Generator& g) {
  float* p = img.data<float>();
  const int64_t plane = img.size(1) * img.size(2);
  auto clamp_all = [&] {
    for (int64_t k = 0; k < 3 * plane; ++k) p[k] = std::clamp(p[k], 0.0f, 1.0f);
  };
  auto contrast = [&] {
    if (uniform(g) < 0.5) {
      const float a = (float)uniform(g, 0.5, 1.5);
      for (int64_t k = 0; k < 3 * plane; ++k) p[k] *= a;
      clamp_all();
    }
  };
  if (uniform(g) < 0.5) {  // brightness
    const float delta = (float)uniform(g, -32.0, 32.0) / 255.0f;
    for (int64_t k = 0; k < 3 * plane; ++k) p[k] += delta;
    clamp_all();
  }
  const bool contrast_first = uniform(g) < 0.5;
  if (contrast_first) contrast();
  if (uniform(g) < 0.5) {  // saturation: blend with the grey level
    const float a = (float)uniform(g, 0.5, 1.5);
    for (int64_t q = 0; q < plane; ++q) {
      const float grey = 0.299f * p[q] + 0.587f * p[plane + q] + 0.114f * p[2 * plane + q];
      for (int c = 0; c < 3; ++c) p[c * plane + q] = grey + a * (p[c * plane + q] - grey);
    }
    clamp_all();
  }
  if (!contrast_first) contrast();
}

Tensor maybe_normalize(const Tensor& img, const Normalization& norm) {
  return norm.mean.empty() ? img : normalize(img, norm.mean, norm.std);
}

void check_norm(const char* op, int64_t size, const Normalization& norm) {
  if (size < 1) throw Error(std::string(op) + ": size must be positive, got " + std::to_string(size));
  if (norm.mean.empty() != norm.std.empty())
    throw Error(std::string(op) + ": give both mean and std, or neither");
}

}  // namespace

// (H, W) / (C, H, W) -> (h, w) / (C, h, w)
Tensor resize_nearest(const Tensor& t, int64_t h, int64_t w) {
  int64_t C, H, W;
  planes_of("resize_nearest", t, C, H, W);
  if (h < 1 || w < 1)
    throw Error("resize_nearest: output size must be positive, got " + std::to_string(h) + "x" +
                std::to_string(w));
  // torch's nearest_idx: float scale, floorf, clamped to in - 1.
  auto index = [](int64_t in, int64_t out) {
    std::vector<int64_t> src((size_t)out);
    const float scale = (float)in / (float)out;
    for (int64_t d = 0; d < out; ++d)
      src[d] = std::min((int64_t)std::floor((float)d * scale), in - 1);
    return src;
  };
  const std::vector<int64_t> ys = index(H, h), xs = index(W, w);
  const Tensor x = t.contiguous();
  Tensor y = Tensor::empty(with_hw(t, h, w), t.dtype());
  const size_t es = dtype_size(t.dtype());
  const char* src = (const char*)x.raw();
  char* dst = (char*)y.raw();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = 0; r < h; ++r)
      for (int64_t j = 0; j < w; ++j)
        std::memcpy(dst + ((c * h + r) * w + j) * es, src + ((c * H + ys[r]) * W + xs[j]) * es, es);
  return y;
}

PairTransform dense_train_transform(int64_t size, const Normalization& norm,
                                    const DenseAugment& aug) {
  check_norm("dense_train_transform", size, norm);
  if (aug.crop < 0) throw Error("dense_train_transform: crop must be >= 0, got " + std::to_string(aug.crop));
  if (!(aug.scale_min > 0) || aug.scale_max < aug.scale_min)
    throw Error("dense_train_transform: need 0 < scale_min <= scale_max, got " +
                std::to_string(aug.scale_min) + " and " + std::to_string(aug.scale_max));
  const int64_t crop = aug.crop > 0 ? aug.crop : size;
  return [size, norm, aug, crop](Tensor& image, Tensor& target, Generator& g) {
    Tensor img = gray_to_rgb(image).to(DType::F32);
    check_pair(img, target);
    // Random rescale: the short side becomes size · s.
    const double s = uniform(g, aug.scale_min, aug.scale_max);
    const int64_t H = img.size(1), W = img.size(2);
    const double f = (double)size * s / (double)std::min(H, W);
    const int64_t h = std::max<int64_t>(1, (int64_t)std::llround(H * f));
    const int64_t w = std::max<int64_t>(1, (int64_t)std::llround(W * f));
    img = resize(img, h, w, "bilinear");
    if (target.defined()) target = resize_nearest(target, h, w);
    // Random crop: a crop x crop window, clipped to the image along a shorter side.
    const int64_t top = h > crop ? std::min<int64_t>((int64_t)(uniform(g) * (h - crop + 1)), h - crop) : 0;
    const int64_t left = w > crop ? std::min<int64_t>((int64_t)(uniform(g) * (w - crop + 1)), w - crop) : 0;
    const int64_t ch = std::min(crop, h), cw = std::min(crop, w);
    img = crop_or_pad(img, top, left, ch, cw, 0.0);
    if (target.defined()) target = crop_or_pad(target, top, left, ch, cw, 0.0);
    if (aug.flip && uniform(g) < 0.5) {
      img = flip_lr(img);
      if (target.defined()) target = flip_lr(target);
    }
    if (aug.photometric) photometric(img, g);  // img is a fresh F32 tensor (crop_or_pad)
    // Normalize, then pad to crop x crop at the bottom / right (mmseg's Pad comes after its
    // Normalize: padded image pixels are 0 in normalised units).
    img = crop_or_pad(maybe_normalize(img, norm), 0, 0, crop, crop, 0.0);
    if (target.defined()) target = crop_or_pad(target, 0, 0, crop, crop, target_fill(target));
    image = img;
  };
}

PairTransform dense_eval_transform(int64_t size, const Normalization& norm) {
  check_norm("dense_eval_transform", size, norm);
  return [size, norm](Tensor& image, Tensor& target, Generator&) {
    Tensor img = gray_to_rgb(image);
    check_pair(img, target);
    img = resize(img, size, size, "bilinear");
    if (target.defined()) target = resize_nearest(target, size, size);
    image = maybe_normalize(img, norm);
  };
}

}  // namespace vt::data
