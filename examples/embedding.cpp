// embedding.cpp — vitune inside your own program (docs/EMBEDDING.md shows this file whole).
//
//   embedding [MODEL] [WEIGHTS] [OUT]     defaults: vit_base_patch16_224,
//                                         vit_base_patch16_224.safetensors (timm's file), my-lora
//
// Creates MODEL from a timm checkpoint with a fresh 10-way head, applies LoRA (r = 8 on qkv),
// trains five AdamW steps on images and labels this program made, saves the adapter to OUT,
// loads it onto a freshly loaded model and checks that both give the same logits.
// Build against an installed vitune:  g++ -std=c++17 -O2 embedding.cpp $(pkg-config --cflags --libs vitune)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "engine/optim.h"
#include "engine/random.h"
#include "nn/model_zoo.h"
#include "peft/adapter_file.h"

int main(int argc, char** argv) {
  const std::string arch = argc > 1 ? argv[1] : "vit_base_patch16_224";
  const std::string weights = argc > 2 ? argv[2] : arch + ".safetensors";
  const std::string out = argc > 3 ? argv[3] : "my-lora";
  const int64_t classes = 10;
  try {
    // 1. The pretrained backbone (any key layout vitune reads) with a fresh zero 10-way head.
    const vt::nn::ModelSpec spec{arch, "", -1};
    std::unique_ptr<vt::nn::ImageModel> model = vt::nn::load_model(spec, weights, classes);

    // 2. LoRA: the backbone is frozen; the LoRA factors and the head train.
    vt::peft::TunerConfig lora = vt::peft::apply_method(*model, {"lora", {{"r", 8}}});
    std::printf("%s + %s: %s\n", model->name().c_str(), lora.to_json().dump().c_str(),
                model->param_report(model->head_prefix()).json().c_str());

    // 3. A few training steps on tensors we made: 4 images (B, 3, S, S), labels (B).
    vt::manual_seed(0);
    const int64_t S = model->img_size();
    vt::Tensor images = vt::randn({4, model->in_chans(), S, S});
    vt::Tensor labels = vt::Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3}, {4});
    vt::AdamW opt(vt::param_groups_no_decay(model->named_parameters(), 1e-4), /*lr=*/1e-3);
    for (int step = 0; step < 5; ++step) {
      vt::Tensor loss = vt::cross_entropy(model->forward(images), labels);  // frozen weights get no gradient
      opt.zero_grad();
      loss.backward();
      opt.step();
      std::printf("step %d loss %.4f\n", step, loss.item());
    }

    // 4. The adapter: adapter_config.json + adapter_model.safetensors (LoRA factors and head).
    vt::peft::save_adapter(out, *model, {lora, model->name(), classes, nullptr});
    model->eval();
    vt::NoGrad no_grad;
    vt::Tensor logits = model->forward(images);  // (4, 10)

    // 5. A fresh model from the same checkpoint, the adapter loaded onto it: the same logits.
    std::unique_ptr<vt::nn::ImageModel> fresh = vt::nn::load_model(spec, weights, classes);
    vt::peft::load_adapter(out, *fresh);
    fresh->eval();
    double diff = 0;
    for (double d : vt::sub(fresh->forward(images), logits).to_vector()) diff = std::max(diff, std::abs(d));
    std::printf("adapter %s: reloaded logits differ by %g\n", out.c_str(), diff);
    return diff == 0.0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embedding: %s\n", e.what());
    return 1;
  }
}
