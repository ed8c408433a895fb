// swin.cpp — Swin Transformer: configs, window helpers, WindowAttention, SwinBlock, PatchMerging,
// stages and the model (see swin.h for the architecture and the tuner sites).
#include "nn/swin.h"

#include <nlohmann/json.hpp>

#include "nn/config_util.h"
#include <algorithm>
#include <numeric>

#include "engine/init.h"

namespace vt::nn {

// ---------------------------------------------------------------- configs
static const std::vector<SwinConfig>& table() {
  static const std::vector<SwinConfig> t = [] {
    std::vector<SwinConfig> v;
    auto mk = [&](const char* n, int64_t img, int64_t p, int64_t w, int64_t d,
                  std::vector<int64_t> depths, std::vector<int64_t> heads) {
      SwinConfig c;
      c.name = n, c.img_size = img, c.patch = p, c.window = w, c.dim = d;
      c.depths = std::move(depths), c.heads = std::move(heads);
      v.push_back(c);
    };
    mk("swin_tiny_patch4_window7_224", 224, 4, 7, 96, {2, 2, 6, 2}, {3, 6, 12, 24});
    mk("swin_small_patch4_window7_224", 224, 4, 7, 96, {2, 2, 18, 2}, {3, 6, 12, 24});
    mk("swin_base_patch4_window7_224", 224, 4, 7, 128, {2, 2, 18, 2}, {4, 8, 16, 32});
    // Test configs (fixtures in tests/reference/backbones.py): 14x14 -> 7x7 with window 7;
    // and four stages 16, 8, 4, 2 with window 2.
    mk("swin_test_tiny", 56, 4, 7, 32, {2, 2}, {2, 4});
    mk("swin_test_micro", 32, 2, 2, 4, {2, 2, 2, 2}, {1, 1, 2, 2});
    return v;
  }();
  return t;
}

std::vector<std::string> SwinConfig::names() { return config_names(table()); }

SwinConfig SwinConfig::named(const std::string& name) { return find_config(table(), name, "Swin"); }

SwinConfig SwinConfig::from_json(const std::string& text) {
  nlohmann::json j = parse_config_json(text, "Swin");
  SwinConfig c = j.contains("base") ? named(config_string(j["base"], "Swin", "base")) : SwinConfig();
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    try {
      if (k == "base") continue;
      else if (k == "name") c.name = config_string(*it, "Swin", k);
      else if (k == "img_size") c.img_size = config_int(*it, "Swin", k);
      else if (k == "patch") c.patch = config_int(*it, "Swin", k);
      else if (k == "in_chans") c.in_chans = config_int(*it, "Swin", k);
      else if (k == "window") c.window = config_int(*it, "Swin", k);
      else if (k == "dim") c.dim = config_int(*it, "Swin", k);
      else if (k == "depths") c.depths = config_ints(*it, "Swin", k);
      else if (k == "heads") c.heads = config_ints(*it, "Swin", k);
      else if (k == "mlp_ratio") c.mlp_ratio = config_number(*it, "Swin", k);
      else if (k == "num_classes") c.num_classes = config_int(*it, "Swin", k);
      else if (k == "eps") c.eps = config_number(*it, "Swin", k);
      else if (k == "drop_path") c.drop_path = config_number(*it, "Swin", k);
      else throw Error("Swin config: unknown key '" + k + "'");
    } catch (const nlohmann::json::exception&) {
      throw Error("Swin config: key '" + k + "' has the wrong type");
    }
  }
  return c;
}

nlohmann::json SwinConfig::to_json() const {
  return {{"name", name}, {"img_size", img_size}, {"patch", patch}, {"in_chans", in_chans},
          {"window", window}, {"dim", dim}, {"depths", depths}, {"heads", heads},
          {"mlp_ratio", mlp_ratio}, {"num_classes", num_classes}, {"eps", eps},
          {"drop_path", drop_path}};
}

