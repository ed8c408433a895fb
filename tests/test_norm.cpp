// test_norm.cpp — softmax, log_softmax, layer norm and scaled-dot-product attention: f64
// gradient checks (non-contiguous inputs, broadcast trainable masks), comparisons with PyTorch
// (ops_norm fixtures), frozen-awareness (what is computed and saved) and bad-input errors.
#include <cmath>

#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;

namespace {
Tensor leaf(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return rand_tensor(s, seed, DType::F64, lo, hi).set_requires_grad(true);
}
Tensor strided_leaf(const Shape& s, uint64_t seed, int64_t a = 0, int64_t b = -1) {
  return rand_strided(s, seed, a, b).set_requires_grad(true);
}
}  // namespace

// ---------------------------------------------------------------- softmax
TEST_CASE("softmax and log_softmax: gradients over every dim", "[ops][norm][grad]") {
  auto x = strided_leaf({3, 4, 5}, 101);
  for (int64_t d : {-1, 0, 1}) {
    INFO("dim " << d);
    gradcheck([d](auto& v) { return softmax(v[0], d); }, {x});
    gradcheck([d](auto& v) { return log_softmax(v[0], d); }, {x});
  }
  auto big = leaf({2, 6}, 102, -40, 40);  // wide range: exercises the max subtraction
  gradcheck([](auto& v) { return softmax(v[0]); }, {big});
}

TEST_CASE("softmax: rows sum to one, stable for large inputs, saves only its output",
          "[ops][norm]") {
  auto x = rand_tensor({4, 7}, 103, DType::F32, 500, 1000);  // exp would overflow without max-sub
  auto y = softmax(x, 1).to_vector();
  for (int r = 0; r < 4; ++r) {
    double s = 0;
    for (int j = 0; j < 7; ++j) {
      REQUIRE(std::isfinite(y[r * 7 + j]));
      s += y[r * 7 + j];
    }
    REQUIRE(std::abs(s - 1.0) < 1e-6);
  }
  auto xl = rand_tensor({4, 7}, 104, DType::F32).set_requires_grad(true);
  const int64_t base = saved_bytes();
  auto yl = log_softmax(xl, 0);  // dim 0: transposed to last and back
  REQUIRE(saved_bytes() - base == 4 * 7 * 4);  // the output only
  sum(yl).backward();
  REQUIRE(saved_bytes() == base);
}

TEST_CASE("softmax and log_softmax match PyTorch", "[ops][norm][torch]") {
  Fixture fx("ops_norm.safetensors");
  torch_case(fx, "softmax_last", [](Inputs& in) { return softmax(in["x"], -1); });
  torch_case(fx, "softmax_dim1", [](Inputs& in) { return softmax(in["x"], 1); });
  torch_case(fx, "softmax_large", [](Inputs& in) { return softmax(in["x"]); });
  torch_case(fx, "log_softmax_last", [](Inputs& in) { return log_softmax(in["x"], -1); });
  torch_case(fx, "log_softmax_dim0", [](Inputs& in) { return log_softmax(in["x"], 0); });
}

// ---------------------------------------------------------------- layer norm
TEST_CASE("layer_norm: gradients", "[ops][norm][grad]") {
  auto x = strided_leaf({2, 3, 6}, 111, 0, 2);
  auto w = leaf({6}, 112), b = leaf({6}, 113);
  gradcheck([](auto& v) { return layer_norm(v[0], v[1], v[2]); }, {x, w, b});
  gradcheck([](auto& v) { return layer_norm(v[0], Tensor(), Tensor(), 1e-6); }, {x});
  gradcheck([](auto& v) { return layer_norm(v[0], v[1], Tensor()); }, {x, w});
  gradcheck([](auto& v) { return layer_norm(v[0], Tensor(), v[1]); }, {x, b});
  // Parameters only (input frozen), and each parameter alone.
  auto xf = rand_strided({4, 6}, 114);
  gradcheck([xf](auto& v) { return layer_norm(xf, v[0], v[1]); }, {w, b});
  gradcheck([xf, b](auto& v) { return layer_norm(xf, v[0], b.detach()); }, {w});
  gradcheck([xf, w](auto& v) { return layer_norm(xf, w.detach(), v[0]); }, {b});
}

TEST_CASE("layer_norm matches PyTorch", "[ops][norm][torch]") {
  Fixture fx("ops_norm.safetensors");
  auto ln = [](double eps) {
    return [eps](Inputs& in) { return layer_norm(in["x"], in["weight"], in["bias"], eps); };
  };
  torch_case(fx, "layer_norm", ln(1e-5));
  torch_case(fx, "layer_norm_noaffine", [](Inputs& in) { return layer_norm(in["x"], {}, {}); });
  // x is ~0.01 in scale, so rstd ~ 100 multiplies float rounding in dx: atol 1e-5 there.
  torch_case(fx, "layer_norm_eps6", ln(1e-6), 1e-5, 1e-5);
  torch_case(fx, "layer_norm_frozen", ln(1e-5));
  torch_case(fx, "layer_norm_transposed", [](Inputs& in) {
    return layer_norm(in["x"].transpose(0, 1), in["weight"], in["bias"]);
  });
}

