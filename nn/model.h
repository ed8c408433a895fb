// model.h — the one interface every image model answers (timm's model interface in C++).
//
//   images (B, C, H, W) --forward_features--> (B, D) --forward_head--> (B, classes)
//                       --forward_feature_maps--> [(B, C_s, H_s, W_s), ...] for dense decoders
//
// An ImageModel is a Module (its parameters carry timm's dotted names) that also knows its
// name, family and input size, its head (replace or remove it with reset_head), its feature
// maps, where tuners attach (tuner_sites, nn/tuner_sites.h), how to read checkpoints in every
// key layout its family has (nn/checkpoint.h), its config as JSON (for model directories,
// nn/model_zoo.h) and its cost. ViT (nn/vit.h) and Swin (nn/swin.h) implement it; the model
// zoo (nn/model_zoo.h) creates one by name, JSON config or model directory. Code above nn/
// (peft, tasks, the CLI) sees models only through this interface.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/checkpoint.h"
#include "nn/tuner_sites.h"

namespace vt::nn {

// Multiply-adds of one image's forward pass at a given input size (fvcore's convention: one
// per multiply-add; norms, softmax and activations not counted).
struct ForwardCost {
  double macs = 0;                // everything: patch embedding, blocks, merging, head
  double mlp_macs = 0;            // of which the blocks' MLPs
  double skippable_mlp_macs = 0;  // of which the MLPs of the image tokens a token dispatcher
                                  // may skip (every token but CLS / prompts)
};

class ImageModel : public Module {
 public:
  virtual std::string name() const = 0;    // the config's name, e.g. "vit_base_patch16_224"
  virtual std::string family() const = 0;  // "vit", "swin" (nn/model_zoo.h's registry)
  virtual int64_t img_size() const = 0;    // the input size the model was configured for
  virtual int64_t in_chans() const = 0;
  virtual int64_t num_features() const = 0;  // width of forward_features
  virtual int64_t num_classes() const = 0;   // 0: no head

  // (B, in_chans, H, W) -> pooled, normed features (B, num_features).
  virtual Tensor forward_features(const Tensor& images) = 0;
  // (B, num_features) -> (B, num_classes); an error when the model has no head.
  virtual Tensor forward_head(const Tensor& features) = 0;
  // Logits, or the features when the model has no head.
  Tensor forward(const Tensor& images) {
    Tensor f = forward_features(images);
    return num_classes() > 0 ? forward_head(f) : f;
  }
  // Replaces the head with a fresh zero-initialised one for `classes` outputs (0 removes it).
  virtual void reset_head(int64_t classes) = 0;
  // Parameters whose dotted name starts with this are the classifier head.
  virtual std::string head_prefix() const { return "head"; }

  // Multi-scale maps for dense decoders, each (B, C_s, H_s, W_s), finest first.
  virtual std::vector<Tensor> forward_feature_maps(const Tensor& images) = 0;
  virtual std::vector<int64_t> feature_map_channels() const = 0;

  // Where tuners attach (peft/ fills these).
  virtual TunerSites tuner_sites() = 0;

  // Classes of the head stored in a checkpoint (any key layout the family reads); 0 if none.
  virtual int64_t checkpoint_classes(const StateDict& sd) const = 0;
  // Loads a checkpoint in any key layout the family reads; `source` names it in errors.
  virtual LoadReport load_checkpoint(StateDict sd, const LoadOptions& opt, const std::string& source) = 0;
  // The key layout of the last checkpoint load_checkpoint read ("timm", "torchvision",
  // "google", "transformers", ...; "" before any): an adapter written in peft's layout names
  // the base model's modules as that checkpoint does (peft/peft_format.h).
  std::string checkpoint_layout;

  // The config (the family's fields, the head's classes included) as a JSON object that the
  // family's from-JSON constructor reads back.
  virtual nlohmann::json config_json() const = 0;

  // Cost of one image at img × img pixels.
  virtual ForwardCost forward_cost(int64_t img) const = 0;
};

}  // namespace vt::nn
