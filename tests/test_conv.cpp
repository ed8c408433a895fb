// test_conv.cpp — conv2d (dense, grouped, depthwise, per-sample), avg / adaptive pooling,
// bilinear / bicubic interpolation and RoIAlign: f64 gradient checks, PyTorch / torchvision
// fixtures (ops_conv), the frozen-weight save rule, and bad-input errors.
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;

namespace {
// Fixture tolerance: atol 1e-5 instead of 1e-6. A conv output is a length-48 f32 dot product
// and a bicubic input gradient sums ~60 weighted terms, so float32 rounding alone moves
// values O(1–10) by a few 1e-6: torch's own f32 results differ from its f64 ones by up to
// 4e-6 on these cases.
constexpr double kRtol = 1e-5, kAtol = 1e-5;

Tensor leaf(const Shape& s, uint64_t seed) {
  return rand_tensor(s, seed).set_requires_grad(true);
}
// A non-contiguous image: H and W swapped in memory.
Tensor strided_image(const Shape& s, uint64_t seed) {
  return rand_strided(s, seed, 2, 3).set_requires_grad(true);
}
}  // namespace

TEST_CASE("conv2d: gradients for stride, padding, dilation and groups", "[ops][conv][grad]") {
  auto x = strided_image({2, 4, 6, 5}, 1);
  auto w = leaf({6, 4, 3, 3}, 2), b = leaf({6}, 3);
  gradcheck([](auto& v) { return conv2d(v[0], v[1], v[2]); }, {x, w, b});
  gradcheck([](auto& v) { return conv2d(v[0], v[1], v[2], {2, 1}, {1, 2}); }, {x, w, b});
  gradcheck([](auto& v) { return conv2d(v[0], v[1], Tensor(), {1, 2}, {2, 1}, {2, 2}); },
            {x, w});
  auto wg = leaf({6, 2, 2, 3}, 4);  // groups = 2: (O, C/2, kh, kw)
  gradcheck([](auto& v) { return conv2d(v[0], v[1], v[2], {2, 2}, {1, 1}, {1, 1}, 2); },
            {x, wg, b});
  auto w1 = leaf({3, 4, 1, 1}, 5);  // 1×1 conv
  gradcheck([](auto& v) { return conv2d(v[0], v[1]); }, {x, w1});
  auto wm = leaf({8, 1, 3, 3}, 6);  // groups == C but O = 2C: the grouped GEMM path
  gradcheck([](auto& v) { return conv2d(v[0], v[1], Tensor(), {1, 1}, {1, 1}, {1, 1}, 4); },
            {x, wm});
}

TEST_CASE("conv2d: depthwise gradients (direct kernel)", "[ops][conv][grad]") {
  auto x = strided_image({2, 3, 7, 6}, 11);
  auto w = leaf({3, 1, 3, 3}, 12), b = leaf({3}, 13);
  gradcheck([](auto& v) { return conv2d(v[0], v[1], v[2], {1, 1}, {1, 1}, {1, 1}, 3); },
            {x, w, b});
  gradcheck([](auto& v) { return conv2d(v[0], v[1], v[2], {2, 1}, {2, 0}, {2, 1}, 3); },
            {x, w, b});
  auto w2 = leaf({3, 1, 2, 4}, 14);
  gradcheck([](auto& v) { return conv2d(v[0], v[1], Tensor(), {1, 3}, {0, 2}, {1, 1}, 3); },
            {x, w2});
}

