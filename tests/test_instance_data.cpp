// test_instance_data.cpp — the instance-segmentation data side (tasks/instance): read_coco on
// small COCO files written here (polygons, compressed and uncompressed RLE, crowd regions,
// category renumbering, grey images, images without objects), its error messages, and the
// train/eval transforms of instance_transforms.h (boxes and masks follow the image).
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "tasks/data/dataset.h"
#include "tasks/instance/instance_dataset.h"
#include "tasks/instance/instance_transforms.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::instance;
using data::Example;
using data::Instances;
using vt::test::error_of;
using vt::test::write_file;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct TempDir : vt::test::TempDir {
  TempDir() : vt::test::TempDir("vitune_instance_") {}
};

// The pixel values of the images written below.
uint8_t rgb_value(int y, int x, int c) { return (uint8_t)((y * 6 + x) * 10 + c); }
uint8_t grey_value(int p) { return (uint8_t)(p * 10); }

// ROOT/img/a.png (6x4 RGB), img/g.png (5x5 grey), img/e.jpg (8x8).
void write_images(const TempDir& t) {
  fs::create_directories(t.path / "img");
  std::vector<uint8_t> rgb(4 * 6 * 3), grey(25), flat(8 * 8 * 3, 128);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x)
      for (int c = 0; c < 3; ++c) rgb[(y * 6 + x) * 3 + c] = rgb_value(y, x, c);
  for (int p = 0; p < 25; ++p) grey[p] = grey_value(p);
  REQUIRE(stbi_write_png((t / "img/a.png").c_str(), 6, 4, 3, rgb.data(), 6 * 3));
  REQUIRE(stbi_write_png((t / "img/g.png").c_str(), 5, 5, 1, grey.data(), 5));
  REQUIRE(stbi_write_jpg((t / "img/e.jpg").c_str(), 8, 8, 3, flat.data(), 95));
}

// Images 1 (a.png), 2 (g.png), 5 (e.jpg, no objects); categories 90, 3, 7 (-> 3, 1, 2).
json coco() {
  const json polygon = {{1, 1, 4, 1, 4, 3, 1, 3}};  // pixels x 1..3, y 1..2
  return {
      {"images",
       {{{"id", 1}, {"file_name", "img/a.png"}, {"width", 6}, {"height", 4}},
        {{"id", 2}, {"file_name", "img/g.png"}, {"width", 5}, {"height", 5}},
        {{"id", 5}, {"file_name", "img/e.jpg"}, {"width", 8}, {"height", 8}}}},
      {"categories",
       {{{"id", 90}, {"name", "zebra"}}, {{"id", 3}, {"name", "car"}}, {{"id", 7}, {"name", "cat"}}}},
      {"annotations",
       {{{"id", 10}, {"image_id", 1}, {"category_id", 7}, {"bbox", {1, 1, 3, 2}}, {"area", 6},
         {"iscrowd", 0}, {"segmentation", polygon}},
        {{"id", 20}, {"image_id", 2}, {"category_id", 3}, {"bbox", {0, 0, 5, 5}}, {"area", 8},
         {"iscrowd", 0}, {"segmentation", {{0, 0, 2, 0, 2, 2, 0, 2}, {4, 4}, {3, 3, 5, 3, 5, 5, 3, 5}}}},
        // column x = 5 (column-major runs [20, 4], compressed "d04")
        {{"id", 11}, {"image_id", 1}, {"category_id", 90}, {"bbox", {5, 0, 1, 4}}, {"area", 4},
         {"iscrowd", 0}, {"segmentation", {{"size", {4, 6}}, {"counts", "d04"}}}},
        // a box of width 0: left out (as is a polygon of fewer than 3 points, e.g. {4, 4} above)
        {{"id", 13}, {"image_id", 1}, {"category_id", 3}, {"bbox", {2, 2, 0, 1}}, {"area", 0},
         {"iscrowd", 0}, {"segmentation", {{2, 2, 3, 2, 3, 3}}}},
        // a crowd region, uncompressed: pixels (x 0, y 0..1)
        {{"id", 12}, {"image_id", 1}, {"category_id", 3}, {"bbox", {0, 0, 1, 2}}, {"area", 2},
         {"iscrowd", 1}, {"segmentation", {{"size", {4, 6}}, {"counts", {0, 2, 22}}}}},
        // only a segment as its polygon: no mask, left out
        {{"id", 14}, {"image_id", 2}, {"category_id", 3}, {"bbox", {1, 1, 2, 2}}, {"area", 0},
         {"iscrowd", 0}, {"segmentation", {{1, 1, 3, 3}}}}}}};
}

