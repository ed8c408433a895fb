// elementwise_math.h — the per-element formulas of the unary and binary ops, and their
// derivatives, written once for both backends (plain inline functions on the CPU,
// __host__ __device__ under nvcc). engine/cpu/elementwise.cpp and engine/cuda/elementwise.cu
// map these over tensors; the op layer (engine/ops/elementwise.cpp) decides what is saved.
#pragma once
#include <cmath>

#include "engine/backend.h"

#if defined(__CUDACC__)
#define VT_MATH_FN __host__ __device__ __forceinline__
#else
#define VT_MATH_FN inline
#endif

namespace vt::math {

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;

template <typename T>
VT_MATH_FN T sigmoid_(T x) { return T(1) / (T(1) + std::exp(-x)); }

template <typename T>
VT_MATH_FN T unary_fwd(UnaryOp op, T x, T a) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return T(1) / std::sqrt(x);
    case UnaryOp::Abs: return std::fabs(x);
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Sigmoid: return sigmoid_(x);
    case UnaryOp::Relu: return x > T(0) ? x : T(0);
    case UnaryOp::Gelu: return T(0.5) * x * (T(1) + std::erf(x * T(kInvSqrt2)));
    case UnaryOp::GeluTanh: {
      T u = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
      return T(0.5) * x * (T(1) + std::tanh(u));
    }
    case UnaryOp::QuickGelu: return x * sigmoid_(T(1.702) * x);
    case UnaryOp::Softplus: return x > T(20) ? x : std::log1p(std::exp(x));
    case UnaryOp::AddScalar: return x + a;
    case UnaryOp::MulScalar: return x * a;
    case UnaryOp::PowScalar: return std::pow(x, a);
    case UnaryOp::RSubScalar: return a - x;
    case UnaryOp::RDivScalar: return a / x;
    case UnaryOp::Square: return x * x;
  }
  return x;
}

// dy/dx given input x and output y.
template <typename T>
VT_MATH_FN T unary_grad(UnaryOp op, T x, T y, T a) {
  switch (op) {
    case UnaryOp::Neg: return T(-1);
    case UnaryOp::Exp: return y;
    case UnaryOp::Log: return T(1) / x;
    case UnaryOp::Sqrt: return T(0.5) / y;
    case UnaryOp::Rsqrt: return T(-0.5) * y * y * y;
    case UnaryOp::Abs: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case UnaryOp::Tanh: return T(1) - y * y;
    case UnaryOp::Sigmoid: return y * (T(1) - y);
    case UnaryOp::Relu: return x > T(0) ? T(1) : T(0);
    case UnaryOp::Gelu:
      return T(0.5) * (T(1) + std::erf(x * T(kInvSqrt2))) +
             x * T(kInvSqrt2Pi) * std::exp(T(-0.5) * x * x);
    case UnaryOp::GeluTanh: {
      T u = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
      T t = std::tanh(u);
      return T(0.5) * (T(1) + t) +
             T(0.5) * x * (T(1) - t * t) * T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
    }
    case UnaryOp::QuickGelu: {
      T s = sigmoid_(T(1.702) * x);
      return s + T(1.702) * x * s * (T(1) - s);
    }
    case UnaryOp::Softplus: return x > T(20) ? T(1) : sigmoid_(x);
    case UnaryOp::AddScalar: return T(1);
    case UnaryOp::MulScalar: return a;
    case UnaryOp::PowScalar: return a * std::pow(x, a - T(1));
    case UnaryOp::RSubScalar: return T(-1);
    case UnaryOp::RDivScalar: return -y / x;
    case UnaryOp::Square: return T(2) * x;
  }
  return T(0);
}

template <typename T>
VT_MATH_FN T binary_fwd(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Max: return a >= b ? a : b;
    case BinaryOp::Min: return a <= b ? a : b;
    case BinaryOp::Eq: return a == b ? T(1) : T(0);
    case BinaryOp::Gt: return a > b ? T(1) : T(0);
    case BinaryOp::Lt: return a < b ? T(1) : T(0);
  }
  return a;
}


}  // namespace vt::math
