// test_mask_rcnn.cpp — Mask R-CNN's parts against torchvision 0.14 with the same weights
// (tests/reference/mask_rcnn.py -> tests/fixtures/mask_rcnn.safetensors): the feature pyramid,
// the region proposal network and the RoI heads, their losses, every gradient, and inference.
#include "tasks/instance/mask_rcnn.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;
using namespace vt::instance;

namespace {

void load(nn::Module& m, const Fixture& fx, const std::string& prefix) {
  nn::StateDict sd;
  for (auto& [k, t] : fx.file.tensors)
    if (k.rfind(prefix, 0) == 0) sd[k.substr(prefix.size())] = t;
  m.load_state_dict(sd, /*strict=*/true);
}

std::vector<Tensor> maps(const Fixture& fx, int n, bool grad) {
  std::vector<Tensor> out;
  for (int l = 0; l < n; ++l) {
    Tensor m = fx.get("map." + std::to_string(l)).clone();
    out.push_back(grad ? m.set_requires_grad(true) : m);
  }
  return out;
}

std::vector<InstanceTarget> targets(const Fixture& fx) {
  std::vector<InstanceTarget> out;
  for (int b = 0; b < 2; ++b) {
    const std::string p = "target." + std::to_string(b) + ".";
    out.push_back({fx.get(p + "boxes"), fx.get(p + "labels"), fx.get(p + "masks")});
  }
  return out;
}

void check_grads(nn::Module& m, const Fixture& fx, const std::string& prefix, double rtol, double atol) {
  int n = 0;
  for (auto& [k, t] : m.named_parameters()) {
    INFO(prefix << k);
    REQUIRE(t.grad().defined());
    require_close(t.grad(), fx.get(prefix + k), rtol, atol, prefix + k);
    ++n;
  }
  REQUIRE(n >= 6);
}

RpnConfig rpn_config() {
  RpnConfig c;
  c.anchor_sizes = {{8}, {16}, {32}, {64}, {128}};
  c.pre_nms_top_n_train = 60, c.pre_nms_top_n_test = 40;
  c.post_nms_top_n_train = 50, c.post_nms_top_n_test = 30;
  c.batch_per_image = 100000;  // every candidate taken: no random draws to match
  return c;
}

RoiHeadsConfig roi_config() {
  RoiHeadsConfig c;
  c.num_classes = 3, c.representation = 32, c.mask_channels = 16, c.batch_per_image = 100000;
  c.canonical_scale = 16;  // boxes of a 64×64 image pool from every level
  return c;
}

}  // namespace

TEST_CASE("feature pyramid matches torchvision's FPN with P6", "[instance][mask_rcnn][torch]") {
  Fixture fx("mask_rcnn.safetensors");
  FeaturePyramid fpn({4, 6, 8, 10}, 8);
  load(fpn, fx, "fpn.param.");
  std::vector<Tensor> in;
  for (int i = 0; i < 4; ++i) in.push_back(fx.get("fpn.in." + std::to_string(i)).clone().set_requires_grad(true));
  std::vector<Tensor> out = fpn.forward(in);
  // P6 as InstanceNeck makes it: the coarsest level subsampled by 2
  InstanceNeck neck({4, 6, 8, 10}, 8);
  load(*neck.fpn, fx, "fpn.param.");
  std::vector<Tensor> p = neck.forward(in);
  REQUIRE(p.size() == 5);
  Tensor loss = Tensor::scalar(0.0);
  for (int l = 0; l < 5; ++l) {
    require_close(p[l], fx.get("fpn.out." + std::to_string(l)), 1e-5, 1e-5, "P" + std::to_string(l + 2));
    loss = loss + sum(p[l] * fx.get("fpn.G." + std::to_string(l)));
  }
  for (int l = 0; l < 4; ++l) require_close(out[l], p[l], 0, 0, "FeaturePyramid = InstanceNeck's P2..P5");
  loss.backward();
  for (int i = 0; i < 4; ++i)
    require_close(in[i].grad(), fx.get("fpn.grad.in." + std::to_string(i)), 1e-4, 1e-5, "d/d input " + std::to_string(i));
  for (auto& [k, t] : neck.fpn->named_parameters())
    require_close(t.grad(), fx.get("fpn.grad." + k), 1e-4, 1e-4, "d/d " + k);
}

