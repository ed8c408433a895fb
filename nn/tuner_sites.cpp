// tuner_sites.cpp — BlockSites from a TunedBlock (see tuner_sites.h).
#include "nn/tuner_sites.h"

namespace vt::nn {

BlockSites block_sites(TunedBlock& b, const std::string& name, int64_t index) {
  BlockSites s;
  s.name = name;
  s.index = index;
  s.block = &b;
  s.norm1 = b.norm1.get();
  s.norm2 = b.norm2.get();
  s.attn = &b.attention();
  s.qkv = s.attn->qkv.get();
  s.proj = s.attn->proj.get();
  s.fc1 = b.mlp->fc1.get();
  s.fc2 = b.mlp->fc2.get();
  s.dim = s.qkv->in_features();
  s.heads = s.attn->heads;
  s.hidden = s.fc1->out_features();
  s.drop_path = b.drop_path_rate;
  return s;
}

}  // namespace vt::nn
