// instance_transforms.cpp — the training (large-scale jitter) and evaluation transforms of
// instance_transforms.h. The image is resampled with data::resize (the engine's interpolate), the
// masks with data::resize_nearest (tasks/dense/dense_transforms.h); crops, flips and padding of
// the masks are byte copies. Every random draw comes from the example's generator.
#include "tasks/instance/instance_transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tasks/data/dataset.h"
#include "tasks/dense/dense_transforms.h"

namespace vt::instance {

using data::Example;
using data::Instances;

namespace {

constexpr double kMaxResizedSide = 16384;  // size · scale_max: the largest side a resize makes

// Throws unless `ins` describes M objects of an H×W image with the dtypes of data::Instances,
// on the CPU.
void check_instances(const char* op, const Instances& ins, int64_t H, int64_t W) {
  const int64_t M = ins.labels.numel();
  auto bad = [&](const std::string& what) {
    return Error(std::string(op) + ": the example's instances do not fit its (3, " + std::to_string(H) +
                 ", " + std::to_string(W) + ") image: " + what);
  };
  auto check = [&](const char* name, const Tensor& t, DType dt, const Shape& shape) {
    if (!t.defined() || t.dtype() != dt || t.shape() != shape || t.device() != Device::cpu())
      throw bad(std::string(name) + " must be " + dtype_name(dt) + " " + shape_str(shape) +
                " on the CPU, got " +
                (t.defined() ? std::string(dtype_name(t.dtype())) + " " + shape_str(t.shape())
                             : std::string("an undefined tensor")));
  };
  check("labels", ins.labels, DType::I64, {M});
  check("boxes", ins.boxes, DType::F32, {M, 4});
  check("masks", ins.masks, DType::U8, {M, H, W});
  check("crowd", ins.crowd, DType::U8, {M});
  check("area", ins.area, DType::F32, {M});
}

void check_args(const char* op, int64_t size, const data::Normalization& norm) {
  if (size < 1 || size > (int64_t)kMaxResizedSide)
    throw Error(std::string(op) + ": size must be in [1, 16384], got " + std::to_string(size));
  if (norm.mean.empty() != norm.std.empty())
    throw Error(std::string(op) + ": give both mean and std, or neither");
}

// (C, h, w) of any dtype, h, w <= size -> (C, size, size), zeros at the bottom and right.
Tensor pad_to(const Tensor& t, int64_t size) {
  const Tensor x = t.contiguous();
  const int64_t C = x.size(0), h = x.size(1), w = x.size(2);
  Tensor y = Tensor::zeros({C, size, size}, x.dtype());
  const size_t es = dtype_size(x.dtype());
  const char* src = (const char*)x.raw();
  char* dst = (char*)y.raw();
  for (int64_t r = 0; r < C * h; ++r)
    std::memcpy(dst + ((r / h * size) + r % h) * size * es, src + r * w * es, (size_t)w * es);
  return y;
}

// (M, H, W) U8 mirrored left-right.
Tensor flip_masks(const Tensor& m) {
  const Tensor x = m.contiguous();
  Tensor y = Tensor::empty(x.shape(), DType::U8);
  const int64_t rows = x.size(0) * x.size(1), W = x.size(2);
  const uint8_t* src = x.data<uint8_t>();
  uint8_t* dst = y.data<uint8_t>();
  for (int64_t r = 0; r < rows; ++r)
    std::reverse_copy(src + r * W, src + (r + 1) * W, dst + r * W);
  return y;
}

Tensor normalized(const Tensor& img, const data::Normalization& norm) {
  return norm.mean.empty() ? img : data::normalize(img, norm.mean, norm.std);
}

// The image as (3, H, W) F32, and its instances checked against it.
Tensor rgb_image(const char* op, const Example& e) {
  if (!e.image.defined()) throw Error(std::string(op) + ": the example has no image");
  Tensor img = data::gray_to_rgb(e.image).to(DType::F32);
  if (e.instances.defined()) check_instances(op, e.instances, img.size(1), img.size(2));
  return img;
}

// The side `n · r` rounded, at least 1.
int64_t scaled(int64_t n, double r) {
  return std::max<int64_t>(1, (int64_t)std::llround((double)n * r));
}

// A uniform offset in [0, n - size] where n > size, else 0.
int64_t offset(int64_t n, int64_t size, Generator& g) {
  if (n <= size) return 0;
  return std::min<int64_t>((int64_t)(data::uniform(g) * (double)(n - size + 1)), n - size);
}

}  // namespace

data::ExampleTransform instance_train_transform(int64_t size, const data::Normalization& norm,
                                                const InstanceAugment& aug) {
  const char* op = "instance_train_transform";
  check_args(op, size, norm);
  if (!(aug.scale_min > 0) || !(aug.scale_max >= aug.scale_min) ||
      !((double)size * aug.scale_max <= kMaxResizedSide))
    throw Error(std::string(op) +
                ": need 0 < scale_min <= scale_max and size · scale_max <= 16384, got " +
                std::to_string(aug.scale_min) + " and " + std::to_string(aug.scale_max));
  if (!(aug.flip_p >= 0 && aug.flip_p <= 1))
    throw Error(std::string(op) + ": flip_p must be in [0, 1], got " + std::to_string(aug.flip_p));
  return {[size, norm, aug, op](Example& e, Generator& g) {
    Tensor img = rgb_image(op, e);
    Instances& ins = e.instances;
    const bool objects = ins.defined();
    const int64_t H = img.size(1), W = img.size(2);
    // Resize: the long side becomes size · s.
    const double s = data::uniform(g, aug.scale_min, aug.scale_max);
    const double r = (double)size * s / (double)std::max(H, W);
    const int64_t h = scaled(H, r), w = scaled(W, r);
    const double sx = (double)w / (double)W, sy = (double)h / (double)H;
    img = data::resize(img, h, w, "bilinear");
    Tensor masks = objects ? data::resize_nearest(ins.masks, h, w) : Tensor();
    // Crop: a size × size window, where a side is longer.
    const int64_t top = offset(h, size, g);
    const int64_t left = offset(w, size, g);
    const int64_t ch = std::min(h, size), cw = std::min(w, size);
    img = data::crop(img, top, left, ch, cw);
    if (objects) masks = masks.narrow(1, top, ch).narrow(2, left, cw).contiguous();
    const bool flip = data::uniform(g) < aug.flip_p;
    if (flip) {
      img = data::hflip(img);
      if (objects) masks = flip_masks(masks);
    }
    e.image = pad_to(normalized(img, norm), size);
    if (!objects) return;
    // Boxes: scaled, shifted, clipped to the crop, mirrored; then the objects worth training on.
    const int64_t M = ins.size(), plane = ch * cw;
    const Tensor boxes_in = ins.boxes.contiguous(), crowd_in = ins.crowd.contiguous();
    const Tensor labels_in = ins.labels.contiguous(), area_in = ins.area.contiguous();
    std::vector<float> boxes;
    std::vector<int64_t> keep;
    for (int64_t k = 0; k < M; ++k) {
      const float* b = boxes_in.data<float>() + 4 * k;
      double x1 = std::clamp(b[0] * sx - (double)left, 0.0, (double)cw);
      double x2 = std::clamp(b[2] * sx - (double)left, 0.0, (double)cw);
      const double y1 = std::clamp(b[1] * sy - (double)top, 0.0, (double)ch);
      const double y2 = std::clamp(b[3] * sy - (double)top, 0.0, (double)ch);
      if (flip) {
        const double mirrored_x1 = (double)cw - x2;
        x2 = (double)cw - x1, x1 = mirrored_x1;
      }
      const uint8_t* m = masks.data<uint8_t>() + k * plane;
      if (crowd_in.data<uint8_t>()[k] || !(x2 - x1 >= 1) || !(y2 - y1 >= 1) ||  // (NaN too)
          std::find_if(m, m + plane, [](uint8_t v) { return v != 0; }) == m + plane)
        continue;
      keep.push_back(k);
      for (double v : {x1, y1, x2, y2}) boxes.push_back((float)v);
    }
    const int64_t K = (int64_t)keep.size();
    Instances out;
    out.boxes = Tensor::from_vector(boxes, {K, 4});
    out.labels = Tensor::empty({K}, DType::I64);
    out.masks = Tensor::empty({K, ch, cw}, DType::U8);
    out.crowd = Tensor::zeros({K}, DType::U8);
    out.area = Tensor::empty({K}, DType::F32);
    for (int64_t j = 0; j < K; ++j) {
      out.labels.data<int64_t>()[j] = labels_in.data<int64_t>()[keep[j]];
      out.area.data<float>()[j] = (float)(area_in.data<float>()[keep[j]] * sx * sy);
      std::memcpy(out.masks.data<uint8_t>() + j * plane, masks.data<uint8_t>() + keep[j] * plane,
                  (size_t)plane);
    }
    out.masks = pad_to(out.masks, size);
    out.image_id = ins.image_id;
    out.scale = ins.scale;
    ins = out;
  }};
}

data::ExampleTransform instance_eval_transform(int64_t size, const data::Normalization& norm) {
  const char* op = "instance_eval_transform";
  check_args(op, size, norm);
  return {[size, norm, op](Example& e, Generator&) {
    Tensor img = rgb_image(op, e);
    const int64_t H = img.size(1), W = img.size(2);
    const double r = (double)size / (double)std::max(H, W);
    img = data::resize(img, scaled(H, r), scaled(W, r), "bilinear");
    e.image = pad_to(normalized(img, norm), size);
    e.instances.scale *= r;
  }};
}

}  // namespace vt::instance
