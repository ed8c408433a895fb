// dataset.cpp — the in-memory image data set and the views over a data set (subset, class
// selection, stratified sampling).
#include "tasks/data/dataset.h"

#include <algorithm>

#include "engine/random.h"

namespace vt::data {

// ---------------------------------------------------------------- ImageTensorDataset

ImageTensorDataset::ImageTensorDataset(Tensor u8_nchw, std::vector<int64_t> labels,
                                       int64_t classes, std::string desc)
    : labels_(std::move(labels)), classes_(classes), desc_(std::move(desc)) {
  if (!u8_nchw.defined() || u8_nchw.dtype() != DType::U8 || u8_nchw.dim() != 4)
    throw Error("ImageTensorDataset(" + desc_ + "): images must be (N, C, H, W) U8, got " +
                (u8_nchw.defined() ? std::string(dtype_name(u8_nchw.dtype())) + " " +
                                         shape_str(u8_nchw.shape())
                                   : std::string("an undefined tensor")));
  if (u8_nchw.size(0) != (int64_t)labels_.size())
    throw Error("ImageTensorDataset(" + desc_ + "): " + std::to_string(u8_nchw.size(0)) +
                " images but " + std::to_string(labels_.size()) + " labels");
  if (classes_ < 1)
    throw Error("ImageTensorDataset(" + desc_ + "): classes must be >= 1, got " +
                std::to_string(classes_));
  for (size_t i = 0; i < labels_.size(); ++i)
    if (labels_[i] < 0 || labels_[i] >= classes_)
      throw Error("ImageTensorDataset(" + desc_ + "): label " + std::to_string(labels_[i]) +
                  " of example " + std::to_string(i) + " is out of range [0, " +
                  std::to_string(classes_) + ")");
  images_ = u8_nchw.contiguous();
}

void Dataset::check_index(int64_t i) const {
  if (i < 0 || i >= size())
    throw Error(describe() + ": index " + std::to_string(i) + " out of range [0, " +
                std::to_string(size()) + ")");
}

static void check_view_index(const char* what, const std::string& desc, int64_t i, int64_t n) {
  if (i < 0 || i >= n)
    throw Error(std::string(what) + "(" + desc + "): index " + std::to_string(i) +
                " out of range [0, " + std::to_string(n) + ")");
}

// images_[i]: (C, H, W) U8 -> (C, H, W) F32 in [0, 1]
Example ImageTensorDataset::get(int64_t i) const {
  check_view_index("ImageTensorDataset::get", desc_, i, size());
  const Shape chw{images_.size(1), images_.size(2), images_.size(3)};
  const int64_t n = shape_numel(chw);
  const uint8_t* src = images_.data<uint8_t>() + i * n;
  Tensor img = Tensor::empty(chw, DType::F32);
  float* dst = img.data<float>();
  for (int64_t k = 0; k < n; ++k) dst[k] = (float)src[k] / 255.0f;
  return {img, labels_[i], Tensor()};
}

int64_t ImageTensorDataset::label(int64_t i) const {
  check_view_index("ImageTensorDataset::label", desc_, i, size());
  return labels_[i];
}

// ---------------------------------------------------------------- views

namespace {

// The examples of `base` at `indices`, with labels passed through `relabel` (identity if empty).
class IndexedView : public Dataset {
 public:
  IndexedView(DatasetPtr base, std::vector<int64_t> indices, std::vector<int64_t> relabel,
              int64_t classes, std::string desc)
      : base_(std::move(base)), idx_(std::move(indices)), relabel_(std::move(relabel)),
        classes_(classes), desc_(std::move(desc)) {}
  int64_t size() const override { return (int64_t)idx_.size(); }
  Example get(int64_t i) const override {
    check_view_index("Dataset::get", desc_, i, size());
    Example e = base_->get(idx_[i]);
    e.label = map(e.label);
    return e;
  }
  int64_t label(int64_t i) const override {
    check_view_index("Dataset::label", desc_, i, size());
    return map(base_->label(idx_[i]));
  }
  int64_t num_classes() const override { return classes_; }
  std::string describe() const override { return desc_; }

