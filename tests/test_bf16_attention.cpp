// test_bf16_attention.cpp — mixed precision in attention (engine/ops/attention.cpp,
// nn/precision.h): the softmax stored in BF16 against its F32 rows, and attention with BF16
// products against its F32 path, with BF16 q, k, v, a BF16 packed gradient and a BF16 output.
#include <cmath>

#include "engine/backend.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;

TEST_CASE("bf16: softmax and its backward stored in BF16 are the F32 kernels' rows rounded", "[bf16][norm]") {
  // Attention's BF16 products take P and dS straight from these (engine/ops/attention.cpp).
  Backend& be = backend_for(Device::cpu());
  for (int64_t D : {197, 3, 1000}) {  // rows wider and narrower than a vector; many rows run threaded
    INFO("D " << D);
    const Tensor x = rand_tensor({40, 7, D}, 21, DType::F32, -6.0, 6.0), gy = rand_tensor({40, 7, D}, 22, DType::F32);
    Tensor y32 = Tensor::empty(x.shape(), DType::F32), y16 = Tensor::empty(x.shape(), DType::BF16);
    be.softmax(x, y32, false);
    be.softmax(x, y16, false);
    CHECK(y16.to(DType::F32).to_vector() == y32.to(DType::BF16).to(DType::F32).to_vector());
    Tensor g32 = Tensor::empty(x.shape(), DType::F32), g16 = Tensor::empty(x.shape(), DType::BF16);
    be.softmax_backward(y32, gy, g32, false);
    be.softmax_backward(y32, gy, g16, false);
    CHECK(g16.to(DType::F32).to_vector() == g32.to(DType::BF16).to(DType::F32).to_vector());
    // The backward reading a kept BF16 P: the F32 kernel on P widened, into F32 or BF16.
    Tensor gw = Tensor::empty(x.shape(), DType::F32), gr = Tensor::empty(x.shape(), DType::F32),
           gr16 = Tensor::empty(x.shape(), DType::BF16);
    be.softmax_backward(y16.to(DType::F32), gy, gw, false);
    be.softmax_backward(y16, gy, gr, false);
    be.softmax_backward(y16, gy, gr16, false);
    CHECK(gr.to_vector() == gw.to_vector());
    CHECK(gr16.to(DType::F32).to_vector() == gw.to(DType::BF16).to(DType::F32).to_vector());
  }
  Tensor x = rand_tensor({2, 4}, 1, DType::F32), y16 = Tensor::empty({2, 4}, DType::BF16);
  CHECK_THROWS_WITH(be.softmax(x, y16, true), Catch::Contains("softmax (not log_softmax)"));
  CHECK_THROWS_WITH(be.softmax(x.to(DType::F64), y16, false), Catch::Contains("needs F32 input"));
}

