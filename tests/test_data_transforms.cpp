// test_data_transforms.cpp — image transforms against torchvision 0.14 (fixtures written by
// tests/reference/transforms.py), the random-resized-crop box statistics, the train/eval
// presets, and the DataLoader (order, worker-count independence, drop_last, resume, errors).
#include <set>
#include <thread>

#include "tasks/data/loader.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::data;
using namespace vt::test;

namespace {
const std::vector<double> kMean{0.485, 0.456, 0.406}, kStd{0.229, 0.224, 0.225};
}  // namespace

TEST_CASE("transforms match torchvision", "[data]") {
  Fixture fx("transforms.safetensors");
  // rtol 1e-5; the pipelines get 1e-4 / 1e-5: bicubic in f32, then a division by std ≈ 0.225,
  // differs from torch by up to 3e-5 relative when built without -march=native (FMA contraction).
  auto check = [&](const std::string& name, const std::function<Tensor(const Tensor&)>& f) {
    INFO(name);
    const Tensor in = fx.get(name + ".in").clone();
    const bool pipeline = name.rfind("eval_pipeline", 0) == 0;
    require_close(f(in), fx.get(name + ".out"), pipeline ? 1e-4 : 1e-5, pipeline ? 1e-5 : 1e-6, name);
  };
  check("resize_bilinear_up", [](auto& x) { return resize(x, 13, 17, "bilinear"); });
  check("resize_bilinear_down", [](auto& x) { return resize(x, 9, 11, "bilinear"); });
  check("resize_bicubic_up", [](auto& x) { return resize(x, 13, 17, "bicubic"); });
  check("resize_bicubic_down", [](auto& x) { return resize(x, 9, 11, "bicubic"); });
  check("resize_bicubic_x7", [](auto& x) { return resize(x, 84, 84, "bicubic"); });
  check("center_crop", [](auto& x) { return center_crop(x, 5, 7); });
  check("center_crop_odd", [](auto& x) { return center_crop(x, 4, 4); });
  check("center_crop_pad", [](auto& x) { return center_crop(x, 8, 9); });
  check("hflip", [](auto& x) { return hflip(x); });
  check("normalize", [](auto& x) { return normalize(x, kMean, kStd); });
  Generator g(0);
  check("eval_pipeline", [&](auto& x) { return eval_transform(16, kMean, kStd)(x, g); });
  check("eval_pipeline_gray", [&](auto& x) { return eval_transform(12, kMean, kStd)(x, g); });
}

TEST_CASE("transforms: small exact cases and bad inputs", "[data]") {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {1, 2, 3});
  REQUIRE(hflip(x).to_vector() == std::vector<double>{3, 2, 1, 6, 5, 4});
  REQUIRE(crop(x, 1, 1, 1, 2).to_vector() == std::vector<double>{5, 6});
  REQUIRE(gray_to_rgb(x).shape() == Shape{3, 2, 3});
  REQUIRE(gray_to_rgb(x).select(0, 2).to_vector() == x.select(0, 0).to_vector());
  REQUIRE(normalize(x, {1.0}, {2.0}).to_vector() == std::vector<double>{0, 0.5, 1, 1.5, 2, 2.5});
  // hflip of a non-contiguous view.
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 2, 2}).transpose(1, 2);
  REQUIRE(hflip(t).to_vector() == std::vector<double>{3, 1, 4, 2});

  CHECK_THAT(error_of([&] { resize(x.select(0, 0), 4, 4); }),
             Catch::Contains("resize: expected a (C, H, W) floating image") && Catch::Contains("[2, 3]"));
  CHECK_THAT(error_of([&] { resize(x, 0, 4); }), Catch::Contains("output size must be positive"));
  CHECK_THAT(error_of([&] { resize(x, 4, 4, "nearest"); }), Catch::Contains("nearest"));
  CHECK_THAT(error_of([&] { crop(x, 1, 2, 2, 2); }), Catch::Contains("does not fit in image [1, 2, 3]"));
  CHECK_THAT(error_of([&] { normalize(x, kMean, kStd); }), Catch::Contains("need 1 or 1 values"));
  CHECK_THAT(error_of([&] { normalize(x, {0.0}, {0.0}); }), Catch::Contains("zero"));
  CHECK_THAT(error_of([&] { gray_to_rgb(Tensor::zeros({2, 2, 2})); }), Catch::Contains("1 or 3 channels"));
  CHECK_THAT(error_of([&] { hflip(Tensor::zeros({1, 2, 2}, DType::U8)); }), Catch::Contains("U8"));
  CHECK_THAT(error_of([] { normalization("cifar"); }),
             Catch::Contains("unknown preset 'cifar'") && Catch::Contains("imagenet, inception, none"));
  REQUIRE(normalization("inception").std == std::vector<double>{0.5, 0.5, 0.5});
  REQUIRE(normalization("none").mean.empty());
}

