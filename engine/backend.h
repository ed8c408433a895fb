// backend.h — the narrow kernel interface every device implements (CPU now, CUDA beside it).
//
// Ops (engine/ops/*.cpp) allocate outputs, decide what to save, and call these kernels through
// backend_for(device). Kernels never record autograd and never allocate their outputs.
// Unless a comment says otherwise, tensor arguments are contiguous and on this backend's device,
// outputs have the right shape and dtype, and floating kernels support F32 and F64.
#pragma once
#include <cstdint>

#include "engine/roi_align_math.h"
#include "engine/tensor.h"

namespace vt {

enum class UnaryOp : uint8_t {
  Neg, Exp, Log, Sqrt, Rsqrt, Abs, Tanh, Sigmoid, Relu,
  Gelu,        // exact: x·Φ(x) with erf
  GeluTanh,    // tanh approximation
  QuickGelu,   // x·σ(1.702x)
  Softplus,    // log(1+e^x), with torch's threshold 20 (linear above it)
  AddScalar,   // x + alpha
  MulScalar,   // x * alpha
  PowScalar,   // x ^ alpha
  RSubScalar,  // alpha - x
  RDivScalar,  // alpha / x
  Square,
};

enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, Max, Min, Eq, Gt, Lt };

enum class ReduceOp : uint8_t { Sum, Max, ArgMax };

