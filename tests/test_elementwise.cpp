// test_elementwise.cpp — element-wise, reduction and matmul ops: f64 gradient checks on
// broadcast and non-contiguous inputs, and comparisons with PyTorch (ops_elementwise fixtures).
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;

namespace {
Tensor leaf(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return rand_tensor(s, seed, DType::F64, lo, hi).set_requires_grad(true);
}
Tensor strided_leaf(const Shape& s, uint64_t seed) {
  return rand_strided(s, seed).set_requires_grad(true);
}
}  // namespace

TEST_CASE("binary ops: gradients with broadcasting and strided inputs", "[ops][grad]") {
  auto a = leaf({2, 3, 4}, 1), b = leaf({3, 1}, 2), c = strided_leaf({3, 4}, 3);
  auto pos = leaf({3, 4}, 4, 0.5, 2.0);
  gradcheck([](auto& x) { return add(x[0], x[1]); }, {a, b});
  gradcheck([](auto& x) { return sub(x[0], x[1]); }, {b, a});
  gradcheck([](auto& x) { return mul(x[0], x[1]); }, {a, c});
  gradcheck([](auto& x) { return div(x[0], x[1]); }, {a, pos});
  gradcheck([](auto& x) { return maximum(x[0], x[1]); }, {a, c});
  gradcheck([](auto& x) { return (x[0] * 2.5 + 1.0) / 3.0 - x[1]; }, {a, b});
  gradcheck([](auto& x) { return (1.0 - x[0]) + 2.0 / x[0]; }, {pos});
}

TEST_CASE("unary ops: gradients", "[ops][grad]") {
  auto x = strided_leaf({4, 5}, 11);
  auto p = leaf({4, 5}, 12, 0.2, 3.0);
  for (auto f : std::vector<Tensor (*)(const Tensor&)>{neg, exp, tanh, sigmoid, abs, square,
                                                       quick_gelu, softplus})
    gradcheck([f](auto& v) { return f(v[0]); }, {x});
  for (auto f : std::vector<Tensor (*)(const Tensor&)>{log, sqrt, rsqrt})
    gradcheck([f](auto& v) { return f(v[0]); }, {p});
  gradcheck([](auto& v) { return relu(v[0]); }, {x});
  gradcheck([](auto& v) { return gelu(v[0], false); }, {x});
  gradcheck([](auto& v) { return gelu(v[0], true); }, {x});
  gradcheck([](auto& v) { return pow(v[0], 2.5); }, {p});
}

TEST_CASE("reductions: gradients", "[ops][grad]") {
  auto x = strided_leaf({3, 4, 5}, 21);
  gradcheck([](auto& v) { return sum(v[0]); }, {x});
  gradcheck([](auto& v) { return sum(v[0], {0, 2}); }, {x});
  gradcheck([](auto& v) { return sum(v[0], {1}, true); }, {x});
  gradcheck([](auto& v) { return mean(v[0], {-1}); }, {x});
  gradcheck([](auto& v) { return max(v[0], 1); }, {x});
  gradcheck([](auto& v) { return var(v[0], {0, 2}, 1, true); }, {x});
}

TEST_CASE("matmul and linear: gradients", "[ops][grad]") {
  auto a = leaf({2, 3, 4, 5}, 31), b = leaf({3, 5, 6}, 32);
  gradcheck([](auto& v) { return matmul(v[0], v[1]); }, {a, b});
  auto c = leaf({2, 3, 5}, 33), w = leaf({5, 4}, 34);
  gradcheck([](auto& v) { return matmul(v[0], v[1]); }, {c, w});
  auto t = strided_leaf({2, 4, 5}, 35), u = strided_leaf({2, 5, 3}, 36);
  gradcheck([](auto& v) { return matmul(v[0], v[1]); }, {t, u});
  auto vec = leaf({5}, 37), m = leaf({3, 5}, 38);
  gradcheck([](auto& v) { return matmul(v[1], v[0]); }, {vec, m});
  gradcheck([](auto& v) { return matmul(v[0], v[1].transpose(0, 1)); }, {vec, m});
  auto x = leaf({2, 3, 8}, 39), lw = leaf({6, 8}, 40), lb = leaf({6}, 41);
  gradcheck([](auto& v) { return linear(v[0], v[1], v[2]); }, {x, lw, lb});
  gradcheck([](auto& v) { return linear(v[0], v[1]); }, {strided_leaf({8, 3}, 42).transpose(0, 1).detach().set_requires_grad(true), lw});
}

