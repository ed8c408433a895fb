// fuzz_trainer_state.cpp — what `finetune --resume` reads (tasks/train/trainer_state.cpp): the
// input splits into trainer_state.safetensors (metadata and optimizer tensors), loaded into an
// AdamW over two parameters, and metrics.jsonl, trimmed to the state's epoch.
#include "engine/optim.h"
#include "tasks/train/trainer_state.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = vt::fuzz::split(data, size, 2);
  const std::string state = vt::fuzz::put("resume/trainer_state.safetensors", parts[0]);
  const std::string metrics = vt::fuzz::put("resume/metrics.jsonl", parts[1]);
  vt::fuzz::expect_clean([&] {
    const vt::tasks::TrainerState s = vt::tasks::read_trainer_state(state);
    vt::Tensor w = vt::Tensor::zeros({3, 4}).set_requires_grad(true);
    vt::Tensor b = vt::Tensor::zeros({4}).set_requires_grad(true);
    vt::AdamW opt({vt::ParamGroup{{w, b}}}, 1e-3);
    opt.load_state(s.optimizer);
    vt::tasks::drop_lines_after(metrics, s.epoch + 1);
  });
  return 0;
}
