// backbone.cpp — build_backbone(): model names and config files to models (see backbone.h).
//
// The family is chosen by name: names starting with "swin" are Swin (SwinConfig::named), all
// others ViT (ViTConfig::named). A JSON config file may say "family": "vit" or "swin"; without
// it, a "base" name starting with "swin" means Swin, anything else ViT. The other keys are the
// family's config fields (ViTConfig::from_json / SwinConfig::from_json).
#include "examples/vitune/backbone.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "nn/config_util.h"
#include "nn/swin.h"
#include "nn/vit.h"

namespace vitune {

namespace {

// What every family shares: the model (ViT or Swin: both have cfg, head, forward_features).
template <typename Model, typename Config>
class FamilyBackbone : public Backbone {
 public:
  explicit FamilyBackbone(const Config& cfg) : model_(cfg) {}
  vt::nn::Module& module() override { return model_; }
  std::string name() const override { return model_.cfg.name; }
  int64_t in_chans() const override { return model_.cfg.in_chans; }
  int64_t num_classes() const override { return model_.head ? model_.cfg.num_classes : 0; }
  vt::Tensor forward_features(const vt::Tensor& images) override {
    return model_.forward_features(images);
  }
  void reset_head(int64_t classes) override { model_.reset_head(classes); }

 protected:
  Model model_;
};

// The ViT family: timm's VisionTransformer; checkpoints in timm or torchvision naming.
class ViTBackbone : public FamilyBackbone<vt::nn::VisionTransformer, vt::nn::ViTConfig> {
 public:
  using FamilyBackbone::FamilyBackbone;
  vt::Tensor forward_head(const vt::Tensor& features) override {
    if (!model_.head) throw vt::Error(name() + ": the model has no classifier head");
    return model_.head->forward(features);
  }

  int64_t checkpoint_classes(const vt::nn::StateDict& sd) const override {
    for (const char* key : {"head.weight", "heads.head.weight"}) {  // timm, torchvision: (C, D)
      auto it = sd.find(key);
      if (it != sd.end() && it->second.dim() == 2) return it->second.size(0);
    }
    for (const char* key : {"head/kernel", "opt/target/head/kernel"}) {  // Google .npz: (D, C)
      auto it = sd.find(key);
      if (it != sd.end() && it->second.dim() == 2) return it->second.size(1);
    }
    return 0;
  }
  vt::nn::LoadReport load(vt::nn::StateDict sd, const vt::nn::LoadOptions& opt,
                          const std::string& source) override {
    return vt::nn::load_vit_state_dict(model_, std::move(sd), opt, source);
  }

};

// The Swin family: timm's SwinTransformer; checkpoints in current timm, old timm / Microsoft or
// torchvision naming (nn/swin_checkpoint.cpp).
class SwinBackbone : public FamilyBackbone<vt::nn::SwinTransformer, vt::nn::SwinConfig> {
 public:
  using FamilyBackbone::FamilyBackbone;
  vt::Tensor forward_head(const vt::Tensor& features) override {
    if (!model_.head) throw vt::Error(name() + ": the model has no classifier head");
    return model_.head->fc->forward(features);
  }

  int64_t checkpoint_classes(const vt::nn::StateDict& sd) const override {
    // timm: head.fc; old timm / Microsoft and torchvision: head. Both (C, D).
    for (const char* key : {"head.fc.weight", "head.weight"}) {
      auto it = sd.find(key);
      if (it != sd.end() && it->second.dim() == 2) return it->second.size(0);
    }
    return 0;
  }
  vt::nn::LoadReport load(vt::nn::StateDict sd, const vt::nn::LoadOptions& opt,
                          const std::string& source) override {
    return vt::nn::load_swin_state_dict(model_, std::move(sd), opt, source);
  }

};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw vt::Error(path + ": cannot open the model config");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

bool is_swin_name(const std::string& name) { return name.rfind("swin", 0) == 0; }

// The backbone of a config (ViTConfig or SwinConfig) with the --num-classes override applied.
template <typename B, typename Config>
std::unique_ptr<Backbone> make(Config cfg, int64_t num_classes) {
  if (num_classes >= 0) cfg.num_classes = num_classes;
  return std::make_unique<B>(cfg);
}

// A JSON model config: "family" picks the family (see the top of this file) and is removed; the
// rest goes to that family's from_json.
std::unique_ptr<Backbone> from_config_text(const std::string& text, int64_t num_classes) {
  nlohmann::json j = vt::nn::parse_config_json(text, "model");
  if (!j.is_object()) throw vt::Error("model config: not a JSON object");
  bool swin = j.contains("base") && j["base"].is_string() && is_swin_name(j["base"].get<std::string>());
  if (j.contains("family")) {
    const nlohmann::json f = j["family"];
    if (!f.is_string() || (f != "vit" && f != "swin"))
      throw vt::Error("model config: \"family\" must be \"vit\" or \"swin\", got " + f.dump());
    swin = f == "swin";
    j.erase("family");
  }
  if (swin) return make<SwinBackbone>(vt::nn::SwinConfig::from_json(j.dump()), num_classes);
  return make<ViTBackbone>(vt::nn::ViTConfig::from_json(j.dump()), num_classes);
}

}  // namespace

std::unique_ptr<Backbone> build_backbone(const ModelSpec& spec) {
  if (spec.config_file.empty()) {
    if (is_swin_name(spec.name)) return make<SwinBackbone>(vt::nn::SwinConfig::named(spec.name), spec.num_classes);
    const auto vit = vt::nn::ViTConfig::names();
    if (std::find(vit.begin(), vit.end(), spec.name) == vit.end()) {
      std::string known;
      for (const auto& names : {vit, vt::nn::SwinConfig::names()})
        for (const auto& n : names) known += " " + n;
      throw vt::Error("unknown model '" + spec.name + "' (known:" + known + ")");
    }
    return make<ViTBackbone>(vt::nn::ViTConfig::named(spec.name), spec.num_classes);
  }
  try {
    return from_config_text(read_text_file(spec.config_file), spec.num_classes);
  } catch (const vt::Error& e) {
    const std::string msg = e.what();
    throw vt::Error(msg.rfind(spec.config_file, 0) == 0 ? msg : spec.config_file + ": " + msg);
  }
}

}  // namespace vitune
