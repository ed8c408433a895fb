// memory.cu — CUDA device discovery and per-device backends, the caching allocator, copies
// (host<->device, device-side strided copies with dtype conversion), fill and synchronize,
// plus the module's entry point, vt_cuda_module_api (cuda_module.h).
//
// Copies: ops/view.cpp routes host<->device copies here with contiguous, same-dtype tensors;
// they become one cudaMemcpyAsync on the device's stream (device->host then waits for it, so
// the host can read the data). Copies on the device take any strides on both sides (views,
// broadcast sources with stride 0) and convert dtypes element by element through double, as
// the CPU backend does.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "engine/bf16.h"
#include "engine/cuda/cuda_common.cuh"
#include "engine/cuda/cuda_module.h"

namespace vt::cuda {

// ---------------------------------------------------------------- errors
void throw_cuda_error(const char* what, const char* err, const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  throw Error(std::string("CUDA error in ") + what + ": " + err + " [" + (base ? base + 1 : file) +
              ":" + std::to_string(line) + "]");
}

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE (bad size or leading dim)";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "unknown cuBLAS status";
  }
}

bool sync_after_kernels() {
  static const bool on = [] {
    const char* s = std::getenv("VT_CUDA_SYNC");
    return s && *s && std::strcmp(s, "0") != 0;
  }();
  return on;
}

void check_launch(const char* kernel, cudaStream_t stream, const char* file, int line) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw_cuda_error((std::string("kernel ") + kernel + " (launch)").c_str(),
                     cudaGetErrorString(e), file, line);
  if (sync_after_kernels()) {
    e = cudaStreamSynchronize(stream);
    if (e != cudaSuccess)
      throw_cuda_error((std::string("kernel ") + kernel + " (execution, VT_CUDA_SYNC)").c_str(),
                       cudaGetErrorString(e), file, line);
  }
}

void check_device(const char* op, const CudaBackend& be, const Tensor& t) {
  if (t.defined() && (t.device().type != Device::CUDA || t.device().index != be.device()))
    throw Error(std::string(op) + ": tensor of shape " + shape_str(t.shape()) + " is on " +
                t.device().str() + ", expected cuda:" + std::to_string(be.device()));
}

// ---------------------------------------------------------------- devices
namespace {
// cudaGetDeviceCount once; a missing driver or GPU reads as 0 devices (and its error is
// cleared, so it does not surface from a later, unrelated check).
int query_device_count(std::string* why) {
  static std::string reason;
  static const int count = [] {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      reason = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
      cudaGetLastError();
      return 0;
    }
    if (n == 0) reason = "cudaGetDeviceCount found no device";
    return n;
  }();
  if (why) *why = reason;
  return count;
}
}  // namespace

Backend& device_backend(int index) {
  // Never destroyed: at process exit the CUDA runtime may already be torn down, and destroying
  // streams or cuBLAS handles after that can crash. The driver reclaims everything anyway.
  static std::mutex mu;
  static auto* backends = new std::vector<std::unique_ptr<CudaBackend>>();
  std::string why;
  const int n = query_device_count(&why);
  if (index < 0 || index >= n)
    throw Error("device cuda:" + std::to_string(index) + " is not available: " +
                (n == 0 ? why : std::to_string(n) + " CUDA device(s) present"));
  std::lock_guard<std::mutex> lock(mu);
  if (backends->empty()) backends->resize(n);
  auto& slot = (*backends)[index];
  if (!slot) slot = std::make_unique<CudaBackend>(index);
  return *slot;
}

// ---------------------------------------------------------------- backend object
CudaBackend::CudaBackend(int device) : device_(device), alloc_(device) {
  VT_CUDA_CHECK(cudaSetDevice(device));
  VT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  VT_CUBLAS_CHECK(cublasCreate(&cublas_));
  VT_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
}

CudaBackend::~CudaBackend() {  // not reached in practice (see backend()); errors ignored
  cudaSetDevice(device_);
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaBackend::activate() const {
  int cur = -1;
  VT_CUDA_CHECK(cudaGetDevice(&cur));
  if (cur != device_) VT_CUDA_CHECK(cudaSetDevice(device_));
}

Tensor CudaBackend::scratch(const Shape& shape, DType dtype) const {
  return Tensor::empty(shape, dtype, Device::cuda(device_));
}

void CudaBackend::synchronize() {
  activate();
  VT_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

// ---------------------------------------------------------------- caching allocator
size_t CachingAllocator::round_size(size_t n) {
  constexpr size_t kSmall = 512, kLarge = size_t(1) << 20;
  return n <= kLarge ? (n + kSmall - 1) / kSmall * kSmall : (n + kLarge - 1) / kLarge * kLarge;
}

void* CachingAllocator::alloc(size_t nbytes) {
  const size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* p = nullptr;
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
  } else {
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {  // give the cache back to the driver and retry once
      cudaGetLastError();
      release_cached_locked();
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw Error("cuda:" + std::to_string(device_) + ": cudaMalloc of " + std::to_string(size) +
                  " bytes failed (" + cudaGetErrorString(e) + "); allocated " +
                  std::to_string(stats_.allocated) + " bytes, reserved " +
                  std::to_string(stats_.reserved) + " bytes");
    }
    stats_.reserved += (int64_t)size;
    stats_.cuda_mallocs += 1;
  }
  live_[p] = size;
  stats_.allocated += (int64_t)size;
  if (stats_.allocated > stats_.peak) stats_.peak = stats_.allocated;
  return p;
}

void CachingAllocator::free(void* p) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end())
    throw Error("cuda:" + std::to_string(device_) +
                ": free of a pointer the caching allocator did not hand out (double free?)");
  free_[it->second].push_back(p);
  stats_.allocated -= (int64_t)it->second;
  live_.erase(it);
}

