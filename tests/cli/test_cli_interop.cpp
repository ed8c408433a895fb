// test_cli_interop.cpp — Hugging Face checkpoints and peft adapters through the command line:
// forward/eval/merge take --adapter in either layout, finetune --adapter-format peft writes
// peft's, and bad adapters end with one clear error line (tests/fixtures/interop/, written by
// tests/reference/interop.py).
#include <set>

#include "tests/cli/cli_sandbox.h"

using namespace cli_test;

namespace {

std::string fx(const std::string& f) { return fixture("interop/" + f); }

// The fixture's images as a forward input file.
std::string write_images(const Sandbox& box) {
  auto io = load_safetensors(fx("io.safetensors")).tensors;
  const std::string p = box.path("in.safetensors");
  save_safetensors(p, {{"images", io["images"]}});
  return p;
}

Tensor logits_of(const std::string& file) { return load_safetensors(file).tensors.at("logits"); }

// A copy of the peft_hf fixture with the config edited or a tensor removed.
std::string broken(const Sandbox& box, const nlohmann::json& edit, const std::string& drop = "") {
  const std::string d = box.path("broken");
  fs::remove_all(d);
  fs::create_directories(d);
  nlohmann::json cfg = nlohmann::json::parse(read_text(fx("peft_hf/adapter_config.json")));
  cfg.merge_patch(edit);
  box.write("broken/adapter_config.json", cfg.dump(2));
  auto st = load_safetensors(fx("peft_hf/adapter_model.safetensors")).tensors;
  st.erase(drop);
  save_safetensors(d + "/adapter_model.safetensors", st);
  return d;
}

}  // namespace

TEST_CASE("forward: a transformers model directory, with a peft adapter in either layout", "[cli][interop]") {
  Sandbox box;
  const std::string in = write_images(box);
  auto io = load_safetensors(fx("io.safetensors")).tensors;
  Result r = box.run({"forward", "--model", fx("hf_vit"), "--input", in, "--output", box.path("base.safetensors")});
  REQUIRE(r.code == 0);
  require_close(logits_of(box.path("base.safetensors")), io["logits_base"], 1e-4, 1e-5, "base");
  r = box.run({"forward", "--model", fx("hf_vit"), "--adapter", fx("peft_hf"), "--input", in, "--output",
               box.path("hf.safetensors")});
  REQUIRE(r.code == 0);
  require_close(logits_of(box.path("hf.safetensors")), io["logits_peft_hf"], 1e-4, 1e-5, "peft_hf");
  // The timm-named base and adapter: the same sizes as a vitune JSON config.
  box.write("cfg.json", R"({"family": "vit", "img_size": 32, "patch": 8, "dim": 32, "depth": 2, "heads": 4,
                            "mlp_ratio": 2.0, "eps": 1e-12})");
  r = box.run({"forward", "--model-config", box.path("cfg.json"), "--checkpoint", fx("timm_vit.safetensors"),
               "--adapter", fx("peft_timm_patterns"), "--input", in, "--output", box.path("timm.safetensors")});
  REQUIRE(r.code == 0);
  require_close(logits_of(box.path("timm.safetensors")), io["logits_peft_timm_patterns"], 1e-4, 1e-5, "patterns");
}