 private:
  int64_t map(int64_t l) const { return relabel_.empty() ? l : relabel_[l]; }
  DatasetPtr base_;
  std::vector<int64_t> idx_, relabel_;
  int64_t classes_;
  std::string desc_;
};

void check_base(const char* op, const DatasetPtr& d) {
  if (!d) throw Error(std::string(op) + ": the data set is null");
}

}  // namespace

DatasetPtr subset(DatasetPtr d, std::vector<int64_t> indices) {
  check_base("subset", d);
  for (int64_t i : indices) check_view_index("subset", d->describe(), i, d->size());
  std::string desc = d->describe() + " [subset of " + std::to_string(indices.size()) + "]";
  const int64_t classes = d->num_classes();
  return std::make_shared<IndexedView>(d, std::move(indices), std::vector<int64_t>{}, classes,
                                       std::move(desc));
}

DatasetPtr select_classes(DatasetPtr d, const std::vector<int64_t>& classes) {
  check_base("select_classes", d);
  if (classes.empty()) throw Error("select_classes(" + d->describe() + "): no classes given");
  std::vector<int64_t> relabel(d->num_classes(), -1);
  std::string list;
  for (size_t k = 0; k < classes.size(); ++k) {
    const int64_t c = classes[k];
    if (c < 0 || c >= d->num_classes())
      throw Error("select_classes(" + d->describe() + "): class " + std::to_string(c) +
                  " out of range [0, " + std::to_string(d->num_classes()) + ")");
    if (relabel[c] >= 0)
      throw Error("select_classes(" + d->describe() + "): class " + std::to_string(c) +
                  " is listed twice");
    relabel[c] = (int64_t)k;
    list += (k ? "," : "") + std::to_string(c);
  }
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < d->size(); ++i)
    if (relabel.at(d->label(i)) >= 0) keep.push_back(i);
  std::string desc = d->describe() + " [classes " + list + "]";
  return std::make_shared<IndexedView>(d, std::move(keep), std::move(relabel),
                                       (int64_t)classes.size(), std::move(desc));
}

std::vector<int64_t> class_counts(const Dataset& d) {
  std::vector<int64_t> counts(d.num_classes(), 0);
  for (int64_t i = 0; i < d.size(); ++i) counts.at(d.label(i))++;
  return counts;
}

DatasetPtr sample_per_class(DatasetPtr d, int64_t n_total, uint64_t seed) {
  check_base("sample_per_class", d);
  if (n_total < 1)
    throw Error("sample_per_class(" + d->describe() + "): n_total must be >= 1, got " +
                std::to_string(n_total));
  const int64_t C = d->num_classes();
  // Each class's examples in a seeded random order (class c shuffled with its own generator,
  // so the order of one class does not depend on the sizes of the others).
  std::vector<std::vector<int64_t>> members(C);
  for (int64_t i = 0; i < d->size(); ++i) members[d->label(i)].push_back(i);
  for (int64_t c = 0; c < C; ++c) {
    Generator g(seed * 0x9E3779B97F4A7C15ull + (uint64_t)c);
    Tensor perm = randperm((int64_t)members[c].size(), Device::cpu(), &g);
    std::vector<int64_t> shuffled(members[c].size());
    for (size_t k = 0; k < shuffled.size(); ++k) shuffled[k] = members[c][perm.data<int64_t>()[k]];
    members[c] = std::move(shuffled);
  }
  // Quotas by water-filling: share what is left equally among the classes that still have
  // examples; a remainder smaller than the number of such classes goes to the first ones in a
  // seeded class order.
  Generator gc(seed ^ 0xC1A55E5ull);
  Tensor class_order = randperm(C, Device::cpu(), &gc);
  std::vector<int64_t> take(C, 0);
  int64_t left = std::min<int64_t>(n_total, d->size());
  while (left > 0) {
    std::vector<int64_t> open;
    for (int64_t k = 0; k < C; ++k) {
      const int64_t c = class_order.data<int64_t>()[k];
      if (take[c] < (int64_t)members[c].size()) open.push_back(c);
    }
    const int64_t share = left / (int64_t)open.size();
    if (share == 0) {
      for (int64_t k = 0; k < left; ++k) take[open[k]]++;
      break;
    }
    for (int64_t c : open) {
      const int64_t t = std::min<int64_t>(share, (int64_t)members[c].size() - take[c]);
      take[c] += t;
      left -= t;
    }
  }
  std::vector<int64_t> keep;
  for (int64_t c = 0; c < C; ++c)
    keep.insert(keep.end(), members[c].begin(), members[c].begin() + take[c]);
  std::sort(keep.begin(), keep.end());
  std::string desc = d->describe() + " [" + std::to_string(keep.size()) +
                     " sampled per class, seed " + std::to_string(seed) + "]";
  const int64_t classes = d->num_classes();
  return std::make_shared<IndexedView>(d, std::move(keep), std::vector<int64_t>{}, classes,
                                       std::move(desc));
}

}  // namespace vt::data