// Inputs above kParallelGrain take the OpenMP paths (rows split across threads, column blocks
// for dw/db); they must agree with the same rows run small (single-threaded).
TEST_CASE("layer_norm and softmax: threaded paths agree with small runs", "[ops][norm]") {
  const int64_t R = 600, D = 80, r0 = 300, n = 7;
  auto x = rand_tensor({R, D}, 151, DType::F64, -2, 3).set_requires_grad(true);
  auto w = rand_tensor({D}, 152, DType::F64).set_requires_grad(true);
  auto b = rand_tensor({D}, 153, DType::F64).set_requires_grad(true);
  auto g = rand_tensor({R, D}, 154, DType::F64);
  auto y = layer_norm(x, w, b);
  y.backward(g);
  auto s = softmax(x.detach(), 0);  // dim 0: columns of 600, through the transpose
  auto xs = x.detach().narrow(0, r0, n).clone().set_requires_grad(true);
  auto ys = layer_norm(xs, w.detach(), b.detach());
  ys.backward(g.narrow(0, r0, n).contiguous());
  require_close(y.narrow(0, r0, n), ys, 1e-12, 1e-12, "y rows");
  require_close(x.grad().narrow(0, r0, n), xs.grad(), 1e-12, 1e-12, "dx rows");
  require_close(b.grad(), sum(g, {0}), 1e-12, 1e-12, "db = column sums of g");
  Tensor xhat = layer_norm(x.detach(), Tensor(), Tensor());
  require_close(w.grad(), sum(mul(g, xhat), {0}), 1e-10, 1e-12, "dw = column sums of g x̂");
  require_close(s.narrow(1, 5, 1), softmax(x.detach().narrow(1, 5, 1), 0), 1e-12, 1e-15,
                "softmax column");
}

TEST_CASE("layer_norm frozen-awareness: no dw/db work, no weight saved when not needed",
          "[ops][norm][frozen]") {
  const int64_t R = 6, D = 16;
  auto w = rand_tensor({D}, 121, DType::F32);  // frozen
  auto b = rand_tensor({D}, 122, DType::F32);  // frozen
  const int64_t base = saved_bytes();

  // Frozen weight and bias, trainable input: dx needs x, mean, rstd and w — no gw/gb.
  auto x = rand_tensor({R, D}, 123, DType::F32).set_requires_grad(true);
  auto y = layer_norm(x, w, b);
  REQUIRE(saved_bytes() - base == (R * D + R + R + D) * 4);
  sum(y).backward();
  REQUIRE(x.grad().defined());
  REQUIRE(!w.grad().defined());
  REQUIRE(!b.grad().defined());
  REQUIRE(saved_bytes() == base);

  // Frozen input, trainable weight: x, mean and rstd are saved, the weight is not.
  auto xf = rand_tensor({R, D}, 124, DType::F32);
  w.set_requires_grad(true);
  auto y2 = layer_norm(xf, w, b);
  REQUIRE(saved_bytes() - base == (R * D + R + R) * 4);
  sum(y2).backward();
  REQUIRE(w.grad().defined());
  REQUIRE(!b.grad().defined());
  REQUIRE(saved_bytes() == base);

  // Frozen input and weight, trainable bias (BitFit-style): db = Σ g needs nothing saved.
  w.set_requires_grad(false);
  b.set_requires_grad(true);
  auto y3 = layer_norm(xf, w, b);
  REQUIRE(y3.grad_fn());
  REQUIRE(saved_bytes() == base);
  sum(y3).backward();
  require_close(b.grad(), Tensor::full({D}, (double)R), 0, 0, "db = rows of ones");

  // Everything frozen: no node.
  b.set_requires_grad(false);
  REQUIRE(!layer_norm(xf, w, b).grad_fn());
}

