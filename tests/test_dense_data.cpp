// test_dense_data.cpp — the dense-prediction data side (tasks/dense): the ADE20K and NYU readers
// on files written here (and their error messages), the PNG writers, the synthetic scenes
// (determinism, labels, depth consistent with the drawing order), resize_nearest, the joint
// train/eval transforms (image and target stay aligned) and the colour maps.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_image_write.h>
#pragma GCC diagnostic pop
#include <stb_image.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>

#include "tasks/data/loader.h"
#include "tasks/dense/dense_data.h"
#include "tasks/dense/dense_transforms.h"
#include "tasks/dense/visualize.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::data;
using vt::test::error_of;
using vt::test::write_file;
namespace fs = std::filesystem;

namespace {

struct TempDir : vt::test::TempDir {
  TempDir() : vt::test::TempDir("vitune_dense_") {}
};


// An 8-bit PNG of w x h x comp bytes (made directories first).
void png8(const std::string& path, int w, int h, int comp, const std::vector<uint8_t>& px) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(stbi_write_png(path.c_str(), w, h, comp, px.data(), w * comp));
}

void jpg(const std::string& path, int w, int h, uint8_t value) {
  fs::create_directories(fs::path(path).parent_path());
  std::vector<uint8_t> px((size_t)(w * h * 3), value);
  REQUIRE(stbi_write_jpg(path.c_str(), w, h, 3, px.data(), 95));
}

float at3(const Tensor& t, int64_t c, int64_t y, int64_t x) {
  return t.data<float>()[(c * t.size(1) + y) * t.size(2) + x];
}

}  // namespace

// ---------------------------------------------------------------- readers

TEST_CASE("read_ade20k: pairs sorted by name, reduce_zero_label pixel by pixel", "[dense_data]") {
  TempDir t;
  const std::string root = t.path.string();
  // Two training pairs written out of order, one validation pair.
  const std::vector<uint8_t> mask_b{0, 1, 2, 150, 255, 7};  // 3x2
  const std::vector<uint8_t> mask_a{5, 0, 0, 1, 1, 150};
  jpg(t / "images/training/b.jpg", 3, 2, 200);
  png8(t / "annotations/training/b.png", 3, 2, 1, mask_b);
  jpg(t / "images/training/a.jpg", 3, 2, 40);
  png8(t / "annotations/training/a.png", 3, 2, 1, mask_a);
  jpg(t / "images/validation/v.jpg", 4, 4, 128);
  png8(t / "annotations/validation/v.png", 4, 4, 1, std::vector<uint8_t>(16, 3));
  write_file(t / "images/training/notes.txt", "not an image");  // ignored

  DatasetPtr d = read_ade20k(root, true);
  REQUIRE(d->size() == 2);
  REQUIRE(d->num_classes() == 150);
  const Example a = d->get(0), b = d->get(1);  // a before b
  REQUIRE(a.image.shape() == Shape{3, 2, 3});
  REQUIRE(std::abs(at3(a.image, 0, 0, 0) - 40 / 255.0f) < 4 / 255.0f);  // JPEG is lossy
  REQUIRE(std::abs(at3(b.image, 2, 1, 2) - 200 / 255.0f) < 4 / 255.0f);
  REQUIRE(a.target.dtype() == DType::I64);
  REQUIRE(a.target.shape() == Shape{2, 3});
  REQUIRE(a.label == -1);
  auto reduce = [](uint8_t v) -> double { return v == 0 || v == 255 ? 255.0 : v - 1.0; };
  for (size_t p = 0; p < 6; ++p) {
    REQUIRE(a.target.to_vector()[p] == reduce(mask_a[p]));
    REQUIRE(b.target.to_vector()[p] == reduce(mask_b[p]));
  }
  REQUIRE(b.target.to_vector() == std::vector<double>{255, 0, 1, 149, 255, 6});

  DatasetPtr v = open_dense_dataset("ade20k:" + root, false, "segmentation");
  REQUIRE(v->size() == 1);
  REQUIRE(v->get(0).target.to_vector() == std::vector<double>(16, 2));
}

