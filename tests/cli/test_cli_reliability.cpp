// test_cli_reliability.cpp — what a long run meets: a checkpoint that cannot be written (a full
// disk, a file-size limit) is a clear error naming the file, and the previous checkpoint stays
// whole and resumable. (Random SIGKILLs: tests/reliability/kill_test.sh.)
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