TEST_CASE("conv2d: per-sample kernels", "[ops][conv][grad]") {
  auto x = leaf({3, 4, 5, 6}, 21);
  auto wd = leaf({3, 4, 1, 3, 3}, 22), b = leaf({4}, 23);  // depthwise, one kernel per image
  gradcheck([](auto& v) { return conv2d(v[0], v[1], v[2], {1, 1}, {1, 1}, {1, 1}, 4); },
            {x, wd, b});
  gradcheck([](auto& v) { return conv2d(v[0], v[1], Tensor(), {2, 2}, {2, 1}, {2, 1}, 4); },
            {x, wd});
  auto w = leaf({3, 5, 4, 3, 2}, 24);  // dense, (N, O, C, kh, kw)
  gradcheck([](auto& v) { return conv2d(v[0], v[1], Tensor(), {2, 1}, {1, 1}); }, {x, w});
  auto wg = leaf({3, 4, 2, 3, 3}, 25);  // grouped, groups = 2
  gradcheck([](auto& v) { return conv2d(v[0], v[1], v[2], {1, 1}, {1, 1}, {1, 1}, 2); },
            {x, wg, b});

  // Image n convolved with w[n] equals an ordinary conv of image n alone.
  NoGrad ng;
  Tensor y = conv2d(x, w, Tensor(), {2, 1}, {1, 1});
  for (int64_t n = 0; n < 3; ++n) {
    Tensor yn = conv2d(x.narrow(0, n, 1), w.select(0, n), Tensor(), {2, 1}, {1, 1});
    require_close(y.narrow(0, n, 1), yn, 1e-12, 1e-12, "per-sample image " + std::to_string(n));
  }
}

TEST_CASE("conv2d: images past the column budget run in chunks, with the same results", "[ops][conv]") {
  // 64 · 9 · 86² = 4.3M column elements per image: chunks of 3 images under the 2^24-element
  // budget (engine/ops/conv.cpp), so N = 4 runs as 3 + 1. Against one conv per image: y, dX,
  // and dW summed over the images.
  const Tensor x0 = rand_tensor({4, 64, 86, 86}, 31, DType::F32), w0 = rand_tensor({2, 64, 3, 3}, 32, DType::F32);
  Tensor x = x0.clone().set_requires_grad(true), w = w0.clone().set_requires_grad(true);
  const Tensor y = conv2d(x, w, Tensor(), {1, 1}, {1, 1});
  const Tensor g = rand_tensor(y.shape(), 33, DType::F32);
  sum(mul(y, g)).backward();
  Tensor gw_sum = Tensor::zeros(w0.shape(), DType::F32);
  for (int64_t n = 0; n < 4; ++n) {
    Tensor xn = x0.narrow(0, n, 1).clone().set_requires_grad(true), wn = w0.clone().set_requires_grad(true);
    const Tensor yn = conv2d(xn, wn, Tensor(), {1, 1}, {1, 1});
    sum(mul(yn, g.narrow(0, n, 1))).backward();
    require_close(y.detach().narrow(0, n, 1), yn.detach(), 1e-6, 1e-6, "y, image " + std::to_string(n));
    require_close(x.grad().narrow(0, n, 1), xn.grad(), 1e-6, 1e-6, "dX, image " + std::to_string(n));
    gw_sum = add(gw_sum, wn.grad());
  }
  require_close(w.grad(), gw_sum, 1e-4, 1e-3, "dW");
}

TEST_CASE("pooling: gradients", "[ops][conv][grad]") {
  auto x = strided_image({2, 3, 7, 6}, 31);
  gradcheck([](auto& v) { return avg_pool2d(v[0], {2, 2}); }, {x});
  gradcheck([](auto& v) { return avg_pool2d(v[0], {3, 2}, {2, 1}, {1, 1}); }, {x});
  gradcheck([](auto& v) { return avg_pool2d(v[0], {3, 3}, {2, 2}, {1, 1}, false); }, {x});
  gradcheck([](auto& v) { return adaptive_avg_pool2d(v[0], {3, 4}); }, {x});
  gradcheck([](auto& v) { return adaptive_avg_pool2d(v[0], {9, 5}); }, {x});  // overlapping bins
  gradcheck([](auto& v) { return adaptive_avg_pool2d(v[0], {1}); }, {x});     // global pool
}

