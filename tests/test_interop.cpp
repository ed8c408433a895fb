// test_interop.cpp — Hugging Face transformers' ViT checkpoints and config.json
// (nn/checkpoint_hf.cpp), and peft's LoRA adapter layout read and written (peft/peft_format.h),
// against tests/reference/interop.py's fixtures (tests/fixtures/interop/).
#include <filesystem>
#include <set>

#include "engine/random.h"
#include "nn/checkpoint.h"
#include "nn/model_zoo.h"
#include "nn/vit.h"
#include "peft/adapter_file.h"
#include "peft/lora.h"
#include "peft/peft_format.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string fx(const std::string& f) { return std::string(VT_FIXTURE_DIR) + "/interop/" + f; }

std::map<std::string, Tensor> io() { return load_safetensors(fx("io.safetensors")).tensors; }

// The fixture's model in timm's names: a ViT config with the same sizes.
std::unique_ptr<nn::ImageModel> timm_model() {
  json cfg = {{"family", "vit"}, {"name", "timm_vit"}, {"img_size", 32}, {"patch", 8}, {"dim", 32}, {"depth", 2},
              {"heads", 4}, {"mlp_ratio", 2.0}, {"eps", 1e-12}, {"num_classes", 5}};
  auto m = nn::create_model_from_config(cfg);
  m->load_checkpoint(nn::read_checkpoint(fx("timm_vit.safetensors")), {}, "timm_vit");
  return m;
}

std::unique_ptr<nn::ImageModel> hf_model() { return nn::load_model({fx("hf_vit")}, "", -1); }

Tensor logits(nn::ImageModel& m) {
  m.eval();
  NoGrad ng;
  return m.forward(io()["images"]);
}

json read_json(const std::string& p) {
  std::ifstream in(p);
  return json::parse(in);
}

std::set<std::string> keys_of(const std::string& file) {
  std::set<std::string> k;
  for (auto& [name, t] : load_safetensors(file).tensors) k.insert(name);
  return k;
}


// A copy of a fixture adapter with its config edited (or a tensor changed) for the error cases.
std::string broken_adapter(const TempDir& t, const std::string& from, const json& edit,
                           const std::function<void(std::map<std::string, Tensor>&)>& tensors = {}) {
  const std::string d = t / "broken";
  fs::create_directories(d);
  json cfg = read_json(fx(from + "/adapter_config.json"));
  cfg.merge_patch(edit);
  std::ofstream(d + "/adapter_config.json") << cfg.dump(2);
  auto st = load_safetensors(fx(from + "/adapter_model.safetensors")).tensors;
  if (tensors) tensors(st);
  save_safetensors(d + "/adapter_model.safetensors", st);
  return d;
}

}  // namespace

TEST_CASE("transformers: config.json builds the ViT, its keys load, logits match torch", "[interop][nn]") {
  auto m = hf_model();
  CHECK(m->family() == "vit");
  CHECK(m->num_classes() == 5);
  CHECK(m->num_features() == 32);
  CHECK(m->img_size() == 32);
  CHECK(m->checkpoint_layout == "transformers");
  auto* vit = dynamic_cast<nn::VisionTransformer*>(m.get());
  REQUIRE(vit);
  CHECK(vit->cfg.eps == 1e-12);
  CHECK(vit->cfg.depth == 2);
  CHECK(vit->cfg.heads == 4);
  require_close(logits(*m), io()["logits_base"], 1e-4, 1e-5, "transformers ViT logits");

  // The key map: every tensor lands on timm's name with timm's value (q, k, v fused).
  nn::StateDict mapped = nn::transformers_vit_to_timm(nn::read_checkpoint(fx("hf_vit/model.safetensors")));
  auto timm = load_safetensors(fx("timm_vit.safetensors")).tensors;
  REQUIRE(mapped.size() == timm.size());
  for (auto& [k, t] : timm) {
    INFO(k);
    REQUIRE(mapped.count(k));
    require_close(mapped[k], t, 0, 0, k);
  }
}