TEST_CASE("read_ade20k: bad layouts and files name the file", "[dense_data]") {
  TempDir t;
  const std::string root = t.path.string();
  CHECK_THAT(error_of([&] { read_ade20k(root, true); }),
             Catch::Contains("no folder") && Catch::Contains("images/training"));
  jpg(t / "images/training/x.jpg", 4, 4, 10);
  fs::create_directories(t.path / "annotations/training");
  CHECK_THAT(error_of([&] { read_ade20k(root, true); }),
             Catch::Contains("x.jpg") && Catch::Contains("has no mask") &&
                 Catch::Contains("annotations/training/x.png"));
  // A mask of the wrong size, a 3-channel mask, an undecodable image: found by get().
  png8(t / "annotations/training/x.png", 5, 4, 1, std::vector<uint8_t>(20, 1));
  jpg(t / "images/training/y.jpg", 4, 4, 10);
  png8(t / "annotations/training/y.png", 4, 4, 3, std::vector<uint8_t>(48, 1));
  write_file(t / "images/training/z.jpg", "garbage, not a JPEG");
  png8(t / "annotations/training/z.png", 4, 4, 1, std::vector<uint8_t>(16, 1));
  DatasetPtr d = read_ade20k(root, true);
  REQUIRE(d->size() == 3);
  CHECK_THAT(error_of([&] { d->get(0); }),
             Catch::Contains("x.png") && Catch::Contains("5x4") && Catch::Contains("4x4"));
  CHECK_THAT(error_of([&] { d->get(1); }),
             Catch::Contains("y.png") && Catch::Contains("3 channel(s)"));
  CHECK_THAT(error_of([&] { d->get(2); }), Catch::Contains("cannot decode image") && Catch::Contains("z.jpg"));
  CHECK_THAT(error_of([&] { d->get(3); }), Catch::Contains("out of range"));
  // A mask value ADE20K cannot hold.
  png8(t / "annotations/training/x.png", 4, 4, 1, std::vector<uint8_t>(16, 200));
  CHECK_THAT(error_of([&] { d->get(0); }), Catch::Contains("x.png") && Catch::Contains("200"));
}

TEST_CASE("write_png16 round-trips through stbi_load_16", "[dense_data]") {
  TempDir t;
  const std::vector<uint16_t> px{0, 1, 255, 256, 1000, 65535, 4242, 12345, 777, 2, 3, 40000};
  write_png16(t / "d.png", px, 3, 4);
  REQUIRE(stbi_is_16_bit((t / "d.png").c_str()));
  int w = 0, h = 0, c = 0;
  stbi_us* back = stbi_load_16((t / "d.png").c_str(), &w, &h, &c, 0);
  REQUIRE(back != nullptr);
  REQUIRE((w == 4 && h == 3 && c == 1));
  REQUIRE(std::vector<uint16_t>(back, back + 12) == px);
  stbi_image_free(back);
  // Atomic: nothing but the file is left in the folder.
  REQUIRE(std::distance(fs::directory_iterator(t.path), fs::directory_iterator()) == 1);
  CHECK_THAT(error_of([&] { write_png16(t / "e.png", px, 4, 4); }), Catch::Contains("12 pixels for a 4x4"));
  CHECK_THAT(error_of([&] { write_png16(t / "no/such/dir/e.png", px, 3, 4); }),
             Catch::Contains("cannot write") && Catch::Contains("no/such/dir/e.png"));
}

