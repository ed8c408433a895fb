// elementwise.cu — CUDA element-wise maps (unary, binary with broadcasting, where) and
// reductions over the middle axis of an (outer, r, inner) view.
//
// The per-element formulas come from engine/elementwise_math.h, shared with the CPU backend. Binary / where operands come as expanded views (stride
// 0 on broadcast dims) and go to the kernel as an Indexer (shape + strides by value).
//
// Reductions, deterministic (no atomics; a fixed combination order):
//   inner == 1   rows of length r: a warp per row when there are many rows, else a block per
//                row, and for very long rows a block per chunk of a row (then a second pass
//                sums the chunks' partials in order)
//   inner > 1    columns: a block of 32 × 8 threads takes 32 adjacent columns and splits the
//                r rows among its 8 thread rows (coalesced reads), again with an optional
//                split of r across blocks plus a second pass
// Sums accumulate in double (as the CPU does). Max propagates NaN; ArgMax gives the first
// maximum, a NaN counting as the maximum.
#include <math_constants.h>

#include <algorithm>
#include <cmath>

#include "engine/cuda/cuda_common.cuh"
#include "engine/elementwise_math.h"

namespace vt::cuda {

namespace {

using namespace vt::math;  // the formulas, shared with the CPU backend

// ---------------------------------------------------------------- kernels: maps
template <typename T>
__global__ void unary_kernel(UnaryOp op, const T* x, T* y, int64_t n, T a) {
  GRID_STRIDE_LOOP(i, n) y[i] = unary_fwd(op, x[i], a);
}

template <typename T>
__global__ void unary_backward_kernel(UnaryOp op, const T* x, const T* y, const T* gy, T* gx,
                                      int64_t n, T a) {
  GRID_STRIDE_LOOP(i, n) {
    gx[i] = gy[i] * unary_grad(op, x ? x[i] : T(0), y ? y[i] : T(0), a);
  }
}

// Operands 0, 1: a, b; operand 2: out. Element-wise, so out may alias a or b.
template <typename T>
__global__ void binary_kernel(BinaryOp op, const T* a, const T* b, T* out, Indexer<3> ix,
                              int64_t n) {
  GRID_STRIDE_LOOP(i, n) {
    int64_t off[3];
    ix.offsets(i, off);
    out[off[2]] = binary_fwd(op, a[off[0]], b[off[1]]);
  }
}

// Operands: cond, a, b, out.
template <typename T>
__global__ void where_kernel(const uint8_t* cond, const T* a, const T* b, T* out, Indexer<4> ix,
                             int64_t n) {
  GRID_STRIDE_LOOP(i, n) {
    int64_t off[4];
    ix.offsets(i, off);
    out[off[3]] = cond[off[0]] ? a[off[1]] : b[off[2]];
  }
}

// ---------------------------------------------------------------- kernels: reductions
// A running reduction value: the sum or maximum in double (exact for a maximum of F32/F64
// values), and for ArgMax the index of the maximum.
struct Acc {
  double v;
  int64_t i;
};

__device__ __forceinline__ Acc acc_identity(ReduceOp op) {
  if (op == ReduceOp::Sum) return {0.0, 0};
  return {-CUDART_INF, op == ReduceOp::ArgMax ? INT64_MAX : 0};
}

// a ⊕ b. For ArgMax the winner is the larger value, NaN beating everything, ties going to
// the smaller index: the result is independent of the combination order.
__device__ __forceinline__ Acc acc_combine(ReduceOp op, Acc a, Acc b) {
  switch (op) {
    case ReduceOp::Sum: return {a.v + b.v, 0};
    case ReduceOp::Max: return (b.v > a.v || isnan(b.v)) ? b : a;
    case ReduceOp::ArgMax: {
      const bool an = isnan(a.v), bn = isnan(b.v);
      bool b_wins;
      if (an || bn) b_wins = bn && (!an || b.i < a.i);
      else b_wins = b.v > a.v || (b.v == a.v && b.i < a.i);
      return b_wins ? b : a;
    }
  }
  return a;
}

__device__ __forceinline__ Acc warp_reduce_acc(ReduceOp op, Acc a) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    Acc b{__shfl_xor_sync(0xffffffffu, a.v, o), __shfl_xor_sync(0xffffffffu, a.i, o)};
    a = acc_combine(op, a, b);
  }
  return a;
}

// Where a finished value goes: the final output (T, or I64 indices for ArgMax) or, when the
// reduction was split, a double partial of the first pass.
template <typename T>
struct ReduceOut {
  T* out;
  int64_t* out_idx;
  double* partial;
  __device__ __forceinline__ void store(int64_t at, Acc a) const {
    if (partial) partial[at] = a.v;
    else if (out_idx) out_idx[at] = a.i;
    else out[at] = (T)a.v;
  }
};