TEST_CASE("interpolate: gradients, bilinear and bicubic", "[ops][conv][grad]") {
  auto x = strided_image({2, 2, 5, 4}, 41);
  for (std::string mode : {"bilinear", "bicubic"})
    for (bool ac : {false, true}) {
      INFO(mode << " align_corners=" << ac);
      gradcheck([&](auto& v) { return interpolate(v[0], {9, 7}, mode, ac); }, {x});  // up
      gradcheck([&](auto& v) { return interpolate(v[0], {3, 2}, mode, ac); }, {x});  // down
      gradcheck([&](auto& v) { return interpolate(v[0], {1, 6}, mode, ac); }, {x});  // to 1 row
    }
}

TEST_CASE("conv2d matches PyTorch", "[ops][conv][torch]") {
  Fixture fx("ops_conv.safetensors");
  auto conv = [](std::vector<int64_t> s, std::vector<int64_t> p, std::vector<int64_t> d,
                 int64_t g) {
    return [=](Inputs& in) {
      Tensor b = in.count("b") ? in["b"] : Tensor();
      return conv2d(in["x"], in["w"], b, s, p, d, g);
    };
  };
  auto check = [&](const char* name, const std::function<Tensor(Inputs&)>& fn) {
    torch_case(fx, name, fn, kRtol, kAtol);
  };
  check("conv_basic", conv({1, 1}, {0, 0}, {1, 1}, 1));
  check("conv_stride_pad", conv({2, 2}, {1, 1}, {1, 1}, 1));
  check("conv_dilation", conv({1, 2}, {2, 1}, {2, 3}, 1));
  check("conv_groups", conv({1, 1}, {1, 1}, {1, 1}, 2));
  check("conv_patch_embed", conv({4, 4}, {0, 0}, {1, 1}, 1));
  check("conv_depthwise", conv({1, 1}, {1, 1}, {1, 1}, 5));
  check("conv_depthwise_dilated", conv({2, 2}, {2, 2}, {2, 2}, 4));
  check("conv_frozen_weight", conv({1, 1}, {1, 1}, {1, 1}, 1));
  check("conv_per_sample_depthwise", conv({1, 1}, {1, 1}, {1, 1}, 4));
  check("conv_per_sample_dense", conv({2, 2}, {1, 1}, {1, 1}, 1));
}

TEST_CASE("pooling and interpolation match PyTorch", "[ops][conv][torch]") {
  Fixture fx("ops_conv.safetensors");
  // Pooling and bilinear use the default tolerance; bicubic gradients the looser one above.
  auto check = [&](const std::string& name, const std::function<Tensor(Inputs&)>& fn,
                   double atol = 1e-6) { torch_case(fx, name, fn, kRtol, atol); };
  check("avg_pool", [](Inputs& in) { return avg_pool2d(in["x"], {2}); });
  check("avg_pool_pad",
             [](Inputs& in) { return avg_pool2d(in["x"], {3, 3}, {2, 2}, {1, 1}); });
  check("avg_pool_pad_exclude",
             [](Inputs& in) { return avg_pool2d(in["x"], {3, 2}, {2, 1}, {1, 1}, false); });
  check("adaptive_pool", [](Inputs& in) { return adaptive_avg_pool2d(in["x"], {3, 4}); });
  check("adaptive_pool_up",
             [](Inputs& in) { return adaptive_avg_pool2d(in["x"], {5, 3}); });
  for (std::string mode : {"bilinear", "bicubic"})
    for (bool ac : {false, true})
      for (auto [dir, size] : {std::pair<std::string, std::vector<int64_t>>{"up", {9, 13}},
                               {"down", {4, 5}}}) {
        std::string name = mode + (ac ? "_ac_" : "_") + dir;
        check(name, [&](Inputs& in) { return interpolate(in["x"], size, mode, ac); },
              mode == "bicubic" ? kAtol : 1e-6);
      }
}