// ---------------------------------------------------------------- attention
TEST_CASE("attention: gradients for q, k, v and broadcast trainable masks",
          "[ops][norm][grad]") {
  auto q = strided_leaf({2, 2, 3, 4}, 131, 2, 3);  // column-major matrices
  // (B, N, H, Dh) permuted to (B, H, N, Dh): the batch dims do not collapse to one stride.
  auto k = rand_tensor({2, 5, 2, 4}, 132).permute({0, 2, 1, 3}).detach().set_requires_grad(true);
  auto v = leaf({2, 2, 5, 3}, 133);  // Dv != Dh
  gradcheck([](auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }, {q, k, v});
  // Mask shared over the batch (relative-position bias), over batch and heads, and a
  // (B, 1, 1, Nk) key mask over heads and queries — all trainable.
  for (Shape ms : {Shape{1, 2, 3, 5}, Shape{3, 5}, Shape{2, 1, 1, 5}}) {
    INFO("mask " << shape_str(ms));
    auto m = leaf(ms, 134);
    gradcheck([](auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3], 0.7); },
              {q, k, v, m});
  }
  // Only some inputs trainable (the closure saves less; the gradients must still be right).
  auto m = leaf({1, 2, 3, 5}, 135);
  auto qf = q.detach(), kf = k.detach(), vf = v.detach();
  gradcheck([qf, kf](auto& x) { return scaled_dot_product_attention(qf, kf, x[0]); }, {v});
  gradcheck([kf, vf](auto& x) { return scaled_dot_product_attention(x[0], kf, vf); }, {q});
  gradcheck([qf, vf](auto& x) { return scaled_dot_product_attention(qf, x[0], vf); }, {k});
  gradcheck([qf, kf, vf](auto& x) { return scaled_dot_product_attention(qf, kf, vf, x[0]); },
            {m});
}

TEST_CASE("attention on a packed qkv: gradients, and the same numbers as on its three views",
          "[ops][norm][grad]") {
  // scaled_dot_product_attention_qkv: one node for (B, N, 3, H, Dh), one gradient for it.
  auto qkv = leaf({2, 4, 3, 2, 3}, 141);
  gradcheck([](auto& x) { return scaled_dot_product_attention_qkv(x[0]); }, {qkv});
  auto m = leaf({1, 2, 4, 4}, 142);
  gradcheck([](auto& x) { return scaled_dot_product_attention_qkv(x[0], x[1], 0.6); }, {qkv, m});
  // Against the unpacked op on the views: equal outputs and gradients, in F32 and BF16.
  for (DType p : {DType::F32, DType::BF16}) {
    INFO(dtype_name(p));
    Tensor x = rand_tensor({2, 7, 3, 3, 8}, 143, DType::F32);
    Tensor a = x.clone().set_requires_grad(true), b = x.clone().set_requires_grad(true);
    Tensor oa = scaled_dot_product_attention_qkv(a, Tensor(), std::nullopt, p);
    auto v = [&](int i) { return b.select(2, i).permute({0, 2, 1, 3}); };
    Tensor ob = scaled_dot_product_attention(v(0), v(1), v(2), Tensor(), std::nullopt, p);
    Tensor w = rand_tensor(oa.shape(), 144, DType::F32);
    sum(mul(oa, w)).backward();
    sum(mul(ob, w)).backward();
    require_close(oa, ob, 0, 0, "output");
    require_close(a.grad(), b.grad(), 1e-6, 1e-7, "gradient");
  }
  CHECK_THROWS_WITH(scaled_dot_product_attention_qkv(Tensor::zeros({2, 4, 2, 2, 3})),
                    Catch::Contains("expected qkv of shape (B, N, 3, H, Dh), got [2, 4, 2, 2, 3]"));
}

TEST_CASE("attention saves P plus only the operands the gradients read", "[ops][norm][frozen]") {
  const int64_t B = 2, H = 3, Nq = 4, Nk = 5, Dh = 8;
  auto q = rand_tensor({B, H, Nq, Dh}, 141, DType::F32);
  auto k = rand_tensor({B, H, Nk, Dh}, 142, DType::F32);
  auto v = rand_tensor({B, H, Nk, Dh}, 143, DType::F32).set_requires_grad(true);
  const int64_t base = saved_bytes(), P = B * H * Nq * Nk * 4;
  auto o = scaled_dot_product_attention(q, k, v);
  REQUIRE(saved_bytes() - base == P);  // dV = Pᵀ dO needs P alone
  sum(o).backward();
  REQUIRE(v.grad().defined());
  REQUIRE(saved_bytes() == base);

  q.set_requires_grad(true);
  auto o2 = scaled_dot_product_attention(q, k, v);
  REQUIRE(saved_bytes() - base == P + 2 * B * H * Nk * Dh * 4);  // + V (dP) and K (dQ)
  sum(o2).backward();
  REQUIRE(saved_bytes() == base);
}