TEST_CASE("transformers: a bare ViTModel (no vit. prefix, a pooler) and qkv_bias false", "[interop][nn]") {
  nn::StateDict sd = nn::read_checkpoint(fx("hf_vit/model.safetensors"));
  nn::StateDict bare;
  for (auto& [k, t] : sd)
    if (k.rfind("vit.", 0) == 0) bare[k.substr(4)] = t;
  bare["pooler.dense.weight"] = Tensor::zeros({32, 32});
  bare["pooler.dense.bias"] = Tensor::zeros({32});
  json cfg = read_json(fx("hf_vit/config.json"));
  cfg["architectures"] = {"ViTModel"};
  auto features = nn::create_model_from_config(cfg);
  CHECK(features->num_classes() == 0);  // a ViTModel has no classifier
  features->load_checkpoint(bare, {}, "bare");
  auto full = hf_model();
  features->eval(), full->eval();
  NoGrad ng;
  Tensor x = io()["images"];
  require_close(features->forward(x), full->forward_features(x), 1e-6, 1e-6, "ViTModel features");

  // Without q/k/v biases the fused bias is zero.
  nn::StateDict nobias = sd;
  for (const char* p : {"query", "key", "value"}) nobias.erase(std::string("vit.encoder.layer.0.attention.attention.") + p + ".bias");
  nn::StateDict mapped = nn::transformers_vit_to_timm(nobias);
  REQUIRE(mapped.count("blocks.0.attn.qkv.bias"));
  CHECK(sum(abs(mapped["blocks.0.attn.qkv.bias"])).item() == 0.0);
  // One part missing is an error naming it.
  nn::StateDict partial = sd;
  partial.erase("vit.encoder.layer.1.attention.attention.key.weight");
  CHECK_THROWS_WITH(nn::transformers_vit_to_timm(partial), Catch::Contains("blocks.1.attn.qkv has no key weight"));
}

TEST_CASE("transformers: config.json errors name the field", "[interop][nn]") {
  json cfg = read_json(fx("hf_vit/config.json"));
  json bad = cfg;
  bad["hidden_act"] = "relu";
  CHECK_THROWS_WITH(nn::create_model_from_config(bad), Catch::Contains("hidden_act"));
  bad = cfg;
  bad["model_type"] = "bert";
  CHECK_THROWS_WITH(nn::create_model_from_config(bad), Catch::Contains("\"bert\" is not supported"));
  bad = cfg;
  bad["hidden_size"] = "wide";
  CHECK_THROWS_WITH(nn::create_model_from_config(bad), Catch::Contains("hidden_size"));
  // --num-classes overrides id2label.
  CHECK(nn::create_model_from_config(cfg, 9)->num_classes() == 9);
}

TEST_CASE("peft: adapters in both layouts load and match torch's logits", "[interop][peft]") {
  SECTION("transformers' names: LoRA on query and value, classifier saved") {
    auto m = hf_model();
    peft::AdapterInfo info = peft::read_adapter_info(fx("peft_hf"));
    CHECK(info.format == "peft");
    CHECK(info.peft_names == "transformers");
    CHECK(info.num_classes == 5);
    CHECK(info.tuner.options["targets"] == "q,v");
    CHECK(info.tuner.options["alpha"].get<double>() == 8.0);
    peft::load_adapter(fx("peft_hf"), *m);
    require_close(logits(*m), io()["logits_peft_hf"], 1e-4, 1e-5, "peft_hf logits");
    // Only the LoRAs and the head train, as after apply_method.
    for (auto& [n, t] : m->named_parameters())
      CHECK(t.requires_grad() == (n.find(".lora_") != std::string::npos || n.rfind("head.", 0) == 0));
  }
  SECTION("timm's names: LoRA on the fused qkv, head saved") {
    auto m = timm_model();
    peft::load_adapter(fx("peft_timm"), *m);
    require_close(logits(*m), io()["logits_peft_timm"], 1e-4, 1e-5, "peft_timm logits");
  }
  SECTION("rank_pattern, alpha_pattern and use_rslora") {
    auto m = timm_model();
    peft::load_adapter(fx("peft_timm_patterns"), *m);
    require_close(logits(*m), io()["logits_peft_timm_patterns"], 1e-4, 1e-5, "patterns logits");
    for (auto& [n, mod] : m->named_modules())
      if (auto* lo = dynamic_cast<peft::LoRA*>(mod)) {
        INFO(n);
        if (n == "blocks.0.mlp.fc2.lora_fc2") CHECK(lo->A.size(0) == 2);
        if (n == "blocks.1.attn.qkv.lora_qkv") CHECK(lo->scale == Approx(3.0 / 2.0));  // 3 / √4
        if (n == "blocks.0.attn.qkv.lora_qkv") CHECK(lo->scale == Approx(8.0 / 2.0));
      }
  }
}