// Geometry of a 2-D convolution / pooling window (NCHW).
struct Conv2dGeom {
  int64_t n = 0, c = 0, h = 0, w = 0;   // input
  int64_t kh = 1, kw = 1;               // kernel
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int64_t oh() const { return (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
  int64_t ow() const { return (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
};

struct Backend {
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // ---- memory ----
  virtual void* alloc(size_t nbytes) = 0;
  virtual void free(void* p, size_t nbytes) = 0;
  // Hands what the allocator keeps for reuse back to the system: after a one-off burst of
  // frees, such as a model's F32 weights replaced by BF16 copies (nn/precision.cpp).
  virtual void release_cached() {}
  // Element-wise copy with any strides on both sides (same shape); converts dtype if they
  // differ. Both on this device, except that host<->device copies with contiguous tensors
  // go through the device backend (the CPU backend only copies host to host).
  virtual void copy(const Tensor& src, Tensor& dst) = 0;
  virtual void fill(Tensor& dst, double value) = 0;
  virtual void synchronize() {}

  // ---- element-wise ----
  // Mixed precision (gelu_bf16): y may be BF16, and x BF16, with the math in F32 (rounded as
  // stored); in the backward x and gx may be BF16 (gy and y F32).
  virtual void unary(UnaryOp op, const Tensor& x, Tensor& y, double alpha) = 0;
  // gx = gy * dy/dx (x: input, y: forward output; either may be used).
  virtual void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy,
                              Tensor& gx, double alpha) = 0;
  // a, b: views already expanded to out's shape (any strides, stride 0 for broadcast dims).
  // Comparison ops write 1/0 in out's dtype.
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) = 0;
  // out = cond ? a : b; all three expanded to out's shape (any strides); cond is Bool/U8.
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) = 0;

  // ---- reductions: x viewed as (outer, r, inner), out as (outer, inner) ----
  // ArgMax writes I64 indices in 0..r-1 (first maximum).
  virtual void reduce(ReduceOp op, const Tensor& x, Tensor& out, int64_t outer, int64_t r,
                      int64_t inner) = 0;

  // ---- matrix multiply, row-major BLAS-style, batched with element strides ----
  // C[i] = alpha * op(A[i]) * op(B[i]) + beta * C[i], op(A) is m×k, op(B) is k×n.
  // dtype BF16 is mixed precision: A and B are BF16, C is F32 and the sums are F32.
  virtual void gemm(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                    double alpha, const void* a, int64_t lda, int64_t stride_a, const void* b,
                    int64_t ldb, int64_t stride_b, double beta, void* c, int64_t ldc,
                    int64_t stride_c, int64_t batch) = 0;
  // C = op(A)·op(B) + bias, one product, `bias` a row of n F32 values (or null) added to
  // every row of C (linear's bias, fused into the product instead of a pass that writes it into
  // C first). dtype F32 or BF16 (A and B); C F32, or BF16 (c_bf16: F32 sums rounded as stored,
  // nn/precision.h). False when the backend has no fused form for it: the caller then writes
  // the bias into an F32 C, calls gemm with beta = 1, and rounds C itself.
  virtual bool gemm_bias(DType /*dtype*/, bool /*trans_a*/, bool /*trans_b*/, int64_t /*m*/, int64_t /*n*/,
                         int64_t /*k*/, const void* /*a*/, int64_t /*lda*/, const void* /*b*/, int64_t /*ldb*/,
                         const float* /*bias*/, void* /*c*/, bool /*c_bf16*/, int64_t /*ldc*/) {
    return false;
  }

  // C = alpha·(op(A)·op(B) + bias) + base, one product, base an F32 (m, n) matrix with leading
  // dim ldc, C F32, bias a row of n F32 values or null (add_linear: a low-rank update, or a
  // bottleneck's up-projection, added to the output it joins, which is read once instead of
  // first copied into C). False when the backend has no such form: the caller then computes it
  // from base copied into C and gemm with beta = 1.
  virtual bool gemm_add(DType /*dtype*/, bool /*trans_a*/, bool /*trans_b*/, int64_t /*m*/, int64_t /*n*/,
                        int64_t /*k*/, double /*alpha*/, const void* /*a*/, int64_t /*lda*/, const void* /*b*/,
                        int64_t /*ldb*/, const float* /*bias*/, const float* /*base*/, float* /*c*/, int64_t /*ldc*/) {
    return false;
  }
  // Two batch dims: C[o][i] = alpha·op(A[o][i])·op(B[o][i]) + beta·C[o][i] for o < outer,
  // i < batch, each operand's matrices stride_x apart within a group and outer_x apart between
  // groups (attention's (B, H) products on views of a packed qkv or a merged-head buffer, where
  // the two dims do not collapse to one stride). dtype as gemm's; with c_bf16 (BF16 products,
  // beta 0) C is stored in BF16, the F32 sums rounded as stored (the gradient of a BF16 packed
  // qkv). False when the backend has no such form: the caller then calls gemm once per group
  // (into an F32 C it rounds itself, for c_bf16).
  virtual bool gemm_batch2(DType /*dtype*/, bool /*trans_a*/, bool /*trans_b*/, int64_t /*m*/, int64_t /*n*/,
                           int64_t /*k*/, double /*alpha*/, const void* /*a*/, int64_t /*lda*/,
                           int64_t /*stride_a*/, int64_t /*outer_a*/, const void* /*b*/, int64_t /*ldb*/,
                           int64_t /*stride_b*/, int64_t /*outer_b*/, double /*beta*/, void* /*c*/,
                           bool /*c_bf16*/, int64_t /*ldc*/, int64_t /*stride_c*/, int64_t /*outer_c*/,
                           int64_t /*batch*/, int64_t /*outer*/) {
    return false;
  }

  // ---- softmax over the last dim (rows of length x.size(-1)) ----
  // Both may run in place (y the same tensor as x, gx as gy): attention relies on it. For
  // attention's BF16 products, y (forward) or gx (backward) may be BF16 with F32 inputs
  // (softmax, not log): each row computed in F32 and rounded as it is stored; the backward
  // may also read a BF16 y (attention's P, kept in BF16).
  virtual void softmax(const Tensor& x, Tensor& y, bool log) = 0;
  virtual void softmax_backward(const Tensor& y, const Tensor& gy, Tensor& gx, bool log) = 0;

  // ---- layer norm over the last dim; mean/rstd: (rows) F32/F64 like x ----
  // w, b may be undefined (no affine).
  virtual void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps,
                          Tensor& y, Tensor& mean, Tensor& rstd) = 0;
  // gx, gw, gb may be undefined (not needed); gw/gb are overwritten, not accumulated.
  virtual void layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& mean,
                                   const Tensor& rstd, const Tensor& gy, Tensor& gx, Tensor& gw,
                                   Tensor& gb) = 0;

  // ---- convolution helpers ----
  // x (N=1 slice) (C,H,W) -> col (C*kh*kw, oh*ow); col2im adds col back into gx (C,H,W).
  virtual void im2col(const Tensor& x, const Conv2dGeom& g, Tensor& col) = 0;
  virtual void col2im(const Tensor& col, const Conv2dGeom& g, Tensor& gx) = 0;
  // Depthwise conv (groups == C, one filter per channel). w: (C,1,kh,kw), or (N,C,1,kh,kw)
  // when per_sample. y: (N,C,oh,ow). Backward kernels overwrite gx / gw.
  virtual void depthwise_conv2d(const Tensor& x, const Tensor& w, const Conv2dGeom& g,
                                bool per_sample, Tensor& y) = 0;
  virtual void depthwise_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy,
                                         const Conv2dGeom& g, bool per_sample, Tensor& gx,
                                         Tensor& gw) = 0;

  // ---- pooling and resampling (NCHW) ----
  virtual void avg_pool2d(const Tensor& x, const Conv2dGeom& g, bool count_include_pad,
                          Tensor& y) = 0;
  virtual void avg_pool2d_backward(const Tensor& gy, const Conv2dGeom& g,
                                   bool count_include_pad, Tensor& gx) = 0;
  virtual void adaptive_avg_pool2d(const Tensor& x, Tensor& y) = 0;
  virtual void adaptive_avg_pool2d_backward(const Tensor& gy, Tensor& gx) = 0;
  // mode: 0 bilinear, 1 bicubic (a = -0.75, as torch)
  virtual void interpolate(const Tensor& x, Tensor& y, int mode, bool align_corners) = 0;
  virtual void interpolate_backward(const Tensor& gy, Tensor& gx, int mode,
                                    bool align_corners) = 0;
  // RoIAlign (engine/roi_align_math.h): x (N, C, H, W), rois (K, 5) in x's dtype -> y (K, C, oh, ow);
  // the backward zeroes gx (N, C, H, W) itself.
  virtual void roi_align(const Tensor& x, const Tensor& rois, const RoiAlignGeom& g, Tensor& y) = 0;
  virtual void roi_align_backward(const Tensor& gy, const Tensor& rois, const RoiAlignGeom& g,
                                  Tensor& gx) = 0;

  // ---- indexing along one dim: tensors viewed as (outer, size_dim, inner) ----
  // out[o, i, n] = x[o, idx[i], n]          (idx: I64, length = out's dim size)
  virtual void index_select(const Tensor& x, int64_t dim, const Tensor& idx, Tensor& out) = 0;
  // out[o, idx[i], n] += src[o, i, n]
  virtual void index_add(Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) = 0;
  // torch.gather / scatter_add: idx has src's/out's shape
  virtual void gather(const Tensor& x, int64_t dim, const Tensor& idx, Tensor& out) = 0;
  virtual void scatter_add(Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) = 0;

  // ---- random (Philox4x32-10; element i uses counter offset + i, so CPU and GPU agree) ----
  virtual void random_uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo,
                              double hi) = 0;
  virtual void random_normal(Tensor& out, uint64_t seed, uint64_t offset, double mean,
                             double std) = 0;

  // ---- optimizer: one fused AdamW step over a parameter (decoupled weight decay) ----
  virtual void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, double lr,
                          double beta1, double beta2, double eps, double weight_decay,
                          int64_t step) = 0;
};

Backend& backend_for(Device device);
inline Backend& backend_for(const Tensor& t) { return backend_for(t.device()); }
// Registration (the CUDA backend registers itself when it is built in).
void register_backend(Device::Type type, Backend* backend);
bool backend_available(Device::Type type);

}  // namespace vt
