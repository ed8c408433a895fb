// checkpoint.cpp — checkpoint files and key maps for ViT (see checkpoint.h).
#include "nn/checkpoint.h"

#include <cmath>
#include <algorithm>

#include "engine/io/npz.h"
#include "engine/io/safetensors.h"
#include "nn/key_match.h"
#include "nn/vit.h"

namespace vt::nn {

StateDict read_checkpoint(const std::string& path) {
  const bool npz = path.size() >= 4 && path.compare(path.size() - 4, 4, ".npz") == 0;
  if (npz || is_zip_file(path)) {
    auto arrays = load_npz(path);
    return StateDict(arrays.begin(), arrays.end());
  }
  auto f = load_safetensors(path);
  return StateDict(f.tensors.begin(), f.tensors.end());
}

KeyLayout detect_vit_layout(const StateDict& sd) {
  if (is_google_vit(sd)) return KeyLayout::Google;
  if (is_transformers_vit(sd)) return KeyLayout::Transformers;
  if (sd.count("class_token") || sd.count("conv_proj.weight")) return KeyLayout::Torchvision;
  return KeyLayout::Timm;
}

namespace {
// torchvision <-> timm key templates: {i} is a block index, {p} is weight|bias. Placeholders
// appear in the same order on both sides, so one table maps both ways.
const std::vector<std::pair<std::string, std::string>> kTorchvisionVsTimm = {
    {"class_token", "cls_token"},
    {"conv_proj.{p}", "patch_embed.proj.{p}"},
    {"encoder.pos_embedding", "pos_embed"},
    {"encoder.layers.encoder_layer_{i}.ln_1.{p}", "blocks.{i}.norm1.{p}"},
    {"encoder.layers.encoder_layer_{i}.self_attention.in_proj_weight", "blocks.{i}.attn.qkv.weight"},
    {"encoder.layers.encoder_layer_{i}.self_attention.in_proj_bias", "blocks.{i}.attn.qkv.bias"},
    {"encoder.layers.encoder_layer_{i}.self_attention.out_proj.{p}", "blocks.{i}.attn.proj.{p}"},
    {"encoder.layers.encoder_layer_{i}.ln_2.{p}", "blocks.{i}.norm2.{p}"},
    {"encoder.layers.encoder_layer_{i}.mlp.0.{p}", "blocks.{i}.mlp.fc1.{p}"},
    {"encoder.layers.encoder_layer_{i}.mlp.3.{p}", "blocks.{i}.mlp.fc2.{p}"},
    {"encoder.ln.{p}", "norm.{p}"},
    {"heads.head.{p}", "head.{p}"},
};

// Matches key against a template; on success fills `captures` in placeholder order.
// ({i}: a block number, {p}: weight or bias; nn/key_match.h.)
bool match_template(const std::string& tpl, const std::string& key, std::vector<std::string>& captures) {
  std::string pattern;
  for (size_t i = 0; i < tpl.size(); ++i) {
    if (tpl.compare(i, 3, "{i}") == 0) pattern += "{n}", i += 2;
    else if (tpl.compare(i, 3, "{p}") == 0) pattern += "{weight|bias}", i += 2;
    else pattern += tpl[i];
  }
  return match_key(pattern, key, captures);
}

std::string fill_template(const std::string& tpl, const std::vector<std::string>& captures) {
  std::string out;
  size_t c = 0;
  for (size_t i = 0; i < tpl.size(); ++i) {
    if (tpl.compare(i, 3, "{i}") == 0 || tpl.compare(i, 3, "{p}") == 0) out += captures.at(c++), i += 2;
    else out += tpl[i];
  }
  return out;
}

StateDict remap(const StateDict& sd, bool tv_to_timm) {
  StateDict out;
  for (auto& [k, t] : sd) {
    std::string nk = k;
    std::vector<std::string> caps;
    for (auto& [tv, timm] : kTorchvisionVsTimm) {
      const std::string& from = tv_to_timm ? tv : timm;
      const std::string& to = tv_to_timm ? timm : tv;
      if (match_template(from, k, caps)) {
        nk = fill_template(to, caps);
        break;
      }
    }
    out[nk] = t;
  }
  return out;
}
}  // namespace

StateDict torchvision_vit_to_timm(const StateDict& sd) { return remap(sd, true); }
StateDict timm_vit_to_torchvision(const StateDict& sd) { return remap(sd, false); }

LoadReport load_vit_state_dict(VisionTransformer& model, StateDict sd, const LoadOptions& opt,
                               const std::string& source) {
  switch (detect_vit_layout(sd)) {
    case KeyLayout::Torchvision: sd = torchvision_vit_to_timm(sd), model.checkpoint_layout = "torchvision"; break;
    case KeyLayout::Google: sd = google_vit_to_timm(sd), model.checkpoint_layout = "google"; break;
    case KeyLayout::Transformers: sd = transformers_vit_to_timm(sd), model.checkpoint_layout = "transformers"; break;
    case KeyLayout::Timm: model.checkpoint_layout = "timm"; break;
  }
  if (opt.drop_head) {
    sd.erase("head.weight");
    sd.erase("head.bias");
  }
  // Resample the position embedding when the checkpoint was trained at another grid size.
  auto pe = sd.find("pos_embed");
  if (pe != sd.end() && pe->second.dim() == 3 && pe->second.shape() != model.pos_embed.shape()) {
    const int64_t n_file = pe->second.size(1) - 1, n_model = model.pos_embed.size(1) - 1;
    const int64_t gf = (int64_t)std::lround(std::sqrt((double)n_file));
    const int64_t gm = (int64_t)std::lround(std::sqrt((double)n_model));
    if (gf * gf == n_file && gm * gm == n_model && pe->second.size(2) == model.pos_embed.size(2)) {
      NoGrad ng;
      pe->second = resample_pos_embed(pe->second.to(DType::F32), gf, gf, gm, gm);
    }
  }
  LoadReport r = model.load_state_dict(sd, false);
  if (opt.drop_head) {  // the fresh head is expected to be missing
    auto& m = r.missing;
    m.erase(std::remove_if(m.begin(), m.end(), [](const std::string& k) { return k.rfind("head.", 0) == 0; }), m.end());
  }
  if (opt.strict && !r.ok()) throw Error(source + ": checkpoint does not fit the model:\n" + r.str());
  return r;
}

LoadReport load_vit_checkpoint(VisionTransformer& model, const std::string& path,
                               const LoadOptions& opt) {
  return load_vit_state_dict(model, read_checkpoint(path), opt, path);
}

}  // namespace vt::nn
