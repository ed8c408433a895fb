// fuzz_tuner_config.cpp — a tuner config {"method": NAME, "options": {...}} (peft/method.cpp and
// every method's option checks), applied to a one-block ViT that then runs a forward pass.
#include "nn/model_zoo.h"
#include "peft/method.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;  // JSON syntax is nlohmann's; the config is ours
  vt::fuzz::expect_clean([&] {
    const vt::peft::TunerConfig cfg = vt::peft::TunerConfig::from_json(j);
    auto m = vt::nn::create_model_from_config(nlohmann::json::parse(vt::fuzz::kSmallVit), 3);
    vt::peft::apply_method(*m, cfg);
    vt::NoGrad ng;
    vt::fuzz::touch(m->forward(vt::Tensor::zeros({1, 3, 16, 16})));
  });
  return 0;
}
