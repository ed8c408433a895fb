// dataset.h — what a data set is for the trainer: N examples of (image, label), read on demand.
//
// A Dataset hands out one Example at a time; the DataLoader (loader.h) calls get() from worker
// threads, so get() must be thread-safe (the readers only read immutable state). Images come out
// as (C, H, W) F32 in [0, 1], not normalised: normalisation is a transform (transforms.h).
// Views over a data set (subset, select_classes, sample_per_class) wrap it without copying.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace vt::data {

// The objects of one image, for instance segmentation (tasks/instance). M = labels.numel();
// an image without annotations has M = 0 (tensors of that size), a non-instance example none
// (labels undefined).
struct Instances {
  Tensor boxes;   // (M, 4) F32, (x1, y1, x2, y2) in the image's pixels
  Tensor labels;  // (M) I64, classes 1..K (0 is background)
  Tensor masks;   // (M, H, W) U8, 1 inside the object
  Tensor crowd;   // (M) U8, 1: a crowd region (COCO's iscrowd: not trained on, ignored in AP)
  Tensor area;    // (M) F32, the object's area as annotated (the AP's size ranges use it)
  int64_t image_id = -1;  // the data set's id (COCO's image id), for reports
  // Pixels of the (transformed) image per pixel of these annotations: 1 when they were
  // transformed with the image; the evaluation transform leaves them at the original size
  // (AP is measured there) and records the image's resize factor here.
  double scale = 1.0;
  bool defined() const { return labels.defined(); }
  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
};

struct Example {
  Tensor image;        // (C, H, W) F32 in [0, 1]
  int64_t label = -1;  // in [0, num_classes); -1 for dense examples
  Tensor target;       // dense tasks only (tasks/dense): (H, W) I64 classes or (1, H, W) F32 depth
  Instances instances;  // instance segmentation only
};

struct Dataset {
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Example get(int64_t i) const = 0;  // thread-safe
  virtual int64_t num_classes() const = 0;
  virtual std::string describe() const = 0;  // e.g. "cifar100:/path (train, 50000 images)"
  // The label alone, without decoding the image (the views below scan every label). The
  // default decodes; the readers override it with a lookup.
  virtual int64_t label(int64_t i) const { return get(i).label; }
  // Throws vt::Error "<describe()>: index i out of range [0, size())" unless 0 <= i < size().
  void check_index(int64_t i) const;
};
using DatasetPtr = std::shared_ptr<const Dataset>;

// In-memory images + labels: what the binary readers (CIFAR, Fashion-MNIST) produce.
// images: (N, C, H, W) U8; labels: N values in [0, classes).
class ImageTensorDataset : public Dataset {
 public:
  ImageTensorDataset(Tensor u8_nchw, std::vector<int64_t> labels, int64_t classes,
                     std::string desc);
  int64_t size() const override { return (int64_t)labels_.size(); }
  Example get(int64_t i) const override;  // (C, H, W) F32 = byte / 255
  int64_t num_classes() const override { return classes_; }
  std::string describe() const override { return desc_; }
  int64_t label(int64_t i) const override;

 private:
  Tensor images_;  // (N, C, H, W) U8, contiguous
  std::vector<int64_t> labels_;
  int64_t classes_;
  std::string desc_;
};

// The examples at `indices` (in that order; repeats allowed). Throws on an index out of range.
DatasetPtr subset(DatasetPtr d, std::vector<int64_t> indices);
// Keeps only examples whose label is in `classes`, relabelled to their position in `classes`
// (so num_classes() == classes.size()). Throws on a class out of range or listed twice.
DatasetPtr select_classes(DatasetPtr d, const std::vector<int64_t>& classes);
// n_total examples, stratified: each class gets n_total / C (the remainder goes to classes
// picked by the seed), a class with too few examples gives all it has and the rest is shared
// among the others. Which examples of a class are taken is a seeded shuffle. The result keeps
// the original order of the examples. n_total >= size() gives every example.
DatasetPtr sample_per_class(DatasetPtr d, int64_t n_total, uint64_t seed);

// Examples per class (length num_classes()), from label(): for reports and tests.
std::vector<int64_t> class_counts(const Dataset& d);

}  // namespace vt::data