TEST_CASE("add_linear: base + scale · (x Wᵀ + b), gradients and errors", "[ops][grad]") {
  auto base = strided_leaf({3, 2, 6}, 43).permute({1, 0, 2}).detach().set_requires_grad(true);  // (2, 3, 6), not contiguous
  auto x = leaf({2, 3, 8}, 44), w = leaf({6, 8}, 45);
  gradcheck([](auto& v) { return add_linear(v[0], v[1], v[2], 0.7); }, {base, x, w});
  // Frozen weight and base (LoRA's B trains; here only x does): the closure keeps W alone.
  auto wf = w.detach(), bf = base.detach();
  gradcheck([wf, bf](auto& v) { return add_linear(bf, v[0], wf); }, {x});
  // With a bias (a bottleneck's up-projection joining the residual stream): base + s·(x Wᵀ + b).
  auto b = leaf({6}, 46);
  gradcheck([](auto& v) { return add_linear(v[0], v[1], v[2], 0.3, v[3]); }, {base, x, w, b});
  // The same value as the unfused ops.
  {
    NoGrad ng;
    require_close(add_linear(base, x, w, 0.7), add(base, mul(linear(x, w), 0.7)), 1e-12, 1e-12,
                  "add_linear value");
    require_close(add_linear(base, x, w, 0.3, b), add(base, mul(linear(x, w, b), 0.3)), 1e-12, 1e-12,
                  "add_linear value with a bias");
  }
  REQUIRE_THROWS_WITH(add_linear(Tensor::zeros({2, 5}), Tensor::zeros({2, 8}), Tensor::zeros({6, 8})),
                      Catch::Contains("add_linear") && Catch::Contains("base [2, 5]") &&
                          Catch::Contains("[2, 6]"));
}

TEST_CASE("element-wise ops match PyTorch", "[ops][torch]") {
  Fixture fx("ops_elementwise.safetensors");
  auto bin = [&](const char* n, Tensor (*f)(const Tensor&, const Tensor&), const char* ka = "a",
                 const char* kb = "b") {
    torch_case(fx, n, [&](Inputs& in) { return f(in[ka], in[kb]); });
  };
  bin("add_bcast", add);
  bin("sub_bcast", sub);
  bin("mul_bcast", mul);
  bin("div_bcast", div);
  bin("maximum", maximum);
  torch_case(fx, "scalar_ops", [](Inputs& in) { return (in["x"] * 2.5 + 1.0) / 3.0 - 0.5; });
  torch_case(fx, "rsub_rdiv", [](Inputs& in) { return (1.0 - in["x"]) + 2.0 / in["x"]; });
  torch_case(fx, "pow", [](Inputs& in) { return pow(in["x"], 2.5); });
  std::vector<std::pair<const char*, Tensor (*)(const Tensor&)>> un = {
      {"neg", neg}, {"exp", exp}, {"log", log}, {"sqrt", sqrt}, {"rsqrt", rsqrt},
      {"abs", abs}, {"tanh", tanh}, {"sigmoid", sigmoid}, {"relu", relu},
      {"quick_gelu", quick_gelu}, {"softplus", softplus}, {"square", square}};
  for (auto [n, f] : un) torch_case(fx, n, [f = f](Inputs& in) { return f(in["x"]); });
  torch_case(fx, "gelu", [](Inputs& in) { return gelu(in["x"]); });
  torch_case(fx, "gelu_tanh", [](Inputs& in) { return gelu(in["x"], true); });
  torch_case(fx, "tanh_transposed", [](Inputs& in) { return tanh(in["x"].transpose(0, 1)); });
}

