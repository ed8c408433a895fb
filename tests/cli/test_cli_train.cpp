// test_cli_train.cpp — finetune, eval and merge run as a user would: a tiny ViT (the
// vit_test_tiny fixture as "pretrained" weights) adapted to a generated 4-class IDX data set.
#include "nn/model_zoo.h"
#include "tests/cli/cli_sandbox.h"

using namespace cli_test;


TEST_CASE("finetune, eval and merge on a tiny model", "[cli][train]") {
  Sandbox box;
  write_toy_idx(box, "train", 96);
  write_toy_idx(box, "t10k", 40);
  const std::string data = "fashion-mnist:" + box.dir.string(), weights = fixture("vit_test_tiny_timm.safetensors");
  const std::string out = box.path("run");
  Result r = box.run({"finetune", "--model", "vit_test_tiny", "--weights", weights, "--data", data,
                      "--method", "lora", "--method-opt", "r=4", "--epochs", "3", "--batch", "16",
                      "--lr", "5e-3", "--normalize", "none", "--out", out, "--progress", "none"});
  REQUIRE(r.code == 0);
  nlohmann::json s = last_json_line(r.out);
  CHECK(s.at("method") == "lora");
  CHECK(s.at("options").at("r") == 4);
  CHECK(s.at("trainable_params") > 0);
  for (const char* f : {"best/adapter_config.json", "best/adapter_model.safetensors", "last/trainer_state.safetensors",
                        "metrics.jsonl", "curve.svg", "summary.json"})
    CHECK(fs::exists(out + "/" + f));

  // eval: the best adapter on the same backbone gives the best epoch's accuracy.
  r = box.run({"eval", "--model", "vit_test_tiny", "--weights", weights, "--adapter", out + "/best",
               "--data", data, "--normalize", "none", "--progress", "none"});
  REQUIRE(r.code == 0);
  nlohmann::json e = last_json_line(r.out);
  CHECK(e.at("images") == 40);
  CHECK(e.at("top1").get<double>() == Approx(s.at("best_top1").get<double>()));

  // merge: LoRA folded into the weights evaluates the same, without the adapter.
  r = box.run({"merge", "--model", "vit_test_tiny", "--weights", weights, "--adapter", out + "/best",
               "--output", box.path("merged.safetensors")});
  REQUIRE(r.code == 0);
  r = box.run({"eval", "--model", "vit_test_tiny", "--weights", box.path("merged.safetensors"),
               "--num-classes", "4", "--data", data, "--normalize", "none", "--progress", "none"});
  REQUIRE(r.code == 0);
  CHECK(last_json_line(r.out).at("top1").get<double>() == Approx(e.at("top1").get<double>()));

  // resume: a finished run resumes to the same end (nothing left to train).
  r = box.run({"finetune", "--model", "vit_test_tiny", "--weights", weights, "--data", data,
               "--method", "lora", "--method-opt", "r=4", "--epochs", "3", "--batch", "16",
               "--lr", "5e-3", "--normalize", "none", "--out", out, "--progress", "none", "--resume"});
  REQUIRE(r.code == 0);
  REQUIRE_THAT(r.err, Catch::Contains("resuming after epoch 3"));

  // DyT trains with its own loss and reports the MLP token rate and the MACs it implies.
  r = box.run({"finetune", "--model", "vit_test_tiny", "--weights", weights, "--data", data, "--method", "dyt",
               "--method-opt", "bottleneck=4", "--epochs", "1", "--batch", "16", "--normalize", "none",
               "--out", box.path("dyt"), "--progress", "none"});
  REQUIRE(r.code == 0);
  r = box.run({"eval", "--model", "vit_test_tiny", "--weights", weights, "--adapter", box.path("dyt/best"),
               "--data", data, "--normalize", "none", "--progress", "none"});
  REQUIRE(r.code == 0);
  nlohmann::json d = last_json_line(r.out);
  CHECK(d.at("dyt_mlp_token_rate").get<double>() >= 0.0);
  CHECK(d.at("dyt_mlp_token_rate").get<double>() <= 1.0);
  CHECK(d.at("dyt_gmacs_per_image").get<double>() <= d.at("dense_gmacs_per_image").get<double>());
}

