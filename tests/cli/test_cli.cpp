// test_cli.cpp — the `vitune` binary run as a user would: outputs, exit codes and messages.
//
// Each test runs the program (path VITUNE_EXE, set by meson) through the shell with stdout and
// stderr sent to files in a fresh temporary directory, then reads the exit code, the messages
// and any .safetensors it wrote. Exit codes: 0 ok, 1 runtime error, 2 usage error.
#include "tests/cli/cli_sandbox.h"

using namespace cli_test;

TEST_CASE("forward reproduces the reference logits from both checkpoint namings", "[cli]") {
  Sandbox box;
  const Tensor want = load_safetensors(kIO).tensors.at("logits");
  Tensor timm_features;
  for (const char* naming : {"timm", "torchvision"}) {
    INFO(naming);
    const std::string out = box.path(std::string(naming) + ".safetensors");
    Result r = box.forward(fixture(std::string("vit_test_tiny_") + naming + ".safetensors"), kIO,
                           out, {"--features"});
    REQUIRE(r.code == 0);
    auto f = load_safetensors(out);
    require_close(f.tensors.at("logits"), want, 1e-4, 1e-5, "logits");
    REQUIRE(f.tensors.at("features").shape() == Shape{2, 64});
    REQUIRE(f.metadata.at("model") == "vit_test_tiny");
    if (timm_features.defined()) require_close(f.tensors.at("features"), timm_features, 1e-6, 1e-6, "features");
    else timm_features = f.tensors.at("features").clone();
  }
  // Without --features only the logits are written.
  REQUIRE(box.forward(fixture("vit_test_tiny_timm.safetensors"), kIO, box.path("l.safetensors")).code == 0);
  auto only = load_safetensors(box.path("l.safetensors")).tensors;
  REQUIRE(only.size() == 1);
  REQUIRE(only.count("logits") == 1);
}

TEST_CASE("forward: the head comes from the checkpoint, or features only", "[cli]") {
  Sandbox box;
  auto weights = load_safetensors(fixture("vit_test_tiny_timm.safetensors")).tensors;
  const std::string full = fixture("vit_test_tiny_timm.safetensors");
  REQUIRE(box.forward(full, kIO, box.path("full.safetensors"), {"--features"}).code == 0);
  const Tensor features = load_safetensors(box.path("full.safetensors")).tensors.at("features").clone();

  // A checkpoint without a head gives the features and no logits.
  weights.erase("head.weight");
  weights.erase("head.bias");
  save_safetensors(box.path("headless.safetensors"), weights);
  REQUIRE(box.forward(box.path("headless.safetensors"), kIO, box.path("h.safetensors")).code == 0);
  auto h = load_safetensors(box.path("h.safetensors")).tensors;
  REQUIRE(h.count("logits") == 0);
  require_close(h.at("features"), features, 1e-6, 1e-6, "headless features");

  // --num-classes 0 ignores the file's head; a head size that disagrees with the file fails.
  REQUIRE(box.forward(full, kIO, box.path("z.safetensors"), {"--num-classes", "0"}).code == 0);
  REQUIRE(load_safetensors(box.path("z.safetensors")).tensors.count("logits") == 0);
  Result r = box.forward(full, kIO, box.path("bad.safetensors"), {"--num-classes", "7"});
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("head.weight") && Catch::Contains("vit_test_tiny_timm.safetensors"));
  REQUIRE(!fs::exists(box.path("bad.safetensors")));
}

TEST_CASE("forward: options from a JSON config, --model-config, --print-config", "[cli]") {
  Sandbox box;
  const Tensor want = load_safetensors(kIO).tensors.at("logits");
  const std::string ckpt = fixture("vit_test_tiny_torchvision.safetensors");
  box.write("run.json", "{\"model\": \"vit_test_tiny\", \"checkpoint\": \"" + ckpt +
                            "\", \"input\": \"" + kIO + "\", \"output\": \"" +
                            box.path("a.safetensors") + "\", \"num-classes\": 10, \"features\": false}");
  REQUIRE(box.run({"forward", "--config", box.path("run.json")}).code == 0);
  require_close(load_safetensors(box.path("a.safetensors")).tensors.at("logits"), want, 1e-4, 1e-5, "config");

  // The command line wins over the file; --print-config writes a config that runs the same.
  Result p = box.run({"forward", "--config", box.path("run.json"), "--output", box.path("b.safetensors"),
                      "--features", "--print-config"});
  REQUIRE(p.code == 0);
  auto printed = nlohmann::json::parse(p.out);
  REQUIRE(printed.at("output") == box.path("b.safetensors"));
  REQUIRE(printed.at("features") == true);
  box.write("printed.json", p.out);
  REQUIRE(box.run({"forward", "--config", box.path("printed.json")}).code == 0);
  auto b = load_safetensors(box.path("b.safetensors")).tensors;
  REQUIRE(b.count("features") == 1);
  require_close(b.at("logits"), want, 1e-4, 1e-5, "printed config");

  // A JSON model config instead of a name.
  box.write("model.json", R"({"base": "vit_test_tiny", "num_classes": 10})");
  REQUIRE(box.run({"forward", "--model-config", box.path("model.json"), "--checkpoint", ckpt, "--input",
                   kIO, "--output", box.path("c.safetensors")}).code == 0);
  require_close(load_safetensors(box.path("c.safetensors")).tensors.at("logits"), want, 1e-4, 1e-5, "model config");
}

