// read_image_list.cpp — image-list data sets (VTAB-1K, FGVC): "relative/path.jpg label" lines.
//
// The list is parsed and checked up front (every line well formed, every file present), the
// images are decoded lazily in get() (tasks/data/image_file.h: JPEG, PNG, BMP, PPM) and always converted
// to RGB, as torchvision's default loader does with PIL's convert("RGB").
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tasks/data/image_file.h"
#include "tasks/data/readers.h"

namespace vt::data {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxClasses = 1 << 20;  // a corrupt label must not make a huge head

struct Entry {
  std::string path;  // ROOT / relative path
  int64_t label;
  int64_t line;      // 1-based line in the list file, for error messages
};

class ImageListDataset : public Dataset {
 public:
  ImageListDataset(std::string list, std::vector<Entry> entries, int64_t classes,
                   std::string desc)
      : list_(std::move(list)), entries_(std::move(entries)), classes_(classes),
        desc_(std::move(desc)) {}
  int64_t size() const override { return (int64_t)entries_.size(); }
  int64_t num_classes() const override { return classes_; }
  std::string describe() const override { return desc_; }
  int64_t label(int64_t i) const override { return at(i).label; }

  // Decodes entries_[i] to (3, H, W) F32 in [0, 1].
  Example get(int64_t i) const override {
    const Entry& e = at(i);
    ImageInfo info;
    std::vector<uint8_t> px;  // (H, W, 3)
    try {
      px = load_image_u8(e.path, 3, &info);
    } catch (const Error& err) {
      throw Error(list_ + ":" + std::to_string(e.line) + ": cannot decode " + e.path + ": " + err.what());
    }
    return {rgb_bytes_to_tensor(px.data(), info.width, info.height), e.label, Tensor()};
  }

 private:
  const Entry& at(int64_t i) const {
    check_index(i);
    return entries_[i];
  }
  std::string list_;
  std::vector<Entry> entries_;
  int64_t classes_;
  std::string desc_;
};

}  // namespace

Tensor rgb_bytes_to_tensor(const unsigned char* px, int w, int h) {
  Tensor img = Tensor::empty({3, h, w}, DType::F32);  // (3, H, W)
  float* dst = img.data<float>();
  const int64_t plane = (int64_t)h * w;
  for (int64_t p = 0; p < plane; ++p)
    for (int c = 0; c < 3; ++c) dst[c * plane + p] = (float)px[p * 3 + c] / 255.0f;
  return img;
}

DatasetPtr read_image_list(const std::string& root, const std::string& list_file) {
  std::ifstream in(list_file);
  if (!in) throw Error(list_file + ": cannot open the image list");
  std::vector<Entry> entries;
  int64_t max_label = -1;
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF lists
    const size_t end = line.find_last_not_of(" \t");
    if (end == std::string::npos || line[line.find_first_not_of(" \t")] == '#')
      continue;  // blank line or comment
    const size_t sep = line.find_last_of(" \t", end);
    const size_t begin = line.find_first_not_of(" \t");
    auto bad = [&](const std::string& why) {
      return Error(list_file + ":" + std::to_string(lineno) + ": " + why +
                   " in '" + line + "' (expected 'relative/path label')");
    };
    if (sep == std::string::npos || sep < begin) throw bad("no label");
    const std::string label_str = line.substr(sep + 1, end - sep);
    const std::string rel = line.substr(begin, line.find_last_not_of(" \t", sep) - begin + 1);
    int64_t label = 0;
    size_t used = 0;
    try {
      label = std::stoll(label_str, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != label_str.size() || label_str.empty())
      throw bad("label '" + label_str + "' is not an integer");
    if (label < 0) throw bad("negative label " + label_str);
    if (label >= kMaxClasses) throw bad("label " + label_str + " is implausibly large");
    const std::string path = (fs::path(root) / rel).string();
    std::error_code ec;  // (a name too long for the file system is "no such file", not a throw)
    if (!fs::is_regular_file(path, ec))
      throw Error(list_file + ":" + std::to_string(lineno) + ": no such image file " + path +
                  (ec ? " (" + ec.message() + ")" : ""));
    entries.push_back({path, label, lineno});
    max_label = std::max(max_label, label);
  }
  if (entries.empty()) throw Error(list_file + ": the list names no image");
  const std::string desc = "list:" + root + ":" + list_file + " (" +
                           std::to_string(entries.size()) + " images, " +
                           std::to_string(max_label + 1) + " classes)";
  return std::make_shared<ImageListDataset>(list_file, std::move(entries), max_label + 1, desc);
}

}  // namespace vt::data
