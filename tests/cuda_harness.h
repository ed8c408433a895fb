// cuda_harness.h — the table-driven CPU-vs-CUDA comparison used by tests/test_cuda*.cpp.
//
// One table row per op: a name, its inputs (shape + kind), the op as an expression over x[i],
// and a tolerance. run_table() builds identical F32 inputs on the CPU and on cuda:0, runs the
// op forward on both, back-propagates the same random output gradient, and compares the
// outputs and every input gradient (|gpu - cpu| <= atol + rtol·|cpu|). Failures do not stop the
// table: each failing row reports its op, what differed (output or which gradient), the worst
// element and both values, so one GPU run lists everything that is wrong.
//
// Without a CUDA device every test prints WARN("no CUDA device: skipping ...") and returns.
#pragma once
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda/cuda_api.h"
#include "tests/helpers.h"

namespace vt::test {

inline bool have_cuda() { return backend_available(Device::CUDA); }

#define CUDA_OR_SKIP(what)                                                                 \
  do {                                                                                     \
    if (!::vt::test::have_cuda()) {                                                        \
      WARN("no CUDA device: skipping " << what                                             \
                                       << (::vt::cuda::is_built() ? " (CUDA built, no GPU found)" \
                                                                  : " (built without CUDA)")); \
      return;                                                                              \
    }                                                                                      \
  } while (0)

// An input of a table row.
struct Arg {
  enum Kind { Leaf, Strided, Const, Index, Mask } kind = Leaf;
  Shape shape;
  double lo = -1, hi = 1;
  std::vector<int64_t> ints;  // Index (I64) / Mask (U8) values
};
// F32 leaf that requires grad, values in [lo, hi)
inline Arg F(Shape s, double lo = -1, double hi = 1) { return {Arg::Leaf, std::move(s), lo, hi, {}}; }
// Non-contiguous F32 leaf: the transpose of its last two dims (on both devices)
inline Arg S(Shape s) { return {Arg::Strided, std::move(s), -1, 1, {}}; }
// F32 input without gradient
inline Arg C(Shape s, double lo = -1, double hi = 1) { return {Arg::Const, std::move(s), lo, hi, {}}; }
inline Arg I(Shape s, std::vector<int64_t> v) { return {Arg::Index, std::move(s), 0, 0, std::move(v)}; }
inline Arg M(Shape s, std::vector<int64_t> v) { return {Arg::Mask, std::move(s), 0, 0, std::move(v)}; }

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;
#define FN(expr) [](const std::vector<Tensor>& x) -> Tensor { return expr; }

struct Case {
  std::string name;
  std::vector<Arg> args;
  OpFn fn;
  double rtol = 1e-5, atol = 1e-6;
};

inline Tensor make_arg(const Arg& a, uint64_t seed, Device dev) {
  switch (a.kind) {
    case Arg::Leaf:
    case Arg::Const: {
      Tensor t = rand_tensor(a.shape, seed, DType::F32, a.lo, a.hi).to(dev);
      if (a.kind == Arg::Leaf) t.set_requires_grad(true);
      return t;
    }
    case Arg::Strided: {
      Shape base = a.shape;
      std::swap(base[base.size() - 1], base[base.size() - 2]);
      Tensor t = rand_tensor(base, seed, DType::F32).to(dev).transpose(-1, -2).detach();
      return t.set_requires_grad(true);
    }
    case Arg::Index: return Tensor::from_vector(a.ints, a.shape).to(dev);
    case Arg::Mask: return Tensor::from_vector(a.ints, a.shape).to(DType::U8).to(dev);
  }
  return Tensor();
}

// Non-fatal allclose: reports the worst element and returns false on mismatch.
inline bool close_check(const Tensor& got, const Tensor& want, double rtol, double atol,
                        const std::string& what) {
  if (!got.defined() || !want.defined()) {
    FAIL_CHECK(what << ": " << (got.defined() ? "cpu" : "cuda") << " result is undefined");
    return false;
  }
  if (got.shape() != want.shape()) {
    FAIL_CHECK(what << ": shape " << shape_str(got.shape()) << " on cuda, "
                    << shape_str(want.shape()) << " on cpu");
    return false;
  }
  auto a = got.to_vector(), b = want.to_vector();
  int64_t worst = -1;
  double worst_err = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(a[i] - b[i]) - (atol + rtol * std::abs(b[i]));
    const bool both_nan = std::isnan(a[i]) && std::isnan(b[i]);
    if (!both_nan && !(err <= 0) && (worst < 0 || err > worst_err || std::isnan(err))) {
      worst = (int64_t)i;
      worst_err = err;
    }
  }
  if (worst >= 0)
    FAIL_CHECK(what << ": element " << worst << " of " << shape_str(want.shape()) << " is "
                    << a[worst] << " on cuda, " << b[worst] << " on cpu (rtol " << rtol
                    << ", atol " << atol << ")");
  return worst < 0;
}

// Runs one row on both devices and compares output and input gradients.
inline void compare_case(const Case& c) {
  const Device gpu = Device::cuda(0);
  std::vector<Tensor> xc, xg;
  for (size_t i = 0; i < c.args.size(); ++i) {
    xc.push_back(make_arg(c.args[i], 101 + 7 * i, Device::cpu()));
    xg.push_back(make_arg(c.args[i], 101 + 7 * i, gpu));
  }
  Tensor yc = c.fn(xc), yg = c.fn(xg);
  if (yg.defined() && yg.device() != gpu) {
    FAIL_CHECK(c.name << ": output is on " << yg.device().str() << ", expected cuda:0");
    return;
  }
  if (!close_check(yg, yc, c.rtol, c.atol, c.name + " (forward)")) return;
  if (!yc.requires_grad() || !is_floating(yc.dtype())) return;
  Tensor gout = rand_tensor(yc.shape(), 977, DType::F32, 0.5, 1.5);
  yc.backward(gout);
  yg.backward(gout.to(gpu));
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (!xc[i].requires_grad()) continue;
    close_check(xg[i].grad(), xc[i].grad(), c.rtol, c.atol,
                c.name + " (gradient of input " + std::to_string(i) + ")");
  }
}

inline void run_table(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    try {
      compare_case(c);
    } catch (const std::exception& e) {
      FAIL_CHECK(c.name << ": threw " << e.what());
    }
  }
}

}  // namespace vt::test
