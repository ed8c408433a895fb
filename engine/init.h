// init.h — in-place parameter initialisers with torch.nn.init's (and timm's) exact formulas.
//
// Each fills `t`'s memory in place (any strides, any device, F32/F64; t is a handle, so a
// const one is enough), records no autograd, and returns t.
// Random ones draw from the default generator unless `gen` is given.
//
//   fans (torch _calculate_fan_in_and_fan_out, t.dim() >= 2):
//     receptive = prod(shape[2:]),  fan_in = shape[1] · receptive,  fan_out = shape[0] · receptive
//   xavier_uniform_:  U(-b, b),  b = gain · sqrt(6 / (fan_in + fan_out))
//   xavier_normal_:   N(0, s),   s = gain · sqrt(2 / (fan_in + fan_out))
//   kaiming_uniform_: U(-b, b),  b = gain · sqrt(3 / fan),  gain = calculate_gain(nonlinearity, a)
//   kaiming_normal_:  N(0, s),   s = gain / sqrt(fan)
//   trunc_normal_:    N(mean, std) restricted to [a, b] (a, b absolute values, timm's default
//                     a = -2, b = 2), by inverse-CDF sampling: u ~ U(2Φ(α) - 1, 2Φ(β) - 1),
//                     x = mean + std·√2·erfinv(u), clamped to [a, b]; α, β = (a|b - mean)/std.
#pragma once
#include <string>
#include <utility>

#include "engine/random.h"

namespace vt::init {

// {fan_in, fan_out}; throws for tensors with fewer than 2 dims.
std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& t);
// torch.nn.init.calculate_gain: linear/conv*/sigmoid 1, tanh 5/3, relu √2,
// leaky_relu √(2 / (1 + a²)), selu 3/4.
double calculate_gain(const std::string& nonlinearity, double a = 0.0);

Tensor zeros_(const Tensor& t);
Tensor ones_(const Tensor& t);
Tensor constant_(const Tensor& t, double value);
Tensor uniform_(const Tensor& t, double lo = 0.0, double hi = 1.0,
                Generator* gen = nullptr);
Tensor normal_(const Tensor& t, double mean = 0.0, double std = 1.0,
               Generator* gen = nullptr);
Tensor trunc_normal_(const Tensor& t, double mean = 0.0, double std = 1.0, double a = -2.0,
                     double b = 2.0, Generator* gen = nullptr);
Tensor xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
Tensor xavier_normal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// mode: "fan_in" or "fan_out".
Tensor kaiming_uniform_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu",
                        Generator* gen = nullptr);
Tensor kaiming_normal_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                       const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);

// While one is alive (on this thread), the initialisers above leave their tensor as it is: for
// building a model only to look at its structure (`vitune params`), without filling hundreds of
// megabytes of weights. What the tensors then hold is undefined: read nothing from them.
class SkipInit {
 public:
  SkipInit();
  ~SkipInit();
  SkipInit(const SkipInit&) = delete;
  SkipInit& operator=(const SkipInit&) = delete;

 private:
  bool previous_;
};

// erf⁻¹ on (-1, 1), to double precision (used by trunc_normal_; exposed for tests).
double erfinv(double y);

}  // namespace vt::init
