// test_cuda_ops.cpp — every op of engine/ops.h on CUDA against the CPU backend, forward and
// backward, one table row per op (harness: tests/cuda_harness.h).
//
// Tolerances: rtol 1e-5 / atol 1e-6 by default (both backends sum F32 in double where it
// matters). Looser rows say why: GEMM-based ops (matmul, linear, attention, dense/grouped conv)
// use 1e-4 / 1e-5 because cuBLAS sums in a different order than Eigen; reductions over a
// middle axis use 1e-4 because the CPU accumulates those in F32.
#include <cstring>

#include "tests/cuda_harness.h"

#include "engine/random.h"

using namespace vt;
using namespace vt::test;

namespace {
constexpr double kGemmRtol = 1e-4, kGemmAtol = 1e-5;
}

TEST_CASE("cuda: element-wise ops match the cpu", "[cuda]") {
  CUDA_OR_SKIP("element-wise ops");
  run_table({
      {"add (broadcast)", {F({2, 3, 4}), F({3, 1})}, FN(add(x[0], x[1]))},
      {"sub (broadcast)", {F({3, 1}), F({2, 3, 4})}, FN(sub(x[0], x[1]))},
      {"mul (strided)", {F({2, 3, 4}), S({3, 4})}, FN(mul(x[0], x[1]))},
      {"div", {S({3, 4}), F({2, 3, 4}, 0.5, 2)}, FN(div(x[0], x[1]))},
      {"maximum", {F({2, 3, 4}), S({3, 4})}, FN(maximum(x[0], x[1]))},
      {"scalar ops", {S({4, 5})}, FN((x[0] * 2.5 + 1.0) / 3.0 - 0.5)},
      {"rsub / rdiv", {F({4, 5}, 0.5, 2)}, FN((1.0 - x[0]) + 2.0 / x[0])},
      {"pow", {F({4, 5}, 0.2, 3)}, FN(pow(x[0], 2.5))},
      {"neg", {S({4, 5})}, FN(neg(x[0]))},
      {"exp", {S({4, 5})}, FN(exp(x[0]))},
      {"log", {F({4, 5}, 0.2, 3)}, FN(log(x[0]))},
      {"sqrt", {F({4, 5}, 0.2, 3)}, FN(sqrt(x[0]))},
      {"rsqrt", {F({4, 5}, 0.2, 3)}, FN(rsqrt(x[0]))},
      {"abs", {S({4, 5})}, FN(abs(x[0]))},
      {"square", {S({4, 5})}, FN(square(x[0]))},
      {"tanh", {S({4, 5})}, FN(tanh(x[0]))},
      {"sigmoid", {S({4, 5})}, FN(sigmoid(x[0]))},
      {"relu", {S({4, 5})}, FN(relu(x[0]))},
      {"gelu (erf)", {F({4, 5}, -4, 4)}, FN(gelu(x[0], false))},
      {"gelu (tanh)", {F({4, 5}, -4, 4)}, FN(gelu(x[0], true))},
      {"quick_gelu", {F({4, 5}, -4, 4)}, FN(quick_gelu(x[0]))},
      {"softplus (both branches)", {F({4, 5}, -30, 30)}, FN(softplus(x[0]))},
      {"eq", {C({3, 4})}, FN(eq(x[0], x[0]))},
      {"gt / lt", {C({3, 4}), C({4})}, FN(add(gt(x[0], x[1]), mul(lt(x[0], x[1]), 2.0)))},
      {"large broadcast (1M elements)", {F({64, 128, 128}), F({128, 1})}, FN(mul(x[0], x[1]))},
  });
}

