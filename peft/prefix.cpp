// prefix.cpp — prefix tuning (Li & Liang 2021) on vision transformers, as the visual-PEFT
// benchmarks apply it: per block, l learnable keys and values join the attention.
//
//   Attn(Q, [K_pre; K], [V_pre; V]),   K_pre, V_pre ∈ R^{l×D} split into heads like K and V
//
// Queries come only from the tokens; the prefix is appended after the k/v projections (it is
// not projected). Init: xavier-uniform. ViT-B/16, l = 20: 12·2·20·768 = 368,640.
// On Swin every window of a block sees that block's prefix.
#include "engine/init.h"
#include "peft/method.h"
#include "peft/tuner_util.h"

namespace vt::peft {

namespace {

struct Prefix : nn::PrefixProvider {
  Tensor key, value;  // (l, D)
  Prefix(int64_t len, int64_t dim, const Tensor& like) {
    key = register_parameter("key", empty_like_dev({len, dim}, like));
    value = register_parameter("value", empty_like_dev({len, dim}, like));
    init::xavier_uniform_(key);
    init::xavier_uniform_(value);
  }
  // -> (B, H, l, Dh) each: (l, D) -> (l, H, Dh) -> (H, l, Dh) -> broadcast over the batch
  std::pair<Tensor, Tensor> kv(int64_t batch, int64_t heads, int64_t head_dim) override {
    const int64_t l = key.size(0);
    auto split = [&](const Tensor& t) {
      return t.reshape({l, heads, head_dim}).permute({1, 0, 2}).unsqueeze(0)
          .expand({batch, heads, l, head_dim});
    };
    return {split(key), split(value)};
  }
};

void apply_prefix(Sites& s, const Options& o) {
  const int64_t l = o.i("length");
  if (l <= 0) throw Error("prefix: length must be positive");
  for (BlockSites& b : s.blocks) {
    if (b.attn->prefix) throw Error("prefix: " + b.name + ".attn already has a prefix provider");
    auto p = std::make_shared<Prefix>(l, b.dim, b.qkv->weight);
    b.attn->prefix = p;
    b.attn->attach("prefix", p);
  }
}

}  // namespace

Method prefix_method() {
  return {"prefix",
          "prefix tuning (Li & Liang 2021): learnable keys/values [K_pre; K], [V_pre; V] per block",
          {{"length", 20, "prefix length l"}},
          apply_prefix};
}

}  // namespace vt::peft
