// fuzz_model.cpp — a model directory (nn/model_zoo.cpp, nn/checkpoint*.cpp): the input splits
// into config.json (vitune's, timm's or transformers' form; ViT or Swin) and model.safetensors,
// loaded in whichever key layout it has. Models are capped at 10⁵ parameters here, so that a
// valid but large config is refused by the same check that bounds every config.
#include "nn/config_util.h"
#include "nn/model_zoo.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool once = (vt::nn::set_max_model_parameters(1e5), true);
  (void)once;
  const auto parts = vt::fuzz::split(data, size, 2);
  vt::fuzz::put("model/config.json", parts[0]);
  const std::string weights = vt::fuzz::put("model/model.safetensors", parts[1]);
  vt::fuzz::expect_clean([&] {
    auto m = vt::nn::load_model({vt::fuzz::scratch() + "/model"}, weights, -1);
    (void)m->num_features();
  });
  return 0;
}
