// backbone.h — the models the vitune commands run, behind one small interface.
//
// build_backbone() is the one place that knows model families: ViT and Swin (names starting
// with "swin", or a JSON config with "family": "swin"; see backbone.cpp). Another family plugs
// in as one more branch there plus one more Backbone subclass. The commands only see this
// interface: build, read a checkpoint into it, run features and head separately.
#pragma once
#include <memory>
#include <string>

#include "nn/checkpoint.h"

namespace vitune {

struct ModelSpec {
  std::string name;          // a registered config name, e.g. "vit_base_patch16_224", "swin_tiny_patch4_window7_224"
  std::string config_file;   // or a JSON model config (used when not empty)
  int64_t num_classes = -1;  // -1: the config's own default; 0: no head
};

class Backbone {
 public:
  virtual ~Backbone() = default;
  virtual vt::nn::Module& module() = 0;
  virtual std::string name() const = 0;
  virtual int64_t in_chans() const = 0;
  virtual int64_t num_classes() const = 0;  // 0: no head
  // Parameters whose dotted name starts with this count as the classifier head.
  virtual std::string head_prefix() const { return "head"; }

  virtual vt::Tensor forward_features(const vt::Tensor& images) = 0;  // (B, C, H, W) -> (B, D)
  virtual vt::Tensor forward_head(const vt::Tensor& features) = 0;    // (B, D) -> (B, classes)
  // Replaces the head with a fresh one for `classes` outputs (0 removes it).
  virtual void reset_head(int64_t classes) = 0;

  // Classes of the head stored in a checkpoint (any key layout the family reads); 0 if none.
  virtual int64_t checkpoint_classes(const vt::nn::StateDict& sd) const = 0;
  // Loads a checkpoint (any supported key layout); `source` names it in error messages.
  virtual vt::nn::LoadReport load(vt::nn::StateDict sd, const vt::nn::LoadOptions& opt,
                                  const std::string& source) = 0;
};

// Throws vt::Error for an unknown name (listing the known ones) or a bad config file.
std::unique_ptr<Backbone> build_backbone(const ModelSpec& spec);

}  // namespace vitune
