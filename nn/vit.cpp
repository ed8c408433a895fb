// vit.cpp — VisionTransformer forward, configs, and position-embedding resampling.
#include "nn/vit.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "nn/config_util.h"

#include "engine/init.h"

namespace vt::nn {

static const std::vector<ViTConfig>& table() {
  static const std::vector<ViTConfig> t = [] {
    std::vector<ViTConfig> v;
    auto mk = [&](const char* n, int64_t d, int64_t depth, int64_t h, int64_t img, int64_t p) {
      ViTConfig c;
      c.name = n, c.dim = d, c.depth = depth, c.heads = h, c.img_size = img, c.patch = p;
      v.push_back(c);
    };
    mk("vit_tiny_patch16_224", 192, 12, 3, 224, 16);
    mk("vit_small_patch16_224", 384, 12, 6, 224, 16);
    mk("vit_base_patch16_224", 768, 12, 12, 224, 16);
    mk("vit_large_patch16_224", 1024, 24, 16, 224, 16);
    mk("vit_test_tiny", 64, 4, 4, 32, 8);   // small configs for tests and the demo
    mk("vit_test_micro", 16, 2, 2, 16, 8);
    return v;
  }();
  return t;
}

std::vector<std::string> ViTConfig::names() { return config_names(table()); }

ViTConfig ViTConfig::named(const std::string& name) { return find_config(table(), name, "ViT"); }

ViTConfig ViTConfig::from_json(const std::string& text) {
  nlohmann::json j = parse_config_json(text, "ViT");
  ViTConfig c = j.contains("base") ? named(config_string(j["base"], "ViT", "base")) : ViTConfig();
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    try {
      if (k == "base") continue;
      else if (k == "name") c.name = config_string(*it, "ViT", k);
      else if (k == "img_size") c.img_size = config_int(*it, "ViT", k);
      else if (k == "patch") c.patch = config_int(*it, "ViT", k);
      else if (k == "in_chans") c.in_chans = config_int(*it, "ViT", k);
      else if (k == "dim") c.dim = config_int(*it, "ViT", k);
      else if (k == "depth") c.depth = config_int(*it, "ViT", k);
      else if (k == "heads") c.heads = config_int(*it, "ViT", k);
      else if (k == "mlp_ratio") c.mlp_ratio = config_number(*it, "ViT", k);
      else if (k == "num_classes") c.num_classes = config_int(*it, "ViT", k);
      else if (k == "eps") c.eps = config_number(*it, "ViT", k);
      else if (k == "global_pool") c.global_pool = config_string(*it, "ViT", k);
      else if (k == "drop_path") c.drop_path = config_number(*it, "ViT", k);
      else throw Error("ViT config: unknown key '" + k + "'");
    } catch (const nlohmann::json::exception&) {
      throw Error("ViT config: key '" + k + "' has the wrong type");
    }
  }
  if (c.global_pool != "token" && c.global_pool != "avg")
    throw Error("ViT config: global_pool must be 'token' or 'avg', got '" + c.global_pool + "'");
  return c;
}

nlohmann::json ViTConfig::to_json() const {
  return {{"name", name}, {"img_size", img_size}, {"patch", patch}, {"in_chans", in_chans},
          {"dim", dim}, {"depth", depth}, {"heads", heads}, {"mlp_ratio", mlp_ratio},
          {"num_classes", num_classes}, {"eps", eps}, {"global_pool", global_pool},
          {"drop_path", drop_path}};
}

