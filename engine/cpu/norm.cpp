// norm.cpp — CPU kernels for softmax / log-softmax and layer norm, both over the last dim.
//
// Every kernel views its tensors as (rows, D) with D = x.size(-1), contiguous, and works one
// row at a time (rows are independent, so they are split across threads). Sums are taken in
// double whatever the storage type, so F32 results match PyTorch to rounding.
//
//   softmax        y = exp(x - max) / Σ exp(x - max)          (max subtraction: no overflow)
//   log_softmax    y = x - max - log Σ exp(x - max)
//   backward       softmax:     gx = y ⊙ (gy - Σ gy ⊙ y)
//                  log_softmax: gx = gy - exp(y) · Σ gy
//   layer_norm     x̂ = (x - mean) · rstd,  rstd = 1/sqrt(var + eps),  y = x̂ ⊙ w + b
//   backward       g = gy ⊙ w
//                  gx = rstd · (g - mean(g) - x̂ ⊙ mean(g ⊙ x̂))      (per row)
//                  gw = Σ_rows gy ⊙ x̂,  gb = Σ_rows gy             (per column)
//
// The softmax kernels may run in place (y aliasing x, gx aliasing gy): each element is read
// before it is written at the same index. Attention relies on this. y (forward) or gx
// (backward) may also be BF16 with F32 inputs: rows computed in F32, stored rounded; and the
// backward may read a BF16 y (attention keeps P in BF16).
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <type_traits>
#include <vector>

#include "engine/bf16.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/vec_math.h"

namespace vt {

namespace {

// Number of rows of length D in t (0 when t is empty).
int64_t rows_of(const Tensor& t, int64_t D) { return D == 0 ? 0 : t.numel() / D; }

// x̂ for element j of a row: (x - mean) · rstd.
template <typename T>
inline double xhat(const T* x, int64_t j, double mean, double rstd) {
  return ((double)x[j] - mean) * rstd;
}

}  // namespace

// ---------------------------------------------------------------- softmax
// Rows where an operand is BF16 (attention's P and dS for its BF16 products,
// engine/ops/attention.cpp): each row of `in` is used as F32 (widened into a per-thread buffer
// if BF16), and each row of `out` is computed in F32 (into a buffer that stays in L1 if BF16,
// rounded as it is stored) — no whole-tensor F32 copy written, read back and rounded.
namespace {

template <typename RowF>
void f32_rows(const Tensor& in, Tensor& out, int64_t D, RowF&& row) {  // row(r, in_row, out_row)
  const int64_t R = rows_of(in, D);
  const bool in16 = in.dtype() == DType::BF16, out16 = out.dtype() == DType::BF16;
#pragma omp parallel if (R * D > kParallelGrain)
  {
    std::vector<float> ibuf(in16 ? D : 0), obuf(out16 ? D : 0);
#pragma omp for
    for (int64_t r = 0; r < R; ++r) {
      if (in16) bf16_to_float_n(in.data<uint16_t>() + r * D, ibuf.data(), D);
      float* orow = out16 ? obuf.data() : out.data<float>() + r * D;
      row(r, in16 ? ibuf.data() : in.data<float>() + r * D, orow);
      if (out16) float_to_bf16_n(orow, out.data<uint16_t>() + r * D, D);
    }
  }
}

void check_bf16_operands(const char* name, std::initializer_list<const Tensor*> f32_or_bf16,
                         const Tensor* f32_only, bool log) {
  bool ok = !log && (!f32_only || f32_only->dtype() == DType::F32);
  for (const Tensor* t : f32_or_bf16) ok = ok && (t->dtype() == DType::F32 || t->dtype() == DType::BF16);
  if (!ok)
    throw Error(std::string(name) + ": a BF16 operand needs F32 input and gradient, and softmax (not log_softmax)");
}

}  // namespace

void CpuBackend::softmax(const Tensor& x, Tensor& y, bool log) {
  if (y.dtype() == DType::BF16) {
    check_bf16_operands("softmax", {&y}, &x, log);
    const int64_t D = x.size(-1);
    return f32_rows(x, y, D, [&](int64_t, const float* xr, float* yr) { vec::softmax_row(xr, yr, D); });
  }
  dispatch_float(x.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const int64_t D = x.size(-1), R = rows_of(x, D);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
#pragma omp parallel for if (R * D > kParallelGrain)
    for (int64_t r = 0; r < R; ++r) {
      const scalar_t* xr = px + r * D;
      scalar_t* yr = py + r * D;
      if constexpr (std::is_same_v<scalar_t, float>) {
        if (!log) {
          vec::softmax_row(xr, yr, D);  // vectorised (vec_math.h)
          continue;
        }
      }
      scalar_t mx = -std::numeric_limits<scalar_t>::infinity();
      for (int64_t j = 0; j < D; ++j) mx = xr[j] > mx ? xr[j] : mx;
      double s = 0;
      if (log) {
        for (int64_t j = 0; j < D; ++j) s += std::exp((double)(xr[j] - mx));
        const scalar_t lse = (scalar_t)std::log(s);
        for (int64_t j = 0; j < D; ++j) yr[j] = xr[j] - mx - lse;
      } else {
        for (int64_t j = 0; j < D; ++j) {
          const scalar_t e = std::exp(xr[j] - mx);
          yr[j] = e;
          s += e;
        }
        const scalar_t inv = (scalar_t)(1.0 / s);
        for (int64_t j = 0; j < D; ++j) yr[j] *= inv;
      }
    }
  });
}

