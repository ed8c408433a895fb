// test_optim.cpp — optimizers, clipping, schedule and parameter groups against closed-form
// numbers, gradient accumulation, and a 20-step MLP training run matched against PyTorch
// (fixture tests/fixtures/mlp_train.safetensors, written by tests/reference/mlp_train.py).
#include <cmath>

#include "engine/optim.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;

namespace {

Tensor param(const std::vector<double>& v) {
  return Tensor::from_vector(v, {(int64_t)v.size()}).set_requires_grad(true);
}
void set_grad(Tensor& p, const std::vector<double>& g) {
  p.set_grad(Tensor::from_vector(g, {(int64_t)g.size()}));
}
void check_values(const Tensor& t, const std::vector<double>& want, double eps = 1e-12) {
  auto v = t.to_vector();
  REQUIRE(v.size() == want.size());
  for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == Approx(want[i]).epsilon(eps).margin(eps));
}

}  // namespace

// ---------------------------------------------------------------- single steps
TEST_CASE("SGD: momentum, nesterov and weight decay as torch", "[optim]") {
  // d = g + wd·p; buf = d, then μ·buf + d; p -= lr·(nesterov ? d + μ·buf : buf)
  Tensor p = param({1.0, 2.0});
  SGD opt({{{p}, 1.0, 0.1}}, 0.5, 0.9);
  set_grad(p, {0.1, -0.2});
  opt.step();  // d = [0.2, 0], buf = d
  check_values(p, {0.9, 2.0});
  set_grad(p, {0.1, -0.2});
  opt.step();  // d = [0.19, 0], buf = [0.37, 0]
  check_values(p, {0.715, 2.0});

  Tensor q = param({1.0, 2.0});
  SGD nes({{{q}, 1.0, 0.1}}, 0.5, 0.9, true);
  set_grad(q, {0.1, -0.2});
  nes.step();  // d = 0.2 + 0.9·0.2
  check_values(q, {0.81, 2.0});
  set_grad(q, {0.1, -0.2});
  nes.step();  // d = 0.181, buf = 0.361, d + μ·buf = 0.5059
  check_values(q, {0.55705, 2.0});
  CHECK(nes.steps() == 2);

  // Plain SGD with two groups: lr_scale scales the step.
  Tensor a = param({1.0}), b = param({1.0});
  SGD plain({{{a}, 1.0, 0.0}, {{b}, 0.5, 0.0}}, 0.1);
  set_grad(a, {1.0});
  set_grad(b, {1.0});
  plain.step();
  check_values(a, {0.9});
  check_values(b, {0.95});
}

