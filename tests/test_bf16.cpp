// test_bf16.cpp — mixed precision (engine/bf16.h, nn/precision.h): conversion against torch's,
// the BF16 GEMM against an F64 reference, linear's BF16 path against its F32 path, adapter
// gradients through a BF16 frozen backbone, and a 50-step training curve against F32.
#include <cmath>

#include "engine/backend.h"
#include "engine/bf16.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "nn/model_zoo.h"
#include "nn/precision.h"
#include "peft/method.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

TEST_CASE("bf16: conversion rounds to nearest even, keeps Inf and NaN, as torch", "[bf16]") {
  Fixture fx("bf16.safetensors");
  const Tensor x = fx.get("f32"), want = fx.get("bf16");
  REQUIRE(want.dtype() == DType::BF16);
  const int64_t n = x.numel();
  const float* xp = x.data<float>();
  const uint16_t* wp = static_cast<const uint16_t*>(want.raw());
  // The scalar conversion, the vectorised bulk one (Tensor::to on a contiguous tensor) and the
  // strided copy (a transposed view) all agree with torch, bit for bit (NaN: any NaN).
  const Tensor bulk = x.to(DType::BF16);
  const Tensor strided = x.reshape({n / 32, 32}).transpose(0, 1).to(DType::BF16).transpose(0, 1).contiguous();
  const uint16_t* bp = static_cast<const uint16_t*>(bulk.raw());
  const uint16_t* sp = static_cast<const uint16_t*>(strided.raw());
  for (int64_t i = 0; i < n; ++i) {
    INFO("f32 bits 0x" << std::hex << bits_of(xp[i]) << ", torch 0x" << wp[i]);
    const uint16_t s = float_to_bf16(xp[i]);
    if (std::isnan(xp[i])) {
      CHECK(std::isnan(bf16_to_float(s)));
      CHECK(((s >> 15) == (bits_of(xp[i]) >> 31)));  // we keep the sign (torch's NaN is positive)
    } else {
      CHECK(s == wp[i]);
    }
    CHECK(bp[i] == s);
    CHECK(sp[i] == s);
  }
  // The cases by name.
  CHECK(float_to_bf16(float_of(0x3F808000)) == 0x3F80);  // tie, rounds down to even
  CHECK(float_to_bf16(float_of(0x3F818000)) == 0x3F82);  // tie, rounds up to even
  CHECK(float_to_bf16(float_of(0x00018000)) == 0x0002);  // a subnormal tie
  CHECK(float_to_bf16(float_of(0x00010000)) == 0x0001);  // the smallest BF16 subnormal
  CHECK(float_to_bf16(float_of(0x7F7FFFFF)) == 0x7F80);  // past the largest BF16: +Inf
  CHECK(float_to_bf16(float_of(0xFF800000)) == 0xFF80);  // -Inf
  CHECK(float_to_bf16(float_of(0x7F800001)) == 0x7FC0);  // a signalling NaN becomes quiet
  // Back to F32 is exact.
  for (uint32_t h : {0x0001u, 0x3F80u, 0xC2F7u, 0x7F7Fu, 0xFF80u})
    CHECK(float_to_bf16(bf16_to_float((uint16_t)h)) == h);
  const Tensor back = bulk.to(DType::F32);
  for (int64_t i = 0; i < n; ++i)
    if (!std::isnan(xp[i])) CHECK(back.data<float>()[i] == bf16_to_float(bp[i]));
}