TEST_CASE("bf16: attention with BF16 products against its F32 path, forward and gradients", "[bf16][attention]") {
  // Q, K, V, P, dO and dS rounded to BF16 (relative error ≤ 2⁻⁸ each), F32 sums and softmax:
  // the output and every gradient stay within 1 % relative L2 of the F32 op's (measured: under
  // 0.4 %), with a mask and with more keys than queries (prefix tuning's shape).
  const int64_t B = 2, H = 3, Nq = 17, Nk = 21, Dh = 16;
  for (bool masked : {false, true}) {
    INFO("mask " << masked);
    Tensor q = rand_tensor({B, H, Nq, Dh}, 11, DType::F32), k = rand_tensor({B, H, Nk, Dh}, 12, DType::F32),
           v = rand_tensor({B, H, Nk, Dh}, 13, DType::F32);
    // The masked case trains its mask (as Swin's relative-position bias can be): dS stays F32 for
    // the mask's gradient, while the unmasked case takes dS rounded from the softmax backward.
    Tensor mask = masked ? rand_tensor({1, H, Nq, Nk}, 14, DType::F32, -2.0, 0.0) : Tensor();
    std::vector<Tensor> outs, grads;
    for (DType p : {DType::F32, DType::BF16}) {
      Tensor qq = q.clone().set_requires_grad(true), kk = k.clone().set_requires_grad(true),
             vv = v.clone().set_requires_grad(true);
      Tensor mm = masked ? mask.clone().set_requires_grad(true) : Tensor();
      Tensor o = scaled_dot_product_attention(qq, kk, vv, mm, std::nullopt, p);
      REQUIRE(o.dtype() == DType::F32);
      sum(mul(o, rand_tensor(o.shape(), 15, DType::F32))).backward();
      outs.push_back(o.detach());
      for (Tensor* t : {&qq, &kk, &vv}) {
        REQUIRE(t->grad().dtype() == DType::F32);
        grads.push_back(t->grad());
      }
      if (masked) grads.push_back(mm.grad());
    }
    auto rel = [](const Tensor& got, const Tensor& want) {
      return std::sqrt(sum(square(sub(got, want))).item()) / (std::sqrt(sum(square(want)).item()) + 1e-30);
    };
    CHECK(rel(outs[1], outs[0]) < 0.01);
    const int n = masked ? 4 : 3;  // q, k, v (and the mask)
    for (int i = 0; i < n; ++i) {
      INFO("gradient of " << "qkvm"[i] << ": " << rel(grads[n + i], grads[i]));
      CHECK(rel(grads[n + i], grads[i]) < 0.01);
      CHECK(rel(grads[n + i], grads[i]) > 0);  // the BF16 path did run
    }
  }
  // BF16 q, k, v (a frozen qkv that stores its output in BF16: nn/layers.cpp) are the F32
  // route's rounding done beforehand: with BF16-exact values the output is the same numbers, bit
  // for bit, with and without a mask, and the packed gradient, stored in BF16, is the F32
  // route's rounded.
  for (bool masked : {false, true}) {
    INFO("BF16 packed qkv, mask " << masked);
    const Tensor packed = bf16_exact({B, Nq, 3, H, Dh}, 16), go = rand_tensor({B, H, Nq, Dh}, 17, DType::F32);
    const Tensor mask = masked ? rand_tensor({1, H, Nq, Nq}, 18, DType::F32, -2.0, 0.0) : Tensor();
    Tensor p32 = packed.clone().set_requires_grad(true), p16 = packed.to(DType::BF16).set_requires_grad(true);
    Tensor o32 = scaled_dot_product_attention_qkv(p32, mask, std::nullopt, DType::BF16);
    Tensor o16 = scaled_dot_product_attention_qkv(p16, mask, std::nullopt, DType::BF16);
    REQUIRE(o16.dtype() == DType::F32);
    CHECK(o16.detach().to_vector() == o32.detach().to_vector());
    sum(mul(o32, go)).backward();
    sum(mul(o16, go)).backward();
    REQUIRE(p16.grad().defined());
    REQUIRE(p16.grad().dtype() == DType::BF16);  // rounded as stored: what qkv's dX GEMM reads
    CHECK(p16.grad().to(DType::F32).to_vector() == p32.grad().to(DType::BF16).to(DType::F32).to_vector());
    CHECK(sum(abs(p32.grad())).item() > 0);
    // O stored in BF16 by the PV GEMM (a frozen proj reads it so): the F32 O rounded, and the
    // same packed gradient for the same dO.
    Tensor p16b = packed.to(DType::BF16).set_requires_grad(true);
    Tensor ob = scaled_dot_product_attention_qkv(p16b, mask, std::nullopt, DType::BF16, true);
    REQUIRE(ob.dtype() == DType::BF16);
    CHECK(ob.detach().to(DType::F32).to_vector() == o16.detach().to(DType::BF16).to(DType::F32).to_vector());
    ob.backward(go, true);
    CHECK(p16b.grad().to(DType::F32).to_vector() == p16.grad().to(DType::F32).to_vector());
    p16b.zero_grad();
    ob.backward(go.to(DType::BF16));  // dO in BF16 too (rounded before the dO products anyway)
    CHECK(p16b.grad().to(DType::F32).to_vector() == p16.grad().to(DType::F32).to_vector());
  }
  CHECK_THROWS_WITH(scaled_dot_product_attention_qkv(bf16_exact({1, 2, 3, 1, 2}, 3), Tensor(), std::nullopt,
                                                     DType::F32, true),
                    Catch::Contains("a BF16 output needs BF16 products"));
  const Tensor q16 = rand_tensor({1, 1, 2, 2}, 1, DType::F32).to(DType::BF16);
  CHECK_THROWS_WITH(scaled_dot_product_attention(q16, q16, q16, rand_tensor({1, 1, 2, 2}, 2), std::nullopt, DType::BF16),
                    Catch::Contains("with BF16 q, k, v the mask must be F32"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q16, q16, q16, Tensor(), std::nullopt, DType::F32),
                    Catch::Contains("expected an F32 or F64 tensor, got BF16"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(rand_tensor({1, 1, 2, 2}, 1), rand_tensor({1, 1, 2, 2}, 2),
                                                 rand_tensor({1, 1, 2, 2}, 3), Tensor(), std::nullopt, DType::BF16),
                    Catch::Contains("BF16 products take F32 or BF16 q, k, v"));
}