// The mask of object k as the set of (y, x) inside it.
std::set<std::pair<int64_t, int64_t>> pixels(const Tensor& masks, int64_t k) {
  const int64_t H = masks.size(1), W = masks.size(2);
  std::set<std::pair<int64_t, int64_t>> s;
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      if (masks.data<uint8_t>()[(k * H + y) * W + x]) s.insert({y, x});
  return s;
}
std::set<std::pair<int64_t, int64_t>> rect(int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
  std::set<std::pair<int64_t, int64_t>> s;
  for (int64_t y = y0; y <= y1; ++y)
    for (int64_t x = x0; x <= x1; ++x) s.insert({y, x});
  return s;
}
std::vector<float> box(const Instances& ins, int64_t k) {
  const float* b = ins.boxes.data<float>() + 4 * k;
  return {b[0], b[1], b[2], b[3]};
}

}  // namespace

TEST_CASE("read_coco: polygons, RLE, crowd regions and renumbered categories", "[instance][data]") {
  TempDir t;
  write_images(t);
  write_file(t / "ann.json", coco().dump());
  const InstanceDatasetPtr d = read_coco(t.path.string(), t / "ann.json");
  REQUIRE(d->size() == 3);
  REQUIRE(d->num_classes() == 3);
  REQUIRE(d->class_names() == std::vector<std::string>{"car", "cat", "zebra"});  // ids 3, 7, 90
  REQUIRE(d->describe() == "coco:" + t.path.string() + ":" + (t / "ann.json") +
                               " (3 images, 4 objects, 3 classes)");

  const Example a = d->get(0);
  REQUIRE(a.image.shape() == Shape{3, 4, 6});
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 6; ++x)
        REQUIRE(a.image.data<float>()[(c * 4 + y) * 6 + x] == rgb_value(y, x, c) / 255.0f);
  const Instances& ia = a.instances;
  REQUIRE(ia.image_id == 1);
  REQUIRE(ia.scale == 1.0);
  REQUIRE(ia.size() == 3);  // annotations 10, 11, 12 in file order; 13 (width 0) left out
  REQUIRE(ia.masks.shape() == Shape{3, 4, 6});
  REQUIRE(ia.masks.dtype() == DType::U8);
  REQUIRE(ia.labels.to_vector() == std::vector<double>{2, 3, 1});
  REQUIRE(ia.crowd.to_vector() == std::vector<double>{0, 0, 1});
  REQUIRE(ia.area.to_vector() == std::vector<double>{6, 4, 2});
  REQUIRE(box(ia, 0) == std::vector<float>{1, 1, 4, 3});
  REQUIRE(box(ia, 1) == std::vector<float>{5, 0, 6, 4});
  REQUIRE(box(ia, 2) == std::vector<float>{0, 0, 1, 2});
  REQUIRE(pixels(ia.masks, 0) == rect(1, 2, 1, 3));  // pixel centres inside the polygon
  REQUIRE(pixels(ia.masks, 1) == rect(0, 3, 5, 5));
  REQUIRE(pixels(ia.masks, 2) == rect(0, 1, 0, 0));

  const Example g = d->get(1);  // grey: three equal channels
  REQUIRE(g.image.shape() == Shape{3, 5, 5});
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 25; ++p) REQUIRE(g.image.data<float>()[c * 25 + p] == grey_value(p) / 255.0f);
  REQUIRE(g.instances.image_id == 2);
  REQUIRE(g.instances.labels.to_vector() == std::vector<double>{1});
  REQUIRE(box(g.instances, 0) == std::vector<float>{0, 0, 5, 5});
  REQUIRE(g.instances.area.to_vector() == std::vector<double>{8});
  auto both = rect(0, 1, 0, 1);  // the union of the two squares
  for (auto p : rect(3, 4, 3, 4)) both.insert(p);
  REQUIRE(pixels(g.instances.masks, 0) == both);

  const Example e = d->get(2);  // no objects: M = 0, the tensors still there
  REQUIRE(e.image.shape() == Shape{3, 8, 8});
  REQUIRE(e.instances.defined());
  REQUIRE(e.instances.image_id == 5);
  REQUIRE(e.instances.size() == 0);
  REQUIRE(e.instances.boxes.shape() == Shape{0, 4});
  REQUIRE(e.instances.masks.shape() == Shape{0, 8, 8});
  CHECK_THAT(error_of([&] { d->get(3); }), Catch::Contains("out of range"));
}

