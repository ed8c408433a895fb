// gemm.cpp — batched row-major GEMM on the CPU: F32 through oneDNN where the build has it
// (gemm_onednn.cpp), otherwise (and F64 always) through Eigen (no per-element loops).
//
// Each batch entry maps A, B, C as Eigen matrices with outer strides lda/ldb/ldc; a transposed
// operand is the same memory mapped column-major, so no copy is made. With one large matrix
// Eigen parallelises the product itself (OpenMP); with many small ones we parallelise over the
// batch and Eigen runs single-threaded inside (it detects the enclosing parallel region).
#include <algorithm>

#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/cpu/cpu_backend.h"

namespace vt {

namespace {

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using OStride = Eigen::OuterStride<>;

// While alive (and `on`), OpenMP regions started by this thread (Eigen's) use one thread.
struct SingleThreadScope {
  int saved = 0;
  bool on;
  explicit SingleThreadScope(bool on_) : on(on_) {
#ifdef _OPENMP
    if (on) saved = omp_get_max_threads(), omp_set_num_threads(1);
#endif
  }
  ~SingleThreadScope() {
#ifdef _OPENMP
    if (on) omp_set_num_threads(saved);
#endif
  }
};

// op(A) as an (rows × cols) expression over row-major memory with leading dim ld.
template <typename T, typename F>
void with_operand(const T* p, bool trans, int64_t rows, int64_t cols, int64_t ld, F&& f) {
  if (!trans) {
    f(Eigen::Map<const RowMat<T>, 0, OStride>(p, rows, cols, OStride(ld)));
  } else {  // stored as (cols × rows) row-major == (rows × cols) column-major
    f(Eigen::Map<const ColMat<T>, 0, OStride>(p, rows, cols, OStride(ld)));
  }
}

template <typename T>
void gemm_one(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
              int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  Eigen::Map<RowMat<T>, 0, OStride> C(c, m, n, OStride(ldc));
  if (k == 0) {
    if (beta == T(0)) C.setZero(); else C *= beta;
    return;
  }
  with_operand(a, ta, m, k, lda, [&](const auto& A) {
    with_operand(b, tb, k, n, ldb, [&](const auto& B) {
      if (beta == T(0)) {
        C.noalias() = alpha * (A * B);
      } else {
        if (beta != T(1)) C *= beta;
        C.noalias() += alpha * (A * B);
      }
    });
  });
}

}  // namespace

void CpuBackend::gemm(DType dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                      double alpha, const void* a, int64_t lda, int64_t sa, const void* b,
                      int64_t ldb, int64_t sb, double beta, void* c, int64_t ldc, int64_t sc,
                      int64_t batch) {
  if (dtype == DType::BF16)
    return gemm_bf16(ta, tb, m, n, k, alpha, static_cast<const uint16_t*>(a), lda, sa,
                     static_cast<const uint16_t*>(b), ldb, sb, beta, static_cast<float*>(c), ldc, sc, batch);
  if (dtype == DType::F32 && m > 0 && n > 0 && batch > 0 &&
      gemm_f32_onednn(ta, tb, m, n, k, alpha, static_cast<const float*>(a), lda, sa,
                      static_cast<const float*>(b), ldb, sb, beta, static_cast<float*>(c), ldc, sc, batch))
    return;  // oneDNN (gemm_onednn.cpp); Eigen below without it, and for F64
  dispatch_float(dtype, "gemm", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    const scalar_t* A = static_cast<const scalar_t*>(a);
    const scalar_t* B = static_cast<const scalar_t*>(b);
    scalar_t* C = static_cast<scalar_t*>(c);
    const int64_t work = m * n * k;
    // Many products (attention heads, windows): one thread per product — but only when the
    // whole batch is worth a parallel region (starting one costs more than a tiny batch), and
    // not for products big enough that Eigen splits each one well (over 256³ multiply-adds).
    // ViT-S's per-head QKᵀ (197·197·64) used to miss the old 128³ bound and then ran
    // single-threaded below (as a `small` product): every attention GEMM on one core.
    const bool parallel_batch = batch > 1 && work < ((int64_t)1 << 24) &&
                                batch * work > ((int64_t)1 << 18);
    auto one = [&](int64_t i) {
      gemm_one<scalar_t>(ta, tb, m, n, k, (scalar_t)alpha, A + i * sa, lda, B + i * sb, ldb,
                         (scalar_t)beta, C + i * sc, ldc);
    };
    if (parallel_batch) {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < batch; ++i) one(i);
      return;
    }
    // Not inside a parallel region of our own, not even an inactive one (`parallel if(false)`):
    // Eigen's region would then be a nested one, and libgomp starts fresh threads for every
    // nested team instead of reusing its pool (thousands of thread creations per step).
    // Eigen would split even a small product across threads (its task size is 50k
    // multiply-adds), and the barrier then costs more than the math: small GEMMs run on the
    // calling thread only (omp_set_num_threads is per thread).
    const bool small = work < ((int64_t)1 << 22);
    if (!small && beta == 0.0) {
      // Eigen's `C = A·B` zero-fills C on the calling thread before accumulating into it; on
      // 2 cores that serial memset was 1.8 % of a ViT-S training step. Zero all rows in
      // parallel here and accumulate (beta = 1).
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < batch * m; ++r)
        std::fill_n(C + (r / m) * sc + (r % m) * ldc, n, scalar_t(0));
      beta = 1.0;
    }
    SingleThreadScope single(small);
    for (int64_t i = 0; i < batch; ++i) one(i);
  });
}

}  // namespace vt
