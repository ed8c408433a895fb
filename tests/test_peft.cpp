// test_peft.cpp — the PEFT machinery: parameter counts against docs/METHODS.md, frozen means frozen,
// options, adapter files (save -> load -> same logits; wrong adapter -> clear error), merging.
// PyTorch parity of each tuner lives in test_peft_parity.cpp, gradient checks in test_peft_grad.cpp.
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "engine/init.h"
#include "engine/random.h"
#include "nn/swin.h"
#include "nn/vit.h"
#include "peft/adapter_file.h"
#include "peft/dyt.h"
#include "peft/merge.h"
#include "peft/method.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::nn;
using namespace vt::test;
using vt::peft::json;

namespace {

int64_t backbone_trainable(const std::string& method, json opts = json::object()) {
  init::SkipInit skip;  // counts only: no weights filled (engine/init.h)
  ViTConfig c = ViTConfig::named("vit_base_patch16_224");
  c.num_classes = 100;
  VisionTransformer m(c);
  peft::apply_method(m, {method, opts});
  ParamReport r = m.param_report();
  REQUIRE(r.trainable_head == 768 * 100 + 100);  // the head always trains
  return r.trainable_backbone;
}

std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("vitune_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p.string();
}

// Gives every trainable tensor non-zero values (zero-initialised tuners would hide mistakes).
void randomise_trainable(Module& m, uint64_t seed) {
  NoGrad ng;
  for (auto& [n, t] : m.named_parameters())
    if (t.requires_grad()) {
      Tensor r = rand_tensor(t.shape(), seed++, t.dtype(), -0.2, 0.2);
      std::memcpy(t.raw(), r.raw(), t.nbytes());
    }
}

}  // namespace

TEST_CASE("peft: ViT-B/16 parameter counts equal docs/METHODS.md", "[peft][counts]") {
  CHECK(backbone_trainable("linear") == 0);
  CHECK(backbone_trainable("full") == 85798656);
  CHECK(backbone_trainable("bitfit") == 102912);
  CHECK(backbone_trainable("adapter", {{"bottleneck", 8}}) == 156768);
  CHECK(backbone_trainable("adaptformer", {{"bottleneck", 8}}) == 156768);
  // The papers' "1.19 M" at h = 64: the formula of h = 8, 12·(2·768·h + h + 768), gives
  // 1,189,632, as docs/METHODS.md lists.
  CHECK(backbone_trainable("adaptformer", {{"bottleneck", 64}}) == 1189632);
  CHECK(backbone_trainable("lora", {{"r", 8}}) == 294912);
  CHECK(backbone_trainable("ssf") == 205824);
  CHECK(backbone_trainable("vpt", {{"length", 10}, {"deep", true}}) == 92160);
  CHECK(backbone_trainable("vpt", {{"length", 10}, {"deep", false}}) == 7680);
  CHECK(backbone_trainable("prefix", {{"length", 20}}) == 368640);
  CHECK(backbone_trainable("fact", {{"r", 8}}) == 21504);
  CHECK(backbone_trainable("convpass", {{"bottleneck", 8}}) == 327552);
  CHECK(backbone_trainable("convpass", {{"bottleneck", 8}, {"sites", "attn"}}) == 163776);
  CHECK(backbone_trainable("utuning") == 359520);  // our documented default, "about 0.36 M"
}

TEST_CASE("peft: iConFormer tunes 1.6-2.8 % of ViT-B/16 and Swin-B", "[peft][counts]") {
  init::SkipInit skip;  // counts only
  ViTConfig vc = ViTConfig::named("vit_base_patch16_224");
  vc.num_classes = 0;
  VisionTransformer vit(vc);
  peft::apply_method(vit, {"iconformer", json::object()});
  const ParamReport rv = vit.param_report();
  const double vit_share = 100.0 * rv.trainable_backbone / (rv.total - rv.trainable_backbone);
  SwinConfig sc = SwinConfig::named("swin_base_patch4_window7_224");
  sc.num_classes = 0;
  SwinTransformer swin(sc);
  peft::apply_method(swin, {"iconformer", json::object()});
  const ParamReport rs = swin.param_report();
  const double swin_share = 100.0 * rs.trainable_backbone / (rs.total - rs.trainable_backbone);
  INFO("ViT-B " << vit_share << " %, Swin-B " << swin_share << " %");
  // per adapter: (C·d + d) + (d·d·k² + d·k²) + (d·C + C); two per block
  CHECK(rv.trainable_backbone == 24 * (768 * 32 + 32 + 32 * 288 + 288 + 32 * 768 + 768));
  CHECK(vit_share >= 1.6);
  CHECK(vit_share <= 2.8);
  CHECK(swin_share >= 1.6);
  CHECK(swin_share <= 2.8);
}