TEST_CASE("conv2d with a frozen weight saves no input and computes no dW",
          "[ops][conv][frozen]") {
  for (int64_t groups : {1, 4}) {  // the GEMM path and the depthwise kernel
    INFO("groups " << groups);
    const int64_t N = 2, C = 4, H = 6, W = 5, O = 4;
    auto x = rand_tensor({N, C, H, W}, 51, DType::F32).set_requires_grad(true);
    auto w = rand_tensor({O, C / groups, 3, 3}, 52, DType::F32);  // frozen
    auto b = rand_tensor({O}, 53, DType::F32).set_requires_grad(true);
    const int64_t base = saved_bytes();
    auto y = conv2d(x, w, b, {1, 1}, {1, 1}, {1, 1}, groups);
    REQUIRE(saved_bytes() - base == w.nbytes());  // only W, for dX
    sum(y).backward();
    REQUIRE(x.grad().defined());
    REQUIRE(b.grad().defined());
    REQUIRE(!w.grad().defined());
    REQUIRE(saved_bytes() == base);

    // Trainable weight, frozen input: only X is saved (for dW), no dX.
    auto x2 = rand_tensor({N, C, H, W}, 54, DType::F32);
    w.set_requires_grad(true);
    auto y2 = conv2d(x2, w, Tensor(), {1, 1}, {1, 1}, {1, 1}, groups);
    REQUIRE(saved_bytes() - base == x2.nbytes());
    sum(y2).backward();
    REQUIRE(w.grad().defined());
    REQUIRE(!x2.grad().defined());
    REQUIRE(saved_bytes() == base);

    // Everything frozen: no node.
    w.set_requires_grad(false);
    REQUIRE(!conv2d(x2, w, Tensor(), {1, 1}, {1, 1}, {1, 1}, groups).grad_fn());
  }
}

TEST_CASE("conv, pooling and interpolation reject bad inputs", "[ops][conv][errors]") {
  auto x = Tensor::zeros({2, 4, 5, 5});
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::zeros({3, 3, 3, 3})),
                      Catch::Contains("conv2d") && Catch::Contains("channel mismatch") &&
                          Catch::Contains("[2, 4, 5, 5]") && Catch::Contains("[3, 3, 3, 3]"));
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::zeros({6, 1, 3, 3}), Tensor(), {1, 1}, {0, 0}, {1, 1}, 3),
                      Catch::Contains("groups must divide") && Catch::Contains("groups 3"));
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::zeros({3, 4, 6, 3})),
                      Catch::Contains("larger than the padded input") &&
                          Catch::Contains("[3, 4, 6, 3]"));
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::zeros({3, 4, 3, 3}), Tensor(), {1, 1}, {0, 0}, {3, 3}),
                      Catch::Contains("larger than the padded input"));
  REQUIRE_NOTHROW(conv2d(x, Tensor::zeros({3, 4, 6, 3}), Tensor(), {1, 1}, {1, 0}));
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::zeros({3, 4, 4, 3, 3})),
                      Catch::Contains("per-sample") && Catch::Contains("[3, 4, 4, 3, 3]"));
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::zeros({3, 4, 3, 3}), Tensor::zeros({4})),
                      Catch::Contains("bias [4]"));
  REQUIRE_THROWS_WITH(conv2d(Tensor::zeros({4, 5, 5}), Tensor::zeros({3, 4, 3, 3})),
                      Catch::Contains("(N, C, H, W)") && Catch::Contains("[4, 5, 5]"));
  REQUIRE_THROWS_WITH(avg_pool2d(x, {2}, {}, {2, 2}),
                      Catch::Contains("avg_pool2d") && Catch::Contains("half the kernel"));
  REQUIRE_THROWS_WITH(avg_pool2d(x, {7, 7}), Catch::Contains("larger than the padded input"));
  REQUIRE_THROWS_WITH(adaptive_avg_pool2d(x, {0, 2}), Catch::Contains("adaptive_avg_pool2d"));
  REQUIRE_THROWS_WITH(interpolate(x, {8, 8}, "nearest"), Catch::Contains("unknown mode"));
  REQUIRE_THROWS_WITH(interpolate(Tensor::zeros({5, 5}), {8, 8}),
                      Catch::Contains("interpolate") && Catch::Contains("[5, 5]"));
}

// ---- RoIAlign

