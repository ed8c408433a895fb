// checkpoint_hf.cpp — Hugging Face transformers' ViT and Swin: key names and config.json.
//
// ViT:
//   vit.embeddings.cls_token / position_embeddings           cls_token / pos_embed
//   vit.embeddings.patch_embeddings.projection.{p}          patch_embed.proj.{p}
//   vit.encoder.layer.{i}.layernorm_before / _after.{p}     blocks.{i}.norm1 / norm2.{p}
//   vit.encoder.layer.{i}.attention.attention.query|key|value.{p}
//                                                           blocks.{i}.attn.qkv.{p}, fused (q; k; v)
//   vit.encoder.layer.{i}.attention.output.dense.{p}        blocks.{i}.attn.proj.{p}
//   vit.encoder.layer.{i}.intermediate.dense.{p}            blocks.{i}.mlp.fc1.{p}
//   vit.encoder.layer.{i}.output.dense.{p}                  blocks.{i}.mlp.fc2.{p}
//   vit.layernorm.{p}, classifier.{p}                       norm.{p}, head.{p}
//
// A bare ViTModel has the same keys without "vit."; its pooler (dense + tanh over CLS) is not
// used by image classification and is dropped, as transformers drops it when it builds
// ViTForImageClassification from such a file; so is the unused mask token. With qkv_bias false
// the fused bias is zero (the same function).
//
// Swin (SwinForImageClassification, or a bare SwinModel without "swin."):
//   swin.embeddings.patch_embeddings.projection / swin.embeddings.norm   patch_embed.proj / .norm
//   swin.encoder.layers.{s}.blocks.{b}.layernorm_before / _after          ...blocks.{b}.norm1 / norm2
//   ...attention.self.query|key|value                                      ...attn.qkv (fused)
//   ...attention.self.relative_position_bias_table                         ...attn.relative_position_bias_table
//   ...attention.output.dense, intermediate.dense, output.dense            ...attn.proj, mlp.fc1, mlp.fc2
//   swin.encoder.layers.{s}.downsample.*   (closing stage s)               layers.{s+1}.downsample.*
//   swin.layernorm, classifier                                             norm, head.fc
// transformers' PatchMerging concatenates x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2],
// x[1::2, 1::2] as timm does, so its reduction weight is used as it is. The
// relative_position_index buffer is dropped (it is rebuilt).
#include <array>
#include <map>

#include "engine/ops.h"
#include "nn/checkpoint.h"
#include "nn/key_match.h"
#include "nn/vit.h"

