// gemm_onednn.cpp — GEMMs through oneDNN's matmul on the CPU (Debian's libdnnl-dev; the
// library PyTorch's CPU paths use), F32 and mixed precision:
//   F32    C = alpha·op(A)·op(B) + beta·C, all F32 (gemm.cpp tries this first: oneDNN's F32
//          kernels beat Eigen's on the skinny and batched shapes of a ViT step)
//   BF16   C (F32) = alpha·op(A)·op(B) + beta·C with A and B in BF16 and every sum in F32
//          (engine/backend.h, gemm with DType::BF16): AVX-512 BF16 instructions where the CPU
//          has them, oneDNN's own emulation on other AVX-512 CPUs
//   bias   either, C = op(A)·op(B) + bias with linear's bias as the matmul's bias argument
//          (Backend::gemm_bias): C is written once, not first filled with the bias and then read;
//          C may be BF16 there (the sums F32, rounded as stored: linear_bf16_out), and in batch2
//   add    either, C = alpha·(op(A)·op(B) + bias) + base with base read by a binary post-op:
//          add_linear's low-rank update (LoRA's B) or bottleneck (AdaptFormer's, Convpass's up)
//          added to the output it joins without copying that into C first
//   batch2 either, over two batch dims with their own strides (attention's heads within images
//          on a packed or merged-head buffer: Backend::gemm_batch2), one 4-D matmul
// Each product is one matmul primitive over the whole batch, made once per shape and kept (a
// training step has a few dozen shapes). Without oneDNN, or where it has no implementation for
// this CPU, F32 products go to Eigen (gemm.cpp), and BF16 ones are widened to F32 first: the
// same result up to the order of the sums, at F32 speed.
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/bf16.h"
#include "engine/cpu/cpu_backend.h"

#ifdef VT_WITH_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace vt {

namespace {

// Elements an operand spans: op(X) is rows × cols, stored row-major with leading dim ld
// (transposed: stored cols × rows), `batch` of them `stride` apart.
int64_t extent(bool trans, int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t batch) {
  if (rows == 0 || cols == 0) return 0;
  const int64_t one = trans ? (cols - 1) * ld + rows : (rows - 1) * ld + cols;
  return (batch - 1) * stride + one;
}

#ifdef VT_WITH_DNNL
struct Key {
  bool bf16;  // A and B in BF16, else F32
  bool ta, tb;
  bool bias;  // a row of n F32 values added to every row of A·B (before alpha; with beta 0)
  bool c_bf16;  // C stored in BF16 (beta 0)
  int64_t m, n, k, lda, sa, ldb, sb, ldc, sc, batch;
  float alpha, beta;
  int64_t outer = 1, oa = 0, ob = 0, oc = 0;  // a second (outer) batch dim, and its strides
  bool add_base = false;                      // C = alpha·A·B + base (a binary post-op)
  bool operator==(const Key& o) const {
    return add_base == o.add_base && outer == o.outer && oa == o.oa && ob == o.ob && oc == o.oc && bf16 == o.bf16 && ta == o.ta && tb == o.tb && bias == o.bias && c_bf16 == o.c_bf16 && m == o.m && n == o.n && k == o.k && lda == o.lda &&
           sa == o.sa && ldb == o.ldb && sb == o.sb && ldc == o.ldc && sc == o.sc &&
           batch == o.batch && alpha == o.alpha && beta == o.beta;
  }
};
struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = (size_t)k.add_base * 32 + (size_t)k.c_bf16 * 16 + (size_t)k.bias * 8 + (size_t)k.bf16 * 4 + (size_t)k.ta * 2 + k.tb;
    for (int64_t v : {k.m, k.n, k.k, k.lda, k.sa, k.ldb, k.sb, k.ldc, k.sc, k.batch, k.outer, k.oa, k.ob, k.oc})
      h = h * 1000003u ^ (size_t)v;
    float f[2] = {k.alpha, k.beta};
    uint64_t bits;
    std::memcpy(&bits, f, 8);
    return h * 1000003u ^ (size_t)bits;
  }
};
struct Prim {
  dnnl::matmul matmul;
  dnnl::memory::desc a, b, c, bias;
};