void CpuBackend::softmax_backward(const Tensor& y, const Tensor& gy, Tensor& gx, bool log) {
  if (y.dtype() == DType::BF16 || gx.dtype() == DType::BF16) {  // attention's BF16 P and dS
    check_bf16_operands("softmax_backward", {&y, &gx}, &gy, log);
    const int64_t D = y.size(-1);
    const float* pg = gy.data<float>();
    return f32_rows(y, gx, D, [&](int64_t r, const float* yr, float* orow) {
      vec::softmax_backward_row(yr, pg + r * D, orow, D);
    });
  }
  dispatch_float(y.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const int64_t D = y.size(-1), R = rows_of(y, D);
    const scalar_t* py = y.data<scalar_t>();
    const scalar_t* pg = gy.data<scalar_t>();
    scalar_t* po = gx.data<scalar_t>();
#pragma omp parallel for if (R * D > kParallelGrain)
    for (int64_t r = 0; r < R; ++r) {
      const scalar_t* yr = py + r * D;
      const scalar_t* gr = pg + r * D;
      scalar_t* orow = po + r * D;
      if constexpr (std::is_same_v<scalar_t, float>) {
        if (!log) {
          vec::softmax_backward_row(yr, gr, orow, D);  // vectorised (vec_math.h)
          continue;
        }
      }
      double s = 0;
      if (log) {
        for (int64_t j = 0; j < D; ++j) s += gr[j];
        const scalar_t sum = (scalar_t)s;
        for (int64_t j = 0; j < D; ++j) orow[j] = gr[j] - std::exp(yr[j]) * sum;
      } else {
        for (int64_t j = 0; j < D; ++j) s += (double)gr[j] * yr[j];
        const scalar_t dot = (scalar_t)s;
        for (int64_t j = 0; j < D; ++j) orow[j] = yr[j] * (gr[j] - dot);
      }
    }
  });
}

// ---------------------------------------------------------------- layer norm
// One call does everything per row: the mean, the centred variance (a second read of a row
// that is still in cache — more accurate than Σx² - (Σx)² and than single-pass updates), then y.
void CpuBackend::layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps,
                            Tensor& y, Tensor& mean, Tensor& rstd) {
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const int64_t D = x.size(-1), R = rows_of(x, D);
    const scalar_t* px = x.data<scalar_t>();
    const scalar_t* pw = w.defined() ? w.data<scalar_t>() : nullptr;
    const scalar_t* pb = b.defined() ? b.data<scalar_t>() : nullptr;
    scalar_t* py = y.data<scalar_t>();
    scalar_t* pm = mean.data<scalar_t>();
    scalar_t* ps = rstd.data<scalar_t>();
#pragma omp parallel for if (R * D > kParallelGrain)
    for (int64_t r = 0; r < R; ++r) {
      const scalar_t* xr = px + r * D;
      scalar_t* yr = py + r * D;
      if constexpr (std::is_same_v<scalar_t, float>) {  // vectorised (vec_math.h)
        const auto [m, s] = vec::layer_norm_row(xr, pw, pb, eps, yr, D);
        pm[r] = (float)m, ps[r] = (float)s;
        continue;
      }
      double s = 0;
      for (int64_t j = 0; j < D; ++j) s += xr[j];
      const double mu = s / D;
      double v = 0;
      for (int64_t j = 0; j < D; ++j) {
        const double d = xr[j] - mu;
        v += d * d;
      }
      const double rs = 1.0 / std::sqrt(v / D + eps);  // biased variance, as torch
      for (int64_t j = 0; j < D; ++j) {
        double o = xhat(xr, j, mu, rs);
        if (pw) o *= pw[j];
        if (pb) o += pb[j];
        yr[j] = (scalar_t)o;
      }
      pm[r] = (scalar_t)mu;
      ps[r] = (scalar_t)rs;
    }
  });
}