TEST_CASE("read_coco: malformed files name the file and the problem", "[instance][data][errors]") {
  TempDir t;
  write_images(t);
  const std::string file = t / "ann.json";
  auto msg_for_text = [&](const std::string& text) {
    write_file(file, text);
    return error_of([&] { read_coco(t.path.string(), file); });
  };
  auto msg_for = [&](const std::function<void(json&)>& edit) {
    json j = coco();
    edit(j);
    return msg_for_text(j.dump());
  };
  using Catch::Contains;
  CHECK_THAT(msg_for([](json& j) { j.erase("annotations"); }),
             Contains(file) && Contains("no \"annotations\""));
  CHECK_THAT(msg_for([](json& j) { j["images"][0].erase("width"); }),
             Contains(file) && Contains("image 1: no \"width\""));
  CHECK_THAT(msg_for([](json& j) { j["images"][0]["width"] = "6"; }),
             Contains(file) && Contains("image 1: \"width\" must be an integer, got \"6\""));
  CHECK_THAT(msg_for([](json& j) { j["images"][1]["id"] = 2.5; }),
             Contains(file) && Contains("images[1]: \"id\" must be an integer"));
  CHECK_THAT(msg_for([](json& j) { j["annotations"][0]["bbox"] = "1 1 3 2"; }),
             Contains(file) && Contains("annotation 10: \"bbox\" must be [x, y, width, height]"));
  CHECK_THAT(msg_for([](json& j) { j["annotations"][0]["bbox"][2] = -3; }),
             Contains(file) && Contains("annotation 10: each \"bbox\" value must be a finite number"));
  CHECK_THAT(msg_for([](json& j) { j["annotations"][2]["image_id"] = 99; }),
             Contains(file) && Contains("annotation 11: \"image_id\" 99 is not in \"images\""));
  CHECK_THAT(msg_for([](json& j) { j["annotations"][2]["category_id"] = 4; }),
             Contains(file) && Contains("annotation 11: \"category_id\" 4 is not in \"categories\""));
  CHECK_THAT(msg_for([](json& j) { j["images"][2]["id"] = 1; }),
             Contains(file) && Contains("image 1: the id appears twice"));
  CHECK_THAT(msg_for([](json& j) { j["annotations"][1]["id"] = 10; }),
             Contains(file) && Contains("annotation 10: the id appears twice"));
  CHECK_THAT(msg_for([](json& j) { j["categories"][1]["id"] = 90; }),
             Contains(file) && Contains("category id 90 appears twice"));
  CHECK_THAT(msg_for([](json& j) { j["images"][0]["file_name"] = "/etc/hostname"; }),
             Contains(file) && Contains("image 1: \"file_name\" \"/etc/hostname\" is absolute"));
  CHECK_THAT(msg_for([](json& j) { j["images"][0]["file_name"] = "img/../../a.png"; }),
             Contains(file) && Contains("contains \"..\""));
  CHECK_THAT(msg_for([](json& j) { j["images"][0]["file_name"] = "img/none.png"; }),
             Contains(file) && Contains("image 1: no such image file") && Contains("none.png"));
  CHECK_THAT(msg_for([](json& j) { j["images"][0]["height"] = 9000; }),
             Contains(file) && Contains("image 1: \"height\" 9000 is not in [1, 8192]"));
  CHECK_THAT(msg_for([](json& j) { j["annotations"][4]["iscrowd"] = 2; }),
             Contains(file) && Contains("annotation 12: \"iscrowd\" must be 0 or 1"));
  CHECK_THAT(msg_for([](json& j) { j["annotations"][2]["segmentation"]["size"] = {5, 6}; }),
             Contains(file) &&
                 Contains("annotation 11: the RLE's size [5,6] differs from its image's [4, 6]"));
  CHECK_THAT(msg_for([](json& j) { j["annotations"][2]["segmentation"]["counts"] = "d0"; }),
             Contains(file) && Contains("annotation 11: bad RLE"));
  CHECK_THAT(msg_for([](json& j) { j["annotations"][4]["segmentation"]["counts"] = {0, 2, 21}; }),
             Contains(file) && Contains("annotation 12: bad RLE: the runs sum to 23, not 4x6 = 24"));
  CHECK_THAT(msg_for([](json& j) { j["annotations"][0]["segmentation"] = {{1, 1, 4}}; }),
             Contains(file) && Contains("annotation 10: polygon 0 must be a list of points"));
  CHECK_THAT(msg_for([](json& j) { j["categories"] = json::array(); }),
             Contains(file) && Contains("\"categories\": the list is empty"));
  CHECK_THAT(msg_for([](json& j) { j = json::array(); }),
             Contains(file) && Contains("expected a JSON object"));
  // JSON itself: cut short, and a number too large for a double (so no bbox is ever infinite).
  const std::string text = coco().dump();
  CHECK_THAT(msg_for_text(text.substr(0, text.size() / 2)), Contains(file + " is not valid JSON"));
  std::string huge = text;
  huge.replace(huge.find("[1,1,3,2]"), 9, "[1,1,1e999,2]");
  CHECK_THAT(msg_for_text(huge), Contains(file + " is not valid JSON") && Contains("1e999"));
  CHECK_THAT(error_of([&] { read_coco(t.path.string(), t / "missing.json"); }),
             Contains("no annotation file") && Contains("missing.json"));

  // Found only when the image is decoded: its size differs from the annotation's.
  json j = coco();
  j["images"][2]["width"] = 9;
  write_file(file, j.dump());
  const InstanceDatasetPtr d = read_coco(t.path.string(), file);
  REQUIRE(d->get(0).instances.size() == 3);
  CHECK_THAT(error_of([&] { d->get(2); }),
             Contains("image " + (t / "img/e.jpg") + " (id 5) is 8x8") && Contains(file + " says 9x8"));
  write_file(t / "img/e.jpg", "not a JPEG");
  CHECK_THAT(error_of([&] { d->get(2); }),
             Contains(file + ": cannot decode image") && Contains("e.jpg"));
}

