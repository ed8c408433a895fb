// ops.h — every differentiable op of the engine, one declaration list.
//
// Each family is defined in its own file under engine/ops/ (named in the section comments),
// with its forward and backward side by side. Shapes follow PyTorch's conventions and
// broadcasting rules; a shape error throws vt::Error naming the op and the shapes.
#pragma once
#include <optional>
#include <vector>

#include "engine/autograd.h"
#include "engine/tensor.h"

namespace vt {

// ---- ops/elementwise.cpp: broadcasting binary ops, scalar ops, activations ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);  // gradient to the larger (ties: a)
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor rsub(double s, const Tensor& a);  // s - a
Tensor rdiv(double s, const Tensor& a);  // s / a
Tensor pow(const Tensor& a, double p);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x, bool tanh_approx = false);
// Exact GELU stored in BF16, the input of a frozen BF16 linear (nn/precision.h), with no F32
// copy written first. x is F32, or BF16 (linear_bf16_out's output); the math is F32. The
// gradient w.r.t. x is F32, or with bf16_grad stored in BF16: for an x whose only reader is a
// frozen BF16 linear's dX GEMM, which would round it to BF16 anyway.
Tensor gelu_bf16(const Tensor& x, bool bf16_grad = false);
Tensor quick_gelu(const Tensor& x);
Tensor softplus(const Tensor& x);
// Comparisons (no gradient): 1/0 in a's dtype.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(double s, const Tensor& a) { return rsub(s, a); }
inline Tensor operator/(double s, const Tensor& a) { return rdiv(s, a); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// ---- ops/reduce.cpp: reductions over dims (empty dims = all) ----
Tensor sum(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
// Maximum over one dim; the gradient goes to the first maximal element (torch.max(dim)).
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // I64, no gradient
// Variance with `correction` (1 = unbiased, torch's default; 0 = population).
Tensor var(const Tensor& x, std::vector<int64_t> dims, int64_t correction = 1,
           bool keepdim = false);

// ---- ops/matmul.cpp: GEMM-backed ops ----
// a: (..., M, K), b: (..., K, N) -> (..., M, N); batch dims broadcast; 1-D operands as torch.
Tensor matmul(const Tensor& a, const Tensor& b);
// x: (..., K), w: (N, K), b: (N) or undefined -> (..., N)
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());
// base + scale · (x Wᵀ + b) in one GEMM that reads base itself where the backend can
// (Backend::gemm_add), else accumulates into a copy of base (LoRA's y + s·B(Ax), or a
// bottleneck's up-projection joining the residual stream: AdaptFormer, Convpass): saves the
// product's own buffer and the separate scale and add passes. base: (..., N); b: (N) or undefined.
Tensor add_linear(const Tensor& base, const Tensor& x, const Tensor& w, double scale = 1.0, const Tensor& b = Tensor());
// Mixed precision: y = x Wᵀ + b + scale · (x Aᵀ) Bᵀ stored in BF16, with a frozen BF16 w (N, K)
// and b, and a LoRA (A (r, K), B (N, r), F32, trainable) on all N outputs that joins the same
// GEMM as r more columns of x and of W ([x | x Aᵀ]·[W | s·B]ᵀ, x, x Aᵀ and s·B rounded to
// BF16), for a reader that takes BF16 (attention on LoRA's qkv: nn/layers.cpp). Gradients F32,
// from BF16 GEMMs: dx = g W + dh A, dh = s·g B, dA = dhᵀ x, dB = s·gᵀ (x Aᵀ)
// (engine/ops/lowrank.cpp). Where the backend has no fused BF16 form: the F32 ops, rounded once.
Tensor linear_lowrank_bf16(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& A, const Tensor& B,
                           double scale = 1.0);
// Mixed precision: linear with a frozen BF16 w (and a frozen b) whose y is stored in BF16 (F32
// sums, rounded as stored), for a reader that takes BF16 (gelu_bf16; nn/layers.cpp's MLP). Its
// gradient may come in F32 or BF16; dX is F32.
Tensor linear_bf16_out(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

// ---- ops/softmax.cpp ----
Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);

// ---- ops/norm.cpp ----
// Normalises over the last dim; w, b: (D) or undefined.
Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps = 1e-5);

// ---- ops/conv.cpp ----
// x: (N, C, H, W), w: (O, C/groups, kh, kw), b: (O) or undefined -> (N, O, oh, ow).
// A per-sample kernel w: (N, O, C/groups, kh, kw) convolves each image with its own filters
// (dynamic convolution). Depthwise (groups == C == O) uses a direct kernel.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(),
              std::vector<int64_t> stride = {1, 1}, std::vector<int64_t> padding = {0, 0},
              std::vector<int64_t> dilation = {1, 1}, int64_t groups = 1);

