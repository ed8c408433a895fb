// transforms.h — image transforms on (C, H, W) F32 tensors, matching torchvision 0.14's
// transforms.functional on tensors (antialias=False), and the train/eval presets.
//
// Randomness comes from a vt::Generator (engine/random.h, Philox): the loader gives every
// example its own generator, derived from (seed, epoch, index) by example_generator, so an
// example's augmentation does not depend on which thread ran it or on what ran before.
// Images are plain data here: nothing records autograd history.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace vt::data {

// ---- deterministic transforms (torchvision.transforms.functional) ----
// img: (C, H, W) -> (C, h, w); mode "bilinear" or "bicubic", align_corners=False, no antialias
// (bicubic overshoots [0, 1] as torch's does; it is not clamped for float images).
Tensor resize(const Tensor& img, int64_t h, int64_t w, const std::string& mode = "bilinear");
// img: (C, H, W) -> (C, h, w), the window at (top, left); it must lie inside the image.
Tensor crop(const Tensor& img, int64_t top, int64_t left, int64_t h, int64_t w);
// img: (C, H, W) -> (C, h, w), centred (offsets rounded half to even, as Python's round); a
// crop larger than the image pads with zeros first, as torchvision does.
Tensor center_crop(const Tensor& img, int64_t h, int64_t w);
// img: (C, H, W) -> (C, H, W) mirrored left-right.
Tensor hflip(const Tensor& img);
// (img[c] - mean[c]) / std[c]; mean and std have C entries or 1 (shared by every channel).
Tensor normalize(const Tensor& img, const std::vector<double>& mean, const std::vector<double>& std);
// (1, H, W) -> (3, H, W) (copies the plane); a 3-channel image is returned unchanged.
Tensor gray_to_rgb(const Tensor& img);

// ---- random transforms ----
struct CropBox {
  int64_t top, left, h, w;
  int64_t operator[](int i) const { return i == 0 ? top : i == 1 ? left : i == 2 ? h : w; }
  bool operator==(const CropBox& o) const {
    return top == o.top && left == o.left && h == o.h && w == o.w;
  }
};
// torchvision's RandomResizedCrop.get_params for an H x W image: up to 10 tries of an area
// fraction in `scale` and a log-uniform aspect ratio (w/h) in `ratio`, then the centre fallback.
CropBox random_resized_crop_box(int64_t H, int64_t W, std::pair<double, double> scale,
                                std::pair<double, double> ratio, Generator& gen);
CropBox random_resized_crop_box(int64_t H, int64_t W, Generator& gen);  // (0.08, 1), (3/4, 4/3)
// img: (C, H, W) -> (C, h, w): a random box (above) resized bilinearly to h x w.
Tensor random_resized_crop(const Tensor& img, int64_t h, int64_t w,
                           std::pair<double, double> scale, std::pair<double, double> ratio,
                           Generator& gen);
Tensor random_resized_crop(const Tensor& img, int64_t h, int64_t w, Generator& gen);  // (0.08, 1), (3/4, 4/3)
// Mirrors with probability p.
Tensor random_hflip(const Tensor& img, double p, Generator& gen);

// One uniform draw in [lo, hi) from gen (claims one Philox counter).
double uniform(Generator& gen, double lo = 0.0, double hi = 1.0);
// The generator for example `index` in `epoch` of a run seeded with `seed`.
Generator example_generator(uint64_t seed, uint64_t epoch, uint64_t index);

// ---- pipelines ----
using Transform = std::function<Tensor(Tensor, Generator&)>;
// A transform of an image and its dense target together (crops and flips must agree).
using PairTransform = std::function<void(Tensor& image, Tensor& target, Generator&)>;
// A transform of a whole example (image and instances: tasks/instance/instance_transforms.h).
// A struct, not a bare std::function, so that DataLoader's constructors never compete for a lambda.
struct Example;
struct ExampleTransform {
  std::function<void(Example&, Generator&)> fn;
};
Transform compose(std::vector<Transform> steps);

struct Normalization { std::vector<double> mean, std; };  // empty: no normalisation
// "imagenet" (0.485,0.456,0.406 / 0.229,0.224,0.225), "inception" (0.5 / 0.5), "none".
Normalization normalization(const std::string& name);

// Both presets: 1-channel -> 3 channels, resize to size x size (`interp`, bicubic by default as
// the VTAB-1K recipes use), then for training with augment a random-resized crop back to
// size x size and a horizontal flip (p 0.5), then normalize (skipped for empty mean/std).
Transform train_transform(int64_t size, std::vector<double> mean, std::vector<double> std,
                          bool augment, const std::string& interp = "bicubic");
Transform eval_transform(int64_t size, std::vector<double> mean, std::vector<double> std,
                         const std::string& interp = "bicubic");

}  // namespace vt::data