TEST_CASE("bf16: GEMM against an F64 reference within the F32-accumulation bound", "[bf16][gemm]") {
  // A, B hold BF16 values; C = alpha·op(A)·op(B) + beta·C is computed in F64 from the same
  // values. The only error left is F32 summation: |err| ≤ 2·k·2⁻²⁴·(|alpha|·Σ|a||b| + |beta·c|).
  struct Case { bool ta, tb; int64_t m, n, k, batch; bool bcast_a, bcast_b; double alpha, beta; };
  for (Case c : {Case{false, true, 37, 29, 64, 1, false, false, 1.0, 0.0},
                 Case{false, false, 64, 48, 33, 1, false, false, 0.5, 1.0},
                 Case{true, false, 17, 40, 70, 3, false, false, 1.0, 0.0},
                 Case{true, true, 8, 9, 300, 4, false, true, -2.0, 0.5},
                 Case{false, true, 197, 64, 64, 6, false, false, 1.0, 0.0},
                 Case{false, false, 5, 7, 11, 3, true, false, 1.0, 0.0}}) {
    INFO("ta " << c.ta << " tb " << c.tb << " m " << c.m << " n " << c.n << " k " << c.k << " batch " << c.batch);
    const Shape sa = c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, sb = c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n};
    const int64_t ba = c.bcast_a ? 1 : c.batch, bb = c.bcast_b ? 1 : c.batch;
    Tensor a = bf16_exact({ba, sa[0], sa[1]}, 1), b = bf16_exact({bb, sb[0], sb[1]}, 2);
    Tensor c0 = rand_tensor({c.batch, c.m, c.n}, 3, DType::F32);
    Tensor a16 = a.to(DType::BF16), b16 = b.to(DType::BF16), out = c0.clone();
    backend_for(a).gemm(DType::BF16, c.ta, c.tb, c.m, c.n, c.k, c.alpha, a16.raw(), sa[1],
                        c.bcast_a ? 0 : sa[0] * sa[1], b16.raw(), sb[1], c.bcast_b ? 0 : sb[0] * sb[1],
                        c.beta, out.data<float>(), c.n, c.m * c.n, c.batch);
    // The reference in F64, and the bound.
    Tensor A = a.to(DType::F64), B = b.to(DType::F64);
    if (c.ta) A = A.transpose(1, 2);
    if (c.tb) B = B.transpose(1, 2);
    Tensor C0 = c0.to(DType::F64);
    Tensor want = add(mul(matmul(A, B), c.alpha), mul(C0, c.beta));
    Tensor mag = add(mul(matmul(abs(A), abs(B)), std::abs(c.alpha)), mul(abs(C0), std::abs(c.beta)));
    Tensor bound = add(mul(mag, 2.0 * c.k * std::ldexp(1.0, -24)), 1e-30);
    require_within(out, want, bound, "bf16 gemm");
  }
}

