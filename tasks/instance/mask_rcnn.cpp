// mask_rcnn.cpp — the detector module, its config and its attachment (tasks/instance/mask_rcnn.h).
#include "tasks/instance/mask_rcnn.h"

#include <algorithm>
#include <cmath>

#include "nn/config_util.h"

namespace vt::instance {

namespace {
constexpr const char* kKind = "Mask R-CNN";

std::vector<double> numbers(const nlohmann::json& v, const std::string& key) {
  if (!v.is_array() || v.empty() || v.size() > 16)
    throw Error(std::string(kKind) + " config: key '" + key + "' must be a list of 1 to 16 numbers, got " + v.dump());
  std::vector<double> out;
  for (const auto& e : v) {
    const double x = nn::config_number(e, kKind, key + "[]");
    if (!(x > 0 && x < 1e5)) throw Error(std::string(kKind) + " config: '" + key + "' values must be in (0, 1e5), got " + e.dump());
    out.push_back(x);
  }
  return out;
}
}  // namespace

nlohmann::json MaskRcnnConfig::to_json() const {
  return {{"task", "instance"}, {"num_classes", num_classes}, {"channels", channels},
          {"anchor_sizes", rpn.anchor_sizes}, {"aspect_ratios", rpn.aspect_ratios},
          {"rpn_pre_nms_top_n", {rpn.pre_nms_top_n_train, rpn.pre_nms_top_n_test}},
          {"rpn_post_nms_top_n", {rpn.post_nms_top_n_train, rpn.post_nms_top_n_test}},
          {"rpn_batch_per_image", rpn.batch_per_image}, {"roi_batch_per_image", roi.batch_per_image},
          {"representation", roi.representation}, {"mask_channels", roi.mask_channels},
          {"canonical_box_size", roi.canonical_scale}, {"score_threshold", roi.score_threshold}, {"detections_per_image", roi.detections_per_image}};
}

MaskRcnnConfig MaskRcnnConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error(std::string(kKind) + " config must be a JSON object, got " + j.dump());
  MaskRcnnConfig c;
  nn::ConfigCheck check{kKind};
  if (j.contains("task") && j["task"] != "instance")
    check.fail("task must be \"instance\", got " + j["task"].dump());
  auto integer = [&](const char* key, int64_t& dst, int64_t lo, int64_t hi) {
    if (!j.contains(key)) return;
    dst = nn::config_int(j[key], kKind, key);
    check.range(key, dst, lo, hi);
  };
  auto pair = [&](const char* key, int64_t& train, int64_t& test) {
    if (!j.contains(key)) return;
    std::vector<int64_t> v = nn::config_ints(j[key], kKind, key);
    if (v.size() != 2) check.fail(std::string(key) + " must be [train, test]");
    train = v[0], test = v[1];
    check.range(key, train, 1, 100000);
    check.range(key, test, 1, 100000);
  };
  integer("num_classes", c.num_classes, 1, 10000);
  integer("channels", c.channels, 1, 4096);
  integer("rpn_batch_per_image", c.rpn.batch_per_image, 1, 100000);
  integer("roi_batch_per_image", c.roi.batch_per_image, 1, 100000);
  integer("representation", c.roi.representation, 1, 16384);
  integer("mask_channels", c.roi.mask_channels, 1, 4096);
  integer("detections_per_image", c.roi.detections_per_image, 1, 10000);
  pair("rpn_pre_nms_top_n", c.rpn.pre_nms_top_n_train, c.rpn.pre_nms_top_n_test);
  pair("rpn_post_nms_top_n", c.rpn.post_nms_top_n_train, c.rpn.post_nms_top_n_test);
  if (j.contains("anchor_sizes")) {
    const auto& v = j["anchor_sizes"];
    if (!v.is_array() || v.size() != 5)
      check.fail("anchor_sizes must be five lists of sizes (P2..P6), got " + v.dump());
    c.rpn.anchor_sizes.clear();
    for (const auto& level : v) c.rpn.anchor_sizes.push_back(numbers(level, "anchor_sizes"));
  }
  if (j.contains("aspect_ratios")) c.rpn.aspect_ratios = numbers(j["aspect_ratios"], "aspect_ratios");
  if (j.contains("canonical_box_size")) {
    c.roi.canonical_scale = nn::config_number(j["canonical_box_size"], kKind, "canonical_box_size");
    if (!(c.roi.canonical_scale >= 1 && c.roi.canonical_scale <= 4096)) check.fail("canonical_box_size must be in [1, 4096]");
  }
  if (j.contains("score_threshold")) {
    c.roi.score_threshold = nn::config_number(j["score_threshold"], kKind, "score_threshold");
    if (!(c.roi.score_threshold >= 0 && c.roi.score_threshold < 1)) check.fail("score_threshold must be in [0, 1)");
  }
  for (size_t l = 1; l < c.rpn.anchor_sizes.size(); ++l)
    if (c.rpn.anchor_sizes[l].size() != c.rpn.anchor_sizes[0].size())
      check.fail("every level needs as many anchor sizes (the RPN head is shared)");
  return c;
}