TEST_CASE("cuda: reductions match the cpu", "[cuda]") {
  CUDA_OR_SKIP("reductions");
  run_table({
      {"sum (all)", {S({3, 4, 5})}, FN(sum(x[0]))},
      {"sum (dims 0, 2)", {S({3, 4, 5})}, FN(sum(x[0], {0, 2}))},
      {"sum (keepdim)", {F({3, 4, 5})}, FN(sum(x[0], {1}, true))},
      {"mean", {F({3, 4, 5})}, FN(mean(x[0], {-1}))},
      {"max (dim)", {S({3, 4, 5})}, FN(max(x[0], 1))},
      {"argmax", {C({3, 4, 5})}, FN(argmax(x[0], 1))},
      {"var", {S({3, 4, 5})}, FN(var(x[0], {0, 2}, 1, true))},
      // the kernel paths: split rows, warp rows, split columns, long rows without split
      {"sum of 2.1M elements (row split)", {F({3000, 700})}, FN(sum(x[0]))},
      {"sum over the last dim, many rows (warp per row)", {F({4096, 16})}, FN(sum(x[0], {-1}))},
      // CPU accumulates middle-axis sums in F32: 1e-4
      {"sum over dim 0 of (5000, 40) (column split)", {F({5000, 40})}, FN(sum(x[0], {0})),
       1e-4, 1e-5},
      {"max over dim 1 of (4, 3000, 5) (column split)", {F({4, 3000, 5})}, FN(max(x[0], 1))},
      {"max over long rows", {F({3, 5000})}, FN(max(x[0], -1))},
      {"argmax over long rows", {C({3, 5000})}, FN(argmax(x[0], -1))},
      {"argmax over a middle dim", {C({2, 300, 33})}, FN(argmax(x[0], 1))},
  });
}

TEST_CASE("cuda: matmul and linear match the cpu", "[cuda]") {
  CUDA_OR_SKIP("matmul / linear");
  run_table({
      {"matmul (batch broadcast)", {F({2, 3, 4, 5}), F({3, 5, 6})}, FN(matmul(x[0], x[1])),
       kGemmRtol, kGemmAtol},
      {"matmul (3d @ 2d)", {F({2, 3, 5}), F({5, 4})}, FN(matmul(x[0], x[1])), kGemmRtol,
       kGemmAtol},
      {"matmul (strided operands)", {S({2, 4, 5}), S({2, 5, 3})}, FN(matmul(x[0], x[1])),
       kGemmRtol, kGemmAtol},
      {"matmul (vector @ matrix)", {F({5}), F({5, 3})}, FN(matmul(x[0], x[1])), kGemmRtol,
       kGemmAtol},
      {"matmul (matrix @ vector)", {F({3, 5}), F({5})}, FN(matmul(x[0], x[1])), kGemmRtol,
       kGemmAtol},
      {"matmul (128 x 256 x 96)", {F({128, 256}), F({256, 96})}, FN(matmul(x[0], x[1])),
       kGemmRtol, kGemmAtol},
      {"matmul (k = 0)", {C({3, 0}), C({0, 4})}, FN(matmul(x[0], x[1]))},
      {"linear (bias)", {F({2, 3, 8}), F({6, 8}), F({6})}, FN(linear(x[0], x[1], x[2])),
       kGemmRtol, kGemmAtol},
      {"linear (no bias, strided input)", {S({3, 8}), F({6, 8})}, FN(linear(x[0], x[1])),
       kGemmRtol, kGemmAtol},
      {"linear (frozen weight)", {F({4, 8}), C({6, 8}), F({6})}, FN(linear(x[0], x[1], x[2])),
       kGemmRtol, kGemmAtol},
  });
}

