// read_ade20k.cpp — ADE20K scene parsing (ADEChallengeData2016) as mmseg reads it.
//
// ROOT/images/{training,validation}/NAME.jpg pairs with ROOT/annotations/{..}/NAME.png, an
// 8-bit single-channel mask where 0 is "other" and 1..150 are the classes. mmseg's
// reduce_zero_label maps 0 -> 255 (ignored) and k -> k-1, giving 150 classes in [0, 150).
// The listing and pairing are checked when the data set is opened; the files are decoded
// lazily in get() (stb_image; its failure reason is thread-local, so get() is thread-safe).
#include <stb_image.h>

#include <algorithm>
#include <filesystem>

#include "tasks/data/readers.h"
#include "tasks/dense/dense_data.h"

namespace vt::data {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kAdeClasses = 150;

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
    int w = 0, h = 0, c = 0;
    unsigned char* px = stbi_load(p.image.c_str(), &w, &h, &c, 3);  // (H, W, 3)
    if (!px) throw Error("read_ade20k: cannot decode image " + p.image + ": " + stbi_failure_reason());
    const Tensor img = rgb_bytes_to_tensor(px, w, h);  // (3, H, W)
    const int64_t plane = (int64_t)h * w;

    int mw = 0, mh = 0, mc = 0;
    if (!stbi_info(p.mask.c_str(), &mw, &mh, &mc))
      throw Error("read_ade20k: cannot decode mask " + p.mask + ": " + stbi_failure_reason());
    if (mc != 1 || stbi_is_16_bit(p.mask.c_str()))
      throw Error("read_ade20k: mask " + p.mask + " has " + std::to_string(mc) + " channel(s)" +
                  (stbi_is_16_bit(p.mask.c_str()) ? " of 16 bits" : "") +
                  ", expected an 8-bit single-channel PNG");
    if (mw != w || mh != h)
      throw Error("read_ade20k: mask " + p.mask + " is " + std::to_string(mw) + "x" +
                  std::to_string(mh) + " but its image " + p.image + " is " + std::to_string(w) +
                  "x" + std::to_string(h));
    unsigned char* m = stbi_load(p.mask.c_str(), &mw, &mh, &mc, 1);  // (H, W)
    if (!m) throw Error("read_ade20k: cannot decode mask " + p.mask + ": " + stbi_failure_reason());
    Tensor target = Tensor::empty({h, w}, DType::I64);  // (H, W)
    int64_t* t = target.data<int64_t>();
    for (int64_t q = 0; q < plane; ++q) {
      const int64_t v = m[q];
      if (v > kAdeClasses && v != kIgnoreLabel) {
        stbi_image_free(m);
        throw Error("read_ade20k: mask " + p.mask + " holds value " + std::to_string(v) +
                    " (expected 0..150)");
      }
      t[q] = v == 0 ? kIgnoreLabel : v == kIgnoreLabel ? kIgnoreLabel : v - 1;  // reduce_zero_label
    }
    stbi_image_free(m);
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