TEST_CASE("gemm_batch2: two batch dims with their own strides equal one gemm per group", "[bf16][gemm]") {
  // C[o][i] = alpha·op(A[o][i])·op(B[o][i]) + beta·C[o][i] on attention's layouts: A the q of a
  // (nb, N, 3, nh, Dh) packed buffer (heads Dh apart, images N·3·nh·Dh apart), C a merged-head
  // (nb, M, nh, n) buffer, B contiguous or broadcast over the outer dim. F32 and BF16 products,
  // and BF16 products stored in BF16 (c16: the gradient of a BF16 packed qkv).
  const int64_t nb = 3, nh = 4, n_tok = 19, dh = 8, n = 5;
  struct Case { DType dt; bool ta, tb, bcast_b; double alpha, beta; bool c16 = false; };
  for (Case c : {Case{DType::F32, false, true, false, 0.5, 0.0}, Case{DType::F32, true, false, true, 1.0, 1.0},
                 Case{DType::BF16, false, false, false, 1.0, 0.0}, Case{DType::BF16, true, true, false, -2.0, 0.5},
                 Case{DType::BF16, true, false, false, 0.25, 0.0, true}}) {
    INFO(dtype_name(c.dt) << " ta " << c.ta << " tb " << c.tb << " bcast_b " << c.bcast_b << " c16 " << c.c16);
    const int64_t M = c.ta ? dh : n_tok, K = c.ta ? n_tok : dh;  // op(A): (M, K), op(B): (K, n)
    Tensor packed = bf16_exact({nb, n_tok, 3, nh, dh}, 5).to(c.dt);
    Tensor bmat = bf16_exact({c.bcast_b ? 1 : nb, nh, c.tb ? n : K, c.tb ? K : n}, 6).to(c.dt);
    Tensor got = rand_tensor({nb, M, nh, n}, 7, DType::F32).to(c.c16 ? DType::BF16 : DType::F32),
           want = rand_tensor({nb, M, nh, n}, 7, DType::F32);
    const size_t es = dtype_size(c.dt);
    const int64_t lda = 3 * nh * dh, sa = dh, oa = n_tok * 3 * nh * dh;
    const int64_t ldb = bmat.size(3), sb = bmat.size(2) * bmat.size(3), ob = c.bcast_b ? 0 : nh * sb;
    const int64_t ldc = nh * n, sc = n, oc = M * nh * n;
    Backend& be = backend_for(packed);
    const bool handled = be.gemm_batch2(c.dt, c.ta, c.tb, M, n, K, c.alpha, packed.raw(), lda, sa, oa, bmat.raw(),
                                        ldb, sb, ob, c.beta, got.raw(), c.c16, ldc, sc, oc, nh, nb);
#ifdef VT_TEST_WITH_DNNL
    REQUIRE(handled);  // oneDNN's 4-D matmul takes every one of these
#endif
    if (!handled) continue;  // callers then loop over the groups, which is the reference below
    for (int64_t o = 0; o < nb; ++o)
      be.gemm(c.dt, c.ta, c.tb, M, n, K, c.alpha, static_cast<const char*>(packed.raw()) + o * oa * es, lda, sa,
              static_cast<const char*>(bmat.raw()) + o * ob * es, ldb, sb, c.beta, want.data<float>() + o * oc, ldc,
              sc, nh);
    // The same sums, perhaps in another order: within 1e-5 relative; with c16 the reference's
    // F32 C rounded once (BF16's unit roundoff 2⁻⁸, relative; 1e-6 for the order of the sums).
    const auto g = got.to(DType::F32).to_vector(), w = want.to_vector(),
               c0 = rand_tensor({nb, M, nh, n}, 7, DType::F32).to_vector();
    double worst = 0, moved = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      const double aw = std::abs(w[i]);
      const double r = std::abs(g[i] - w[i]) / (c.c16 ? std::ldexp(aw, -8) + 1e-6 : 1e-5 * (1.0 + aw));
      if (!(r <= worst)) worst = r;
      moved = std::max(moved, std::abs(w[i] - c0[i]));
    }
    INFO("worst difference / bound " << worst);
    REQUIRE(worst <= 1.0);
    REQUIRE(moved > 1e-3);   // and the reference did write C
  }
}