TEST_CASE("cuda: softmax, layer norm and attention match the cpu", "[cuda]") {
  CUDA_OR_SKIP("softmax / layer_norm / attention");
  run_table({
      {"softmax (last dim)", {F({4, 7, 33}, -3, 3)}, FN(softmax(x[0], -1))},
      {"softmax (dim 1)", {S({4, 7, 6})}, FN(softmax(x[0], 1))},
      {"log_softmax", {F({4, 7, 33}, -3, 3)}, FN(log_softmax(x[0], -1))},
      {"softmax (2000 wide: block per row)", {F({5, 2000}, -3, 3)}, FN(softmax(x[0], -1))},
      {"log_softmax (2000 wide)", {F({5, 2000}, -3, 3)}, FN(log_softmax(x[0], -1))},
      {"layer_norm (affine)", {F({4, 9, 32}), F({32}), F({32})},
       FN(layer_norm(x[0], x[1], x[2], 1e-5))},
      {"layer_norm (no affine, strided)", {S({6, 16})},
       FN(layer_norm(x[0], Tensor(), Tensor(), 1e-6))},
      {"layer_norm (1500 wide: block per row)", {F({3, 1500}), F({1500}), F({1500})},
       FN(layer_norm(x[0], x[1], x[2]))},
      {"layer_norm (600 rows: split weight grads)", {F({600, 48}), F({48}), F({48})},
       FN(layer_norm(x[0], x[1], x[2]))},
      {"layer_norm (frozen affine)", {F({5, 24}), C({24}), C({24})},
       FN(layer_norm(x[0], x[1], x[2]))},
      {"attention (mask)", {F({2, 3, 5, 8}), F({2, 3, 7, 8}), F({2, 3, 7, 4}), F({2, 1, 5, 7})},
       FN(scaled_dot_product_attention(x[0], x[1], x[2], x[3])), kGemmRtol, kGemmAtol},
      {"attention (no mask, scale)", {F({1, 2, 6, 8}), F({1, 2, 6, 8}), F({1, 2, 6, 8})},
       FN(scaled_dot_product_attention(x[0], x[1], x[2], Tensor(), 0.3)), kGemmRtol,
       kGemmAtol},
      {"attention (q/k/v slices of one qkv tensor)", {F({2, 6, 3, 3, 4})},
       FN(scaled_dot_product_attention(x[0].select(2, 0).permute({0, 2, 1, 3}),
                                       x[0].select(2, 1).permute({0, 2, 1, 3}),
                                       x[0].select(2, 2).permute({0, 2, 1, 3}))),
       kGemmRtol, kGemmAtol},
  });
}

