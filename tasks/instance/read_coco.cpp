// read_coco.cpp — COCO instance annotations (instances_*.json) with their images, as an
// InstanceDataset (tasks/instance/instance_dataset.h says what an example holds).
//
// The file is parsed once and every field the reader uses is checked up front, each error a
// vt::Error naming the file and the image or annotation (or its index while its id is not yet
// known). The JSON tree is then dropped: what stays is one record per image (file, size, its
// objects' boxes, labels, areas, crowd flags) and the objects' polygons and RLE counts in shared
// pools. get() decodes the image (tasks/data/image_file.h) and each mask (tasks/instance/rle.h)
// at the annotated size. Bounds, refused by name: a side in [1, 8192] and at most
// data::max_image_pixels() pixels; bbox values in [0, 65536], areas in [0, 2^32]; at most 2^29
// mask bytes (objects · height · width) and a polygon outline of 2^23 pixels per image.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "tasks/data/image_file.h"
#include "tasks/data/readers.h"
#include "tasks/instance/instance_dataset.h"
#include "tasks/instance/rle.h"

namespace vt::instance {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int64_t kMaxSide = 8192;                   // as tasks/data/image_file.h
constexpr int64_t kMaxMaskBytes = int64_t(1) << 29;  // one image's masks, M · H · W (512 MB)
constexpr double kMaxBoxValue = 65536;               // far beyond any image side
constexpr double kMaxArea = 4294967296.0;            // 2^32
constexpr double kMaxPolygonCoord = 16777216.0;      // 2^24, rle.h's bound
constexpr double kMaxOutline = 8388608.0;            // 2^23 pixels of outline per image

enum class Segm : uint8_t { Polygons, RleString, RleRuns };

struct Object {
  int64_t id = 0;     // the annotation's id, for messages
  int64_t label = 0;  // 1..K
  float box[4] = {};  // x1, y1, x2, y2
  float area = 0;
  uint8_t crowd = 0;
  Segm kind = Segm::Polygons;
  size_t begin = 0, end = 0;  // polygons [begin, end) of Pools::poly_ends, or the RLE's range
};

struct Image {
  int64_t id = 0, width = 0, height = 0;
  std::string path;             // root / file_name
  size_t first = 0, count = 0;  // its objects
};

// Polygon j is coords[j ? poly_ends[j - 1] : 0, poly_ends[j]); text holds compressed counts.
struct Pools {
  std::vector<double> coords;
  std::vector<size_t> poly_ends;
  std::string text;
  std::vector<uint32_t> runs;
};

// A value for a message: scalars and short flat lists as written (cut to 60 characters), other
// containers by kind (a deeply nested one is never dumped: dump() recurses).
std::string brief(const json& v) {
  const bool flat = v.is_array() && v.size() <= 8 &&
                    std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_primitive(); });
  if (v.is_array() && !flat) return "a list of " + std::to_string(v.size()) + " values";
  if (v.is_object()) return "an object";
  std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// Reads fields with their types checked; every error is "read_coco: FILE: WHERE: ...".
struct Reader {
  std::string file;

  Error fail(const std::string& where, const std::string& what) const {
    return Error("read_coco: " + file + ": " + where + ": " + what);
  }
  const json& field(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object()) throw fail(where, "expected an object, got " + brief(obj));
    const auto it = obj.find(key);
    if (it == obj.end()) throw fail(where, std::string("no \"") + key + "\"");
    return *it;
  }
  const json& array(const json& obj, const char* key, const std::string& where) const {
    const json& v = field(obj, key, where);
    if (!v.is_array())
      throw fail(where, std::string("\"") + key + "\" must be a list, got " + brief(v));
    return v;
  }
  int64_t integer(const json& obj, const char* key, const std::string& where) const {
    const json& v = field(obj, key, where);
    if (!v.is_number_integer() ||
        (v.is_number_unsigned() && v.get<uint64_t>() > (uint64_t)std::numeric_limits<int64_t>::max()))
      throw fail(where, std::string("\"") + key + "\" must be an integer, got " + brief(v));
    return v.get<int64_t>();
  }
  // A finite number in [0, hi].
  double number(const json& v, const std::string& name, double hi, const std::string& where) const {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 ||
        v.get<double>() > hi)
      throw fail(where, name + " must be a finite number in [0, " + std::to_string((int64_t)hi) +
                            "], got " + brief(v));
    return v.get<double>();
  }
  std::string text(const json& obj, const char* key, const std::string& where) const {
    const json& v = field(obj, key, where);
    if (!v.is_string())
      throw fail(where, std::string("\"") + key + "\" must be a string, got " + brief(v));
    return v.get<std::string>();
  }
};