// Throws naming the first thing that keeps the config from building a model.
static void validate(const SwinConfig& c) {
  auto fail = [&](const std::string& why) { throw Error("Swin config '" + c.name + "': " + why); };
  if (c.depths.empty() || c.depths.size() != c.heads.size())
    fail("depths " + shape_str(c.depths) + " and heads " + shape_str(c.heads) +
         " must be non-empty and of equal length");
  const ConfigCheck check{"Swin config '" + c.name + "'"};
  check.common(c.img_size, c.patch, c.in_chans, c.num_classes, c.mlp_ratio, c.eps, c.drop_path);
  check.range("window", c.window, 1, 256);
  check.range("stages", c.num_stages(), 1, 8);
  check.range("dim", c.dim, 1, 65536 >> (c.num_stages() - 1));
  for (int64_t d : c.depths) check.range("depths[]", d, 0, 1024);
  double params = (double)c.num_classes * c.num_features();
  for (int64_t s = 0; s < c.num_stages(); ++s)
    params += (double)c.depths[s] * (4.0 + 2.0 * c.mlp_ratio) * (double)c.stage_dim(s) * (double)c.stage_dim(s);
  check.parameters(params);
  if (c.img_size % c.patch)
    fail("img_size " + std::to_string(c.img_size) + " is not a multiple of patch " +
         std::to_string(c.patch));
  int64_t res = c.img_size / c.patch;
  for (int64_t s = 0; s < c.num_stages(); ++s) {
    if (s > 0 && res % 2) fail("stage " + std::to_string(s) + " merges an odd resolution " + std::to_string(res));
    if (s > 0) res /= 2;
    if (res > c.window && res % c.window)
      fail("stage " + std::to_string(s) + " resolution " + std::to_string(res) +
           " is not a multiple of window " + std::to_string(c.window));
    if (c.heads[s] <= 0 || c.stage_dim(s) % c.heads[s])
      fail("stage " + std::to_string(s) + " dim " + std::to_string(c.stage_dim(s)) +
           " is not divisible by " + std::to_string(c.heads[s]) + " heads");
  }
}

// ---------------------------------------------------------------- window helpers
Tensor relative_position_index(int64_t W) {
  const int64_t N = W * W;
  std::vector<int64_t> idx(N * N);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j) {  // tokens i = (hi, wi), j = (hj, wj), row-major
      const int64_t dh = i / W - j / W + W - 1, dw = i % W - j % W + W - 1;  // in 0..2W-2
      idx[i * N + j] = dh * (2 * W - 1) + dw;
    }
  return Tensor::from_vector(idx, {N, N});
}

Tensor shifted_window_mask(int64_t H, int64_t W, int64_t ws, int64_t shift, DType dtype,
                           Device device) {
  // Before the roll the map has three bands per axis: [0, n-ws), [n-ws, n-shift), [n-shift, n).
  auto band = [&](int64_t p, int64_t n) { return p < n - ws ? 0 : p < n - shift ? 1 : 2; };
  const int64_t nh = H / ws, nw = W / ws, N = ws * ws;
  std::vector<double> m(nh * nw * N * N);
  std::vector<int64_t> label(N);
  for (int64_t a = 0; a < nh; ++a)
    for (int64_t b = 0; b < nw; ++b) {
      for (int64_t t = 0; t < N; ++t)
        label[t] = 3 * band(a * ws + t / ws, H) + band(b * ws + t % ws, W);
      double* mw = m.data() + (a * nw + b) * N * N;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < N; ++j) mw[i * N + j] = label[i] == label[j] ? 0.0 : -100.0;
    }
  return Tensor::from_vector(m, {nh * nw, N, N}).to(dtype).to(device);
}

Tensor window_partition(const Tensor& x, int64_t ws) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  // (B, H/ws, ws, W/ws, ws, C) -> (B, H/ws, W/ws, ws, ws, C) -> (B·nW, ws², C)
  return x.reshape({B, H / ws, ws, W / ws, ws, C}).permute({0, 1, 3, 2, 4, 5})
      .reshape({B * (H / ws) * (W / ws), ws * ws, C});
}

Tensor window_reverse(const Tensor& w, int64_t ws, int64_t H, int64_t W) {
  const int64_t C = w.size(2), B = w.size(0) / ((H / ws) * (W / ws));
  // (B, H/ws, W/ws, ws, ws, C) -> (B, H/ws, ws, W/ws, ws, C) -> (B, H, W, C)
  return w.reshape({B, H / ws, W / ws, ws, ws, C}).permute({0, 1, 3, 2, 4, 5}).reshape({B, H, W, C});
}

