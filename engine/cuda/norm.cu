// norm.cu — CUDA softmax / log-softmax and layer norm over the last dim, forward and backward.
//
// The formulas and accumulation types are the CPU backend's (engine/cpu/norm.cpp): row sums in
// double, the centred two-pass variance for layer norm. Rows of length D are independent:
//   D <= 1024   one warp per row (blockDim 32 × 8: eight rows per block), shuffles only
//   D >  1024   one block of 256 threads per row, warp shuffles + shared memory
// Within a row, thread t handles elements t, t + TPR, ...; every pass over a row visits the
// same elements with the same thread, so softmax may run in place (y aliasing x, gx aliasing
// gy), which attention relies on.
//
// Layer norm's gw / gb are column sums over all rows: a block takes 32 adjacent columns and a
// chunk of rows (8 thread rows), and when there are few columns the rows are split into
// chunks whose double partials a second kernel adds up in chunk order (deterministic).
#include <math_constants.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "engine/bf16.h"
#include "engine/cuda/cuda_common.cuh"

namespace vt::cuda {

namespace {

struct MaxOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return b > a ? b : a; }
};

int64_t rows_of(const Tensor& t, int64_t D) { return D == 0 ? 0 : t.numel() / D; }

// Row r of the group this thread belongs to, for TPR threads per row.
template <int TPR>
__device__ __forceinline__ int64_t my_row() {
  return TPR == 32 ? (int64_t)blockIdx.x * blockDim.y + threadIdx.y : (int64_t)blockIdx.x;
}

// ---------------------------------------------------------------- softmax
// The output element type O is T, or uint16_t for BF16 (rounded as stored, engine/bf16.h).
template <typename O, typename T>
__device__ __forceinline__ O store_as(T v) {
  if constexpr (std::is_same_v<O, uint16_t>) return float_to_bf16((float)v);
  else return v;
}

template <typename T, int TPR, typename O = T>
__global__ void softmax_kernel(const T* x, O* y, int64_t R, int64_t D, bool log) {
  const int64_t r = my_row<TPR>();
  if (r >= R) return;  // whole row groups only (R rows exactly fill TPR = 256 grids)
  const T* xr = x + r * D;
  O* yr = y + r * D;
  T mx = -CUDART_INF;
  for (int64_t j = threadIdx.x; j < D; j += TPR) mx = xr[j] > mx ? xr[j] : mx;
  mx = group_allreduce<TPR>(mx, MaxOp{});
  double s = 0;
  if (log) {
    for (int64_t j = threadIdx.x; j < D; j += TPR) s += std::exp((double)(xr[j] - mx));
    s = group_allreduce<TPR>(s, SumOp{});
    const T lse = (T)std::log(s);
    for (int64_t j = threadIdx.x; j < D; j += TPR) yr[j] = store_as<O>(xr[j] - mx - lse);
  } else {
    for (int64_t j = threadIdx.x; j < D; j += TPR) s += (double)std::exp(xr[j] - mx);
    s = group_allreduce<TPR>(s, SumOp{});
    const T inv = (T)(1.0 / s);
    for (int64_t j = threadIdx.x; j < D; j += TPR) yr[j] = store_as<O>(std::exp(xr[j] - mx) * inv);
  }
}

template <typename T, int TPR, typename O = T>
__global__ void softmax_backward_kernel(const T* y, const T* gy, O* gx, int64_t R, int64_t D,
                                        bool log) {
  const int64_t r = my_row<TPR>();
  if (r >= R) return;
  const T* yr = y + r * D;
  const T* gr = gy + r * D;
  O* orow = gx + r * D;
  double s = 0;
  if (log) {
    for (int64_t j = threadIdx.x; j < D; j += TPR) s += gr[j];
    const T sum = (T)group_allreduce<TPR>(s, SumOp{});
    for (int64_t j = threadIdx.x; j < D; j += TPR) orow[j] = store_as<O>(gr[j] - std::exp(yr[j]) * sum);
  } else {
    for (int64_t j = threadIdx.x; j < D; j += TPR) s += (double)gr[j] * yr[j];
    const T dot = (T)group_allreduce<TPR>(s, SumOp{});
    for (int64_t j = threadIdx.x; j < D; j += TPR) orow[j] = store_as<O>(yr[j] * (gr[j] - dot));
  }
}

