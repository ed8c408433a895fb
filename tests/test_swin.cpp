// test_swin.cpp — the Swin Transformer: window helpers (relative index, shift mask, partition),
// f64 gradients of a block (shifted path and bias table included), torchvision parity from the
// three key layouts, parameter counts, multi-scale outputs, tuner sites and checkpoint errors.
#include <regex>

#include "engine/init.h"
#include "engine/io/safetensors.h"
#include "nn/checkpoint.h"
#include "nn/swin.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::nn;
using namespace vt::test;

namespace {
std::string fixture(const std::string& f) { return std::string(VT_FIXTURE_DIR) + "/" + f; }

StateDict load_sd(const std::string& f) {
  auto t = load_safetensors(fixture(f)).tensors;
  return StateDict(t.begin(), t.end());
}

// The current-timm fixture rewritten in the old timm / Microsoft layout: downsample closing
// stages 0..S-2, head.*, and the two buffers those files carry.
StateDict to_old_timm(const StateDict& sd) {
  static const std::regex down(R"(layers\.(\d+)\.downsample\.(.+))");
  StateDict out;
  for (auto& [k, t] : sd) {
    std::smatch m;
    if (std::regex_match(k, m, down))
      out["layers." + std::to_string(std::stoll(m[1]) - 1) + ".downsample." + m[2].str()] = t;
    else if (k.rfind("head.fc.", 0) == 0) out["head." + k.substr(8)] = t;
    else out[k] = t;
    if (k.size() > 28 && k.compare(k.size() - 28, 28, "relative_position_bias_table") == 0) {
      const std::string blk = k.substr(0, k.size() - 34);  // "layers.s.blocks.b"
      out[blk + ".attn.relative_position_index"] = Tensor::zeros({49, 49}, DType::I64);
      out[blk + ".attn_mask"] = Tensor::zeros({4, 49, 49});
    }
  }
  return out;
}

// Records what the attention branch receives; adds nothing.
struct ProbeBranch : BranchTuner {
  Tensor seen_x, seen_z;
  Tensor forward(const Tensor& x, const Tensor& z, const TokenGrid&) override {
    seen_x = x, seen_z = z;
    return mul(x, 0.0);
  }
};
struct ZeroAdapter : SequentialTuner {  // silences the sub-block it follows
  Tensor forward(const Tensor& h, const TokenGrid&) override { return mul(h, 0.0); }
};
}  // namespace

TEST_CASE("swin: relative position index follows docs/FORMATS.md and torchvision", "[nn][swin]") {
  for (int64_t W : {2, 3, 7}) {
    INFO("window " << W);
    // docs/FORMATS.md: coords flattened c (2, N); rel = c[:, :, None] - c[:, None, :];
    // rel[0] += W-1; rel[1] += W-1; rel[0] *= 2W-1; index = rel[0] + rel[1].
    const int64_t N = W * W;
    std::vector<int64_t> c0(N), c1(N), want(N * N);
    for (int64_t t = 0; t < N; ++t) c0[t] = t / W, c1[t] = t % W;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < N; ++j)
        want[i * N + j] = (c0[i] - c0[j] + W - 1) * (2 * W - 1) + (c1[i] - c1[j] + W - 1);
    Tensor idx = relative_position_index(W);
    REQUIRE(idx.shape() == Shape{N, N});
    REQUIRE(idx.dtype() == DType::I64);
    std::vector<double> got = idx.to_vector();
    for (int64_t e = 0; e < N * N; ++e) REQUIRE(got[e] == (double)want[e]);
    REQUIRE(*std::max_element(got.begin(), got.end()) == (2 * W - 1) * (2 * W - 1) - 1);
  }
  // torchvision saves the index flattened ([2401] for window 7).
  auto tv = load_sd("swin_test_tiny_torchvision.safetensors");
  Tensor saved = tv.at("features.1.1.attn.relative_position_index");
  REQUIRE(saved.shape() == Shape{2401});
  REQUIRE(saved.to_vector() == relative_position_index(7).to_vector());
}

