// model_zoo.h — models by name, JSON config or model directory (timm's create_model).
//
//   create_model("vit_base_patch16_224")             a registered name
//   create_model_from_config({"family": "swin", "base": "swin_tiny_patch4_window7_224", ...})
//   load_model({"runs/demo/pretrained"}, "", -1)      a model directory: config.json + model.safetensors
//
// Families register in model_zoo.cpp (one line each); a family knows its names, builds a model
// from a name or from its JSON config fields, and its model class implements ImageModel
// (nn/model.h). Everything above nn/ creates models only through this file.
//
// JSON model configs, three forms:
//   - vitune's: the family's config fields (ViTConfig / SwinConfig keys), "base": NAME to start
//     from a registered config, "family": "vit" | "swin" (default: the family of "base").
//   - a model directory's config.json, timm's layout: {"architecture": NAME, "num_classes": K,
//     "num_features": D, "model_args": {the family's fields}, "pretrained_cfg": {...}}.
//     "architecture" picks the family and the registered config (when it is one); "model_args"
//     overrides fields; "num_classes" and "global_pool" as timm writes them are applied too.
//   - Hugging Face transformers' config.json ("model_type": "vit"; nn/checkpoint_hf.cpp):
//     hidden_size, num_hidden_layers, ... map onto ViTConfig, classes from id2label.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/model.h"

namespace vt::nn {

struct ModelFamily {
  std::string name;                                  // "vit", "swin"
  std::function<std::vector<std::string>()> names;   // its registered config names
  // A model from the family's JSON config fields ("base" allowed).
  std::function<std::unique_ptr<ImageModel>(const nlohmann::json& cfg)> from_json;
};

const std::vector<ModelFamily>& model_families();
std::vector<std::string> model_names();  // every registered name, family by family

// What a command line names: a registered model name or a model directory (`name`), or a JSON
// config file (`config_file`, used when not empty).
struct ModelSpec {
  std::string name;
  std::string config_file;
  int64_t num_classes = -1;  // -1: the config's own; 0: no head; K: a K-way head
};

// Throws vt::Error naming the unknown name (listing the known ones) or the bad config.
std::unique_ptr<ImageModel> create_model(const std::string& name, int64_t num_classes = -1);
std::unique_ptr<ImageModel> create_model_from_config(const nlohmann::json& cfg, int64_t num_classes = -1);
std::unique_ptr<ImageModel> create_model(const ModelSpec& spec);

// A directory holding config.json (and usually model.safetensors).
bool is_model_dir(const std::string& path);
// `path`/model.safetensors when `path` is a model directory that has it; else "".
std::string model_dir_weights(const std::string& path);

// Creates the model with a `classes`-way head (-1: the config's) and loads `weights` into it
// (any key layout the family reads); with no weights, a model directory's own
// model.safetensors. The checkpoint's head is dropped when its size differs from `classes`
// (fine-tuning on a new label set); every other tensor must fit. No weights at all: random
// initialisation, with a warning on stderr.
std::unique_ptr<ImageModel> load_model(const ModelSpec& spec, const std::string& weights, int64_t classes);

// Writes `dir`/config.json (timm's layout, see above) and `dir`/model.safetensors (the state
// dict, timm's names), both atomically. `pretrained_cfg` (e.g. {"mean": ..., "std": ...}) is
// stored as timm stores it; input_size is filled in.
void save_model_dir(const std::string& dir, const ImageModel& model,
                    nlohmann::json pretrained_cfg = nlohmann::json::object());

}  // namespace vt::nn