// ---------------------------------------------------------------- layer norm
template <typename T, int TPR>
__global__ void layer_norm_kernel(const T* x, const T* w, const T* b, double eps, T* y, T* mean,
                                  T* rstd, int64_t R, int64_t D) {
  const int64_t r = my_row<TPR>();
  if (r >= R) return;
  const T* xr = x + r * D;
  T* yr = y + r * D;
  double s = 0;
  for (int64_t j = threadIdx.x; j < D; j += TPR) s += xr[j];
  const double mu = group_allreduce<TPR>(s, SumOp{}) / D;
  double v = 0;
  for (int64_t j = threadIdx.x; j < D; j += TPR) {
    const double d = xr[j] - mu;
    v += d * d;
  }
  const double rs = 1.0 / std::sqrt(group_allreduce<TPR>(v, SumOp{}) / D + eps);  // biased var
  for (int64_t j = threadIdx.x; j < D; j += TPR) {
    double o = ((double)xr[j] - mu) * rs;
    if (w) o *= w[j];
    if (b) o += b[j];
    yr[j] = (T)o;
  }
  if (threadIdx.x == 0) {
    mean[r] = (T)mu;
    rstd[r] = (T)rs;
  }
}

// gx = rstd · (g - mean(g) - x̂ · mean(g · x̂)),  g = gy ⊙ w
template <typename T, int TPR>
__global__ void layer_norm_grad_input_kernel(const T* x, const T* w, const T* mean,
                                             const T* rstd, const T* gy, T* gx, int64_t R,
                                             int64_t D) {
  const int64_t r = my_row<TPR>();
  if (r >= R) return;
  const T* xr = x + r * D;
  const T* gr = gy + r * D;
  T* orow = gx + r * D;
  const double mu = mean[r], rs = rstd[r];
  double sg = 0, sgx = 0;
  for (int64_t j = threadIdx.x; j < D; j += TPR) {
    const double g = w ? (double)gr[j] * w[j] : (double)gr[j];
    sg += g;
    sgx += g * (((double)xr[j] - mu) * rs);
  }
  const double mg = group_allreduce<TPR>(sg, SumOp{}) / D;
  const double mgx = group_allreduce<TPR>(sgx, SumOp{}) / D;
  for (int64_t j = threadIdx.x; j < D; j += TPR) {
    const double g = w ? (double)gr[j] * w[j] : (double)gr[j];
    orow[j] = (T)(rs * (g - mg - (((double)xr[j] - mu) * rs) * mgx));
  }
}

// gw[j] = Σ_r gy[r, j] · x̂[r, j],  gb[j] = Σ_r gy[r, j] over the rows of chunk blockIdx.y.
// Block (32, 8): 32 columns × 8 thread rows. With one chunk the results go straight to gw/gb,
// else to double partials pw/pb laid out (chunks, D).
template <typename T>
__global__ void layer_norm_grad_wb_kernel(const T* x, const T* mean, const T* rstd, const T* gy,
                                          int64_t R, int64_t D, int64_t chunk, T* gw, T* gb,
                                          double* pw, double* pb) {
  const int64_t j = (int64_t)blockIdx.x * 32 + threadIdx.x, s = blockIdx.y;
  const int64_t r0 = s * chunk, r1 = min(R, r0 + chunk);
  const bool want_w = gw || pw, want_b = gb || pb;
  double aw = 0, ab = 0;
  if (j < D) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) {
      const double g = gy[r * D + j];
      if (want_w) aw += g * (((double)x[r * D + j] - (double)mean[r]) * (double)rstd[r]);
      if (want_b) ab += g;
    }
  }
  __shared__ double sw[8][33], sb[8][33];
  sw[threadIdx.y][threadIdx.x] = aw;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y != 0 || j >= D) return;
  for (int k = 1; k < 8; ++k) aw += sw[k][threadIdx.x], ab += sb[k][threadIdx.x];
  if (pw || pb) {
    if (pw) pw[s * D + j] = aw;
    if (pb) pb[s * D + j] = ab;
  } else {
    if (gw) gw[j] = (T)aw;
    if (gb) gb[j] = (T)ab;
  }
}

