// test_model.cpp — the model interface (nn/model.h) on both families, the model zoo and model
// directories (nn/model_zoo.h), forward costs, and the methods' hooks (peft/method.h).
#include "engine/init.h"
#include "nn/key_match.h"
#include "nn/model_zoo.h"
#include "nn/swin.h"
#include "nn/vit.h"
#include "peft/method.h"
#include "engine/random.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;
using nlohmann::json;

namespace {

const char* kFamilies[][2] = {{"vit", "vit_test_tiny"}, {"swin", "swin_test_tiny"}};

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

}  // namespace

TEST_CASE("model: ViT and Swin answer the one ImageModel interface", "[nn][model]") {
  for (auto [family, name] : kFamilies) {
    INFO(name);
    manual_seed(3);
    auto m = nn::create_model(name, 7);
    CHECK(m->family() == family);
    CHECK(m->name() == name);
    CHECK(m->num_classes() == 7);
    m->eval();
    NoGrad ng;
    const int64_t S = m->img_size();
    Tensor x = rand_tensor({2, m->in_chans(), S, S}, 4, DType::F32);
    Tensor f = m->forward_features(x);
    CHECK(f.shape() == Shape{2, m->num_features()});
    require_close(m->forward(x), m->forward_head(f), 0, 0, "forward = head(features)");
    // Feature maps: one per entry of feature_map_channels, (B, C_s, H_s, W_s), finest first.
    auto maps = m->forward_feature_maps(x);
    auto chans = m->feature_map_channels();
    REQUIRE(maps.size() == chans.size());
    for (size_t i = 0; i < maps.size(); ++i) {
      CHECK(maps[i].dim() == 4);
      CHECK(maps[i].size(0) == 2);
      CHECK(maps[i].size(1) == chans[i]);
      if (i > 0) CHECK(maps[i].size(2) < maps[i - 1].size(2));
    }
    // The tuner sites see every block.
    nn::TunerSites sites = m->tuner_sites();
    CHECK(sites.family == family);
    CHECK(!sites.blocks.empty());
    CHECK((bool)sites.set_token_tuner == (std::string(family) == "vit"));
    // No head: forward gives the features, forward_head refuses with the model's name.
    m->reset_head(0);
    CHECK(m->num_classes() == 0);
    require_close(m->forward(x), f, 0, 0, "headless forward");
    CHECK_THROWS_WITH(m->forward_head(f), Catch::Contains(name) && Catch::Contains("no classifier head"));
  }
}

TEST_CASE("model zoo: names, configs and errors", "[nn][model]") {
  const auto names = nn::model_names();
  for (const char* n : {"vit_base_patch16_224", "swin_base_patch4_window7_224", "vit_test_micro"})
    CHECK(std::find(names.begin(), names.end(), n) != names.end());
  CHECK_THROWS_WITH(nn::create_model("resnet50"),
                    Catch::Contains("unknown model 'resnet50'") && Catch::Contains("vit_base_patch16_224"));
  // vitune's JSON form: family fields, "base", "family".
  auto swin = nn::create_model_from_config({{"base", "swin_test_micro"}, {"dim", 8}}, 3);
  CHECK(swin->family() == "swin");
  CHECK(swin->num_features() == 64);
  CHECK(swin->num_classes() == 3);
  CHECK_THROWS_WITH(nn::create_model_from_config({{"family", "cnn"}}),
                    Catch::Contains("\"family\" must be \"vit\" or \"swin\""));
  // timm's config.json form: architecture (+ model_args, num_classes, global_pool).
  auto vit = nn::create_model_from_config({{"architecture", "vit_test_micro"}, {"num_classes", 5},
                                           {"global_pool", "avg"}});
  CHECK(vit->family() == "vit");
  CHECK(vit->num_classes() == 5);
  CHECK(dynamic_cast<nn::VisionTransformer&>(*vit).cfg.global_pool == "avg");
  CHECK_THROWS_WITH(nn::create_model_from_config({{"architecture", "my_net"}}),
                    Catch::Contains("unknown model 'my_net'") && Catch::Contains("needs \"family\""));
  CHECK_THROWS_WITH(nn::create_model_from_config({{"architecture", 3}}),
                    Catch::Contains("\"architecture\" must be a string"));
  CHECK_THROWS_WITH(nn::create_model_from_config({{"architecture", "vit_test_micro"}, {"model_args", {{"depth", "x"}}}}),
                    Catch::Contains("key 'depth' must be an integer, got \"x\""));
}