TEST_CASE("finetune, eval and merge refuse bad input by name", "[cli][train]") {
  Sandbox box;
  write_toy_idx(box, "train", 8);
  write_toy_idx(box, "t10k", 8);
  const std::string data = "fashion-mnist:" + box.dir.string(), weights = fixture("vit_test_tiny_timm.safetensors");
  const std::vector<std::string> base{"finetune", "--model", "vit_test_tiny", "--weights", weights,
                                      "--out", box.path("o"), "--progress", "none"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return box.run(a);
  };
  Result r = with({"--data", "mnist:" + box.dir.string()});
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("unknown kind 'mnist'"));
  r = with({"--data", data, "--method", "lorra"});
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("unknown PEFT method 'lorra'"));
  r = with({"--data", data, "--epoch", "3"});  // a typo of --epochs
  REQUIRE(r.code == 2);
  REQUIRE_THAT(r.err, Catch::Contains("--epoch"));
  r = with({"--data", data, "--num-classes", "7"});  // contradicts the data's 4 classes
  REQUIRE(r.code == 2);
  REQUIRE_THAT(r.err, Catch::Contains("contradicts"));
  r = with({"--data", data, "--resume"});  // nothing to resume (after the run's banner line)
  REQUIRE(r.code == 1);
  REQUIRE_THAT(r.err, Catch::Contains("no checkpoint"));
  {  // a truncated data file names the file
    std::ofstream(box.path("t10k-labels-idx1-ubyte"), std::ios::binary) << be32(0x801) << be32(8) << "abc";
    r = with({"--data", data});
    require_runtime_error(r);
    REQUIRE_THAT(r.err, Catch::Contains("t10k-labels-idx1-ubyte"));
    write_toy_idx(box, "t10k", 8);
  }
  // merge refuses a method that cannot fold into the weights.
  r = with({"--data", data, "--method", "adaptformer", "--epochs", "1"});
  REQUIRE(r.code == 0);
  r = box.run({"merge", "--model", "vit_test_tiny", "--weights", weights, "--adapter", box.path("o/best"),
               "--output", box.path("m.safetensors")});
  require_runtime_error(r);
  REQUIRE_THAT(r.err, Catch::Contains("adaptformer cannot be merged"));
}

TEST_CASE("bench prints one JSON line per run", "[cli][bench]") {
  Sandbox box;
  for (std::string mode : {"train", "infer"}) {
    Result r = box.run({"bench", "--model", "vit_test_tiny", "--method", "lora", "--batch", "2", "--steps", "1",
                        "--threads", "1", "--mode", mode});
    REQUIRE(r.code == 0);
    nlohmann::json j = last_json_line(r.out);
    CHECK(j.at("mode") == mode);
    CHECK(j.at("img_per_s").get<double>() > 0);
    CHECK(j.at("peak_rss_mb").get<double>() > 0);
    CHECK(j.at("forward_gflop_per_image").get<double>() > 0);
    CHECK(j.at("trainable") > 0);
  }
  Result r = box.run({"bench", "--model", "vit_test_tiny", "--mode", "both"});
  REQUIRE(r.code == 2);
}

TEST_CASE("a model directory stands wherever a model name and weights do", "[cli][model]") {
  Sandbox box;
  const std::string weights = fixture("vit_test_tiny_timm.safetensors");
  {  // DIR = config.json + model.safetensors of the fixture's model (nn/model_zoo.h)
    nn::StateDict sd = nn::read_checkpoint(weights);
    auto m = nn::create_model("vit_test_tiny");
    m->reset_head(m->checkpoint_classes(sd));
    m->load_checkpoint(sd, {}, weights);
    nn::save_model_dir(box.path("model"), *m);
  }
  // forward: --checkpoint defaults to DIR/model.safetensors; the logits are the fixture's.
  Result r = box.run({"forward", "--model", box.path("model"), "--input", kIO, "--output", box.path("o.safetensors")});
  REQUIRE(r.code == 0);
  require_close(load_safetensors(box.path("o.safetensors")).tensors.at("logits"),
                load_safetensors(kIO).tensors.at("logits"), 1e-4, 1e-5, "model directory");
  r = box.run({"params", "--model", box.path("model"), "--method", "lora"});
  REQUIRE(r.code == 0);
  CHECK(last_json_line(r.out).at("model") == "vit_test_tiny");

  // finetune and eval from the directory equal the same runs from name + weights.
  write_toy_idx(box, "train", 48);
  write_toy_idx(box, "t10k", 24);
  const std::string data = "fashion-mnist:" + box.dir.string();
  auto finetune = [&](std::vector<std::string> model, const std::string& out) {
    std::vector<std::string> a = {"finetune", "--data", data, "--method", "lora", "--epochs", "1", "--batch", "16",
                                  "--normalize", "none", "--out", box.path(out), "--progress", "none"};
    a.insert(a.end(), model.begin(), model.end());
    Result res = box.run(a);
    REQUIRE(res.code == 0);
    return last_json_line(res.out);
  };
  const auto by_dir = finetune({"--model", box.path("model")}, "a");
  const auto by_name = finetune({"--model", "vit_test_tiny", "--weights", weights}, "b");
  CHECK(by_dir.at("last_train_loss") == by_name.at("last_train_loss"));
  CHECK(by_dir.at("best_top1") == by_name.at("best_top1"));
  r = box.run({"eval", "--model", box.path("model"), "--adapter", box.path("a/best"), "--data", data,
               "--normalize", "none", "--progress", "none"});
  REQUIRE(r.code == 0);
  CHECK(last_json_line(r.out).at("top1") == by_dir.at("best_top1"));

  // A directory without config.json is no model.
  fs::create_directories(box.path("empty"));
  r = box.run({"params", "--model", box.path("empty")});
  require_runtime_error(r);
  CHECK_THAT(r.err, Catch::Contains("unknown model '" + box.path("empty") + "'"));
}

