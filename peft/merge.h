// merge.h — folding tuners into the frozen weights (LoRA, SSF), so that the merged checkpoint
// is an ordinary backbone: same outputs, zero extra cost at inference.
#pragma once
#include "nn/module.h"

namespace vt::peft {

// A tuner that can fold itself into its host layer's tensors in a state dict. `host` is the
// dotted name of the layer it is attached to ("blocks.0.attn.qkv").
struct Mergeable {
  virtual ~Mergeable() = default;
  virtual void merge_into(nn::StateDict& sd, const std::string& host) const = 0;
};

// The model's state dict with every tuner folded in and no tuner keys left: loads into a fresh
// backbone of the same config. Throws vt::Error naming the first tuner that cannot merge.
nn::StateDict merged_state_dict(nn::Module& model);

}  // namespace vt::peft
