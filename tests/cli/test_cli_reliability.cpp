// test_cli_reliability.cpp — what a long run meets: a checkpoint that cannot be written (a full
// disk, a file-size limit) is a clear error naming the file, and the previous checkpoint stays
// whole and resumable. (Random SIGKILLs: tests/reliability/kill_test.sh.)
#include <cstring>

#include "tests/cli/cli_sandbox.h"

using namespace cli_test;

TEST_CASE("a checkpoint write that fails (file-size limit) keeps the previous checkpoint", "[cli][reliability]") {
  Sandbox box;
  write_toy_idx(box, "train", 32);
  write_toy_idx(box, "t10k", 16);
  const std::vector<std::string> args = {
      "finetune", "--model", "vit_test_tiny", "--weights", fixture("vit_test_tiny_timm.safetensors"), "--data",
      "fashion-mnist:" + box.dir.string(), "--method", "full", "--epochs", "3", "--batch", "16", "--normalize", "none",
      "--progress", "none", "--out", box.path("run")};
  auto with = [&](std::vector<std::string> extra) {
    auto a = args;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  Result r = box.run(with({"--stop-after", "1"}));  // epoch 1, checkpointed
  REQUIRE(r.code == 0);
  const std::string state = read_text(box.path("run/last/trainer_state.safetensors"));
  // Epoch 2 under a 256 KiB file-size limit: the 1.1 MB adapter of full fine-tuning cannot be
  // written (EFBIG, as on a full disk).
  std::string cmd = "ulimit -f 256; exec '" + std::string(VITUNE_EXE) + "'";
  for (const auto& a : with({"--resume"})) cmd += " '" + a + "'";
  cmd += " >'" + box.path("o.txt") + "' 2>'" + box.path("e.txt") + "'";
  const int status = std::system(("bash -c \"" + cmd + "\"").c_str());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  const std::string err = read_text(box.path("e.txt"));
  INFO(err);
  CHECK(err.find("vitune: error: ") != std::string::npos);
  CHECK(err.find("adapter_model.safetensors") != std::string::npos);
  CHECK(err.find("File too large") != std::string::npos);
  // The epoch-1 checkpoint is untouched and resumes to the end.
  CHECK(read_text(box.path("run/last/trainer_state.safetensors")) == state);
  r = box.run(with({"--resume"}));
  REQUIRE(r.code == 0);
  CHECK(last_json_line(r.out).at("epochs") == 3);
}

TEST_CASE("a non-finite loss stops the run naming it, or is skipped and counted", "[cli][reliability]") {
  Sandbox box;
  write_toy_idx(box, "train", 48);
  write_toy_idx(box, "t10k", 16);
  auto run = [&](const std::string& mode, const std::string& out) {  // lr 1e30: the loss overflows
    return box.run({"finetune", "--model", "vit_test_tiny", "--weights", fixture("vit_test_tiny_timm.safetensors"),
                    "--data", "fashion-mnist:" + box.dir.string(), "--method", "lora", "--epochs", "2", "--batch", "16",
                    "--lr", "1e30", "--normalize", "none", "--progress", "none", "--on-nonfinite", mode, "--out",
                    box.path(out)});
  };
  Result r = run("stop", "stop");
  CHECK(r.code == 1);
  CHECK(r.err.find("vitune: error: train: ") != std::string::npos);
  CHECK(r.err.find("is not finite") != std::string::npos);
  CHECK(r.err.find("at epoch 1, iteration ") != std::string::npos);
  CHECK(r.err.find("the step was not applied") != std::string::npos);
  CHECK(!fs::exists(box.path("stop/last")));
  r = run("skip", "skip");
  REQUIRE(r.code == 0);
  auto s = last_json_line(r.out);
  CHECK(s.at("nonfinite_steps").get<int64_t>() > 0);
  CHECK(s.at("last_top1").get<double>() < 100.0);  // NaN logits are misses, not hits
  // The checkpoint holds finite values only.
  for (auto& [k, t] : load_safetensors(box.path("skip/last/adapter_model.safetensors")).tensors)
    for (double v : t.to_vector()) REQUIRE(std::isfinite(v));
  r = box.run({"finetune", "--model", "vit_test_tiny", "--data", "fashion-mnist:" + box.dir.string(), "--on-nonfinite",
               "ignore", "--out", box.path("x")});
  CHECK(r.code == 2);
  CHECK(r.err.find("--on-nonfinite") != std::string::npos);
}

TEST_CASE("numeric options: NaN, infinities, negative and absurd values are usage errors naming the flag",
          "[cli][reliability]") {
  Sandbox box;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--label-smoothing", "nan"}, "--label-smoothing: must be in [0, 1], got 'nan'"},
      {{"--lr", "inf"}, "--lr: must be a finite number > 0"},
      {{"--lr", "nan"}, "--lr: must be a finite number > 0"},
      {{"--min-lr", "-inf"}, "--min-lr: must be a finite number"},
      {{"--weight-decay", "-1"}, "--weight-decay: must be a finite number >= 0"},
      {{"--data-seed", "-1"}, "--data-seed: must not be negative"},
      {{"--seed", "-1"}, "--seed: must not be negative"},
      {{"--img-size", "-8"}, "--img-size: must be in [0, 16384]"},
      {{"--batch", "0"}, "--batch: must be in [1, 1048576]"},
      {{"--workers", "1000"}, "--workers: must be in [0, 256]"},
      {{"--epochs", "0"}, "--epochs: must be a finite number > 0"},
  };
  for (const auto& [extra, message] : cases) {
    std::vector<std::string> args = {"finetune", "--model", "vit_test_tiny", "--data", "fashion-mnist", "--out", box.path("x")};
    args.insert(args.end(), extra.begin(), extra.end());
    Result r = box.run(args);
    INFO(extra[0] << " " << extra[1]);
    CHECK(r.code == 2);
    CHECK(r.err.find(message) != std::string::npos);
  }
  Result r = box.run({"bench", "--model", "vit_test_tiny", "--threads", "100000"});
  CHECK(r.code == 2);
  CHECK(r.err.find("--threads: must be in [0, 1024]") != std::string::npos);
}