// inner == 1. Each group of TPR threads reduces chunk s of row o: elements [s·chunk, ...).
// TPR = 32: blockDim (32, 8), eight rows per block. TPR = 256: blockDim (256), one per block.
template <typename T, int TPR>
__global__ void reduce_rows_kernel(ReduceOp op, const T* x, int64_t groups, int64_t r,
                                   int64_t splits, int64_t chunk, ReduceOut<T> dst) {
  const int64_t g = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  if (TPR == 32 && g >= groups) return;  // whole warps leave; no block-wide sync in this mode
  const int64_t o = g / splits, s = g % splits;
  const int64_t j0 = s * chunk, j1 = min(r, j0 + chunk);
  const T* row = x + o * r;
  Acc a = acc_identity(op);
  for (int64_t j = j0 + threadIdx.x; j < j1; j += TPR) a = acc_combine(op, a, {(double)row[j], j});
  a = warp_reduce_acc(op, a);
  if (TPR > 32) {
    __shared__ double pv[TPR / 32];
    __shared__ int64_t pi[TPR / 32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) pv[warp] = a.v, pi[warp] = a.i;
    __syncthreads();
    a = {pv[0], pi[0]};
    for (int w = 1; w < TPR / 32; ++w) a = acc_combine(op, a, {pv[w], pi[w]});
  }
  if (threadIdx.x == 0) dst.store(g, a);
}

// inner > 1. Block (32, 8) = 32 adjacent columns × 8 thread rows; block b covers column tile
// (b / splits) of some outer index and chunk (b % splits) of the r rows.
template <typename T>
__global__ void reduce_cols_kernel(ReduceOp op, const T* x, int64_t outer, int64_t r,
                                   int64_t inner, int64_t tiles, int64_t splits, int64_t chunk,
                                   ReduceOut<T> dst) {
  const int64_t b = blockIdx.x, s = b % splits, t = (b / splits) % tiles, o = b / splits / tiles;
  const int64_t n = t * 32 + threadIdx.x;
  const int64_t j0 = s * chunk, j1 = min(r, j0 + chunk);
  Acc a = acc_identity(op);
  if (n < inner) {
    const T* base = x + o * r * inner + n;
    for (int64_t j = j0 + threadIdx.y; j < j1; j += blockDim.y)
      a = acc_combine(op, a, {(double)base[j * inner], j});
  }
  __shared__ double sv[8][33];
  __shared__ int64_t si[8][33];
  sv[threadIdx.y][threadIdx.x] = a.v;
  si[threadIdx.y][threadIdx.x] = a.i;
  __syncthreads();
  if (threadIdx.y == 0 && n < inner) {
    for (int y = 1; y < 8; ++y) a = acc_combine(op, a, {sv[y][threadIdx.x], si[y][threadIdx.x]});
    // partials are laid out (outer, splits, inner); final outputs (outer, inner)
    dst.store(dst.partial ? (o * splits + s) * inner + n : o * inner + n, a);
  }
}

// Second pass of a split Sum/Max: partial (outer, splits, inner) -> out (outer, inner), each
// output combining its partials in order.
template <typename T>
__global__ void reduce_partials_kernel(ReduceOp op, const double* partial, int64_t outer,
                                       int64_t splits, int64_t inner, T* out) {
  GRID_STRIDE_LOOP(i, outer * inner) {
    const int64_t o = i / inner, n = i % inner;
    Acc a = acc_identity(op);
    for (int64_t s = 0; s < splits; ++s)
      a = acc_combine(op, a, {partial[(o * splits + s) * inner + n], 0});
    out[i] = (T)a.v;
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

// ---------------------------------------------------------------- entry points
// t itself if F32, else a widened F32 copy (the BF16 paths of unary and unary_backward).
Tensor CudaBackend::as_f32(const Tensor& t) {
  if (t.dtype() == DType::F32) return t;
  Tensor f = Tensor::empty(t.shape(), DType::F32, t.device());
  copy(t, f);
  return f;
}

void CudaBackend::unary(UnaryOp op, const Tensor& x, Tensor& y, double alpha) {
  activate();
  check_device("unary", *this, x);
  if (x.dtype() == DType::BF16 || y.dtype() == DType::BF16) {  // gelu_bf16: F32 temporaries, rounded by copy
    Tensor xf = as_f32(x), yf = y.dtype() == DType::F32 ? y : Tensor::empty(y.shape(), DType::F32, y.device());
    unary(op, xf, yf, alpha);
    if (y.dtype() != DType::F32) copy(yf, y);
    return;
  }
  dispatch_float(x.dtype(), "unary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = x.numel();
    VT_LAUNCH("unary", unary_kernel<T>, grid_for(n), kThreads, 0, stream_, op, x.data<T>(),
              y.data<T>(), n, (T)alpha);
  });
}

void CudaBackend::unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy,
                                 Tensor& gx, double alpha) {
  activate();
  check_device("unary_backward", *this, gy);
  if ((x.defined() && x.dtype() == DType::BF16) || gx.dtype() == DType::BF16) {  // gelu_bf16's backward
    Tensor gf = gx.dtype() == DType::F32 ? gx : Tensor::empty(gx.shape(), DType::F32, gx.device());
    unary_backward(op, x.defined() ? as_f32(x) : x, y, gy, gf, alpha);
    if (gx.dtype() != DType::F32) copy(gf, gx);
    return;
  }
  dispatch_float(gy.dtype(), "unary_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = gy.numel();
    VT_LAUNCH("unary_backward", unary_backward_kernel<T>, grid_for(n), kThreads, 0, stream_, op,
              x.defined() ? x.data<T>() : (const T*)nullptr,
              y.defined() ? y.data<T>() : (const T*)nullptr, gy.data<T>(), gx.data<T>(), n,
              (T)alpha);
  });
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  activate();
  check_device("binary", *this, a);
  check_device("binary", *this, b);
  dispatch_float(out.dtype(), "binary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = out.numel();
    const Shape* st[3] = {&a.strides(), &b.strides(), &out.strides()};
    const Indexer<3> ix = make_indexer("binary", out.shape(), st);
    VT_LAUNCH("binary", binary_kernel<T>, grid_for(n), kThreads, 0, stream_, op, a.data<T>(),
              b.data<T>(), out.data<T>(), ix, n);
  });
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  if (cond.dtype() != DType::Bool && cond.dtype() != DType::U8)
    throw Error("where: condition must be Bool or U8");
  activate();
  check_device("where", *this, cond);
  dispatch_float(out.dtype(), "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = out.numel();
    const Shape* st[4] = {&cond.strides(), &a.strides(), &b.strides(), &out.strides()};
    const Indexer<4> ix = make_indexer("where", out.shape(), st);
    VT_LAUNCH("where", where_kernel<T>, grid_for(n), kThreads, 0, stream_, cond.data<uint8_t>(),
              a.data<T>(), b.data<T>(), out.data<T>(), ix, n);
  });
}