// Checks one annotation's "segmentation" for an h×w image and appends it to the pools; adds
// the polygons' outline length (pixels, as the rasterisation walks it) to `outline`. A polygon
// of one or two points encloses nothing and is left out, as Detectron2 does (COCO has a few);
// returns false when no polygon is left (the object is then left out).
bool add_segmentation(const Reader& rd, const json& segm, int64_t h, int64_t w,
                      const std::string& where, Pools& pools, Object& o, double& outline) {
  if (segm.is_array()) {
    if (segm.empty()) throw rd.fail(where, "\"segmentation\" holds no polygon");
    o.kind = Segm::Polygons;
    o.begin = pools.poly_ends.size();
    for (size_t p = 0; p < segm.size(); ++p) {
      const json& poly = segm[p];
      const std::string at = "polygon " + std::to_string(p);
      if (!poly.is_array() || poly.empty() || poly.size() % 2 != 0)
        throw rd.fail(where, at + " must be a list of points [x0, y0, x1, y1, ...], got " + brief(poly));
      if (poly.size() < 6) continue;  // a point or a segment
      const size_t start = pools.coords.size();
      for (const json& v : poly) {
        if (!v.is_number() || !(std::fabs(v.get<double>()) <= kMaxPolygonCoord))
          throw rd.fail(where, at + " holds " + brief(v) + ", not a finite number within ±2^24");
        pools.coords.push_back(v.get<double>());
      }
      const size_t n = poly.size() / 2;
      for (size_t k = 0; k < n; ++k) {  // each edge, the last back to the first point
        const size_t a = start + 2 * k, b = start + 2 * ((k + 1) % n);
        outline += std::max(std::fabs(pools.coords[b] - pools.coords[a]),
                            std::fabs(pools.coords[b + 1] - pools.coords[a + 1])) + 1;
      }
      pools.poly_ends.push_back(pools.coords.size());
    }
    o.end = pools.poly_ends.size();
    return o.end > o.begin;
  }
  if (!segm.is_object())
    throw rd.fail(where, "\"segmentation\" must be a list of polygons or an RLE "
                         "{\"size\", \"counts\"}, got " + brief(segm));
  const json& size = rd.field(segm, "size", where + ": segmentation");
  if (!size.is_array() || size.size() != 2 || !size[0].is_number_integer() ||
      !size[1].is_number_integer())
    throw rd.fail(where, "the RLE's \"size\" must be [height, width], got " + brief(size));
  if (size[0].get<int64_t>() != h || size[1].get<int64_t>() != w)
    throw rd.fail(where, "the RLE's size " + brief(size) + " differs from its image's [" +
                             std::to_string(h) + ", " + std::to_string(w) + "]");
  const json& counts = rd.field(segm, "counts", where + ": segmentation");
  try {
    if (counts.is_string()) {
      const std::string s = counts.get<std::string>();
      rle_from_string(s, h, w);  // checks the characters and the sum
      o.kind = Segm::RleString, o.begin = pools.text.size();
      pools.text += s;
      o.end = pools.text.size();
    } else if (counts.is_array()) {
      o.kind = Segm::RleRuns, o.begin = pools.runs.size();
      uint64_t sum = 0;
      for (const json& c : counts) {
        if (!c.is_number_integer() || c.get<int64_t>() < 0 ||
            c.get<int64_t>() > (int64_t)std::numeric_limits<uint32_t>::max())
          throw Error("run " + std::to_string(pools.runs.size() - o.begin) + " (" + brief(c) +
                      ") is not an integer in 0 .. 2^32-1");
        pools.runs.push_back(c.get<uint32_t>());
        sum += pools.runs.back();
      }
      o.end = pools.runs.size();
      if (sum != (uint64_t)(h * w))
        throw Error("the runs sum to " + std::to_string(sum) + ", not " + std::to_string(h) + "x" +
                    std::to_string(w) + " = " + std::to_string(h * w));
    } else {
      throw Error("\"counts\" must be a string or a list of runs, got " + brief(counts));
    }
  } catch (const Error& e) {
    throw rd.fail(where, std::string("bad RLE: ") + e.what());
  }
  return true;
}