TEST_CASE("gemm_add: C = alpha·(op(A)·op(B) + bias) + base equals base + alpha·bias in C and gemm with beta 1", "[bf16][gemm]") {
  // add_linear's form (engine/ops/matmul.cpp): LoRA's B GEMM added to its host's output, or a
  // bottleneck's up-projection with its bias. F32 and BF16 products, both transposes, a
  // leading dim wider than n, with and without a bias.
  const int64_t m = 37, n = 29, k = 8, ldc = 31;
  struct Case { DType dt; bool ta, tb; double alpha; bool bias; };
  for (Case c : {Case{DType::F32, false, true, 0.7, false}, Case{DType::F32, true, false, 1.0, false},
                 Case{DType::BF16, false, true, -2.0, false}, Case{DType::BF16, true, true, 0.5, false},
                 Case{DType::F32, false, true, 0.1, true}, Case{DType::BF16, true, false, -0.3, true}}) {
    INFO(dtype_name(c.dt) << " ta " << c.ta << " tb " << c.tb << " bias " << c.bias);
    const Tensor a = bf16_exact(c.ta ? Shape{k, m} : Shape{m, k}, 21).to(c.dt);
    const Tensor b = bf16_exact(c.tb ? Shape{n, k} : Shape{k, n}, 22).to(c.dt);
    const Tensor base = rand_tensor({m, ldc}, 23, DType::F32), bias = rand_tensor({n}, 27, DType::F32, 1.0, 3.0);
    Tensor got = Tensor::full({m, ldc}, 7.0), want = base.clone();
    if (c.bias) {  // want = base + alpha·bias in C's columns
      NoGrad ng;
      Tensor cols = want.narrow(1, 0, n);
      backend_for(want).copy(add(cols, mul(bias, c.alpha)), cols);
    }
    Backend& be = backend_for(a);
    const bool handled = be.gemm_add(c.dt, c.ta, c.tb, m, n, k, c.alpha, a.raw(), a.size(1), b.raw(), b.size(1),
                                     c.bias ? bias.data<float>() : nullptr, base.data<float>(), got.data<float>(), ldc);
#ifdef VT_TEST_WITH_DNNL
    REQUIRE(handled);
#endif
    if (!handled) continue;  // add_linear then copies base and calls gemm: the reference below
    be.gemm(c.dt, c.ta, c.tb, m, n, k, c.alpha, a.raw(), a.size(1), 0, b.raw(), b.size(1), 0, 1.0, want.data<float>(),
            ldc, 0, 1);
    const auto g = got.to_vector(), w = want.to_vector();
    double worst = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {  // the columns past n are not C's: untouched (7)
        const double r = std::abs(g[i * ldc + j] - w[i * ldc + j]) / (1.0 + std::abs(w[i * ldc + j]));
        if (!(r <= worst)) worst = r;
      }
    INFO("worst relative difference " << worst);
    CHECK(worst < 1e-5);
    CHECK(g[n] == 7.0);
  }
  // Through the op: add_linear with an F32 and a frozen BF16 weight, a non-contiguous base,
  // with and without a bias.
  const Tensor base = rand_tensor({6, 4, 24}, 24, DType::F32).permute({1, 0, 2}), x = rand_tensor({4, 6, 16}, 25, DType::F32);
  const Tensor w = bf16_exact({24, 16}, 26), bias = rand_tensor({24}, 28, DType::F32);
  for (const Tensor& wt : {w, w.to(DType::BF16)}) {
    NoGrad ng;
    const Tensor got = add_linear(base, x, wt, 0.3), want = add(base, mul(linear(x, wt), 0.3));
    require_within(got, want, add(mul(abs(want), 1e-6), 1e-6), "add_linear");
    const Tensor gotb = add_linear(base, x, wt, 0.3, bias), wantb = add(base, mul(linear(x, wt, bias), 0.3));
    require_within(gotb, wantb, add(mul(abs(wantb), 1e-6), 1e-6), "add_linear with a bias");
  }
}

TEST_CASE("bf16: linear with a frozen BF16 weight against its F32 path", "[bf16][linear]") {
  // y = x Wᵀ + b with W in BF16: x is rounded to BF16 (relative error ≤ 2⁻⁸ per element: BF16
  // keeps 8 significant bits), so |y − y_f32| ≤ 2⁻⁸·Σ|x||w| (+ F32 summation). dX likewise
  // with g rounded.
  const int64_t R = 50, K = 96, N = 40;
  Tensor w32 = bf16_exact({N, K}, 4), bias = rand_tensor({N}, 5, DType::F32);
  Tensor w16 = w32.to(DType::BF16);
  Tensor x = rand_tensor({2, R / 2, K}, 6, DType::F32).set_requires_grad(true);
  Tensor x_ref = x.detach().clone().set_requires_grad(true);
  Tensor y = linear(x, w16, bias), y_ref = linear(x_ref, w32, bias);
  REQUIRE(y.dtype() == DType::F32);
  const double u = std::ldexp(1.0, -8) + 2 * K * std::ldexp(1.0, -24);
  Tensor bound = add(mul(matmul(abs(x.detach()), abs(w32).transpose(0, 1)), u), 1e-30);
  require_within(y, y_ref, bound, "forward");
  Tensor g = rand_tensor(y.shape(), 7, DType::F32);
  sum(mul(y, g)).backward();
  sum(mul(y_ref, g)).backward();
  Tensor gbound = add(mul(matmul(abs(g), abs(w32)), u), 1e-30);
  require_within(x.grad(), x_ref.grad(), gbound, "dX");
  // A trainable weight must stay F32.
  Tensor wt = w16.detach().clone().set_requires_grad(true);
  CHECK_THROWS_WITH(linear(x, wt, bias), Catch::Contains("a BF16 weight [40, 96] must be frozen"));
}