TEST_CASE("read_nyu: depth in metres, split file errors name file and line", "[dense_data]") {
  TempDir t;
  const std::string root = t.path.string();
  std::vector<uint8_t> rgb(2 * 3 * 3);
  for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = (uint8_t)(k * 13);
  png8(t / "scene/rgb_0.png", 3, 2, 3, rgb);
  fs::create_directories(t.path / "scene");
  const std::vector<uint16_t> mm{0, 1000, 2500, 65535, 1, 0};
  write_png16(t / "scene/depth_0.png", mm, 2, 3);
  write_file(t / "split.txt", "# rgb depth\n\nscene/rgb_0.png scene/depth_0.png\r\n"
                              "/scene/rgb_0.png /scene/depth_0.png 518.8579\n");
  DatasetPtr d = read_nyu(root, t / "split.txt");
  REQUIRE(d->size() == 2);
  REQUIRE(d->num_classes() == 0);
  const Example e = d->get(0);
  REQUIRE(e.image.shape() == Shape{3, 2, 3});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t p = 0; p < 6; ++p)
      REQUIRE(e.image.data<float>()[c * 6 + p] == rgb[p * 3 + c] / 255.0f);
  REQUIRE(e.target.dtype() == DType::F32);
  REQUIRE(e.target.shape() == Shape{1, 2, 3});
  for (int64_t p = 0; p < 6; ++p)
    REQUIRE(e.target.data<float>()[p] == (float)(mm[p] / 1000.0));
  REQUIRE(e.target.data<float>()[0] == 0.0f);  // no measurement stays 0
  // Another scale (e.g. KITTI's 256 units a metre), and the spec forms.
  REQUIRE(read_nyu(root, t / "split.txt", 256.0)->get(1).target.data<float>()[1] == (float)(1000 / 256.0));
  REQUIRE(open_dense_dataset("nyu:" + root + ":split.txt", true, "depth")->size() == 2);
  REQUIRE(open_dense_dataset("nyu:" + root + ":" + (t / "split.txt"), false, "depth")->size() == 2);

  const std::string split = t / "bad.txt";
  auto msg_for = [&](const std::string& text) {
    write_file(split, text);
    return error_of([&] { read_nyu(root, split); });
  };
  CHECK_THAT(msg_for("scene/rgb_0.png scene/depth_0.png\nscene/rgb_0.png\n"),
             Catch::Contains(split + ":2: expected 'RGB_PATH DEPTH_PATH"));
  CHECK_THAT(msg_for("\na b focal\n"), Catch::Contains(split + ":2: expected"));
  CHECK_THAT(msg_for("scene/rgb_0.png scene/missing.png\n"),
             Catch::Contains(split + ":1: no such file") && Catch::Contains("scene/missing.png"));
  CHECK_THAT(msg_for("# nothing\n"), Catch::Contains("names no image"));
  CHECK_THAT(error_of([&] { read_nyu(root, t / "nope.txt"); }), Catch::Contains("nope.txt: cannot open"));
  CHECK_THAT(error_of([&] { read_nyu(t / "nodir", split); }), Catch::Contains("no folder") && Catch::Contains("nodir"));

  // Size mismatch and an 8-bit depth PNG: found by get(), naming the line and the file.
  write_png16(t / "scene/depth_small.png", std::vector<uint16_t>(4, 7), 2, 2);
  png8(t / "scene/depth_8bit.png", 3, 2, 1, std::vector<uint8_t>(6, 9));
  write_file(split, "scene/rgb_0.png scene/depth_small.png\nscene/rgb_0.png scene/depth_8bit.png\n");
  DatasetPtr bad = read_nyu(root, split);
  CHECK_THAT(error_of([&] { bad->get(0); }),
             Catch::Contains(split + ":1:") && Catch::Contains("depth_small.png") &&
                 Catch::Contains("2x2") && Catch::Contains("3x2"));
  CHECK_THAT(error_of([&] { bad->get(1); }),
             Catch::Contains(split + ":2:") && Catch::Contains("depth_8bit.png") &&
                 Catch::Contains("not a 16-bit"));
}