void CachingAllocator::release_cached_locked() {
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) {
      VT_CUDA_CHECK(cudaFree(p));
      stats_.reserved -= (int64_t)size;
    }
  }
  free_.clear();
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

CudaMemoryStats CachingAllocator::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak = stats_.allocated;
}

void* CudaBackend::alloc(size_t nbytes) {
  activate();
  return alloc_.alloc(nbytes);
}

void CudaBackend::free(void* p, size_t) {
  // cudaFree is not called here, so no device switch is needed; the block goes to the cache.
  alloc_.free(p);
}

// ---------------------------------------------------------------- copy
namespace {

// Same-dtype strided copy: U is an unsigned integer of the element size, so the bits move
// unchanged (any dtype, including I64 beyond 2^53 and the 2-byte float types).
template <typename U>
__global__ void copy_bits_kernel(const U* src, U* dst, Indexer<2> ix, int64_t n) {
  GRID_STRIDE_LOOP(i, n) {
    int64_t off[2];
    ix.offsets(i, off);
    dst[off[1]] = src[off[0]];
  }
}

// Dtype conversion goes through double, as the CPU backend's copy; BF16 through F32 with
// round-to-nearest-even (engine/bf16.h, the same bits as the CPU).
__device__ __forceinline__ double load_as_double(int dt, const char* p) {
  switch ((DType)dt) {
    case DType::F32: return *reinterpret_cast<const float*>(p);
    case DType::F64: return *reinterpret_cast<const double*>(p);
    case DType::I64: return (double)*reinterpret_cast<const int64_t*>(p);
    case DType::I32: return *reinterpret_cast<const int32_t*>(p);
    case DType::U8: return *reinterpret_cast<const uint8_t*>(p);
    case DType::Bool: return *reinterpret_cast<const uint8_t*>(p) ? 1.0 : 0.0;
    case DType::BF16: return bf16_to_float(*reinterpret_cast<const uint16_t*>(p));
    default: return 0.0;  // rejected on the host
  }
}
__device__ __forceinline__ void store_double(int dt, char* p, double v) {
  switch ((DType)dt) {
    case DType::F32: *reinterpret_cast<float*>(p) = (float)v; break;
    case DType::F64: *reinterpret_cast<double*>(p) = v; break;
    case DType::I64: *reinterpret_cast<int64_t*>(p) = (int64_t)v; break;
    case DType::I32: *reinterpret_cast<int32_t*>(p) = (int32_t)v; break;
    case DType::U8: *reinterpret_cast<uint8_t*>(p) = (uint8_t)v; break;
    case DType::Bool: *reinterpret_cast<uint8_t*>(p) = v != 0.0; break;
    case DType::BF16: *reinterpret_cast<uint16_t*>(p) = float_to_bf16((float)v); break;
    default: break;
  }
}

__global__ void copy_convert_kernel(const char* src, int src_dt, int src_es, char* dst,
                                    int dst_dt, int dst_es, Indexer<2> ix, int64_t n) {
  GRID_STRIDE_LOOP(i, n) {
    int64_t off[2];
    ix.offsets(i, off);
    store_double(dst_dt, dst + off[1] * dst_es, load_as_double(src_dt, src + off[0] * src_es));
  }
}

bool convertible(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::I64 || t == DType::I32 ||
         t == DType::U8 || t == DType::Bool;
}

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

}  // namespace