// ---- ops/pool.cpp: pooling and resampling, NCHW ----
Tensor avg_pool2d(const Tensor& x, std::vector<int64_t> kernel, std::vector<int64_t> stride = {},
                  std::vector<int64_t> padding = {0, 0}, bool count_include_pad = true);
Tensor adaptive_avg_pool2d(const Tensor& x, std::vector<int64_t> output_size);
// mode "bilinear" or "bicubic"; output size (oh, ow).
Tensor interpolate(const Tensor& x, std::vector<int64_t> size, const std::string& mode = "bilinear",
                   bool align_corners = false);

// ---- ops/roi_align.cpp: region features (Mask R-CNN), torchvision.ops.roi_align semantics ----
// x: (N, C, H, W); rois: (K, 5) rows (batch index, x1, y1, x2, y2) in image coordinates, x's
// dtype and device -> (K, C, oh, ow). spatial_scale maps image to map coordinates (1/stride);
// sampling_ratio <= 0 samples ceil(bin size) points a side; aligned shifts by half a pixel.
// Gradient for x only.
Tensor roi_align(const Tensor& x, const Tensor& rois, std::vector<int64_t> output_size,
                 double spatial_scale, int64_t sampling_ratio = -1, bool aligned = true);

// ---- ops/shape.cpp: joining, splitting, padding, rolling ----
Tensor concat(const std::vector<Tensor>& xs, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, std::vector<int64_t> sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim = 0);
// pad: pairs from the last dim backwards, as torch.nn.functional.pad (constant mode).
Tensor pad(const Tensor& x, std::vector<int64_t> pads, double value = 0.0);
Tensor roll(const Tensor& x, std::vector<int64_t> shifts, std::vector<int64_t> dims);

// ---- ops/index.cpp: gather/scatter ----
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- ops/attention.cpp ----
// q: (B, H, Nq, Dh), k, v: (B, H, Nk, Dh), mask: additive, broadcastable to (B, H, Nq, Nk),
// or undefined. scale defaults to Dh^-0.5. -> (B, H, Nq, Dh)
// products: DType::F32, or DType::BF16 (mixed precision, nn/precision.h): F32 output and
// gradients, with the four products' operands rounded to BF16 (F32 sums) and Q, K, V kept for
// the backward in BF16; the softmax stays F32. With BF16 products q, k, v may also be BF16 (a
// frozen qkv's BF16 output, read in place); their gradients are still F32.
// The same with q, k, v given as one (B, N, 3, H, Dh) tensor (a qkv projection's output,
// reshaped): the backward then writes one gradient for it instead of three to be summed; for
// a BF16 qkv (BF16 products) that gradient is BF16, rounded as stored (its frozen projection's
// dX GEMM reads it so: linear_bf16_out, linear_lowrank_bf16). With out_bf16 (BF16 products)
// the output is stored in BF16 by the PV GEMM, for a reader that takes BF16 (a frozen
// projection with no tuner: nn/layers.cpp); its gradient may come in F32 or BF16.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask = Tensor(),
                                    std::optional<double> scale = std::nullopt,
                                    DType products = DType::F32);
Tensor scaled_dot_product_attention_qkv(const Tensor& qkv, const Tensor& mask = Tensor(),
                                        std::optional<double> scale = std::nullopt,
                                        DType products = DType::F32, bool out_bf16 = false);

// ---- ops/dropout.cpp (random streams come from random.h's global generator) ----
Tensor dropout(const Tensor& x, double p, bool training);
// Drops whole samples (dim 0) with probability p, scaling survivors by 1/(1-p).
Tensor drop_path(const Tensor& x, double p, bool training);

// ---- ops/loss.cpp (reduction: "mean", "sum" or "none") ----
// logits: (N, C) or (N, C, d1, ...); target: I64 class indices (N) / (N, d1, ...).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, double label_smoothing = 0.0,
                     int64_t ignore_index = -100, const std::string& reduction = "mean");
// Soft targets: target probabilities of logits' shape.
Tensor cross_entropy_soft(const Tensor& logits, const Tensor& target_probs,
                          const std::string& reduction = "mean");
// torch.nn.functional.kl_div(input=log-probs, target, reduction, log_target)
Tensor kl_div(const Tensor& log_input, const Tensor& target, const std::string& reduction = "mean",
              bool log_target = false);
Tensor mse_loss(const Tensor& a, const Tensor& b, const std::string& reduction = "mean");
Tensor smooth_l1_loss(const Tensor& a, const Tensor& b, double beta = 1.0,
                      const std::string& reduction = "mean");

}  // namespace vt