// ---------------------------------------------------------------- transforms

namespace {

// A (3, H, W) image, value (c·1000 + y·W + x) / 10000, with objects given as rectangles
// {x0, y0, x1, y1} (pixels x0 ≤ x < x1, y0 ≤ y < y1; box = the rectangle), labels 1, 2, ...
Example example(int64_t H, int64_t W, const std::vector<std::array<int64_t, 4>>& rects,
                const std::vector<uint8_t>& crowd = {}) {
  Example e;
  e.image = Tensor::empty({3, H, W});
  for (int64_t k = 0; k < 3 * H * W; ++k)
    e.image.data<float>()[k] = (float)((k / (H * W)) * 1000 + k % (H * W)) / 10000.0f;
  const int64_t M = (int64_t)rects.size();
  std::vector<float> boxes;
  std::vector<int64_t> labels;
  Instances& ins = e.instances;
  ins.masks = Tensor::zeros({M, H, W}, DType::U8);
  ins.crowd = Tensor::zeros({M}, DType::U8);
  ins.area = Tensor::empty({M});
  for (int64_t k = 0; k < M; ++k) {
    const auto& r = rects[k];
    for (int64_t v : r) boxes.push_back((float)v);
    labels.push_back(k + 1);
    for (int64_t y = r[1]; y < r[3]; ++y)
      for (int64_t x = r[0]; x < r[2]; ++x) ins.masks.data<uint8_t>()[(k * H + y) * W + x] = 1;
    ins.area.data<float>()[k] = (float)((r[2] - r[0]) * (r[3] - r[1]));
    if (k < (int64_t)crowd.size()) ins.crowd.data<uint8_t>()[k] = crowd[k];
  }
  ins.boxes = Tensor::from_vector(boxes, {M, 4});
  ins.labels = Tensor::from_vector(labels, {M});
  ins.image_id = 42;
  return e;
}

float px(const Tensor& img, int64_t c, int64_t y, int64_t x) {
  return img.data<float>()[(c * img.size(1) + y) * img.size(2) + x];
}

// Every kept object: label in range, not crowd, a mask pixel, box sides ≥ 1, and every mask
// pixel's square within one pixel of the box.
void require_consistent(const Instances& ins, int64_t size) {
  REQUIRE(ins.masks.shape() == Shape{ins.size(), size, size});
  REQUIRE(ins.masks.is_contiguous());
  REQUIRE(ins.boxes.is_contiguous());
  for (int64_t k = 0; k < ins.size(); ++k) {
    const auto b = box(ins, k);
    REQUIRE(b[2] - b[0] >= 1);
    REQUIRE(b[3] - b[1] >= 1);
    REQUIRE(ins.crowd.data<uint8_t>()[k] == 0);
    const auto p = pixels(ins.masks, k);
    REQUIRE(!p.empty());
    for (auto [y, x] : p) {
      CHECK(x >= b[0] - 1);
      CHECK(x + 1 <= b[2] + 1);
      CHECK(y >= b[1] - 1);
      CHECK(y + 1 <= b[3] + 1);
    }
  }
}

}  // namespace

