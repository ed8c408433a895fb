// test_peft_seeds.cpp — the four seed methods against PyTorch (tests/reference/peft_seeds.py):
// Convpass, U-Tuning (each parallel form alone and the documented default), iConFormer on ViT
// and Swin; DyT on ViT in eval mode (the sparse MLP path vs the reference's masked dense one),
// in train mode with the fixture's fixed Gumbel noise (straight-through gradients), plain and
// MoE adapter, and its full loss. The reference's non-zero tuner values are loaded under their
// C++ names (strict), then logits and every trainable gradient must match (tests/peft_parity.h).
#include <set>

#include "peft/dyt.h"
#include "tests/peft_parity.h"

using namespace vt;
using namespace vt::nn;
using namespace vt::test;
using namespace vt::test::parity;
using vt::peft::json;

namespace {

const Family kViT{"vit_test_tiny", "vit_test_tiny_timm.safetensors"};
const Family kSwin{"swin_test_tiny", "swin_test_tiny_timm.safetensors"};

// Convpass, U-Tuning and iConFormer: the same options on both families.
std::vector<Case> shared_cases() {
  auto ut = [](const std::string& tuners) {
    return json{{"tuners", tuners}, {"prefix_length", 3}, {"bottleneck", 4}, {"adapter_scale", 0.6}};
  };
  return {
      {"convpass", "convpass", {{"bottleneck", 4}, {"scale", 0.7}}},
      {"convpass_attn", "convpass", {{"bottleneck", 4}, {"scale", 0.7}, {"sites", "attn"}}},
      {"utuning_adapter_attn", "utuning", ut("adapter@attn")},
      {"utuning_adapter_mlp", "utuning", ut("adapter@mlp")},
      {"utuning_adapter_block", "utuning", ut("adapter@block")},
      {"utuning_prefix_attn", "utuning", ut("prefix@attn")},
      {"utuning_prompt_attn", "utuning", ut("prompt@attn")},
      {"utuning_default", "utuning", json::object()},  // prefix@attn,adapter@mlp, l = 11, h = 8
      {"iconformer", "iconformer", {{"bottleneck", 4}, {"scale", 0.8}}},
  };
}

json dyt_options(int64_t experts) {
  return {{"bottleneck", 4}, {"experts", experts}, {"scale", 0.5}, {"dropout", 0.0}};
}

// Train mode, every dispatcher fed the fixture's noise <case>.noise.blocks.<i>.
std::unique_ptr<nn::ImageModel> load_dyt_train(const Fixture& fx, const Case& c) {
  auto model = load_case(kViT, fx, c);
  model->train();
  const auto noise = with_prefix(fx, c.name + ".noise.");
  auto& vit = dynamic_cast<VisionTransformer&>(*model);
  REQUIRE(noise.size() == vit.blocks.size());
  for (const auto& [block, n] : noise) peft::dyt_fix_noise(*model, block + ".dispatcher", n);
  return model;
}

std::set<std::string> cases_in(const Fixture& fx) {
  std::set<std::string> out;
  for (const auto& [k, t] : fx.file.tensors) {
    auto dot = k.find(".logits");
    if (dot != std::string::npos) out.insert(k.substr(0, dot));
  }
  return out;
}

}  // namespace

TEST_CASE("peft seeds: Convpass, U-Tuning, iConFormer on ViT match PyTorch", "[peft_seeds][torch]") {
  const Fixture fx("peft_seeds_vit.safetensors");
  for (const Case& c : shared_cases()) {
    DYNAMIC_SECTION(c.name) { check_case(kViT, fx, c); }
  }
}

TEST_CASE("peft seeds: Convpass, U-Tuning, iConFormer on Swin match PyTorch", "[peft_seeds][torch]") {
  const Fixture fx("peft_seeds_swin.safetensors");
  for (const Case& c : shared_cases()) {
    DYNAMIC_SECTION(c.name) { check_case(kSwin, fx, c); }
  }
}

TEST_CASE("peft seeds: DyT at inference skips tokens and matches the masked dense reference",
          "[peft_seeds][torch][dyt]") {
  const Fixture fx("peft_seeds_vit.safetensors");
  for (auto [name, experts] : {std::pair{"dyt_eval", 1}, std::pair{"dyt_eval_moe", 3}}) {
    DYNAMIC_SECTION(name) {
      const Case c{name, "dyt", dyt_options(experts)};
      check_case(kViT, fx, c);  // the sparse path: only kept tokens through LN2 + MLP
      auto model = load_case(kViT, fx, c);
      peft::dyt_reset_stats(*model);
      Tensor sparse = run(*model, fx.get("images"));
      CHECK(peft::dyt_stats(*model).mlp_token_rate == Approx(fx.get(c.name + ".rate").item()));
      for (auto& b : dynamic_cast<VisionTransformer&>(*model).blocks) b->mlp_dispatcher->sparse = false;
      require_parity(run(*model, fx.get("images")), fx.get(c.name + ".logits"), "masked dense logits");
    }
  }
}