TEST_CASE("finetune --adapter-format peft on a transformers model; eval, forward and merge read it", "[cli][interop]") {
  Sandbox box;
  write_toy_idx(box, "train", 48);
  write_toy_idx(box, "t10k", 16);
  const std::string data = "fashion-mnist:" + box.dir.string(), out = box.path("run");
  Result r = box.run({"finetune", "--model", fx("hf_vit"), "--data", data, "--method", "lora", "--method-opt",
                      "targets=q,v", "--method-opt", "r=4", "--method-opt", "alpha=8", "--epochs", "1", "--batch",
                      "16", "--normalize", "none", "--adapter-format", "peft", "--out", out, "--progress", "none"});
  REQUIRE(r.code == 0);
  nlohmann::json cfg = nlohmann::json::parse(read_text(out + "/best/adapter_config.json"));
  CHECK(cfg["peft_type"] == "LORA");
  CHECK(cfg["r"] == 4);
  CHECK(cfg["lora_alpha"].get<double>() == 8.0);
  CHECK(cfg["modules_to_save"] == nlohmann::json::array({"classifier"}));
  std::set<std::string> keys;
  for (auto& [k, t] : load_safetensors(out + "/best/adapter_model.safetensors").tensors) keys.insert(k);
  CHECK(keys.size() == 2 * 2 * 2 + 2);  // 2 layers × {query, value} × {A, B} + classifier
  CHECK(keys.count("base_model.model.vit.encoder.layer.1.attention.attention.value.lora_B.weight"));
  CHECK(keys.count("base_model.model.classifier.weight"));

  r = box.run({"eval", "--model", fx("hf_vit"), "--adapter", out + "/best", "--data", data, "--normalize", "none",
               "--progress", "none"});
  REQUIRE(r.code == 0);
  nlohmann::json s = nlohmann::json::parse(read_text(out + "/summary.json"));
  CHECK(last_json_line(r.out).at("top1").get<double>() == Approx(s.at("best_top1").get<double>()));

  const std::string in = write_images(box);
  r = box.run({"forward", "--model", fx("hf_vit"), "--adapter", out + "/best", "--input", in, "--output",
               box.path("adapted.safetensors")});
  REQUIRE(r.code == 0);
  CHECK(logits_of(box.path("adapted.safetensors")).size(1) == 10);  // Fashion-MNIST: a 10-way head
  r = box.run({"merge", "--model", fx("hf_vit"), "--weights", fx("hf_vit/model.safetensors"), "--adapter",
               out + "/best", "--output", box.path("merged.safetensors")});
  REQUIRE(r.code == 0);
  box.write("merged.json", R"({"family": "vit", "img_size": 32, "patch": 8, "dim": 32, "depth": 2, "heads": 4,
                               "mlp_ratio": 2.0, "eps": 1e-12})");
  r = box.run({"forward", "--model-config", box.path("merged.json"), "--checkpoint", box.path("merged.safetensors"),
               "--input", in, "--output", box.path("merged_out.safetensors")});
  REQUIRE(r.code == 0);
  require_close(logits_of(box.path("merged_out.safetensors")), logits_of(box.path("adapted.safetensors")), 1e-4, 1e-5,
                "merged peft adapter");

  // A method peft's layout cannot hold is refused before training starts.
  r = box.run({"finetune", "--model", fx("hf_vit"), "--data", data, "--method", "adapter", "--epochs", "1",
               "--adapter-format", "peft", "--out", box.path("run2"), "--progress", "none"});
  require_runtime_error(r);
  CHECK(r.err.find("has no place in peft's LoRA layout") != std::string::npos);
  CHECK(!fs::exists(box.path("run2/metrics.jsonl")));
  r = box.run({"finetune", "--model", fx("hf_vit"), "--data", data, "--adapter-format", "hf", "--out", box.path("x")});
  CHECK(r.code == 2);
  CHECK(r.err.find("--adapter-format") != std::string::npos);
}

TEST_CASE("bad peft adapters: one error line naming the key or tensor", "[cli][interop]") {
  Sandbox box;
  const std::string in = write_images(box);
  auto fwd = [&](const std::string& adapter) {
    return box.run({"forward", "--model", fx("hf_vit"), "--adapter", adapter, "--input", in, "--output",
                    box.path("o.safetensors")});
  };
  struct Case {
    nlohmann::json edit;
    std::string drop, message;
  };
  const Case cases[] = {
      {{{"peft_type", "PREFIX_TUNING"}}, "", "\"peft_type\" is \"PREFIX_TUNING\""},
      {{{"use_dora", true}}, "", "DoRA is not supported"},
      {{{"bias", "lora_only"}}, "", "\"bias\" is \"lora_only\""},
      {{{"rank_pattern", {{"query", 0}}}}, "", "rank_pattern.query"},
      {{{"target_modules", 7}}, "", "target_modules"},
      {nlohmann::json::object(), "base_model.model.vit.encoder.layer.1.attention.attention.query.lora_A.weight",
       "layer.1.attention.attention.query.lora_A.weight' missing"},
      {{{"r", 8}}, "", "the config gives it rank 8"},
  };
  for (const Case& c : cases) {
    INFO(c.message);
    Result r = fwd(broken(box, c.edit, c.drop));
    require_runtime_error(r);
    CHECK(r.err.find(c.message) != std::string::npos);
  }
  box.write("broken/adapter_config.json", "{\"peft_type\": \"LORA\", ");
  Result r = fwd(box.path("broken"));
  require_runtime_error(r);
  CHECK(r.err.find("adapter_config.json") != std::string::npos);
}
