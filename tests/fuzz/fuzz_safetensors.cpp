// fuzz_safetensors.cpp — a safetensors file (engine/io/safetensors.cpp): header size, JSON,
// dtypes, shapes, offsets; every tensor read back in full.
#include "engine/io/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vt::fuzz::put("x.safetensors", data, size);
  vt::fuzz::expect_clean([&] {
    const vt::SafetensorsFile f = vt::load_safetensors(path);
    for (auto& [name, t] : f.tensors) vt::fuzz::touch(t);
  });
  return 0;
}
