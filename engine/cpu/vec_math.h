// vec_math.h — vectorised F32 exp and erf for the CPU kernels, through Eigen's array functions.
//
// glibc's expf/erff are scalar calls: in GELU and softmax they cost more than the arithmetic
// around them (GELU's forward and backward on a ViT-S MLP activation took 12 and 17 ms; with
// these, 0.6 and 2 ms). Eigen evaluates exp with a range reduction plus polynomial (about
// 1 ulp) and erf with a 13/8-degree rational interpolant ("accurate up to a couple of ulp in
// [-4, 4]", SpecialFunctionsImpl.h), both in SIMD registers. Each function works on a span;
// callers parallelise over spans or rows. F64 kernels keep std::exp / std::erf.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

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

using ArrD = Eigen::Array<double, Eigen::Dynamic, 1>;

// Σ a·b with every term and sum in double (vectorised: F32 loads widened to F64 lanes). An F32
// running sum moved ViT-B's input gradient by 1.5e-4 of its largest value in
// tests/test_full_size.cpp; sums of F32 partials were not enough for the FacT parity test.
inline double dot_f64(const float* a, const float* b, int64_t n) {
  return (CMap(a, n).cast<double>() * CMap(b, n).cast<double>()).sum();
}

// Σ of non-negative F32 terms (no cancellation): 16-lane F32 partial sums added in double.
inline double sum_nonneg_f32(const float* x, int64_t n) {
  double s = 0;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) s += (double)Eigen::Map<const Eigen::Array<float, 16, 1>>(x + j).sum();
  for (; j < n; ++j) s += x[j];
  return s;
}

// y = exp(x - shift), 16 lanes at a time, the tail as one padded block. A dynamic-size Eigen
// expression would peel unaligned heads and tails into glibc's scalar expf: on 197-wide rows
// (rows start anywhere) that was up to 30 scalar calls per row, 1.2 % of a BF16 training step.
inline void exp_shifted(const float* x, float shift, float* y, int64_t n) {
  using A16 = Eigen::Array<float, 16, 1>;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) Eigen::Map<A16>(y + j) = (Eigen::Map<const A16>(x + j) - shift).exp();
  if (j < n) {
    A16 t = A16::Zero();
    std::memcpy(t.data(), x + j, (n - j) * sizeof(float));
    t = (t - shift).exp();
    std::memcpy(y + j, t.data(), (n - j) * sizeof(float));
  }
}

// One softmax row: y = exp(x - max x) / Σ exp(x - max x); exp in F32, Σ of the positive terms
// as above. (2.7x the speed of the scalar loops it replaced on ViT-S's 197-wide rows.)
inline void softmax_row(const float* x, float* y, int64_t n) {
  const float mx = CMap(x, n).maxCoeff();
  exp_shifted(x, mx, y, n);
  Map(y, n) *= (float)(1.0 / sum_nonneg_f32(y, n));
}

// One softmax backward row: gx = y ⊙ (gy - Σ gy ⊙ y), the dot in double.
inline void softmax_backward_row(const float* y, const float* gy, float* gx, int64_t n) {
  const float dot = (float)dot_f64(gy, y, n);
  Map(gx, n) = CMap(y, n) * (CMap(gy, n) - dot);
}

// One layer-norm row, in double as the scalar kernel it replaced (vectorised: 3-5x faster):
// y = (x - μ)·rstd·w + b (w, b may be null) with the centred variance. Returns {μ, rstd}.
inline std::pair<double, double> layer_norm_row(const float* x, const float* w, const float* b, double eps,
                                                float* y, int64_t n) {
  const ArrD xd = CMap(x, n).cast<double>();
  const double mu = xd.sum() / (double)n;
  const double rs = 1.0 / std::sqrt((xd - mu).square().sum() / (double)n + eps);  // biased, as torch
  ArrD o = (xd - mu) * rs;
  if (w) o *= CMap(w, n).cast<double>();
  if (b) o += CMap(b, n).cast<double>();
  Map(y, n) = o.cast<float>();
  return {mu, rs};
}

// One layer-norm backward row for gx, in double: with g = gy ⊙ w and x̂ = (x - μ)·rstd,
// gx = rstd · (g - mean(g) - x̂ · mean(g ⊙ x̂)).
inline void layer_norm_backward_row(const float* x, const float* w, const float* gy, double mu, double rs,
                                    float* gx, int64_t n) {
  const ArrD xh = (CMap(x, n).cast<double>() - mu) * rs;
  ArrD g = CMap(gy, n).cast<double>();
  if (w) g *= CMap(w, n).cast<double>();
  const double mg = g.sum() / (double)n, mgx = (g * xh).sum() / (double)n;
  Map(gx, n) = (rs * (g - mg - xh * mgx)).cast<float>();
}

}  // namespace vt::vec
