// test_peft_grad.cpp — finite-difference gradient checks of every PEFT method in float64: the
// gradient of each trainable tensor (the tuner's and the head's) and of the input image, through
// the whole model (vit_test_micro; swin_test_micro cut to two stages), in eval mode (dropout off).
//
// Tuner tensors are first given non-zero random values: at their usual initialisation LoRA's B,
// AdaptFormer's up projection or FacT's V are zero, and the gradients of the tensors before them
// would be zero too — a check that cannot fail. Tolerance: gradcheck's default, central
// differences with eps 1e-6 against |analytic − numeric| ≤ 1e-6 · (1 + |numeric|).
#include <cstring>

#include "engine/random.h"
#include "nn/swin.h"
#include "nn/vit.h"
#include "peft/method.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::nn;
using namespace vt::test;
using vt::peft::json;

namespace {

struct Case {
  std::string method;
  json options;
};

// swin_test_micro cut to two stages at 8 px (4×4 tokens, windows of 2, shifted; a patch merging;
// then a 2×2 map in one window): every Swin code path, at a fraction of the four-stage model's
// cost per forward (finite differences run two forwards per checked element).
SwinConfig swin_grad_config() {
  SwinConfig c = SwinConfig::named("swin_test_micro");
  c.name = "swin_test_micro_2stage";
  c.img_size = 8;
  c.depths = {2, 2};
  c.heads = {1, 2};
  c.num_classes = 3;
  return c;
}

std::unique_ptr<nn::ImageModel> make_model(const std::string& family) {
  vt::manual_seed(5);
  if (family == "vit") {
    ViTConfig c = ViTConfig::named("vit_test_micro");
    c.num_classes = 3;
    return std::make_unique<VisionTransformer>(c);
  }
  return std::make_unique<SwinTransformer>(swin_grad_config());
}

int64_t img_size(const std::string& family) {
  return family == "vit" ? ViTConfig::named("vit_test_micro").img_size : swin_grad_config().img_size;
}

Tensor run(nn::ImageModel& m, const Tensor& images) { return m.forward(images); }

// Non-zero values in [-0.5, 0.5) for every trainable tensor (the head is zero-initialised too).
void randomise_trainable(Module& m, uint64_t seed) {
  NoGrad ng;
  for (auto& [n, t] : m.named_parameters())
    if (t.requires_grad()) {
      Tensor r = rand_tensor(t.shape(), seed++, t.dtype(), -0.5, 0.5);
      std::memcpy(t.raw(), r.raw(), t.nbytes());
    }
}

void check_method(const std::string& family, const Case& c) {
  INFO(family << ": " << c.method << " " << c.options.dump());
  auto model = make_model(family);
  model->to(DType::F64);
  peft::apply_method(*model, {c.method, c.options});
  randomise_trainable(*model, 40);
  model->eval();
  const int64_t S = img_size(family);
  Tensor images = rand_tensor({1, 3, S, S}, 9, DType::F64).set_requires_grad(true);
  std::vector<Tensor> inputs{images};
  int64_t tuner_tensors = 0;
  for (auto& [n, t] : model->named_parameters())
    if (t.requires_grad()) {
      inputs.push_back(t);
      tuner_tensors += n.rfind("head.", 0) != 0;
    }
  // Every method but the linear probe trains something besides the head.
  REQUIRE(tuner_tensors > 0);
  gradcheck([&](const std::vector<Tensor>&) { return run(*model, images); }, inputs);
}

void check_all(const std::string& family, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.method << " " << c.options.dump()) { check_method(family, c); }
  }
}

}  // namespace

TEST_CASE("peft gradients: ViT tuners (f64 finite differences)", "[peft][grad]") {
  check_all("vit", {
                       {"lora", {{"r", 2}}},
                       {"lora", {{"r", 2}, {"targets", "q,v,proj,fc1,fc2"}, {"alpha", 4.0}}},
                       {"adapter", {{"bottleneck", 2}, {"site", "both"}}},
                       {"adaptformer", {{"bottleneck", 2}}},
                       {"vpt", {{"length", 2}, {"deep", false}}},
                       {"vpt", {{"length", 2}, {"deep", true}}},
                       {"prefix", {{"length", 2}}},
                       {"ssf", json::object()},
                       {"fact", {{"r", 2}, {"scale", 2.0}}},
                       {"bitfit", json::object()},
                       {"convpass", {{"bottleneck", 2}, {"scale", 1.0}}},
                       {"utuning", {{"prefix_length", 2}, {"bottleneck", 2}}},
                       {"utuning", {{"tuners", "prompt@attn,adapter@block,adapter@attn"}, {"prefix_length", 2}, {"bottleneck", 2}}},
                       {"iconformer", {{"bottleneck", 2}}},
                   });
}

TEST_CASE("peft gradients: Swin tuners (f64 finite differences)", "[peft][grad]") {
  check_all("swin", {
                        {"lora", {{"r", 2}}},
                        {"lora", {{"r", 2}, {"targets", "q,v,proj,fc1,fc2"}, {"alpha", 4.0}}},
                        {"adapter", {{"bottleneck", 2}, {"site", "both"}}},
                        {"adaptformer", {{"bottleneck", 2}}},
                        {"vpt", {{"length", 2}, {"deep", true}}},
                        {"prefix", {{"length", 2}}},
                        {"ssf", json::object()},
                        {"fact", {{"r", 2}, {"scale", 2.0}}},
                        {"bitfit", json::object()},
                        {"convpass", {{"bottleneck", 2}, {"scale", 1.0}}},
                        {"utuning", {{"prefix_length", 2}, {"bottleneck", 2}}},
                        {"iconformer", {{"bottleneck", 2}}},
                    });
}