TEST_CASE("peft: U-Tuning's parallel prefix equals prefix tuning", "[peft][utuning]") {
  // (1−λ)·Attn(Q,K,V) + λ·Attn(Q,K_pre,V_pre) with λ the prefix's softmax share is the same
  // function as attention over [K_pre; K], [V_pre; V]: same logits, same gradients.
  for (std::string family : {"vit", "swin"}) {
    INFO(family);
    auto make = [&]() -> std::unique_ptr<ImageModel> {
      vt::manual_seed(3);
      if (family == "vit") return std::make_unique<VisionTransformer>(ViTConfig::named("vit_test_micro"));
      return std::make_unique<SwinTransformer>(SwinConfig::named("swin_test_micro"));
    };
    auto a = make(), b = make();
    a->to(DType::F64), b->to(DType::F64);
    peft::apply_method(*a, {"prefix", {{"length", 3}}});
    peft::apply_method(*b, {"utuning", {{"tuners", "prefix@attn"}, {"prefix_length", 3}}});
    randomise_trainable(*a, 5);
    StateDict sd;
    for (auto& [n, t] : a->named_parameters()) {
      std::string m = n;
      auto at = m.find(".attn.prefix.");
      if (at != std::string::npos) m.replace(at, 13, ".attn.utuning_prefix.");
      sd[m] = t;
    }
    b->load_state_dict(sd, /*strict=*/true);
    a->eval(), b->eval();
    auto run = [&](Module& m, const Tensor& x) {
      if (auto* v = dynamic_cast<VisionTransformer*>(&m)) return v->forward(x);
      return dynamic_cast<SwinTransformer&>(m).forward(x);
    };
    int64_t img = family == "vit" ? ViTConfig::named("vit_test_micro").img_size
                                  : SwinConfig::named("swin_test_micro").img_size;
    Tensor x = rand_tensor({2, 3, img, img}, 9, DType::F64);
    Tensor ya = run(*a, x), yb = run(*b, x);
    require_close(yb, ya, 1e-10, 1e-12, "parallel prefix logits");
    sum(mul(ya, ya)).backward();
    sum(mul(yb, yb)).backward();
    auto pb = b->named_parameters();
    std::map<std::string, Tensor> bp(pb.begin(), pb.end());
    for (auto& [n, t] : a->named_parameters()) {
      if (!t.requires_grad()) continue;
      std::string m = n;
      auto at = m.find(".attn.prefix.");
      if (at != std::string::npos) m.replace(at, 13, ".attn.utuning_prefix.");
      require_close(bp.at(m).grad(), t.grad(), 1e-8, 1e-10, "gradient of " + n);
    }
  }
}

