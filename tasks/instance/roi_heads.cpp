// roi_heads.cpp — multi-level RoIAlign and the box and mask heads (tasks/instance/roi_heads.h).
#include "tasks/instance/roi_heads.h"

#include <cmath>
#include <numeric>

#include "engine/init.h"
#include "tasks/instance/anchors.h"
#include "tasks/instance/detection_loss.h"
#include "tasks/instance/host_tensors.h"
#include "tasks/instance/paste_masks.h"

namespace vt::instance {

namespace {

// log2 of the stride of a map of `size` pixels over an image of `image` pixels, as torchvision
// infers it: the nearest power of two.
int64_t stride_log2(int64_t size, int64_t image) {
  return (int64_t)std::lround(-std::log2((double)size / (double)image));
}

}  // namespace

Tensor multi_scale_roi_align(const std::vector<Tensor>& maps, const std::vector<Tensor>& boxes,
                             int64_t image_h, int64_t image_w, int64_t out, int64_t sampling_ratio,
                             bool aligned, double canonical_scale) {
  if (maps.empty()) throw Error("multi_scale_roi_align: no feature maps");
  std::vector<int64_t> k;  // log2 stride per level
  for (const Tensor& m : maps) {
    const int64_t kh = stride_log2(m.size(2), image_h), kw = stride_log2(m.size(3), image_w);
    if (kh != kw)
      throw Error("multi_scale_roi_align: map " + shape_str(m.shape()) + " has different strides along H and W of a " +
                  std::to_string(image_h) + "×" + std::to_string(image_w) + " image");
    k.push_back(kh);
  }
  // rois (R, 5) = (image, x1, y1, x2, y2), and each one's level
  std::vector<float> roi;
  std::vector<int64_t> level;
  for (size_t b = 0; b < boxes.size(); ++b) {
    Tensor bx = cpu_f32(boxes[b]);
    const float* p = bx.data<float>();
    for (int64_t i = 0; i < bx.size(0); ++i, p += 4) {
      roi.insert(roi.end(), {(float)b, p[0], p[1], p[2], p[3]});
      const float s = std::sqrt((p[2] - p[0]) * (p[3] - p[1]));
      int64_t lv = k.front();
      if (s > 0) lv = (int64_t)std::floor(4.0f + std::log2(s / (float)canonical_scale) + 1e-6f);
      level.push_back(std::clamp(lv, k.front(), k.back()) - k.front());
    }
  }
  const int64_t R = (int64_t)level.size();
  const Tensor& m0 = maps[0];
  Tensor rois = Tensor::from_vector(roi, {R, 5}).to(m0.device()).to(m0.dtype());
  if (maps.size() == 1) return roi_align(m0, rois, {out, out}, std::ldexp(1.0, -(int)k[0]), sampling_ratio, aligned);
  // level by level, then back into roi order
  std::vector<Tensor> pooled;
  std::vector<int64_t> order;
  for (size_t l = 0; l < maps.size(); ++l) {
    std::vector<int64_t> mine;
    for (int64_t r = 0; r < R; ++r)
      if (level[r] == (int64_t)l) mine.push_back(r);
    if (mine.empty()) continue;
    pooled.push_back(roi_align(maps[l], rows(rois, mine), {out, out}, std::ldexp(1.0, -(int)k[l]),
                               sampling_ratio, aligned));
    order.insert(order.end(), mine.begin(), mine.end());
  }
  if (pooled.empty()) return Tensor::zeros({0, m0.size(1), out, out}, m0.dtype(), m0.device());
  std::vector<int64_t> inverse(R);
  for (int64_t i = 0; i < R; ++i) inverse[order[i]] = i;
  return index_select(concat(pooled, 0), 0, i64(inverse, m0.device()));
}

BoxHead::BoxHead(int64_t in, int64_t rep, int64_t K) {
  fc6 = register_module("fc6", std::make_shared<nn::Linear>(in, rep));
  fc7 = register_module("fc7", std::make_shared<nn::Linear>(rep, rep));
  cls_score = register_module("cls_score", std::make_shared<nn::Linear>(rep, K + 1));
  bbox_pred = register_module("bbox_pred", std::make_shared<nn::Linear>(rep, 4 * (K + 1)));
  init::normal_(cls_score->weight, 0.0, 0.01);  // Detectron2's predictor initialisation
  init::normal_(bbox_pred->weight, 0.0, 0.001);
  init::zeros_(cls_score->bias);
  init::zeros_(bbox_pred->bias);
}

std::pair<Tensor, Tensor> BoxHead::forward(const Tensor& pooled) {
  Tensor x = pooled.reshape({pooled.size(0), -1});           // (P, C·7·7)
  x = relu(fc7->forward(relu(fc6->forward(x))));              // (P, rep)
  return {cls_score->forward(x), bbox_pred->forward(x)};      // (P, K+1), (P, 4(K+1))
}

MaskHead::MaskHead(int64_t in, int64_t C, int64_t K) {
  for (int i = 0; i < 4; ++i)
    convs.push_back(register_module("fcn" + std::to_string(i + 1),
                                    std::make_shared<nn::Conv2d>(i ? C : in, C, 3, 1, 1)));
  deconv = register_module("conv5_mask", std::make_shared<nn::ConvTranspose2d>(C, C, 2));
  logits = register_module("logits", std::make_shared<nn::Conv2d>(C, K + 1, 1));
  for (Tensor* w : {&convs[0]->weight, &convs[1]->weight, &convs[2]->weight, &convs[3]->weight,
                    &deconv->weight, &logits->weight})
    init::kaiming_normal_(*w, 0.0, "fan_out", "relu");
  for (Tensor* b : {&convs[0]->bias, &convs[1]->bias, &convs[2]->bias, &convs[3]->bias,
                    &deconv->bias, &logits->bias})
    init::zeros_(*b);
}

Tensor MaskHead::forward(const Tensor& pooled) {
  Tensor x = pooled;                                      // (P, C, 14, 14)
  for (auto& c : convs) x = relu(c->forward(x));
  return logits->forward(relu(deconv->forward(x)));       // (P, K+1, 28, 28)
}

RoiHeads::RoiHeads(const RoiHeadsConfig& c, int64_t channels) : cfg(c) {
  if (cfg.num_classes < 1) throw Error("RoiHeads: needs at least one object class");
  box_head = register_module("box_head", std::make_shared<BoxHead>(channels * cfg.box_pool * cfg.box_pool,
                                                                   cfg.representation, cfg.num_classes));
  mask_head = register_module("mask_head", std::make_shared<MaskHead>(channels, cfg.mask_channels, cfg.num_classes));
}

RoiOutput RoiHeads::forward(const std::vector<Tensor>& maps, const std::vector<Tensor>& proposals,
                            int64_t image_h, int64_t image_w,
                            const std::vector<InstanceTarget>* targets, Generator* gen, bool paste) {
  const int64_t B = (int64_t)proposals.size(), K1 = cfg.num_classes + 1;
  const Device dev = maps.at(0).device();
  RoiOutput out;
  if (targets) {
    if ((int64_t)targets->size() != B)
      throw Error("RoiHeads: " + std::to_string(targets->size()) + " targets for " + std::to_string(B) + " images");
    if (!gen) throw Error("RoiHeads: training needs a generator for the proposal sampling");
    // ---- sample proposals (with the ground-truth boxes added) and their targets
    Matcher matcher{cfg.fg_iou, cfg.bg_iou, false};
    std::vector<Tensor> sampled_boxes, mask_boxes;
    std::vector<int64_t> labels, pos_rows, pos_labels;
    std::vector<float> reg;
    std::vector<Tensor> mask_targets;
    int64_t offset = 0;
    for (int64_t b = 0; b < B; ++b) {
      const InstanceTarget& t = (*targets)[b];
      Tensor gt = t.boxes.defined() ? cpu_f32(t.boxes) : Tensor::zeros({0, 4});
      const int64_t M = gt.size(0);
      std::vector<int64_t> gt_labels = M ? ints(t.labels) : std::vector<int64_t>{};
      Tensor props = concat({cpu_f32(proposals[b]), gt}, 0);
      const int64_t P = props.size(0);
      std::vector<int64_t> match(P, Matcher::kBelow), lab(P, 0);
      if (M) {
        match = matcher(box_iou(gt, props));
        for (int64_t i = 0; i < P; ++i)
          lab[i] = match[i] >= 0 ? gt_labels[match[i]] : match[i] == Matcher::kBelow ? 0 : -1;
      }
      Sampled smp = sample_balanced(lab, cfg.batch_per_image, cfg.positive_fraction, *gen);
      std::vector<int64_t> chosen = smp.positive;  // index order, as torchvision's mask union
      chosen.insert(chosen.end(), smp.negative.begin(), smp.negative.end());
      std::sort(chosen.begin(), chosen.end());
      std::vector<int64_t> pos, pos_gt;
      for (size_t j = 0; j < chosen.size(); ++j) {
        const int64_t i = chosen[j];
        labels.push_back(lab[i]);
        if (lab[i] > 0) {
          pos_rows.push_back(offset + (int64_t)j), pos_labels.push_back(lab[i]);
          pos.push_back(i), pos_gt.push_back(match[i]);
        }
      }
      offset += (int64_t)chosen.size();
      sampled_boxes.push_back(rows(props, chosen));
      mask_boxes.push_back(Tensor::zeros({0, 4}));  // this image's sampled objects, if any
      if (pos.empty()) continue;
      Tensor pos_boxes = rows(props, pos);
      Tensor enc = coder.encode(rows(gt, pos_gt), pos_boxes);
      reg.insert(reg.end(), enc.data<float>(), enc.data<float>() + enc.numel());
      mask_boxes.back() = pos_boxes;
      // the matched objects' masks RoIAligned onto the proposals (unaligned, adaptive sampling)
      if (!t.masks.defined() || t.masks.dim() != 3 || t.masks.size(0) != M)
        throw Error("RoiHeads: image " + std::to_string(b) + " has " + std::to_string(M) +
                    " boxes but masks " + (t.masks.defined() ? shape_str(t.masks.shape()) : std::string("undefined")));
      std::vector<float> r;
      const float* pb = pos_boxes.data<float>();
      for (size_t j = 0; j < pos.size(); ++j)
        r.insert(r.end(), {(float)pos_gt[j], pb[4 * j], pb[4 * j + 1], pb[4 * j + 2], pb[4 * j + 3]});
      NoGrad ng;
      Tensor gm = t.masks.to(Device::cpu()).to(DType::F32).unsqueeze(1);  // (M, 1, H, W)
      const int64_t S = 2 * cfg.mask_pool;
      mask_targets.push_back(roi_align(gm, Tensor::from_vector(r, {(int64_t)pos.size(), 5}), {S, S}, 1.0, -1, false)
                                 .select(1, 0));
    }
    // ---- box losses
    Tensor pooled = multi_scale_roi_align(maps, sampled_boxes, image_h, image_w, cfg.box_pool,
                                          cfg.sampling_ratio, cfg.aligned, cfg.canonical_scale);
    auto [logits, deltas] = box_head->forward(pooled);  // (N, K+1), (N, 4(K+1))
    const int64_t N = logits.size(0);
    out.loss_classifier = cross_entropy(logits, i64(labels, dev));
    std::vector<int64_t> sel;
    for (size_t j = 0; j < pos_rows.size(); ++j) sel.push_back(pos_rows[j] * K1 + pos_labels[j]);
    Tensor d = index_select(deltas.reshape({N * K1, 4}), 0, i64(sel, dev));
    Tensor target = Tensor::from_vector(reg, {(int64_t)sel.size(), 4}).to(dev).to(d.dtype());
    out.loss_box = smooth_l1_sum(d, target, 1.0 / 9.0) / (double)std::max<int64_t>(N, 1);
    // ---- mask loss, over the sampled objects
    if (pos_rows.empty()) {  // no object sampled: no mask loss (a constant, as torchvision's 0·Σ)
      out.loss_mask = Tensor::scalar(0.0, logits.dtype(), dev);
      return out;
    }
    Tensor mask_logits = mask_head->forward(multi_scale_roi_align(
        maps, mask_boxes, image_h, image_w, cfg.mask_pool, cfg.sampling_ratio, cfg.aligned, cfg.canonical_scale));
    const int64_t P = mask_logits.size(0), S = mask_logits.size(2);
    std::vector<int64_t> msel;
    for (int64_t j = 0; j < P; ++j) msel.push_back(j * K1 + pos_labels[j]);
    Tensor ml = index_select(mask_logits.reshape({P * K1, S, S}), 0, i64(msel, dev));
    out.loss_mask = bce_with_logits_mean(ml, concat(mask_targets, 0).to(dev).to(ml.dtype()));
    return out;
  }

  // ---- inference
  Tensor pooled = multi_scale_roi_align(maps, proposals, image_h, image_w, cfg.box_pool,
                                        cfg.sampling_ratio, cfg.aligned, cfg.canonical_scale);
  auto [logits_d, deltas_d] = box_head->forward(pooled);
  Tensor scores_all = cpu_f32(softmax(logits_d, -1)), deltas_all = cpu_f32(deltas_d);
  std::vector<Tensor> det_boxes;
  int64_t offset = 0;
  for (int64_t b = 0; b < B; ++b) {
    Tensor props = cpu_f32(proposals[b]);
    const int64_t P = props.size(0);
    Tensor boxes = clip_boxes(coder.decode(deltas_all.narrow(0, offset, P), props).reshape({P * K1, 4}),
                              image_h, image_w);
    const float* sc = scores_all.data<float>() + offset * K1;
    offset += P;
    std::vector<int64_t> cand, lab;
    std::vector<float> score;
    for (int64_t i = 0; i < P; ++i)
      for (int64_t c = 1; c < K1; ++c)
        if (sc[i * K1 + c] > cfg.score_threshold) cand.push_back(i * K1 + c);
    Tensor cb = rows(boxes, cand);
    std::vector<int64_t> big = ints(remove_small_boxes(cb, 1e-2)), keep_c;
    for (int64_t j : big) keep_c.push_back(cand[j]), score.push_back(sc[cand[j]]), lab.push_back(cand[j] % K1);
    Tensor kb = rows(boxes, keep_c);
    std::vector<int64_t> keep = ints(batched_nms(kb, Tensor::from_vector(score, {(int64_t)score.size()}),
                                                 i64(lab), cfg.nms_threshold));
    if ((int64_t)keep.size() > cfg.detections_per_image) keep.resize(cfg.detections_per_image);
    Detections det;
    det.boxes = rows(kb, keep);
    std::vector<float> ks;
    std::vector<int64_t> kl;
    for (int64_t j : keep) ks.push_back(score[j]), kl.push_back(lab[j]);
    det.scores = Tensor::from_vector(ks, {(int64_t)ks.size()});
    det.labels = i64(kl);
    det_boxes.push_back(det.boxes);
    out.detections.push_back(det);
  }
  // masks of the detections: σ(logits of the detected class), pasted into the image
  int64_t total = 0;
  for (auto& det : out.detections) total += det.boxes.size(0);
  if (total == 0) {
    for (auto& det : out.detections) {
      det.mask_probs = Tensor::zeros({0, 2 * cfg.mask_pool, 2 * cfg.mask_pool});
      if (paste) det.masks = Tensor::zeros({0, image_h, image_w});
    }
    return out;
  }
  Tensor mask_logits = mask_head->forward(multi_scale_roi_align(
      maps, det_boxes, image_h, image_w, cfg.mask_pool, cfg.sampling_ratio, cfg.aligned, cfg.canonical_scale));
  Tensor probs = cpu_f32(sigmoid(mask_logits));  // (D, K+1, 28, 28)
  int64_t d0 = 0;
  for (auto& det : out.detections) {
    const int64_t D = det.boxes.size(0), S = probs.size(2);
    std::vector<int64_t> sel;
    std::vector<int64_t> kl = ints(det.labels);
    for (int64_t j = 0; j < D; ++j) sel.push_back((d0 + j) * K1 + kl[j]);
    det.mask_probs = rows(probs.reshape({-1, S, S}), sel);
    if (paste) det.masks = paste_masks(det.mask_probs, det.boxes, image_h, image_w);
    d0 += D;
  }
  return out;
}

}  // namespace vt::instance
