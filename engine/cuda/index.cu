// index.cu — CUDA indexing along one dim (index_select / index_add / gather / scatter_add),
// Philox random fills, and the fused AdamW step.
//
// Indexing: the same layouts as the CPU (engine/cpu/index.cpp): index_select / index_add view
// tensors as (outer, size_dim, inner); gather / scatter_add walk the positions of the index
// tensor, with the indexed tensor's own strides. Reads move raw bits (any dtype); the adds are
// atomicAdd (F32 / F64), so with duplicate indices the order of the additions, and therefore
// the last bits of the result, can vary between runs. Indices are validated before any write,
// like the CPU: a small kernel finds the first bad index, and the host (after one stream sync)
// throws "<op>: index I is out of range for dim D of size S".
//
// Random: element i of a fill uses Philox counter offset + i with the mapping of
// engine/philox.h — the header the CPU backend uses too — so CPU and GPU fills agree (up to the
// last bit of double transcendentals in normals, see the test).
//
// AdamW: the arithmetic of engine/cpu/optim.cpp (torch 1.13's single-tensor AdamW), scalars
// formed in double on the host and rounded to the parameter dtype.
#include <cmath>
#include <cstring>

#include "engine/cuda/cuda_common.cuh"
#include "engine/philox.h"

namespace vt::cuda {

namespace {

template <typename F>
void dispatch_bits(DType dt, const char* op, F&& f) {
  switch (dtype_size(dt)) {
    case 1: f(TypeTag<uint8_t>{}); break;
    case 2: f(TypeTag<uint16_t>{}); break;
    case 4: f(TypeTag<uint32_t>{}); break;
    case 8: f(TypeTag<uint64_t>{}); break;
    default: throw Error(std::string(op) + ": unsupported dtype " + dtype_name(dt));
  }
}

// (outer, size_dim, inner) of a shape around dim.
struct Split3 {
  int64_t outer = 1, size = 1, inner = 1;
};
Split3 split3(const Shape& s, int64_t dim) {
  Split3 r;
  for (int64_t i = 0; i < (int64_t)s.size(); ++i) {
    if (i < dim) r.outer *= s[i];
    else if (i == dim) r.size = s[i];
    else r.inner *= s[i];
  }
  return r;
}

// ---------------------------------------------------------------- index validation
__global__ void find_bad_index_kernel(const int64_t* idx, Indexer<1> ix, int64_t n, int64_t size,
                                      unsigned long long* first_bad) {
  GRID_STRIDE_LOOP(i, n) {
    int64_t off[1];
    ix.offsets(i, off);
    const int64_t v = idx[off[0]];
    if (v < 0 || v >= size) atomicMin(first_bad, (unsigned long long)off[0]);
  }
}

// ---------------------------------------------------------------- index kernels
template <typename U>
__global__ void index_select_kernel(const U* x, const int64_t* idx, int64_t J, int64_t X,
                                    int64_t inner, int64_t total, U* out) {
  GRID_STRIDE_LOOP(e, total) {  // e = (o, j, n) of out
    const int64_t n = e % inner, j = (e / inner) % J, o = e / (inner * J);
    out[e] = x[(o * X + idx[j]) * inner + n];
  }
}

template <typename T>
__global__ void index_add_kernel(T* out, const int64_t* idx, const T* src, int64_t J, int64_t O,
                                 int64_t inner, int64_t total) {
  GRID_STRIDE_LOOP(e, total) {  // e = (o, j, n) of src
    const int64_t n = e % inner, j = (e / inner) % J, o = e / (inner * J);
    atomicAdd(out + (o * O + idx[j]) * inner + n, src[e]);
  }
}

// Operands over the index's shape: 0 the tensor read through the index (its stride along dim
// zeroed: the index supplies that coordinate), 1 the other tensor, 2 the index.
template <typename U>
__global__ void gather_kernel(const U* x, int64_t x_dim_stride, U* out, const int64_t* idx,
                              Indexer<3> ix, int64_t n) {
  GRID_STRIDE_LOOP(i, n) {
    int64_t off[3];
    ix.offsets(i, off);
    out[off[1]] = x[off[0] + idx[off[2]] * x_dim_stride];
  }
}

template <typename T>
__global__ void scatter_add_kernel(T* out, int64_t out_dim_stride, const T* src,
                                   const int64_t* idx, Indexer<3> ix, int64_t n) {
  GRID_STRIDE_LOOP(i, n) {
    int64_t off[3];
    ix.offsets(i, off);
    atomicAdd(out + off[0] + idx[off[2]] * out_dim_stride, src[off[1]]);
  }
}

// ---------------------------------------------------------------- random
template <typename T>
__global__ void random_uniform_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset,
                                      double lo, double hi, T below_hi) {
  GRID_STRIDE_LOOP(i, n) {
    const T v = (T)(lo + (hi - lo) * philox_uniform(seed, offset + (uint64_t)i));
    out[i] = (v >= (T)hi && hi > lo) ? below_hi : v;
  }
}

template <typename T>
__global__ void random_normal_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset,
                                     double mean, double std) {
  GRID_STRIDE_LOOP(i, n) {
    out[i] = (T)(mean + std * philox_normal(seed, offset + (uint64_t)i));
  }
}