TEST_CASE("peft: options are checked by name and type", "[peft][errors]") {
  VisionTransformer m(ViTConfig::named("vit_test_micro"));
  auto fails = [&](const std::string& method, json o, const std::string& needle) {
    try {
      peft::apply_method(m, {method, o});
      FAIL("no error for " << method << " " << o.dump());
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  fails("lorra", {}, "unknown PEFT method 'lorra'");
  fails("lora", {{"rank", 4}}, "unknown option 'rank' (options: r, alpha, targets)");
  fails("lora", {{"r", "eight"}}, "option 'r' must be an integer");
  fails("lora", {{"targets", "qkv,fc3"}}, "unknown target 'fc3'");
  fails("adapter", {{"site", "middle"}}, "option 'site' must be mlp, attn or both");
  // Sizes are bounded before anything is built (r = 10^9 would ask for gigabytes).
  fails("lora", {{"r", 1000000000}}, "option 'r' must be in [0, 4096], got 1000000000");
  fails("vpt", {{"length", -3}}, "option 'length' must be in [0, 4096], got -3");
  fails("iconformer", {{"kernel", 99}}, "option 'kernel' must be in [1, 31], got 99");
  fails("dyt", {{"experts", 1000}}, "option 'experts' must be in [1, 64], got 1000");
  auto kv = peft::parse_option_assignments({"r=4", "alpha=8.5", "targets=q,v", "deep=true"});
  CHECK(kv["r"] == 4);
  CHECK(kv["alpha"] == 8.5);
  CHECK(kv["targets"] == "q,v");
  CHECK(kv["deep"] == true);
  CHECK_THROWS_WITH(peft::parse_option_assignments({"r"}), Catch::Contains("not key=value"));
}

TEST_CASE("peft: every method runs on ViT and Swin, and only tuners and head get gradients",
          "[peft][frozen]") {
  for (const peft::Method& meth : peft::methods()) {
    for (std::string family : {"vit", "swin"}) {
      INFO(meth.name << " on " << family);
      std::unique_ptr<nn::ImageModel> m;
      if (family == "vit") m = std::make_unique<VisionTransformer>(ViTConfig::named("vit_test_micro"));
      else m = std::make_unique<SwinTransformer>(SwinConfig::named("swin_test_micro"));
      json opts = json::object();
      if (meth.name == "vpt" && family == "swin") opts["deep"] = true;
      peft::apply_method(*m, {meth.name, opts});
      randomise_trainable(*m, 7);
      m->eval();
      int64_t img = family == "vit" ? ViTConfig::named("vit_test_micro").img_size
                                    : SwinConfig::named("swin_test_micro").img_size;
      Tensor x = rand_tensor({2, 3, img, img}, 11, DType::F32);
      Tensor y = m->forward(x);
      sum(mul(y, y)).backward();
      int64_t with_grad = 0;
      for (auto& [n, t] : m->named_parameters()) {
        INFO(n);
        if (n.find(".dispatcher.") != std::string::npos) continue;  // DyT's gate learns in train mode only
        CHECK(t.grad().defined() == t.requires_grad());
        with_grad += t.grad().defined();
      }
      CHECK(with_grad > 0);
    }
  }
}

TEST_CASE("peft: a frozen ViT-B block keeps no inputs for weight gradients", "[peft][frozen]") {
  // One ViT-B/16 block, 197 tokens. Trainable weights need their inputs saved (dW = gyᵀ x);
  // with LoRA on qkv the proj, fc1 and fc2 inputs must not be kept.
  auto kept_by = [](bool lora) {
    ViTConfig c = ViTConfig::named("vit_base_patch16_224");
    c.depth = 1;
    VisionTransformer m(c);
    if (lora) peft::apply_method(m, {"lora", {}});
    else m.unfreeze("*");
    Tensor x = rand_tensor({1, 197, 768}, 5, DType::F32);
    m.blocks[0]->grid = {1, 14, 14};
    const int64_t base = saved_bytes();
    Tensor y = m.blocks[0]->forward(x);
    const int64_t kept = saved_bytes() - base;
    sum(y).backward();
    return kept;
  };
  const int64_t full = kept_by(false), lora = kept_by(true);
  INFO("saved bytes: full " << full << ", LoRA " << lora);
  CHECK(full - lora >= 197 * (768 + 768 + 3072) * 4);
}

TEST_CASE("peft: adapter files round-trip and refuse the wrong backbone", "[peft][adapter]") {
  const ViTConfig cfg = ViTConfig::named("vit_test_tiny");
  Tensor x = rand_tensor({2, 3, cfg.img_size, cfg.img_size}, 3, DType::F32);
  for (std::string method : {"lora", "adapter", "vpt", "ssf", "fact", "bitfit", "prefix"}) {
    INFO(method);
    vt::manual_seed(1);
    VisionTransformer pre(cfg);  // stands for the pretrained backbone: seed 1
    VisionTransformer tuned(cfg);
    tuned.load_state_dict(pre.state_dict());
    peft::apply_method(tuned, {method, {}});
    randomise_trainable(tuned, 21);
    tuned.eval();
    Tensor want = tuned.forward(x);
    const std::string dir = temp_dir(method);
    peft::save_adapter(dir, tuned, {{method, {}}, cfg.name, cfg.num_classes, nullptr});
    // The adapter holds only what trained.
    SafetensorsFile f = load_safetensors(dir + "/adapter_model.safetensors");
    int64_t numel = 0;
    for (auto& [n, t] : f.tensors) numel += t.numel();
    CHECK(numel == tuned.param_report().trainable);

    VisionTransformer fresh(cfg);
    fresh.load_state_dict(pre.state_dict());
    peft::AdapterInfo info = peft::load_adapter(dir, fresh);
    CHECK(info.tuner.method == method);
    fresh.eval();
    require_close(fresh.forward(x), want, 0, 0, method + " logits after save/load");

    // The same adapter on a backbone of another width fails, naming a tensor.
    VisionTransformer other(ViTConfig::named("vit_test_micro"));
    CHECK_THROWS_WITH(peft::load_adapter(dir, other), Catch::Contains("does not fit this backbone") &&
                                                          Catch::Contains("mismatched: "));
    std::filesystem::remove_all(dir);
  }
  CHECK_THROWS_WITH(peft::read_adapter_info("/nonexistent/adapter"),
                    Catch::Contains("cannot open '/nonexistent/adapter/adapter_config.json'"));
}

TEST_CASE("peft: LoRA and SSF merge into the frozen weights", "[peft][merge]") {
  for (std::string family : {"vit", "swin"}) {
    for (json cfg : {json{{"method", "lora"}, {"options", json::object()}},
                     json{{"method", "lora"}, {"options", {{"targets", "q,v,fc2"}, {"alpha", 16.0}}}},
                     json{{"method", "ssf"}, {"options", json::object()}}}) {
      INFO(family << " " << cfg.dump());
      std::unique_ptr<ImageModel> tuned, plain;
      if (family == "vit") {
        tuned = std::make_unique<VisionTransformer>(ViTConfig::named("vit_test_tiny"));
        plain = std::make_unique<VisionTransformer>(ViTConfig::named("vit_test_tiny"));
      } else {
        tuned = std::make_unique<SwinTransformer>(SwinConfig::named("swin_test_tiny"));
        plain = std::make_unique<SwinTransformer>(SwinConfig::named("swin_test_tiny"));
      }
      peft::apply_method(*tuned, peft::TunerConfig::from_json(cfg));
      randomise_trainable(*tuned, 33);
      tuned->eval(), plain->eval();
      plain->load_state_dict(peft::merged_state_dict(*tuned), /*strict=*/true);
      auto run = [&](Module& m, const Tensor& x) {
        if (auto* v = dynamic_cast<VisionTransformer*>(&m)) return v->forward(x);
        return dynamic_cast<SwinTransformer&>(m).forward(x);
      };
      int64_t img = family == "vit" ? 32 : SwinConfig::named("swin_test_tiny").img_size;
      Tensor x = rand_tensor({2, 3, img, img}, 4, DType::F32);
      require_close(run(*plain, x), run(*tuned, x), 1e-4, 1e-5, "merged logits");
    }
  }
  VisionTransformer m(ViTConfig::named("vit_test_micro"));
  peft::apply_method(m, {"adaptformer", {}});
  CHECK_THROWS_WITH(peft::merged_state_dict(m), Catch::Contains("blocks.0.adaptformer") &&
                                                     Catch::Contains("cannot be merged"));
}

TEST_CASE("peft: DyT counts, compute skipping and its loss", "[peft][dyt]") {
  auto dispatcher_params = [](Module& m) {
    int64_t n = 0;
    for (auto& [k, t] : m.named_parameters())
      if (k.find(".dispatcher.") != std::string::npos) n += t.numel();
    return n;
  };
  {
    init::SkipInit skip;  // counts only
    ViTConfig c = ViTConfig::named("vit_base_patch16_224");
    c.num_classes = 0;
    VisionTransformer m(c);
    peft::apply_method(m, {"dyt", {{"bottleneck", 8}}});
    CHECK(dispatcher_params(m) == 9228);
    CHECK(m.param_report().trainable_backbone - dispatcher_params(m) == 156768);
  }
  {
    init::SkipInit skip;
    ViTConfig c = ViTConfig::named("vit_base_patch16_224");
    c.num_classes = 0;
    VisionTransformer m(c);
    peft::apply_method(m, {"dyt", {{"bottleneck", 64}, {"experts", 4}}});
    CHECK(m.param_report().trainable_backbone - dispatcher_params(m) == 4795440);  // ≈ 4.80 M
  }
  // Inference: the sparse path (gather kept tokens, LN2 + MLP, scatter) equals the masked
  // dense computation, and really skips tokens.
  for (int64_t experts : {1, 3}) {
    INFO("experts " << experts);
    VisionTransformer m(ViTConfig::named("vit_test_tiny"));
    peft::apply_method(m, {"dyt", {{"bottleneck", 4}, {"experts", experts}}});
    randomise_trainable(m, 3);
    m.eval();
    Tensor x = rand_tensor({3, 3, 32, 32}, 8, DType::F32);
    peft::dyt_reset_stats(m);
    Tensor sparse = m.forward(x);
    const double rate = peft::dyt_stats(m).mlp_token_rate;
    CHECK(rate > 0.05);
    CHECK(rate < 0.95);
    for (auto& b : m.blocks) b->mlp_dispatcher->sparse = false;
    require_close(m.forward(x), sparse, 1e-5, 1e-6, "sparse vs masked dense");
  }
  // Training: the loss reaches the dispatcher's gate through the straight-through estimator.
  VisionTransformer m(ViTConfig::named("vit_test_tiny"));
  peft::apply_method(m, {"dyt", {{"bottleneck", 4}}});
  randomise_trainable(m, 4);
  m.train();
  Tensor x = rand_tensor({4, 3, 32, 32}, 9, DType::F32);
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3}, {4});
  Tensor loss = peft::dyt_loss(m, [&](const Tensor& t) { return m.forward(t); }, x, y, 0.5);
  loss.backward();
  double g = 0;
  for (auto& [k, t] : m.named_parameters())
    if (k.find("dispatcher.gate.weight") != std::string::npos) g += sum(abs(t.grad())).item();
  CHECK(g > 0);
}
