// test_instance.cpp — instance segmentation above the detector's parts: the synthetic scenes'
// objects, COCO AP of known detections through the metric, the detector's config, the
// pictures, and a detector that learns on a few scenes.
#include <algorithm>
#include <cmath>
#include <set>

#include "engine/optim.h"
#include "engine/random.h"
#include "nn/swin.h"
#include "nn/vit.h"
#include "peft/method.h"
#include "tasks/instance/draw_instances.h"
#include "tasks/instance/instance_dataset.h"
#include "tasks/instance/instance_model.h"
#include "tasks/instance/instance_transforms.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;
using namespace vt::instance;

TEST_CASE("synthetic scenes as objects: visible masks, tight boxes, occlusion", "[instance]") {
  data::SceneOptions o;
  auto d = synthetic_instances(6, o, 3);
  REQUIRE(d->num_classes() == 5);
  REQUIRE(d->class_names() == std::vector<std::string>{"disc", "square", "triangle", "ring", "cross"});
  int64_t objects = 0;
  for (int64_t i = 0; i < d->size(); ++i) {
    const data::Instances in = d->get(i).instances;
    const int64_t M = in.size(), S = o.size;
    REQUIRE(in.masks.shape() == Shape{M, S, S});
    std::vector<int> owner(S * S, 0);
    for (int64_t k = 0; k < M; ++k) {
      const uint8_t* m = in.masks.data<uint8_t>() + k * S * S;
      int64_t n = 0, x0 = S, y0 = S, x1 = -1, y1 = -1;
      for (int64_t p = 0; p < S * S; ++p)
        if (m[p]) {
          ++n, ++owner[p];
          x0 = std::min(x0, p % S), x1 = std::max(x1, p % S), y0 = std::min(y0, p / S), y1 = std::max(y1, p / S);
        }
      REQUIRE(n >= 16);
      REQUIRE(in.area.data<float>()[k] == (float)n);
      const float* b = in.boxes.data<float>() + 4 * k;
      REQUIRE(std::vector<float>(b, b + 4) == std::vector<float>{(float)x0, (float)y0, (float)x1 + 1, (float)y1 + 1});
      const int64_t label = in.labels.data<int64_t>()[k];
      REQUIRE((label >= 1 && label <= 5));
    }
    for (int c : owner) REQUIRE(c <= 1);  // a pixel shows at most one object
    objects += M;
    // the same scene again: the same objects
    REQUIRE(d->get(i).instances.boxes.to_vector() == in.boxes.to_vector());
  }
  REQUIRE(objects >= 6);
}

TEST_CASE("instance metric: the truth as detections scores 100, nothing scores 0", "[instance]") {
  auto d = synthetic_instances(4, data::SceneOptions{}, 9);
  InstanceMetric perfect(5), empty(5);
  for (int64_t i = 0; i < d->size(); ++i) {
    const data::Instances in = d->get(i).instances;
    Detections det;
    det.boxes = in.boxes, det.labels = in.labels;
    det.scores = Tensor::ones({in.size()});
    det.masks = in.masks.to(DType::F32);
    perfect.add_detections({det}, {in});
    Detections none;
    none.boxes = Tensor::zeros({0, 4}), none.labels = Tensor::zeros({0}, DType::I64);
    none.scores = Tensor::zeros({0}), none.masks = Tensor::zeros({0, 64, 64});
    empty.add_detections({none}, {in});
  }
  const nlohmann::json p = perfect.result(), e = empty.result();
  for (const char* k : {"mask_AP", "mask_AP50", "mask_AP75", "box_AP", "box_AP50", "box_AR100"}) {
    INFO(k);
    CHECK(p[k].get<double>() == Approx(100.0));
    CHECK(e[k].get<double>() == 0.0);
  }
  CHECK(p["images"] == 4);
}

TEST_CASE("detector config: JSON round trip, input scaling, errors", "[instance]") {
  MaskRcnnConfig c = MaskRcnnConfig::for_input(64, 5, 32);
  CHECK(c.rpn.anchor_sizes == std::vector<std::vector<double>>{{8}, {16}, {32}, {64}, {128}});
  CHECK(c.roi.canonical_scale == 224);
  CHECK(c.roi.representation == 128);
  CHECK(c.roi.mask_channels == 32);
  CHECK(MaskRcnnConfig::for_input(1024, 80).rpn.anchor_sizes.back() == std::vector<double>{512});
  const nlohmann::json j = c.to_json();
  CHECK(j.at("task") == "instance");
  CHECK(MaskRcnnConfig::from_json(j).to_json() == j);
  CHECK_THROWS_WITH(MaskRcnnConfig::from_json({{"num_classes", 0}}), Catch::Contains("num_classes"));
  CHECK_THROWS_WITH(MaskRcnnConfig::from_json({{"num_classes", 2.5}}), Catch::Contains("integer"));
  CHECK_THROWS_WITH(MaskRcnnConfig::from_json({{"task", "depth"}}), Catch::Contains("instance"));
  CHECK_THROWS_WITH(MaskRcnnConfig::from_json({{"anchor_sizes", {{8}, {16}}}}), Catch::Contains("five"));
  CHECK_THROWS_WITH(MaskRcnnConfig::from_json({{"aspect_ratios", {-1}}}), Catch::Contains("aspect_ratios"));
}