TEST_CASE("instance_eval_transform: resize the long side, pad, objects left at full size",
          "[instance][data]") {
  const Example in = example(4, 8, {{1, 1, 4, 3}});
  Example e = in;
  Generator g(1);
  instance_eval_transform(16, data::normalization("inception")).fn(e, g);
  REQUIRE(e.image.shape() == Shape{3, 16, 16});
  REQUIRE(e.image.dtype() == DType::F32);
  REQUIRE(e.image.is_contiguous());
  REQUIRE(e.instances.scale == 2.0);  // 8 -> 16
  for (int c = 0; c < 3; ++c) {
    // Bilinear ×2 without align_corners: output (0, 0) samples input (0, 0), output (1, 1)
    // samples (0.25, 0.25); then (v - 0.5) / 0.5. Rows 8.. are padding (0).
    REQUIRE(px(e.image, c, 0, 0) == Approx((px(in.image, c, 0, 0) - 0.5) / 0.5).margin(1e-6));
    const float v11 = px(in.image, c, 0, 0) + 0.25f * (8 + 1) / 10000.0f;
    REQUIRE(px(e.image, c, 1, 1) == Approx((v11 - 0.5) / 0.5).margin(1e-6));
    for (int y = 8; y < 16; ++y)
      for (int x = 0; x < 16; ++x) REQUIRE(px(e.image, c, y, x) == 0.0f);
  }
  // The objects are untouched (AP is measured at the original size).
  REQUIRE(e.instances.masks.shape() == Shape{1, 4, 8});
  REQUIRE(e.instances.masks.to_vector() == in.instances.masks.to_vector());
  REQUIRE(box(e.instances, 0) == std::vector<float>{1, 1, 4, 3});
  REQUIRE(e.instances.image_id == 42);

  Example tall = example(8, 4, {});  // portrait: the height becomes 4, the width 2, then padding
  instance_eval_transform(4, {}).fn(tall, g);
  REQUIRE(tall.image.shape() == Shape{3, 4, 4});
  REQUIRE(tall.instances.scale == 0.5);
  for (int y = 0; y < 4; ++y) REQUIRE(px(tall.image, 0, y, 2) == 0.0f);
  REQUIRE(px(tall.image, 0, 1, 1) > 0.0f);
}