void CudaBackend::copy(const Tensor& src, Tensor& dst) {
  if (src.shape() != dst.shape())
    throw Error("cuda copy: shape " + shape_str(src.shape()) + " into " + shape_str(dst.shape()));
  const int64_t n = src.numel();
  if (n == 0) return;
  activate();
  const bool src_host = src.device().type == Device::CPU;
  const bool dst_host = dst.device().type == Device::CPU;
  if (src_host || dst_host || src.device() != dst.device()) {
    // Between devices: the op layer hands over contiguous, same-dtype tensors.
    if (src.dtype() != dst.dtype() || !src.is_contiguous() || !dst.is_contiguous())
      throw Error("cuda copy " + src.device().str() + " -> " + dst.device().str() +
                  ": needs contiguous tensors of one dtype, got " + dtype_name(src.dtype()) +
                  " " + shape_str(src.shape()) + " -> " + dtype_name(dst.dtype()));
    if (src_host && dst_host) throw Error("cuda copy: both tensors are on the host");
    const size_t bytes = dst.nbytes();
    if (src_host) {
      VT_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), bytes, cudaMemcpyHostToDevice, stream_));
    } else if (dst_host) {
      VT_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), bytes, cudaMemcpyDeviceToHost, stream_));
      VT_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host reads dst next
    } else {  // GPU to GPU (rare): wait for src's writers, copy on dst's stream, wait for it
      auto& sb = static_cast<CudaBackend&>(device_backend(src.device().index));
      auto& db = static_cast<CudaBackend&>(device_backend(dst.device().index));
      sb.synchronize();
      VT_CUDA_CHECK(cudaMemcpyPeerAsync(dst.raw(), db.device(), src.raw(), sb.device(), bytes,
                                        db.stream()));
      db.synchronize();  // src may be freed and reused on its own stream right after
    }
    return;
  }
  check_device("cuda copy", *this, src);
  const Shape* strides[2] = {&src.strides(), &dst.strides()};
  const Indexer<2> ix = make_indexer("cuda copy", src.shape(), strides);
  if (src.dtype() == dst.dtype()) {
    if (src.is_contiguous() && dst.is_contiguous()) {
      VT_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), dst.nbytes(), cudaMemcpyDeviceToDevice,
                                    stream_));
      return;
    }
    dispatch_bits(src.dtype(), "cuda copy", [&](auto tag) {
      using U = typename decltype(tag)::type;
      VT_LAUNCH("copy_bits", copy_bits_kernel<U>, grid_for(n), kThreads, 0, stream_,
                static_cast<const U*>(src.raw()), static_cast<U*>(dst.raw()), ix, n);
    });
    return;
  }
  if (!convertible(src.dtype()) || !convertible(dst.dtype()))
    throw Error(std::string("cuda copy: conversion ") + dtype_name(src.dtype()) + " -> " +
                dtype_name(dst.dtype()) + " is not supported yet");
  VT_LAUNCH("copy_convert", copy_convert_kernel, grid_for(n), kThreads, 0, stream_,
            static_cast<const char*>(src.raw()), (int)src.dtype(), (int)dtype_size(src.dtype()),
            static_cast<char*>(dst.raw()), (int)dst.dtype(), (int)dtype_size(dst.dtype()), ix, n);
}

// ---------------------------------------------------------------- fill
namespace {
template <typename T>
__global__ void fill_kernel(T* dst, T value, Indexer<1> ix, int64_t n) {
  GRID_STRIDE_LOOP(i, n) {
    int64_t off[1];
    ix.offsets(i, off);
    dst[off[0]] = value;
  }
}
}  // namespace

void CudaBackend::fill(Tensor& dst, double value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  check_device("fill", *this, dst);
  if (value == 0.0 && dst.is_contiguous()) {  // all-zero bits for every dtype
    VT_CUDA_CHECK(cudaMemsetAsync(dst.raw(), 0, dst.nbytes(), stream_));
    return;
  }
  const Shape* strides[1] = {&dst.strides()};
  const Indexer<1> ix = make_indexer("fill", dst.shape(), strides);
  auto run = [&](auto v) {
    using T = decltype(v);
    VT_LAUNCH("fill", fill_kernel<T>, grid_for(n), kThreads, 0, stream_,
              static_cast<T*>(dst.raw()), v, ix, n);
  };
  switch (dst.dtype()) {
    case DType::F32: run((float)value); break;
    case DType::F64: run(value); break;
    case DType::I64: run((int64_t)value); break;
    case DType::I32: run((int32_t)value); break;
    case DType::U8: run((uint8_t)value); break;
    case DType::Bool: run((uint8_t)(value != 0.0)); break;
    case DType::BF16: run(float_to_bf16((float)value)); break;
    default:
      throw Error(std::string("fill: dtype ") + dtype_name(dst.dtype()) +
                  " is not supported on cuda yet");
  }
}

}  // namespace vt::cuda

// ---------------------------------------------------------------- the module's entry point
namespace vt::cuda {
namespace {

CachingAllocator& allocator_of(int device) {
  return static_cast<CudaBackend&>(device_backend(device)).allocator();
}

CudaMemoryStats memory_stats(int device) {
  if (device < 0 || device >= query_device_count(nullptr)) return {};
  return allocator_of(device).stats();
}

void reset_peak(int device) {
  if (device >= 0 && device < query_device_count(nullptr)) allocator_of(device).reset_peak();
}

void empty_cache() {
  for (int d = 0; d < query_device_count(nullptr); ++d) {
    auto& be = static_cast<CudaBackend&>(device_backend(d));
    be.synchronize();  // blocks in the cache may still be read by queued kernels
    be.allocator().empty_cache();
  }
}

}  // namespace
}  // namespace vt::cuda

extern "C" const vt::cuda::ModuleApi* vt_cuda_module_api() {
  static const vt::cuda::ModuleApi api{vt::cuda::kModuleAbi, vt::cuda::query_device_count,
                                       vt::cuda::device_backend, vt::cuda::memory_stats,
                                       vt::cuda::reset_peak, vt::cuda::empty_cache};
  return &api;
}