// ---------------------------------------------------------------- WindowAttention
WindowAttention::WindowAttention(int64_t dim, int64_t heads_, int64_t ws)
    : Attention(dim, heads_), window(ws) {
  relative_position_bias_table =
      register_parameter("relative_position_bias_table", Tensor::zeros({(2 * ws - 1) * (2 * ws - 1), heads_}));
  init::trunc_normal_(relative_position_bias_table, 0.0, 0.02);
  rel_index = register_buffer("relative_position_index", relative_position_index(ws), false);
}

Tensor WindowAttention::bias() {
  const int64_t N = window * window;
  // table ((2W-1)², H) gathered by the (N²) index -> (N², H) -> (N, N, H) -> (1, H, N, N);
  // index_select's backward scatters the gradient back into the table (index_add).
  Tensor b = index_select(relative_position_bias_table, 0, rel_index.reshape({N * N}));
  return b.reshape({N, N, heads}).permute({2, 0, 1}).unsqueeze(0);
}

Tensor WindowAttention::forward_windows(const Tensor& xw, int64_t batch, const Tensor& shift_mask) {
  Tensor m = bias();  // (1, H, N, N): the same for every window
  if (shift_mask.defined()) {
    const int64_t nW = shift_mask.size(0), N = shift_mask.size(1);
    m = add(m, shift_mask.unsqueeze(1));  // (nW, H, N, N)
    // Windows are batched image-major (b·nW + w): repeat the per-window masks for every image
    // (one B·nW·H·N² copy; the scores' batch dim cannot broadcast a period-nW pattern).
    if (batch > 1)
      m = m.unsqueeze(0).expand({batch, nW, heads, N, N}).reshape({batch * nW, heads, N, N});
  }
  return forward(xw, m);  // Attention: (B·nW, N, C) -> (B·nW, N, C), bias added to the scores
}

// ---------------------------------------------------------------- SwinBlock
SwinBlock::SwinBlock(int64_t dim, int64_t heads, int64_t ws, int64_t sh, double mlp_ratio, double eps)
    : window(ws), shift(sh) {
  if (shift < 0 || shift >= window)
    throw Error("SwinBlock: shift " + std::to_string(shift) + " not in [0, window " +
                std::to_string(window) + ")");
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(dim, eps));
  attn = register_module("attn", std::make_shared<WindowAttention>(dim, heads, ws));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(dim, eps));
  mlp = register_module("mlp", std::make_shared<Mlp>(dim, (int64_t)(dim * mlp_ratio)));
}

Tensor SwinBlock::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(3) != norm1->weight.size(0))
    throw Error("SwinBlock: input " + shape_str(x.shape()) + " is not (B, H, W, " +
                std::to_string(norm1->weight.size(0)) + ")");
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  // A map that does not divide into windows is zero-padded at the bottom and right after LN1
  // (as torchvision and mmseg's Swin do; padded tokens take part in attention) and the
  // attention output cut back.
  const int64_t Hp = (H + window - 1) / window * window, Wp = (W + window - 1) / window * window;
  // Attention inside (shifted) windows: z = LN1 x, rolled by -shift, cut into windows.
  Tensor z = norm1->forward(x);                                   // (B, H, W, C)
  Tensor zp = Hp != H || Wp != W ? pad(z, {0, 0, 0, Wp - W, 0, Hp - H}) : z;  // (B, Hp, Wp, C)
  Tensor zs = shift ? roll(zp, {-shift, -shift}, {1, 2}) : zp;
  Tensor mask;
  if (shift) {
    if (!mask_.defined() || mask_h_ != Hp || mask_w_ != Wp || mask_.dtype() != x.dtype() ||
        mask_.device() != x.device()) {
      mask_ = shifted_window_mask(Hp, Wp, window, shift, x.dtype(), x.device());
      mask_h_ = Hp, mask_w_ = Wp;
    }
    mask = mask_;                                                 // (nW, N, N)
  }
  Tensor a = attn->forward_windows(window_partition(zs, window), B, mask);  // (B·nW, N, C)
  Tensor h = window_reverse(a, window, Hp, Wp);                   // (B, Hp, Wp, C)
  if (shift) h = roll(h, {shift, shift}, {1, 2});
  if (Hp != H || Wp != W) h = h.narrow(1, 0, H).narrow(2, 0, W);  // (B, H, W, C)
  // From here on the block is every block's, over the token sequence (B, H·W, C).
  const Shape seq{B, H * W, C};
  Tensor y = residual_with_tuners(x.reshape(seq), z.reshape(seq), h.reshape(seq), TokenGrid{0, H, W});
  return y.reshape({B, H, W, C});
}

