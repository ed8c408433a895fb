// cuda_common.cuh — what the engine/cuda/*.cu files share (internal, CUDA-only header).
//
// The CUDA backend is a second implementation of struct Backend (engine/backend.h), one object
// per device, each with one stream, one cuBLAS handle and one caching allocator. Files:
//
//   memory.cu       device discovery, caching allocator, copy (host<->device, strided, dtype
//                   conversion), fill, synchronize, the module entry (cuda_module.h)
//   elementwise.cu  unary / binary / where with broadcasting strides, reductions
//   gemm.cu         batched GEMM through cublasGemmStridedBatchedEx (TF32 opt-in)
//   norm.cu         softmax / log-softmax and layer norm, one warp or block per row
//   conv.cu         im2col / col2im, depthwise conv, avg / adaptive pools, interpolation
//   roi_align.cu    RoIAlign and its backward (engine/roi_align_math.h)
//   index.cu        index_select / index_add / gather / scatter_add, Philox fills, AdamW
//
// Conventions, mirroring the CPU backend: kernels get raw pointers and sizes (never Tensors),
// loop with a grid-stride loop over int64 indices, support F32 and F64 through dispatch_float,
// and every launch goes through launch(), which checks it and names the kernel in the error.
// Sums of F32 data accumulate in double, as the CPU kernels do, so both backends agree to
// rounding. Mixed precision (BF16/F16 storage) is a later step: its switch places are
// dispatch_float (compute dtypes), copy_convert_kernel in memory.cu (storage conversions) and
// the cuBLAS data/compute types in gemm.cu.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda/cuda_api.h"

namespace vt::cuda {

// ---------------------------------------------------------------- errors
// Every CUDA / cuBLAS call is checked; a failure throws vt::Error naming the call, the error
// and (for kernels) the kernel, e.g.
//   "CUDA error in kernel softmax_rows (launch): invalid configuration argument [norm.cu:88]"
[[noreturn]] void throw_cuda_error(const char* what, const char* err, const char* file, int line);
const char* cublas_status_name(cublasStatus_t s);

#define VT_CUDA_CHECK(call)                                                                   \
  do {                                                                                        \
    cudaError_t vt_err_ = (call);                                                             \
    if (vt_err_ != cudaSuccess)                                                               \
      ::vt::cuda::throw_cuda_error(#call, cudaGetErrorString(vt_err_), __FILE__, __LINE__);   \
  } while (0)

#define VT_CUBLAS_CHECK(call)                                                                 \
  do {                                                                                        \
    cublasStatus_t vt_st_ = (call);                                                           \
    if (vt_st_ != CUBLAS_STATUS_SUCCESS)                                                      \
      ::vt::cuda::throw_cuda_error(#call, ::vt::cuda::cublas_status_name(vt_st_), __FILE__,   \
                                   __LINE__);                                                 \
  } while (0)

// After a launch: cudaGetLastError, and with VT_CUDA_SYNC=1 a stream sync, so that a fault
// inside the kernel is reported with the kernel's name rather than by a later call.
void check_launch(const char* kernel, cudaStream_t stream, const char* file, int line);
bool sync_after_kernels();

// ---------------------------------------------------------------- launch geometry
constexpr int kThreads = 256;
// Blocks for a grid-stride loop over n elements (capped; the loop covers the rest).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return (unsigned)(b < 1 ? 1 : (b > 65536 ? 65536 : b));
}

// for (i = this thread's first index; i < n; i += all threads in the grid)
#define GRID_STRIDE_LOOP(i, n)                                               \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t)gridDim.x * blockDim.x)

// kernel<<<grid, block, smem, stream>>>(args...) + check_launch(name). Empty grids launch
// nothing (CUDA rejects a zero-sized grid).
template <typename... KArgs, typename... Args>
void launch_kernel(const char* name, const char* file, int line, void (*kernel)(KArgs...),
                   dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args&&... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
  check_launch(name, stream, file, line);
}
#define VT_LAUNCH(name, kernel, grid, block, smem, stream, ...) \
  ::vt::cuda::launch_kernel(name, __FILE__, __LINE__, kernel, grid, block, smem, stream, __VA_ARGS__)

// ---------------------------------------------------------------- strided indexing
// Shape + per-operand element strides, passed to kernels by value. Built on the host by
// make_indexer, which drops size-1 dims and merges dims that are contiguous in every operand
// (a contiguous tensor becomes 1-d, which needs no division at all).
constexpr int kMaxDims = 8;
template <int N>
struct Indexer {
  int nd = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride[N][kMaxDims] = {};