TEST_CASE("bf16: linear_lowrank_bf16 (a frozen BF16 linear + a LoRA in one GEMM) against the F32 ops", "[bf16][linear]") {
  // LoRA on a BF16 qkv (nn/layers.cpp, engine/ops/lowrank.cpp): [x | h]·[W | s·B]ᵀ + b with
  // h = x Aᵀ, stored in BF16, against add_linear(linear(x, W, b), linear(x, A), B, s) in F32.
  // u = 2⁻⁸ is BF16's unit roundoff; write hb = |x||A|ᵀ (so |h| ≤ hb) and gb = |g||B|.
  //   h is made from x and A rounded and is rounded itself:  |Δh| ≤ 3u·hb
  //   y: x, s·B and y rounded:   |Δy| ≤ u·(|x||W|ᵀ + |y|) + s·(|Δh| + u·hb)|B|ᵀ ≤ u·(|x||W|ᵀ + 4s·hb|B|ᵀ + |y|)
  //   the gradients for a BF16-exact g (W is BF16-exact: g W is exact up to the order of sums):
  //   dB = s·gᵀ h:    |ΔdB| ≤ 3u·s·|g|ᵀ hb          dh = s·g B (B rounded):  |Δdh| ≤ u·s·gb
  //   dA = dhᵀ x:     |ΔdA| ≤ 3u·s·gbᵀ |x|          dx = g W + dh A:         |Δdx| ≤ u·s·gb |A|
  // (+ 1e-6 for the F32 sums). The gradient may come in F32 or BF16 (attention's gradient of
  // the packed qkv): the same numbers, as g is BF16-exact.
  const int64_t K = 48, N = 40, r = 4;
  const double s = 0.5, u = std::ldexp(1.0, -8);
  const Tensor w32 = bf16_exact({N, K}, 51), bias = rand_tensor({N}, 52, DType::F32), w16 = w32.to(DType::BF16);
  auto leaf = [](const Tensor& t) { return t.detach().clone().set_requires_grad(true); };
  const Tensor x0 = rand_tensor({2, 7, K}, 53, DType::F32), A0 = rand_tensor({r, K}, 54, DType::F32, -0.3, 0.3),
               B0 = rand_tensor({N, r}, 55, DType::F32, -0.3, 0.3);
  Tensor x = leaf(x0), A = leaf(A0), B = leaf(B0), xr = leaf(x0), Ar = leaf(A0), Br = leaf(B0);
  const Tensor y = linear_lowrank_bf16(x, w16, bias, A, B, s);
  const Tensor yr = add_linear(linear(xr, w32, bias), linear(xr, Ar), Br, s);
  REQUIRE(y.dtype() == DType::BF16);
  REQUIRE(y.shape() == yr.shape());
  const Tensor hb = linear(abs(x0), abs(A0)).reshape({14, r});  // (14, r)
  {
    NoGrad ng;
    const Tensor lr = mul(matmul(hb, abs(B0).transpose(0, 1)), 4 * s).reshape(yr.shape());
    const Tensor bound = add(mul(add(add(linear(abs(x0), abs(w32)), lr), abs(yr)), u), 1e-6);
    require_within(y.to(DType::F32), yr, bound, "forward");
  }
  const Tensor g = bf16_exact(yr.shape(), 56);
  sum(mul(yr, g)).backward();
  std::vector<double> first;
  for (DType gt : {DType::F32, DType::BF16}) {
    INFO("gradient in " << dtype_name(gt));
    for (Tensor* t : {&x, &A, &B}) t->zero_grad();
    y.backward(g.to(gt), true);
    NoGrad ng;
    const Tensor ag = abs(g).reshape({14, N}), gb = matmul(ag, abs(B0));  // (14, r)
    require_within(B.grad(), Br.grad(), add(mul(matmul(ag.transpose(0, 1), hb), 3 * u * s), 1e-6), "dB");
    require_within(A.grad(), Ar.grad(), add(mul(matmul(gb.transpose(0, 1), abs(x0).reshape({14, K})), 3 * u * s), 1e-6),
                   "dA");
    require_within(x.grad(), xr.grad(), add(mul(matmul(gb, abs(A0)).reshape(x0.shape()), u * s), 1e-6), "dx");
    CHECK(B.grad().to_vector() != Br.grad().to_vector());  // h was rounded: the BF16 products ran
    std::vector<double> all;
    for (Tensor* t : {&x, &A, &B}) for (double v : t->grad().to_vector()) all.push_back(v);
    if (first.empty()) first = all;
    else CHECK(all == first);
  }
  // Misuse: a trainable or F32 weight, a BF16 input, a low-rank term of the wrong shape.
  CHECK_THROWS_WITH(linear_lowrank_bf16(x0, leaf(w16), bias, A0, B0, s), Catch::Contains("needs a frozen BF16 weight"));
  CHECK_THROWS_WITH(linear_lowrank_bf16(x0, w32, bias, A0, B0, s), Catch::Contains("the weight is F32"));
  CHECK_THROWS_WITH(linear_lowrank_bf16(x0.to(DType::BF16), w16, bias, A0, B0, s),
                    Catch::Contains("x, A, B and the bias must be F32"));
  CHECK_THROWS_WITH(linear_lowrank_bf16(x0, w16, bias, A0, B0.transpose(0, 1), s),
                    Catch::Contains("do not match weight [40, 48] (expected (r, K) and (N, r))"));
  CHECK_THROWS_WITH(linear_lowrank_bf16(x0.reshape({14, 3, 16}), w16, bias, A0, B0, s),
                    Catch::Contains("input [14, 3, 16] does not match weight [40, 48]"));
}

