// test_loss.cpp — cross_entropy (label smoothing, ignore_index, (N, C, H, W)), soft-target cross
// entropy, kl_div, mse_loss, smooth_l1_loss: f64 gradient checks, PyTorch fixtures (ops_loss)
// for every reduction, the all-ignored edge case, and bad-input errors.
#include <cmath>

#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;

namespace {
Tensor leaf(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return rand_tensor(s, seed, DType::F64, lo, hi).set_requires_grad(true);
}
Tensor labels(const std::vector<int64_t>& v, const Shape& s) { return Tensor::from_vector(v, s); }
// Probabilities along dim 1 (no gradient history).
Tensor probs(const Shape& s, uint64_t seed) {
  NoGrad ng;
  return softmax(rand_tensor(s, seed, DType::F64, -2, 2), 1);
}
}  // namespace

TEST_CASE("cross_entropy: gradients", "[ops][loss]") {
  auto x = rand_strided({6, 5}, 1).set_requires_grad(true);  // non-contiguous logits
  auto t = labels({0, 4, 2, 2, 1, 3}, {6});
  auto ti = labels({0, -100, 2, 4, -100, 3}, {6});
  for (std::string red : {"mean", "sum", "none"}) {
    INFO(red);
    gradcheck([&](auto& v) { return cross_entropy(v[0], t, 0.0, -100, red); }, {x});
    gradcheck([&](auto& v) { return cross_entropy(v[0], t, 0.1, -100, red); }, {x});
    gradcheck([&](auto& v) { return cross_entropy(v[0], ti, 0.2, -100, red); }, {x});
  }
  // segmentation form (N, C, H, W) with a custom ignore_index
  auto seg = leaf({2, 4, 3, 3}, 2, -2, 2);
  std::vector<int64_t> tv(18);
  for (int64_t i = 0; i < 18; ++i) tv[i] = i % 5 == 4 ? 255 : (i * 3) % 4;
  auto st = labels(tv, {2, 3, 3});
  gradcheck([&](auto& v) { return cross_entropy(v[0], st, 0.1, 255, "mean"); }, {seg});
  gradcheck([&](auto& v) { return cross_entropy(v[0], st, 0.0, 255, "none"); }, {seg});
}

TEST_CASE("cross_entropy: hand-computed values", "[ops][loss]") {
  // Two classes with logits (0, log 3): p = (1/4, 3/4).
  auto x = Tensor::from_vector(std::vector<double>{0, std::log(3.0), 0, std::log(3.0)}, {2, 2});
  auto t = labels({1, 0}, {2});
  auto none = cross_entropy(x, t, 0.0, -100, "none").to_vector();
  REQUIRE(none[0] == Approx(-std::log(0.75)));
  REQUIRE(none[1] == Approx(-std::log(0.25)));
  // smoothing 0.2: (1-ε)·nll + ε/C·Σ_c -log p_c
  double smooth = -(std::log(0.25) + std::log(0.75)) / 2;
  REQUIRE(cross_entropy(x, t, 0.2, -100, "sum").item() ==
          Approx(0.8 * (none[0] + none[1]) + 0.2 * 2 * smooth));
  // mean over the non-ignored targets only
  REQUIRE(cross_entropy(x, labels({1, -100}, {2})).item() == Approx(none[0]));
}

TEST_CASE("cross_entropy: all targets ignored gives NaN (as torch) and a zero gradient", "[ops][loss]") {
  auto x = leaf({3, 4}, 3);
  auto t = labels({-100, -100, -100}, {3});
  for (double eps : {0.0, 0.1}) {
    x.zero_grad();
    Tensor loss = cross_entropy(x, t, eps);
    REQUIRE(std::isnan(loss.item()));
    loss.backward();
    for (double g : x.grad().to_vector()) REQUIRE(g == 0.0);
    REQUIRE(cross_entropy(x, t, eps, -100, "sum").item() == 0.0);
  }
}

TEST_CASE("soft cross entropy, kl_div, mse, smooth_l1: gradients", "[ops][loss]") {
  auto x = rand_strided({4, 5}, 11).set_requires_grad(true);
  auto q = probs({4, 5}, 12).set_requires_grad(true);
  auto xs = leaf({2, 3, 2, 2}, 13), qs = probs({2, 3, 2, 2}, 14).set_requires_grad(true);
  for (std::string red : {"mean", "sum", "none"}) {
    INFO(red);
    gradcheck([&](auto& v) { return cross_entropy_soft(v[0], v[1], red); }, {x, q});
    gradcheck([&](auto& v) { return cross_entropy_soft(v[0], v[1], red); }, {xs, qs});
    gradcheck([&](auto& v) { return mse_loss(v[0], v[1], red); }, {x, leaf({4, 5}, 15)});
    gradcheck([&](auto& v) { return smooth_l1_loss(v[0], v[1], 0.5, red); },
              {x, leaf({4, 5}, 16, -2, 2)});
  }
  gradcheck([&](auto& v) { return smooth_l1_loss(v[0], v[1], 0.0); }, {x, leaf({4, 5}, 17)});
  Tensor lq, lp;  // log-probabilities as leaves
  {
    NoGrad ng;
    lq = log_softmax(rand_tensor({3, 5}, 18, DType::F64, -2, 2), 1);
    lp = log_softmax(rand_tensor({3, 5}, 19, DType::F64, -2, 2), 1);
  }
  lq.set_requires_grad(true);
  auto p = probs({3, 5}, 20).set_requires_grad(true);
  lp.set_requires_grad(true);
  for (std::string red : {"mean", "batchmean", "sum", "none"}) {
    INFO(red);
    gradcheck([&](auto& v) { return kl_div(v[0], v[1], red); }, {lq, p});
    gradcheck([&](auto& v) { return kl_div(v[0], v[1], red, true); }, {lq, lp});
  }
  // a target with zeros: 0·log 0 = 0, finite gradient for the input
  auto p0 = Tensor::from_vector(std::vector<double>{0.5, 0.0, 0.5, 0.0, 1.0, 0.0}, {2, 3});
  auto lq2 = leaf({2, 3}, 21, -3, -0.1);
  gradcheck([&](auto& v) { return kl_div(v[0], p0, "sum"); }, {lq2});
  REQUIRE(std::isfinite(kl_div(lq2, p0, "sum").item()));
}

