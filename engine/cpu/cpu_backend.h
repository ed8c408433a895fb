// cpu_backend.h — the CPU backend: Eigen for GEMM, OpenMP loops for everything else.
// Its methods are defined across engine/cpu/*.cpp, one file per kernel family.
#pragma once
#include "engine/backend.h"

namespace vt {

struct CpuBackend final : Backend {
  const char* name() const override { return "cpu"; }
  // memory.cpp
  void* alloc(size_t nbytes) override;
  void free(void* p, size_t nbytes) override;
  void release_cached() override;
  void copy(const Tensor& src, Tensor& dst) override;
  void fill(Tensor& dst, double value) override;
  // elementwise.cpp
  void unary(UnaryOp op, const Tensor& x, Tensor& y, double alpha) override;
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy, Tensor& gx,
                      double alpha) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& x, Tensor& out, int64_t outer, int64_t r,
              int64_t inner) override;
  // gemm.cpp
  void gemm(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
            double alpha, const void* a, int64_t lda, int64_t stride_a, const void* b,
            int64_t ldb, int64_t stride_b, double beta, void* c, int64_t ldc, int64_t stride_c,
            int64_t batch) override;
  // gemm_onednn.cpp: gemm's F32 case through oneDNN (false: not available, use Eigen) ...
  bool gemm_f32_onednn(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                       const float* a, int64_t lda, int64_t sa, const float* b, int64_t ldb, int64_t sb,
                       double beta, float* c, int64_t ldc, int64_t sc, int64_t batch);
  // ... with linear's bias fused in (oneDNN's bias argument; false without oneDNN) ...
  bool gemm_bias(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const void* a,
                 int64_t lda, const void* b, int64_t ldb, const float* bias, void* c, bool c_bf16,
                 int64_t ldc) override;
  // ... with a base matrix added (oneDNN's binary post-op; false without oneDNN) ...
  bool gemm_add(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                const void* a, int64_t lda, const void* b, int64_t ldb, const float* bias, const float* base,
                float* c, int64_t ldc) override;
  // ... with two batch dims (oneDNN's 4-D matmul; false without oneDNN) ...
  bool gemm_batch2(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                   const void* a, int64_t lda, int64_t stride_a, int64_t outer_a, const void* b, int64_t ldb,
                   int64_t stride_b, int64_t outer_b, double beta, void* c, bool c_bf16, int64_t ldc,
                   int64_t stride_c, int64_t outer_c, int64_t batch, int64_t outer) override;
  // ... and its BF16 case (BF16 inputs, F32 output and sums)
  void gemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                 const uint16_t* a, int64_t lda, int64_t stride_a, const uint16_t* b, int64_t ldb,
                 int64_t stride_b, double beta, float* c, int64_t ldc, int64_t stride_c, int64_t batch);
  // norm.cpp
  void softmax(const Tensor& x, Tensor& y, bool log) override;
  void softmax_backward(const Tensor& y, const Tensor& gy, Tensor& gx, bool log) override;
  void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps, Tensor& y,
                  Tensor& mean, Tensor& rstd) override;
  void layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& mean,
                           const Tensor& rstd, const Tensor& gy, Tensor& gx, Tensor& gw,
                           Tensor& gb) override;
  // conv.cpp
  void im2col(const Tensor& x, const Conv2dGeom& g, Tensor& col) override;
  void col2im(const Tensor& col, const Conv2dGeom& g, Tensor& gx) override;
  void depthwise_conv2d(const Tensor& x, const Tensor& w, const Conv2dGeom& g, bool per_sample,
                        Tensor& y) override;
  void depthwise_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy,
                                 const Conv2dGeom& g, bool per_sample, Tensor& gx,
                                 Tensor& gw) override;
  // pool.cpp
  void avg_pool2d(const Tensor& x, const Conv2dGeom& g, bool count_include_pad,
                  Tensor& y) override;
  void avg_pool2d_backward(const Tensor& gy, const Conv2dGeom& g, bool count_include_pad,
                           Tensor& gx) override;
  void adaptive_avg_pool2d(const Tensor& x, Tensor& y) override;
  void adaptive_avg_pool2d_backward(const Tensor& gy, Tensor& gx) override;
  void interpolate(const Tensor& x, Tensor& y, int mode, bool align_corners) override;
  void interpolate_backward(const Tensor& gy, Tensor& gx, int mode, bool align_corners) override;
  // roi_align.cpp
  void roi_align(const Tensor& x, const Tensor& rois, const RoiAlignGeom& g, Tensor& y) override;
  void roi_align_backward(const Tensor& gy, const Tensor& rois, const RoiAlignGeom& g,
                          Tensor& gx) override;
  // index.cpp
  void index_select(const Tensor& x, int64_t dim, const Tensor& idx, Tensor& out) override;
  void index_add(Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) override;
  void gather(const Tensor& x, int64_t dim, const Tensor& idx, Tensor& out) override;
  void scatter_add(Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) override;
  // random.cpp
  void random_uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) override;
  void random_normal(Tensor& out, uint64_t seed, uint64_t offset, double mean,
                     double std) override;
  // optim.cpp
  void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, double lr,
                  double beta1, double beta2, double eps, double weight_decay,
                  int64_t step) override;
};

// Helpers shared by the CPU kernel files.
// Offset (in elements) of linear index i of a tensor with this shape and strides.
inline int64_t strided_offset(int64_t i, const Shape& shape, const Shape& strides) {
  int64_t off = 0;
  for (int64_t d = (int64_t)shape.size() - 1; d >= 0; --d) {
    off += (i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}
// Threshold below which loops run on one thread (thread start-up costs more than the work).
constexpr int64_t kParallelGrain = 1 << 15;

}  // namespace vt
