// read_ade20k.cpp — ADE20K scene parsing (ADEChallengeData2016) as mmseg reads it.
//
// ROOT/images/{training,validation}/NAME.jpg pairs with ROOT/annotations/{..}/NAME.png, an
// 8-bit single-channel mask where 0 is "other" and 1..150 are the classes. mmseg's
// reduce_zero_label maps 0 -> 255 (ignored) and k -> k-1, giving 150 classes in [0, 150).
// The listing and pairing are checked when the data set is opened; the files are decoded
// lazily in get() (tasks/data/image_file.h; thread-safe).
#include <algorithm>
#include <filesystem>

#include "tasks/data/image_file.h"
#include "tasks/data/readers.h"
#include "tasks/dense/dense_data.h"

namespace vt::data {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kAdeClasses = 150;

// f(), with a decoding error named as the reader's ("read_ade20k: cannot decode mask FILE: why").
template <typename F>
Tensor decoded(const char* what, const std::string& file, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(std::string("read_ade20k: cannot decode ") + what + " " + file + ": " + e.what());
  }
}

struct Pair {
  std::string image, mask;
};

class Ade20kDataset : public Dataset {
 public:
  Ade20kDataset(std::vector<Pair> pairs, std::string desc)
      : pairs_(std::move(pairs)), desc_(std::move(desc)) {}
  int64_t size() const override { return (int64_t)pairs_.size(); }
  int64_t num_classes() const override { return kAdeClasses; }
  std::string describe() const override { return desc_; }
  int64_t label(int64_t i) const override { at(i); return -1; }

  Example get(int64_t i) const override {
    const Pair& p = at(i);
    ImageInfo ii, mi;
    const Tensor img = decoded("image", p.image, [&] {
      const std::vector<uint8_t> px = load_image_u8(p.image, 3, &ii);  // (H, W, 3)
      return rgb_bytes_to_tensor(px.data(), ii.width, ii.height);      // (3, H, W)
    });
    const int64_t w = ii.width, h = ii.height, plane = h * w;
    decoded("mask", p.mask, [&] { mi = read_image_info(p.mask); return Tensor(); });
    if (mi.channels != 1 || mi.is16)
      throw Error("read_ade20k: mask " + p.mask + " has " + std::to_string(mi.channels) + " channel(s)" +
                  (mi.is16 ? " of 16 bits" : "") + ", expected an 8-bit single-channel PNG");
    if (mi.width != w || mi.height != h)
      throw Error("read_ade20k: mask " + p.mask + " is " + std::to_string(mi.width) + "x" +
                  std::to_string(mi.height) + " but its image " + p.image + " is " + std::to_string(w) +
                  "x" + std::to_string(h));
    std::vector<uint8_t> m;  // (H, W)
    decoded("mask", p.mask, [&] { m = load_image_u8(p.mask, 1, &mi); return Tensor(); });
    Tensor target = Tensor::empty({h, w}, DType::I64);  // (H, W)
    int64_t* t = target.data<int64_t>();
    for (int64_t q = 0; q < plane; ++q) {
      const int64_t v = m[q];
      if (v > kAdeClasses && v != kIgnoreLabel) {
        throw Error("read_ade20k: mask " + p.mask + " holds value " + std::to_string(v) +
                    " (expected 0..150)");
      }
      t[q] = v == 0 ? kIgnoreLabel : v == kIgnoreLabel ? kIgnoreLabel : v - 1;  // reduce_zero_label
    }
    Example e;
    e.image = img;
    e.target = target;
    return e;
  }

 private:
  const Pair& at(int64_t i) const {
    check_index(i);
    return pairs_[i];
  }
  std::vector<Pair> pairs_;
  std::string desc_;
};

}  // namespace

DatasetPtr read_ade20k(const std::string& root, bool train) {
  const std::string split = train ? "training" : "validation";
  const fs::path img_dir = fs::path(root) / "images" / split;
  const fs::path ann_dir = fs::path(root) / "annotations" / split;
  for (const fs::path& d : {img_dir, ann_dir})
    if (!fs::is_directory(d))
      throw Error("read_ade20k: no folder " + d.string() +
                  " (expected ROOT/images/{training,validation} and ROOT/annotations/...)");
  std::vector<fs::path> images;
  for (const auto& entry : fs::directory_iterator(img_dir)) {
    const fs::path& p = entry.path();
    if (entry.is_regular_file() && p.extension() == ".jpg") images.push_back(p);
  }
  std::sort(images.begin(), images.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  if (images.empty()) throw Error("read_ade20k: no .jpg image in " + img_dir.string());
  std::vector<Pair> pairs;
  pairs.reserve(images.size());
  for (const fs::path& p : images) {
    const fs::path mask = ann_dir / (p.stem().string() + ".png");
    if (!fs::is_regular_file(mask))
      throw Error("read_ade20k: image " + p.string() + " has no mask " + mask.string());
    pairs.push_back({p.string(), mask.string()});
  }
  const std::string desc = "ade20k:" + root + " (" + split + ", " +
                           std::to_string(pairs.size()) + " images, 150 classes)";
  return std::make_shared<Ade20kDataset>(std::move(pairs), desc);
}

}  // namespace vt::data
