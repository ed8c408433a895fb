// transforms.cpp — image transforms (torchvision.transforms.functional on tensors) and the
// train/eval pipelines. Resampling reuses the engine's interpolate op (F.interpolate semantics);
// the rest are short loops over (C, H, W) images.
#include "tasks/data/transforms.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/philox.h"

namespace vt::data {

namespace {

void check_chw(const char* op, const Tensor& img) {
  if (!img.defined() || img.dim() != 3 || !is_floating(img.dtype()))
    throw Error(std::string(op) + ": expected a (C, H, W) floating image, got " +
                (img.defined() ? std::string(dtype_name(img.dtype())) + " " +
                                     shape_str(img.shape())
                               : std::string("an undefined tensor")));
}

void check_size(const char* op, int64_t h, int64_t w) {
  if (h < 1 || w < 1)
    throw Error(std::string(op) + ": output size must be positive, got " + std::to_string(h) +
                "x" + std::to_string(w));
}

// splitmix64's finaliser: a bijection that scatters nearby inputs far apart.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Integer uniform in [lo, hi] (inclusive), as torch.randint(lo, hi + 1).
int64_t uniform_int(Generator& gen, int64_t lo, int64_t hi) {
  const int64_t k = (int64_t)std::floor(uniform(gen) * (double)(hi - lo + 1));
  return lo + std::min(k, hi - lo);
}

}  // namespace

double uniform(Generator& gen, double lo, double hi) {
  return lo + (hi - lo) * philox_uniform(gen.seed, gen.reserve(1));
}

Generator example_generator(uint64_t seed, uint64_t epoch, uint64_t index) {
  return Generator(mix(mix(mix(seed) ^ epoch) ^ index));
}

// ---------------------------------------------------------------- deterministic

// img: (C, H, W) -> (C, h, w)
Tensor resize(const Tensor& img, int64_t h, int64_t w, const std::string& mode) {
  check_chw("resize", img);
  check_size("resize", h, w);
  if (img.size(1) == h && img.size(2) == w) return img;  // both modes are exact at scale 1
  NoGrad ng;
  return interpolate(img.unsqueeze(0), {h, w}, mode, false).squeeze(0);
}

// img: (C, H, W) -> (C, h, w)
Tensor crop(const Tensor& img, int64_t top, int64_t left, int64_t h, int64_t w) {
  check_chw("crop", img);
  check_size("crop", h, w);
  if (top < 0 || left < 0 || top + h > img.size(1) || left + w > img.size(2))
    throw Error("crop: window " + std::to_string(h) + "x" + std::to_string(w) + " at (" +
                std::to_string(top) + ", " + std::to_string(left) + ") does not fit in image " +
                shape_str(img.shape()));
  NoGrad ng;
  return img.narrow(1, top, h).narrow(2, left, w).contiguous();
}

// img: (C, H, W) -> (C, h, w)
Tensor center_crop(const Tensor& img, int64_t h, int64_t w) {
  check_chw("center_crop", img);
  check_size("center_crop", h, w);
  Tensor x = img;
  int64_t H = img.size(1), W = img.size(2);
  if (h > H || w > W) {  // pad with zeros: left/top get the smaller half
    const int64_t pw = std::max<int64_t>(w - W, 0), ph = std::max<int64_t>(h - H, 0);
    NoGrad ng;
    x = pad(img, {pw / 2, (pw + 1) / 2, ph / 2, (ph + 1) / 2}, 0.0);
    H = x.size(1), W = x.size(2);
    if (H == h && W == w) return x;
  }
  // int(round((H - h) / 2.0)): nearbyint rounds half to even, like Python's round.
  const int64_t top = (int64_t)std::nearbyint((double)(H - h) / 2.0);
  const int64_t left = (int64_t)std::nearbyint((double)(W - w) / 2.0);
  return crop(x, top, left, h, w);
}

// img: (C, H, W) -> (C, H, W), column j from column W-1-j
Tensor hflip(const Tensor& img) {
  check_chw("hflip", img);
  const Tensor x = img.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  const int64_t rows = x.size(0) * x.size(1), W = x.size(2);
  dispatch_float(x.dtype(), "hflip", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = x.data<T>();
    T* dst = y.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < W; ++j) dst[r * W + j] = src[r * W + (W - 1 - j)];
  });
  return y;
}

// img: (C, H, W) -> (C, H, W)
Tensor normalize(const Tensor& img, const std::vector<double>& mean,
                 const std::vector<double>& std) {
  check_chw("normalize", img);
  const int64_t C = img.size(0);
  auto ok = [&](const std::vector<double>& v) { return v.size() == 1 || (int64_t)v.size() == C; };
  if (!ok(mean) || !ok(std))
    throw Error("normalize: mean and std need 1 or " + std::to_string(C) + " values for image " +
                shape_str(img.shape()) + ", got " + std::to_string(mean.size()) + " and " +
                std::to_string(std.size()));
  for (double s : std)
    if (s == 0.0) throw Error("normalize: std contains a zero, leading to division by zero");
  const Tensor x = img.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  const int64_t plane = x.size(1) * x.size(2);
  dispatch_float(x.dtype(), "normalize", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t c = 0; c < C; ++c) {
      const T m = (T)mean[mean.size() == 1 ? 0 : c], s = (T)std[std.size() == 1 ? 0 : c];
      const T* src = x.data<T>() + c * plane;
      T* dst = y.data<T>() + c * plane;
      for (int64_t p = 0; p < plane; ++p) dst[p] = (src[p] - m) / s;  // torchvision: sub, div
    }
  });
  return y;
}