class CocoDataset : public InstanceDataset {
 public:
  CocoDataset(std::string file, std::vector<Image> images, std::vector<Object> objects,
              Pools pools, std::vector<std::string> names, std::string desc)
      : file_(std::move(file)), images_(std::move(images)), objects_(std::move(objects)),
        pools_(std::move(pools)), names_(std::move(names)), desc_(std::move(desc)) {}
  int64_t size() const override { return (int64_t)images_.size(); }
  int64_t num_classes() const override { return (int64_t)names_.size(); }
  std::string describe() const override { return desc_; }
  std::vector<std::string> class_names() const override { return names_; }

  data::Example get(int64_t i) const override {
    check_index(i);
    const Image& im = images_[i];
    const std::string which = "image " + im.path + " (id " + std::to_string(im.id) + ")";
    data::ImageInfo info;
    std::vector<uint8_t> px;  // (H, W, 3)
    try {
      px = data::load_image_u8(im.path, 3, &info);
    } catch (const Error& e) {
      throw Error("read_coco: " + file_ + ": cannot decode " + which + ": " + e.what());
    }
    if (info.width != im.width || info.height != im.height)
      throw Error("read_coco: " + which + " is " + std::to_string(info.width) + "x" +
                  std::to_string(info.height) + " (width x height), but " + file_ + " says " +
                  std::to_string(im.width) + "x" + std::to_string(im.height));
    const int64_t H = im.height, W = im.width, M = (int64_t)im.count;
    data::Example e;
    e.image = data::rgb_bytes_to_tensor(px.data(), info.width, info.height);  // (3, H, W)
    data::Instances& ins = e.instances;
    ins.boxes = Tensor::empty({M, 4}, DType::F32);
    ins.labels = Tensor::empty({M}, DType::I64);
    ins.masks = Tensor::empty({M, H, W}, DType::U8);
    ins.crowd = Tensor::empty({M}, DType::U8);
    ins.area = Tensor::empty({M}, DType::F32);
    ins.image_id = im.id;
    for (int64_t k = 0; k < M; ++k) {
      const Object& o = objects_[im.first + k];
      std::copy(o.box, o.box + 4, ins.boxes.data<float>() + 4 * k);
      ins.labels.data<int64_t>()[k] = o.label;
      ins.crowd.data<uint8_t>()[k] = o.crowd;
      ins.area.data<float>()[k] = o.area;
      std::vector<uint8_t> mask;
      try {
        mask = rle_decode(decode(o, H, W));
      } catch (const Error& err) {
        throw Error("read_coco: " + file_ + ": annotation " + std::to_string(o.id) + " of " +
                    which + ": " + err.what());
      }
      std::copy(mask.begin(), mask.end(), ins.masks.data<uint8_t>() + k * H * W);
    }
    return e;
  }

 private:
  Rle decode(const Object& o, int64_t h, int64_t w) const {
    if (o.kind == Segm::RleString)
      return rle_from_string(pools_.text.substr(o.begin, o.end - o.begin), h, w);
    if (o.kind == Segm::RleRuns) {
      Rle r{h, w, std::vector<uint32_t>(pools_.runs.begin() + o.begin, pools_.runs.begin() + o.end)};
      rle_check(r, "RLE");
      return r;
    }
    std::vector<std::vector<double>> polys;
    for (size_t j = o.begin; j < o.end; ++j) {
      const size_t start = j ? pools_.poly_ends[j - 1] : 0;
      polys.emplace_back(pools_.coords.begin() + start, pools_.coords.begin() + pools_.poly_ends[j]);
    }
    return rle_from_polygons(polys, h, w);
  }

  std::string file_;
  std::vector<Image> images_;
  std::vector<Object> objects_;  // grouped by image, in file order within one
  Pools pools_;
  std::vector<std::string> names_;
  std::string desc_;
};