namespace vt::nn {

namespace {

// transformers' per-layer names -> timm's (q/k/v handled apart: they fuse).
const std::vector<std::pair<std::string, std::string>> kLayerKeys = {
    {"layernorm_before", "norm1"},       {"layernorm_after", "norm2"},
    {"attention.output.dense", "attn.proj"}, {"intermediate.dense", "mlp.fc1"},
    {"output.dense", "mlp.fc2"},
};

std::string strip_prefix(const std::string& k, const std::string& prefix) {
  return k.rfind(prefix, 0) == 0 ? k.substr(prefix.size()) : k;
}
std::string strip_vit_prefix(const std::string& k) { return strip_prefix(k, "vit."); }

// q, k, v parts by (our qkv module, parameter), fused into `out` as MODULE.PARAM; a missing part
// is an error naming the layer. Without biases (qkv_bias false) the fused bias is zero.
using QkvParts = std::map<std::pair<std::string, std::string>, std::array<Tensor, 3>>;
void fuse_qkv(const QkvParts& qkv, StateDict& out, const char* kind) {
  for (auto& [mp, parts] : qkv) {
    for (int i = 0; i < 3; ++i)
      if (!parts[i].defined())
        throw Error(std::string(kind) + ": " + mp.first + " has " +
                    (i == 0 ? "no query" : i == 1 ? "no key" : "no value") + " " + mp.second +
                    " (query, key and value go together)");
    NoGrad ng;
    out[mp.first + "." + mp.second] = concat({parts[0], parts[1], parts[2]}, 0);
  }
  for (auto& [mp, parts] : qkv) {
    if (mp.second != "weight" || out.count(mp.first + ".bias")) continue;
    const Tensor& w = out[mp.first + ".weight"];
    out[mp.first + ".bias"] = Tensor::zeros({w.size(0)}, w.dtype());
  }
}

int qkv_part(const std::string& name) { return name == "query" ? 0 : name == "key" ? 1 : 2; }

// A transformers block's own names (layernorm_before, output.dense, ...) -> timm's; "" if none.
std::string block_key(const std::string& rest) {
  std::vector<std::string> p;
  for (auto& [theirs, ours] : kLayerKeys)
    if (match_key(theirs + ".{weight|bias}", rest, p)) return ours + "." + p[0];
  return "";
}

bool classifier_architecture(const nlohmann::json& j) {
  if (j.contains("architectures") && j["architectures"].is_array())
    for (auto& a : j["architectures"])
      if (a.is_string() && a.get<std::string>().find("ForImageClassification") != std::string::npos) return true;
  return false;
}

}  // namespace

bool is_transformers_vit(const StateDict& sd) {
  for (auto& [k, t] : sd) {
    const std::string s = strip_vit_prefix(k);
    if (s.rfind("embeddings.patch_embeddings.", 0) == 0 || s.rfind("encoder.layer.", 0) == 0) return true;
  }
  return false;
}

StateDict transformers_vit_to_timm(const StateDict& sd) {
  StateDict out;
  QkvParts qkv;
  std::vector<std::string> caps;
  for (auto& [key, t] : sd) {
    const std::string k = strip_vit_prefix(key);
    if (k == "embeddings.cls_token") out["cls_token"] = t;
    else if (k == "embeddings.position_embeddings") out["pos_embed"] = t;
    else if (match_key("embeddings.patch_embeddings.projection.{weight|bias}", k, caps))
      out["patch_embed.proj." + caps[0]] = t;
    else if (match_key("layernorm.{weight|bias}", k, caps)) out["norm." + caps[0]] = t;
    else if (match_key("classifier.{weight|bias}", key, caps)) out["head." + caps[0]] = t;
    else if (k == "embeddings.mask_token" || match_key("pooler.dense.{weight|bias}", k, caps)) continue;
    else if (match_key("encoder.layer.{n}.attention.attention.{query|key|value}.{weight|bias}", k, caps))
      qkv[{"blocks." + caps[0] + ".attn.qkv", caps[2]}][qkv_part(caps[1])] = t;
    else if (match_key("encoder.layer.{n}.{*}", k, caps) && !block_key(caps[1]).empty())
      out["blocks." + caps[0] + "." + block_key(caps[1])] = t;
    else out[key] = t;  // reported as unexpected by the load
  }
  fuse_qkv(qkv, out, "transformers ViT");
  return out;
}

bool is_transformers_swin(const StateDict& sd) {
  for (auto& [k, t] : sd) {
    const std::string s = strip_prefix(k, "swin.");
    if (s.rfind("embeddings.patch_embeddings.", 0) == 0 || s.rfind("encoder.layers.", 0) == 0) return true;
  }
  return false;
}

StateDict transformers_swin_to_timm(const StateDict& sd) {
  StateDict out;
  QkvParts qkv;
  std::vector<std::string> c;
  for (auto& [key, t] : sd) {
    const std::string k = strip_prefix(key, "swin.");
    if (match_key("embeddings.patch_embeddings.projection.{weight|bias}", k, c)) out["patch_embed.proj." + c[0]] = t;
    else if (match_key("embeddings.norm.{weight|bias}", k, c)) out["patch_embed.norm." + c[0]] = t;
    else if (match_key("layernorm.{weight|bias}", k, c)) out["norm." + c[0]] = t;
    else if (match_key("classifier.{weight|bias}", key, c)) out["head.fc." + c[0]] = t;
    else if (k == "embeddings.mask_token") continue;
    else if (match_key("encoder.layers.{n}.downsample.{*}", k, c))  // closes stage s: opens s + 1
      out["layers." + std::to_string(std::stoll(c[0]) + 1) + ".downsample." + c[1]] = t;
    else if (match_key("encoder.layers.{n}.blocks.{n}.{*}", k, c)) {
      const std::string blk = "layers." + c[0] + ".blocks." + c[1] + ".";
      std::vector<std::string> p;
      if (match_key("attention.self.{query|key|value}.{weight|bias}", c[2], p))
        qkv[{blk + "attn.qkv", p[1]}][qkv_part(p[0])] = t;
      else if (c[2] == "attention.self.relative_position_bias_table") out[blk + "attn.relative_position_bias_table"] = t;
      else if (c[2] == "attention.self.relative_position_index") continue;  // a buffer we rebuild
      else if (!block_key(c[2]).empty()) out[blk + block_key(c[2])] = t;
      else out[key] = t;
    } else {
      out[key] = t;
    }
  }
  fuse_qkv(qkv, out, "transformers Swin");
  return out;
}

namespace {

using json = nlohmann::json;

json number(const json& j, const char* k, json dflt) {
  if (!j.contains(k)) return dflt;
  if (!j[k].is_number()) throw Error(std::string("transformers config: \"") + k + "\" must be a number, got " + j[k].dump());
  return j[k];
}

// What ViTConfig and SwinConfig share: the activation, qkv_bias, the classes (one per id2label
// entry, or num_labels, when the architecture is a ...ForImageClassification) and the name.
void check_common(const json& j) {
  const std::string act = j.value("hidden_act", std::string("gelu"));
  if (act != "gelu")
    throw Error("transformers config: \"hidden_act\": \"" + act + "\" is not supported (vitune's models use the exact \"gelu\")");
  if (j.contains("qkv_bias") && !j["qkv_bias"].is_boolean())
    throw Error("transformers config: \"qkv_bias\" must be true or false");
}
int64_t classes_of(const json& j) {
  if (!classifier_architecture(j)) return 0;
  if (j.contains("num_labels")) return number(j, "num_labels", 2).get<int64_t>();
  if (j.contains("id2label") && j["id2label"].is_object()) return (int64_t)j["id2label"].size();
  return 2;  // transformers' default
}
std::string name_of(const json& j, const char* dflt) {
  if (j.contains("_name_or_path") && j["_name_or_path"].is_string() && !j["_name_or_path"].get<std::string>().empty())
    return j["_name_or_path"].get<std::string>();
  return dflt;
}

}  // namespace

// transformers' ViTConfig (config.json with "model_type": "vit") as our ViTConfig fields.
json transformers_vit_config(const json& j) {
  check_common(j);
  const int64_t hidden = number(j, "hidden_size", 768).get<int64_t>();
  const int64_t inter = number(j, "intermediate_size", 3072).get<int64_t>();
  if (hidden <= 0 || inter <= 0)
    throw Error("transformers config: hidden_size and intermediate_size must be positive");
  const double ratio = (double)inter / (double)hidden;
  if ((int64_t)(hidden * ratio) != inter)
    throw Error("transformers config: intermediate_size " + std::to_string(inter) + " is not hidden_size " +
                std::to_string(hidden) + " times a ratio vitune can represent");
  return {{"name", name_of(j, "vit_transformers")},
          {"img_size", number(j, "image_size", 224)},
          {"patch", number(j, "patch_size", 16)},
          {"in_chans", number(j, "num_channels", 3)},
          {"dim", hidden},
          {"depth", number(j, "num_hidden_layers", 12)},
          {"heads", number(j, "num_attention_heads", 12)},
          {"mlp_ratio", ratio},
          {"eps", number(j, "layer_norm_eps", 1e-12)},
          {"num_classes", classes_of(j)},
          {"global_pool", "token"}};
}

// transformers' SwinConfig ("model_type": "swin") as our SwinConfig fields.
json transformers_swin_config(const json& j) {
  check_common(j);
  if (j.value("use_absolute_embeddings", false) == true)
    throw Error("transformers config: \"use_absolute_embeddings\": true is not supported (timm's Swin has none)");
  for (const char* k : {"depths", "num_heads"})
    if (j.contains(k) && !j[k].is_array()) throw Error(std::string("transformers config: \"") + k + "\" must be a list");
  return {{"name", name_of(j, "swin_transformers")},
          {"img_size", number(j, "image_size", 224)},
          {"patch", number(j, "patch_size", 4)},
          {"in_chans", number(j, "num_channels", 3)},
          {"window", number(j, "window_size", 7)},
          {"dim", number(j, "embed_dim", 96)},
          {"depths", j.value("depths", json::array({2, 2, 6, 2}))},
          {"heads", j.value("num_heads", json::array({3, 6, 12, 24}))},
          {"mlp_ratio", number(j, "mlp_ratio", 4.0)},
          {"eps", number(j, "layer_norm_eps", 1e-5)},
          {"num_classes", classes_of(j)}};
}

}  // namespace vt::nn