  // Element offsets of linear index i (row-major over shape) in each operand.
  __device__ __forceinline__ void offsets(int64_t i, int64_t (&off)[N]) const {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = nd - 1; d > 0; --d) {
      const int64_t q = i / shape[d], r = i - q * shape[d];
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += r * stride[k][d];
      i = q;
    }
    if (nd > 0) {
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += i * stride[k][0];
    }
  }
};

// `op` names the caller in the error for tensors with more than kMaxDims unmergeable dims.
template <int N>
Indexer<N> make_indexer(const char* op, const Shape& shape, const Shape* const (&strides)[N]) {
  std::vector<int64_t> sh;
  std::vector<std::vector<int64_t>> st(N);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !sh.empty();
    for (int k = 0; k < N && merge; ++k) merge = st[k].back() == (*strides[k])[d] * shape[d];
    if (merge) {
      sh.back() *= shape[d];
      for (int k = 0; k < N; ++k) st[k].back() = (*strides[k])[d];
    } else {
      sh.push_back(shape[d]);
      for (int k = 0; k < N; ++k) st[k].push_back((*strides[k])[d]);
    }
  }
  if (sh.size() > (size_t)kMaxDims)
    throw Error(std::string(op) + ": shape " + shape_str(shape) + " has more than " +
                std::to_string(kMaxDims) + " dims that cannot be merged (cuda backend limit)");
  Indexer<N> ix;
  ix.nd = (int)sh.size();
  for (int d = 0; d < ix.nd; ++d) {
    ix.shape[d] = sh[d];
    for (int k = 0; k < N; ++k) ix.stride[k][d] = st[k][d];
  }
  return ix;
}