// Throws naming the first field that keeps the config from building a sensible model: no zero,
// negative, NaN or absurd size reaches the engine (a division by zero, a wrapped element count,
// an allocation of terabytes).
static void validate(const ViTConfig& c) {
  const ConfigCheck check{"ViT config '" + c.name + "'"};
  check.common(c.img_size, c.patch, c.in_chans, c.num_classes, c.mlp_ratio, c.eps, c.drop_path);
  check.range("dim", c.dim, 1, 65536);
  check.range("depth", c.depth, 0, 1024);
  check.range("heads", c.heads, 1, c.dim);
  if (c.dim % c.heads) check.fail("dim " + std::to_string(c.dim) + " is not divisible by " + std::to_string(c.heads) + " heads");
  if ((int64_t)(c.dim * c.mlp_ratio) < 1) check.fail("dim × mlp_ratio gives an MLP of no unit");
  const double grid = (double)(c.img_size / c.patch) * (double)(c.img_size / c.patch);
  check.parameters((double)c.depth * (4.0 + 2.0 * c.mlp_ratio) * c.dim * c.dim + grid * c.dim + (double)c.num_classes * c.dim);
}

VisionTransformer::VisionTransformer(const ViTConfig& c) : cfg(c) {
  validate(c);
  const int64_t G = c.img_size / c.patch;
  patch_embed = register_module("patch_embed", std::make_shared<PatchEmbed>(c.patch, c.in_chans, c.dim));
  cls_token = register_parameter("cls_token", Tensor::zeros({1, 1, c.dim}));
  pos_embed = register_parameter("pos_embed", Tensor::empty({1, 1 + G * G, c.dim}));
  init::trunc_normal_(pos_embed, 0.0, 0.02);
  init::normal_(cls_token, 0.0, 1e-6);
  for (int64_t i = 0; i < c.depth; ++i) {
    auto b = std::make_shared<Block>(c.dim, c.heads, c.mlp_ratio, c.eps);
    b->drop_path_rate = c.depth > 1 ? c.drop_path * i / (c.depth - 1) : 0.0;
    blocks.push_back(register_module("blocks." + std::to_string(i), b));
  }
  if (c.global_pool == "avg") fc_norm = register_module("fc_norm", std::make_shared<LayerNorm>(c.dim, c.eps));
  else norm = register_module("norm", std::make_shared<LayerNorm>(c.dim, c.eps));
  reset_head(c.num_classes);
}

void VisionTransformer::reset_head(int64_t classes) {
  cfg.num_classes = classes;
  std::shared_ptr<Linear> h = classes > 0 ? std::make_shared<Linear>(cfg.dim, classes) : nullptr;
  if (h) {  // timm: zero-initialised head when fine-tuning from a pretrained backbone
    init::zeros_(h->weight);
    init::zeros_(h->bias);
  }
  if (child("head")) replace_module("head", h);
  else if (h) register_module("head", h);
  head = h;
}

void VisionTransformer::set_token_tuner(std::shared_ptr<TokenTuner> t) {
  if (child("token_tuner")) replace_module("token_tuner", t);
  else register_module("token_tuner", t);
  token_tuner = t;
}

Tensor resample_pos_embed(const Tensor& pos, int64_t gh, int64_t gw, int64_t nh, int64_t nw) {
  if (gh == nh && gw == nw) return pos;
  const int64_t D = pos.size(2);
  Tensor cls = pos.narrow(1, 0, 1);                                      // (1, 1, D)
  Tensor grid = pos.narrow(1, 1, gh * gw).reshape({1, gh, gw, D}).permute({0, 3, 1, 2});
  Tensor r = interpolate(grid, {nh, nw}, "bicubic", false);              // (1, D, nh, nw)
  return concat({cls, r.permute({0, 2, 3, 1}).reshape({1, nh * nw, D})}, 1);
}

Tensor VisionTransformer::forward_tokens(const Tensor& images) {
  Tensor x = patch_embed->forward(images);  // (B, Gh, Gw, D)
  const int64_t B = x.size(0), Gh = x.size(1), Gw = x.size(2), D = x.size(3);
  const int64_t G = cfg.img_size / cfg.patch;
  x = x.reshape({B, Gh * Gw, D});
  x = concat({cls_token.expand({B, 1, D}), x}, 1);       // (B, 1+N, D)
  x = add(x, resample_pos_embed(pos_embed, G, G, Gh, Gw));
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (token_tuner) x = token_tuner->before_block((int64_t)i, x);
    blocks[i]->grid = {x.size(1) - Gh * Gw, Gh, Gw};  // CLS (and prompts) first, then the grid
    x = blocks[i]->forward(x);
  }
  if (token_tuner) x = token_tuner->after_blocks(x);
  return x;
}

