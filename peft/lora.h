// lora.h — LoRA's tuner type, exposed for merging (peft/merge.cpp) and tests.
#pragma once
#include "nn/layers.h"
#include "nn/tuner_sites.h"
#include "peft/merge.h"

namespace vt::peft {

// y' = y + scale · (x Aᵀ) Bᵀ placed in output rows [row0, row0 + B.rows) of the host linear.
struct LoRA : nn::OutputTuner, Mergeable {
  Tensor A, B;          // (r, in) kaiming-uniform(a=√5), (rows, r) zero
  double scale = 1.0;   // α / r, or 1 (NOAH's code has no scale)
  int64_t row0 = 0, out_total = 0;
  LoRA(const Tensor& like, int64_t in, int64_t rows, int64_t r, int64_t row0, int64_t out_total,
       double scale);
  Tensor forward(const Tensor& x, const Tensor& y) override;
  // s·B(Ax) as a low-rank term of the host's own GEMM (BF16 host): a LoRA on all its rows
  bool is_low_rank() const override { return B.size(0) == out_total; }
  LowRank low_rank() override { return {A, B, scale}; }
  Tensor delta_weight() const;  // (out_total, in): scale · B A in rows [row0, row0 + rows)
  void merge_into(nn::StateDict& sd, const std::string& host) const override;  // W += ΔW
};

// Attaches a LoRA of rank r and scale s to block b's target — qkv, q, k, v (a third of the
// fused qkv rows), proj, fc1 or fc2 — registered on the host linear as "lora_<target>".
std::shared_ptr<LoRA> attach_lora(const nn::BlockSites& b, const std::string& target, int64_t r, double scale);

}  // namespace vt::peft
