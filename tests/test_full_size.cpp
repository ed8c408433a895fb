// test_full_size.cpp — the full-size ViT-B/16 and Swin-T against torchvision, without
// committing 100-330 MB of weights: every parameter is set by a formula both sides evaluate
// (tests/reference/backbones_full.py says which), and only torchvision's logits are stored
// (tests/fixtures/full_size_logits.safetensors, computed in float64). The small configs'
// fixtures (test_vit.cpp, test_swin.cpp) cover the key maps and gradients; this covers the real
// sizes: 12 blocks of width 768, Swin-T's four stages at 224 px with windows of 7.
#include <cmath>

#include "nn/swin.h"
#include "nn/vit.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;

namespace {

// The formula of backbones_full.py, in float64, rounded to float32.
void fill_by_formula(nn::Module& m) {
  nn::StateDict sd;
  int64_t j = 0;
  std::map<std::string, Tensor> params;
  for (auto& [name, t] : m.named_parameters()) params[name] = t;  // sorted as Python sorts them
  for (auto& [name, t] : params) {
    const bool ln_scale = t.dim() == 1 && name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
    std::vector<float> v((size_t)t.numel());
    for (int64_t k = 0; k < t.numel(); ++k) {
      const double s = std::sin(0.61803 * (double)k + 1.3 * (double)j + 0.5);
      v[k] = (float)(ln_scale ? 1 + 0.1 * s : 0.02 * s);
    }
    sd[name] = Tensor::from_vector(v, t.shape());
    ++j;
  }
  m.load_state_dict(sd, /*strict=*/false);  // buffers (Swin's index tables) stay as built
}

Tensor formula_image() {
  std::vector<float> v(3 * 224 * 224);
  for (size_t k = 0; k < v.size(); ++k) v[k] = (float)(0.5 * std::sin(0.37 * (double)k + 0.1));
  return Tensor::from_vector(v, {1, 3, 224, 224});
}

void check(nn::Module& model, const std::function<Tensor(const Tensor&)>& fwd, const std::string& key) {
  fill_by_formula(model);
  model.eval();
  NoGrad ng;
  Tensor logits = fwd(formula_image());
  Tensor want = Fixture("full_size_logits.safetensors").get(key);
  // float32 through 12 (or 12 Swin) blocks against float64: 1e-4 of the largest logit.
  const double scale = max(abs(want.reshape({-1})), 0).item();
  require_close(logits.to(DType::F64), want, 0, 1e-4 * scale, key);
}

}  // namespace

TEST_CASE("vit_base_patch16_224 matches torchvision's vit_b_16 at full size", "[vit][full]") {
  nn::VisionTransformer vit(nn::ViTConfig::named("vit_base_patch16_224"));
  check(vit, [&](const Tensor& x) { return vit.forward(x); }, "vit_b_16.logits");
}

TEST_CASE("swin_tiny_patch4_window7_224 matches torchvision's swin_t at full size", "[swin][full]") {
  nn::SwinTransformer swin(nn::SwinConfig::named("swin_tiny_patch4_window7_224"));
  check(swin, [&](const Tensor& x) { return swin.forward(x); }, "swin_t.logits");
}