TEST_CASE("peft seeds: DyT in training (fixed Gumbel noise, straight-through) matches PyTorch",
          "[peft_seeds][torch][dyt]") {
  const Fixture fx("peft_seeds_vit.safetensors");
  for (auto [name, experts] : {std::pair{"dyt_train", 1}, std::pair{"dyt_train_moe", 3}}) {
    DYNAMIC_SECTION(name) {
      const Case c{name, "dyt", dyt_options(experts)};
      auto model = load_dyt_train(fx, c);
      Tensor logits = run(*model, fx.get("images"));
      require_parity(logits, fx.get(c.name + ".logits"), c.name + " logits");
      logits.backward(fx.get("G").clone());
      check_grads(*model, fx, c.name + ".grad.", with_prefix(fx, c.name + ".param.").size());
      // the gate learns through S = σ((E + noise)/τ): its gradient is not zero
      CHECK(max_abs(fx.get(c.name + ".grad.blocks.0.dispatcher.gate.weight")) > 0);
    }
  }
}

TEST_CASE("peft seeds: the DyT loss (CE + CE + KL + rate) and its gradients match PyTorch",
          "[peft_seeds][torch][dyt]") {
  const Fixture fx("peft_seeds_vit.safetensors");
  const Case c{"dyt_loss", "dyt", dyt_options(1)};
  auto model = load_dyt_train(fx, c);
  Tensor student;  // dyt_loss runs the complete model first, then the student
  Tensor loss = peft::dyt_loss(
      *model, [&](const Tensor& x) { return student = run(*model, x); }, fx.get("images"),
      fx.get("labels"), /*target_rate=*/0.3);
  require_parity(student, fx.get("dyt_loss.logits"), "student logits");
  require_parity(loss.reshape({1}), fx.get("dyt_loss.loss").reshape({1}), "loss");
  loss.backward();
  check_grads(*model, fx, "dyt_loss.grad.", with_prefix(fx, "dyt_loss.param.").size());
}

TEST_CASE("peft seeds: every fixture case is tested, with non-zero tuner values", "[peft_seeds][torch]") {
  std::set<std::string> vit, swin;
  for (const Case& c : shared_cases()) vit.insert(c.name), swin.insert(c.name);
  for (const char* n : {"dyt_eval", "dyt_eval_moe", "dyt_train", "dyt_train_moe", "dyt_loss"}) vit.insert(n);
  for (auto [file, cases] : {std::pair{"peft_seeds_vit.safetensors", &vit},
                             std::pair{"peft_seeds_swin.safetensors", &swin}}) {
    INFO(file);
    const Fixture fx(file);
    CHECK(cases_in(fx) == *cases);
    for (const auto& [k, t] : fx.file.tensors) {
      if (k.find(".param.") == std::string::npos) continue;
      INFO(k);
      double smallest = 1e300;
      for (double v : t.to_vector()) smallest = std::min(smallest, std::abs(v));
      CHECK(smallest > 0);  // a zero (e.g. a zero-initialised up projection) could hide a wrong path
    }
  }
}

TEST_CASE("peft seeds: a fixed DyT noise is checked", "[peft_seeds][dyt][errors]") {
  VisionTransformer m(ViTConfig::named("vit_test_tiny"));
  peft::apply_method(m, {"dyt", dyt_options(1)});
  CHECK_THROWS_WITH(peft::dyt_fix_noise(m, "blocks.0.attn", Tensor()),
                    Catch::Contains("'blocks.0.attn' is not a DyT dispatcher"));
  CHECK_THROWS_WITH(peft::dyt_fix_noise(m, "blocks.9.dispatcher", Tensor()),
                    Catch::Contains("no module 'blocks.9.dispatcher'"));
  // vit_test_tiny at 32 px: 16 patch tokens; a noise for 15 is refused when the gate runs
  peft::dyt_fix_noise(m, "blocks.1.dispatcher", Tensor::zeros({2, 15, 1}));
  m.train();
  CHECK_THROWS_WITH(m.forward(rand_tensor({2, 3, 32, 32}, 5, DType::F32)),
                    Catch::Contains("fixed noise [2, 15, 1] does not match the gate's [2, 16, 1]"));
}