// ---------------------------------------------------------------- PatchMerging
PatchMerging::PatchMerging(int64_t dim, double eps) {
  norm = register_module("norm", std::make_shared<LayerNorm>(4 * dim, eps));
  reduction = register_module("reduction", std::make_shared<Linear>(4 * dim, 2 * dim, false));
}

Tensor PatchMerging::forward(const Tensor& x) {
  const int64_t C = reduction->in_features() / 4;
  if (x.dim() != 4 || x.size(3) != C || x.size(1) % 2 || x.size(2) % 2)
    throw Error("PatchMerging: input " + shape_str(x.shape()) + " is not (B, H, W, " +
                std::to_string(C) + ") with even H, W");
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2);
  // x[b, 2i+r, 2j+c, :] -> channel block r + 2c, i.e. the order x[0::2,0::2], x[1::2,0::2],
  // x[0::2,1::2], x[1::2,1::2]:  (B, H/2, r, W/2, c, C) -> (B, H/2, W/2, c, r, C) -> 4C
  Tensor m = x.reshape({B, H / 2, 2, W / 2, 2, C}).permute({0, 1, 3, 4, 2, 5})
                 .reshape({B, H / 2, W / 2, 4 * C});
  return reduction->forward(norm->forward(m));  // (B, H/2, W/2, 2C)
}

// ---------------------------------------------------------------- stages, head, model
SwinStage::SwinStage(const SwinConfig& c, int64_t s, int64_t first_block) {
  const int64_t C = c.stage_dim(s), res = (c.img_size / c.patch) >> s;
  if (s > 0) downsample = register_module("downsample", std::make_shared<PatchMerging>(C / 2, c.eps));
  const bool whole = res <= c.window;  // one window covers the map: no shift (timm)
  const int64_t ws = whole ? res : c.window;
  const int64_t total = std::accumulate(c.depths.begin(), c.depths.end(), (int64_t)0);
  for (int64_t b = 0; b < c.depths[s]; ++b) {
    const int64_t shift = (b % 2 == 1 && !whole) ? ws / 2 : 0;
    auto blk = std::make_shared<SwinBlock>(C, c.heads[s], ws, shift, c.mlp_ratio, c.eps);
    blk->drop_path_rate = total > 1 ? c.drop_path * (first_block + b) / (total - 1) : 0.0;
    blocks.push_back(register_module("blocks." + std::to_string(b), blk));
  }
}

Tensor SwinStage::forward(const Tensor& x) {
  Tensor y = downsample ? downsample->forward(x) : x;
  for (auto& b : blocks) y = b->forward(y);
  return y;
}

SwinHead::SwinHead(int64_t in, int64_t classes) {
  fc = register_module("fc", std::make_shared<Linear>(in, classes));
  init::zeros_(fc->weight);
  init::zeros_(fc->bias);
}

SwinTransformer::SwinTransformer(const SwinConfig& c) : cfg(c) {
  validate(c);
  patch_embed = register_module("patch_embed",
                                std::make_shared<PatchEmbed>(c.patch, c.in_chans, c.dim, true, c.eps));
  int64_t first = 0;
  for (int64_t s = 0; s < c.num_stages(); ++s) {
    layers.push_back(register_module("layers." + std::to_string(s), std::make_shared<SwinStage>(c, s, first)));
    first += c.depths[s];
  }
  norm = register_module("norm", std::make_shared<LayerNorm>(c.num_features(), c.eps));
  reset_head(c.num_classes);
}

void SwinTransformer::reset_head(int64_t classes) {
  cfg.num_classes = classes;
  auto h = classes > 0 ? std::make_shared<SwinHead>(cfg.num_features(), classes) : nullptr;
  if (child("head")) replace_module("head", h);
  else if (h) register_module("head", h);
  head = h;
}