TEST_CASE("swin: shift mask, window partition and merging order", "[nn][swin]") {
  // 4x4 map, window 2, shift 1: bands per axis [0,2) [2,3) [3,4).
  Tensor m = shifted_window_mask(4, 4, 2, 1, DType::F32, Device::cpu());
  REQUIRE(m.shape() == Shape{4, 4, 4});
  auto v = m.to_vector();
  auto at = [&](int w, int i, int j) { return v[(w * 4 + i) * 4 + j]; };
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      REQUIRE(at(0, i, j) == 0.0);                       // window (0,0): one region
      REQUIRE(at(3, i, j) == (i == j ? 0.0 : -100.0));   // window (1,1): four regions
    }
  REQUIRE(at(1, 0, 2) == 0.0);     // window (0,1): tokens (0,2), (1,2) share a band
  REQUIRE(at(1, 0, 1) == -100.0);  // (0,2) vs (0,3) do not
  // Partition then reverse is the identity; window 0 holds the top-left ws x ws tokens.
  Tensor x = rand_tensor({2, 4, 6, 3}, 1);
  Tensor w = window_partition(x, 2);
  REQUIRE(w.shape() == Shape{12, 4, 3});
  require_close(w.select(0, 0).select(0, 1), x.select(0, 0).select(0, 0).select(0, 1), 0, 0, "token (0,1)");
  require_close(w.select(0, 7).select(0, 2), x.select(0, 1).select(0, 1).select(0, 2), 0, 0, "img 1 win 1 token (1,0)");
  require_close(window_reverse(w, 2, 4, 6), x, 0, 0, "reverse");
  // PatchMerging: channels x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2].
  // A reduction that copies merged channels 3 and 6 (block 1 and block 2, channel 0) out.
  PatchMerging pm(3);
  pm.to(DType::F64);
  std::vector<double> wv(6 * 12, 0.0);
  wv[0 * 12 + 3] = 1.0;  // out 0 <- block 1 (x[1::2, 0::2]) channel 0
  wv[1 * 12 + 6] = 1.0;  // out 1 <- block 2 (x[0::2, 1::2]) channel 0
  pm.load_state_dict({{"norm.weight", Tensor::ones({12})}, {"norm.bias", Tensor::zeros({12})},
                      {"reduction.weight", Tensor::from_vector(wv, {6, 12})}});
  Tensor img = rand_tensor({1, 2, 2, 3}, 2);  // (B, H, W, C)
  Tensor out = pm.forward(img);  // (1, 1, 1, 6)
  Tensor ln = layer_norm(concat({img.select(1, 0).select(1, 0), img.select(1, 1).select(1, 0),
                                 img.select(1, 0).select(1, 1), img.select(1, 1).select(1, 1)}, -1),
                         Tensor(), Tensor(), 1e-5);  // (1, 12) in timm's order
  REQUIRE(out.shape() == Shape{1, 1, 1, 6});
  REQUIRE(out.to_vector()[0] == Approx(ln.to_vector()[3]).margin(1e-12));
  REQUIRE(out.to_vector()[1] == Approx(ln.to_vector()[6]).margin(1e-12));
}

TEST_CASE("swin: block and merging gradients in f64 (shifted windows, bias table)", "[nn][swin][grad]") {
  for (int64_t shift : {0, 1}) {
    INFO("shift " << shift);
    SwinBlock b(8, 2, 2, shift);
    b.to(DType::F64);
    init::normal_(b.attn->relative_position_bias_table, 0.0, 0.5);  // make the bias matter
    auto x = rand_tensor({2, 4, 4, 8}, 3 + shift).set_requires_grad(true);
    gradcheck([&](auto& in) { return b.forward(in[0]); },
              {x, b.attn->relative_position_bias_table, b.attn->qkv->weight, b.norm1->weight,
               b.mlp->fc2->bias}, 1e-6, 1e-5);
  }
  PatchMerging pm(4);
  pm.to(DType::F64);
  auto y = rand_tensor({2, 4, 2, 4}, 5).set_requires_grad(true);
  gradcheck([&](auto& in) { return pm.forward(in[0]); }, {y, pm.reduction->weight, pm.norm->bias});
}

TEST_CASE("Swin matches torchvision, loaded from timm, torchvision and old-timm namings", "[nn][swin][torch]") {
  for (const char* cfg : {"swin_test_tiny", "swin_test_micro"}) {
    auto io = load_safetensors(fixture(std::string(cfg) + "_io.safetensors")).tensors;
    for (const char* naming : {"timm", "torchvision", "old"}) {
      INFO(cfg << " " << naming);
      SwinTransformer m(SwinConfig::named(cfg));
      m.reset_head(10);
      if (std::string(naming) == "old") {
        StateDict old = to_old_timm(load_sd(std::string(cfg) + "_timm.safetensors"));
        REQUIRE(detect_swin_layout(old) == SwinLayout::TimmOld);
        REQUIRE(load_swin_state_dict(m, old, {}, "old").ok());
      } else {
        load_swin_checkpoint(m, fixture(std::string(cfg) + "_" + naming + ".safetensors"));
      }
      m.eval();
      Tensor images = io.at("images").clone().set_requires_grad(true);
      Tensor logits = m.forward(images);
      require_close(logits, io.at("logits"), 1e-4, 1e-5, "logits");
      logits.backward(io.at("gout").clone());
      require_close(images.grad(), io.at("grad_images"), 1e-4, 1e-5, "grad_images");
      // The bias table is trainable: its gradient flows back through index_select.
      REQUIRE(m.layers[0]->blocks[1]->attn->relative_position_bias_table.grad().defined());
    }
  }
}