TEST_CASE("AdamW: decoupled decay, bias correction, eps outside the sqrt", "[optim]") {
  const double lr = 0.1, wd = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  Tensor p = param({1.0, -2.0, 0.5});
  AdamW opt({{{p}, 1.0, wd}}, lr);
  // Step 1: m̂ = g, v̂ = g², so p ← p·(1 − lr·wd) − lr·g/(|g| + ε).
  set_grad(p, {0.5, -0.1, 0.0});
  opt.step();
  check_values(p, {1.0 * 0.999 - 0.1 * 0.5 / (0.5 + eps), -2.0 * 0.999 + 0.1 * 0.1 / (0.1 + eps),
                   0.5 * 0.999});
  // Steps 2..4 against a scalar transcription of torch's formula.
  std::vector<double> ref = p.to_vector(), m(3), v(3);
  const std::vector<double> g1 = {0.5, -0.1, 0.0};
  for (int i = 0; i < 3; ++i) {
    m[i] = (1 - b1) * g1[i];
    v[i] = (1 - b2) * g1[i] * g1[i];
  }
  const std::vector<std::vector<double>> gs = {
      {0.2, 0.3, -1.0}, {-0.4, 0.0, 2.0}, {1e-3, 5.0, 0.1}};
  for (int t = 2; t <= 4; ++t) {
    const auto& g = gs[t - 2];
    for (int i = 0; i < 3; ++i) {
      ref[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
      ref[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
    set_grad(p, g);
    opt.step();
    check_values(p, ref, 1e-10);
  }
}

TEST_CASE("optimizers skip parameters without a gradient; zero_grad drops gradients",
          "[optim]") {
  Tensor used = param({1.0}), unused = param({1.0});
  Tensor frozen = Tensor::from_vector(std::vector<double>{1.0}, {1});
  AdamW opt({{{used, unused, frozen}, 1.0, 0.1}}, 0.1);
  set_grad(used, {1.0});
  opt.step();
  CHECK(used.item() != 1.0);
  CHECK(unused.item() == 1.0);  // no decay either: torch skips p.grad is None
  CHECK(frozen.item() == 1.0);
  opt.zero_grad();
  CHECK(!used.grad().defined());
  // The unused parameter's first real step is a first step (its moments start now).
  set_grad(unused, {1.0});
  opt.step();
  CHECK(unused.item() == Approx(1.0 * (1 - 0.01) - 0.1 * 1.0 / (1.0 + 1e-8)));
}

TEST_CASE("optimizer errors name the problem", "[optim]") {
  Tensor p = param({1.0, 2.0});
  REQUIRE_THROWS_WITH(SGD({{{p * 2.0}}}, 0.1), Catch::Contains("not a leaf"));
  REQUIRE_THROWS_WITH(SGD({{{p}}}, 0.1, 0.0, true), Catch::Contains("nesterov"));
  REQUIRE_THROWS_WITH(AdamW({{{p}}}, 0.1, 1.0), Catch::Contains("betas"));
  REQUIRE_THROWS_WITH(AdamW({{{p}}}, -1.0), Catch::Contains("learning rate"));
  AdamW opt({{{p}}}, 0.1);
  p.set_grad(Tensor::zeros({3}, DType::F64));
  REQUIRE_THROWS_WITH(opt.step(), Catch::Contains("AdamW") && Catch::Contains("[3]") &&
                                      Catch::Contains("[2]"));
  REQUIRE_THROWS_WITH(CosineSchedule(0.1, 0), Catch::Contains("total_iters"));
}

// ---------------------------------------------------------------- helpers
TEST_CASE("clip_grad_norm: total L2 norm, scaled in place only above max_norm", "[optim]") {
  Tensor a = param({3.0, 4.0}), b = param({12.0}), c = param({5.0});
  set_grad(a, {3.0, 4.0});
  set_grad(b, {12.0});  // total norm 13; c has no gradient and is ignored
  CHECK(clip_grad_norm({a, b, c}, 100.0) == Approx(13.0));
  check_values(a.grad(), {3.0, 4.0});
  Tensor ga = a.grad();
  CHECK(clip_grad_norm({a, b, c}, 6.5) == Approx(13.0));
  const double s = 6.5 / (13.0 + 1e-6);
  check_values(a.grad(), {3.0 * s, 4.0 * s});
  check_values(ga, {3.0 * s, 4.0 * s});  // in place: the same gradient tensor
  check_values(b.grad(), {12.0 * s});
  CHECK(clip_grad_norm({a, b}, 100.0) == Approx(6.5).epsilon(1e-6));
  CHECK(clip_grad_norm({c}, 1.0) == 0.0);
}

TEST_CASE("param_groups_no_decay: biases, norms, tokens, pos_embed and 1-D params", "[optim]") {
  auto t = [](const Shape& s) { return Tensor::zeros(s).set_requires_grad(true); };
  std::vector<std::pair<std::string, Tensor>> named = {
      {"cls_token", t({1, 1, 8})},         {"pos_embed", t({1, 5, 8})},
      {"blocks.0.attn.qkv.weight", t({24, 8})}, {"blocks.0.attn.qkv.bias", t({24})},
      {"blocks.0.norm1.weight", t({8})},   {"blocks.0.ls1.gamma", t({8})},
      {"prompt.tokens", t({2, 4, 8})},     {"head.weight", t({10, 8})},
      {"frozen.weight", Tensor::zeros({3, 3})}, {"lora.scale", t({2, 2})},
  };
  auto groups = param_groups_no_decay(named, 0.05, {"lora.scale"});
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].weight_decay == 0.0);
  CHECK(groups[1].weight_decay == 0.05);
  auto in = [&](const ParamGroup& g, const std::string& name) {
    for (auto& [n, p] : named)
      if (n == name)
        for (auto& q : g.params)
          if (q.impl() == p.impl()) return true;
    return false;
  };
  for (auto n : {"cls_token", "pos_embed", "blocks.0.attn.qkv.bias", "blocks.0.norm1.weight",
                 "blocks.0.ls1.gamma", "prompt.tokens", "lora.scale"})
    CHECK(in(groups[0], n));
  for (auto n : {"blocks.0.attn.qkv.weight", "head.weight"}) CHECK(in(groups[1], n));
  CHECK(groups[0].params.size() + groups[1].params.size() == 9);  // the frozen one is left out
  CHECK(param_groups_no_decay({{"b", t({3})}}, 0.1).size() == 1);  // empty groups dropped
}

TEST_CASE("CosineSchedule: warm-up, cosine, floor (timm formula)", "[optim]") {
  const double pi = 3.14159265358979323846;
  CosineSchedule s(1e-3, 100, 10, 1e-6, 1e-5);
  CHECK(s.lr_at(0) == Approx(1e-6));
  CHECK(s.lr_at(5) == Approx(1e-6 + 5 * (1e-3 - 1e-6) / 10));
  // warmup_prefix = false (timm's default): the cosine clock includes the warm-up.
  CHECK(s.lr_at(10) == Approx(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + std::cos(pi * 0.1))));
  CHECK(s.lr_at(50) == Approx((1e-3 + 1e-5) / 2));
  CHECK(s.lr_at(99) == Approx(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + std::cos(pi * 0.99))));
  CHECK(s.lr_at(100) == 1e-5);
  CHECK(s.lr_at(1000) == 1e-5);
  for (int64_t t = 10; t < 100; ++t) CHECK(s.lr_at(t + 1) < s.lr_at(t));
  CosineSchedule pre(1e-3, 100, 10, 0.0, 0.0, true);
  CHECK(pre.lr_at(10) == Approx(1e-3));
  CHECK(pre.lr_at(60) == Approx(5e-4));
  CHECK(pre.lr_at(110) == 0.0);
  CosineSchedule none(0.1, 4);  // no warm-up: starts at base_lr
  CHECK(none.lr_at(0) == Approx(0.1));
  CHECK(none.lr_at(2) == Approx(0.05));
  Tensor p = param({1.0});
  SGD opt({{{p}}}, 123.0);
  s.apply(opt, 50);
  CHECK(opt.lr == Approx((1e-3 + 1e-5) / 2));
}