TEST_CASE("instance_train_transform: flip with scale 1 moves boxes and masks exactly; crowd dropped",
          "[instance][data]") {
  // 4x8 image, size 8: no resize, no crop; p = 1: always flipped.
  const Example in = example(4, 8, {{1, 1, 4, 3}, {0, 0, 2, 2}, {6, 0, 8, 4}}, {0, 1, 0});
  Example e = in;
  Generator g(3);
  instance_train_transform(8, {}, {1.0, 1.0, 1.0}).fn(e, g);
  REQUIRE(e.image.shape() == Shape{3, 8, 8});
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x)
        REQUIRE(px(e.image, c, y, x) == (y < 4 ? px(in.image, c, y, 7 - x) : 0.0f));
  const Instances& ins = e.instances;
  REQUIRE(ins.size() == 2);  // the crowd region (label 2) is gone
  REQUIRE(ins.labels.to_vector() == std::vector<double>{1, 3});
  REQUIRE(ins.crowd.to_vector() == std::vector<double>{0, 0});
  REQUIRE(ins.area.to_vector() == std::vector<double>{6, 8});
  REQUIRE(ins.image_id == 42);
  REQUIRE(box(ins, 0) == std::vector<float>{4, 1, 7, 3});  // x' = 8 - x
  REQUIRE(box(ins, 1) == std::vector<float>{0, 0, 2, 4});
  REQUIRE(ins.masks.shape() == Shape{2, 8, 8});  // padded with the image
  REQUIRE(ins.masks.data<uint8_t>()[1 * 8 + 6] == 1);  // pixel (y 1, x 1) is now (1, 6)
  REQUIRE(ins.masks.data<uint8_t>()[1 * 8 + 1] == 0);
  REQUIRE(pixels(ins.masks, 0) == rect(1, 2, 4, 6));
  REQUIRE(pixels(ins.masks, 1) == rect(0, 3, 0, 1));
  require_consistent(ins, 8);

  // p = 0: nothing moves; the scale-1 resize is the identity.
  Example same = in;
  instance_train_transform(8, {}, {1.0, 1.0, 0.0}).fn(same, g);
  REQUIRE(box(same.instances, 0) == std::vector<float>{1, 1, 4, 3});
  REQUIRE(pixels(same.instances.masks, 0) == rect(1, 2, 1, 3));
  REQUIRE(px(same.image, 1, 2, 3) == px(in.image, 1, 2, 3));
}

TEST_CASE("instance_train_transform: the crop drops the objects outside it", "[instance][data]") {
  // 4x16, size 8, scale 2: r = 1, a 4x8 window at left in [0, 8]. L (x 0..1) survives only
  // for left <= 1, R (x 14..15) only for left >= 7, C (x 6..9) always. D's box reaches x 12
  // but its mask is the column x 4: it survives only for left <= 4 (no mask pixel after).
  Example in = example(4, 16, {{0, 0, 2, 4}, {14, 0, 16, 4}, {6, 1, 10, 3}, {4, 0, 5, 4}});
  in.instances.boxes.data<float>()[3 * 4 + 2] = 12;
  bool saw_left = false, saw_right = false, saw_no_d = false;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Example e = in;
    Generator g = data::example_generator(seed, 0, 0);
    instance_train_transform(8, {}, {2.0, 2.0, 0.0}).fn(e, g);
    const int64_t left = std::llround(px(e.image, 0, 0, 0) * 10000.0f);  // the value is y·W + x
    REQUIRE(left >= 0);
    REQUIRE(left <= 8);
    for (int x = 0; x < 8; ++x) REQUIRE(px(e.image, 0, 2, x) == px(in.image, 0, 2, left + x));
    std::vector<double> want;
    if (left <= 1) want.push_back(1), saw_left = true;
    if (left >= 7) want.push_back(2), saw_right = true;
    want.push_back(3);
    if (left <= 4) want.push_back(4);
    else saw_no_d = true;
    REQUIRE(e.instances.labels.to_vector() == want);
    const int64_t c = std::find(want.begin(), want.end(), 3.0) - want.begin();
    const float c0 = (float)std::max<int64_t>(6 - left, 0), c1 = (float)std::min<int64_t>(10 - left, 8);
    REQUIRE(box(e.instances, c) == std::vector<float>{c0, 1, c1, 3});
    if (left <= 4)
      REQUIRE(box(e.instances, c + 1) == std::vector<float>{(float)(4 - left), 0, 8, 4});
    require_consistent(e.instances, 8);
  }
  REQUIRE(saw_left);
  REQUIRE(saw_right);
  REQUIRE(saw_no_d);
}