// "categories": names ordered by id, and id -> label 1..K.
std::vector<std::string> read_categories(const Reader& rd, const json& doc,
                                         std::unordered_map<int64_t, int64_t>& label_of) {
  const json& cats = rd.array(doc, "categories", "the file");
  if (cats.empty()) throw rd.fail("\"categories\"", "the list is empty");
  std::vector<std::pair<int64_t, std::string>> byid;
  for (size_t i = 0; i < cats.size(); ++i) {
    const std::string where = "categories[" + std::to_string(i) + "]";
    byid.emplace_back(rd.integer(cats[i], "id", where), rd.text(cats[i], "name", where));
  }
  std::sort(byid.begin(), byid.end());
  std::vector<std::string> names;
  for (size_t k = 0; k < byid.size(); ++k) {
    if (k > 0 && byid[k].first == byid[k - 1].first)
      throw rd.fail("\"categories\"",
                    "category id " + std::to_string(byid[k].first) + " appears twice");
    label_of[byid[k].first] = (int64_t)k + 1;
    names.push_back(byid[k].second);
  }
  return names;
}

// A file_name the reader may join to the root: relative, without "..", without NUL.
void check_file_name(const Reader& rd, const std::string& name, const std::string& where) {
  const fs::path p(name);
  if (name.empty() || name.find('\0') != std::string::npos)
    throw rd.fail(where, "\"file_name\" is empty or holds a NUL character");
  if (p.is_absolute() || p.has_root_directory() || p.has_root_name())
    throw rd.fail(where, "\"file_name\" " + brief(name) +
                             " is absolute (it must be relative to the image root)");
  for (const fs::path& part : p)
    if (part == "..") throw rd.fail(where, "\"file_name\" " + brief(name) + " contains \"..\"");
}

std::vector<Image> read_images(const Reader& rd, const json& doc, const std::string& root,
                               std::unordered_map<int64_t, size_t>& index_of) {
  const json& list = rd.array(doc, "images", "the file");
  if (list.empty()) throw rd.fail("\"images\"", "the list is empty");
  std::vector<Image> images;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string where = "images[" + std::to_string(i) + "]";
    Image im;
    im.id = rd.integer(list[i], "id", where);
    where = "image " + std::to_string(im.id);
    if (!index_of.emplace(im.id, i).second) throw rd.fail(where, "the id appears twice in \"images\"");
    for (const char* key : {"width", "height"}) {
      const int64_t v = rd.integer(list[i], key, where);
      if (v < 1 || v > kMaxSide)
        throw rd.fail(where, std::string("\"") + key + "\" " + std::to_string(v) + " is not in [1, " +
                                 std::to_string(kMaxSide) + "]");
      (key[0] == 'w' ? im.width : im.height) = v;
    }
    if (im.width * im.height > data::max_image_pixels())
      throw rd.fail(where, std::to_string(im.width) + "x" + std::to_string(im.height) +
                               " is more than " + std::to_string(data::max_image_pixels()) +
                               " pixels");
    const std::string name = rd.text(list[i], "file_name", where);
    check_file_name(rd, name, where);
    im.path = (fs::path(root) / name).string();
    std::error_code ec;  // (a name too long for the file system is "no such file", not a throw)
    if (!fs::is_regular_file(im.path, ec))
      throw rd.fail(where, "no such image file " + im.path + (ec ? " (" + ec.message() + ")" : ""));
    images.push_back(std::move(im));
  }
  return images;
}

}  // namespace