// (batch, rows, cols) with element strides, or (outer, batch, rows, cols) when there is an
// outer batch dim; a batch stride of 0 is a broadcast batch dim of 1.
dnnl::memory::desc desc(bool trans, int64_t batch, int64_t rows, int64_t cols, int64_t ld,
                        int64_t stride, dnnl::memory::data_type dt, int64_t outer = 1,
                        int64_t outer_stride = 0) {
  using dims = dnnl::memory::dims;
  const bool bcast = stride == 0 || batch == 1;
  dims d = {bcast ? 1 : batch, rows, cols};
  dims s = {bcast ? rows * cols : stride, trans ? 1 : ld, trans ? ld : 1};
  if (outer > 1) {
    const bool obcast = outer_stride == 0;
    d.insert(d.begin(), obcast ? 1 : outer);
    s.insert(s.begin(), obcast ? d[1] * s[0] : outer_stride);
  }
  return dnnl::memory::desc(d, dt, s);
}

struct Dnnl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::mutex mu;
  std::unordered_map<Key, Prim, KeyHash> prims;
  std::unordered_map<Key, bool, KeyHash> unsupported;
};

Dnnl& dnnl_state() {
  static Dnnl d;
  return d;
}

// False when oneDNN has no implementation for this product on this CPU.
bool dnnl_gemm(const Key& key, const void* a, const void* b, void* c, const float* bias = nullptr,
               const float* base = nullptr) {
  Dnnl& d = dnnl_state();
  Prim prim;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.unsupported.count(key)) return false;
    auto it = d.prims.find(key);
    if (it == d.prims.end()) {
      using dt = dnnl::memory::data_type;
      Prim p;
      const dt in = key.bf16 ? dt::bf16 : dt::f32;
      p.a = desc(key.ta, key.batch, key.m, key.k, key.lda, key.sa, in, key.outer, key.oa);
      p.b = desc(key.tb, key.batch, key.k, key.n, key.ldb, key.sb, in, key.outer, key.ob);
      p.c = desc(false, key.batch, key.m, key.n, key.ldc, key.sc, key.c_bf16 ? dt::bf16 : dt::f32,
                 key.outer, key.oc);
      if (key.bias) p.bias = desc(false, 1, 1, key.n, key.n, 0, dt::f32);  // (1, 1, n): every row
      dnnl::primitive_attr attr;
      if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
      if (key.beta != 0.0f || key.add_base) {
        dnnl::post_ops po;
        if (key.beta != 0.0f) po.append_sum(key.beta);
        if (key.add_base) po.append_binary(dnnl::algorithm::binary_add, p.c);  // + base, C's layout
        attr.set_post_ops(po);
      }
      try {
        const auto md = key.bias ? dnnl::matmul::desc(p.a, p.b, p.bias, p.c) : dnnl::matmul::desc(p.a, p.b, p.c);
        p.matmul = dnnl::matmul(dnnl::matmul::primitive_desc(md, attr, d.engine));
      } catch (const dnnl::error&) {
        d.unsupported[key] = true;
        return false;
      }
      it = d.prims.emplace(key, p).first;
    }
    prim = it->second;
  }
  dnnl::stream s(d.engine);
  dnnl::memory A(prim.a, d.engine, const_cast<void*>(a));
  dnnl::memory B(prim.b, d.engine, const_cast<void*>(b));
  dnnl::memory C(prim.c, d.engine, c);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_DST, C}};
  if (key.bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(prim.bias, d.engine, const_cast<float*>(bias)));
  if (key.add_base)
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                 dnnl::memory(prim.c, d.engine, const_cast<float*>(base)));
  prim.matmul.execute(s, args);
  s.wait();
  return true;
}
#endif

}  // namespace