TEST_CASE("open_dense_dataset: kinds and tasks", "[dense_data]") {
  CHECK_THAT(error_of([] { open_dense_dataset("ade20k:/x", true, "depth"); }),
             Catch::Contains("'ade20k:/x'") && Catch::Contains("segmentation data set"));
  CHECK_THAT(error_of([] { open_dense_dataset("nyu:/x:s.txt", true, "segmentation"); }),
             Catch::Contains("'nyu:/x:s.txt'") && Catch::Contains("depth data set"));
  CHECK_THAT(error_of([] { open_dense_dataset("nyu:/x", true, "depth"); }), Catch::Contains("nyu:ROOT:SPLIT_FILE"));
  CHECK_THAT(error_of([] { open_dense_dataset("coco:/x", true, "segmentation"); }),
             Catch::Contains("unknown kind 'coco'") && Catch::Contains("coco:/x"));
  CHECK_THAT(error_of([] { open_dense_dataset("scenes:ten", true, "depth"); }),
             Catch::Contains("'ten'") && Catch::Contains("scenes:ten"));
  CHECK_THAT(error_of([] { open_dense_dataset("scenes:4", true, "panoptic"); }), Catch::Contains("panoptic"));
  DatasetPtr tr = open_dense_dataset("scenes:5:24", true, "segmentation");
  DatasetPtr ev = open_dense_dataset("scenes:5:24", false, "segmentation");
  REQUIRE(tr->size() == 5);
  REQUIRE(tr->get(0).image.shape() == Shape{3, 24, 24});
  REQUIRE(tr->get(0).image.to_vector() != ev->get(0).image.to_vector());  // different seeds
  REQUIRE(open_dense_dataset("scenes:3", true, "depth")->get(2).target.shape() == Shape{1, 64, 64});
}

// ---------------------------------------------------------------- synthetic scenes

TEST_CASE("synthetic scenes: deterministic, labelled, depth consistent with drawing order",
          "[dense_data]") {
  SceneOptions o;
  o.size = 48;
  const uint64_t seed = 17;
  // A pure function of (seed, i): the same twice, and the same from a data set in any order.
  const Scene s3 = render_scene(o, seed, 3);
  DatasetPtr d = synthetic_scenes(50, o, seed);
  REQUIRE(d->get(3).image.to_vector() == s3.image.to_vector());
  REQUIRE(d->get(3).target.to_vector() == s3.labels.to_vector());
  REQUIRE(render_scene(o, seed, 3).depth.to_vector() == s3.depth.to_vector());
  REQUIRE(render_scene(o, seed, 4).image.to_vector() != s3.image.to_vector());
  REQUIRE(render_scene(o, seed + 1, 3).image.to_vector() != s3.image.to_vector());

  std::set<int64_t> classes_seen;
  int overlaps_checked = 0;
  for (int64_t i = 0; i < 50; ++i) {
    INFO("scene " << i);
    const Scene s = render_scene(o, seed, i);
    const int64_t S = o.size;
    REQUIRE(s.image.shape() == Shape{3, S, S});
    REQUIRE(s.labels.shape() == Shape{S, S});
    REQUIRE(s.depth.shape() == Shape{1, S, S});
    REQUIRE((int64_t)s.shapes.size() >= 1);
    REQUIRE((int64_t)s.shapes.size() <= o.max_shapes);
    for (double v : s.image.to_vector()) REQUIRE((v >= 0.0 && v <= 1.0));
    const int64_t* lab = s.labels.data<int64_t>();
    const int64_t* inst = s.instance.data<int64_t>();
    const float* dep = s.depth.data<float>();
    std::vector<int64_t> visible(s.shapes.size(), 0);
    for (int64_t y = 0; y < S; ++y)
      for (int64_t x = 0; x < S; ++x) {
        const int64_t p = y * S + x, k = inst[p];
        REQUIRE((lab[p] >= 0 && lab[p] < kSceneClasses));
        classes_seen.insert(lab[p]);
        if (k < 0) {  // the ground plane, receding upwards from 6 m to 10 m
          REQUIRE(lab[p] == 0);
          REQUIRE(dep[p] == Approx(scene_ground_depth((double)y, S)).epsilon(1e-6));
          continue;
        }
        const SceneShape& sh = s.shapes[k];
        visible[k]++;
        REQUIRE(lab[p] == sh.cls);
        REQUIRE(sh.contains(x + 0.5, y + 0.5));
        REQUIRE(dep[p] == Approx(sh.depth_at(x + 0.5, y + 0.5)).epsilon(1e-6));
        // In front of the ground and of every earlier shape it covers there.
        REQUIRE(dep[p] < scene_ground_depth((double)y, S));
        for (int64_t j = 0; j < k; ++j)
          if (s.shapes[j].contains(x + 0.5, y + 0.5)) {
            REQUIRE(dep[p] < s.shapes[j].depth_at(x + 0.5, y + 0.5));
            overlaps_checked++;
          }
        // No later shape covers a visible pixel.
        for (size_t j = k + 1; j < s.shapes.size(); ++j) REQUIRE_FALSE(s.shapes[j].contains(x + 0.5, y + 0.5));
      }
    // Apparent size ∝ 1 / depth (up to a ±10% jitter).
    for (const SceneShape& sh : s.shapes) {
      REQUIRE(sh.radius * sh.depth / S >= 0.9 * 0.9 - 1e-9);
      REQUIRE(sh.radius * sh.depth / S <= 0.9 * 1.1 + 1e-9);
    }
    // The classification label: the shape with the most visible pixels.
    const auto most = std::max_element(visible.begin(), visible.end());
    REQUIRE(*most > 0);
    REQUIRE(s.main_class == s.shapes[most - visible.begin()].cls);
  }
  REQUIRE(classes_seen.size() == (size_t)kSceneClasses);  // every class appears
  REQUIRE(overlaps_checked > 0);  // some scenes have a shape in front of another

  // The three tasks.
  o.task = "depth";
  DatasetPtr dd = synthetic_scenes(4, o, seed);
  REQUIRE(dd->num_classes() == 0);
  REQUIRE(dd->get(3).target.to_vector() == s3.depth.to_vector());
  REQUIRE(dd->get(3).target.dtype() == DType::F32);
  o.task = "classification";
  DatasetPtr dc = synthetic_scenes(50, o, seed);
  REQUIRE(dc->num_classes() == kSceneClasses);
  REQUIRE(dc->get(3).label == s3.main_class);
  REQUIRE_FALSE(dc->get(3).target.defined());
  REQUIRE(dc->label(3) == s3.main_class);
  REQUIRE(d->num_classes() == kSceneClasses);
  REQUIRE(d->get(0).label == -1);
  REQUIRE(scene_class_names().size() == (size_t)kSceneClasses);
  REQUIRE(scene_class_names()[4] == "ring");
  o.task = "edges";
  CHECK_THAT(error_of([&] { synthetic_scenes(4, o, seed); }), Catch::Contains("unknown task 'edges'"));
  CHECK_THAT(error_of([&] { d->get(50); }), Catch::Contains("out of range"));
}