TEST_CASE("Swin pads maps that do not divide into windows, as torchvision does", "[nn][swin][torch]") {
  // swin_test_tiny at 48 px: stage 0 is 12×12, padded to 14×14 (2×2 windows of 7, shifted
  // blocks too); stage 1 is 6×6, padded to one 7×7 window.
  auto io = load_safetensors(fixture("swin_test_tiny_io.safetensors")).tensors;
  SwinTransformer m(SwinConfig::named("swin_test_tiny"));
  m.reset_head(10);
  load_swin_checkpoint(m, fixture("swin_test_tiny_timm.safetensors"));
  m.eval();
  Tensor images = io.at("images_48").clone().set_requires_grad(true);
  Tensor logits = m.forward(images);
  require_close(logits, io.at("logits_48"), 1e-4, 1e-5, "logits at 48 px");
  logits.backward(io.at("gout_48").clone());
  require_close(images.grad(), io.at("grad_images_48"), 1e-4, 1e-5, "grad_images at 48 px");
  // Odd sizes still stop at PatchMerging, with a message.
  CHECK_THROWS_WITH(m.forward(rand_tensor({1, 3, 44, 44}, 3, DType::F32)), Catch::Contains("PatchMerging"));
}

TEST_CASE("swin: parameter counts of the named configs", "[nn][swin]") {
  for (auto [name, count] : {std::pair<const char*, int64_t>{"swin_tiny_patch4_window7_224", 27519354},
                             {"swin_small_patch4_window7_224", 48837258},
                             {"swin_base_patch4_window7_224", 86743224}}) {
    INFO(name);
    init::SkipInit skip;  // counts and structure only: no weights filled (engine/init.h)
    SwinConfig c = SwinConfig::named(name);
    c.num_classes = 0;
    SwinTransformer m(c);
    REQUIRE(m.param_report().total == count);
    REQUIRE(!m.head);
    // Stage 3 at 224 px is 7x7 = one window: no shift there; shifts of 3 elsewhere.
    REQUIRE(m.layers[3]->blocks[1]->shift == 0);
    REQUIRE(m.layers[2]->blocks[1]->shift == 3);
    REQUIRE(m.layers[2]->blocks[0]->shift == 0);
  }
}

TEST_CASE("swin: multi-scale outputs for dense decoders", "[nn][swin]") {
  SwinTransformer m(SwinConfig::named("swin_test_micro"));
  NoGrad ng;
  Tensor images = rand_tensor({3, 3, 32, 32}, 6, DType::F32);
  std::vector<Tensor> pyr = m.forward_feature_maps(images);
  Tensor f = m.forward_features(images);
  REQUIRE(f.shape() == Shape{3, 32});
  REQUIRE(pyr.size() == 4);
  const std::vector<Shape> want{{3, 4, 16, 16}, {3, 8, 8, 8}, {3, 16, 4, 4}, {3, 32, 2, 2}};
  for (size_t s = 0; s < 4; ++s) REQUIRE(pyr[s].shape() == want[s]);
  auto again = m.forward_feature_maps(images);
  for (size_t s = 0; s < 4; ++s) require_close(again[s], pyr[s], 0, 0, "pyramid");
  // The pooled features are the normed last map, averaged over H, W.
  Tensor pooled = mean(m.norm->forward(pyr[3].permute({0, 2, 3, 1})), {1, 2});
  require_close(f, pooled, 1e-6, 1e-6, "pooled");
  REQUIRE(m.forward(images).shape() == Shape{3, 1000});
  // A larger image works when every stage still divides into windows (and the mask follows).
  REQUIRE(m.forward_feature_maps(rand_tensor({1, 3, 64, 32}, 7, DType::F32))[3].shape() == Shape{1, 32, 4, 2});
}

