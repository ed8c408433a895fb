// memory.cpp — CPU allocation, strided copy with dtype conversion, and fill.
#include <cstdlib>
#include <cstring>

#include "engine/cpu/cpu_backend.h"

namespace vt {

void* CpuBackend::alloc(size_t nbytes) {
  // 64-byte alignment keeps Eigen's and the compiler's vector loads aligned.
  void* p = std::aligned_alloc(64, (nbytes + 63) / 64 * 64);
  if (!p) throw Error("out of host memory allocating " + std::to_string(nbytes) + " bytes");
  return p;
}
void CpuBackend::free(void* p, size_t) { std::free(p); }

static double load_as_double(DType t, const char* p) {
  switch (t) {
    case DType::F32: return *reinterpret_cast<const float*>(p);
    case DType::F64: return *reinterpret_cast<const double*>(p);
    case DType::I64: return (double)*reinterpret_cast<const int64_t*>(p);
    case DType::I32: return *reinterpret_cast<const int32_t*>(p);
    case DType::U8: return *reinterpret_cast<const uint8_t*>(p);
    case DType::Bool: return *reinterpret_cast<const uint8_t*>(p) ? 1.0 : 0.0;
    default: throw Error(std::string("copy: dtype ") + dtype_name(t) + " is not supported on cpu");
  }
}
static void store_double(DType t, char* p, double v) {
  switch (t) {
    case DType::F32: *reinterpret_cast<float*>(p) = (float)v; break;
    case DType::F64: *reinterpret_cast<double*>(p) = v; break;
    case DType::I64: *reinterpret_cast<int64_t*>(p) = (int64_t)v; break;
    case DType::I32: *reinterpret_cast<int32_t*>(p) = (int32_t)v; break;
    case DType::U8: *reinterpret_cast<uint8_t*>(p) = (uint8_t)v; break;
    case DType::Bool: *reinterpret_cast<uint8_t*>(p) = v != 0.0; break;
    default: throw Error(std::string("copy: dtype ") + dtype_name(t) + " is not supported on cpu");
  }
}

void CpuBackend::copy(const Tensor& src, Tensor& dst) {
  if (src.device() != dst.device())
    throw Error("cpu copy: cross-device copy must go through the device backend");
  if (src.shape() != dst.shape())
    throw Error("copy: shape " + shape_str(src.shape()) + " into " + shape_str(dst.shape()));
  const int64_t n = src.numel();
  if (n == 0) return;
  const size_t es = dtype_size(src.dtype()), ed = dtype_size(dst.dtype());
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    std::memcpy(dst.raw(), src.raw(), n * es);
    return;
  }
  // Rows of the innermost dim; the outer index is decomposed once per row.
  const Shape& shape = src.shape();
  const int64_t nd = (int64_t)shape.size();
  const int64_t inner = nd ? shape[nd - 1] : 1, outer = n / inner;
  const int64_t s_in = nd ? src.strides()[nd - 1] : 0, d_in = nd ? dst.strides()[nd - 1] : 0;
  Shape oshape(shape.begin(), shape.end() - (nd ? 1 : 0));
  Shape sst(src.strides().begin(), src.strides().end() - (nd ? 1 : 0));
  Shape dst_st(dst.strides().begin(), dst.strides().end() - (nd ? 1 : 0));
  const char* sp = static_cast<const char*>(src.raw());
  char* dp = static_cast<char*>(dst.raw());
  const bool same = src.dtype() == dst.dtype();
  const DType ts = src.dtype(), td = dst.dtype();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o) {
    const char* s = sp + strided_offset(o, oshape, sst) * es;
    char* d = dp + strided_offset(o, oshape, dst_st) * ed;
    for (int64_t i = 0; i < inner; ++i) {
      if (same) {
        std::memcpy(d + i * d_in * ed, s + i * s_in * es, es);
      } else {
        store_double(td, d + i * d_in * ed, load_as_double(ts, s + i * s_in * es));
      }
    }
  }
}

void CpuBackend::fill(Tensor& dst, double value) {
  const int64_t n = dst.numel();
  switch (dst.dtype()) {
    case DType::F32: { float* p = dst.data<float>(); std::fill(p, p + n, (float)value); break; }
    case DType::F64: { double* p = dst.data<double>(); std::fill(p, p + n, value); break; }
    case DType::I64: { int64_t* p = dst.data<int64_t>(); std::fill(p, p + n, (int64_t)value); break; }
    default: {
      char* p = static_cast<char*>(dst.raw());
      for (int64_t i = 0; i < n; ++i) store_double(dst.dtype(), p + i * dtype_size(dst.dtype()), value);
    }
  }
}

}  // namespace vt