TEST_CASE("bf16: gelu_bf16 into a BF16 linear is gelu rounded, and the same numbers as the F32 route", "[bf16][linear]") {
  // The MLP's fast path (nn/layers.cpp): GELU stores BF16, fc2 reads it without rounding again.
  const int64_t K = 70, N = 12;  // K·rows spans several of the CPU kernel's 4096-element chunks
  Tensor w16 = bf16_exact({N, K}, 31).to(DType::BF16), bias = rand_tensor({N}, 32, DType::F32);
  Tensor a = rand_tensor({3, 100, K}, 33, DType::F32, -4.0, 4.0);
  Tensor x1 = a.clone().set_requires_grad(true), x2 = a.clone().set_requires_grad(true);
  Tensor h16 = gelu_bf16(x1), h32 = gelu(x2);
  REQUIRE(h16.dtype() == DType::BF16);
  CHECK(h16.to(DType::F32).to_vector() == h32.detach().to(DType::BF16).to(DType::F32).to_vector());
  // fc2 on the BF16 activation = fc2 on the F32 one (which rounds it first): bit for bit.
  Tensor y16 = linear(h16, w16, bias), y32 = linear(h32, w16, bias);
  REQUIRE(y16.dtype() == DType::F32);
  CHECK(y16.detach().to_vector() == y32.detach().to_vector());
  Tensor g = rand_tensor(y16.shape(), 34, DType::F32);
  sum(mul(y16, g)).backward();
  sum(mul(y32, g)).backward();
  REQUIRE(x1.grad().dtype() == DType::F32);
  CHECK(x1.grad().to_vector() == x2.grad().to_vector());
  CHECK_THROWS_WITH(gelu_bf16(a.to(DType::F64)), Catch::Contains("gelu_bf16: expected an F32 or BF16 tensor"));

  // fc1's side: linear_bf16_out stores fc1's output rounded (within one BF16 step of the F32
  // output rounded: the F32 sums may differ in order), gelu_bf16 reads it in BF16, and its
  // bf16_grad gradient is the F32 gradient rounded, bit for bit.
  Tensor w1 = bf16_exact({K, 40}, 35).to(DType::BF16), b1 = rand_tensor({K}, 36, DType::F32);
  Tensor xin = rand_tensor({3, 100, 40}, 37, DType::F32);
  Tensor a16 = linear_bf16_out(xin, w1, b1), a32 = linear(xin, w1, b1);
  REQUIRE(a16.dtype() == DType::BF16);
  require_within(a16.to(DType::F32), a32.to(DType::BF16).to(DType::F32),
                 add(mul(abs(a32), std::ldexp(1.0, -8)), 1e-30), "linear_bf16_out");
  Tensor p1 = a16.to(DType::F32).set_requires_grad(true), p2 = a16.detach().set_requires_grad(true);
  Tensor h1 = gelu(p1), h2 = gelu_bf16(p2, true);
  CHECK(h2.to(DType::F32).to_vector() == h1.detach().to(DType::BF16).to(DType::F32).to_vector());
  Tensor gh = bf16_exact(h1.shape(), 38);  // BF16-exact: .to(F32)'s backward below rounds it losslessly
  sum(mul(h1, gh)).backward();
  sum(mul(linear(h2, bf16_exact({N, K}, 39).to(DType::BF16)), rand_tensor({3, 100, N}, 40, DType::F32))).backward();
  REQUIRE(p2.grad().dtype() == DType::BF16);  // as fc1's dX GEMM receives it
  Tensor p3 = a16.detach().set_requires_grad(true);
  sum(mul(gelu_bf16(p3, true).to(DType::F32), gh)).backward();
  CHECK(p3.grad().to(DType::F32).to_vector() == p1.grad().to(DType::BF16).to(DType::F32).to_vector());
  CHECK_THROWS_WITH(linear_bf16_out(xin, w1, b1.detach().clone().set_requires_grad(true)),
                    Catch::Contains("needs a frozen BF16 weight and a frozen bias"));
  CHECK_THROWS_WITH(linear(h16.detach(), w16, bias.to(DType::F64)), Catch::Contains("bias is F64"));
}