// ---------------------------------------------------------------- transforms

TEST_CASE("resize_nearest: torch's nearest rule", "[dense_data]") {
  auto row = [](int64_t n) {
    std::vector<int64_t> v(n);
    for (int64_t k = 0; k < n; ++k) v[k] = k;
    return Tensor::from_vector(v, {1, n});
  };
  auto cols = [&](int64_t in, int64_t out) {
    const auto v = resize_nearest(row(in), 1, out).to_vector();
    return std::vector<int64_t>(v.begin(), v.end());
  };
  // By hand: src = floor(dst · in / out).
  REQUIRE(cols(3, 5) == std::vector<int64_t>{0, 0, 1, 1, 2});
  REQUIRE(cols(5, 3) == std::vector<int64_t>{0, 1, 3});
  REQUIRE(cols(10, 4) == std::vector<int64_t>{0, 2, 5, 7});
  REQUIRE(cols(3, 7) == std::vector<int64_t>{0, 0, 0, 1, 1, 2, 2});
  REQUIRE(cols(4, 4) == std::vector<int64_t>{0, 1, 2, 3});
  // torch 1.13 F.interpolate(mode='nearest') for 11 -> 29 (float rounding at the boundaries).
  REQUIRE(cols(11, 29) == std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5,
                                               5, 6, 6, 6, 7, 7, 7, 8, 8, 9, 9, 9, 10, 10});
  // Rows and channels; F32 and U8.
  Tensor chw = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  REQUIRE(resize_nearest(chw, 4, 1).to_vector() == std::vector<double>{1, 1, 3, 3, 5, 5, 7, 7});
  Tensor u8 = Tensor::full({3, 3}, 9, DType::U8);
  REQUIRE(resize_nearest(u8, 2, 2).dtype() == DType::U8);
  REQUIRE(resize_nearest(u8, 2, 2).to_vector() == std::vector<double>(4, 9));
  CHECK_THAT(error_of([] { resize_nearest(Tensor::zeros({4}), 2, 2); }), Catch::Contains("(H, W) or (C, H, W)"));
  CHECK_THAT(error_of([&] { resize_nearest(u8, 0, 2); }), Catch::Contains("positive"));
}