Tensor VisionTransformer::forward_features(const Tensor& images) {
  Tensor x = forward_tokens(images);
  if (cfg.global_pool == "avg") return fc_norm->forward(mean(x.narrow(1, 1, x.size(1) - 1), {1}));
  return norm->forward(x.select(1, 0));  // (B, D): the CLS token (LN is per token)
}

Tensor VisionTransformer::forward_head(const Tensor& features) {
  if (!head) throw Error(cfg.name + ": the model has no classifier head");
  return head->forward(features);
}

std::vector<Tensor> VisionTransformer::forward_feature_maps(const Tensor& images) {
  const int64_t B = images.size(0), P = cfg.patch;
  const int64_t h = images.size(2) / P, w = images.size(3) / P, N = h * w;
  Tensor x = forward_tokens(images);  // (B, prefix + N, D)
  if (cfg.global_pool != "avg") x = norm->forward(x);
  x = x.narrow(1, x.size(1) - N, N);  // the patch tokens, row-major
  return {x.reshape({B, h, w, x.size(2)}).permute({0, 3, 1, 2})};  // (B, D, h, w)
}

TunerSites VisionTransformer::tuner_sites() {
  TunerSites s;
  s.family = family();
  s.model = this;
  s.patch_embed = patch_embed.get();
  s.final_norm = norm ? norm.get() : fc_norm.get();
  s.embed_dim = cfg.dim;
  s.patch = cfg.patch;
  s.head_prefix = head_prefix();
  for (size_t i = 0; i < blocks.size(); ++i)
    s.blocks.push_back(block_sites(*blocks[i], "blocks." + std::to_string(i), (int64_t)i));
  s.set_token_tuner = [this](std::shared_ptr<TokenTuner> t) { set_token_tuner(std::move(t)); };
  return s;
}

int64_t VisionTransformer::checkpoint_classes(const StateDict& sd) const {
  for (const char* key : {"head.weight", "heads.head.weight", "classifier.weight"}) {  // timm, torchvision, transformers: (C, D)
    auto it = sd.find(key);
    if (it != sd.end() && it->second.dim() == 2) return it->second.size(0);
  }
  for (const char* key : {"head/kernel", "opt/target/head/kernel"}) {  // Google .npz: (D, C)
    auto it = sd.find(key);
    if (it != sd.end() && it->second.dim() == 2) return it->second.size(1);
  }
  return 0;
}

LoadReport VisionTransformer::load_checkpoint(StateDict sd, const LoadOptions& opt, const std::string& source) {
  return load_vit_state_dict(*this, std::move(sd), opt, source);
}

ForwardCost VisionTransformer::forward_cost(int64_t img) const {
  const double D = cfg.dim, H = (double)(int64_t)(cfg.dim * cfg.mlp_ratio), P = (double)(img / cfg.patch) * (img / cfg.patch);
  const double N = 1 + P;  // CLS + patch tokens
  const double attn = N * 4 * D * D + 2 * N * N * D;  // qkv + proj, QKᵀ + PV
  const double mlp = 2 * D * H;                        // per token
  ForwardCost c;
  c.mlp_macs = cfg.depth * N * mlp;
  c.skippable_mlp_macs = cfg.depth * P * mlp;
  c.macs = P * cfg.in_chans * cfg.patch * cfg.patch * D + cfg.depth * attn + c.mlp_macs +
           D * (double)num_classes();
  return c;
}

}  // namespace vt::nn