InstanceDatasetPtr read_coco(const std::string& image_root, const std::string& annotations) {
  const Reader rd{annotations};
  std::error_code ec;
  if (!fs::is_regular_file(annotations, ec))
    throw Error("read_coco: no annotation file " + annotations + (ec ? " (" + ec.message() + ")" : ""));
  json doc;
  {
    std::ifstream in(annotations, std::ios::binary);
    if (!in) throw Error("read_coco: cannot open " + annotations);
    try {
      doc = json::parse(in);
    } catch (const json::exception& e) {
      throw Error("read_coco: " + annotations + " is not valid JSON: " + e.what());
    }
  }
  if (!doc.is_object()) throw rd.fail("the file", "expected a JSON object, got " + brief(doc));
  std::unordered_map<int64_t, int64_t> label_of;
  std::vector<std::string> names = read_categories(rd, doc, label_of);
  std::unordered_map<int64_t, size_t> index_of;
  std::vector<Image> images = read_images(rd, doc, image_root, index_of);

  const json& anns = rd.array(doc, "annotations", "the file");
  std::vector<std::pair<size_t, Object>> objects;  // (image index, object)
  std::vector<double> outline(images.size(), 0.0);
  std::unordered_set<int64_t> ann_ids;
  Pools pools;
  for (size_t i = 0; i < anns.size(); ++i) {
    const json& a = anns[i];
    std::string where = "annotations[" + std::to_string(i) + "]";
    Object o;
    o.id = rd.integer(a, "id", where);
    where = "annotation " + std::to_string(o.id);
    if (!ann_ids.insert(o.id).second) throw rd.fail(where, "the id appears twice in \"annotations\"");
    const int64_t image_id = rd.integer(a, "image_id", where);
    const auto img = index_of.find(image_id);
    if (img == index_of.end())
      throw rd.fail(where, "\"image_id\" " + std::to_string(image_id) + " is not in \"images\"");
    const Image& im = images[img->second];
    const int64_t category = rd.integer(a, "category_id", where);
    const auto label = label_of.find(category);
    if (label == label_of.end())
      throw rd.fail(where, "\"category_id\" " + std::to_string(category) + " is not in \"categories\"");
    o.label = label->second;
    const json& bbox = rd.field(a, "bbox", where);
    if (!bbox.is_array() || bbox.size() != 4)
      throw rd.fail(where, "\"bbox\" must be [x, y, width, height], got " + brief(bbox));
    double b[4];
    for (int k = 0; k < 4; ++k) b[k] = rd.number(bbox[k], "each \"bbox\" value", kMaxBoxValue, where);
    o.area = (float)rd.number(rd.field(a, "area", where), "\"area\"", kMaxArea, where);
    const int64_t crowd = rd.integer(a, "iscrowd", where);
    if (crowd != 0 && crowd != 1)
      throw rd.fail(where, "\"iscrowd\" must be 0 or 1, got " + std::to_string(crowd));
    o.crowd = (uint8_t)crowd;
    const auto sizes = std::make_tuple(pools.coords.size(), pools.poly_ends.size(), pools.text.size(),
                                       pools.runs.size());
    double length = 0;
    const bool drawn = add_segmentation(rd, rd.field(a, "segmentation", where), im.height, im.width,
                                        where, pools, o, length);
    if (!drawn || b[2] <= 0 || b[3] <= 0) {  // no mask or an empty box: left out, as torchvision's
                                             // reference and Detectron2 do
      pools.coords.resize(std::get<0>(sizes)), pools.poly_ends.resize(std::get<1>(sizes));
      pools.text.resize(std::get<2>(sizes)), pools.runs.resize(std::get<3>(sizes));
      continue;
    }
    outline[img->second] += length;
    if (outline[img->second] > kMaxOutline)
      throw rd.fail("image " + std::to_string(im.id),
                    "its polygons outline more than 2^23 pixels (at annotation " +
                        std::to_string(o.id) + ")");
    const double box[4] = {b[0], b[1], b[0] + b[2], b[1] + b[3]};
    std::copy(box, box + 4, o.box);
    objects.emplace_back(img->second, o);
  }
  std::stable_sort(objects.begin(), objects.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<Object> flat;
  flat.reserve(objects.size());
  for (size_t k = 0; k < objects.size(); ++k) {
    Image& im = images[objects[k].first];
    if (im.count == 0) im.first = k;
    ++im.count;
    flat.push_back(objects[k].second);
  }
  for (const Image& im : images)
    if ((int64_t)im.count > kMaxMaskBytes / (im.width * im.height))
      throw rd.fail("image " + std::to_string(im.id),
                    std::to_string(im.count) + " objects of " + std::to_string(im.width) + "x" +
                        std::to_string(im.height) + " need more than 2^29 bytes of masks");
  const std::string desc = "coco:" + image_root + ":" + annotations + " (" +
                           std::to_string(images.size()) + " images, " + std::to_string(flat.size()) +
                           " objects, " + std::to_string(names.size()) + " classes)";
  return std::make_shared<CocoDataset>(annotations, std::move(images), std::move(flat),
                                       std::move(pools), std::move(names), desc);
}

}  // namespace vt::instance