TEST_CASE("random_resized_crop: torchvision's box distribution, deterministic", "[data]") {
  const int64_t H = 100, W = 80;
  Generator g(42);
  double min_scale = 1, max_scale = 0;
  int log_ratio_lo = 0, log_ratio_hi = 0;
  for (int k = 0; k < 3000; ++k) {
    const CropBox b = random_resized_crop_box(H, W, {0.08, 1.0}, {3.0 / 4, 4.0 / 3}, g);
    REQUIRE(b.top >= 0);
    REQUIRE(b.left >= 0);
    REQUIRE(b.top + b.h <= H);
    REQUIRE(b.left + b.w <= W);
    if (b.h == H && b.w == W) continue;  // the whole image: the fallback (or a lucky draw)
    // Sides are rounded from sqrt(area · ratio) and sqrt(area / ratio): the unrounded box,
    // which meets scale and ratio exactly, is within half a pixel of (h, w).
    const double scale = (double)(b.h * b.w) / (H * W), ratio = (double)b.w / b.h;
    REQUIRE((b.w + 0.5) * (b.h + 0.5) >= 0.08 * H * W);
    REQUIRE((b.w - 0.5) * (b.h - 0.5) <= 1.0 * H * W);
    REQUIRE((b.w + 0.5) / (b.h - 0.5) >= 0.75);
    REQUIRE((b.w - 0.5) / (b.h + 0.5) <= 4.0 / 3);
    min_scale = std::min(min_scale, scale), max_scale = std::max(max_scale, scale);
    log_ratio_lo += ratio < 0.85, log_ratio_hi += ratio > 1.2;
  }
  REQUIRE(min_scale < 0.1);  // the whole range is used
  REQUIRE(max_scale > 0.9);
  REQUIRE(log_ratio_lo > 300);  // both ends of the ratio range are drawn
  REQUIRE(log_ratio_hi > 300);

  // Deterministic: same seed, same boxes; other seed, other boxes.
  Generator a(7), b(7), c(8);
  bool differs = false;
  for (int k = 0; k < 20; ++k) {
    const CropBox x = random_resized_crop_box(H, W, {0.08, 1}, {0.75, 4.0 / 3}, a);
    const CropBox y = random_resized_crop_box(H, W, {0.08, 1}, {0.75, 4.0 / 3}, b);
    const CropBox z = random_resized_crop_box(H, W, {0.08, 1}, {0.75, 4.0 / 3}, c);
    REQUIRE((x.top == y.top && x.left == y.left && x.h == y.h && x.w == y.w));
    differs = differs || x.top != z.top || x.h != z.h || x.w != z.w;
  }
  REQUIRE(differs);

  // The fallback (no try can fit an area of 2-3x the image): centre crop, ratio clamped.
  Generator f(1);
  CropBox whole = random_resized_crop_box(100, 80, {2, 3}, {0.75, 4.0 / 3}, f);
  REQUIRE((whole.top == 0 && whole.left == 0 && whole.h == 100 && whole.w == 80));
  CropBox tall = random_resized_crop_box(100, 40, {2, 3}, {0.75, 4.0 / 3}, f);  // 40 / 0.75
  REQUIRE((tall.top == 23 && tall.left == 0 && tall.h == 53 && tall.w == 40));
  CropBox wide = random_resized_crop_box(30, 100, {2, 3}, {0.75, 4.0 / 3}, f);  // 30 · 4/3
  REQUIRE((wide.top == 0 && wide.left == 30 && wide.h == 30 && wide.w == 40));

  // The image version = that box, cropped and resized bilinearly.
  Tensor img = rand_tensor({3, 20, 30}, 5, DType::F32, 0, 1);
  Generator g1(9), g2(9);
  const CropBox box = random_resized_crop_box(20, 30, {0.08, 1}, {0.75, 4.0 / 3}, g1);
  require_close(random_resized_crop(img, 8, 8, g2),
                resize(crop(img, box.top, box.left, box.h, box.w), 8, 8, "bilinear"), 0, 0, "rrc");
  CHECK_THAT(error_of([&] { random_resized_crop_box(10, 10, {0.5, 0.1}, {1, 1}, g1); }),
             Catch::Contains("scale (0.5"));
}

