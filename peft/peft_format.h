// peft_format.h — LoRA adapters in Hugging Face peft's layout, read and written.
//
//   DIR/adapter_config.json         {"peft_type": "LORA", "r", "lora_alpha", "target_modules",
//                                    "modules_to_save", "use_rslora", "rank_pattern",
//                                    "alpha_pattern", "bias": "none", ...} as peft's LoraConfig
//   DIR/adapter_model.safetensors   base_model.model.<module>.lora_A.weight   (r, in)
//                                   base_model.model.<module>.lora_B.weight   (out, r)
//                                   base_model.model.<head>.{weight,bias}     (modules_to_save)
//                                   __metadata__ {"format": "pt"}
//
// <module> is named as the base model names it, in one of two layouts:
//   timm:          blocks.{i}.attn.qkv (fused), blocks.{i}.attn.proj, blocks.{i}.mlp.fc1 / fc2
//                  (Swin: layers.{s}.blocks.{j}...), head "head"
//   transformers:  vit.encoder.layer.{i}.attention.attention.query / key / value,
//                  ...attention.output.dense, ...intermediate.dense, ...output.dense,
//                  head "classifier" (ViT only)
// A LoRA on query/key/value is ours on that third of the fused qkv rows; our LoRA on the fused
// qkv is written in the transformers layout as three LoRAs sharing A, with B split in thirds.
// Scale: lora_alpha / r, or lora_alpha / √r with use_rslora; rank_pattern / alpha_pattern
// override r and alpha for the modules whose name is the key or ends with "." + key.
// Anything peft can express that we cannot compute — DoRA, bias other than "none",
// fan_in_fan_out, a LoRA on a module we have no site for, a module to save other than the
// head — is refused with an error naming the config key or tensor, never dropped.
#pragma once
#include <string>

#include "peft/adapter_file.h"

namespace vt::peft {

// adapter_config.json exists and has "peft_type".
bool is_peft_adapter(const std::string& dir);

// The method ("lora" with r, alpha and targets as our LoRA reads them), the base model named in
// the config, and the classes of the saved head (-1: no head saved; the base model's is used).
AdapterInfo read_peft_adapter_info(const std::string& dir);

// Attaches the adapter's LoRAs to `model` (whose head already has the saved head's size),
// freezes the rest, and loads the tensors. Either layout; the file's keys tell which.
AdapterInfo load_peft_adapter(const std::string& dir, nn::ImageModel& model);

// Writes the model's LoRAs and trained head in peft's layout with `names` "timm" or
// "transformers". Throws, naming the tensor, when something trainable has no place in it (a
// method other than LoRA) or a LoRA cannot be expressed in that layout (q/k/v thirds in timm's).
void save_peft_adapter(const std::string& dir, nn::ImageModel& model, const AdapterInfo& info,
                       const std::string& names);
// The same checks without writing (before a run, so that it does not fail at its first save).
void check_peft_layout(nn::ImageModel& model, const AdapterInfo& info, const std::string& names);

}  // namespace vt::peft