TEST_CASE("gradient accumulation equals one big batch", "[optim]") {
  // Loss = mean over samples, so k equal micro-batches with loss/k give the same gradient.
  Tensor x = rand_tensor({8, 5}, 1), y = rand_tensor({8, 3}, 2);
  Tensor w1 = rand_tensor({3, 5}, 3).set_requires_grad(true);
  Tensor w2 = w1.detach().clone().set_requires_grad(true);
  auto loss = [](const Tensor& w, const Tensor& xb, const Tensor& yb) {
    return mean(square(sub(tanh(linear(xb, w)), yb)));
  };
  SGD big({{{w1}}}, 0.1, 0.9), acc({{{w2}}}, 0.1, 0.9);
  for (int step = 0; step < 3; ++step) {
    big.zero_grad();
    loss(w1, x, y).backward();
    big.step();
    acc.zero_grad();
    for (int k = 0; k < 4; ++k)  // 4 micro-batches of 2 samples
      mul(loss(w2, x.narrow(0, 2 * k, 2), y.narrow(0, 2 * k, 2)), 0.25).backward();
    require_close(w2.grad(), w1.grad(), 1e-12, 1e-14, "accumulated gradient");
    acc.step();
  }
  require_close(w2, w1, 1e-12, 1e-14, "parameters after 3 steps");
}

