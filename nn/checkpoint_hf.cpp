// checkpoint_hf.cpp — Hugging Face transformers' ViT: its key names and its config.json.
//
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

std::string strip_vit_prefix(const std::string& k) {
  return k.rfind("vit.", 0) == 0 ? k.substr(4) : k;
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
  // q, k, v of each layer and parameter ("3.weight" -> {q, k, v}), fused after the walk.
  std::map<std::string, std::array<Tensor, 3>> qkv;
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
    else if (match_key("encoder.layer.{n}.attention.attention.{query|key|value}.{weight|bias}", k, caps)) {
      const int part = caps[1] == "query" ? 0 : caps[1] == "key" ? 1 : 2;
      qkv[caps[0] + "." + caps[2]][part] = t;
    } else if (match_key("encoder.layer.{n}.{*}", k, caps)) {
      bool mapped = false;
      for (auto& [theirs, ours] : kLayerKeys) {
        std::vector<std::string> p;
        if (match_key(theirs + ".{weight|bias}", caps[1], p)) {
          out["blocks." + caps[0] + "." + ours + "." + p[0]] = t;
          mapped = true;
          break;
        }
      }
      if (!mapped) out[key] = t;  // reported as unexpected by the load
    } else {
      out[key] = t;
    }
  }
  for (auto& [lp, parts] : qkv) {  // lp: "3.weight"
    const size_t dot = lp.find('.');
    const std::string layer = lp.substr(0, dot), param = lp.substr(dot + 1);
    for (int i = 0; i < 3; ++i)
      if (!parts[i].defined())
        throw Error("transformers ViT: layer " + layer + " has " + std::string(i == 0 ? "no query" : i == 1 ? "no key" : "no value") +
                    " " + param + " (attention.attention.{query,key,value} go together)");
    NoGrad ng;
    out["blocks." + layer + ".attn.qkv." + param] = concat({parts[0], parts[1], parts[2]}, 0);
  }
  // qkv_bias = false: a zero bias for every fused weight without one.
  for (auto& [lp, parts] : qkv) {
    const size_t dot = lp.find('.');
    const std::string layer = lp.substr(0, dot);
    if (lp.substr(dot + 1) != "weight") continue;
    const std::string b = "blocks." + layer + ".attn.qkv.bias";
    const Tensor& w = out["blocks." + layer + ".attn.qkv.weight"];
    if (!out.count(b)) out[b] = Tensor::zeros({w.size(0)}, w.dtype());
  }
  return out;
}

// transformers' ViTConfig (config.json with "model_type": "vit") as our ViTConfig fields.
nlohmann::json transformers_vit_config(const nlohmann::json& j) {
  using json = nlohmann::json;
  auto num = [&](const char* k, json dflt) -> json {
    if (!j.contains(k)) return dflt;
    if (!j[k].is_number()) throw Error(std::string("transformers config: \"") + k + "\" must be a number, got " + j[k].dump());
    return j[k];
  };
  const int64_t hidden = num("hidden_size", 768).get<int64_t>();
  const int64_t inter = num("intermediate_size", 3072).get<int64_t>();
  if (hidden <= 0 || inter <= 0)
    throw Error("transformers config: hidden_size and intermediate_size must be positive");
  const std::string act = j.value("hidden_act", std::string("gelu"));
  if (act != "gelu")
    throw Error("transformers config: \"hidden_act\": \"" + act + "\" is not supported (vitune's ViT uses the exact \"gelu\")");
  if (j.contains("qkv_bias") && !j["qkv_bias"].is_boolean())
    throw Error("transformers config: \"qkv_bias\" must be true or false");
  // Classes: a ViTForImageClassification has one per id2label entry (num_labels when given).
  bool classifier = false;
  if (j.contains("architectures") && j["architectures"].is_array())
    for (auto& a : j["architectures"])
      if (a.is_string() && a.get<std::string>().find("ForImageClassification") != std::string::npos) classifier = true;
  int64_t classes = 0;
  if (classifier) {
    if (j.contains("num_labels")) classes = num("num_labels", 2).get<int64_t>();
    else if (j.contains("id2label") && j["id2label"].is_object()) classes = (int64_t)j["id2label"].size();
    else classes = 2;  // transformers' default
  }
  const double ratio = (double)inter / (double)hidden;
  if ((int64_t)(hidden * ratio) != inter)
    throw Error("transformers config: intermediate_size " + std::to_string(inter) + " is not hidden_size " + std::to_string(hidden) + " times a ratio vitune can represent; hidden_size " + std::to_string(hidden));
  std::string name = "vit_transformers";
  if (j.contains("_name_or_path") && j["_name_or_path"].is_string() && !j["_name_or_path"].get<std::string>().empty())
    name = j["_name_or_path"].get<std::string>();
  return {{"name", name},
          {"img_size", num("image_size", 224)},
          {"patch", num("patch_size", 16)},
          {"in_chans", num("num_channels", 3)},
          {"dim", hidden},
          {"depth", num("num_hidden_layers", 12)},
          {"heads", num("num_attention_heads", 12)},
          {"mlp_ratio", ratio},
          {"eps", num("layer_norm_eps", 1e-12)},
          {"num_classes", classes},
          {"global_pool", "token"}};
}

}  // namespace vt::nn