TEST_CASE("hostile files: an image header claiming 16000x16000, an npz member claiming gigabytes", "[cli][reliability]") {
  Sandbox box;
  // 27 bytes that claim a 16000×16000 RGB image (768 MB): refused from the header.
  box.write("big.ppm", "P6\n16000 16000\n255\n" + std::string(8, '\x7f'));
  box.write("ok.ppm", "P6\n8 8\n255\n" + std::string(8 * 8 * 3, '\x40'));
  box.write("train.txt", "big.ppm 0\nok.ppm 1\n");
  Result r = box.run({"eval", "--model", "vit_test_tiny", "--data", "list:" + box.dir.string() + ":train.txt",
                      "--batch", "2", "--progress", "none"});
  CHECK(r.code == 1);
  CHECK(r.err.find("big.ppm: PNM of 16000x16000 px (at most 8192 a side)") != std::string::npos);
  // A deflated .npz whose directory says one member inflates to 3 GB.
  std::string npz = read_text(fixture("vit_test_tiny_google_deflated.npz"));
  const size_t cd = npz.find(std::string("PK\x01\x02", 4));
  REQUIRE(cd != std::string::npos);
  const uint32_t huge = 3000000000u;
  std::memcpy(&npz[cd + 24], &huge, 4);  // the first member's uncompressed size
  box.write("huge.npz", npz);
  r = box.run({"forward", "--model", "vit_test_tiny", "--checkpoint", box.path("huge.npz"), "--input", kIO, "--output",
               box.path("o.safetensors")});
  require_runtime_error(r);
  CHECK(r.err.find("huge.npz") != std::string::npos);
  CHECK(r.err.find("claims 3000000000 bytes") != std::string::npos);
}

TEST_CASE("a file name that is not UTF-8 does not break a run; an empty test split is an error", "[cli][reliability]") {
  Sandbox box;
  write_toy_idx(box, "train", 32);
  write_toy_idx(box, "t10k", 16);
  const std::string out = box.path("run\xff\xfe");  // Latin-1 bytes, not UTF-8
  Result r = box.run({"finetune", "--model", "vit_test_tiny", "--weights", fixture("vit_test_tiny_timm.safetensors"),
                      "--data", "fashion-mnist:" + box.dir.string(), "--epochs", "1", "--progress", "none", "--out", out});
  REQUIRE(r.code == 0);
  CHECK(last_json_line(r.out).at("epochs") == 1);  // the name printed with U+FFFD in place of the bytes
  CHECK(fs::exists(out + "/summary.json"));
  // An IDX pair with 0 images: not "top1 0".
  fs::create_directories(box.path("empty"));
  std::ofstream(box.path("empty/t10k-images-idx3-ubyte"), std::ios::binary) << be32(0x803) + be32(0) + be32(28) + be32(28);
  std::ofstream(box.path("empty/t10k-labels-idx1-ubyte"), std::ios::binary) << be32(0x801) + be32(0);
  r = box.run({"eval", "--model", "vit_test_tiny", "--data", "fashion-mnist:" + box.path("empty"), "--progress", "none"});
  CHECK(r.code == 1);
  CHECK(r.err.find("has no images") != std::string::npos);
}
