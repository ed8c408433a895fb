// adapter_file.h — adapter checkpoints: only what a method trained, plus how to re-create it.
//
//   DIR/adapter_config.json         {"method": ..., "options": {...}, "base_model": ...,
//                                    "num_classes": ..., "format": "vitune-adapter-1",
//                                    "decode_head": {...} for segmentation / depth}
//   DIR/adapter_model.safetensors   every trainable tensor (tuners + head or dense decoder; for
//                                   BitFit the biases; for full fine-tuning everything), dotted
//                                   names, and the persistent buffers of the modules that train
//                                   (a decoder's BatchNorm running statistics)
//
// Hugging Face peft's own layout is read and written too (peft/peft_format.h); the functions
// below take either. In the spirit of Hugging Face peft: a ViT-B/16 LoRA adapter is ~1 MB, not the 330 MB backbone.
// Both files are written atomically. Loading re-applies the method to a freshly loaded
// backbone, then copies the tensors in — a tensor the model lacks, a shape that differs, or a
// trainable tensor the file lacks is an error naming it.
#pragma once
#include <string>

#include "peft/method.h"

namespace vt::peft {

struct AdapterInfo {
  TunerConfig tuner;
  std::string base_model;   // the backbone's config name (informative; checked if both known)
  int64_t num_classes = 0;  // of the head saved with the adapter (0: none)
  json decode_head;         // a dense task's decoder config (tasks/dense/decoders.h), or null
  // The files' layout: "vitune" (above) or "peft" (peft/peft_format.h: LoRA and the head only,
  // module names in peft_names' layout, "timm" or "transformers"). Reading fills both in.
  std::string format = "vitune";
  std::string peft_names = "timm";
};

// DIR/adapter_config.json as a JSON object (either layout); an error names the file.
json read_adapter_config(const std::string& dir);

// Writes in info.format's layout.
void save_adapter(const std::string& dir, nn::Module& model, const AdapterInfo& info);
// Either layout, told apart by adapter_config.json ("peft_type" is peft's). num_classes -1: a
// peft adapter that saved no head (the base model's head is used).
AdapterInfo read_adapter_info(const std::string& dir);
// Applies the adapter's method to `model` (a freshly loaded backbone whose head already has
// info.num_classes outputs) and loads its tensors. Returns the info.
AdapterInfo load_adapter(const std::string& dir, nn::ImageModel& model);

}  // namespace vt::peft