TEST_CASE("bf16: the policy converts frozen GEMM weights only; adapter gradients agree with F32", "[bf16][peft]") {
  // LoRA on qkv and fc2 keeps the MLP's activations F32 (a tuner reads fc2's input); on qkv
  // alone the MLP runs its BF16 path (fc1 → BF16, GELU BF16 in and out, BF16 gradient).
  // On fc2 alone, qkv has no tuner: its GEMM stores Q, K, V in BF16 for attention.
  for (std::string name : {"vit_test_tiny", "swin_test_tiny", "vit_test_tiny:qkv", "vit_test_tiny:fc2"}) {
    INFO(name);
    const size_t colon = name.find(':');
    const std::string targets = colon != std::string::npos ? name.substr(colon + 1) : "qkv,fc2";
    name = name.substr(0, name.find(':'));
    auto make = [&] {
      manual_seed(21);
      auto m = nn::create_model(name, 5);
      // Frozen weights that BF16 holds exactly: the two models then differ only in rounding
      // the activations at the GEMMs, which is what the tolerance below is for.
      for (auto& [k, t] : m->named_parameters())
        if (t.dim() >= 2) nn::convert_in_place(t, [](const Tensor& v) { return v.to(DType::BF16).to(DType::F32); });
      peft::apply_method(*m, {"lora", {{"r", 4}, {"targets", targets}}});
      for (auto& [k, t] : m->named_parameters())  // LoRA's B starts at zero: give it values
        if (t.requires_grad()) nn::convert_in_place(t, [&](const Tensor& v) { return rand_tensor(v.shape(), 8, DType::F32, -0.1, 0.1); });
      return m;
    };
    auto f32 = make(), b16 = make();
    const int64_t converted = nn::apply_precision(*b16, nn::Precision::BF16);
    int64_t frozen_linears = 0;
    for (auto& [k, t] : b16->named_parameters()) {
      INFO(k);
      if (t.requires_grad()) CHECK(t.dtype() == DType::F32);  // master weights
      if (t.dtype() == DType::BF16) {
        ++frozen_linears;
        CHECK(!t.requires_grad());
      }
      if (k.find("norm") != std::string::npos || k.find("bias") != std::string::npos) CHECK(t.dtype() == DType::F32);
    }
    CHECK(converted == frozen_linears);
    CHECK(converted > 0);
    const int64_t S = f32->img_size();
    Tensor x = rand_tensor({2, 3, S, S}, 9, DType::F32);
    Tensor y = Tensor::from_vector(std::vector<int64_t>{1, 3}, {2});
    cross_entropy(f32->forward(x), y).backward();
    cross_entropy(b16->forward(x), y).backward();
    // Every trainable gradient within 3 % relative L2 of the F32 model's (measured: under 1 %).
    auto grads16 = b16->named_parameters();
    for (auto& [k, t] : f32->named_parameters()) {
      if (!t.requires_grad()) continue;
      INFO(k);
      Tensor g16;
      for (auto& [k2, t2] : grads16)
        if (k2 == k) g16 = t2.grad();
      REQUIRE(g16.defined());
      const double num = std::sqrt(sum(square(sub(g16, t.grad()))).item());
      const double den = std::sqrt(sum(square(t.grad())).item()) + 1e-12;
      CHECK(num / den < 0.03);
    }
  }
}

