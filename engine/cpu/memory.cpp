// memory.cpp — CPU allocation, strided copy with dtype conversion, and fill.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/bf16.h"
#include "engine/cpu/cpu_backend.h"

namespace vt {

// Buffers of 256 kB and more are cached in size classes (four per power of two) instead of
// going back to glibc: a training step allocates the same sizes every iteration, and glibc's
// heap, once its dynamic mmap threshold has risen, fragments and keeps ~40 % more than the live
// peak (docs/BENCHMARKS.md), while returning every buffer to the OS costs page faults. Under
// AddressSanitizer nothing is cached, so use-after-free is still caught. At most 1 GiB is kept.
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCache = false;
#else
constexpr bool kCache = true;
#endif
constexpr size_t kCacheMin = 256 << 10;
constexpr size_t kCacheMax = size_t(1) << 30;  // cached bytes beyond this go back to glibc

size_t size_class(size_t n) {  // n rounded up to the next of 4 steps per power of two
  size_t p = 1;
  while (p * 2 <= n) p *= 2;
  const size_t step = std::max<size_t>(p / 4, 64);
  return (n + step - 1) / step * step;
}

struct BlockCache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // size class -> blocks
  size_t cached = 0;                                            // bytes in free_blocks
};
BlockCache& cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: frees may come during exit
  return *c;
}

}  // namespace

void* CpuBackend::alloc(size_t nbytes) {
  // 64-byte alignment keeps Eigen's and the compiler's vector loads aligned.
  size_t n = (nbytes + 63) / 64 * 64;
  if (kCache && n >= kCacheMin) {
    n = size_class(n);
    BlockCache& c = cache();
    std::lock_guard<std::mutex> l(c.mu);
    auto it = c.free_blocks.find(n);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= n;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, n);
  if (!p) throw Error("out of host memory allocating " + std::to_string(nbytes) + " bytes");
  return p;
}

void CpuBackend::free(void* p, size_t nbytes) {
  const size_t n = (nbytes + 63) / 64 * 64;
  if (kCache && p && n >= kCacheMin) {
    const size_t cls = size_class(n);
    BlockCache& c = cache();
    std::lock_guard<std::mutex> l(c.mu);
    if (c.cached + cls <= kCacheMax) {
      c.free_blocks[cls].push_back(p);
      c.cached += cls;
      return;
    }
  }
  std::free(p);
}

void CpuBackend::release_cached() {
  if (!kCache) return;
  BlockCache& c = cache();
  std::lock_guard<std::mutex> l(c.mu);
  for (auto& [cls, blocks] : c.free_blocks)
    for (void* p : blocks) std::free(p);
  c.free_blocks.clear();
  c.cached = 0;
#if defined(__GLIBC__)
  malloc_trim(0);  // and glibc's free heap pages
#endif
}

static double load_as_double(DType t, const char* p) {
  switch (t) {
    case DType::F32: return *reinterpret_cast<const float*>(p);
    case DType::F64: return *reinterpret_cast<const double*>(p);
    case DType::I64: return (double)*reinterpret_cast<const int64_t*>(p);
    case DType::I32: return *reinterpret_cast<const int32_t*>(p);
    case DType::U8: return *reinterpret_cast<const uint8_t*>(p);
    case DType::Bool: return *reinterpret_cast<const uint8_t*>(p) ? 1.0 : 0.0;
    case DType::BF16: return bf16_to_float(*reinterpret_cast<const uint16_t*>(p));
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
    case DType::BF16: *reinterpret_cast<uint16_t*>(p) = float_to_bf16((float)v); break;  // via F32, as torch
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
  if (src.is_contiguous() && dst.is_contiguous()) {  // the mixed-precision conversions, vectorised
    if (src.dtype() == DType::F32 && dst.dtype() == DType::BF16)
      return float_to_bf16_n(src.data<float>(), static_cast<uint16_t*>(dst.raw()), n);
    if (src.dtype() == DType::BF16 && dst.dtype() == DType::F32)
      return bf16_to_float_n(static_cast<const uint16_t*>(src.raw()), dst.data<float>(), n);
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
  const DType ts = src.dtype(), td = dst.dtype();
  // One row: a single memcpy when both sides are contiguous in it (the common case: a permuted
  // or sliced view whose last dim is intact), typed element loops otherwise.
  auto copy_row = [&](const char* s, char* d) {
    if (ts == DType::F32 && td == DType::BF16 && s_in == 1 && d_in == 1) {  // e.g. attention's
      float_to_bf16_n(reinterpret_cast<const float*>(s), reinterpret_cast<uint16_t*>(d), inner);  // q, k, v
    } else if (ts == DType::BF16 && td == DType::F32 && s_in == 1 && d_in == 1) {
      bf16_to_float_n(reinterpret_cast<const uint16_t*>(s), reinterpret_cast<float*>(d), inner);
    } else if (ts != td) {
      for (int64_t i = 0; i < inner; ++i)
        store_double(td, d + i * d_in * ed, load_as_double(ts, s + i * s_in * es));
    } else if (s_in == 1 && d_in == 1) {
      std::memcpy(d, s, inner * es);
    } else {
      auto loop = [&](auto tag) {
        using T = decltype(tag);
        const T* st = reinterpret_cast<const T*>(s);
        T* dt = reinterpret_cast<T*>(d);
        for (int64_t i = 0; i < inner; ++i) dt[i * d_in] = st[i * s_in];
      };
      switch (es) {
        case 8: loop(uint64_t{}); break;
        case 4: loop(uint32_t{}); break;
        case 2: loop(uint16_t{}); break;
        default: loop(uint8_t{}); break;
      }
    }
  };
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t o = 0; o < outer; ++o)
    copy_row(sp + strided_offset(o, oshape, sst) * es, dp + strided_offset(o, oshape, dst_st) * ed);
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
