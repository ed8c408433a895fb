// test_cli_dense.cpp — `vitune finetune / eval --task segmentation|depth|instance` as a user
// runs them: the tiny Swin and ViT fixtures as "pretrained" backbones, the synthetic scenes as
// data, the decoder (or detector) saved with the adapter, --save-predictions pictures, and the
// dense-task errors.
#include "tests/cli/cli_sandbox.h"

using namespace cli_test;

TEST_CASE("segmentation: finetune, eval, pictures on a tiny Swin", "[cli][dense]") {
  Sandbox box;
  const std::string weights = fixture("swin_test_tiny_timm.safetensors"), out = box.path("seg");
  const std::vector<std::string> common{"--model", "swin_test_tiny", "--weights", weights, "--task",
                                        "segmentation", "--normalize", "inception", "--progress", "none"};
  std::vector<std::string> args{"finetune", "--data", "scenes:24:56", "--eval-data", "scenes:8:56",
                                "--method", "adaptformer", "--epochs", "2", "--batch", "8",
                                "--decoder-channels", "16", "--augment", "--out", out};
  args.insert(args.end(), common.begin(), common.end());
  Result r = box.run(args);
  REQUIRE(r.code == 0);
  nlohmann::json s = last_json_line(r.out);
  CHECK(s.at("task") == "segmentation");
  CHECK(s.at("score") == "mIoU");
  for (const char* k : {"best_mIoU", "last_aAcc", "last_mAcc", "last_loss"}) CHECK(s.contains(k));
  nlohmann::json cfg = nlohmann::json::parse(read_text(out + "/best/adapter_config.json"));
  CHECK(cfg.at("decode_head").at("num_classes") == 6);
  CHECK(cfg.at("decode_head").at("channels") == 16);

  std::vector<std::string> ev{"eval", "--adapter", out + "/best", "--data", "scenes:8:56",
                              "--save-predictions", box.path("pred"), "--save-limit", "3"};
  ev.insert(ev.end(), common.begin(), common.end());
  r = box.run(ev);
  REQUIRE(r.code == 0);
  nlohmann::json e = last_json_line(r.out);
  CHECK(e.at("images") == 8);
  CHECK(e.at("mIoU").get<double>() == Approx(s.at("best_mIoU").get<double>()));
  CHECK(fs::exists(box.path("pred/0000.png")));
  CHECK(fs::exists(box.path("pred/0002.png")));
  CHECK_FALSE(fs::exists(box.path("pred/0003.png")));

  // The adapter is for segmentation, not depth; a dense eval needs its adapter.
  ev[ev.size() - 5] = "depth";  // the --task value in `common`
  r = box.run(ev);
  CHECK(r.code == 1);
  CHECK(r.err.find("trained for segmentation, not depth") != std::string::npos);
  r = box.run({"eval", "--task", "segmentation", "--model", "swin_test_tiny", "--data", "scenes:8:56"});
  CHECK(r.code == 2);
  CHECK(r.err.find("--adapter") != std::string::npos);
}

TEST_CASE("depth: finetune and eval on a tiny ViT (simple feature pyramid)", "[cli][dense]") {
  Sandbox box;
  const std::string weights = fixture("vit_test_tiny_timm.safetensors"), out = box.path("depth");
  Result r = box.run({"finetune", "--task", "depth", "--model", "vit_test_tiny", "--weights", weights,
                      "--data", "scenes:16:32", "--eval-data", "scenes:8:32", "--method", "lora",
                      "--epochs", "2", "--batch", "8", "--decoder-channels", "16", "--out", out,
                      "--progress", "none"});
  REQUIRE(r.code == 0);
  nlohmann::json s = last_json_line(r.out);
  CHECK(s.at("score") == "d1");
  for (const char* k : {"last_abs_rel", "last_rmse", "last_log10", "last_d3"}) CHECK(s.contains(k));
  r = box.run({"eval", "--task", "depth", "--model", "vit_test_tiny", "--weights", weights, "--adapter",
               out + "/best", "--data", "scenes:8:32", "--save-predictions", box.path("pred"),
               "--save-limit", "1", "--progress", "none"});
  REQUIRE(r.code == 0);
  CHECK(last_json_line(r.out).at("d1").get<double>() == Approx(s.at("best_d1").get<double>()));
  CHECK(fs::exists(box.path("pred/0000.png")));
  CHECK(fs::exists(box.path("pred/0000_depth16.png")));

  // Data that does not fit the task is refused by name.
  r = box.run({"finetune", "--task", "depth", "--model", "vit_test_tiny", "--data", "ade20k:/nowhere",
               "--out", box.path("x"), "--progress", "none"});
  CHECK(r.code == 1);
  CHECK(r.err.find("ade20k:/nowhere") != std::string::npos);
}