TEST_CASE("instance_train_transform: deterministic per generator; boxes and masks agree",
          "[instance][data]") {
  const Example in =
      example(30, 40, {{0, 0, 10, 12}, {5, 20, 33, 29}, {31, 3, 40, 17}, {18, 10, 22, 14}}, {0, 0, 0, 1});
  const auto t = instance_train_transform(24, data::normalization("imagenet"), {0.3, 2.0, 0.5});
  std::set<std::vector<double>> images;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Example a = in, b = in;
    Generator ga = data::example_generator(9, 1, seed), gb = data::example_generator(9, 1, seed);
    t.fn(a, ga);
    t.fn(b, gb);
    REQUIRE(a.image.to_vector() == b.image.to_vector());
    REQUIRE(a.instances.boxes.to_vector() == b.instances.boxes.to_vector());
    REQUIRE(a.instances.masks.to_vector() == b.instances.masks.to_vector());
    REQUIRE(a.image.shape() == Shape{3, 24, 24});
    require_consistent(a.instances, 24);
    for (double l : a.instances.labels.to_vector()) REQUIRE(l != 4);  // the crowd region
    images.insert(a.image.to_vector());
  }
  REQUIRE(images.size() >= 10);  // different draws, different images (a few may coincide)

  // Through the reader: COCO's masks and boxes stay consistent too.
  TempDir dir;
  write_images(dir);
  write_file(dir / "ann.json", coco().dump());
  const InstanceDatasetPtr d = read_coco(dir.path.string(), dir / "ann.json");
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Example e = d->get(seed % 3);
    Generator g = data::example_generator(seed, 0, 0);
    instance_train_transform(16, {}, {0.5, 3.0, 0.5}).fn(e, g);
    require_consistent(e.instances, 16);
  }
}

TEST_CASE("instance transforms: bad options and mismatched instances", "[instance][data][errors]") {
  using Catch::Contains;
  CHECK_THAT(error_of([] { instance_train_transform(8, {}, {0.0, 1.0, 0.5}); }), Contains("scale_min"));
  CHECK_THAT(error_of([] { instance_train_transform(8, {}, {2.0, 1.0, 0.5}); }),
             Contains("scale_min <= scale_max"));
  CHECK_THAT(error_of([] { instance_train_transform(8, {}, {1.0, 1.0, 1.5}); }), Contains("flip_p"));
  CHECK_THAT(error_of([] { instance_eval_transform(0, {}); }), Contains("size"));
  Example e = example(4, 8, {{1, 1, 4, 3}});
  e.instances.masks = Tensor::zeros({1, 4, 7}, DType::U8);
  Generator g(0);
  CHECK_THAT(error_of([&] { instance_train_transform(8, {}, {}).fn(e, g); }),
             Contains("instance_train_transform") && Contains("masks must be U8 [1, 4, 8]"));
  e = example(4, 8, {{1, 1, 4, 3}});
  e.instances.boxes = Tensor::zeros({1, 4}, DType::F64);
  CHECK_THAT(error_of([&] { instance_eval_transform(8, {}).fn(e, g); }), Contains("boxes must be F32"));
}