MaskRcnnConfig MaskRcnnConfig::for_input(int64_t size, int64_t num_classes, int64_t channels) {
  MaskRcnnConfig c;
  c.num_classes = num_classes, c.channels = channels;
  c.roi.representation = 4 * channels, c.roi.mask_channels = channels;  // 1024 and 256 at 256
  const double s = std::max(8.0, (double)size / 32.0);
  c.rpn.anchor_sizes.clear();
  for (int l = 0; l < 5; ++l) c.rpn.anchor_sizes.push_back({s * (1 << l)});
  return c;
}

Tensor MaskRcnnLosses::total() const { return rpn_objectness + rpn_box + classifier + box + mask; }

MaskRcnn::MaskRcnn(const MaskRcnnConfig& c, const std::vector<int64_t>& feature_channels) : cfg(c) {
  cfg.roi.num_classes = cfg.num_classes;
  neck = register_module("neck", std::make_shared<InstanceNeck>(feature_channels, cfg.channels));
  rpn = register_module("rpn", std::make_shared<RegionProposalNetwork>(cfg.rpn, cfg.channels));
  roi_heads = register_module("roi_heads", std::make_shared<RoiHeads>(cfg.roi, cfg.channels));
}

MaskRcnnLosses MaskRcnn::losses(const std::vector<Tensor>& maps, int64_t image_h, int64_t image_w,
                                const std::vector<InstanceTarget>& targets, Generator& gen) {
  std::vector<Tensor> p = neck->forward(maps);
  RpnOutput r = rpn->forward(p, image_h, image_w, &targets, &gen);
  p.pop_back();  // the heads pool from P2..P5, as torchvision's MultiScaleRoIAlign
  RoiOutput h = roi_heads->forward(p, r.proposals, image_h, image_w, &targets, &gen);
  return {r.loss_objectness, r.loss_box, h.loss_classifier, h.loss_box, h.loss_mask};
}

std::vector<Detections> MaskRcnn::detect(const std::vector<Tensor>& maps, int64_t image_h, int64_t image_w,
                                         bool paste) {
  std::vector<Tensor> p = neck->forward(maps);
  RpnOutput r = rpn->forward(p, image_h, image_w, nullptr, nullptr);
  p.pop_back();
  return roi_heads->forward(p, r.proposals, image_h, image_w, nullptr, nullptr, paste).detections;
}

std::shared_ptr<MaskRcnn> attach_mask_rcnn(nn::ImageModel& backbone, const MaskRcnnConfig& cfg) {
  auto det = std::make_shared<MaskRcnn>(cfg, backbone.feature_map_channels());
  backbone.attach("decode_head", det);
  return det;
}

}  // namespace vt::instance
