// read_nyu.cpp — NYU Depth v2 (or any RGB + 16-bit depth PNG pairs) from a split file.
//
// The split file lists "RGB_PATH DEPTH_PATH" a line, both relative to ROOT (a leading '/' is
// dropped), as the BTS / AdaBins splits do (their third field, the focal length, is ignored). Depth PNGs hold millimetres (depth_scale = 1000 units a metre);
// 0 means no measurement and stays 0. The split file is parsed and every file's existence
// checked up front; decoding (and the size / bit-depth checks) happens in get().
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tasks/data/image_file.h"
#include "tasks/data/readers.h"
#include "tasks/dense/dense_data.h"

namespace vt::data {

namespace fs = std::filesystem;

namespace {

// f(), with a decoding error named as the reader's ("SPLIT:LINE: cannot decode depth FILE: why").
template <typename F>
Tensor decoded(const std::string& where, const char* what, const std::string& file, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(where + "cannot decode " + what + " " + file + ": " + e.what());
  }
}

struct Pair {
  std::string rgb, depth;
  int64_t line;  // 1-based line of the split file, for messages
};

class NyuDataset : public Dataset {
 public:
  NyuDataset(std::string split, std::vector<Pair> pairs, double scale, std::string desc)
      : split_(std::move(split)), pairs_(std::move(pairs)), scale_(scale),
        desc_(std::move(desc)) {}
  int64_t size() const override { return (int64_t)pairs_.size(); }
  int64_t num_classes() const override { return 0; }
  std::string describe() const override { return desc_; }
  int64_t label(int64_t i) const override { at(i); return -1; }

  Example get(int64_t i) const override {
    const Pair& p = at(i);
    const std::string where = split_ + ":" + std::to_string(p.line) + ": ";
    ImageInfo ii, di;
    const Tensor img = decoded(where, "image", p.rgb, [&] {
      const std::vector<uint8_t> px = load_image_u8(p.rgb, 3, &ii);  // (H, W, 3)
      return rgb_bytes_to_tensor(px.data(), ii.width, ii.height);    // (3, H, W)
    });
    const int64_t w = ii.width, h = ii.height, plane = h * w;
    decoded(where, "depth", p.depth, [&] { di = read_image_info(p.depth); return Tensor(); });
    if (!di.is16 || di.channels != 1)
      throw Error(where + "depth " + p.depth + " is not a 16-bit single-channel PNG (" +
                  std::to_string(di.channels) + " channel(s)" + (di.is16 ? ", 16-bit)" : ", 8-bit)"));
    if (di.width != w || di.height != h)
      throw Error(where + "depth " + p.depth + " is " + std::to_string(di.width) + "x" +
                  std::to_string(di.height) + " but image " + p.rgb + " is " + std::to_string(w) +
                  "x" + std::to_string(h));
    std::vector<uint16_t> d;  // (H, W)
    decoded(where, "depth", p.depth, [&] { d = load_image_u16(p.depth, &di); return Tensor(); });
    Tensor target = Tensor::empty({1, h, w}, DType::F32);  // (1, H, W) metres
    float* t = target.data<float>();
    for (int64_t q = 0; q < plane; ++q) t[q] = d[q] == 0 ? 0.0f : (float)(d[q] / scale_);
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
  std::string split_;
  std::vector<Pair> pairs_;
  double scale_;
  std::string desc_;
};

}  // namespace

DatasetPtr read_nyu(const std::string& root, const std::string& split_file, double depth_scale) {
  if (!(depth_scale > 0))
    throw Error("read_nyu: depth_scale must be positive, got " + std::to_string(depth_scale));
  if (!fs::is_directory(root)) throw Error("read_nyu: no folder " + root);
  std::ifstream in(split_file);
  if (!in) throw Error(split_file + ": cannot open the split file");
  std::vector<Pair> pairs;
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF files
    std::istringstream fields(line);
    std::string rgb, depth, focal, extra;
    fields >> rgb;
    if (rgb.empty() || rgb[0] == '#') continue;  // blank line or comment
    const std::string where = split_file + ":" + std::to_string(lineno) + ": ";
    fields >> depth >> focal >> extra;
    bool focal_ok = focal.empty();  // BTS splits add a focal length: a number, ignored
    if (!focal_ok) {
      size_t used = 0;
      try { std::stod(focal, &used); } catch (const std::exception&) { used = 0; }
      focal_ok = used == focal.size();
    }
    if (depth.empty() || !focal_ok || !extra.empty())
      throw Error(where + "expected 'RGB_PATH DEPTH_PATH [FOCAL]', got '" + line + "'");
    // Paths are relative to ROOT even when written with a leading '/' (as BTS's splits are).
    auto under_root = [&](std::string rel) {
      while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
      return (fs::path(root) / rel).string();
    };
    Pair p{under_root(rgb), under_root(depth), lineno};
    for (const std::string* f : {&p.rgb, &p.depth}) {
      std::error_code ec;  // (a name too long for the file system is "no such file", not a throw)
      if (!fs::is_regular_file(*f, ec)) throw Error(where + "no such file " + *f + (ec ? " (" + ec.message() + ")" : ""));
    }
    pairs.push_back(std::move(p));
  }
  if (pairs.empty()) throw Error(split_file + ": the split file names no image");
  const std::string desc = "nyu:" + root + ":" + split_file + " (" +
                           std::to_string(pairs.size()) + " images, depth)";
  return std::make_shared<NyuDataset>(split_file, std::move(pairs), depth_scale, desc);
}

}  // namespace vt::data