TEST_CASE("region proposal network matches torchvision", "[instance][mask_rcnn][torch]") {
  Fixture fx("mask_rcnn.safetensors");
  RegionProposalNetwork rpn(rpn_config(), 8);
  load(rpn, fx, "rpn.param.");
  std::vector<Tensor> m = maps(fx, 5, true);
  auto tg = targets(fx);
  Generator gen(0);
  rpn.train();
  RpnOutput out = rpn.forward(m, 64, 64, &tg, &gen);
  for (int b = 0; b < 2; ++b)
    require_close(out.proposals[b], fx.get("rpn.proposals." + std::to_string(b)), 1e-5, 1e-4,
                  "training proposals of image " + std::to_string(b));
  require_close(out.loss_objectness, fx.get("rpn.loss_objectness"), 1e-5, 1e-6, "objectness loss");
  require_close(out.loss_box, fx.get("rpn.loss_box"), 1e-4, 1e-6, "RPN box loss");
  (out.loss_objectness + out.loss_box).backward();
  for (int l = 0; l < 5; ++l)
    require_close(m[l].grad(), fx.get("rpn.grad.map." + std::to_string(l)), 1e-4, 1e-6, "d/d P" + std::to_string(l + 2));
  check_grads(rpn, fx, "rpn.grad.", 1e-4, 1e-6);
  rpn.eval();
  NoGrad ng;
  RpnOutput ev = rpn.forward(maps(fx, 5, false), 64, 64, nullptr, nullptr);
  for (int b = 0; b < 2; ++b)
    require_close(ev.proposals[b], fx.get("rpn.eval_proposals." + std::to_string(b)), 1e-5, 1e-4,
                  "inference proposals of image " + std::to_string(b));
}

TEST_CASE("RoI heads (box and mask) match torchvision", "[instance][mask_rcnn][torch]") {
  Fixture fx("mask_rcnn.safetensors");
  RoiHeads roi(roi_config(), 8);
  load(roi, fx, "roi.param.");
  std::vector<Tensor> m = maps(fx, 4, true);
  auto tg = targets(fx);
  Generator gen(0);
  roi.train();
  std::vector<Tensor> props{fx.get("rpn.proposals.0"), fx.get("rpn.proposals.1")};
  RoiOutput out = roi.forward(m, props, 64, 64, &tg, &gen);
  require_close(out.loss_classifier, fx.get("roi.loss_classifier"), 1e-5, 1e-6, "classifier loss");
  require_close(out.loss_box, fx.get("roi.loss_box"), 1e-4, 1e-6, "box loss");
  require_close(out.loss_mask, fx.get("roi.loss_mask"), 1e-5, 1e-6, "mask loss");
  (out.loss_classifier + out.loss_box + out.loss_mask).backward();
  for (int l = 0; l < 4; ++l)
    require_close(m[l].grad(), fx.get("roi.grad.map." + std::to_string(l)), 1e-4, 1e-6, "d/d P" + std::to_string(l + 2));
  check_grads(roi, fx, "roi.grad.", 1e-4, 1e-6);

  roi.eval();
  NoGrad ng;
  std::vector<Tensor> eval_props{fx.get("rpn.eval_proposals.0"), fx.get("rpn.eval_proposals.1")};
  RoiOutput ev = roi.forward(maps(fx, 4, false), eval_props, 64, 64, nullptr, nullptr);
  REQUIRE(ev.detections.size() == 2);
  for (int b = 0; b < 2; ++b) {
    const std::string p = "det." + std::to_string(b) + ".";
    const Detections& d = ev.detections[b];
    REQUIRE(d.labels.to_vector() == fx.get(p + "labels").to_vector());
    require_close(d.scores, fx.get(p + "scores"), 1e-5, 1e-6, p + "scores");
    require_close(d.boxes, fx.get(p + "boxes"), 1e-5, 1e-4, p + "boxes");
    require_close(d.masks, fx.get(p + "masks"), 1e-4, 1e-5, p + "masks");
  }
}