TEST_CASE("model directories: written, read back, with the same outputs", "[nn][model]") {
  for (auto [family, name] : kFamilies) {
    INFO(name);
    TempDir dir;
    manual_seed(5);
    json cfg = {{"base", name}, {"name", std::string("my_") + family}, {"num_classes", 6}};
    auto m = nn::create_model_from_config(cfg);
    nn::save_model_dir(dir / "model", *m, {{"mean", {0.5, 0.5, 0.5}}});
    CHECK(nn::is_model_dir(dir / "model"));
    CHECK(nn::model_dir_weights(dir / "model") == dir / "model/model.safetensors");
    const json written = json::parse(read_all(dir / "model/config.json"));
    CHECK(written.at("architecture") == std::string("my_") + family);
    CHECK(written.at("family") == family);
    CHECK(written.at("num_classes") == 6);
    CHECK(written.at("pretrained_cfg").at("input_size") == json{3, m->img_size(), m->img_size()});
    CHECK(written.at("pretrained_cfg").at("mean") == json{0.5, 0.5, 0.5});

    // A custom architecture comes back from its model_args, with its own weights.
    auto back = nn::load_model({dir / "model", "", -1}, "", -1);
    CHECK(back->name() == std::string("my_") + family);
    CHECK(back->num_classes() == 6);
    CHECK(back->config_json() == m->config_json());
    m->eval(), back->eval();
    NoGrad ng;
    Tensor x = rand_tensor({1, 3, m->img_size(), m->img_size()}, 6, DType::F32);
    require_close(back->forward(x), m->forward(x), 0, 0, "reloaded model directory");
    // Another label set: the head is dropped and starts from zero; the rest is the file's.
    auto other = nn::load_model({dir / "model", "", -1}, "", 2);
    CHECK(other->num_classes() == 2);
    other->eval();
    require_close(other->forward(x), Tensor::zeros({1, 2}), 0, 0, "fresh zero head");
    require_close(other->forward_features(x), m->forward_features(x), 0, 0, "same backbone");
  }
  TempDir dir;
  CHECK(!nn::is_model_dir(dir.path.string()));
  CHECK(nn::model_dir_weights(dir / "nothing").empty());
  write_file(dir / "broken/config.json", "{\"architecture\": ");
  CHECK_THROWS_WITH(nn::create_model({dir / "broken", "", -1}),
                    Catch::Contains(dir / "broken/config.json") && Catch::Contains("bad JSON"));
}

TEST_CASE("model: forward costs match the published multiply-add counts", "[nn][model]") {
  // fvcore's counts for timm's models at 224 px: ViT-B/16 17.58 G, ViT-S/16 4.61 G (its
  // layer norms, softmax and GELU add the last ~0.1 %); Swin-T 4.5 G, Swin-B 15.4 G (the papers).
  struct Want { const char* name; double gmacs, tol; };
  for (Want w : {Want{"vit_base_patch16_224", 17.58, 0.005}, Want{"vit_small_patch16_224", 4.61, 0.01},
                 Want{"swin_tiny_patch4_window7_224", 4.5, 0.04}, Want{"swin_base_patch4_window7_224", 15.4, 0.04}}) {
    INFO(w.name);
    const bool vit = std::string(w.name).rfind("vit", 0) == 0;
    init::SkipInit skip;  // costs follow from shapes alone: no weights filled (engine/init.h)
    const nn::ForwardCost c = vit ? nn::VisionTransformer(nn::ViTConfig::named(w.name)).forward_cost(224)
                                  : nn::SwinTransformer(nn::SwinConfig::named(w.name)).forward_cost(224);
    CHECK(c.macs / 1e9 == Approx(w.gmacs).epsilon(w.tol));
    CHECK(c.mlp_macs < c.macs);
    // ViT: every token but CLS may skip an MLP; Swin has no CLS.
    if (vit) CHECK(c.skippable_mlp_macs == Approx(c.mlp_macs * 196.0 / 197.0));
    else CHECK(c.skippable_mlp_macs == c.mlp_macs);
  }
}

TEST_CASE("methods' hooks: families and tasks, loss, report; token skipping", "[peft][model]") {
  auto vit = nn::create_model("vit_test_micro", 3);
  // DyT brings a classification loss: other tasks are refused by name.
  CHECK_THROWS_WITH(peft::apply_method(*vit, {"dyt", json::object()}, "segmentation"),
                    Catch::Contains("method 'dyt' supports the tasks classification, not segmentation"));
  // A method limited to one family refuses the other, naming both.
  peft::Method only_swin = peft::find_method("lora");
  only_swin.families = {"swin"};
  CHECK_THROWS_WITH(peft::apply_custom_method(*vit, only_swin, json::object()),
                    Catch::Contains("method 'lora' supports the model families swin, not vit (vit_test_micro)"));
  auto swin = nn::create_model("swin_test_micro", 3);
  CHECK(peft::apply_custom_method(*swin, only_swin, json::object()).method == "lora");
  peft::TunerConfig t = peft::apply_method(*vit, {"dyt", {{"bottleneck", 4}}});
  // Its loss replaces the task's; LoRA has none.
  auto fwd = [&](const Tensor& x) { return vit->forward(x); };
  CHECK(!peft::method_loss({"lora", json::object()}, *vit, fwd));
  auto loss = peft::method_loss(t, *vit, fwd);
  REQUIRE(loss);
  const int64_t S = vit->img_size();
  Tensor x = rand_tensor({2, 3, S, S}, 8, DType::F32);
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 2}, {2});
  Tensor l = loss(x, y);
  CHECK(l.numel() == 1);
  CHECK(std::isfinite(l.item()));
  // Its report after an evaluation pass: the token rate and the multiply-adds it implies.
  vit->eval();
  peft::method_reset_stats(t, *vit);
  Tensor sparse, dense;
  {
    NoGrad ng;
    sparse = vit->forward(x);
  }
  json r = peft::method_report(t, *vit, S);
  const double rate = r.at("dyt_mlp_token_rate").get<double>();
  CHECK(rate >= 0.0);
  CHECK(rate <= 1.0);
  const nn::ForwardCost c = vit->forward_cost(S);
  CHECK(r.at("dense_gmacs_per_image").get<double>() == Approx(c.macs / 1e9));
  CHECK(r.at("dyt_gmacs_per_image").get<double>() ==
        Approx((c.macs - (1 - rate) * c.skippable_mlp_macs) / 1e9));
  CHECK(peft::method_report({"lora", json::object()}, *vit, S).empty());
  // Token skipping off: every token through every MLP, masked afterwards — the same outputs.
  nn::set_token_skipping(*vit, false);
  {
    NoGrad ng;
    dense = vit->forward(x);
  }
  require_close(dense, sparse, 1e-5, 1e-6, "skipping off");
}