// ---------------------------------------------------------------- AdamW
template <typename T>
__global__ void adamw_kernel(T* p, const T* g, T* m, T* v, int64_t n, T decay, T b1, T one_b1,
                             T b2, T one_b2, T neg_step, T c2, T eps) {
  GRID_STRIDE_LOOP(i, n) {
    const T gi = g[i];
    const T mi = m[i] * b1 + one_b1 * gi;
    const T vi = v[i] * b2 + one_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const T denom = std::sqrt(vi) / c2 + eps;
    p[i] = p[i] * decay + neg_step * (mi / denom);
  }
}

}  // namespace

// Throws the CPU backend's message if some index is outside [0, size). One stream sync.
static void check_indices(CudaBackend& be, const char* op, const Tensor& idx, int64_t dim,
                          int64_t size) {
  if (idx.dtype() != DType::I64)
    throw Error(std::string(op) + ": index must be I64, got " + dtype_name(idx.dtype()));
  check_device(op, be, idx);
  const int64_t n = idx.numel();
  if (n == 0) return;
  Tensor bad = be.scratch({1}, DType::I64);
  VT_CUDA_CHECK(cudaMemsetAsync(bad.raw(), 0xff, sizeof(int64_t), be.stream()));  // "none"
  const Shape* st[1] = {&idx.strides()};
  VT_LAUNCH("find_bad_index", find_bad_index_kernel, grid_for(n), kThreads, 0, be.stream(),
            idx.data<int64_t>(), make_indexer(op, idx.shape(), st), n, size,
            static_cast<unsigned long long*>(bad.raw()));
  unsigned long long first = 0;
  VT_CUDA_CHECK(cudaMemcpyAsync(&first, bad.raw(), sizeof(first), cudaMemcpyDeviceToHost,
                                be.stream()));
  VT_CUDA_CHECK(cudaStreamSynchronize(be.stream()));
  if (first == ~0ull) return;
  int64_t value = 0;
  VT_CUDA_CHECK(cudaMemcpy(&value, idx.data<int64_t>() + first, sizeof(value),
                           cudaMemcpyDeviceToHost));
  throw Error(std::string(op) + ": index " + std::to_string(value) + " is out of range for dim " +
              std::to_string(dim) + " of size " + std::to_string(size));
}

// x: (outer, X, inner), idx: (J), out: (outer, J, inner)
void CudaBackend::index_select(const Tensor& x, int64_t dim, const Tensor& idx, Tensor& out) {
  activate();
  check_device("index_select", *this, x);
  const Split3 xs = split3(x.shape(), dim);
  check_indices(*this, "index_select", idx, dim, xs.size);
  const int64_t J = idx.numel(), total = xs.outer * J * xs.inner;
  dispatch_bits(x.dtype(), "index_select", [&](auto tag) {
    using U = typename decltype(tag)::type;
    VT_LAUNCH("index_select", index_select_kernel<U>, grid_for(total), kThreads, 0, stream_,
              x.data<U>(), idx.data<int64_t>(), J, xs.size, xs.inner, total, out.data<U>());
  });
}