TEST_CASE("swin: tuner sites see tokens before window partition", "[nn][swin]") {
  SwinBlock b(8, 2, 2, 1);
  b.to(DType::F64);
  auto probe = std::make_shared<ProbeBranch>();
  b.add_branch(true, "probe", probe);
  Tensor x = rand_tensor({2, 4, 4, 8}, 8);
  b.forward(x);  // the probe records its inputs and adds zero
  REQUIRE(probe->seen_x.shape() == Shape{2, 16, 8});
  require_close(probe->seen_x, x.reshape({2, 16, 8}), 0, 0, "branch input = shortcut");
  require_close(probe->seen_z, b.norm1->forward(x).reshape({2, 16, 8}), 0, 0, "branch z = LN1 x");
  // Silencing attention with an adapter leaves x + MLP(LN2 x).
  b.add_adapter(true, "zero", std::make_shared<ZeroAdapter>());
  Tensor xs = x.reshape({2, 16, 8});
  Tensor want = add(xs, b.mlp->forward(b.norm2->forward(xs))).reshape({2, 4, 4, 8});
  require_close(b.forward(x), want, 1e-12, 1e-12, "attention silenced");
  bool named = false;
  for (auto& [n, mod] : b.named_modules()) named = named || n == "zero";
  REQUIRE(named);  // tuners are registered children (saved, frozen, counted by name)
}

TEST_CASE("swin: checkpoint and config problems are reported by name", "[nn][swin][errors]") {
  StateDict bad = load_sd("swin_test_tiny_timm.safetensors");
  bad.erase("layers.1.blocks.0.norm1.weight");
  bad["layers.0.blocks.1.attn.relative_position_bias_table"] = Tensor::zeros({9, 2});
  bad["extra.weight"] = Tensor::zeros({3});
  SwinTransformer m(SwinConfig::named("swin_test_tiny"));
  m.reset_head(10);
  REQUIRE_THROWS_WITH(load_swin_state_dict(m, bad, {}, "bad.safetensors"),
                      Catch::Contains("bad.safetensors") &&
                          Catch::Contains("missing key: layers.1.blocks.0.norm1.weight") &&
                          Catch::Contains("unexpected key: extra.weight") &&
                          Catch::Contains("layers.0.blocks.1.attn.relative_position_bias_table: file [9, 2] vs model [169, 2]"));
  // torchvision names are reported after mapping (a missing merge names its timm key).
  StateDict tv = load_sd("swin_test_tiny_torchvision.safetensors");
  tv.erase("features.2.reduction.weight");
  LoadOptions lax;
  lax.strict = false;
  LoadReport r = load_swin_state_dict(m, tv, lax, "tv");
  REQUIRE(r.missing == std::vector<std::string>{"layers.1.downsample.reduction.weight"});
  REQUIRE(r.unexpected.empty());
  // The head can be dropped (new label set): loads with a 7-class head.
  SwinTransformer m7(SwinConfig::named("swin_test_tiny"));
  m7.reset_head(7);
  LoadOptions o;
  o.drop_head = true;
  REQUIRE(load_swin_state_dict(m7, load_sd("swin_test_tiny_torchvision.safetensors"), o, "ok").ok());
  // Configs and inputs.
  REQUIRE_THROWS_WITH(SwinConfig::named("swin_nope"), Catch::Contains("swin_nope"));
  REQUIRE_THROWS_WITH(SwinConfig::from_json(R"({"dim": 8, "dpeths": [2]})"), Catch::Contains("dpeths"));
  SwinConfig one = SwinConfig::from_json(R"({"base": "swin_test_tiny", "depths": [2], "heads": [2]})");
  REQUIRE(SwinTransformer(one).layers.size() == 1);
  REQUIRE_THROWS_WITH(SwinTransformer(SwinConfig::from_json(R"({"depths": [2, 2], "heads": [3]})")),
                      Catch::Contains("depths [2, 2] and heads [3]"));
  REQUIRE_THROWS_WITH(SwinTransformer(SwinConfig::from_json(R"({"base": "swin_test_tiny", "img_size": 58})")),
                      Catch::Contains("not a multiple of patch"));
  REQUIRE_THROWS_WITH(SwinTransformer(SwinConfig::from_json(R"({"base": "swin_test_tiny", "img_size": 64})")),
                      Catch::Contains("resolution 16 is not a multiple of window 7"));
  NoGrad ng;
  // 60 px: the 15×15 map is padded to windows, but cannot be merged 2×2.
  REQUIRE_THROWS_WITH(m.forward(Tensor::zeros({1, 3, 60, 60})),
                      Catch::Contains("PatchMerging") && Catch::Contains("[1, 15, 15, 32]") &&
                          Catch::Contains("even H, W"));
}