TEST_CASE("peft: what we write has exactly peft's keys and reads back", "[interop][peft]") {
  TempDir t;
  for (const std::string which : {"peft_hf", "peft_timm"}) {
    INFO(which);
    auto m = which == "peft_hf" ? hf_model() : timm_model();
    peft::AdapterInfo info = peft::load_adapter(fx(which), *m);
    const std::string out = t / which;
    peft::save_peft_adapter(out, *m, info, info.peft_names);
    CHECK(keys_of(out + "/adapter_model.safetensors") == keys_of(fx(which + "/adapter_model.safetensors")));
    auto want = load_safetensors(fx(which + "/adapter_model.safetensors")).tensors;
    auto got = load_safetensors(out + "/adapter_model.safetensors");
    CHECK(got.metadata["format"] == "pt");
    for (auto& [k, v] : want) require_close(got.tensors[k], v, 0, 0, k);
    json a = read_json(out + "/adapter_config.json"), b = read_json(fx(which + "/adapter_config.json"));
    for (const char* k : {"peft_type", "r", "lora_alpha", "modules_to_save", "bias", "use_rslora", "use_dora"})
      CHECK(a[k] == b[k]);
    std::set<std::string> ta = a["target_modules"], tb = b["target_modules"];
    CHECK(ta == tb);
    for (auto& [k, v] : b.items()) CHECK(a.contains(k));  // every key peft writes
    auto back = which == "peft_hf" ? hf_model() : timm_model();
    peft::load_adapter(out, *back);
    require_close(logits(*back), logits(*m), 0, 0, "re-read logits");
  }
}

TEST_CASE("peft: our LoRAs written in either layout; what cannot be expressed is refused", "[interop][peft]") {
  TempDir t;
  manual_seed(5);
  auto m = hf_model();
  peft::apply_method(*m, {"lora", {{"r", 2}, {"alpha", 4.0}, {"targets", "qkv,fc2"}}});
  nn::StateDict trained;  // a trained adapter: B non-zero
  for (auto& [n, p] : m->named_parameters())
    if (n.size() > 2 && n.compare(n.size() - 2, 2, ".B") == 0) trained[n] = rand_tensor(p.shape(), 9, DType::F32, -0.5, 0.5);
  REQUIRE(trained.size() == 4);
  m->load_state_dict(trained, false);
  const Tensor want = logits(*m);
  peft::AdapterInfo info{{"lora", {}}, "hf_vit", 5, nullptr};
  peft::save_peft_adapter(t / "tf", *m, info, "transformers");  // fused qkv -> query, key, value
  json cfg = read_json(t / "tf/adapter_config.json");
  CHECK(cfg["r"] == 2);
  CHECK(cfg["lora_alpha"].get<double>() == 4.0);
  std::set<std::string> targets = cfg["target_modules"];
  CHECK(targets == std::set<std::string>{"query", "key", "value", "vit.encoder.layer.0.output.dense",
                                         "vit.encoder.layer.1.output.dense"});
  CHECK(keys_of(t / "tf/adapter_model.safetensors").count(
      "base_model.model.vit.encoder.layer.1.attention.attention.key.lora_B.weight"));
  auto back = hf_model();
  peft::load_adapter(t / "tf", *back);
  require_close(logits(*back), want, 1e-5, 1e-6, "fused qkv written as three LoRAs");

  peft::save_peft_adapter(t / "timm", *m, info, "timm");
  CHECK(std::set<std::string>(read_json(t / "timm/adapter_config.json")["target_modules"]) ==
        std::set<std::string>{"qkv", "fc2"});
  auto back2 = timm_model();
  peft::load_adapter(t / "timm", *back2);
  require_close(logits(*back2), want, 1e-5, 1e-6, "timm layout");

  auto q = hf_model();
  peft::apply_method(*q, {"lora", {{"targets", "q"}}});
  CHECK_THROWS_WITH(peft::save_peft_adapter(t / "q", *q, info, "timm"), Catch::Contains("fused qkv"));
  auto ad = hf_model();
  peft::apply_method(*ad, {"adapter", {}});
  CHECK_THROWS_WITH(peft::check_peft_layout(*ad, info, "timm"), Catch::Contains("has no place in peft's LoRA layout"));
}