TEST_CASE("params prints the parameter counts as JSON", "[cli]") {
  Sandbox box;
  Result r = box.run({"params", "--model", "vit_base_patch16_224", "--num-classes", "0"});
  REQUIRE(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j.at("total") == 85798656);
  REQUIRE(j.at("trainable") == 85798656);
  REQUIRE(j.at("trainable_backbone") == 85798656);
  REQUIRE(j.at("trainable_head") == 0);
  REQUIRE(j.at("backbone_total") == 85798656);

  r = box.run({"params", "--model", "vit_base_patch16_224"});  // timm's 1000-class head
  REQUIRE(r.code == 0);
  j = nlohmann::json::parse(r.out);
  REQUIRE(j.at("total") == 85798656 + 768 * 1000 + 1000);
  REQUIRE(j.at("trainable_head") == 768 * 1000 + 1000);
}

TEST_CASE("params --method counts what a PEFT method trains", "[cli][peft]") {
  Sandbox box;
  auto backbone = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"params", "--model", "vit_base_patch16_224", "--num-classes", "100"};
    args.insert(args.end(), extra.begin(), extra.end());
    Result r = box.run(args);
    INFO(r.err);
    REQUIRE(r.code == 0);
    auto j = nlohmann::json::parse(r.out);
    REQUIRE(j.at("trainable_head") == 76900);
    return j.at("trainable_backbone").get<int64_t>();
  };
  CHECK(backbone({"--method", "lora"}) == 294912);
  CHECK(backbone({"--method", "lora", "--method-opt", "r=4"}) == 147456);
  CHECK(backbone({"--method", "adapter", "--method-opt", "bottleneck=8"}) == 156768);
  CHECK(backbone({"--method", "vpt", "--method-opt", "length=10"}) == 92160);
  CHECK(backbone({"--method", "linear"}) == 0);
  box.write("tuner.json", R"({"method": "prefix", "options": {"length": 20}})");
  CHECK(backbone({"--tuner-config", box.path("tuner.json")}) == 368640);

  Result r = box.run({"params", "--model", "vit_test_micro", "--method", "lorra"});
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("unknown PEFT method 'lorra'") && Catch::Contains("adaptformer"));
  r = box.run({"params", "--model", "vit_test_micro", "--method", "lora", "--method-opt", "rank=3"});
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("unknown option 'rank'"));
  r = box.run({"params", "--model", "vit_test_micro", "--method", "lora", "--tuner-config",
               box.path("tuner.json")});
  REQUIRE(r.code == 2);  // contradictory options are a usage error
  REQUIRE_THAT(r.err, Catch::Contains("contradicts"));
}

TEST_CASE("forward: bad files give exit code 1 and name the file and tensor", "[cli]") {
  Sandbox box;
  const std::string ckpt = fixture("vit_test_tiny_timm.safetensors");
  const std::string out = box.path("out.safetensors");

  Result r = box.forward(box.path("missing.safetensors"), kIO, out);  // missing checkpoint
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("missing.safetensors"));

  {  // a checkpoint cut short
    std::string bytes = read_text(ckpt);
    std::ofstream(box.path("cut.safetensors"), std::ios::binary).write(bytes.data(), bytes.size() / 2);
  }
  r = box.forward(box.path("cut.safetensors"), kIO, out);
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("cut.safetensors"));

  r = box.forward(ckpt, ckpt, out);  // an input file without `images`
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("vit_test_tiny_timm.safetensors") && Catch::Contains("'images'"));

  save_safetensors(box.path("rgba.safetensors"), {{"images", Tensor::zeros({2, 4, 32, 32})}});
  r = box.forward(ckpt, box.path("rgba.safetensors"), out);  // 4 channels for a 3-channel model
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("rgba.safetensors") && Catch::Contains("4 channels"));

  save_safetensors(box.path("flat.safetensors"), {{"images", Tensor::zeros({2, 3, 32})}});
  r = box.forward(ckpt, box.path("flat.safetensors"), out);  // wrong rank
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("flat.safetensors") && Catch::Contains("[2, 3, 32]"));

  box.write("model.json", R"({"base": "vit_test_tiny", "dpeth": 2})");
  r = box.run({"forward", "--model-config", box.path("model.json"), "--checkpoint", ckpt, "--input", kIO,
               "--output", out});
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("model.json") && Catch::Contains("dpeth"));

  r = box.run({"params", "--model", "vit_nope"});  // unknown model name
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("vit_nope"));
  REQUIRE(!fs::exists(out));
}

