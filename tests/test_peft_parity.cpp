// test_peft_parity.cpp — every PEFT tuner against PyTorch (tests/reference/peft.py): the reference
// implements each method the way its official code does on torchvision's ViT and Swin; here the
// C++ method is applied to the same backbone (backbones.py's random weights, timm naming), the
// reference's non-zero tuner values are loaded under their C++ names with a strict load (so the
// parameter names and shapes line up exactly), and the logits and the gradient of
// sum(logits · G) for every trainable tensor must match.
//
// Tolerances: the reference runs in float64 from float32 values, so its stored results are exact
// to float32 rounding; the C++ model runs in float32. Logits and gradients: rtol 1e-4 with an
// absolute floor of 1e-5 · max|reference| for entries that are near zero by cancellation.
#include <algorithm>
#include <cmath>
#include <set>

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
  std::string name;  // the fixture's case prefix
  std::string method;
  json options;
};

// The fixture's backbone: <config>_timm.safetensors (written by backbones.py), head included.
struct Family {
  std::string config, fixture;
  std::unique_ptr<Module> make(int64_t classes) const {
    if (config.rfind("vit", 0) == 0) {
      ViTConfig c = ViTConfig::named(config);
      c.num_classes = classes;
      return std::make_unique<VisionTransformer>(c);
    }
    SwinConfig c = SwinConfig::named(config);
    c.num_classes = classes;
    return std::make_unique<SwinTransformer>(c);
  }
};

Tensor run(Module& m, const Tensor& images) {
  if (auto* v = dynamic_cast<VisionTransformer*>(&m)) return v->forward(images);
  return dynamic_cast<SwinTransformer&>(m).forward(images);
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector()) m = std::max(m, std::abs(v));
  return m;
}

void require_parity(const Tensor& got, const Tensor& want, const std::string& what) {
  require_close(got, want, 1e-4, 1e-5 * max_abs(want), what);
}

// Tensors of the fixture whose key starts with `prefix`, the prefix removed.
std::map<std::string, Tensor> with_prefix(const Fixture& fx, const std::string& prefix) {
  std::map<std::string, Tensor> out;
  for (const auto& [k, t] : fx.file.tensors)
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = t;
  return out;
}

void check_case(const Family& fam, const Fixture& fx, const Case& c) {
  INFO(fam.config << " / " << c.name << " (" << c.method << " " << c.options.dump() << ")");
  const Tensor images = fx.get("images"), G = fx.get("G");
  auto model = fam.make(G.size(1));
  peft::apply_method(*model, {c.method, c.options});

  StateDict sd = Fixture(fam.fixture).file.tensors;
  const auto params = with_prefix(fx, c.name + ".param.");
  for (const auto& [k, t] : params) sd[k] = t;
  model->load_state_dict(sd, /*strict=*/true);  // every tuner tensor, by its exact C++ name
  model->eval();

  Tensor logits = run(*model, images);
  require_parity(logits, fx.get(c.name + ".logits"), c.name + " logits");
  logits.backward(G.clone());

  // The tensors that train are exactly those the reference differentiated, with its gradients;
  // every frozen backbone tensor is left without a gradient.
  auto want = with_prefix(fx, c.name + ".grad.");
  REQUIRE(want.size() >= params.size() + 2);  // the tuner's tensors and the head's two
  int64_t compared = 0;
  for (const auto& [n, t] : model->named_parameters()) {
    INFO(n);
    if (!t.requires_grad()) {
      CHECK(!t.grad().defined());
      continue;
    }
    auto it = want.find(n);
    REQUIRE(it != want.end());  // trains here, but not in the reference
    require_parity(t.grad(), it->second, "gradient of " + n);
    ++compared;
  }
  CHECK(compared == (int64_t)want.size());  // nothing the reference trains is frozen here
}

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
      {"convpass", "convpass", {{"bottleneck", 4}, {"scale", 0.7}}},
      {"iconformer", "iconformer", {{"bottleneck", 4}, {"scale", 0.8}}},
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
                    Catch::Contains("VPT-shallow has no Swin form"));
}