TEST_CASE("bf16: a ViT + LoRA training run follows the F32 loss curve within 2 % over 50 steps", "[bf16][train]") {
  auto run = [](nn::Precision p) {
    manual_seed(31);
    auto m = nn::create_model("vit_test_tiny", 4);
    peft::apply_method(*m, {"lora", {{"r", 8}}});
    nn::apply_precision(*m, p);
    AdamW opt(param_groups_no_decay(m->named_parameters(), 1e-4), 5e-4);
    const int64_t S = m->img_size();
    // A learnable task, full batch: the class is which quarter of the image is bright.
    std::vector<double> losses;
    for (int step = 0; step < 50; ++step) {
      Tensor x = rand_tensor({16, 3, S, S}, 100, DType::F32, 0.0, 0.3);
      std::vector<int64_t> labels(16);
      float* px = x.data<float>();
      for (int64_t i = 0; i < 16; ++i) {
        labels[i] = i % 4;
        const int64_t r0 = (labels[i] / 2) * S / 2, c0 = (labels[i] % 2) * S / 2;
        for (int64_t ch = 0; ch < 3; ++ch)
          for (int64_t r = r0; r < r0 + S / 2; ++r)
            for (int64_t c = c0; c < c0 + S / 2; ++c) px[((i * 3 + ch) * S + r) * S + c] += 0.7f;
      }
      Tensor loss = cross_entropy(m->forward(x), Tensor::from_vector(labels, {16}));
      opt.zero_grad();
      loss.backward();
      opt.step();
      losses.push_back(loss.item());
    }
    return losses;
  };
  const auto a = run(nn::Precision::FP32), b = run(nn::Precision::BF16);
  CHECK(a.back() < 0.75 * a.front());  // it learns
  // (Measured: the curves agree to 0.05 % here. At lr 1e-3, where this loss falls 5× in 50
  // steps, they part by up to 3 % near the end: the BF16-rounded weights are a slightly
  // different model, and a fast descent amplifies that.)
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("step " << i << ": fp32 " << a[i] << ", bf16 " << b[i]);
    CHECK(std::abs(b[i] - a[i]) <= 0.02 * std::abs(a[i]));
  }
}
