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

struct Example {
  Tensor image;        // (C, H, W) F32 in [0, 1]
  int64_t label = -1;  // in [0, num_classes); -1 for dense examples
  Tensor target;       // dense tasks only (tasks/dense): (H, W) I64 classes or (1, H, W) F32 depth
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
