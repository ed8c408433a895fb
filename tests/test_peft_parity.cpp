// test_peft_parity.cpp — every PEFT tuner against PyTorch (tests/reference/peft.py): the reference
// implements each method the way its official code does on torchvision's ViT and Swin; here the
// C++ method is applied to the same backbone (backbones.py's random weights, timm naming), the
// reference's non-zero tuner values are loaded under their C++ names with a strict load (so the
// parameter names and shapes line up exactly), and the logits and the gradient of
// sum(logits · G) for every trainable tensor must match (tests/peft_parity.h, shared with
// test_peft_seeds.cpp, which covers Convpass, U-Tuning, DyT and iConFormer).
#include <set>

#include "tests/peft_parity.h"

using namespace vt;
using namespace vt::nn;
using namespace vt::test;
using namespace vt::test::parity;
using vt::peft::json;

namespace {

const std::vector<Case>& vit_cases() {
  static const std::vector<Case> cases = {
      {"lora_qkv", "lora", {{"r", 4}}},
      {"lora_qv_alpha", "lora", {{"r", 4}, {"targets", "q,v"}, {"alpha", 8.0}}},
      {"adapter", "adapter", {{"bottleneck", 4}, {"site", "both"}}},
      {"adaptformer", "adaptformer", {{"bottleneck", 4}, {"scale", 0.5}}},
      {"vpt_shallow", "vpt", {{"length", 3}, {"deep", false}}},
      {"vpt_deep", "vpt", {{"length", 3}, {"deep", true}}},
      {"prefix", "prefix", {{"length", 3}}},
      {"ssf", "ssf", json::object()},
      {"fact", "fact", {{"r", 4}, {"scale", 2.0}}},
      {"bitfit", "bitfit", json::object()},
  };
  return cases;
}

const std::vector<Case>& swin_cases() {
  static const std::vector<Case> cases = {
      {"lora_qkv", "lora", {{"r", 4}}},
      {"lora_qv_alpha", "lora", {{"r", 4}, {"targets", "q,v"}, {"alpha", 8.0}}},
      {"adapter", "adapter", {{"bottleneck", 4}, {"site", "both"}}},
      {"adaptformer", "adaptformer", {{"bottleneck", 4}}},  // the default scale 0.1
      {"vpt_deep", "vpt", {{"length", 3}, {"deep", true}}},
      {"prefix", "prefix", {{"length", 3}}},
      {"ssf", "ssf", json::object()},
      {"fact", "fact", {{"r", 4}, {"scale", 2.0}}},
      {"bitfit", "bitfit", json::object()},
  };
  return cases;
}

}  // namespace

TEST_CASE("peft parity: ViT tuners match PyTorch", "[peft][torch]") {
  const Family fam{"vit_test_tiny", "vit_test_tiny_timm.safetensors"};
  const Fixture fx("peft_vit.safetensors");
  for (const Case& c : vit_cases()) {
    DYNAMIC_SECTION(c.name) { check_case(fam, fx, c); }
  }
}

TEST_CASE("peft parity: Swin tuners match PyTorch", "[peft][torch]") {
  const Family fam{"swin_test_tiny", "swin_test_tiny_timm.safetensors"};
  const Fixture fx("peft_swin.safetensors");
  for (const Case& c : swin_cases()) {
    DYNAMIC_SECTION(c.name) { check_case(fam, fx, c); }
  }
}

TEST_CASE("peft parity: the fixture's every case is tested", "[peft][torch]") {
  // A case added to peft.py but not here would otherwise go unchecked.
  for (auto [file, cases] : {std::pair{"peft_vit.safetensors", &vit_cases()},
                             std::pair{"peft_swin.safetensors", &swin_cases()}}) {
    INFO(file);
    std::set<std::string> in_file, here;
    for (const auto& [k, t] : Fixture(file).file.tensors) {
      auto dot = k.find(".logits");
      if (dot != std::string::npos) in_file.insert(k.substr(0, dot));
    }
    for (const Case& c : *cases) here.insert(c.name);
    CHECK(in_file == here);
  }
}

TEST_CASE("peft parity: tuner tensors of the wrong shape are refused by name", "[peft][torch][errors]") {
  // The rank-4 LoRA of the fixture does not load into a rank-2 LoRA: the error names the tensor.
  const Fixture fx("peft_vit.safetensors");
  auto model = Family{"vit_test_tiny", ""}.make(10);
  peft::apply_method(*model, {"lora", {{"r", 2}}});
  StateDict sd = Fixture("vit_test_tiny_timm.safetensors").file.tensors;
  for (const auto& [k, t] : with_prefix(fx, "lora_qkv.param.")) sd[k] = t;
  CHECK_THROWS_WITH(model->load_state_dict(sd, true),
                    Catch::Contains("shape mismatch: blocks.0.attn.qkv.lora_qkv.A"));
  // VPT-shallow has no Swin form.
  auto swin = Family{"swin_test_tiny", ""}.make(10);
  CHECK_THROWS_WITH(peft::apply_method(*swin, {"vpt", {{"deep", false}}}),
                    Catch::Contains("VPT-shallow needs one token sequence through all blocks, which a swin model"));
}
