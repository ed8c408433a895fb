// precision.cpp — the mixed-precision policy (see precision.h).
#include "nn/precision.h"

#include "engine/backend.h"
#include "nn/layers.h"

namespace vt::nn {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::FP32;
  if (name == "bf16") return Precision::BF16;
  if (name == "auto") return cpu_has_native_bf16() ? Precision::BF16 : Precision::FP32;
  throw Error("precision: expected fp32, bf16 or auto, got '" + name + "'");
}

std::string precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : "fp32"; }

bool cpu_has_native_bf16() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

int64_t apply_precision(Module& model, Precision p) {
  if (p == Precision::FP32) return 0;
  std::vector<Tensor> weights;  // the frozen GEMM weights
  model.apply([&](const std::string&, Module& m) {
    if (auto* l = dynamic_cast<Linear*>(&m)) weights.push_back(l->weight);
    if (auto* pe = dynamic_cast<PatchEmbed*>(&m)) weights.push_back(pe->proj->weight);
    // Attention's products in BF16 where its projections are frozen (not full fine-tuning).
    if (auto* a = dynamic_cast<Attention*>(&m))
      if (!a->qkv->weight.requires_grad()) a->products = DType::BF16;
  });
  int64_t n = 0;
  for (Tensor& w : weights)
    if (w.defined() && !w.requires_grad() && w.dtype() == DType::F32) {
      convert_in_place(w, [](const Tensor& t) { return t.to(DType::BF16); });
      // The F32 block goes back to the system now, not into the allocator's cache: the peak
      // stays at the F32 model plus one weight, not the F32 and the BF16 model together.
      backend_for(w.device()).release_cached();
      ++n;
    }
  return n;
}

}  // namespace vt::nn
