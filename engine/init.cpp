// init.cpp — parameter initialisers (formulas in init.h). Values are generated contiguous on
// the tensor's device and copied into it, so any layout works and autograd never sees it.
#include "engine/init.h"

#include <cmath>
#include <limits>
#include <vector>

#include "engine/backend.h"

namespace vt::init {

namespace {

void check_target(const char* op, const Tensor& t) {
  if (!t.defined()) throw Error(std::string(op) + ": tensor is undefined");
  if (t.dtype() != DType::F32 && t.dtype() != DType::F64)
    throw Error(std::string(op) + ": expected an F32 or F64 tensor, got " +
                dtype_name(t.dtype()) + " of shape " + shape_str(t.shape()));
}

// Writes `values` (same shape, any dtype/device) into t's memory in place.
Tensor assign(const Tensor& t, const Tensor& values) {
  Tensor v = values.dtype() == t.dtype() ? values : values.to(t.dtype());
  if (v.device() != t.device()) v = v.to(t.device());
  Tensor dst = t;  // a handle: writing through it writes t's memory
  backend_for(t).copy(v, dst);
  return t;
}

int64_t pick_fan(const char* op, const Tensor& t, const std::string& mode) {
  auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  if (mode == "fan_in") return fan_in;
  if (mode == "fan_out") return fan_out;
  throw Error(std::string(op) + ": mode must be 'fan_in' or 'fan_out', got '" + mode + "'");
}

}  // namespace

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& t) {
  if (t.dim() < 2)
    throw Error("fan_in_and_fan_out: need a tensor with at least 2 dims, got shape " +
                shape_str(t.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

double calculate_gain(const std::string& nl, double a) {
  if (nl == "linear" || nl == "identity" || nl == "sigmoid" || nl.rfind("conv", 0) == 0)
    return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1.0 + a * a));
  if (nl == "selu") return 3.0 / 4.0;
  throw Error("calculate_gain: unsupported nonlinearity '" + nl + "'");
}

namespace {
thread_local bool skip_init = false;
}  // namespace

SkipInit::SkipInit() : previous_(skip_init) { skip_init = true; }
SkipInit::~SkipInit() { skip_init = previous_; }

Tensor constant_(const Tensor& t, double value) {
  check_target("constant_", t);
  if (skip_init) return t;
  Tensor dst = t;
  if (t.numel()) backend_for(t).fill(dst, value);
  return t;
}
Tensor zeros_(const Tensor& t) { return constant_(t, 0.0); }
Tensor ones_(const Tensor& t) { return constant_(t, 1.0); }

Tensor uniform_(const Tensor& t, double lo, double hi, Generator* gen) {
  check_target("uniform_", t);
  if (skip_init) return t;
  return assign(t, rand(t.shape(), lo, hi, t.dtype(), t.device(), gen));
}

Tensor normal_(const Tensor& t, double mean, double std, Generator* gen) {
  check_target("normal_", t);
  if (skip_init) return t;
  return assign(t, randn(t.shape(), mean, std, t.dtype(), t.device(), gen));
}

// Giles' single-precision approximation ("Approximating the erfinv function", 2010) as a start,
// then two Newton steps on erf(x) - y, which bring it to double precision.
double erfinv(double y) {
  if (y <= -1.0) return -std::numeric_limits<double>::infinity();
  if (y >= 1.0) return std::numeric_limits<double>::infinity();
  double w = -std::log((1.0 - y) * (1.0 + y)), x;
  if (w < 5.0) {
    w -= 2.5;
    double p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
    x = p * y;
  } else {
    w = std::sqrt(w) - 3.0;
    double p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
    x = p * y;
  }
  const double two_over_sqrt_pi = 1.1283791670955126;
  for (int i = 0; i < 2; ++i) x -= (std::erf(x) - y) / (two_over_sqrt_pi * std::exp(-x * x));
  return x;
}

Tensor trunc_normal_(const Tensor& t, double mean, double std, double a, double b,
                     Generator* gen) {
  check_target("trunc_normal_", t);
  if (!(a < b) || !(std > 0))
    throw Error("trunc_normal_: need a < b and std > 0, got a=" + std::to_string(a) +
                " b=" + std::to_string(b) + " std=" + std::to_string(std));
  if (skip_init) return t;
  auto norm_cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double l = norm_cdf((a - mean) / std), u = norm_cdf((b - mean) / std);
  // u ~ U(2l-1, 2u-1) in double on the host (initialisation runs once), then mapped through
  // the normal's inverse CDF, clamped to [a, b] as torch does against rounding at the ends.
  Tensor draw = rand(t.shape(), 2 * l - 1, 2 * u - 1, DType::F64, Device::cpu(), gen);
  double* p = draw.data<double>();
  for (int64_t i = 0; i < draw.numel(); ++i) {
    double x = mean + std * std::sqrt(2.0) * erfinv(p[i]);
    p[i] = std::min(std::max(x, a), b);
  }
  return assign(t, draw);
}

Tensor xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  check_target("xavier_uniform_", t);
  auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / (double)(fan_in + fan_out));
  return uniform_(t, -bound, bound, gen);
}

Tensor xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  check_target("xavier_normal_", t);
  auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / (double)(fan_in + fan_out)), gen);
}

Tensor kaiming_uniform_(const Tensor& t, double a, const std::string& mode,
                        const std::string& nonlinearity, Generator* gen) {
  check_target("kaiming_uniform_", t);
  const int64_t fan = pick_fan("kaiming_uniform_", t, mode);
  const double bound = calculate_gain(nonlinearity, a) * std::sqrt(3.0 / (double)fan);
  return uniform_(t, -bound, bound, gen);
}

Tensor kaiming_normal_(const Tensor& t, double a, const std::string& mode,
                       const std::string& nonlinearity, Generator* gen) {
  check_target("kaiming_normal_", t);
  const int64_t fan = pick_fan("kaiming_normal_", t, mode);
  return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt((double)fan), gen);
}

}  // namespace vt::init