namespace {

// An image whose channels 0 and 1 are the pixel's own x / W and y / H (channel 2 = 0.5), and
// targets naming each pixel: classes y · W + x (H · W < 255) and depth 1 + y · W + x.
Tensor ramp_image(int64_t H, int64_t W) {
  Tensor img = Tensor::empty({3, H, W});
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      img.data<float>()[y * W + x] = (float)x / W;
      img.data<float>()[(H + y) * W + x] = (float)y / H;
      img.data<float>()[(2 * H + y) * W + x] = 0.5f;
    }
  return img;
}

Tensor position_target(int64_t H, int64_t W, bool depth) {
  Tensor t = Tensor::empty(depth ? Shape{1, H, W} : Shape{H, W}, depth ? DType::F32 : DType::I64);
  for (int64_t p = 0; p < H * W; ++p) {
    if (depth) t.data<float>()[p] = (float)(1 + p);
    else t.data<int64_t>()[p] = p;
  }
  return t;
}

}  // namespace

TEST_CASE("dense train transform: image and target stay aligned", "[dense_data]") {
  for (bool depth : {false, true}) {
    const int64_t H = depth ? 20 : 15, W = depth ? 30 : 15;
    INFO((depth ? "depth" : "segmentation"));
    const double pad = depth ? 0.0 : 255.0;
    DenseAugment aug;
    aug.photometric = false;
    const int64_t size = 12;
    const double r_max = (double)std::min(H, W) / (size * aug.scale_min) * 1.05;
    const double tol = 0.5 + 0.5 * r_max;
    PairTransform tf = dense_train_transform(size, normalization("none"), aug);
    int flipped = 0, unflipped = 0, padded = 0, shifted = 0;
    for (uint64_t seed = 0; seed < 40; ++seed) {
      Tensor img = ramp_image(H, W), target = position_target(H, W, depth);
      Generator g = example_generator(seed, 0, 0);
      tf(img, target, g);
      REQUIRE(img.shape() == Shape{3, size, size});
      REQUIRE(target.shape() == (depth ? Shape{1, size, size} : Shape{size, size}));
      REQUIRE(target.dtype() == (depth ? DType::F32 : DType::I64));
      const auto tv = target.to_vector();
      bool any_pad = false;
      for (int64_t y = 0; y < size; ++y)
        for (int64_t x = 0; x < size; ++x) {
          const double v = tv[y * size + x];
          if (v == pad) {  // padding: the image is 0 there too
            any_pad = true;
            REQUIRE(at3(img, 0, y, x) == 0.0f);
            REQUIRE(at3(img, 2, y, x) == 0.0f);
            continue;
          }
          REQUIRE(at3(img, 2, y, x) == Approx(0.5f));
          const int64_t p = (int64_t)v - (depth ? 1 : 0);
          const int64_t sx = p % W, sy = p / W;
          // The image's own position matches the target's up to the bilinear-vs-nearest
          // offset: (x' + 0.5) r - 0.5 vs floor(x' r), r = in / out, less than 0.5 + r / 2.
          REQUIRE(std::abs(at3(img, 0, y, x) * W - sx) <= tol);
          REQUIRE(std::abs(at3(img, 1, y, x) * H - sy) <= tol);
        }
      padded += any_pad;
      // Flipped: x decreases along the first row of real pixels.
      const double a = tv[0], b = tv[1];
      if (a != pad && b != pad) {
        if (b < a) flipped++;
        else unflipped++;
        if (std::fmod(a - (depth ? 1 : 0), W) != 0 && std::fmod(a - (depth ? 1 : 0), W) != W - 1) shifted++;
      }
    }
    REQUIRE(flipped > 0);
    REQUIRE(unflipped > 0);
    REQUIRE(padded > 0);   // scale 0.5 makes the image smaller than the crop
    REQUIRE(shifted > 0);  // and scale 2 makes the crop start inside it
  }
}

