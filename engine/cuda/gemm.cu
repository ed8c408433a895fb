// gemm.cu — batched row-major GEMM on the GPU through cublasGemmStridedBatchedEx.
//
// cuBLAS is column-major. A row-major matrix with leading dim ld is, read column-major, its own
// transpose with the same ld. So the row-major product
//     C (m×n) = op(A) (m×k) · op(B) (k×n)
// is computed as the column-major product
//     Cᵀ (n×m) = op(B)ᵀ (n×k) · op(A)ᵀ (k×m)
// by passing B first and A second with the same transpose flags and swapped m/n: no copies.
// Batch strides may be 0 (an operand shared by every batch entry).
//
// Precision: BF16 (mixed: BF16 A and B, F32 C) uses CUBLAS_COMPUTE_32F on the tensor cores;
// F32 uses CUBLAS_COMPUTE_32F (full FP32, the default) or, when
// vt::cuda::set_allow_tf32(true) was called, CUBLAS_COMPUTE_32F_FAST_TF32 (tensor cores);
// F64 uses CUBLAS_COMPUTE_64F. Results differ from the CPU's Eigen GEMM only in summation
// order (about 1e-6 relative in F32 without TF32, about 1e-3 with it).
#include <climits>

#include "engine/cuda/cuda_common.cuh"

namespace vt::cuda {

namespace {

// C[b] = beta · C[b] for k == 0 (op(A)·op(B) is then an empty sum). beta == 0 writes zeros
// without reading C, which may hold garbage (NaN) in a fresh buffer.
template <typename T>
__global__ void scale_c_kernel(T* c, int64_t m, int64_t n, int64_t ldc, int64_t stride_c,
                               int64_t batch, T beta) {
  const int64_t total = batch * m * n;
  GRID_STRIDE_LOOP(i, total) {
    const int64_t b = i / (m * n), r = (i / n) % m, col = i % n;
    T* p = c + b * stride_c + r * ldc + col;
    *p = beta == T(0) ? T(0) : beta * *p;
  }
}

int to_int(int64_t v, const char* what, int64_t m, int64_t n, int64_t k, int64_t batch) {
  if (v < 0 || v > INT_MAX)
    throw Error(std::string("gemm: ") + what + " = " + std::to_string(v) +
                " does not fit cuBLAS's int (m " + std::to_string(m) + ", n " + std::to_string(n) +
                ", k " + std::to_string(k) + ", batch " + std::to_string(batch) + ")");
  return (int)v;
}

// cuBLAS requires ld >= rows of the column-major matrix even when the other dim is 1 and ld
// is never used; the op layer may pass a smaller ld in that degenerate case, so lift it.
int64_t fix_ld(int64_t ld, int64_t cm_rows, int64_t cm_cols) {
  if (cm_cols <= 1 && ld < cm_rows) return cm_rows < 1 ? 1 : cm_rows;
  return ld < 1 ? 1 : ld;
}

}  // namespace

void CudaBackend::gemm(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                       double alpha, const void* a, int64_t lda, int64_t stride_a, const void* b,
                       int64_t ldb, int64_t stride_b, double beta, void* c, int64_t ldc,
                       int64_t stride_c, int64_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  activate();
  if (k == 0) {
    dispatch_float(dtype == DType::BF16 ? DType::F32 : dtype, "gemm", [&](auto tag) {  // C is F32 for BF16
      using T = typename decltype(tag)::type;
      VT_LAUNCH("gemm_scale_c", scale_c_kernel<T>, grid_for(batch * m * n), kThreads, 0, stream_,
                static_cast<T*>(c), m, n, ldc, stride_c, batch, (T)beta);
    });
    return;
  }
  // Column-major view: first operand op(B)ᵀ is n×k, stored (k×n) when transposed, (n×k) else.
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  ldb = trans_b ? fix_ld(ldb, k, n) : fix_ld(ldb, n, k);
  lda = trans_a ? fix_ld(lda, m, k) : fix_ld(lda, k, m);
  ldc = fix_ld(ldc, n, m);
  const int im = to_int(m, "m", m, n, k, batch), in = to_int(n, "n", m, n, k, batch),
            ik = to_int(k, "k", m, n, k, batch), ib = to_int(batch, "batch", m, n, k, batch);
  const int ilda = to_int(lda, "lda", m, n, k, batch), ildb = to_int(ldb, "ldb", m, n, k, batch),
            ildc = to_int(ldc, "ldc", m, n, k, batch);
  cublasStatus_t st;
  switch (dtype) {
    case DType::F32: {
      const float al = (float)alpha, be = (float)beta;
      const cublasComputeType_t compute =
          allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      st = cublasGemmStridedBatchedEx(cublas_, op_b, op_a, in, im, ik, &al, b, CUDA_R_32F, ildb,
                                      stride_b, a, CUDA_R_32F, ilda, stride_a, &be, c, CUDA_R_32F,
                                      ildc, stride_c, ib, compute, CUBLAS_GEMM_DEFAULT);
      break;
    }
    case DType::F64: {
      const double al = alpha, be = beta;
      st = cublasGemmStridedBatchedEx(cublas_, op_b, op_a, in, im, ik, &al, b, CUDA_R_64F, ildb,
                                      stride_b, a, CUDA_R_64F, ilda, stride_a, &be, c, CUDA_R_64F,
                                      ildc, stride_c, ib, CUBLAS_COMPUTE_64F,
                                      CUBLAS_GEMM_DEFAULT);
      break;
    }
    case DType::BF16: {  // mixed precision: BF16 A and B, F32 C, F32 sums (engine/backend.h)
      const float al = (float)alpha, be = (float)beta;
      st = cublasGemmStridedBatchedEx(cublas_, op_b, op_a, in, im, ik, &al, b, CUDA_R_16BF, ildb,
                                      stride_b, a, CUDA_R_16BF, ilda, stride_a, &be, c, CUDA_R_32F,
                                      ildc, stride_c, ib, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
      break;
    }
    default:
      throw Error(std::string("gemm: unsupported dtype ") + dtype_name(dtype) + " on cuda");
  }
  if (st != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("CUDA error in cublasGemmStridedBatchedEx: ") + cublas_status_name(st) +
                " (row-major " + dtype_name(dtype) + " C = op(A)·op(B) with trans_a " +
                std::to_string(trans_a) + ", trans_b " + std::to_string(trans_b) + ", m " +
                std::to_string(m) + ", n " + std::to_string(n) + ", k " + std::to_string(k) +
                ", lda " + std::to_string(lda) + ", ldb " + std::to_string(ldb) + ", ldc " +
                std::to_string(ldc) + ", strides " + std::to_string(stride_a) + "/" +
                std::to_string(stride_b) + "/" + std::to_string(stride_c) + ", batch " +
                std::to_string(batch) + ")");
  if (sync_after_kernels()) VT_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace vt::cuda