TEST_CASE("draw_instances tints masks and outlines boxes", "[instance]") {
  Tensor img = Tensor::zeros({3, 8, 8});
  Tensor masks = Tensor::zeros({1, 8, 8}, DType::U8);
  masks.data<uint8_t>()[3 * 8 + 3] = 1;
  Tensor boxes = Tensor::from_vector(std::vector<float>{2, 2, 6, 6}, {1, 4});
  Tensor out = draw_instances(img, boxes, Tensor::from_vector(std::vector<int64_t>{1}, {1}), masks);
  const float* o = out.data<float>();
  float edge = 0, inside = 0, outside = 0;
  for (int c = 0; c < 3; ++c) edge += o[c * 64 + 2 * 8 + 4], inside += o[c * 64 + 3 * 8 + 3], outside += o[c * 64 + 7 * 8 + 7];
  CHECK(edge > 0.5f);      // the box's top edge at row 2
  CHECK(inside > 0.2f);    // the mask pixel, tinted half-way
  CHECK(inside < edge);
  CHECK(outside == 0.0f);  // untouched
  CHECK_THROWS_WITH(draw_instances(img, boxes, Tensor::zeros({2}, DType::I64), masks), Catch::Contains("same objects"));
}

TEST_CASE("Mask R-CNN on a micro Swin learns a few scenes", "[instance]") {
  manual_seed(0);
  nn::SwinTransformer model(nn::SwinConfig::named("swin_test_micro"));  // 32×32 inputs, 4 stages
  MaskRcnnConfig cfg = MaskRcnnConfig::for_input(32, 5, 16);
  cfg.roi.batch_per_image = 64;
  auto det = attach_mask_rcnn(model, cfg);
  data::SceneOptions so;
  so.size = 32;
  auto data = synthetic_instances(4, so, 1, 8);
  auto tf = instance_train_transform(32, {{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}}, {1.0, 1.0, 0.0});
  data::LoaderOptions lo;
  lo.batch = 4, lo.shuffle = false, lo.workers = 0;
  data::DataLoader loader(data, tf, lo);
  loader.start_epoch(0);
  data::Batch b;
  REQUIRE(loader.next(b));
  REQUIRE(b.instances.size() == 4);
  AdamW opt({ParamGroup{model.trainable_parameters()}}, 2e-3);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    Tensor loss = det->losses(model.forward_feature_maps(b.images), 64, 64, training_targets(b.instances),
                              default_generator()).total();
    if (step == 0) first = loss.item();
    last = loss.item();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < 0.6 * first);
}

TEST_CASE("every method adapts a ViT and a Swin under Mask R-CNN; only tuners and detector train",
          "[instance][peft]") {
  data::SceneOptions so;
  so.size = 32;
  auto data = synthetic_instances(2, so, 4, 8);
  std::vector<data::Instances> truth{data->get(0).instances, data->get(1).instances};
  Tensor images = stack({data->get(0).image, data->get(1).image});
  for (const peft::Method& meth : peft::methods()) {
    for (std::string family : {"vit", "swin"}) {
      INFO(meth.name << " on " << family);
      manual_seed(0);
      std::unique_ptr<nn::ImageModel> m;
      if (family == "vit") {  // without a classifier head, as the command line loads them
        nn::ViTConfig vc = nn::ViTConfig::named("vit_test_micro");
        vc.img_size = 32, vc.patch = 4, vc.num_classes = 0;  // one 8×8 map of stride 4 -> the simple pyramid
        m = std::make_unique<nn::VisionTransformer>(vc);
      } else {
        nn::SwinConfig sc = nn::SwinConfig::named("swin_test_micro");
        sc.num_classes = 0;
        m = std::make_unique<nn::SwinTransformer>(sc);
      }
      MaskRcnnConfig cfg = MaskRcnnConfig::for_input(32, 5, 8);
      cfg.roi.batch_per_image = 32;
      auto det = attach_mask_rcnn(*m, cfg);
      nlohmann::json opts = nlohmann::json::object();
      if (meth.name == "vpt" && family == "swin") opts["deep"] = true;
      if (!meth.tasks.empty() && std::find(meth.tasks.begin(), meth.tasks.end(), "instance") == meth.tasks.end()) {
        CHECK_THROWS_WITH(peft::apply_method(*m, {meth.name, opts}, "instance"), Catch::Contains("tasks"));
        continue;
      }
      peft::apply_method(*m, {meth.name, opts}, "instance");
      Tensor loss = det->losses(m->forward_feature_maps(images), 32, 32, training_targets(truth),
                                default_generator()).total();
      REQUIRE(std::isfinite(loss.item()));
      loss.backward();
      int64_t tuner_grads = 0, detector_grads = 0;
      for (auto& [n, t] : m->named_parameters()) {
        INFO(n);
        if (n.find(".dispatcher.") != std::string::npos) continue;  // DyT's gate learns in train mode only
        if (n.rfind("decode_head.", 0) == 0) {
          CHECK(t.requires_grad());
          CHECK(t.grad().defined());
          ++detector_grads;
        } else {
          if (t.grad().defined()) CHECK(t.requires_grad());  // nothing frozen gets a gradient
          // (full fine-tuning trains Swin's final norm too, which the feature maps do not use)
          tuner_grads += t.grad().defined();
        }
      }
      CHECK(detector_grads > 20);
      if (meth.name != "linear") CHECK(tuner_grads > 0);  // a linear probe trains the head alone
    }
  }
}