TEST_CASE("checkpoint key patterns: placeholders, whole-key matches, hostile keys", "[nn][checkpoint]") {
  std::vector<std::string> c;
  CHECK(nn::match_key("features.{n}.{n}.{*}", "features.3.12.attn.qkv.weight", c));
  CHECK(c == std::vector<std::string>{"3", "12", "attn.qkv.weight"});
  CHECK(nn::match_key("features.{n}.{reduction|norm}.{weight|bias}", "features.2.norm.bias", c));
  CHECK(c == std::vector<std::string>{"2", "norm", "bias"});
  CHECK(!nn::match_key("head.{weight|bias}", "head.weights", c));  // the whole key
  CHECK(c.empty());
  CHECK(!nn::match_key("blocks.{n}.x", "blocks..x", c));
  CHECK(!nn::match_key("blocks.{n}.x", "blocks.1234567890.x", c));  // > 9 digits: no number
  CHECK(nn::match_key("{ab|a}c", "ac", c));  // an alternative that fails later is retried
  CHECK(c == std::vector<std::string>{"a"});
  // A 40,000-character key (std::regex overflowed the stack on it): no match, no crash, and a
  // checkpoint holding it loads as "unexpected key" rather than crashing.
  const std::string hostile = "features.1.2." + std::string(40000, 'a');
  CHECK(nn::match_key("features.{n}.{n}.{*}", hostile, c));
  CHECK(!nn::match_key("Transformer/encoderblock_{n}/{*}", std::string(40000, '7'), c));
  nn::StateDict sd = {{"features.0.0.weight", Tensor::zeros({1})}, {hostile, Tensor::zeros({1})}};
  CHECK(nn::torchvision_swin_to_timm(sd).size() == 2);
}

TEST_CASE("model configs: zero, negative and absurd sizes are refused by name", "[nn][model]") {
  const std::pair<json, std::string> cases[] = {
      {{{"base", "vit_test_tiny"}, {"heads", 0}}, "heads must be in [1, 64], got 0"},
      {{{"base", "vit_test_tiny"}, {"heads", 3}}, "dim 64 is not divisible by 3 heads"},
      {{{"base", "vit_test_tiny"}, {"patch", 0}}, "patch must be in [1, 32], got 0"},
      {{{"base", "vit_test_tiny"}, {"dim", int64_t(1) << 62}}, "dim must be in [1, 65536]"},
      {{{"base", "vit_test_tiny"}, {"depth", 1000000}}, "depth must be in [0, 1024]"},
      {{{"base", "vit_test_tiny"}, {"img_size", -8}}, "img_size must be in [1, 16384], got -8"},
      {{{"base", "vit_test_tiny"}, {"num_classes", 5000000000}}, "num_classes must be in [0, 10000000]"},
      {{{"base", "vit_test_tiny"}, {"eps", -1.0}}, "eps must be in (0, 1)"},
      {{{"base", "vit_test_tiny"}, {"drop_path", 1.0}}, "drop_path must be in [0, 1)"},
      {{{"base", "vit_test_tiny"}, {"mlp_ratio", 0.0}}, "mlp_ratio must be in (0, 64]"},
      {{{"base", "vit_test_tiny"}, {"dim", 65536}, {"heads", 64}, {"depth", 1024}}, "parameters (more than"},
      {{{"base", "swin_test_tiny"}, {"window", 0}}, "window must be in [1, 256], got 0"},
      {{{"base", "swin_test_tiny"}, {"patch", 0}}, "patch must be in [1, 56], got 0"},
      {{{"base", "swin_test_tiny"}, {"depths", {2, -1}}}, "depths[] must be in [0, 1024], got -1"},
      {{{"base", "swin_test_tiny"}, {"depths", json::array()}, {"heads", json::array()}}, "must be non-empty"},
  };
  for (const auto& [cfg, message] : cases) {
    INFO(cfg.dump());
    CHECK_THROWS_WITH(nn::create_model_from_config(cfg), Catch::Contains(message));
  }
}
