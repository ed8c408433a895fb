// index.cpp — CPU kernels for indexing along one dim: index_select / index_add (one index per
// slice) and gather / scatter_add (one index per element, torch.gather's layout).
//
// Every tensor is viewed as (outer, size_dim, inner). Reads (index_select, gather) move raw
// elements, so they work for any dtype; the accumulating kernels (index_add, scatter_add) add
// F32/F64. Accumulation with duplicate indices must not race and must not depend on the thread
// count: those loops are parallel over (outer, inner) positions only, and each position walks
// the index in order, so the sum order is always the same.
//
// Indices are validated before any write: out of range -> vt::Error naming the kernel, the
// index and the dim size (a serial pass, since nothing may throw inside an OpenMP region).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cpu/cpu_backend.h"

namespace vt {

namespace {

// Runs f(TypeTag<U>{}) with U an unsigned integer of the element size: copying elements as
// U moves any dtype's bits without caring what they mean.
template <typename F>
void dispatch_bits(DType dt, F&& f) {
  switch (dtype_size(dt)) {
    case 1: f(TypeTag<uint8_t>{}); break;
    case 2: f(TypeTag<uint16_t>{}); break;
    case 4: f(TypeTag<uint32_t>{}); break;
    case 8: f(TypeTag<uint64_t>{}); break;
    default: throw Error(std::string("index kernel: unsupported dtype ") + dtype_name(dt));
  }
}

void check_indices(const char* op, const Tensor& idx, int64_t dim, int64_t size) {
  if (idx.dtype() != DType::I64)
    throw Error(std::string(op) + ": index must be I64, got " + dtype_name(idx.dtype()));
  const int64_t* p = idx.data<int64_t>();
  const int64_t n = idx.numel();
  for (int64_t i = 0; i < n; ++i)
    if (p[i] < 0 || p[i] >= size)
      throw Error(std::string(op) + ": index " + std::to_string(p[i]) +
                  " is out of range for dim " + std::to_string(dim) + " of size " +
                  std::to_string(size));
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

// Element offsets of t's (outer, inner) positions under t's own strides, where the positions
// range over `shape` (the index's shape, which may be smaller than t's in every dim but `dim`).
// Made once per kernel call: outer_off[o], inner_off[n].
void position_offsets(const Shape& shape, const Shape& strides, int64_t dim,
                      std::vector<int64_t>& outer_off, std::vector<int64_t>& inner_off) {
  Shape os(shape.begin(), shape.begin() + dim), ost(strides.begin(), strides.begin() + dim);
  Shape is(shape.begin() + dim + 1, shape.end()), ist(strides.begin() + dim + 1, strides.end());
  outer_off.resize(shape_numel(os));
  inner_off.resize(shape_numel(is));
  for (int64_t o = 0; o < (int64_t)outer_off.size(); ++o) outer_off[o] = strided_offset(o, os, ost);
  for (int64_t n = 0; n < (int64_t)inner_off.size(); ++n) inner_off[n] = strided_offset(n, is, ist);
}

// Inner positions handled by one task of the accumulating kernels (a task = (o, block)).
constexpr int64_t kInnerBlock = 256;

}  // namespace

// x: (outer, X, inner), idx: (J), out: (outer, J, inner)
void CpuBackend::index_select(const Tensor& x, int64_t dim, const Tensor& idx, Tensor& out) {
  const Split3 xs = split3(x.shape(), dim);
  check_indices("index_select", idx, dim, xs.size);
  const int64_t J = idx.numel(), outer = xs.outer, inner = xs.inner;
  const int64_t* pi = idx.data<int64_t>();
  dispatch_bits(x.dtype(), [&](auto tag) {
    using U = typename decltype(tag)::type;
    const U* px = x.data<U>();
    U* po = out.data<U>();
    // One output row (o, j) per iteration: rows are disjoint, so this is race-free.
#pragma omp parallel for if (outer * J * inner > kParallelGrain)
    for (int64_t r = 0; r < outer * J; ++r) {
      const int64_t o = r / J, j = r % J;
      std::memcpy(po + r * inner, px + (o * xs.size + pi[j]) * inner, inner * sizeof(U));
    }
  });
}

// out: (outer, O, inner), idx: (J), src: (outer, J, inner); out[o, idx[j], n] += src[o, j, n]
void CpuBackend::index_add(Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) {
  const Split3 os = split3(out.shape(), dim);
  check_indices("index_add", idx, dim, os.size);
  const int64_t J = idx.numel(), outer = os.outer, inner = os.inner;
  const int64_t* pi = idx.data<int64_t>();
  const int64_t nblk = (inner + kInnerBlock - 1) / kInnerBlock;
  dispatch_float(out.dtype(), "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* ps = src.data<T>();
    T* po = out.data<T>();
    // Parallel over (o, inner block); the index is walked in order inside each task.
#pragma omp parallel for if (outer * J * inner > kParallelGrain)
    for (int64_t t = 0; t < outer * nblk; ++t) {
      const int64_t o = t / nblk, n0 = (t % nblk) * kInnerBlock;
      const int64_t n1 = std::min(inner, n0 + kInnerBlock);
      for (int64_t j = 0; j < J; ++j) {
        T* dst = po + (o * os.size + pi[j]) * inner;
        const T* s = ps + (o * J + j) * inner;
#pragma omp simd
        for (int64_t n = n0; n < n1; ++n) dst[n] += s[n];
      }
    }
  });
}

// out[p] = x[p with coordinate `dim` replaced by idx[p]] for every position p of idx's shape.
// x may have any strides (and be larger than idx in dims other than `dim`).
void CpuBackend::gather(const Tensor& x, int64_t dim, const Tensor& idx, Tensor& out) {
  check_indices("gather", idx, dim, x.shape()[dim]);
  const Split3 is = split3(idx.shape(), dim);
  std::vector<int64_t> xo, xi;
  position_offsets(idx.shape(), x.strides(), dim, xo, xi);
  const int64_t J = is.size, inner = is.inner, xstride = x.strides()[dim];
  const int64_t* pi = idx.data<int64_t>();
  dispatch_bits(x.dtype(), [&](auto tag) {
    using U = typename decltype(tag)::type;
    const U* px = x.data<U>();
    U* po = out.data<U>();
#pragma omp parallel for if (idx.numel() > kParallelGrain)
    for (int64_t r = 0; r < is.outer * J; ++r) {  // one (o, j) row of the output
      const U* base = px + xo[r / J];
      const int64_t* ir = pi + r * inner;
      U* orow = po + r * inner;
      for (int64_t n = 0; n < inner; ++n) orow[n] = base[xi[n] + ir[n] * xstride];
    }
  });
}

// out[p with coordinate `dim` replaced by idx[p]] += src[p] for every position p of idx's shape.
// src may have any strides and be larger than idx; out is contiguous.
void CpuBackend::scatter_add(Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) {
  check_indices("scatter_add", idx, dim, out.shape()[dim]);
  const Split3 is = split3(idx.shape(), dim);
  std::vector<int64_t> oo, oi, so, si;
  position_offsets(idx.shape(), out.strides(), dim, oo, oi);
  position_offsets(idx.shape(), src.strides(), dim, so, si);
  const int64_t J = is.size, inner = is.inner, outer = is.outer;
  const int64_t ostride = out.strides()[dim], sstride = src.strides()[dim];
  const int64_t nblk = (inner + kInnerBlock - 1) / kInnerBlock;
  const int64_t* pi = idx.data<int64_t>();
  dispatch_float(out.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* ps = src.data<T>();
    T* po = out.data<T>();
    // Parallel over (o, inner block): two tasks never write the same (o, n) column of out,
    // and within a task j runs in order, so duplicate indices sum deterministically.
#pragma omp parallel for if (idx.numel() > kParallelGrain)
    for (int64_t t = 0; t < outer * nblk; ++t) {
      const int64_t o = t / nblk, n0 = (t % nblk) * kInnerBlock;
      const int64_t n1 = std::min(inner, n0 + kInnerBlock);
      T* obase = po + oo[o];
      const T* sbase = ps + so[o];
      for (int64_t j = 0; j < J; ++j) {
        const int64_t* ir = pi + (o * J + j) * inner;
        const T* srow = sbase + j * sstride;
        for (int64_t n = n0; n < n1; ++n) obase[oi[n] + ir[n] * ostride] += srow[si[n]];
      }
    }
  });
}

}  // namespace vt