TEST_CASE("dense train transform: exact at scale 1, padding, photometric on the image only",
          "[dense_data]") {
  // Scale 1 with size = the short side: resizing is the identity, so crop and flip are exact.
  DenseAugment aug;
  aug.scale_min = aug.scale_max = 1.0;
  aug.crop = 14;  // larger than the 10-row image: padded at the bottom
  aug.photometric = false;
  PairTransform tf = dense_train_transform(10, normalization("none"), aug);
  for (uint64_t seed = 0; seed < 10; ++seed) {
    Tensor img = ramp_image(10, 13), target = position_target(10, 13, false);
    Generator g(seed);
    tf(img, target, g);
    REQUIRE(img.shape() == Shape{3, 14, 14});
    for (int64_t y = 0; y < 14; ++y)
      for (int64_t x = 0; x < 14; ++x) {
        const int64_t v = target.data<int64_t>()[y * 14 + x];
        if (y >= 10 || x >= 13) {  // bottom / right padding
          REQUIRE(v == 255);
          REQUIRE(at3(img, 1, y, x) == 0.0f);
          continue;
        }
        REQUIRE(at3(img, 0, y, x) == (float)(v % 13) / 13);
        REQUIRE(at3(img, 1, y, x) == (float)(v / 13) / 10);
        REQUIRE(v / 13 == y);
      }
  }
  // Photometric distortion: the image changes, stays in [0, 1]; the target does not change.
  aug.crop = 10;
  aug.flip = false;
  aug.photometric = true;
  PairTransform tp = dense_train_transform(10, normalization("none"), aug);
  int changed = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    Tensor img = ramp_image(10, 10), target = position_target(10, 10, true);
    const auto before = img.to_vector();
    Generator g(seed);
    tp(img, target, g);
    REQUIRE(target.to_vector() == position_target(10, 10, true).to_vector());
    for (double v : img.to_vector()) REQUIRE((v >= 0.0 && v <= 1.0));
    changed += img.to_vector() != before;
  }
  REQUIRE(changed > 0);
  // Normalisation is applied last; bad targets are refused.
  PairTransform tn = dense_train_transform(10, normalization("inception"), DenseAugment{});
  Tensor img = Tensor::zeros({3, 10, 10}), bad = Tensor::zeros({10, 11}, DType::I64);
  Generator g(0);
  CHECK_THAT(error_of([&] { tn(img, bad, g); }), Catch::Contains("does not match image"));
  Tensor wrong = Tensor::zeros({10, 10}, DType::I32);
  CHECK_THAT(error_of([&] { tn(img, wrong, g); }), Catch::Contains("I32"));
  Tensor none;
  tn(img, none, g);  // a classification example: the image alone
  REQUIRE(img.shape() == Shape{3, 10, 10});
  REQUIRE(img.to_vector()[0] <= -0.5);  // (0 ± photometric - 0.5) / 0.5
}

TEST_CASE("dense eval transform: both to size x size, normalised", "[dense_data]") {
  PairTransform tf = dense_eval_transform(16, normalization("imagenet"));
  Tensor img = Tensor::full({3, 20, 30}, 0.485), seg = position_target(20, 30, false);
  Generator g(0);
  tf(img, seg, g);
  REQUIRE(img.shape() == Shape{3, 16, 16});
  REQUIRE(seg.shape() == Shape{16, 16});
  REQUIRE(std::abs(img.to_vector()[0]) < 1e-5);  // (0.485 - 0.485) / 0.229
  // Nearest sampling: target (y, x) comes from source (floor(y · 20/16), floor(x · 30/16)).
  for (int64_t y = 0; y < 16; ++y)
    for (int64_t x = 0; x < 16; ++x)
      REQUIRE(seg.data<int64_t>()[y * 16 + x] == (y * 20 / 16) * 30 + (x * 30 / 16));
  Tensor img2 = Tensor::full({1, 20, 30}, 0.5), depth = position_target(20, 30, true);
  tf(img2, depth, g);
  REQUIRE(img2.shape() == Shape{3, 16, 16});  // gray becomes RGB
  REQUIRE(depth.shape() == Shape{1, 16, 16});
}

