// checkpoint_google.cpp — Google's Flax ViT checkpoints (ViT-B_16.npz, the augreg in21k files)
// mapped onto timm names (see checkpoint.h). timm's _load_weights does the same conversion.
//
//   Google (Flax), shapes as stored                               timm
//   embedding/kernel   (P, P, C, D) HWIO                          patch_embed.proj.weight (D, C, P, P)
//   embedding/bias     (D)                                        patch_embed.proj.bias
//   cls                (1, 1, D)                                  cls_token
//   Transformer/posembed_input/pos_embedding (1, 1+N, D)          pos_embed
//   Transformer/encoderblock_{i}/...                              blocks.{i}....
//     LayerNorm_0/{scale,bias}                                      norm1.{weight,bias}
//     MultiHeadDotProductAttention_1/{query,key,value}/kernel       attn.qkv.weight (3D, D): rows
//       (D, H, Dh) each, as (D, H·Dh) transposed                      q | k | v, head-major
//     MultiHeadDotProductAttention_1/{query,key,value}/bias (H, Dh) attn.qkv.bias (3D)
//     MultiHeadDotProductAttention_1/out/kernel (H, Dh, D)          attn.proj.weight (D, H·Dh)
//     MultiHeadDotProductAttention_1/out/bias (D)                   attn.proj.bias
//     LayerNorm_2/{scale,bias}                                      norm2.*
//     MlpBlock_3/Dense_{0,1}/kernel (in, out), bias                 mlp.fc{1,2}.weight (out, in), bias
//   Transformer/encoder_norm/{scale,bias}                         norm.*
//   head/kernel (D, C), head/bias (C)                             head.weight (C, D), head.bias
//   pre_logits/*                                                  dropped (as timm does)
//
// Training checkpoints nest the parameters under "opt/target/" beside optimizer state; then only
// that subtree is read. Keys outside the table pass through unchanged, so loading reports them
// as unexpected.
#include <array>
#include <map>

#include "engine/ops.h"
#include "nn/checkpoint.h"
#include "nn/key_match.h"