namespace {
// Rois over a 2-image batch of 7×9 maps at scale 0.5: inside, across the border, below a bin,
// covering more than the map.
Tensor test_rois(DType dt) {
  return Tensor::from_vector(std::vector<double>{0, 1.3, 2.2, 12.7, 9.9,     //
                                                 1, -4.0, -3.5, 6.4, 8.2,     //
                                                 1, 5.1, 6.6, 5.9, 7.0,       //
                                                 0, -8.0, -6.0, 30.0, 22.0},  //
                             {4, 5})
      .to(dt);
}
}  // namespace

TEST_CASE("roi_align: gradients, aligned and legacy, fixed and adaptive sampling",
          "[ops][conv][grad]") {
  auto x = strided_image({2, 3, 7, 9}, 61);
  Tensor rois = test_rois(DType::F64);
  for (bool aligned : {true, false})
    for (int64_t ratio : {2, -1}) {
      INFO("aligned " << aligned << ", sampling ratio " << ratio);
      gradcheck([&](auto& v) { return roi_align(v[0], rois, {3, 4}, 0.5, ratio, aligned); }, {x});
    }
}

TEST_CASE("roi_align matches torchvision", "[ops][conv][torch]") {
  Fixture fx("ops_conv.safetensors");
  for (bool aligned : {true, false})
    for (int64_t ratio : {2, -1})
      for (auto [scale, size] : {std::pair<double, std::vector<int64_t>>{0.25, {3, 4}},
                                 {0.5, {7, 7}}}) {
        std::string name = std::string("roi_align_") + (aligned ? "aligned" : "legacy") + "_s" +
                           std::to_string(ratio) + "_x" + std::to_string(int(1 / scale));
        torch_case(fx, name, [&](Inputs& in) {
          return roi_align(in["x"], in["rois"], size, scale, ratio, aligned);
        }, kRtol, kAtol);
      }
}

TEST_CASE("roi_align: no rois, and bad rois named", "[ops][conv][errors]") {
  auto x = rand_tensor({2, 3, 7, 9}, 62).set_requires_grad(true);
  Tensor y = roi_align(x, Tensor::zeros({0, 5}, DType::F64), {2, 2}, 0.5);
  REQUIRE(y.shape() == Shape{0, 3, 2, 2});
  sum(y).backward();
  REQUIRE(x.grad().defined());
  REQUIRE(sum(abs(x.grad())).item() == 0.0);
  auto bad = [&](std::vector<double> roi) {
    return Tensor::from_vector(roi, {1, 5});
  };
  REQUIRE_THROWS_WITH(roi_align(x, bad({2, 0, 0, 4, 4}), {2, 2}, 0.5),
                      Catch::Contains("roi 0") && Catch::Contains("batch index"));
  REQUIRE_THROWS_WITH(roi_align(x, bad({0.5, 0, 0, 4, 4}), {2, 2}, 0.5),
                      Catch::Contains("batch index"));
  REQUIRE_THROWS_WITH(roi_align(x, bad({0, 0, NAN, 4, 4}), {2, 2}, 0.5),
                      Catch::Contains("not finite"));
  REQUIRE_THROWS_WITH(roi_align(x, bad({0, 0, 0, 1e7, 4}), {2, 2}, 0.5),
                      Catch::Contains("unbounded"));
  REQUIRE_NOTHROW(roi_align(x, bad({0, 0, 0, 1e7, 4}), {2, 2}, 0.5, 2));  // fixed grid
  REQUIRE_THROWS_WITH(roi_align(x, Tensor::zeros({3, 4}, DType::F64), {2, 2}, 0.5),
                      Catch::Contains("(K, 5)") && Catch::Contains("[3, 4]"));
  REQUIRE_THROWS_WITH(roi_align(x, Tensor::zeros({1, 5}), {2, 2}, 0.5),
                      Catch::Contains("dtype mismatch"));
  REQUIRE_THROWS_WITH(roi_align(x, bad({0, 0, 0, 4, 4}), {2, 2}, 0.0),
                      Catch::Contains("spatial_scale"));
}