TEST_CASE("cuda: convolution, pooling and interpolation match the cpu", "[cuda]") {
  CUDA_OR_SKIP("conv / pool / interpolate");
  run_table({
      {"conv2d (dense, stride 2, pad 1)", {F({2, 3, 9, 9}), F({4, 3, 3, 3}), F({4})},
       FN(conv2d(x[0], x[1], x[2], {2, 2}, {1, 1})), kGemmRtol, kGemmAtol},
      {"conv2d (dilation 2, no bias)", {F({2, 3, 9, 9}), F({4, 3, 3, 3})},
       FN(conv2d(x[0], x[1], Tensor(), {1, 1}, {2, 2}, {2, 2})), kGemmRtol, kGemmAtol},
      {"conv2d (grouped)", {F({2, 4, 8, 8}), F({6, 2, 3, 3}), F({6})},
       FN(conv2d(x[0], x[1], x[2], {1, 1}, {1, 1}, {1, 1}, 2)), kGemmRtol, kGemmAtol},
      {"conv2d (patch embedding 4x4 / 4)", {F({2, 3, 16, 16}), F({8, 3, 4, 4}), F({8})},
       FN(conv2d(x[0], x[1], x[2], {4, 4})), kGemmRtol, kGemmAtol},
      {"conv2d (depthwise)", {F({2, 4, 8, 8}), F({4, 1, 3, 3}), F({4})},
       FN(conv2d(x[0], x[1], x[2], {1, 1}, {1, 1}, {1, 1}, 4))},
      {"conv2d (depthwise, stride 2, dilation 2)", {F({2, 4, 9, 9}), F({4, 1, 3, 3})},
       FN(conv2d(x[0], x[1], Tensor(), {2, 2}, {2, 2}, {2, 2}, 4))},
      {"conv2d (per-sample dense)", {F({2, 3, 8, 8}), F({2, 4, 3, 3, 3})},
       FN(conv2d(x[0], x[1], Tensor(), {1, 1}, {1, 1})), kGemmRtol, kGemmAtol},
      {"conv2d (per-sample depthwise)", {F({2, 4, 8, 8}), F({2, 4, 1, 3, 3}), F({4})},
       FN(conv2d(x[0], x[1], x[2], {1, 1}, {1, 1}, {1, 1}, 4))},
      {"avg_pool2d (k3 s2 p1, count pad)", {F({2, 3, 9, 8})},
       FN(avg_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}, true))},
      {"avg_pool2d (k3 s2 p1, no pad count)", {F({2, 3, 9, 8})},
       FN(avg_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}, false))},
      {"avg_pool2d (k2, default stride)", {S({2, 3, 6, 6})}, FN(avg_pool2d(x[0], {2, 2}))},
      {"adaptive_avg_pool2d (7x7 -> 3x2)", {F({2, 3, 7, 7})},
       FN(adaptive_avg_pool2d(x[0], {3, 2}))},
      {"adaptive_avg_pool2d (5x6 -> 5x6)", {F({1, 2, 5, 6})},
       FN(adaptive_avg_pool2d(x[0], {5, 6}))},
      {"interpolate (bilinear up)", {F({2, 3, 5, 6})},
       FN(interpolate(x[0], {9, 11}, "bilinear", false))},
      {"interpolate (bilinear up, align corners)", {F({2, 3, 5, 6})},
       FN(interpolate(x[0], {9, 11}, "bilinear", true))},
      {"interpolate (bilinear down)", {F({2, 3, 9, 11})},
       FN(interpolate(x[0], {4, 5}, "bilinear", false))},
      {"interpolate (bicubic up)", {F({2, 3, 5, 6})},
       FN(interpolate(x[0], {9, 11}, "bicubic", false))},
      {"interpolate (bicubic up, align corners)", {F({2, 3, 5, 6})},
       FN(interpolate(x[0], {9, 11}, "bicubic", true))},
      {"interpolate (bicubic down: position embedding 14 -> 7)", {F({1, 8, 14, 14})},
       FN(interpolate(x[0], {7, 7}, "bicubic", false))},
      {"roi_align (aligned, adaptive sampling, scale 1/2)",
       {F({2, 4, 9, 11}), I({3, 5}, {0, 1, 2, 12, 14, 1, -4, -3, 8, 9, 0, 5, 6, 6, 7})},
       FN(roi_align(x[0], x[1].to(DType::F32), {3, 3}, 0.5))},
      {"roi_align (legacy, 2x2 sampling, scale 1/4)",
       {F({2, 4, 9, 11}), I({3, 5}, {1, 0, 3, 30, 20, 0, 8, 8, 9, 9, 1, -6, -6, 50, 50})},
       FN(roi_align(x[0], x[1].to(DType::F32), {7, 7}, 0.25, 2, false))},
  });
}

TEST_CASE("cuda: shape and index ops match the cpu", "[cuda]") {
  CUDA_OR_SKIP("shape / index ops");
  run_table({
      {"concat", {F({2, 3, 4}), S({2, 2, 4})}, FN(concat({x[0], x[1]}, 1))},
      {"split", {F({2, 4, 3})}, FN(split(x[0], {1, 3}, 1)[1])},
      {"chunk", {S({2, 6, 4})}, FN(chunk(x[0], 2, -1)[0])},
      {"stack", {F({3, 4}), S({3, 4})}, FN(stack({x[0], x[1]}, 1))},
      {"pad", {F({2, 3, 4})}, FN(pad(x[0], {1, 2, 0, 1}, 0.5))},
      {"roll", {S({3, 4, 5})}, FN(roll(x[0], {1, -2}, {0, 2}))},
      {"index_select (dim 0, repeats)", {F({5, 4}), I({3}, {4, 0, 4})},
       FN(index_select(x[0], 0, x[1]))},
      {"index_select (dim 1)", {S({3, 5}), I({2}, {3, 1})}, FN(index_select(x[0], 1, x[1]))},
      {"index_add (duplicates)", {F({5, 4}), I({3}, {1, 1, 3}), F({3, 4})},
       FN(index_add(x[0], 0, x[1], x[2]))},
      {"gather", {F({3, 5}), I({3, 2}, {0, 4, 2, 2, 1, 3})}, FN(gather(x[0], 1, x[1]))},
      {"scatter_add (duplicates)", {F({3, 5}), I({3, 2}, {0, 4, 2, 2, 1, 3}), F({3, 2})},
       FN(scatter_add(x[0], 1, x[1], x[2]))},
      {"where (broadcast)", {M({3, 1}, {1, 0, 1}), F({3, 4}), F({4})},
       FN(where(x[0], x[1], x[2]))},
      {"masked_fill", {F({3, 4}), M({4}, {0, 1, 1, 0})}, FN(masked_fill(x[0], x[1], -1.5))},
  });
}