TEST_CASE("train/eval presets", "[data]") {
  Tensor gray = rand_tensor({1, 10, 12}, 3, DType::F32, 0, 1);
  Generator g0(1);
  Tensor e = eval_transform(16, kMean, kStd)(gray, g0);
  REQUIRE(e.shape() == Shape{3, 16, 16});
  Generator g1(1), g2(1);
  // Without augmentation, training = evaluation; "none" skips normalisation.
  require_close(train_transform(16, kMean, kStd, false)(gray, g1), e, 0, 0, "no augment");
  require_close(eval_transform(10, {}, {}, "bilinear")(gray, g1).select(0, 0),
                resize(gray, 10, 10, "bilinear").select(0, 0), 0, 0, "no normalisation");
  // With augmentation: deterministic per generator, and different generators differ.
  Transform t = train_transform(16, kMean, kStd, true);
  Generator a = example_generator(0, 1, 2), b = example_generator(0, 1, 2);
  require_close(t(gray, a), t(gray, b), 0, 0, "same generator");
  REQUIRE(t(gray, a).shape() == Shape{3, 16, 16});
  REQUIRE(example_generator(0, 1, 2).seed != example_generator(0, 1, 3).seed);
  REQUIRE(example_generator(0, 1, 2).seed != example_generator(0, 2, 2).seed);
  REQUIRE(example_generator(0, 1, 2).seed != example_generator(1, 1, 2).seed);
  CHECK_THAT(error_of([] { train_transform(0, kMean, kStd, true); }), Catch::Contains("positive"));
  CHECK_THAT(error_of([] { eval_transform(8, kMean, {}); }), Catch::Contains("both mean and std"));
}

// ---------------------------------------------------------------- DataLoader

namespace {
// n images (1, 2, 2) whose four pixels are all the example's index; label = index % 5.
// Example `bad` (if >= 0) throws from get().
class Numbered : public Dataset {
 public:
  Numbered(int64_t n, int64_t bad = -1) : n_(n), bad_(bad) {}
  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return 5; }
  std::string describe() const override { return "numbered"; }
  Example get(int64_t i) const override {
    if (i == bad_) throw Error("numbered: example " + std::to_string(i) + " is broken");
    return {Tensor::full({1, 2, 2}, (double)i), i % 5, Tensor()};
  }

 private:
  int64_t n_, bad_;
};
// A random transform: adds one uniform draw, so augmentation randomness is checked too.
Tensor jitter(Tensor img, Generator& g) { return img + uniform(g, 0, 0.5); }

// Every batch of one epoch, flattened to comparable values.
struct Epoch {
  std::vector<std::vector<double>> images, labels;
  std::vector<std::vector<int64_t>> indices;
  bool operator==(const Epoch& o) const {
    return images == o.images && labels == o.labels && indices == o.indices;
  }
};
Epoch run_epoch(DataLoader& dl, int64_t epoch, int64_t skip = 0) {
  dl.start_epoch(epoch, skip);
  Epoch e;
  Batch b;
  while (dl.next(b)) {
    REQUIRE(b.images.dtype() == DType::F32);
    REQUIRE(b.labels.dtype() == DType::I64);
    REQUIRE(b.images.shape() == Shape{(int64_t)b.indices.size(), 1, 2, 2});
    e.images.push_back(b.images.to_vector());
    e.labels.push_back(b.labels.to_vector());
    e.indices.push_back(b.indices);
  }
  return e;
}
LoaderOptions opts(int workers, int64_t batch = 5, bool drop_last = false, int prefetch = 2) {
  LoaderOptions o;
  o.batch = batch, o.workers = workers, o.drop_last = drop_last, o.prefetch = prefetch, o.seed = 11;
  return o;
}
}  // namespace

