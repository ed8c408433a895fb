// checkpoint.h — loading pretrained backbones: file formats and key maps onto timm names.
//
// timm's names are the native ones (the Module tree produces them). Other layouts are mapped:
// torchvision's vit_b_16 (class_token, encoder.layers.encoder_layer_i...) and Google's Flax ViT
// .npz files (embedding/kernel, Transformer/encoderblock_i/...), detected by their keys; for Swin,
// torchvision's swin_t/s/b and the old timm / Microsoft layout.
// Loading reports missing, unexpected and mis-shaped keys by name; the classifier head can be
// dropped (fine-tuning on a new label set) and pos_embed is resampled when the grid differs.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "nn/module.h"

namespace vt::nn {

struct VisionTransformer;
struct SwinTransformer;

// Reads a checkpoint file into a state dict, keys as stored: safetensors, or a NumPy .npz
// (chosen by the ".npz" extension or the zip magic "PK").
StateDict read_checkpoint(const std::string& path);

// Key layout detection and maps onto timm names.
enum class KeyLayout { Timm, Torchvision, Google, Transformers };
KeyLayout detect_vit_layout(const StateDict& sd);
StateDict torchvision_vit_to_timm(const StateDict& sd);
StateDict timm_vit_to_torchvision(const StateDict& sd);  // the inverse (for tests and export)
// Google's Flax layout (nn/checkpoint_google.cpp): fuses q/k/v, transposes kernels, drops
// pre_logits; an "opt/target/" training checkpoint is read from that subtree.
bool is_google_vit(const StateDict& sd);
StateDict google_vit_to_timm(const StateDict& sd);

// Hugging Face transformers' ViT (nn/checkpoint_hf.cpp): ViTForImageClassification or a bare
// ViTModel; q/k/v fused into qkv, the pooler and mask token dropped.
bool is_transformers_vit(const StateDict& sd);
StateDict transformers_vit_to_timm(const StateDict& sd);
// transformers' config.json ("model_type": "vit") as ViTConfig's JSON fields; classes from
// id2label (num_labels) when the architecture is a ...ForImageClassification, else 0.
nlohmann::json transformers_vit_config(const nlohmann::json& config);
// Swin in transformers' names: stage s's closing downsample opens stage s + 1 (timm), q/k/v
// fused; its config.json ("model_type": "swin") as SwinConfig's fields.
bool is_transformers_swin(const StateDict& sd);
StateDict transformers_swin_to_timm(const StateDict& sd);
nlohmann::json transformers_swin_config(const nlohmann::json& config);

struct LoadOptions {
  bool drop_head = false;  // ignore the file's head (e.g. fine-tuning on a new label set)
  bool strict = true;      // throw on any missing/unexpected/mis-shaped key
};

// Loads a ViT checkpoint (any supported layout) into `model`; returns the report.
LoadReport load_vit_checkpoint(VisionTransformer& model, const std::string& path,
                               const LoadOptions& opt = {});
LoadReport load_vit_state_dict(VisionTransformer& model, StateDict sd, const LoadOptions& opt,
                               const std::string& source);

// ---- Swin (nn/swin_checkpoint.cpp) ----
// Timm: current timm (downsample opening stages 1..S-1, head.fc). TimmOld: timm <= 0.8 and
// Microsoft's release (downsample closing stages 0..S-2, head.*, relative_position_index and
// attn_mask buffers saved). Torchvision: swin_t/s/b (features.*, head). All map onto Timm.
enum class SwinLayout { Timm, TimmOld, Torchvision, Transformers };
SwinLayout detect_swin_layout(const StateDict& sd);
StateDict torchvision_swin_to_timm(const StateDict& sd);  // unknown keys pass through unchanged
StateDict old_timm_swin_to_timm(const StateDict& sd);
LoadReport load_swin_checkpoint(SwinTransformer& model, const std::string& path,
                                const LoadOptions& opt = {});
LoadReport load_swin_state_dict(SwinTransformer& model, StateDict sd, const LoadOptions& opt,
                                const std::string& source);

}  // namespace vt::nn
