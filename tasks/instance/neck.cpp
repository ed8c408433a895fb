// neck.cpp — FPN and the five-level pyramid for Mask R-CNN (tasks/instance/neck.h).
#include "tasks/instance/neck.h"

#include <algorithm>
#include <cmath>

#include "engine/init.h"

namespace vt::instance {

namespace {
Tensor index_range(int64_t n, int64_t in, int64_t step, Device dev) {  // floor(i · in / n) or i · step
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = step ? i * step : std::min(in - 1, (int64_t)std::floor((float)i * ((float)in / (float)n)));
  return Tensor::from_vector(v, {n}).to(dev);
}
// x[:, :, ::2, ::2]
Tensor subsample2(const Tensor& x) {
  const int64_t h = (x.size(2) + 1) / 2, w = (x.size(3) + 1) / 2;
  return index_select(index_select(x, 2, index_range(h, 0, 2, x.device())), 3,
                      index_range(w, 0, 2, x.device()));
}
}  // namespace

Tensor upsample_nearest(const Tensor& x, int64_t H, int64_t W) {
  if (x.size(2) == H && x.size(3) == W) return x;
  Tensor y = index_select(x, 2, index_range(H, x.size(2), 0, x.device()));
  return index_select(y, 3, index_range(W, x.size(3), 0, x.device()));
}

FeaturePyramid::FeaturePyramid(const std::vector<int64_t>& in, int64_t C) {
  for (size_t i = 0; i < in.size(); ++i) {
    inner.push_back(register_module("inner" + std::to_string(i), std::make_shared<nn::Conv2d>(in[i], C, 1)));
    layer.push_back(register_module("layer" + std::to_string(i), std::make_shared<nn::Conv2d>(C, C, 3, 1, 1)));
  }
  for (auto& v : {inner, layer})
    for (auto& c : v) {
      init::kaiming_uniform_(c->weight, 1.0);  // torchvision's FPN initialisation
      init::zeros_(c->bias);
    }
}

std::vector<Tensor> FeaturePyramid::forward(const std::vector<Tensor>& maps) {
  if (maps.size() != inner.size())
    throw Error("FeaturePyramid: " + std::to_string(maps.size()) + " maps for " + std::to_string(inner.size()) + " levels");
  const int64_t L = (int64_t)maps.size();
  std::vector<Tensor> out(L);
  Tensor last = inner[L - 1]->forward(maps[L - 1]);  // (B, C, h, w), coarsest
  out[L - 1] = layer[L - 1]->forward(last);
  for (int64_t i = L - 2; i >= 0; --i) {
    Tensor lateral = inner[i]->forward(maps[i]);
    last = lateral + upsample_nearest(last, lateral.size(2), lateral.size(3));
    out[i] = layer[i]->forward(last);
  }
  return out;
}

InstanceNeck::InstanceNeck(const std::vector<int64_t>& ch, int64_t C) {
  if (ch.size() == 1) sfp = register_module("sfp", std::make_shared<dense::SimpleFeaturePyramid>(ch[0], C));
  else if (ch.size() == 4) fpn = register_module("fpn", std::make_shared<FeaturePyramid>(ch, C));
  else throw Error("InstanceNeck: expected one (plain ViT) or four (hierarchical) backbone maps, got " +
                   std::to_string(ch.size()));
}

std::vector<Tensor> InstanceNeck::forward(const std::vector<Tensor>& maps) {
  std::vector<Tensor> p = sfp ? sfp->forward(maps.at(0)) : fpn->forward(maps);  // P2..P5
  p.push_back(subsample2(p.back()));                                             // P6
  return p;
}

}  // namespace vt::instance