template <typename T>
__global__ void layer_norm_sum_partials_kernel(const double* pw, const double* pb,
                                               int64_t chunks, int64_t D, T* gw, T* gb) {
  GRID_STRIDE_LOOP(j, D) {
    double aw = 0, ab = 0;
    for (int64_t s = 0; s < chunks; ++s) {
      if (pw) aw += pw[s * D + j];
      if (pb) ab += pb[s * D + j];
    }
    if (gw) gw[j] = (T)aw;
    if (gb) gb[j] = (T)ab;
  }
}

// Launches kernel<T, 32> (warp per row) or kernel<T, 256> (block per row) over R rows.
#define VT_ROW_LAUNCH(name, kernel, T, R, D, stream, ...)                                   \
  do {                                                                                      \
    if ((D) <= 1024)                                                                        \
      VT_LAUNCH(name, (kernel<T, 32>), (unsigned)(((R) + 7) / 8), dim3(32, 8), 0, stream,    \
                __VA_ARGS__);                                                               \
    else                                                                                    \
      VT_LAUNCH(name, (kernel<T, 256>), (unsigned)(R), dim3(256, 1), 0, stream,              \
                __VA_ARGS__);                                                               \
  } while (0)

template <typename T>
const T* ptr_or_null(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }
template <typename T>
T* out_or_null(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

}  // namespace

// An F32 softmax stored in BF16 (attention's BF16 products: engine/backend.h).
#define VT_ROW_LAUNCH_BF16_OUT(name, kernel, R, D, stream, ...)                                 \
  do {                                                                                      \
    if ((D) <= 1024)                                                                        \
      VT_LAUNCH(name, (kernel<float, 32, uint16_t>), (unsigned)(((R) + 7) / 8), dim3(32, 8), 0, \
                stream, __VA_ARGS__);                                                       \
    else                                                                                    \
      VT_LAUNCH(name, (kernel<float, 256, uint16_t>), (unsigned)(R), dim3(256, 1), 0, stream, \
                __VA_ARGS__);                                                               \
  } while (0)

static void check_bf16_out(const char* name, const Tensor& in, bool log) {
  if (in.dtype() != DType::F32 || log)
    throw Error(std::string(name) + ": a BF16 output needs F32 input and softmax (not log_softmax), got " +
                dtype_name(in.dtype()));
}

void CudaBackend::softmax(const Tensor& x, Tensor& y, bool log) {
  activate();
  check_device("softmax", *this, x);
  const char* name = log ? "log_softmax" : "softmax";
  if (y.dtype() == DType::BF16) {
    check_bf16_out(name, x, log);
    const int64_t D = x.dim() ? x.size(-1) : 1, R = rows_of(x, D);
    if (R) VT_ROW_LAUNCH_BF16_OUT(name, softmax_kernel, R, D, stream_, x.data<float>(), y.data<uint16_t>(), R, D, log);
    return;
  }
  dispatch_float(x.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t D = x.dim() ? x.size(-1) : 1, R = rows_of(x, D);
    if (R == 0) return;
    VT_ROW_LAUNCH(name, softmax_kernel, T, R, D, stream_, x.data<T>(), y.data<T>(), R, D, log);
  });
}

