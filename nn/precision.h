// precision.h — mixed precision as one policy, decided once per model (autocast's effect
// without deciding it op by op at run time).
//
// fp32: every tensor F32. bf16, op by op:
//   frozen Linear weights (qkv, proj, fc1, fc2, PatchMerging's reduction, ...) and the patch
//     embedding's projection      stored BF16: half the weight memory
//   their GEMMs (linear, engine/ops/matmul.cpp)
//                                 the input rounded to BF16, BF16 × BF16 products summed in F32,
//                                 F32 out; the backward's dX GEMM the same (dY rounded to BF16)
//   biases, LayerNorm, softmax, GELU and the other element-wise ops, losses, reductions
//                                 F32; a frozen linear's bias is added inside its GEMM
//   the MLP's GELU, where fc2 is frozen, BF16 and without a tuner
//                                 computed in F32, stored in BF16: the form fc2's GEMM reads
//                                 (no F32 activation written and rounded by a second pass);
//                                 where fc1 is so too, fc1's output (GELU's saved input) is
//                                 stored in BF16 and GELU's gradient as well (fc1's dX GEMM
//                                 would round it to BF16 anyway)
//   attention's QKᵀ and PV and their backward (engine/ops/attention.cpp), where the block's
//   qkv projection is frozen      Q, K, V, P, dO, dS rounded to BF16, F32 sums, F32 out;
//                                 the softmax F32, storing P and dS in BF16 as it writes
//                                 them; Q, K, V and P saved in BF16; where qkv has no tuner
//                                 either, its GEMM stores Q, K, V in BF16 (one packed tensor,
//                                 no F32 copy rounded by a second pass), and so it does with a
//                                 LoRA on all of qkv: s·B(Ax) joins that GEMM as r more
//                                 columns, [x | Ax]·[W | s·B]ᵀ, Ax made from the BF16 x and
//                                 stored in BF16, s·B rounded (linear_lowrank_bf16); the
//                                 LoRA's gradients F32 from BF16 GEMMs, x kept in BF16; the
//                                 gradient of that packed Q, K, V stored in BF16 by the dQ,
//                                 dK, dV GEMMs (the projection's backward reads it in BF16:
//                                 its dX GEMM, and a LoRA's dh and dB as BF16 GEMMs); where
//                                 proj is frozen, BF16 and without a tuner, PV stores the
//                                 output O in BF16, the form proj's GEMM reads
//   convolutions                  F32 (not yet BF16)
//   trainable parameters (tuners, heads, decoders), their gradients, AdamW's moments
//                                 F32: master weights; adapter files stay F32
//   saved activations             attention's Q, K, V and the MLP's pre-GELU activation in BF16;
//                                 the rest F32; a frozen linear keeps only its BF16 weight
// apply_precision() runs after the method is applied (or the adapter loaded): it converts only
// frozen weights, so full fine-tuning stays F32 throughout.
#pragma once
#include <string>

#include "nn/module.h"

namespace vt::nn {

enum class Precision { FP32, BF16 };

// "fp32", "bf16", or "auto": bf16 where the CPU has native BF16 instructions, else fp32.
// Throws naming the value for anything else.
Precision parse_precision(const std::string& name);
std::string precision_name(Precision p);
bool cpu_has_native_bf16();  // AVX-512 BF16 (or AMX-BF16)

// Applies the policy to a model whose trainable parameters are already marked; returns the
// number of weights converted.
int64_t apply_precision(Module& model, Precision p);

}  // namespace vt::nn