bool CpuBackend::gemm_f32_onednn(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                                 const float* a, int64_t lda, int64_t sa, const float* b, int64_t ldb,
                                 int64_t sb, double beta, float* c, int64_t ldc, int64_t sc, int64_t batch) {
#ifdef VT_WITH_DNNL
  return k > 0 && dnnl_gemm({false, ta, tb, false, false, m, n, k, lda, sa, ldb, sb, ldc, sc, batch, (float)alpha, (float)beta},
                            a, b, c);
#else
  return false;
#endif
}

bool CpuBackend::gemm_bias(DType dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void* a,
                           int64_t lda, const void* b, int64_t ldb, const float* bias, void* c, bool c_bf16,
                           int64_t ldc) {
#ifdef VT_WITH_DNNL
  if ((dtype != DType::F32 && dtype != DType::BF16) || m == 0 || n == 0 || k == 0) return false;
  return dnnl_gemm({dtype == DType::BF16, ta, tb, bias != nullptr, c_bf16, m, n, k, lda, 0, ldb, 0, ldc, 0, 1,
                    1.0f, 0.0f},
                   a, b, c, bias);
#else
  return false;
#endif
}

bool CpuBackend::gemm_add(DType dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                          const void* a, int64_t lda, const void* b, int64_t ldb, const float* bias,
                          const float* base, float* c, int64_t ldc) {
#ifdef VT_WITH_DNNL
  if ((dtype != DType::F32 && dtype != DType::BF16) || m == 0 || n == 0 || k == 0) return false;
  // oneDNN: C = output scale · (A·B + bias) + the binary post-op's base
  Key key{dtype == DType::BF16, ta, tb, bias != nullptr, false, m, n, k, lda, 0, ldb, 0, ldc, 0, 1, (float)alpha, 0.0f};
  key.add_base = true;
  return dnnl_gemm(key, a, b, c, bias, base);
#else
  return false;
#endif
}

bool CpuBackend::gemm_batch2(DType dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                             const void* a, int64_t lda, int64_t sa, int64_t oa, const void* b, int64_t ldb,
                             int64_t sb, int64_t ob, double beta, void* c, bool c_bf16, int64_t ldc,
                             int64_t sc, int64_t oc, int64_t batch, int64_t outer) {
#ifdef VT_WITH_DNNL
  // The output's outer stride must not be 0 (a broadcast C would be written by every group).
  if ((dtype != DType::F32 && dtype != DType::BF16) || m == 0 || n == 0 || k == 0 || batch == 0 ||
      outer < 2 || oc == 0 || (c_bf16 && (dtype != DType::BF16 || beta != 0.0)))
    return false;
  Key key{dtype == DType::BF16, ta, tb, false, c_bf16, m, n, k, lda, sa, ldb, sb, ldc, sc, batch,
          (float)alpha, (float)beta};
  key.outer = outer, key.oa = oa, key.ob = ob, key.oc = oc;
  return dnnl_gemm(key, a, b, c);
#else
  return false;
#endif
}

void CpuBackend::gemm_bf16(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                           const uint16_t* a, int64_t lda, int64_t sa, const uint16_t* b,
                           int64_t ldb, int64_t sb, double beta, float* c, int64_t ldc, int64_t sc,
                           int64_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
#ifdef VT_WITH_DNNL
  if (k > 0 && dnnl_gemm({true, ta, tb, false, false, m, n, k, lda, sa, ldb, sb, ldc, sc, batch, (float)alpha, (float)beta},
                         a, b, c))
    return;
#endif
  // Widen A and B to F32 (the whole span, gaps included) and let Eigen multiply.
  std::vector<float> af(extent(ta, m, k, lda, sa, batch)), bf(extent(tb, k, n, ldb, sb, batch));
  bf16_to_float_n(a, af.data(), (int64_t)af.size());
  bf16_to_float_n(b, bf.data(), (int64_t)bf.size());
  gemm(DType::F32, ta, tb, m, n, k, alpha, af.data(), lda, sa, bf.data(), ldb, sb, beta, c, ldc, sc, batch);
}

}  // namespace vt
