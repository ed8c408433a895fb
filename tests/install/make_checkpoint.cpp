// make_checkpoint.cpp — writes a seeded, randomly initialised model's state dict in timm's names:
// the "pretrained" checkpoint the install test hands to the embedding example.
//   vitune-make-checkpoint MODEL OUT.safetensors
#include <cstdio>

#include "engine/io/safetensors.h"
#include "engine/random.h"
#include "nn/model_zoo.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL OUT.safetensors\n", argv[0]);
    return 2;
  }
  try {
    vt::manual_seed(1);
    auto model = vt::nn::create_model(argv[1]);
    std::map<std::string, vt::Tensor> sd;
    for (auto& [k, v] : model->state_dict()) sd[k] = v;
    vt::save_safetensors(argv[2], sd, {{"format", "pt"}});
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
