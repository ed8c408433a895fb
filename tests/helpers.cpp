// helpers.cpp — gradient checking and PyTorch-fixture comparison for the test suite.
#include "tests/helpers.h"

#include <cmath>
#include <sstream>

#include "engine/cpu/cpu_backend.h"

#ifndef VT_FIXTURE_DIR
#error "VT_FIXTURE_DIR must be defined by the build"
#endif

namespace vt::test {

std::vector<double> rand_values(int64_t n, uint64_t seed, double lo, double hi) {
  std::vector<double> v(n);
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(s >> 11) / 9007199254740992.0;
    v[i] = lo + (hi - lo) * u;
  }
  return v;
}

Tensor rand_tensor(const Shape& shape, uint64_t seed, DType dtype, double lo, double hi) {
  return Tensor::from_vector(rand_values(shape_numel(shape), seed, lo, hi), shape).to(dtype);
}

Tensor rand_strided(const Shape& shape, uint64_t seed, int64_t a, int64_t b, DType dtype) {
  Shape base = shape;
  int64_t nd = (int64_t)shape.size();
  a = wrap_dim(a, nd, "rand_strided");
  b = wrap_dim(b, nd, "rand_strided");
  std::swap(base[a], base[b]);
  Tensor t = rand_tensor(base, seed, dtype).transpose(a, b).detach();
  return t;
}

static double* element_ptr(const Tensor& t, int64_t i) {
  return t.data<double>() + strided_offset(i, t.shape(), t.strides());
}

void gradcheck(const Fn& fn, const std::vector<Tensor>& inputs, double eps, double tol) {
  Tensor out = fn(inputs);
  REQUIRE(out.dtype() == DType::F64);
  Tensor w = rand_tensor(out.shape(), 977, DType::F64, 0.5, 1.5);
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) const_cast<Tensor&>(t).zero_grad();
  Tensor loss = sum(mul(out, w));
  REQUIRE(loss.requires_grad());
  loss.backward();
  NoGrad ng;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& t = inputs[k];
    if (!t.defined() || !t.requires_grad()) continue;
    REQUIRE(t.dtype() == DType::F64);
    Tensor g = t.grad();
    INFO("input " << k << " of shape " << shape_str(t.shape()));
    REQUIRE(g.defined());
    REQUIRE(g.shape() == t.shape());
    auto analytic = g.to_vector();
    for (int64_t i = 0; i < t.numel(); ++i) {
      double* p = element_ptr(t, i);
      const double orig = *p;
      *p = orig + eps;
      double fp = sum(mul(fn(inputs), w)).item();
      *p = orig - eps;
      double fm = sum(mul(fn(inputs), w)).item();
      *p = orig;
      double numeric = (fp - fm) / (2 * eps);
      if (std::abs(numeric - analytic[i]) > tol * (1.0 + std::abs(numeric))) {
        FAIL("gradient mismatch at input " << k << " element " << i << ": analytic "
                                           << analytic[i] << " numeric " << numeric);
      }
    }
  }
}

void require_close(const Tensor& got, const Tensor& want, double rtol, double atol,
                   const std::string& what) {
  INFO(what);
  REQUIRE(got.defined());
  REQUIRE(shape_str(got.shape()) == shape_str(want.shape()));
  auto a = got.to_vector(), b = want.to_vector();
  double worst = 0;
  int64_t worst_i = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    double err = std::abs(a[i] - b[i]) - (atol + rtol * std::abs(b[i]));
    if (!(err <= 0) && (worst_i < 0 || err > worst || std::isnan(err))) {
      worst = err;
      worst_i = (int64_t)i;
    }
  }
  if (worst_i >= 0)
    FAIL(what << ": element " << worst_i << " is " << a[worst_i] << ", expected " << b[worst_i]
              << " (rtol " << rtol << ", atol " << atol << ")");
}

Tensor bf16_exact(const Shape& shape, uint64_t seed) {
  return rand_tensor(shape, seed, DType::F32).to(DType::BF16).to(DType::F32);
}

void require_within(const Tensor& got, const Tensor& want, const Tensor& bound, const std::string& what) {
  auto g = got.to_vector(), w = want.to_vector(), b = bound.to_vector();
  REQUIRE(g.size() == w.size());
  REQUIRE(b.size() == w.size());
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double r = std::abs(g[i] - w[i]) / b[i];
    if (!(r <= worst)) worst = r, at = i;
  }
  INFO(what << ": worst |got - want| / bound = " << worst << " at " << at << " (got " << g[at]
            << ", want " << w[at] << ", bound " << b[at] << ")");
  REQUIRE(worst <= 1.0);
}

Fixture::Fixture(const std::string& filename)
    : file(load_safetensors(std::string(VT_FIXTURE_DIR) + "/" + filename)) {}

Tensor Fixture::get(const std::string& key) const {
  auto it = file.tensors.find(key);
  if (it == file.tensors.end()) throw Error("fixture has no tensor '" + key + "'");
  return it->second;
}

void torch_case(const Fixture& fx, const std::string& name,
                const std::function<Tensor(Inputs&)>& fn, double rtol, double atol) {
  INFO("torch case " << name);
  Inputs in;
  const std::string pin = name + ".in.";
  for (const auto& [key, t] : fx.file.tensors) {
    if (key.rfind(pin, 0) != 0) continue;
    std::string k = key.substr(pin.size());
    Tensor c = t.clone();
    if (fx.has(name + ".grad." + k)) c.set_requires_grad(true);
    in[k] = c;
  }
  REQUIRE(!in.empty());
  Inputs keep = in;
  Tensor out = fn(in);
  require_close(out, fx.get(name + ".out"), rtol, atol, name + ".out");
  bool any_grad = false;
  for (auto& [k, t] : keep) any_grad = any_grad || t.requires_grad();
  if (!any_grad) return;
  out.backward(fx.get(name + ".gout").clone());
  for (auto& [k, t] : keep) {
    if (!t.requires_grad()) continue;
    require_close(t.grad(), fx.get(name + ".grad." + k), rtol, atol, name + ".grad." + k);
  }
}

}  // namespace vt::test