void CudaBackend::reduce(ReduceOp op, const Tensor& x, Tensor& out, int64_t outer, int64_t r,
                         int64_t inner) {
  activate();
  check_device("reduce", *this, x);
  if (outer * inner == 0) return;
  dispatch_float(x.dtype(), "reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool argmax = op == ReduceOp::ArgMax;
    ReduceOut<T> final_out{argmax ? nullptr : out.data<T>(),
                           argmax ? out.data<int64_t>() : nullptr, nullptr};
    // Split r across blocks only when there are too few outputs to fill the GPU (and never
    // for ArgMax, whose partials would need indices too).
    constexpr int64_t kTargetBlocks = 1024;
    int64_t splits = 1;
    if (inner == 1) {
      if (outer >= 2048 || r < 2048) {  // a warp per row
        VT_LAUNCH("reduce_rows(warp)", (reduce_rows_kernel<T, 32>), (unsigned)ceil_div(outer, 8),
                  dim3(32, 8), 0, stream_, op, x.data<T>(), outer, r, (int64_t)1, r, final_out);
        return;
      }
      if (!argmax) splits = std::max<int64_t>(1, std::min(ceil_div(r, 8192), kTargetBlocks / outer));
    } else {
      const int64_t blocks = outer * ceil_div(inner, 32);
      if (!argmax && blocks < kTargetBlocks / 2 && r >= 1024)
        splits = std::max<int64_t>(1, std::min(ceil_div(r, 256), kTargetBlocks / blocks));
    }
    const int64_t chunk = ceil_div(r, splits);
    Tensor partial = splits > 1 ? scratch({outer, splits, inner}, DType::F64) : Tensor();
    ReduceOut<T> dst = final_out;
    if (splits > 1) dst = ReduceOut<T>{nullptr, nullptr, partial.data<double>()};
    if (inner == 1) {
      VT_LAUNCH("reduce_rows(block)", (reduce_rows_kernel<T, 256>), (unsigned)(outer * splits),
                dim3(256, 1), 0, stream_, op, x.data<T>(), outer * splits, r, splits, chunk, dst);
    } else {
      const int64_t tiles = ceil_div(inner, 32);
      const int64_t blocks = outer * tiles * splits;
      if (blocks >= (int64_t)1 << 31)
        throw Error("reduce: too many outputs for one launch: " + shape_str(x.shape()));
      VT_LAUNCH("reduce_cols", reduce_cols_kernel<T>, (unsigned)blocks, dim3(32, 8), 0, stream_,
                op, x.data<T>(), outer, r, inner, tiles, splits, chunk, dst);
    }
    if (splits > 1)
      VT_LAUNCH("reduce_partials", reduce_partials_kernel<T>, grid_for(outer * inner), kThreads,
                0, stream_, op, (const double*)partial.data<double>(), outer, splits, inner,
                out.data<T>());
  });
}

}  // namespace vt::cuda
