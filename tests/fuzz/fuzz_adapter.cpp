// fuzz_adapter.cpp — an adapter directory (peft/adapter_file.cpp, peft/peft_format.cpp): the
// input splits into adapter_config.json (vitune's layout or Hugging Face peft's) and
// adapter_model.safetensors, loaded into a small ViT (fuzz_util.h kSmallVit) as `vitune eval
// --adapter` does.
#include "nn/model_zoo.h"
#include "peft/adapter_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = vt::fuzz::split(data, size, 2);
  vt::fuzz::put("adapter/adapter_config.json", parts[0]);
  vt::fuzz::put("adapter/adapter_model.safetensors", parts[1]);
  const std::string dir = vt::fuzz::scratch() + "/adapter";
  vt::fuzz::expect_clean([&] {
    vt::peft::AdapterInfo info = vt::peft::read_adapter_info(dir);
    // The head is built from the config's class count, which the reader checks against the
    // file's head tensor (up to 10⁷ classes is a valid config; not worth the memory here).
    if (info.num_classes > 4096) return;
    auto m = vt::nn::create_model_from_config(nlohmann::json::parse(vt::fuzz::kSmallVit),
                                              info.num_classes < 0 ? 10 : info.num_classes);
    vt::peft::load_adapter(dir, *m);
  });
  return 0;
}