TEST_CASE("usage errors give exit code 2 and name the flag or key; --help gives 0", "[cli]") {
  Sandbox box;
  const std::string ckpt = fixture("vit_test_tiny_timm.safetensors");
  Result r = box.forward(ckpt, kIO, box.path("o.safetensors"), {"--bogus"});
  REQUIRE(r.code == 2);
  REQUIRE_THAT(r.err, Catch::StartsWith("vitune: error: ") && Catch::Contains("--bogus"));

  r = box.run({"forward", "--model", "vit_test_tiny", "--input", kIO, "--output", box.path("o.safetensors")});
  REQUIRE(r.code == 2);  // a required option missing
  REQUIRE_THAT(r.err, Catch::Contains("--checkpoint"));

  r = box.run({"params"});
  REQUIRE(r.code == 2);
  REQUIRE_THAT(r.err, Catch::Contains("--model"));

  r = box.run({"params", "--model", "vit_test_micro", "--num-classes", "-3"});
  REQUIRE(r.code == 2);
  REQUIRE_THAT(r.err, Catch::Contains("--num-classes") && Catch::Contains("-3"));

  box.write("typo.json", R"({"model": "vit_test_micro", "num_clases": 3})");
  r = box.run({"params", "--config", box.path("typo.json")});
  REQUIRE(r.code == 2);
  REQUIRE_THAT(r.err, Catch::Contains("typo.json") && Catch::Contains("num_clases"));

  box.write("broken.json", R"({"model": )");
  r = box.run({"params", "--config", box.path("broken.json")});
  REQUIRE(r.code == 2);
  REQUIRE_THAT(r.err, Catch::Contains("broken.json"));

  r = box.run({});
  REQUIRE(r.code == 2);

  for (std::vector<std::string> help : {std::vector<std::string>{"--help"}, {"forward", "--help"}, {"params", "-h"}}) {
    r = box.run(help);
    REQUIRE(r.code == 0);
    REQUIRE_THAT(r.out, Catch::Contains("Usage:"));
  }
  REQUIRE_THAT(box.run({"forward", "--help"}).out, Catch::Contains("--checkpoint"));
}

TEST_CASE("forward runs Swin from each checkpoint layout, by name or JSON config", "[cli][swin]") {
  Sandbox box;
  const std::string io = fixture("swin_test_tiny_io.safetensors");
  const Tensor want = load_safetensors(io).tensors.at("logits");
  auto forward = [&](std::vector<std::string> model, const std::string& ckpt, const std::string& out) {
    std::vector<std::string> args = {"forward", "--checkpoint", ckpt, "--input", io, "--output", box.path(out)};
    args.insert(args.end(), model.begin(), model.end());
    return box.run(args);
  };
  const std::vector<std::string> by_name = {"--model", "swin_test_tiny"};
  for (const char* naming : {"timm", "torchvision"}) {
    INFO(naming);
    const std::string out = std::string(naming) + ".safetensors";
    REQUIRE(forward(by_name, fixture(std::string("swin_test_tiny_") + naming + ".safetensors"), out).code == 0);
    auto f = load_safetensors(box.path(out));
    require_close(f.tensors.at("logits"), want, 1e-4, 1e-5, "logits");  // head size 10 from the file
    REQUIRE(f.metadata.at("model") == "swin_test_tiny");
  }
  {  // old timm / Microsoft: downsample closing stages 0..S-2, head.*, index buffers saved
    std::map<std::string, Tensor> old;
    for (auto& [k, t] : load_safetensors(fixture("swin_test_tiny_timm.safetensors")).tensors) {
      const size_t down = k.find(".downsample.");
      if (k.rfind("layers.", 0) == 0 && down != std::string::npos)
        old["layers." + std::to_string(std::stoll(k.substr(7)) - 1) + k.substr(down)] = t;
      else if (k.rfind("head.fc.", 0) == 0) old["head." + k.substr(8)] = t;
      else old[k] = t;
    }
    old["layers.0.blocks.0.attn.relative_position_index"] = Tensor::zeros({49, 49}, DType::I64);
    REQUIRE(old.count("layers.0.downsample.reduction.weight") == 1);
    save_safetensors(box.path("old.safetensors"), old);
    REQUIRE(forward(by_name, box.path("old.safetensors"), "old_out.safetensors").code == 0);
    require_close(load_safetensors(box.path("old_out.safetensors")).tensors.at("logits"), want, 1e-4, 1e-5, "old");
  }
  const std::string ckpt = fixture("swin_test_tiny_timm.safetensors");
  // JSON model configs: Swin from a "base" name, or from "family" with every field given.
  box.write("base.json", R"({"base": "swin_test_tiny"})");
  box.write("family.json", R"({"family": "swin", "name": "my_swin", "img_size": 56, "patch": 4, "window": 7,
                               "dim": 32, "depths": [2, 2], "heads": [2, 4], "num_classes": 10})");
  for (const char* cfg : {"base.json", "family.json"}) {
    INFO(cfg);
    const std::string out = std::string(cfg) + ".safetensors";
    REQUIRE(forward({"--model-config", box.path(cfg)}, ckpt, out).code == 0);
    require_close(load_safetensors(box.path(out)).tensors.at("logits"), want, 1e-4, 1e-5, cfg);
  }
  REQUIRE(load_safetensors(box.path("family.json.safetensors")).metadata.at("model") == "my_swin");

  // "family" wins over the base name; a bad family and a ViT checkpoint in a Swin are errors.
  box.write("vit.json", R"({"family": "vit", "base": "swin_test_tiny"})");
  Result r = forward({"--model-config", box.path("vit.json")}, ckpt, "x.safetensors");
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("vit.json") && Catch::Contains("unknown ViT config 'swin_test_tiny'"));
  box.write("cnn.json", R"({"family": "resnet"})");
  r = forward({"--model-config", box.path("cnn.json")}, ckpt, "x.safetensors");
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("cnn.json") && Catch::Contains("\"family\" must be \"vit\" or \"swin\""));
  r = forward(by_name, fixture("vit_test_tiny_timm.safetensors"), "x.safetensors");
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("vit_test_tiny_timm.safetensors") &&
                          Catch::Contains("does not fit the model") &&
                          Catch::Contains("missing key: layers.0.blocks.0.attn.qkv.weight"));
  REQUIRE(!fs::exists(box.path("x.safetensors")));
}

