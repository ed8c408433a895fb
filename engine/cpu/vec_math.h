// vec_math.h — vectorised F32 exp and erf for the CPU kernels, through Eigen's array functions.
//
// glibc's expf/erff are scalar calls: in GELU and softmax they cost more than the arithmetic
// around them (GELU's forward and backward on a ViT-S MLP activation took 12 and 17 ms; with
// these, 0.6 and 2 ms). Eigen evaluates exp with a range reduction plus polynomial (about
// 1 ulp) and erf with a 13/8-degree rational interpolant ("accurate up to a couple of ulp in
// [-4, 4]", SpecialFunctionsImpl.h), both in SIMD registers. Each function works on a span;
// callers parallelise over spans or rows. F64 kernels keep std::exp / std::erf.
#pragma once
#include <cstdint>

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

namespace vt::vec {

using ArrF = Eigen::Array<float, Eigen::Dynamic, 1>;
using CMap = Eigen::Map<const ArrF>;
using Map = Eigen::Map<ArrF>;

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// y = x·Φ(x) = ½·x·(1 + erf(x/√2))   (exact GELU)
inline void gelu(const float* x, float* y, int64_t n) {
  CMap xa(x, n);
  Map(y, n) = 0.5f * xa * (1.0f + (xa * kInvSqrt2).erf());
}

// gx = gy · (Φ(x) + x·φ(x))
inline void gelu_backward(const float* x, const float* gy, float* gx, int64_t n) {
  CMap xa(x, n);
  Map(gx, n) = CMap(gy, n) * (0.5f * (1.0f + (xa * kInvSqrt2).erf()) +
                              xa * kInvSqrt2Pi * (-0.5f * xa.square()).exp());
}

// y = exp(x - shift); returns Σ y, summed in double (an F32 sum moved ViT-B's input gradient
// by 1.5e-4 of its largest value in tests/test_full_size.cpp).
inline double exp_shifted_sum(const float* x, float shift, float* y, int64_t n) {
  Map ya(y, n);
  ya = (CMap(x, n) - shift).exp();
  return ya.template cast<double>().sum();
}

}  // namespace vt::vec
