// backbone.cpp — build_backbone(): model names and config files to models (see backbone.h).
#include "examples/vitune/backbone.h"

#include <fstream>
#include <sstream>

#include "nn/vit.h"

namespace vitune {

namespace {

// The ViT family: timm's VisionTransformer; checkpoints in timm or torchvision naming.
class ViTBackbone : public Backbone {
 public:
  explicit ViTBackbone(const vt::nn::ViTConfig& cfg) : model_(cfg) {}

  vt::nn::Module& module() override { return model_; }
  std::string name() const override { return model_.cfg.name; }
  int64_t in_chans() const override { return model_.cfg.in_chans; }
  int64_t num_classes() const override { return model_.head ? model_.cfg.num_classes : 0; }

  vt::Tensor forward_features(const vt::Tensor& images) override {
    return model_.forward_features(images);
  }
  vt::Tensor forward_head(const vt::Tensor& features) override {
    if (!model_.head) throw vt::Error(name() + ": the model has no classifier head");
    return model_.head->forward(features);
  }
  void reset_head(int64_t classes) override { model_.reset_head(classes); }

  int64_t checkpoint_classes(const vt::nn::StateDict& sd) const override {
    for (const char* key : {"head.weight", "heads.head.weight"}) {  // timm, torchvision
      auto it = sd.find(key);
      if (it != sd.end() && it->second.dim() == 2) return it->second.size(0);
    }
    return 0;
  }
  vt::nn::LoadReport load(vt::nn::StateDict sd, const vt::nn::LoadOptions& opt,
                          const std::string& source) override {
    return vt::nn::load_vit_state_dict(model_, std::move(sd), opt, source);
  }

 private:
  vt::nn::VisionTransformer model_;
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw vt::Error(path + ": cannot open the model config");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

}  // namespace

std::unique_ptr<Backbone> build_backbone(const ModelSpec& spec) {
  vt::nn::ViTConfig cfg;
  if (!spec.config_file.empty()) {
    try {
      cfg = vt::nn::ViTConfig::from_json(read_text_file(spec.config_file));
    } catch (const vt::Error& e) {
      const std::string msg = e.what();
      throw vt::Error(msg.rfind(spec.config_file, 0) == 0 ? msg : spec.config_file + ": " + msg);
    }
  } else {
    // Other families go here, chosen by name (e.g. "swin_*" -> a SwinBackbone).
    cfg = vt::nn::ViTConfig::named(spec.name);
  }
  if (spec.num_classes >= 0) cfg.num_classes = spec.num_classes;
  return std::make_unique<ViTBackbone>(cfg);
}

}  // namespace vitune