std::vector<std::shared_ptr<SwinBlock>> SwinTransformer::all_blocks() const {
  std::vector<std::shared_ptr<SwinBlock>> out;
  for (auto& st : layers) out.insert(out.end(), st->blocks.begin(), st->blocks.end());
  return out;
}

std::vector<Tensor> SwinTransformer::forward_stages(const Tensor& images) {
  std::vector<Tensor> maps;
  Tensor x = patch_embed->forward(images);  // (B, H/P, W/P, C)
  for (auto& st : layers) {
    x = st->forward(x);                     // (B, H_s, W_s, C_s)
    maps.push_back(x);
  }
  return maps;
}

std::vector<Tensor> SwinTransformer::forward_feature_maps(const Tensor& images) {
  std::vector<Tensor> maps = forward_stages(images);
  for (auto& m : maps) m = m.permute({0, 3, 1, 2});  // (B, C_s, H_s, W_s)
  return maps;
}

std::vector<int64_t> SwinTransformer::feature_map_channels() const {
  std::vector<int64_t> c;
  for (int64_t s = 0; s < cfg.num_stages(); ++s) c.push_back(cfg.stage_dim(s));
  return c;
}

Tensor SwinTransformer::forward_features(const Tensor& images) {
  return mean(norm->forward(forward_stages(images).back()), {1, 2});  // (B, C): global average
}

Tensor SwinTransformer::forward_head(const Tensor& features) {
  if (!head) throw Error(cfg.name + ": the model has no classifier head");
  return head->fc->forward(features);
}

TunerSites SwinTransformer::tuner_sites() {
  TunerSites s;
  s.family = family();
  s.model = this;
  s.patch_embed = patch_embed.get();
  s.final_norm = norm.get();
  s.embed_dim = cfg.dim;
  s.patch = cfg.patch;
  s.head_prefix = head_prefix();
  int64_t index = 0;
  for (size_t st = 0; st < layers.size(); ++st) {
    if (layers[st]->downsample) s.stage_norms.push_back(layers[st]->downsample->norm.get());
    for (size_t b = 0; b < layers[st]->blocks.size(); ++b)
      s.blocks.push_back(block_sites(*layers[st]->blocks[b],
                                     "layers." + std::to_string(st) + ".blocks." + std::to_string(b), index++));
  }
  return s;  // no set_token_tuner: Swin has no token sequence through all blocks
}

int64_t SwinTransformer::checkpoint_classes(const StateDict& sd) const {
  for (const char* key : {"head.fc.weight", "head.weight", "classifier.weight"}) {  // (C, D)
    auto it = sd.find(key);
    if (it != sd.end() && it->second.dim() == 2) return it->second.size(0);
  }
  return 0;
}

LoadReport SwinTransformer::load_checkpoint(StateDict sd, const LoadOptions& opt, const std::string& source) {
  return load_swin_state_dict(*this, std::move(sd), opt, source);
}

ForwardCost SwinTransformer::forward_cost(int64_t img) const {
  ForwardCost c;
  int64_t r = img / cfg.patch;  // tokens per side
  c.macs = (double)r * r * cfg.in_chans * cfg.patch * cfg.patch * cfg.dim;
  for (int64_t s = 0; s < cfg.num_stages(); ++s) {
    const double C = (double)cfg.stage_dim(s), H = (double)(int64_t)(C * cfg.mlp_ratio);
    if (s > 0) {
      r /= 2;
      c.macs += (double)r * r * 4 * (C / 2) * C;  // PatchMerging's 4C' -> 2C' reduction
    }
    const double N = (double)r * r, w = (double)std::min(r, cfg.window);
    const double attn = N * 4 * C * C + 2 * N * w * w * C;  // qkv + proj, QKᵀ + PV in windows
    const double mlp = N * 2 * C * H;
    c.macs += cfg.depths[s] * (attn + mlp);
    c.mlp_macs += cfg.depths[s] * mlp;
  }
  c.skippable_mlp_macs = c.mlp_macs;  // no CLS: every token may skip
  c.macs += (double)cfg.num_features() * num_classes();
  return c;
}

}  // namespace vt::nn