TEST_CASE("dense transforms feed the loader: targets stacked", "[dense_data]") {
  SceneOptions o;
  o.size = 32;
  LoaderOptions lo;
  lo.batch = 3;
  lo.workers = 0;
  DataLoader loader(synthetic_scenes(6, o, 1), dense_train_transform(24, normalization("imagenet"), {}), lo);
  loader.start_epoch(0);
  Batch b;
  REQUIRE(loader.next(b));
  REQUIRE(b.images.shape() == Shape{3, 3, 24, 24});
  REQUIRE(b.targets.shape() == Shape{3, 24, 24});
  for (double v : b.targets.to_vector()) REQUIRE(((v >= 0 && v < kSceneClasses) || v == 255));
}

// ---------------------------------------------------------------- visualisation

TEST_CASE("colour maps, panels and write_png", "[dense_data]") {
  // Labels: 150 distinct colours, 255 black, other values refused.
  std::vector<int64_t> all(151);
  for (int64_t k = 0; k < 150; ++k) all[k] = k;
  all[150] = 255;
  const Tensor c = colorize_labels(Tensor::from_vector(all, {1, 151}), 150);
  REQUIRE(c.shape() == Shape{3, 1, 151});
  std::set<std::vector<float>> colours;
  for (int64_t k = 0; k < 151; ++k)
    colours.insert({at3(c, 0, 0, k), at3(c, 1, 0, k), at3(c, 2, 0, k)});
  REQUIRE(colours.size() == 151);
  REQUIRE((at3(c, 0, 0, 150) == 0 && at3(c, 1, 0, 150) == 0 && at3(c, 2, 0, 150) == 0));
  for (int64_t k = 0; k < 150; ++k)
    REQUIRE(at3(c, 0, 0, k) + at3(c, 1, 0, k) + at3(c, 2, 0, k) > 0);  // only 255 is black
  CHECK_THAT(error_of([] { colorize_labels(Tensor::from_vector(std::vector<int64_t>{6}, {1, 1}), 6); }),
             Catch::Contains("label 6 out of range"));

  // Depth: 0 black, near warm, far cool.
  const Tensor d = colorize_depth(Tensor::from_vector(std::vector<float>{0, 1, 10}, {1, 1, 3}), 1, 10);
  REQUIRE((at3(d, 0, 0, 0) == 0 && at3(d, 1, 0, 0) == 0 && at3(d, 2, 0, 0) == 0));
  REQUIRE(at3(d, 0, 0, 1) > at3(d, 2, 0, 1));
  REQUIRE(at3(d, 2, 0, 2) > at3(d, 0, 0, 2));
  CHECK_THAT(error_of([&] { colorize_depth(Tensor::zeros({2, 2}), 5, 5); }), Catch::Contains("min_depth < max_depth"));

  // Panels: side by side, 2-pixel white gaps.
  const Tensor p = hconcat_images({Tensor::zeros({3, 4, 2}), Tensor::full({1, 4, 3}, 0.5)});
  REQUIRE(p.shape() == Shape{3, 4, 7});
  REQUIRE(at3(p, 0, 1, 1) == 0.0f);
  REQUIRE((at3(p, 1, 2, 2) == 1.0f && at3(p, 2, 3, 3) == 1.0f));
  REQUIRE(at3(p, 2, 0, 6) == 0.5f);
  CHECK_THAT(error_of([] { hconcat_images({Tensor::zeros({3, 4, 2}), Tensor::zeros({3, 5, 2})}); }),
             Catch::Contains("different heights"));

  // write_png: round trip through stb_image, nothing else left in the folder.
  TempDir t;
  write_png(t / "p.png", p);
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load((t / "p.png").c_str(), &w, &h, &n, 3);
  REQUIRE(px != nullptr);
  REQUIRE((w == 7 && h == 4));
  REQUIRE((px[0] == 0 && px[(0 * 7 + 6) * 3 + 2] == 128 && px[(2 * 7 + 2) * 3 + 1] == 255));
  stbi_image_free(px);
  REQUIRE(std::distance(fs::directory_iterator(t.path), fs::directory_iterator()) == 1);
}