// ---------------------------------------------------------------- reductions in a block
// Sum / combine across the TPR threads of a row group: a warp (TPR = 32) or a whole block
// (TPR = blockDim.x, a multiple of 32, at most 1024). Every thread of the group must call it;
// every thread gets the result.
template <typename T, typename F>
__device__ __forceinline__ T warp_allreduce(T v, F f) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = f(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <int TPR, typename T, typename F>
__device__ __forceinline__ T group_allreduce(T v, F f) {
  v = warp_allreduce(v, f);
  if constexpr (TPR > 32) {
    __shared__ T part[TPR / 32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();  // part[] may still be read by a previous call
    if (lane == 0) part[warp] = v;
    __syncthreads();
    v = part[0];
#pragma unroll
    for (int w = 1; w < TPR / 32; ++w) v = f(v, part[w]);
  }
  return v;
}

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

// ---------------------------------------------------------------- caching allocator
// cudaMalloc/cudaFree synchronise the device and are slow, and a training step allocates the
// same sizes every step. So freed blocks are kept in free lists bucketed by (rounded) size and
// handed out again; cudaMalloc is called only when the bucket is empty. Sizes round up to
// 512 B (up to 1 MiB) or to 1 MiB (above), so near sizes share buckets. If cudaMalloc runs
// out of memory the cache is released and the call retried once. Plain device memory only
// (no managed memory). With one stream per device, a block freed by the host can be reused at
// once: the kernels that used it are ordered before any kernel that uses it again.
class CachingAllocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  void* alloc(size_t nbytes);
  void free(void* p);
  void empty_cache();
  CudaMemoryStats stats();
  void reset_peak();
  static size_t round_size(size_t nbytes);

 private:
  void release_cached_locked();
  int device_;
  std::mutex mu_;
  std::unordered_map<void*, size_t> live_;       // block -> rounded size
  std::map<size_t, std::vector<void*>> free_;   // rounded size -> cached blocks
  CudaMemoryStats stats_;
};

// ---------------------------------------------------------------- the backend
struct CudaBackend final : Backend {
  explicit CudaBackend(int device);
  ~CudaBackend() override;
  const char* name() const override { return "cuda"; }

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  CachingAllocator& allocator() { return alloc_; }
  // Makes this backend's device current on the calling thread (every method starts with it).
  void activate() const;
  // A scratch tensor on this device (kernels' temporaries: reduction partials, index checks).
  Tensor scratch(const Shape& shape, DType dtype) const;

  // memory.cu
  void* alloc(size_t nbytes) override;
  void free(void* p, size_t nbytes) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void fill(Tensor& dst, double value) override;
  void synchronize() override;
  // elementwise.cu
  void unary(UnaryOp op, const Tensor& x, Tensor& y, double alpha) override;
  Tensor as_f32(const Tensor& t);  // t, or t widened to F32 (elementwise.cu)
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy, Tensor& gx,
                      double alpha) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& x, Tensor& out, int64_t outer, int64_t r,
              int64_t inner) override;
  // gemm.cu
  void gemm(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
            double alpha, const void* a, int64_t lda, int64_t stride_a, const void* b,
            int64_t ldb, int64_t stride_b, double beta, void* c, int64_t ldc, int64_t stride_c,
            int64_t batch) override;
  // norm.cu
  void softmax(const Tensor& x, Tensor& y, bool log) override;
  void softmax_backward(const Tensor& y, const Tensor& gy, Tensor& gx, bool log) override;
  void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps, Tensor& y,
                  Tensor& mean, Tensor& rstd) override;
  void layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& mean,
                           const Tensor& rstd, const Tensor& gy, Tensor& gx, Tensor& gw,
                           Tensor& gb) override;
  // conv.cu
  void im2col(const Tensor& x, const Conv2dGeom& g, Tensor& col) override;
  void col2im(const Tensor& col, const Conv2dGeom& g, Tensor& gx) override;
  void depthwise_conv2d(const Tensor& x, const Tensor& w, const Conv2dGeom& g, bool per_sample,
                        Tensor& y) override;
  void depthwise_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy,
                                 const Conv2dGeom& g, bool per_sample, Tensor& gx,
                                 Tensor& gw) override;
  void avg_pool2d(const Tensor& x, const Conv2dGeom& g, bool count_include_pad,
                  Tensor& y) override;
  void avg_pool2d_backward(const Tensor& gy, const Conv2dGeom& g, bool count_include_pad,
                           Tensor& gx) override;
  void adaptive_avg_pool2d(const Tensor& x, Tensor& y) override;
  void adaptive_avg_pool2d_backward(const Tensor& gy, Tensor& gx) override;
  void interpolate(const Tensor& x, Tensor& y, int mode, bool align_corners) override;
  void interpolate_backward(const Tensor& gy, Tensor& gx, int mode, bool align_corners) override;
  // roi_align.cu
  void roi_align(const Tensor& x, const Tensor& rois, const RoiAlignGeom& g, Tensor& y) override;
  void roi_align_backward(const Tensor& gy, const Tensor& rois, const RoiAlignGeom& g,
                          Tensor& gx) override;
  // index.cu
  void index_select(const Tensor& x, int64_t dim, const Tensor& idx, Tensor& out) override;
  void index_add(Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) override;
  void gather(const Tensor& x, int64_t dim, const Tensor& idx, Tensor& out) override;
  void scatter_add(Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) override;
  void random_uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) override;
  void random_normal(Tensor& out, uint64_t seed, uint64_t offset, double mean,
                     double std) override;
  void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, double lr,
                  double beta1, double beta2, double eps, double weight_decay,
                  int64_t step) override;

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  CachingAllocator alloc_;
};

// Checks that a kernel's tensor arguments live on this backend's device (cheap, host-side).
void check_device(const char* op, const CudaBackend& be, const Tensor& t);

// Device `index`'s backend, created on first use; throws vt::Error when it is not present.
// (The engine reaches it through the module table, cuda_module.h.)
Backend& device_backend(int index);

}  // namespace vt::cuda