TEST_CASE("losses match PyTorch", "[ops][loss][torch]") {
  Fixture fx("ops_loss.safetensors");
  for (std::string red : {"mean", "sum", "none"}) {
    torch_case(fx, "ce_" + red,
               [&](Inputs& in) { return cross_entropy(in["x"], in["t"], 0.0, -100, red); });
    torch_case(fx, "ce_smooth_" + red,
               [&](Inputs& in) { return cross_entropy(in["x"], in["t"], 0.1, -100, red); });
    torch_case(fx, "ce_ignore_" + red,
               [&](Inputs& in) { return cross_entropy(in["x"], in["t"], 0.0, -100, red); });
    torch_case(fx, "ce_ignore_smooth_" + red,
               [&](Inputs& in) { return cross_entropy(in["x"], in["t"], 0.1, -100, red); });
    torch_case(fx, "ce_seg_" + red,
               [&](Inputs& in) { return cross_entropy(in["x"], in["t"], 0.1, 255, red); });
    torch_case(fx, "ce_soft_" + red,
               [&](Inputs& in) { return cross_entropy_soft(in["x"], in["q"], red); });
    torch_case(fx, "mse_" + red, [&](Inputs& in) { return mse_loss(in["a"], in["b"], red); });
    torch_case(fx, "smooth_l1_" + red,
               [&](Inputs& in) { return smooth_l1_loss(in["a"], in["b"], 0.5, red); });
  }
  torch_case(fx, "ce_soft_seg", [](Inputs& in) { return cross_entropy_soft(in["x"], in["q"]); });
  torch_case(fx, "smooth_l1_beta0", [](Inputs& in) { return smooth_l1_loss(in["a"], in["b"], 0.0); });
  torch_case(fx, "smooth_l1_beta2", [](Inputs& in) { return smooth_l1_loss(in["a"], in["b"], 2.0); });
  for (std::string red : {"mean", "batchmean", "sum", "none"})
    torch_case(fx, "kl_" + red, [&](Inputs& in) { return kl_div(in["x"], in["p"], red); });
  torch_case(fx, "kl_log_target",
             [](Inputs& in) { return kl_div(in["x"], in["p"], "batchmean", true); });
  torch_case(fx, "kl_zero_target", [](Inputs& in) { return kl_div(in["x"], in["p"], "batchmean"); });
}

TEST_CASE("losses: bad targets and options are reported", "[ops][loss][errors]") {
  auto x = Tensor::zeros({3, 4});
  REQUIRE_THROWS_WITH(cross_entropy(x, labels({0, 4, 1}, {3})),
                      Catch::Contains("cross_entropy") && Catch::Contains("target 4") &&
                          Catch::Contains("4 classes"));
  REQUIRE_THROWS_WITH(cross_entropy(x, labels({0, -3, 1}, {3})), Catch::Contains("target -3"));
  REQUIRE_THROWS_WITH(cross_entropy(x, labels({0, 1}, {2})),
                      Catch::Contains("cross_entropy") && Catch::Contains("[2]") &&
                          Catch::Contains("[3, 4]"));
  REQUIRE_THROWS_WITH(cross_entropy(x, Tensor::zeros({3})), Catch::Contains("I64"));
  REQUIRE_THROWS_WITH(cross_entropy(Tensor::zeros({4}), labels({0}, {})),
                      Catch::Contains("cross_entropy") && Catch::Contains("[4]"));
  REQUIRE_THROWS_WITH(cross_entropy(x, labels({0, 1, 2}, {3}), 0.0, -100, "avg"),
                      Catch::Contains("cross_entropy") && Catch::Contains("'avg'"));
  REQUIRE_THROWS_WITH(cross_entropy(x, labels({0, 1, 2}, {3}), 1.5), Catch::Contains("label_smoothing"));
  REQUIRE_THROWS_WITH(cross_entropy_soft(x, Tensor::zeros({3, 5})),
                      Catch::Contains("cross_entropy_soft") && Catch::Contains("[3, 5]"));
  REQUIRE_THROWS_WITH(kl_div(x, Tensor::zeros({4, 3})), Catch::Contains("kl_div") && Catch::Contains("[4, 3]"));
  REQUIRE_THROWS_WITH(mse_loss(x, Tensor::zeros({4})), Catch::Contains("mse_loss") && Catch::Contains("[4]"));
  REQUIRE_THROWS_WITH(mse_loss(x, x, "batchmean"), Catch::Contains("mse_loss") && Catch::Contains("batchmean"));
  REQUIRE_THROWS_WITH(smooth_l1_loss(x, x, -1.0), Catch::Contains("smooth_l1_loss") && Catch::Contains("beta"));
}