// ---------------------------------------------------------------- PyTorch parity
namespace {

const char* kNames[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};

struct Mlp {
  std::map<std::string, Tensor> p;
  explicit Mlp(const Fixture& fx) {
    for (auto n : kNames) p[n] = fx.get(std::string("init.") + n).clone().set_requires_grad(true);
  }
  // x: (B, 8) -> (B, 32) -> GELU -> (B, 4)
  Tensor operator()(const Tensor& x) {
    return linear(gelu(linear(x, p["fc1.weight"], p["fc1.bias"])), p["fc2.weight"], p["fc2.bias"]);
  }
  std::vector<Tensor> params() {
    return {p["fc1.weight"], p["fc1.bias"], p["fc2.weight"], p["fc2.bias"]};
  }
};

void check_run(const Fixture& fx, const std::string& run, const std::vector<double>& losses,
               Mlp& mlp) {
  auto want = fx.get(run + ".losses").to_vector();
  REQUIRE(losses.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO(run << " loss at step " << i);
    CHECK(losses[i] == Approx(want[i]).epsilon(1e-4));
  }
  for (auto n : kNames)
    require_close(mlp.p[n], fx.get(run + ".final." + n), 1e-4, 1e-6, run + " final " + n);
}

}  // namespace

TEST_CASE("MLP training matches PyTorch: AdamW with no-decay biases", "[optim][mlp]") {
  Fixture fx("mlp_train.safetensors");
  Tensor x = fx.get("data.x"), y = fx.get("data.y");
  Mlp mlp(fx);
  std::vector<std::pair<std::string, Tensor>> named(mlp.p.begin(), mlp.p.end());
  AdamW opt(param_groups_no_decay(named, 0.05), 1e-2);
  std::vector<double> losses;
  for (int step = 0; step < 20; ++step) {
    opt.zero_grad();
    Tensor loss = cross_entropy(mlp(x), y);
    loss.backward();
    opt.step();
    losses.push_back(loss.item());
  }
  check_run(fx, "adamw", losses, mlp);
}

TEST_CASE("MLP training matches PyTorch: SGD nesterov, cosine, accumulation, clipping",
          "[optim][mlp]") {
  Fixture fx("mlp_train.safetensors");
  Tensor x = fx.get("data.x"), y = fx.get("data.y");
  Mlp mlp(fx);
  SGD opt({{mlp.params(), 1.0, 1e-4}}, 0.1, 0.9, true);
  CosineSchedule sched(0.1, 20, 3, 0.01, 1e-3);
  auto want_lr = fx.get("sgd.lrs").to_vector(), want_norm = fx.get("sgd.grad_norms").to_vector();
  std::vector<double> losses;
  for (int step = 0; step < 20; ++step) {
    sched.apply(opt, step);
    CHECK(opt.lr == Approx(want_lr[step]).epsilon(1e-12));
    opt.zero_grad();
    double total = 0;
    for (int k = 0; k < 2; ++k) {
      Tensor loss = mul(cross_entropy(mlp(x.narrow(0, 32 * k, 32)), y.narrow(0, 32 * k, 32)), 0.5);
      loss.backward();
      total += loss.item();
    }
    CHECK(clip_grad_norm(mlp.params(), 0.5) == Approx(want_norm[step]).epsilon(1e-4));
    opt.step();
    losses.push_back(total);
  }
  check_run(fx, "sgd", losses, mlp);
}
