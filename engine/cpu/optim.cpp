// optim.cpp — the fused CPU AdamW step: one pass over param, grad and the two moments.
//
// Same arithmetic, in the same order, as torch 1.13's single-tensor AdamW:
//   p  ← p · (1 − lr·wd)                               decoupled weight decay
//   m  ← β1·m + (1 − β1)·g
//   v  ← β2·v + (1 − β2)·g²
//   p  ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)  bias-corrected, ε outside the √
// Scalars are formed in double and rounded to the parameter's dtype, as torch does.
#include <cmath>

#include "engine/cpu/cpu_backend.h"

namespace vt {

void CpuBackend::adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, double lr,
                            double beta1, double beta2, double eps, double weight_decay,
                            int64_t step) {
  dispatch_float(param.dtype(), "adamw_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    const int64_t n = param.numel();
    const double bc1 = 1.0 - std::pow(beta1, (double)step);
    const double bc2_sqrt = std::sqrt(1.0 - std::pow(beta2, (double)step));
    const T decay = (T)(1.0 - lr * weight_decay);
    const T b1 = (T)beta1, one_b1 = (T)(1.0 - beta1);
    const T b2 = (T)beta2, one_b2 = (T)(1.0 - beta2);
    const T neg_step = (T)(-(lr / bc1));
    const T c2 = (T)bc2_sqrt, e = (T)eps;
#pragma omp parallel for simd if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const T gi = g[i];
      const T mi = pm[i] * b1 + one_b1 * gi;
      const T vi = pv[i] * b2 + one_b2 * gi * gi;
      pm[i] = mi;
      pv[i] = vi;
      const T denom = std::sqrt(vi) / c2 + e;
      p[i] = p[i] * decay + neg_step * (mi / denom);
    }
  });
}

}  // namespace vt