void CudaBackend::softmax_backward(const Tensor& y, const Tensor& gy, Tensor& gx, bool log) {
  activate();
  check_device("softmax_backward", *this, y);
  const char* name = log ? "log_softmax_backward" : "softmax_backward";
  if (y.dtype() == DType::BF16) {  // attention's kept P: widened first
    const Tensor yf = as_f32(y);
    return softmax_backward(yf, gy, gx, log);
  }
  if (gx.dtype() == DType::BF16) {
    check_bf16_out(name, y, log);
    const int64_t D = y.dim() ? y.size(-1) : 1, R = rows_of(y, D);
    if (R)
      VT_ROW_LAUNCH_BF16_OUT(name, softmax_backward_kernel, R, D, stream_, y.data<float>(), gy.data<float>(),
                             gx.data<uint16_t>(), R, D, log);
    return;
  }
  dispatch_float(y.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t D = y.dim() ? y.size(-1) : 1, R = rows_of(y, D);
    if (R == 0) return;
    VT_ROW_LAUNCH(name, softmax_backward_kernel, T, R, D, stream_, y.data<T>(), gy.data<T>(),
                  gx.data<T>(), R, D, log);
  });
}

void CudaBackend::layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps,
                             Tensor& y, Tensor& mean, Tensor& rstd) {
  activate();
  check_device("layer_norm", *this, x);
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t D = x.size(-1), R = rows_of(x, D);
    if (R == 0) return;
    VT_ROW_LAUNCH("layer_norm", layer_norm_kernel, T, R, D, stream_, x.data<T>(),
                  ptr_or_null<T>(w), ptr_or_null<T>(b), eps, y.data<T>(), mean.data<T>(),
                  rstd.data<T>(), R, D);
  });
}

void CudaBackend::layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& mean,
                                      const Tensor& rstd, const Tensor& gy, Tensor& gx,
                                      Tensor& gw, Tensor& gb) {
  activate();
  check_device("layer_norm_backward", *this, gy);
  dispatch_float(gy.dtype(), "layer_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t D = gy.size(-1), R = rows_of(gy, D);
    if (gx.defined() && R > 0)
      VT_ROW_LAUNCH("layer_norm_grad_input", layer_norm_grad_input_kernel, T, R, D, stream_,
                    x.data<T>(), ptr_or_null<T>(w), mean.data<T>(), rstd.data<T>(), gy.data<T>(),
                    gx.data<T>(), R, D);
    if (!gw.defined() && !gb.defined()) return;
    if (R == 0) {  // empty sums
      if (gw.defined()) fill(gw, 0.0);
      if (gb.defined()) fill(gb, 0.0);
      return;
    }
    const int64_t tiles = (D + 31) / 32;
    const int64_t chunks =
        std::max<int64_t>(1, std::min<int64_t>({(R + 255) / 256, 1024 / tiles, 64}));
    const int64_t chunk = (R + chunks - 1) / chunks;
    const T* px = gw.defined() ? x.data<T>() : nullptr;
    const T* pm = gw.defined() ? mean.data<T>() : nullptr;
    const T* ps = gw.defined() ? rstd.data<T>() : nullptr;
    Tensor pw, pb;
    if (chunks > 1) {
      if (gw.defined()) pw = scratch({chunks, D}, DType::F64);
      if (gb.defined()) pb = scratch({chunks, D}, DType::F64);
    }
    VT_LAUNCH("layer_norm_grad_weight_bias", layer_norm_grad_wb_kernel<T>,
              dim3((unsigned)tiles, (unsigned)chunks), dim3(32, 8), 0, stream_, px, pm, ps,
              gy.data<T>(), R, D, chunk, chunks > 1 ? nullptr : out_or_null<T>(gw),
              chunks > 1 ? nullptr : out_or_null<T>(gb), pw.defined() ? pw.data<double>() : nullptr,
              pb.defined() ? pb.data<double>() : nullptr);
    if (chunks > 1)
      VT_LAUNCH("layer_norm_grad_weight_bias(sum)", layer_norm_sum_partials_kernel<T>,
                grid_for(D), kThreads, 0, stream_,
                pw.defined() ? (const double*)pw.data<double>() : nullptr,
                pb.defined() ? (const double*)pb.data<double>() : nullptr, chunks, D,
                out_or_null<T>(gw), out_or_null<T>(gb));
  });
}

}  // namespace vt::cuda