TEST_CASE("DataLoader: order, content, and independence from the worker count", "[data]") {
  auto d = std::make_shared<Numbered>(23);
  DataLoader serial(d, jitter, opts(0));
  REQUIRE(serial.batches_per_epoch() == 5);
  const Epoch e0 = run_epoch(serial, 0), e1 = run_epoch(serial, 1);
  // A permutation of every example, batches of 5, 5, 5, 5, 3; labels and images match indices.
  std::vector<int64_t> all;
  for (size_t b = 0; b < e0.indices.size(); ++b) {
    REQUIRE(e0.indices[b].size() == (b < 4 ? 5u : 3u));
    for (size_t k = 0; k < e0.indices[b].size(); ++k) {
      const int64_t i = e0.indices[b][k];
      all.push_back(i);
      REQUIRE(e0.labels[b][k] == i % 5);
      const double v = e0.images[b][4 * k];
      REQUIRE((v >= i && v < i + 0.5));               // index + its jitter
      REQUIRE(e0.images[b][4 * k + 3] == v);          // one draw per image
    }
  }
  REQUIRE(std::set<int64_t>(all.begin(), all.end()).size() == 23);
  REQUIRE(!std::is_sorted(all.begin(), all.end()));
  REQUIRE(e0.indices != e1.indices);  // a new order every epoch
  REQUIRE(run_epoch(serial, 0) == e0);  // ... the same one when an epoch is replayed

  for (int workers : {1, 3}) {
    for (int prefetch : {1, 4}) {
      INFO("workers " << workers << " prefetch " << prefetch);
      DataLoader dl(d, jitter, opts(workers, 5, false, prefetch));
      REQUIRE(run_epoch(dl, 0) == e0);
      REQUIRE(run_epoch(dl, 1) == e1);
    }
  }
  // Another seed, another order; no shuffle: 0..n-1.
  LoaderOptions other = opts(2);
  other.seed = 12;
  DataLoader dl2(d, jitter, other);
  REQUIRE(run_epoch(dl2, 0).indices != e0.indices);
  LoaderOptions plain = opts(2);
  plain.shuffle = false;
  DataLoader dl3(d, jitter, plain);
  REQUIRE(run_epoch(dl3, 0).indices.front() == std::vector<int64_t>{0, 1, 2, 3, 4});
}

TEST_CASE("DataLoader: drop_last and resuming with skip_batches", "[data]") {
  auto d = std::make_shared<Numbered>(23);
  DataLoader full(d, jitter, opts(2));
  const Epoch e = run_epoch(full, 3);
  DataLoader drop(d, jitter, opts(2, 5, true));
  REQUIRE(drop.batches_per_epoch() == 4);
  const Epoch ed = run_epoch(drop, 3);
  REQUIRE(ed.indices.size() == 4);
  REQUIRE(ed.indices == std::vector<std::vector<int64_t>>(e.indices.begin(), e.indices.begin() + 4));
  for (int workers : {0, 2}) {
    DataLoader dl(d, jitter, opts(workers));
    const Epoch resumed = run_epoch(dl, 3, 2);
    REQUIRE(resumed.indices.size() == 3);
    REQUIRE(resumed.images == std::vector<std::vector<double>>(e.images.begin() + 2, e.images.end()));
    REQUIRE(resumed.indices == std::vector<std::vector<int64_t>>(e.indices.begin() + 2, e.indices.end()));
    REQUIRE(run_epoch(dl, 3, 99).indices.empty());
  }
}

TEST_CASE("DataLoader: a worker's exception is rethrown by next()", "[data]") {
  auto d = std::make_shared<Numbered>(23, 7);
  for (int workers : {0, 1, 3}) {
    INFO("workers " << workers);
    LoaderOptions o = opts(workers);
    o.shuffle = false;  // example 7 is in batch 1
    DataLoader dl(d, jitter, o);
    dl.start_epoch(0);
    Batch b;
    REQUIRE(dl.next(b));
    REQUIRE(b.indices.front() == 0);
    CHECK_THAT(error_of([&] { dl.next(b); }), Catch::Contains("example 7 is broken"));
    REQUIRE(dl.next(b));  // the epoch goes on after the broken batch
    REQUIRE(b.indices.front() == 10);
  }
  // Transforms that disagree on the image shape, or return another dtype.
  DataLoader shapes(std::make_shared<Numbered>(4), [](Tensor x, Generator&) {
    return x.to_vector()[0] == 0 ? x : Tensor::zeros({1, 3, 3});
  }, opts(0, 4));
  shapes.start_epoch(0);
  Batch b;
  CHECK_THAT(error_of([&] { shapes.next(b); }), Catch::Contains("numbered") && Catch::Contains("[1, 3, 3]") &&
                                                    Catch::Contains("[1, 2, 2]"));
  DataLoader f64(std::make_shared<Numbered>(4), [](Tensor x, Generator&) { return x.to(DType::F64); },
                 opts(2, 4));
  f64.start_epoch(0);
  CHECK_THAT(error_of([&] { f64.next(b); }), Catch::Contains("F64"));
  CHECK_THAT(error_of([&] { DataLoader(d, jitter, opts(0, 0)); }), Catch::Contains("batch"));
}

TEST_CASE("DataLoader: stopping mid-epoch joins the workers", "[data]") {
  auto d = std::make_shared<Numbered>(200);
  for (int k = 0; k < 5; ++k) {
    DataLoader dl(d, jitter, opts(3, 4, false, 4));
    dl.start_epoch(0);
    Batch b;
    REQUIRE(dl.next(b));
    dl.start_epoch(1);  // restarts while workers are busy
    REQUIRE(dl.next(b));
  }  // destroyed with batches in flight: must not hang or crash
}