TEST_CASE("forward reads Google's .npz ViT checkpoints", "[cli][npz]") {
  Sandbox box;
  const Tensor want = load_safetensors(kIO).tensors.at("logits");
  for (const char* file : {"vit_test_tiny_google.npz", "vit_test_tiny_google_deflated.npz"}) {
    INFO(file);
    Result r = box.forward(fixture(file), kIO, box.path("g.safetensors"));  // head size from head/kernel
    REQUIRE(r.code == 0);
    require_close(load_safetensors(box.path("g.safetensors")).tensors.at("logits"), want, 1e-4, 1e-5, file);
  }
  {  // a damaged archive: exit code 1, the file named
    std::string bytes = read_text(fixture("vit_test_tiny_google.npz"));
    std::ofstream(box.path("cut.npz"), std::ios::binary).write(bytes.data(), bytes.size() - 100);
  }
  Result r = box.forward(box.path("cut.npz"), kIO, box.path("c.safetensors"));
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("cut.npz") && Catch::Contains("zip"));
}

TEST_CASE("params counts Swin models as timm does", "[cli][swin]") {
  Sandbox box;
  auto params = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "params");
    Result r = box.run(args);
    REQUIRE(r.code == 0);
    return nlohmann::json::parse(r.out);
  };
  // timm lists swin_tiny_patch4_window7_224 at 28.29M parameters; torchvision's swin_t, the same
  // network, counts exactly 28,288,354 (Debian's torchvision 0.14), 769,000 of them in the head.
  auto j = params({"--model", "swin_tiny_patch4_window7_224"});
  REQUIRE(j.at("model") == "swin_tiny_patch4_window7_224");
  REQUIRE(j.at("total") == 28288354);
  REQUIRE(j.at("trainable_head") == 768 * 1000 + 1000);
  REQUIRE(j.at("backbone_total") == 27519354);
  REQUIRE(params({"--model", "swin_tiny_patch4_window7_224", "--num-classes", "0"}).at("total") == 27519354);
  REQUIRE(params({"--model", "swin_base_patch4_window7_224", "--num-classes", "0"}).at("total") == 86743224);
  box.write("swin.json", R"({"family": "swin", "base": "swin_test_micro", "num_classes": 3})");
  REQUIRE(params({"--model-config", box.path("swin.json")}).at("trainable_head") == 32 * 3 + 3);  // 32 features

  Result r = box.run({"params", "--model", "swin_nope"});
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("swin_nope") && Catch::Contains("swin_tiny_patch4_window7_224"));
  r = box.run({"params", "--model", "resnet50"});  // neither family: every known name is listed
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("unknown model 'resnet50'") && Catch::Contains("vit_base_patch16_224") &&
                          Catch::Contains("swin_base_patch4_window7_224"));
}