// gx: rows in parallel. gw/gb: each column is a sum over rows; threads take disjoint blocks of
// columns and sum their rows in order, so the result does not depend on the thread count.
// x, mean and rstd are read only when gx or gw is wanted (gb needs gy alone).
void CpuBackend::layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& gy, Tensor& gx,
                                     Tensor& gw, Tensor& gb) {
  dispatch_float(gy.dtype(), "layer_norm_backward", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const int64_t D = gy.size(-1), R = rows_of(gy, D);
    const scalar_t* pg = gy.data<scalar_t>();
    const scalar_t* px = x.defined() ? x.data<scalar_t>() : nullptr;
    const scalar_t* pw = w.defined() ? w.data<scalar_t>() : nullptr;
    const scalar_t* pm = mean.defined() ? mean.data<scalar_t>() : nullptr;
    const scalar_t* ps = rstd.defined() ? rstd.data<scalar_t>() : nullptr;

    if (gx.defined()) {
      scalar_t* po = gx.data<scalar_t>();
#pragma omp parallel for if (R * D > kParallelGrain)
      for (int64_t r = 0; r < R; ++r) {
        const scalar_t* xr = px + r * D;
        const scalar_t* gr = pg + r * D;
        scalar_t* orow = po + r * D;
        const double mu = pm[r], rs = ps[r];
        if constexpr (std::is_same_v<scalar_t, float>) {  // vectorised (vec_math.h)
          vec::layer_norm_backward_row(xr, pw, gr, mu, rs, orow, D);
          continue;
        }
        double sg = 0, sgx = 0;  // Σ g, Σ g·x̂ with g = gy ⊙ w
        for (int64_t j = 0; j < D; ++j) {
          const double g = pw ? (double)gr[j] * pw[j] : (double)gr[j];
          sg += g;
          sgx += g * xhat(xr, j, mu, rs);
        }
        const double mg = sg / D, mgx = sgx / D;
        for (int64_t j = 0; j < D; ++j) {
          const double g = pw ? (double)gr[j] * pw[j] : (double)gr[j];
          orow[j] = (scalar_t)(rs * (g - mg - xhat(xr, j, mu, rs) * mgx));
        }
      }
    }

    if (gw.defined() || gb.defined()) {
      scalar_t* pgw = gw.defined() ? gw.data<scalar_t>() : nullptr;
      scalar_t* pgb = gb.defined() ? gb.data<scalar_t>() : nullptr;
      constexpr int64_t kBlock = 64;  // columns per task: one cache-friendly strip of each row
      const int64_t nblocks = (D + kBlock - 1) / kBlock;
#pragma omp parallel for if (R * D > kParallelGrain)
      for (int64_t blk = 0; blk < nblocks; ++blk) {
        const int64_t j0 = blk * kBlock, j1 = std::min(D, j0 + kBlock);
        double accw[kBlock] = {}, accb[kBlock] = {};
        for (int64_t r = 0; r < R; ++r) {
          const scalar_t* gr = pg + r * D;
          if (pgw) {
            const scalar_t* xr = px + r * D;
            const double mu = pm[r], rs = ps[r];
            for (int64_t j = j0; j < j1; ++j) accw[j - j0] += gr[j] * xhat(xr, j, mu, rs);
          }
          if (pgb)
            for (int64_t j = j0; j < j1; ++j) accb[j - j0] += gr[j];
        }
        for (int64_t j = j0; j < j1; ++j) {
          if (pgw) pgw[j] = (scalar_t)accw[j - j0];
          if (pgb) pgb[j] = (scalar_t)accb[j - j0];
        }
      }
    }
  });
}

}  // namespace vt