TEST_CASE("attention keeps Q and K instead of P when that is smaller, and recomputes P",
          "[ops][norm][frozen]") {
  // ViT-like proportions: Nq = Nk = 16 > 2·Dh, so P (B·H·16·16) outweighs Q + K (B·H·2·16·4).
  const int64_t B = 2, H = 3, N = 16, Dh = 4;
  auto q = rand_tensor({B, H, N, Dh}, 151, DType::F32).set_requires_grad(true);
  auto k = rand_tensor({B, H, N, Dh}, 152, DType::F32).set_requires_grad(true);
  auto v = rand_tensor({B, H, N, Dh}, 153, DType::F32).set_requires_grad(true);
  const int64_t base = saved_bytes(), qkv = B * H * N * Dh * 4;
  auto o = scaled_dot_product_attention(q, k, v);
  REQUIRE(saved_bytes() - base == 3 * qkv);  // Q, K, V; no P
  sum(o).backward();
  REQUIRE(saved_bytes() == base);
  // Frozen q and k, trainable v: Q + K are still smaller than P, so they are kept.
  auto o2 = scaled_dot_product_attention(q.detach(), k.detach(), v);
  REQUIRE(saved_bytes() - base == 2 * qkv);
  // The recomputed P gives the same gradients as the kept one (f64 finite differences).
  auto q64 = rand_tensor({1, 2, N, Dh}, 154).set_requires_grad(true);
  auto k64 = rand_tensor({1, 2, N, Dh}, 155).set_requires_grad(true);
  auto v64 = rand_tensor({1, 2, N, Dh}, 156).set_requires_grad(true);
  auto m64 = rand_tensor({2, N, N}, 157).set_requires_grad(true);
  gradcheck([](auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3]); },
            {q64, k64, v64, m64});
  auto qf = q64.detach(), kf = k64.detach();
  gradcheck([qf, kf](auto& x) { return scaled_dot_product_attention(qf, kf, x[0]); }, {v64});
}

TEST_CASE("attention matches PyTorch", "[ops][norm][torch]") {
  Fixture fx("ops_norm.safetensors");
  torch_case(fx, "attn_nomask",
             [](Inputs& in) { return scaled_dot_product_attention(in["q"], in["k"], in["v"]); });
  torch_case(fx, "attn_bias", [](Inputs& in) {
    return scaled_dot_product_attention(in["q"], in["k"], in["v"], in["mask"]);
  });
  torch_case(fx, "attn_padmask_scale", [](Inputs& in) {
    return scaled_dot_product_attention(in["q"], in["k"], in["v"], in["mask"], 0.3);
  });
  torch_case(fx, "attn_qkv", [](Inputs& in) {
    Tensor qkv = in["qkv"].permute({2, 0, 3, 1, 4});  // (3, B, H, N, Dh), strided
    return scaled_dot_product_attention(qkv.select(0, 0), qkv.select(0, 1), qkv.select(0, 2));
  });
  torch_case(fx, "attn_qkv", [](Inputs& in) { return scaled_dot_product_attention_qkv(in["qkv"]); });
}

// ---------------------------------------------------------------- errors
TEST_CASE("norm family: bad inputs name the op and the shapes", "[ops][norm][errors]") {
  auto q = Tensor::zeros({2, 3, 4, 8}), k = Tensor::zeros({2, 3, 5, 6});
  auto v = Tensor::zeros({2, 3, 5, 6});
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, v),
                      Catch::Contains("scaled_dot_product_attention") &&
                          Catch::Contains("head dims") && Catch::Contains("[2, 3, 4, 8]") &&
                          Catch::Contains("[2, 3, 5, 6]"));
  auto k8 = Tensor::zeros({2, 3, 5, 8});
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k8, Tensor::zeros({2, 3, 6, 8})),
                      Catch::Contains("sequence lengths"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q.reshape({6, 4, 8}), k8, k8),
                      Catch::Contains("4-D"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k8, k8, Tensor::zeros({3, 4, 4})),
                      Catch::Contains("scaled_dot_product_attention") &&
                          Catch::Contains("[3, 4, 4]"));
  auto x = Tensor::zeros({2, 6});
  REQUIRE_THROWS_WITH(layer_norm(x, Tensor::zeros({5}), Tensor()),
                      Catch::Contains("layer_norm") && Catch::Contains("weight") &&
                          Catch::Contains("[5]") && Catch::Contains("[2, 6]"));
  REQUIRE_THROWS_WITH(layer_norm(x, Tensor(), Tensor::zeros({6, 1})),
                      Catch::Contains("bias") && Catch::Contains("[6, 1]"));
  REQUIRE_THROWS_WITH(layer_norm(x, Tensor::zeros({6}, DType::F64), Tensor()),
                      Catch::Contains("dtype"));
  REQUIRE_THROWS_WITH(softmax(x, 2), Catch::Contains("softmax") && Catch::Contains("out of range"));
  REQUIRE_THROWS_WITH(log_softmax(Tensor::zeros({3}, DType::I64)),
                      Catch::Contains("log_softmax") && Catch::Contains("I64"));
}