// out: (outer, O, inner), idx: (J), src: (outer, J, inner); out[o, idx[j], n] += src[o, j, n]
void CudaBackend::index_add(Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) {
  activate();
  check_device("index_add", *this, out);
  const Split3 os = split3(out.shape(), dim);
  check_indices(*this, "index_add", idx, dim, os.size);
  const int64_t J = idx.numel(), total = os.outer * J * os.inner;
  dispatch_float(out.dtype(), "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    VT_LAUNCH("index_add", index_add_kernel<T>, grid_for(total), kThreads, 0, stream_,
              out.data<T>(), idx.data<int64_t>(), src.data<T>(), J, os.size, os.inner, total);
  });
}

// out[p] = x[p with coordinate `dim` replaced by idx[p]] for every position p of idx's shape.
void CudaBackend::gather(const Tensor& x, int64_t dim, const Tensor& idx, Tensor& out) {
  activate();
  check_device("gather", *this, x);
  check_indices(*this, "gather", idx, dim, x.shape()[dim]);
  const int64_t n = idx.numel();
  Shape xst = x.strides();
  xst[dim] = 0;
  const Shape* st[3] = {&xst, &out.strides(), &idx.strides()};
  const Indexer<3> ix = make_indexer("gather", idx.shape(), st);
  dispatch_bits(x.dtype(), "gather", [&](auto tag) {
    using U = typename decltype(tag)::type;
    VT_LAUNCH("gather", gather_kernel<U>, grid_for(n), kThreads, 0, stream_, x.data<U>(),
              x.strides()[dim], out.data<U>(), idx.data<int64_t>(), ix, n);
  });
}

// out[p with coordinate `dim` replaced by idx[p]] += src[p] for every position p of idx.
void CudaBackend::scatter_add(Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) {
  activate();
  check_device("scatter_add", *this, out);
  check_indices(*this, "scatter_add", idx, dim, out.shape()[dim]);
  const int64_t n = idx.numel();
  Shape ost = out.strides();
  ost[dim] = 0;
  const Shape* st[3] = {&ost, &src.strides(), &idx.strides()};
  const Indexer<3> ix = make_indexer("scatter_add", idx.shape(), st);
  dispatch_float(out.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    VT_LAUNCH("scatter_add", scatter_add_kernel<T>, grid_for(n), kThreads, 0, stream_,
              out.data<T>(), out.strides()[dim], src.data<T>(), idx.data<int64_t>(), ix, n);
  });
}

void CudaBackend::random_uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo,
                                 double hi) {
  activate();
  check_device("random_uniform", *this, out);
  dispatch_float(out.dtype(), "random_uniform", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = out.numel();
    // The largest T below hi: a draw that rounds up to hi is nudged there (as the CPU does).
    const T below_hi = std::nextafter((T)hi, (T)lo);
    VT_LAUNCH("random_uniform", random_uniform_kernel<T>, grid_for(n), kThreads, 0, stream_,
              out.data<T>(), n, seed, offset, lo, hi, below_hi);
  });
}

void CudaBackend::random_normal(Tensor& out, uint64_t seed, uint64_t offset, double mean,
                                double std) {
  activate();
  check_device("random_normal", *this, out);
  dispatch_float(out.dtype(), "random_normal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = out.numel();
    VT_LAUNCH("random_normal", random_normal_kernel<T>, grid_for(n), kThreads, 0, stream_,
              out.data<T>(), n, seed, offset, mean, std);
  });
}

void CudaBackend::adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, double lr,
                             double beta1, double beta2, double eps, double weight_decay,
                             int64_t step) {
  activate();
  check_device("adamw_step", *this, param);
  check_device("adamw_step", *this, grad);
  dispatch_float(param.dtype(), "adamw_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = param.numel();
    const double bc1 = 1.0 - std::pow(beta1, (double)step);
    const double bc2_sqrt = std::sqrt(1.0 - std::pow(beta2, (double)step));
    VT_LAUNCH("adamw_step", adamw_kernel<T>, grid_for(n), kThreads, 0, stream_, param.data<T>(),
              grad.data<T>(), m.data<T>(), v.data<T>(), n, (T)(1.0 - lr * weight_decay),
              (T)beta1, (T)(1.0 - beta1), (T)beta2, (T)(1.0 - beta2), (T)(-(lr / bc1)),
              (T)bc2_sqrt, (T)eps);
  });
}

}  // namespace vt::cuda
