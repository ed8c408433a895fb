// test_vit.cpp — the nn layer: Module tree, layers' gradients (f64), ViT against torchvision
// (both namings), parameter counts, frozen backbones, and checkpoint errors.
#include "engine/init.h"
#include "engine/io/safetensors.h"
#include "nn/checkpoint.h"
#include "nn/vit.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::nn;
using namespace vt::test;

namespace {
std::string fixture(const std::string& f) { return std::string(VT_FIXTURE_DIR) + "/" + f; }
}  // namespace

TEST_CASE("module tree: dotted names, freezing by pattern, reports", "[nn]") {
  VisionTransformer m(ViTConfig::named("vit_test_micro"));
  auto names = m.named_parameters();
  REQUIRE(names.front().first == "cls_token");  // own tensors first, then children
  bool found = false;
  for (auto& [n, t] : names) found = found || n == "blocks.1.attn.qkv.weight";
  REQUIRE(found);
  auto all = m.param_report();
  REQUIRE(all.trainable == all.total);
  REQUIRE(m.freeze("*") == (int64_t)names.size());
  REQUIRE(m.unfreeze("head.*") == 2);
  REQUIRE(m.unfreeze("blocks.*.bias") > 0);
  auto r = m.param_report();
  REQUIRE(r.trainable_head == m.head->weight.numel() + m.head->bias.numel());
  REQUIRE(r.trainable_backbone > 0);
  REQUIRE(glob_match("blocks.*.attn.*", "blocks.11.attn.qkv.weight"));
  REQUIRE(!glob_match("blocks.*.mlp.*", "blocks.11.attn.qkv.weight"));
}

TEST_CASE("layers: gradients in f64", "[nn][grad]") {
  Block b(8, 2);
  b.to(DType::F64);
  auto x = rand_tensor({2, 3, 8}, 1).set_requires_grad(true);
  gradcheck([&](auto& in) { return b.forward(in[0]); }, {x, b.attn->qkv->weight, b.norm2->weight,
                                                          b.mlp->fc2->bias}, 1e-6, 1e-5);
  PatchEmbed pe(4, 3, 6);
  pe.to(DType::F64);
  auto img = rand_tensor({1, 3, 8, 8}, 2).set_requires_grad(true);
  gradcheck([&](auto& in) { return pe.forward(in[0]); }, {img, pe.proj->weight, pe.proj->bias});
}

TEST_CASE("ViT matches torchvision, loaded from both namings", "[nn][vit][torch]") {
  auto io = load_safetensors(fixture("vit_test_tiny_io.safetensors")).tensors;
  for (const char* naming : {"timm", "torchvision"}) {
    INFO(naming);
    VisionTransformer m(ViTConfig::named("vit_test_tiny"));
    m.reset_head(10);
    load_vit_checkpoint(m, fixture(std::string("vit_test_tiny_") + naming + ".safetensors"));
    m.eval();
    Tensor images = io.at("images").clone().set_requires_grad(true);
    Tensor logits = m.forward(images);
    require_close(logits, io.at("logits"), 1e-4, 1e-5, "logits");
    logits.backward(io.at("gout").clone());
    require_close(images.grad(), io.at("grad_images"), 1e-4, 1e-5, "grad_images");
  }
}

TEST_CASE("a frozen backbone gives input gradients but keeps no weight gradients", "[nn][vit][frozen]") {
  VisionTransformer m(ViTConfig::named("vit_test_tiny"));
  m.freeze("*");
  const int64_t base = saved_bytes();
  Tensor images = rand_tensor({2, 3, 32, 32}, 3, DType::F32).set_requires_grad(true);
  Tensor out = sum(m.forward(images));
  const int64_t kept = saved_bytes() - base;
  out.backward();
  REQUIRE(images.grad().defined());
  for (auto& [n, t] : m.named_parameters()) {
    INFO(n);
    REQUIRE(!t.grad().defined());
  }
  // With everything frozen and no input gradient, nothing is recorded at all.
  Tensor y = m.forward(rand_tensor({2, 3, 32, 32}, 4, DType::F32));
  REQUIRE(!y.requires_grad());
  REQUIRE(saved_bytes() == base);
  // And the frozen run keeps less than a trainable one.
  m.unfreeze("*");
  Tensor z = sum(m.forward(images));
  REQUIRE(saved_bytes() - base > kept);
}

TEST_CASE("parameter counts of the named configs", "[nn][vit]") {
  init::SkipInit skip;  // counts only: no weights filled (engine/init.h)
  ViTConfig c = ViTConfig::named("vit_base_patch16_224");
  c.num_classes = 0;
  VisionTransformer m(c);
  REQUIRE(m.param_report().total == 85798656);
}

TEST_CASE("checkpoint problems are reported by name", "[nn][vit][errors]") {
  auto sd = load_safetensors(fixture("vit_test_tiny_timm.safetensors")).tensors;
  StateDict bad(sd.begin(), sd.end());
  bad.erase("blocks.2.norm1.weight");
  bad["blocks.0.attn.qkv.weight"] = Tensor::zeros({5, 64});
  bad["extra.weight"] = Tensor::zeros({3});
  VisionTransformer m(ViTConfig::named("vit_test_tiny"));
  m.reset_head(10);
  REQUIRE_THROWS_WITH(load_vit_state_dict(m, bad, {}, "bad.safetensors"),
                      Catch::Contains("bad.safetensors") &&
                          Catch::Contains("missing key: blocks.2.norm1.weight") &&
                          Catch::Contains("unexpected key: extra.weight") &&
                          Catch::Contains("blocks.0.attn.qkv.weight: file [5, 64] vs model [192, 64]"));
  // The head can be dropped (new label set): loads with a 7-class head.
  VisionTransformer m7(ViTConfig::named("vit_test_tiny"));
  m7.reset_head(7);
  LoadOptions o;
  o.drop_head = true;
  REQUIRE(load_vit_state_dict(m7, StateDict(sd.begin(), sd.end()), o, "ok").ok());
  REQUIRE_THROWS_WITH(ViTConfig::named("vit_nope"), Catch::Contains("vit_nope"));
  REQUIRE_THROWS_WITH(ViTConfig::from_json(R"({"dim": 8, "dpeth": 2})"), Catch::Contains("dpeth"));
}

TEST_CASE("position embeddings are resampled for another image size", "[nn][vit]") {
  auto sd = load_safetensors(fixture("vit_test_tiny_timm.safetensors")).tensors;
  ViTConfig c = ViTConfig::named("vit_test_tiny");
  c.img_size = 48;  // 6x6 grid instead of 4x4
  VisionTransformer m(c);
  m.reset_head(10);
  load_vit_state_dict(m, StateDict(sd.begin(), sd.end()), {}, "resample");
  REQUIRE(m.pos_embed.shape() == Shape{1, 37, 64});
  NoGrad ng;
  Tensor logits = m.forward(rand_tensor({1, 3, 48, 48}, 5, DType::F32));
  REQUIRE(logits.shape() == Shape{1, 10});
}