TEST_CASE("--precision bf16: F32 adapters through a BF16 frozen backbone, either way round", "[cli][bf16]") {
  Sandbox box;
  write_toy_idx(box, "train", 48);
  write_toy_idx(box, "t10k", 24);
  const std::string data = "fashion-mnist:" + box.dir.string(), weights = fixture("vit_test_tiny_timm.safetensors");
  Result r = box.run({"finetune", "--model", "vit_test_tiny", "--weights", weights, "--data", data, "--method", "lora",
                      "--epochs", "1", "--batch", "16", "--normalize", "none", "--precision", "bf16",
                      "--out", box.path("run"), "--progress", "none"});
  REQUIRE(r.code == 0);
  const nlohmann::json s = last_json_line(r.out);
  CHECK(s.at("precision") == "bf16");
  // The adapter file is F32 and evaluates under either precision.
  for (const auto& [name, t] : load_safetensors(box.path("run/best/adapter_model.safetensors")).tensors) {
    INFO(name);
    CHECK(t.dtype() == DType::F32);
  }
  for (const char* p : {"bf16", "fp32"}) {
    r = box.run({"eval", "--model", "vit_test_tiny", "--weights", weights, "--adapter", box.path("run/best"),
                 "--data", data, "--normalize", "none", "--precision", p, "--progress", "none"});
    REQUIRE(r.code == 0);
    CHECK(last_json_line(r.out).at("precision") == p);
  }
  r = box.run({"bench", "--model", "vit_test_tiny", "--method", "lora", "--batch", "2", "--steps", "1", "--precision", "auto"});
  REQUIRE(r.code == 0);
  const std::string used = last_json_line(r.out).at("precision");
  CHECK((used == "bf16" || used == "fp32"));
  r = box.run({"eval", "--model", "vit_test_tiny", "--data", data, "--precision", "fp16"});
  REQUIRE(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("--precision") && Catch::Contains("fp16"));
}

TEST_CASE("--device on finetune, eval and bench: cpu is the default run; cuda runs or says why not", "[cli][device]") {
  // The CUDA side is unit-tested against the CPU in tests/test_cuda*.cpp where a GPU is found;
  // here: the option's plumbing. --device cpu is bit for bit the default run.
  Sandbox box;
  write_toy_idx(box, "train", 32);
  write_toy_idx(box, "t10k", 16);
  const std::string data = "fashion-mnist:" + box.dir.string();
  auto finetune = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> a = {"finetune", "--model", "vit_test_tiny", "--data", data, "--method", "lora",
                                  "--epochs", "1", "--batch", "16", "--out", box.path(out), "--progress", "none"};
    a.insert(a.end(), extra.begin(), extra.end());
    return box.run(a);
  };
  Result a = finetune("default", {}), b = finetune("cpu", {"--device", "cpu"});
  REQUIRE(a.code == 0);
  REQUIRE(b.code == 0);
  CHECK(last_json_line(a.out).at("last_loss") == last_json_line(b.out).at("last_loss"));
  CHECK(last_json_line(a.out).at("last_train_loss") == last_json_line(b.out).at("last_train_loss"));
  Result e = box.run({"eval", "--model", "vit_test_tiny", "--adapter", box.path("cpu/best"), "--data", data,
                      "--device", "cpu", "--progress", "none"});
  REQUIRE(e.code == 0);
  for (const char* cmd : {"bench", "eval", "finetune"}) {
    INFO(cmd);
    std::vector<std::string> args = {cmd, "--model", "vit_test_tiny", "--device", "cuda"};
    if (std::string(cmd) == "bench") args.insert(args.end(), {"--batch", "2", "--steps", "1"});
    if (std::string(cmd) != "bench") args.insert(args.end(), {"--data", data, "--progress", "none"});
    if (std::string(cmd) == "finetune") args.insert(args.end(), {"--epochs", "1", "--batch", "16", "--out", box.path("gpu")});
    Result r = box.run(args);
    if (r.code != 0) {  // no GPU here (the usual case): one clear line
      CHECK(r.code == 1);
      CHECK_THAT(r.err, Catch::Contains("device cuda:0 is not available"));
    }
  }
  Result bad = box.run({"bench", "--model", "vit_test_tiny", "--device", "gpu"});
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("--device") && Catch::Contains("unknown device 'gpu'"));
}
