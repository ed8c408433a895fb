// swin_checkpoint.cpp — Swin key layouts (torchvision, old timm / Microsoft) mapped onto current
// timm names, and the loader with ViT's reporting (see checkpoint.h).
//
//   torchvision                         current timm
//   features.0.0.*  (conv)              patch_embed.proj.*
//   features.0.2.*  (LayerNorm)         patch_embed.norm.*
//   features.{2s+1}.{b}.<sub>           layers.{s}.blocks.{b}.<sub>   (mlp.0 -> mlp.fc1, mlp.3 -> mlp.fc2)
//   features.{2s}.{reduction,norm}.*    layers.{s}.downsample.*       (s >= 1)
//   norm.*, head.*                      norm.*, head.fc.*
//   old timm / Microsoft: layers.{s}.downsample.* -> layers.{s+1}.downsample.*, head.* -> head.fc.*
// relative_position_index (any layout) and attn_mask buffers are dropped: the model computes them.
// The tensors themselves need no conversion: torchvision 0.14 and timm share every convention
// for maps that divide into windows (tests/reference/backbones.py explains where they part).
#include <algorithm>

#include "nn/checkpoint.h"
#include "nn/key_match.h"
#include "nn/swin.h"

namespace vt::nn {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool is_dropped_buffer(const std::string& k) {
  return ends_with(k, ".relative_position_index") || ends_with(k, ".attn_mask") ||
         k == "relative_position_index" || k == "attn_mask";
}
}  // namespace

SwinLayout detect_swin_layout(const StateDict& sd) {
  if (sd.count("features.0.0.weight")) return SwinLayout::Torchvision;
  if (is_transformers_swin(sd)) return SwinLayout::Transformers;
  if (sd.count("layers.0.downsample.reduction.weight") || sd.count("head.weight"))
    return SwinLayout::TimmOld;
  return SwinLayout::Timm;
}

StateDict torchvision_swin_to_timm(const StateDict& sd) {
  StateDict out;
  for (auto& [k, t] : sd) {
    if (is_dropped_buffer(k)) continue;
    std::vector<std::string> m;  // (numbers have at most 9 digits: nn/key_match.h)
    std::string nk = k;
    if (match_key("features.0.{0|2}.{weight|bias}", k, m)) {
      nk = std::string(m[0] == "0" ? "patch_embed.proj." : "patch_embed.norm.") + m[1];
    } else if (match_key("features.{n}.{reduction|norm}.{weight|bias}", k, m) && std::stoll(m[0]) % 2 == 0) {
      nk = "layers." + std::to_string(std::stoll(m[0]) / 2) + ".downsample." + m[1] + "." + m[2];
    } else if (match_key("features.{n}.{n}.{*}", k, m) && std::stoll(m[0]) % 2 == 1) {
      std::string rest = m[2];
      if (rest.rfind("mlp.0.", 0) == 0) rest = "mlp.fc1." + rest.substr(6);
      else if (rest.rfind("mlp.3.", 0) == 0) rest = "mlp.fc2." + rest.substr(6);
      nk = "layers." + std::to_string(std::stoll(m[0]) / 2) + ".blocks." + m[1] + "." + rest;
    } else if (match_key("head.{weight|bias}", k, m)) {
      nk = "head.fc." + m[0];
    }
    out[nk] = t;
  }
  return out;
}

StateDict old_timm_swin_to_timm(const StateDict& sd) {
  StateDict out;
  for (auto& [k, t] : sd) {
    if (is_dropped_buffer(k)) continue;
    std::vector<std::string> m;
    std::string nk = k;
    if (match_key("layers.{n}.downsample.{*}", k, m))  // closes stage s = opens stage s+1
      nk = "layers." + std::to_string(std::stoll(m[0]) + 1) + ".downsample." + m[1];
    else if (match_key("head.{weight|bias}", k, m))
      nk = "head.fc." + m[0];
    out[nk] = t;
  }
  return out;
}

LoadReport load_swin_state_dict(SwinTransformer& model, StateDict sd, const LoadOptions& opt,
                                const std::string& source) {
  const SwinLayout layout = detect_swin_layout(sd);
  model.checkpoint_layout = layout == SwinLayout::Torchvision ? "torchvision"
                            : layout == SwinLayout::TimmOld   ? "timm_old"
                            : layout == SwinLayout::Transformers ? "transformers" : "timm";
  switch (layout) {
    case SwinLayout::Transformers: sd = transformers_swin_to_timm(sd); break;
    case SwinLayout::Torchvision: sd = torchvision_swin_to_timm(sd); break;
    case SwinLayout::TimmOld: sd = old_timm_swin_to_timm(sd); break;
    case SwinLayout::Timm:  // current timm saves neither buffer, but a re-export might
      for (auto it = sd.begin(); it != sd.end();) it = is_dropped_buffer(it->first) ? sd.erase(it) : std::next(it);
      break;
  }
  if (opt.drop_head) {
    sd.erase("head.fc.weight");
    sd.erase("head.fc.bias");
  }
  LoadReport r = model.load_state_dict(sd, false);
  if (opt.drop_head) {  // the fresh head is expected to be missing
    auto& m = r.missing;
    m.erase(std::remove_if(m.begin(), m.end(), [](const std::string& k) { return k.rfind("head.", 0) == 0; }), m.end());
  }
  if (opt.strict && !r.ok()) throw Error(source + ": checkpoint does not fit the model:\n" + r.str());
  return r;
}

LoadReport load_swin_checkpoint(SwinTransformer& model, const std::string& path, const LoadOptions& opt) {
  return load_swin_state_dict(model, read_checkpoint(path), opt, path);
}

}  // namespace vt::nn