TEST_CASE("instance: finetune, eval, pictures, errors on a micro Swin", "[cli][dense][instance]") {
  Sandbox box;
  const std::string weights = fixture("swin_test_micro_timm.safetensors"), out = box.path("inst");
  const std::vector<std::string> common{"--model", "swin_test_micro", "--weights", weights, "--task",
                                        "instance", "--normalize", "inception", "--progress", "none"};
  std::vector<std::string> args{"finetune", "--data", "scenes:8:32", "--eval-data", "scenes:4:32",
                                "--method", "lora", "--epochs", "1", "--batch", "4",
                                "--decoder-channels", "8", "--augment", "--out", out};
  args.insert(args.end(), common.begin(), common.end());
  Result r = box.run(args);
  REQUIRE(r.code == 0);
  nlohmann::json s = last_json_line(r.out);
  CHECK(s.at("task") == "instance");
  CHECK(s.at("score") == "mask_AP");
  for (const char* k : {"best_mask_AP", "last_mask_AP50", "last_box_AP", "last_box_AR100", "last_detections"})
    CHECK(s.contains(k));
  nlohmann::json cfg = nlohmann::json::parse(read_text(out + "/best/adapter_config.json"));
  CHECK(cfg.at("decode_head").at("task") == "instance");
  CHECK(cfg.at("decode_head").at("num_classes") == 5);
  CHECK(cfg.at("decode_head").at("channels") == 8);

  std::vector<std::string> ev{"eval", "--adapter", out + "/best", "--data", "scenes:4:32",
                              "--save-predictions", box.path("pred"), "--save-limit", "2"};
  ev.insert(ev.end(), common.begin(), common.end());
  r = box.run(ev);
  REQUIRE(r.code == 0);
  nlohmann::json e = last_json_line(r.out);
  CHECK(e.at("images") == 4);
  CHECK(e.at("mask_AP").get<double>() == Approx(s.at("best_mask_AP").get<double>()));
  CHECK(fs::exists(box.path("pred/0001.png")));
  CHECK_FALSE(fs::exists(box.path("pred/0002.png")));

  // A segmentation adapter is not a detector; COCO specs are checked.
  ev[ev.size() - 5] = "segmentation";
  r = box.run(ev);
  CHECK(r.code != 0);
  ev[ev.size() - 5] = "instance";
  ev[4] = "coco:" + box.path("nowhere");
  r = box.run(ev);
  CHECK(r.code != 0);
  CHECK_THAT(r.err, Catch::Contains("coco:ROOT:ANNOTATIONS.json"));
}

TEST_CASE("dense-demo --tasks instance runs end to end at toy size", "[cli][dense][instance]") {
  Sandbox box;
  const std::string out = box.path("demo");
  Result r = box.run({"dense-demo", "--tasks", "instance", "--pretrain-images", "64", "--pretrain-epochs", "1",
                      "--train-images", "16", "--eval-images", "8", "--epochs", "1", "--decoder-channels", "8",
                      "--out", out, "--progress", "none"});
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("mask_AP50") && Catch::Contains("box_AP50"));
  nlohmann::json s = nlohmann::json::parse(read_text(out + "/summary.json"));
  REQUIRE(s.at("runs").size() == 1);
  CHECK(s["runs"][0].at("task") == "instance");
  CHECK(s["runs"][0].at("trivial").at("mask_AP50") == 0.0);
  CHECK(fs::exists(out + "/instance/predictions/0000.png"));
  CHECK(fs::exists(out + "/instance/curve.svg"));
  // an unknown task is a usage error
  CHECK(box.run({"dense-demo", "--tasks", "detection", "--out", out}).code != 0);
}