TEST_CASE("reductions and matmul match PyTorch", "[ops][torch]") {
  Fixture fx("ops_elementwise.safetensors");
  torch_case(fx, "sum_all", [](Inputs& in) { return sum(in["x"]); });
  torch_case(fx, "sum_dims", [](Inputs& in) { return sum(in["x"], {0, 2}); });
  torch_case(fx, "sum_keep", [](Inputs& in) { return sum(in["x"], {1}, true); });
  torch_case(fx, "mean_last", [](Inputs& in) { return mean(in["x"], {-1}); });
  torch_case(fx, "max_dim", [](Inputs& in) { return max(in["x"], 1); });
  torch_case(fx, "var_unbiased", [](Inputs& in) { return var(in["x"], {1}); });
  torch_case(fx, "var_pop_keep", [](Inputs& in) { return var(in["x"], {0, 2}, 0, true); });
  for (auto n : {"matmul_2d", "matmul_batched_bcast", "matmul_weight", "matmul_vec"})
    torch_case(fx, n, [](Inputs& in) { return matmul(in["input"], in["other"]); });
  torch_case(fx, "matmul_transposed",
             [](Inputs& in) { return matmul(in["a"].transpose(-1, -2), in["b"]); });
  torch_case(fx, "linear", [](Inputs& in) { return linear(in["input"], in["weight"], in["bias"]); });
  torch_case(fx, "linear_nobias", [](Inputs& in) { return linear(in["input"], in["weight"]); });
  torch_case(fx, "linear_frozen_weight",
             [](Inputs& in) { return linear(in["input"], in["weight"], in["bias"]); });
}

TEST_CASE("shape errors name the op and both shapes", "[ops][errors]") {
  auto a = Tensor::zeros({2, 3}), b = Tensor::zeros({4});
  REQUIRE_THROWS_WITH(add(a, b), Catch::Contains("add") && Catch::Contains("[2, 3]") &&
                                     Catch::Contains("[4]"));
  REQUIRE_THROWS_WITH(matmul(a, Tensor::zeros({4, 2})),
                      Catch::Contains("matmul") && Catch::Contains("[4, 2]"));
  REQUIRE_THROWS_WITH(linear(a, Tensor::zeros({5, 4})),
                      Catch::Contains("linear") && Catch::Contains("[5, 4]"));
  REQUIRE_THROWS_WITH(add(a, Tensor::zeros({2, 3}, DType::F64)), Catch::Contains("dtype"));
  REQUIRE_THROWS_WITH(a.reshape({5}), Catch::Contains("reshape"));
  REQUIRE_THROWS_WITH(sum(a, {2}), Catch::Contains("out of range"));
}

// F32 GELU and softmax run on Eigen's vectorised erf/exp (engine/cpu/vec_math.h); F64 on the
// standard library. They must agree over the whole range, tails included, and over more
// elements than one vectorised chunk (4096), so every code path is crossed. GELU's tolerance is
// 1e-6 absolute: for x near -5.6, 1 + erf(x/√2) cancels to a few F32 ulps of 1 (PyTorch's own
// vectorised F32 GELU has the same limit).
TEST_CASE("F32 GELU and softmax (vectorised exp/erf) agree with the F64 kernels", "[ops]") {
  const int64_t n = 3 * 4096 + 77;
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = -12.0 + 24.0 * (double)i / (double)(n - 1);
  Tensor x64 = Tensor::from_vector(v, {n});
  Tensor x32 = x64.to(DType::F32).set_requires_grad(true);
  x64.set_requires_grad(true);
  Tensor y32 = gelu(x32), y64 = gelu(x64);
  require_close(y32.to(DType::F64), y64, 2e-6, 1e-6, "gelu f32");
  std::vector<double> g(n);
  for (int64_t i = 0; i < n; ++i) g[i] = std::cos(0.01 * (double)i);
  Tensor gy = Tensor::from_vector(g, {n});
  y32.backward(gy.to(DType::F32));
  y64.backward(gy);
  require_close(x32.grad().to(DType::F64), x64.grad(), 2e-6, 1e-6, "gelu backward f32");
  // Softmax rows with a wide spread (exp down to e^-40) and one row of equal values.
  Tensor s64 = (x64.detach() * 3.0).narrow(0, 0, 200 * 61).reshape({200, 61});
  s64 = concat({s64, Tensor::zeros({1, 61}, DType::F64)}, 0);
  require_close(softmax(s64.to(DType::F32), -1).to(DType::F64), softmax(s64, -1), 2e-6, 1e-9,
                "softmax f32");
}