TEST_CASE("peft: bad adapters are refused, naming the key or tensor", "[interop][peft]") {
  TempDir t;
  auto expect = [&](const std::string& dir, const std::string& msg) {
    auto m = hf_model();
    CHECK_THROWS_WITH(peft::load_adapter(dir, *m), Catch::Contains(msg));
    fs::remove_all(t / "broken");
  };
  expect(broken_adapter(t, "peft_hf", {{"peft_type", "IA3"}}), "\"peft_type\" is \"IA3\"");
  expect(broken_adapter(t, "peft_hf", {{"use_dora", true}}), "use_dora");
  expect(broken_adapter(t, "peft_hf", {{"bias", "all"}}), "\"bias\"");
  expect(broken_adapter(t, "peft_hf", {{"fan_in_fan_out", true}}), "fan_in_fan_out");
  // Flags that are not booleans (fuzz_adapter: nlohmann's type_error used to escape).
  expect(broken_adapter(t, "peft_hf", {{"use_dora", "yes"}}), "\"use_dora\" is \"yes\": expected true or false");
  expect(broken_adapter(t, "peft_hf", {{"fan_in_fan_out", 1}}), "\"fan_in_fan_out\" is 1: expected true or false");
  expect(broken_adapter(t, "peft_hf", {{"use_rslora", {{"a", 1}}}}), "expected true or false");
  expect(broken_adapter(t, "peft_hf", {{"r", 3}}), "the config gives it rank 3");
  expect(broken_adapter(t, "peft_hf", {{"modules_to_save", {"classifier", "pooler"}}}), "'pooler'");
  expect(broken_adapter(t, "peft_hf", {{"target_modules", {"query", "value", "key"}}}),
         "attention.attention.key.lora_A.weight' is missing");
  expect(broken_adapter(t, "peft_hf", {{"target_modules", {"query", "value", "conv"}}}), "names 'conv'");
  expect(broken_adapter(t, "peft_hf", json::object(), [](auto& st) {
           st.erase("base_model.model.vit.encoder.layer.0.attention.attention.value.lora_B.weight");
         }), "layer.0.attention.attention.value.lora_B.weight' missing");
  expect(broken_adapter(t, "peft_hf", json::object(), [](auto& st) {
           st["base_model.model.vit.embeddings.patch_embeddings.projection.lora_A.weight"] = Tensor::zeros({4, 3, 8, 8});
           st["base_model.model.vit.embeddings.patch_embeddings.projection.lora_B.weight"] = Tensor::zeros({32, 4, 1, 1});
         }), "which vit_transformers has no site for");
  expect(broken_adapter(t, "peft_hf", json::object(), [](auto& st) {
           st["base_model.model.vit.encoder.layer.0.attention.attention.query.lora_magnitude_vector"] = Tensor::zeros({32});
         }), "lora_magnitude_vector' is not supported");
  // A mis-shaped tensor: the rank fits the config, the width does not.
  expect(broken_adapter(t, "peft_hf", json::object(), [](auto& st) {
           st["base_model.model.vit.encoder.layer.0.attention.attention.query.lora_A.weight"] = Tensor::zeros({4, 7});
         }), "mismatched");
}

TEST_CASE("transformers: Swin's names and config.json", "[interop][nn][swin]") {
  auto m = nn::load_model({fx("hf_swin")}, "", -1);
  CHECK(m->family() == "swin");
  CHECK(m->num_classes() == 10);
  CHECK(m->checkpoint_layout == "transformers");
  auto io = load_safetensors(std::string(VT_FIXTURE_DIR) + "/swin_test_tiny_io.safetensors").tensors;
  m->eval();
  NoGrad ng;
  require_close(m->forward(io.at("images")), io.at("logits"), 1e-4, 1e-5, "transformers Swin logits");
  // The key map gives exactly timm's tensors (the downsample moves to the next stage).
  nn::StateDict mapped = nn::transformers_swin_to_timm(nn::read_checkpoint(fx("hf_swin/model.safetensors")));
  auto timm = load_safetensors(std::string(VT_FIXTURE_DIR) + "/swin_test_tiny_timm.safetensors").tensors;
  REQUIRE(mapped.size() == timm.size());
  for (auto& [k, t] : timm) {
    INFO(k);
    REQUIRE(mapped.count(k));
    require_close(mapped[k], t, 0, 0, k);
  }
  json cfg = read_json(fx("hf_swin/config.json"));
  cfg["use_absolute_embeddings"] = true;
  CHECK_THROWS_WITH(nn::create_model_from_config(cfg), Catch::Contains("use_absolute_embeddings"));
}