TEST_CASE("cuda: losses match the cpu", "[cuda]") {
  CUDA_OR_SKIP("losses");
  run_table({
      {"cross_entropy", {F({6, 5}, -2, 2), I({6}, {0, 4, 2, 2, 1, 3})},
       FN(cross_entropy(x[0], x[1]))},
      {"cross_entropy (label smoothing, ignore_index)",
       {F({6, 5}, -2, 2), I({6}, {0, -100, 2, 2, 1, 3})},
       FN(cross_entropy(x[0], x[1], 0.1, -100))},
      {"cross_entropy (segmentation logits, sum)",
       {F({2, 5, 2, 2}, -2, 2), I({2, 2, 2}, {0, 1, 2, 3, 4, 0, 1, 2})},
       FN(cross_entropy(x[0], x[1], 0.0, -100, "sum"))},
      {"cross_entropy (none)", {F({4, 3}), I({4}, {2, 0, 1, 1})},
       FN(cross_entropy(x[0], x[1], 0.0, -100, "none"))},
      {"cross_entropy_soft", {F({4, 6}, -2, 2), C({4, 6}, 0, 1)},
       FN(cross_entropy_soft(x[0], x[1]))},
      {"kl_div", {F({4, 6}, -2, 2), C({4, 6}, 0.05, 1)},
       FN(kl_div(log_softmax(x[0], -1), x[1], "batchmean"))},
      {"kl_div (log target)", {F({4, 6}, -2, 2), F({4, 6}, -3, 0)},
       FN(kl_div(log_softmax(x[0], -1), x[1], "sum", true))},
      {"mse_loss", {F({3, 7}), S({3, 7})}, FN(mse_loss(x[0], x[1]))},
      {"smooth_l1_loss", {F({3, 7}, -2, 2), F({3, 7})}, FN(smooth_l1_loss(x[0], x[1], 0.5))},
  });
}

TEST_CASE("cuda: dropout masks equal the cpu's for the same seed", "[cuda]") {
  CUDA_OR_SKIP("dropout");
  // The fn re-seeds the default generator, so both devices draw from the same counters.
  run_table({
      {"dropout", {F({8, 33, 17})}, FN((manual_seed(1234), dropout(x[0], 0.3, true)))},
      {"drop_path", {F({16, 5, 6})}, FN((manual_seed(99), drop_path(x[0], 0.4, true)))},
  });
}

TEST_CASE("cuda: BF16 conversion and linear with a frozen BF16 weight match the cpu", "[cuda][bf16]") {
  CUDA_OR_SKIP("the BF16 path");
  // Conversion: the same bits on both devices (round to nearest even).
  Tensor x = rand_tensor({300, 70}, 41, DType::F32, -1e3, 1e3);
  Tensor cpu16 = x.to(DType::BF16), gpu16 = x.to(Device::cuda()).to(DType::BF16).to(Device::cpu());
  REQUIRE(std::memcmp(cpu16.raw(), gpu16.raw(), cpu16.nbytes()) == 0);
  // linear: cuBLAS BF16 with F32 sums vs oneDNN / Eigen: both exact products of the same BF16
  // inputs, so only the summation order differs.
  Tensor w = rand_tensor({64, 70}, 42, DType::F32).to(DType::BF16), b = rand_tensor({64}, 43, DType::F32);
  Tensor xi = rand_tensor({5, 70}, 44, DType::F32);
  Tensor want = linear(xi, w, b);
  Tensor got = linear(xi.to(Device::cuda()), w.to(Device::cuda()), b.to(Device::cuda())).to(Device::cpu());
  require_close(got, want, 1e-5, 1e-5, "bf16 linear");
}