namespace vt::nn {

namespace {

const std::string kTrainPrefix = "opt/target/";

// How a tensor changes on the way: as is, a Dense kernel (in, out) -> (out, in), the HWIO patch
// convolution -> OIHW, or the attention output kernel (H, Dh, D) -> (D, H·Dh).
enum class Conv { Copy, Dense, PatchConv, AttnOut };

struct Rule {
  const char* google;  // relative to the block for block rules
  const char* timm;
  Conv conv;
  int64_t ndim;  // the rank the Google tensor must have
};

const Rule kTopRules[] = {
    {"embedding/kernel", "patch_embed.proj.weight", Conv::PatchConv, 4},
    {"embedding/bias", "patch_embed.proj.bias", Conv::Copy, 1},
    {"cls", "cls_token", Conv::Copy, 3},
    {"Transformer/posembed_input/pos_embedding", "pos_embed", Conv::Copy, 3},
    {"Transformer/encoder_norm/scale", "norm.weight", Conv::Copy, 1},
    {"Transformer/encoder_norm/bias", "norm.bias", Conv::Copy, 1},
    {"head/kernel", "head.weight", Conv::Dense, 2},
    {"head/bias", "head.bias", Conv::Copy, 1},
};

const Rule kBlockRules[] = {
    {"LayerNorm_0/scale", "norm1.weight", Conv::Copy, 1},
    {"LayerNorm_0/bias", "norm1.bias", Conv::Copy, 1},
    {"LayerNorm_2/scale", "norm2.weight", Conv::Copy, 1},
    {"LayerNorm_2/bias", "norm2.bias", Conv::Copy, 1},
    {"MultiHeadDotProductAttention_1/out/kernel", "attn.proj.weight", Conv::AttnOut, 3},
    {"MultiHeadDotProductAttention_1/out/bias", "attn.proj.bias", Conv::Copy, 1},
    {"MlpBlock_3/Dense_0/kernel", "mlp.fc1.weight", Conv::Dense, 2},
    {"MlpBlock_3/Dense_0/bias", "mlp.fc1.bias", Conv::Copy, 1},
    {"MlpBlock_3/Dense_1/kernel", "mlp.fc2.weight", Conv::Dense, 2},
    {"MlpBlock_3/Dense_1/bias", "mlp.fc2.bias", Conv::Copy, 1},
};

const char* const kQKV[3] = {"query", "key", "value"};

[[noreturn]] void bad_shape(const std::string& key, const Tensor& t, const std::string& want) {
  throw Error("Google ViT checkpoint: '" + key + "' has shape " + shape_str(t.shape()) + ", expected " + want);
}

Tensor convert(const std::string& key, const Tensor& t, Conv conv, int64_t ndim) {
  if (t.dim() != ndim) bad_shape(key, t, "a " + std::to_string(ndim) + "-d array");
  switch (conv) {
    case Conv::Copy: return t;
    case Conv::Dense: return t.transpose(0, 1).contiguous();             // (in, out) -> (out, in)
    case Conv::PatchConv: return t.permute({3, 2, 0, 1}).contiguous();   // (P, P, C, D) -> (D, C, P, P)
    case Conv::AttnOut:  // (H, Dh, D) -> (H·Dh, D) -> (D, H·Dh)
      return t.reshape({t.size(0) * t.size(1), t.size(2)}).transpose(0, 1).contiguous();
  }
  return t;
}

// One block's query/key/value kernels (D, H, Dh) and biases (H, Dh), fused as timm's qkv.
void fuse_qkv(const std::string& block, const std::array<Tensor, 3>& kernels,
              const std::array<Tensor, 3>& biases, int64_t i, StateDict& out) {
  const std::string base = block + "MultiHeadDotProductAttention_1/";
  for (int j = 0; j < 3; ++j) {
    const std::string k = base + kQKV[j] + "/kernel", b = base + kQKV[j] + "/bias";
    if (!kernels[j].defined() || !biases[j].defined())
      throw Error("Google ViT checkpoint: block " + std::to_string(i) + " lacks '" +
                  (kernels[j].defined() ? b : k) + "' (query, key and value kernels and biases go together)");
    if (kernels[j].dim() != 3) bad_shape(k, kernels[j], "(D, heads, head_dim)");
    if (kernels[j].shape() != kernels[0].shape()) bad_shape(k, kernels[j], shape_str(kernels[0].shape()) + " as the query's");
    const Shape hb{kernels[0].size(1), kernels[0].size(2)};
    if (biases[j].shape() != hb) bad_shape(b, biases[j], shape_str(hb) + " (heads, head_dim)");
  }
  const int64_t D = kernels[0].size(0), HD = kernels[0].size(1) * kernels[0].size(2);
  std::vector<Tensor> w, b;
  for (int j = 0; j < 3; ++j) {
    w.push_back(kernels[j].reshape({D, HD}).transpose(0, 1));  // (H·Dh, D): rows head-major
    b.push_back(biases[j].reshape({HD}));
  }
  const std::string prefix = "blocks." + std::to_string(i) + ".attn.qkv.";
  out[prefix + "weight"] = concat(w, 0).contiguous();  // (3·H·Dh, D)
  out[prefix + "bias"] = concat(b, 0).contiguous();
}

}  // namespace

bool is_google_vit(const StateDict& sd) {
  for (const std::string& p : {std::string(), kTrainPrefix})
    if (sd.count(p + "embedding/kernel") || sd.count(p + "Transformer/encoder_norm/scale")) return true;
  return false;
}

StateDict google_vit_to_timm(const StateDict& file) {
  NoGrad ng;
  // Training checkpoints: keep the parameters only, without their prefix.
  StateDict sd;
  if (file.count(kTrainPrefix + "embedding/kernel") || file.count(kTrainPrefix + "Transformer/encoder_norm/scale")) {
    for (auto& [k, t] : file)
      if (k.rfind(kTrainPrefix, 0) == 0) sd[k.substr(kTrainPrefix.size())] = t;
  } else {
    sd = file;
  }


  std::map<int64_t, std::array<Tensor, 3>> kernels, biases;  // per block, in q, k, v order
  StateDict out;
  for (auto& [k, t] : sd) {
    if (k.rfind("pre_logits/", 0) == 0) continue;
    bool done = false;
    for (const Rule& r : kTopRules)
      if (k == r.google) out[r.timm] = convert(k, t, r.conv, r.ndim), done = true;
    std::vector<std::string> m, q;
    if (!done && match_key("Transformer/encoderblock_{n}/{*}", k, m)) {
      const int64_t i = std::stoll(m[0]);  // at most 9 digits
      const std::string sub = m[1];
      for (const Rule& r : kBlockRules)
        if (sub == r.google)
          out["blocks." + std::to_string(i) + "." + r.timm] = convert(k, t, r.conv, r.ndim), done = true;
      if (!done && match_key("MultiHeadDotProductAttention_1/{query|key|value}/{kernel|bias}", sub, q)) {
        const int j = q[0] == "query" ? 0 : q[0] == "key" ? 1 : 2;
        (q[1] == "kernel" ? kernels : biases)[i][j] = t;
        done = true;
      }
    }
    if (!done) out[k] = t;  // unknown: reported as unexpected when loading
  }
  for (auto& [i, k] : kernels)
    fuse_qkv("Transformer/encoderblock_" + std::to_string(i) + "/", k, biases[i], i, out);
  for (auto& [i, b] : biases)
    if (!kernels.count(i)) fuse_qkv("Transformer/encoderblock_" + std::to_string(i) + "/", {}, b, i, out);
  return out;
}

}  // namespace vt::nn
