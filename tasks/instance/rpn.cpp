// rpn.cpp — the region proposal network (tasks/instance/rpn.h has the equations).
#include "tasks/instance/rpn.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/init.h"
#include "tasks/instance/detection_loss.h"
#include "tasks/instance/host_tensors.h"

namespace vt::instance {

RpnHead::RpnHead(int64_t C, int64_t A) {
  conv = register_module("conv", std::make_shared<nn::Conv2d>(C, C, 3, 1, 1));
  cls_logits = register_module("cls_logits", std::make_shared<nn::Conv2d>(C, A, 1));
  bbox_pred = register_module("bbox_pred", std::make_shared<nn::Conv2d>(C, 4 * A, 1));
  for (auto* c : {conv.get(), cls_logits.get(), bbox_pred.get()}) {
    init::normal_(c->weight, 0.0, 0.01);
    init::zeros_(c->bias);
  }
}

std::pair<std::vector<Tensor>, std::vector<Tensor>> RpnHead::forward(const std::vector<Tensor>& maps) {
  std::vector<Tensor> objectness, deltas;
  for (const Tensor& p : maps) {
    Tensor t = relu(conv->forward(p));             // (B, C, H, W)
    objectness.push_back(cls_logits->forward(t));  // (B, A, H, W)
    deltas.push_back(bbox_pred->forward(t));       // (B, 4A, H, W)
  }
  return {objectness, deltas};
}

RegionProposalNetwork::RegionProposalNetwork(const RpnConfig& c, int64_t channels) : cfg(c) {
  anchor_gen.sizes = cfg.anchor_sizes;
  anchor_gen.aspect_ratios = cfg.aspect_ratios;
  for (size_t l = 1; l < cfg.anchor_sizes.size(); ++l)
    if (anchor_gen.per_location(l) != anchor_gen.per_location(0))
      throw Error("RPN: every pyramid level needs as many anchors per location (the head is shared)");
  head = register_module("head", std::make_shared<RpnHead>(channels, anchor_gen.per_location(0)));
}

RpnOutput RegionProposalNetwork::forward(const std::vector<Tensor>& maps, int64_t image_h,
                                         int64_t image_w, const std::vector<InstanceTarget>* targets,
                                         Generator* gen) {
  if (maps.size() != cfg.anchor_sizes.size())
    throw Error("RPN: " + std::to_string(maps.size()) + " feature maps for " +
                std::to_string(cfg.anchor_sizes.size()) + " anchor levels");
  auto [obj_maps, delta_maps] = head->forward(maps);
  const int64_t B = maps[0].size(0), A = anchor_gen.per_location(0);
  // Level by level, position-major then anchor, as the anchors: (B, T) and (B, T, 4).
  std::vector<Tensor> obj_flat, delta_flat;
  std::vector<int64_t> per_level;
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (size_t l = 0; l < maps.size(); ++l) {
    const int64_t H = maps[l].size(2), W = maps[l].size(3);
    obj_flat.push_back(obj_maps[l].permute({0, 2, 3, 1}).reshape({B, H * W * A}));
    delta_flat.push_back(delta_maps[l].reshape({B, A, 4, H, W}).permute({0, 3, 4, 1, 2}).reshape({B, H * W * A, 4}));
    per_level.push_back(H * W * A);
    sizes.push_back({H, W});
  }
  Tensor objectness = concat(obj_flat, 1), deltas = concat(delta_flat, 1);  // (B, T), (B, T, 4)
  const int64_t T = objectness.size(1);
  Tensor anchors = anchor_gen.anchors(sizes, image_h, image_w);  // (T, 4) F32, CPU
  Tensor obj_cpu = cpu_f32(objectness), delta_cpu = cpu_f32(deltas);

  RpnOutput out;
  const bool train = training();
  const int64_t pre_n = train ? cfg.pre_nms_top_n_train : cfg.pre_nms_top_n_test;
  const int64_t post_n = train ? cfg.post_nms_top_n_train : cfg.post_nms_top_n_test;
  for (int64_t b = 0; b < B; ++b) {
    const float* s = obj_cpu.data<float>() + b * T;
    // the pre_n most object-like anchors of each level, each level by decreasing objectness
    std::vector<int64_t> chosen, level;
    int64_t offset = 0;
    for (size_t l = 0; l < per_level.size(); ++l) {
      std::vector<int64_t> idx(per_level[l]);
      std::iota(idx.begin(), idx.end(), offset);
      const int64_t k = std::min(pre_n, per_level[l]);
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t c) {
        const float ka = score_key(s[a]), kc = score_key(s[c]);
        return ka > kc || (ka == kc && a < c);
      });
      for (int64_t i = 0; i < k; ++i) chosen.push_back(idx[i]), level.push_back((int64_t)l);
      offset += per_level[l];
    }
    Tensor boxes = coder.decode(rows(delta_cpu.select(0, b), chosen), rows(anchors, chosen)).reshape({-1, 4});
    boxes = clip_boxes(boxes, image_h, image_w);
    // drop tiny boxes and those under the score threshold; NMS within each level
    std::vector<int64_t> keep, lvl;
    std::vector<float> score;
    for (int64_t i : ints(remove_small_boxes(boxes, cfg.min_size))) {
      const float p = (float)(1.0 / (1.0 + std::exp(-(double)s[chosen[i]])));
      if (p < cfg.score_threshold) continue;
      keep.push_back(i), score.push_back(p), lvl.push_back(level[i]);
    }
    Tensor kept = rows(boxes, keep);
    std::vector<int64_t> nms_keep = ints(batched_nms(kept, Tensor::from_vector(score, {(int64_t)score.size()}),
                                                     i64(lvl, Device::cpu()), cfg.nms_threshold));
    if ((int64_t)nms_keep.size() > post_n) nms_keep.resize(post_n);
    out.proposals.push_back(rows(kept, nms_keep));
  }
  if (!targets) return out;

  // ---- losses: match, sample, score the sampled anchors
  if ((int64_t)targets->size() != B)
    throw Error("RPN: " + std::to_string(targets->size()) + " targets for a batch of " + std::to_string(B));
  if (!gen) throw Error("RPN: training needs a generator for the anchor sampling");
  Matcher matcher{cfg.fg_iou, cfg.bg_iou, true};
  std::vector<int64_t> pos_idx, neg_idx;  // into the flattened (B·T)
  std::vector<float> reg_targets;          // 4 per positive, in pos_idx order
  for (int64_t b = 0; b < B; ++b) {
    const InstanceTarget& t = (*targets)[b];
    std::vector<int64_t> labels(T, 0), match;
    Tensor gt = t.boxes.defined() ? cpu_f32(t.boxes) : Tensor::zeros({0, 4});
    if (gt.size(0) > 0) {
      match = matcher(box_iou(gt, anchors));
      for (int64_t i = 0; i < T; ++i)
        labels[i] = match[i] >= 0 ? 1 : match[i] == Matcher::kBelow ? 0 : -1;
    }
    Sampled smp = sample_balanced(labels, cfg.batch_per_image, cfg.positive_fraction, *gen);
    if (!smp.positive.empty()) {
      std::vector<int64_t> gt_rows;
      for (int64_t i : smp.positive) gt_rows.push_back(match[i]);
      Tensor enc = coder.encode(rows(gt, gt_rows), rows(anchors, smp.positive));
      const float* e = enc.data<float>();
      reg_targets.insert(reg_targets.end(), e, e + enc.numel());
    }
    for (int64_t i : smp.positive) pos_idx.push_back(b * T + i);
    for (int64_t i : smp.negative) neg_idx.push_back(b * T + i);
  }
  const Device dev = objectness.device();
  std::vector<int64_t> sampled = pos_idx;
  sampled.insert(sampled.end(), neg_idx.begin(), neg_idx.end());
  std::vector<float> sampled_labels(pos_idx.size(), 1.0f);
  sampled_labels.resize(sampled.size(), 0.0f);
  Tensor obj_s = index_select(objectness.reshape({B * T}), 0, i64(sampled, dev));
  out.loss_objectness = bce_with_logits_mean(
      obj_s, Tensor::from_vector(sampled_labels, {(int64_t)sampled.size()}).to(dev).to(obj_s.dtype()));
  Tensor delta_s = index_select(deltas.reshape({B * T, 4}), 0, i64(pos_idx, dev));
  Tensor target_s = Tensor::from_vector(reg_targets, {(int64_t)pos_idx.size(), 4}).to(dev).to(delta_s.dtype());
  out.loss_box = smooth_l1_sum(delta_s, target_s, 1.0 / 9.0) / (double)std::max<size_t>(sampled.size(), 1);
  return out;
}

}  // namespace vt::instance