// (1, H, W) -> (3, H, W)
Tensor gray_to_rgb(const Tensor& img) {
  check_chw("gray_to_rgb", img);
  if (img.size(0) == 3) return img;
  if (img.size(0) != 1)
    throw Error("gray_to_rgb: expected 1 or 3 channels, got image " + shape_str(img.shape()));
  NoGrad ng;
  return img.expand({3, img.size(1), img.size(2)}).contiguous();
}

// ---------------------------------------------------------------- random

CropBox random_resized_crop_box(int64_t H, int64_t W, std::pair<double, double> scale,
                                std::pair<double, double> ratio, Generator& gen) {
  if (H < 1 || W < 1) throw Error("random_resized_crop: empty image " + std::to_string(H) + "x" + std::to_string(W));
  if (!(scale.first <= scale.second) || !(ratio.first <= ratio.second) || scale.first < 0 ||
      ratio.first <= 0)
    throw Error("random_resized_crop: need 0 <= scale.lo <= scale.hi and 0 < ratio.lo <= "
                "ratio.hi, got scale (" + std::to_string(scale.first) + ", " +
                std::to_string(scale.second) + ") ratio (" + std::to_string(ratio.first) + ", " +
                std::to_string(ratio.second) + ")");
  const double area = (double)H * (double)W;
  const double log_lo = std::log(ratio.first), log_hi = std::log(ratio.second);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * uniform(gen, scale.first, scale.second);
    const double aspect = std::exp(uniform(gen, log_lo, log_hi));
    const int64_t w = (int64_t)std::nearbyint(std::sqrt(target_area * aspect));
    const int64_t h = (int64_t)std::nearbyint(std::sqrt(target_area / aspect));
    if (0 < w && w <= W && 0 < h && h <= H) {
      const int64_t top = uniform_int(gen, 0, H - h);
      const int64_t left = uniform_int(gen, 0, W - w);
      return {top, left, h, w};
    }
  }
  // Fallback: the largest centred box whose ratio is clamped into range.
  const double in_ratio = (double)W / (double)H;
  int64_t w = W, h = H;
  if (in_ratio < ratio.first) h = (int64_t)std::nearbyint((double)w / ratio.first);
  else if (in_ratio > ratio.second) w = (int64_t)std::nearbyint((double)h * ratio.second);
  return {(H - h) / 2, (W - w) / 2, h, w};
}

CropBox random_resized_crop_box(int64_t H, int64_t W, Generator& gen) {
  return random_resized_crop_box(H, W, {0.08, 1.0}, {3.0 / 4.0, 4.0 / 3.0}, gen);
}

// img: (C, H, W) -> (C, h, w)
Tensor random_resized_crop(const Tensor& img, int64_t h, int64_t w,
                           std::pair<double, double> scale, std::pair<double, double> ratio,
                           Generator& gen) {
  check_chw("random_resized_crop", img);
  check_size("random_resized_crop", h, w);
  const CropBox b = random_resized_crop_box(img.size(1), img.size(2), scale, ratio, gen);
  return resize(crop(img, b.top, b.left, b.h, b.w), h, w, "bilinear");
}

Tensor random_resized_crop(const Tensor& img, int64_t h, int64_t w, Generator& gen) {
  return random_resized_crop(img, h, w, {0.08, 1.0}, {3.0 / 4.0, 4.0 / 3.0}, gen);
}

Tensor random_hflip(const Tensor& img, double p, Generator& gen) {
  return uniform(gen) < p ? hflip(img) : img;
}

// ---------------------------------------------------------------- pipelines

Transform compose(std::vector<Transform> steps) {
  return [steps = std::move(steps)](Tensor img, Generator& gen) {
    for (const Transform& t : steps) img = t(std::move(img), gen);
    return img;
  };
}

Normalization normalization(const std::string& name) {
  if (name == "imagenet") return {{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}};
  if (name == "inception") return {{0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}};
  if (name == "none") return {};
  throw Error("normalization: unknown preset '" + name + "' (known: imagenet, inception, none)");
}

static std::vector<Transform> common_steps(int64_t size, const std::string& interp) {
  check_size("transform preset", size, size);
  if (interp != "bilinear" && interp != "bicubic")
    throw Error("transform preset: unknown interpolation '" + interp +
                "' (expected bilinear or bicubic)");
  return {
      [](Tensor img, Generator&) { return gray_to_rgb(img); },
      [size, interp](Tensor img, Generator&) { return resize(img, size, size, interp); },
  };
}

static Transform normalize_step(std::vector<double> mean, std::vector<double> std) {
  if (mean.empty() != std.empty())
    throw Error("transform preset: give both mean and std, or neither");
  return [mean = std::move(mean), std = std::move(std)](Tensor img, Generator&) {
    return mean.empty() ? img : normalize(img, mean, std);
  };
}

Transform train_transform(int64_t size, std::vector<double> mean, std::vector<double> std,
                          bool augment, const std::string& interp) {
  std::vector<Transform> steps = common_steps(size, interp);
  if (augment) {
    steps.push_back([size](Tensor img, Generator& g) { return random_resized_crop(img, size, size, g); });
    steps.push_back([](Tensor img, Generator& g) { return random_hflip(img, 0.5, g); });
  }
  steps.push_back(normalize_step(std::move(mean), std::move(std)));
  return compose(std::move(steps));
}

Transform eval_transform(int64_t size, std::vector<double> mean, std::vector<double> std,
                         const std::string& interp) {
  std::vector<Transform> steps = common_steps(size, interp);
  steps.push_back(normalize_step(std::move(mean), std::move(std)));
  return compose(std::move(steps));
}

}  // namespace vt::data
