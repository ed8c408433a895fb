// instance_model.cpp — Mask R-CNN's loss, evaluation and metric for the trainer
// (tasks/instance/instance_model.h).
#include "tasks/instance/instance_model.h"

#include <algorithm>

#include "engine/random.h"
#include "tasks/instance/coco_eval.h"
#include "tasks/instance/host_tensors.h"
#include "tasks/instance/paste_masks.h"

namespace vt::instance {

std::vector<InstanceTarget> training_targets(const std::vector<data::Instances>& instances) {
  std::vector<InstanceTarget> out;
  for (const data::Instances& in : instances) {
    std::vector<int64_t> keep;
    const std::vector<int64_t> crowd = in.crowd.defined() ? ints(in.crowd) : std::vector<int64_t>(in.size(), 0);
    for (int64_t i = 0; i < in.size(); ++i)
      if (!crowd[i]) keep.push_back(i);
    InstanceTarget t;
    t.boxes = rows(cpu_f32(in.boxes), keep);
    t.labels = rows(in.labels, keep);
    t.masks = rows(in.masks, keep);
    out.push_back(t);
  }
  return out;
}

std::vector<Detections> detect_original_size(nn::ImageModel& backbone, MaskRcnn& detector,
                                             const Tensor& images,
                                             const std::vector<data::Instances>& instances) {
  if ((int64_t)instances.size() != images.size(0))
    throw Error("instance evaluation: " + std::to_string(instances.size()) + " annotations for " +
                std::to_string(images.size(0)) + " images");
  std::vector<Detections> dets = detector.detect(backbone.forward_feature_maps(images), images.size(2),
                                                 images.size(3), /*paste=*/false);  // pasted below, at the original size
  for (size_t b = 0; b < dets.size(); ++b) {
    const data::Instances& in = instances[b];
    const int64_t H = in.masks.size(1), W = in.masks.size(2);
    NoGrad ng;
    dets[b].boxes = clip_boxes(dets[b].boxes / in.scale, H, W);
    dets[b].masks = paste_masks(dets[b].mask_probs, dets[b].boxes, H, W);
  }
  return dets;
}

void InstanceMetric::add(const Tensor&, const data::Batch&) {
  throw Error("InstanceMetric: fed through add_detections (TaskModel::eval_batch), not add");
}

void InstanceMetric::add_detections(const std::vector<Detections>& dets,
                                    const std::vector<data::Instances>& truth) {
  auto xywh = [](const float* b) { return Box{b[0], b[1], b[2] - b[0], b[3] - b[1]}; };
  for (size_t i = 0; i < dets.size(); ++i) {
    const data::Instances& in = truth[i];
    const int64_t H = in.masks.size(1), W = in.masks.size(2);
    EvalImage boxes, masks;
    Tensor gb = cpu_f32(in.boxes), ga = cpu_f32(in.area);
    const std::vector<int64_t> gl = ints(in.labels), gc = ints(in.crowd);
    Tensor gm = in.masks.contiguous();
    for (int64_t g = 0; g < in.size(); ++g) {
      GtObject o{gl[g], xywh(gb.data<float>() + 4 * g), ga.data<float>()[g], gc[g] != 0, Rle{}};
      boxes.gt.push_back(o);
      o.mask = rle_encode(gm.data<uint8_t>() + g * H * W, H, W);
      masks.gt.push_back(o);
    }
    const Detections& d = dets[i];
    Tensor db = cpu_f32(d.boxes), ds = cpu_f32(d.scores), dm = cpu_f32(d.masks);
    const std::vector<int64_t> dl = ints(d.labels);
    std::vector<uint8_t> bin(H * W);
    for (int64_t k = 0; k < (int64_t)dl.size(); ++k) {
      Detection o{dl[k], ds.data<float>()[k], xywh(db.data<float>() + 4 * k), Rle{}};
      boxes.dt.push_back(o);
      const float* p = dm.data<float>() + k * H * W;
      for (int64_t j = 0; j < H * W; ++j) bin[j] = p[j] > 0.5f;
      o.mask = rle_encode(bin, H, W);
      masks.dt.push_back(o);
    }
    detections += (int64_t)dl.size();
    box_images.push_back(std::move(boxes));
    mask_images.push_back(std::move(masks));
  }
}

nlohmann::json InstanceMetric::result() const {
  std::vector<int64_t> cats;
  for (int64_t k = 1; k <= num_classes; ++k) cats.push_back(k);
  nlohmann::json j;
  for (auto [prefix, type, imgs] : {std::make_tuple("box_", IouType::Bbox, &box_images),
                                    std::make_tuple("mask_", IouType::Segm, &mask_images)}) {
    const std::array<double, 12> v = coco_evaluate(*imgs, type, cats).values();
    for (size_t i = 0; i < v.size(); ++i)
      j[std::string(prefix) + kCocoStatNames[i]] = v[i] < 0 ? v[i] : 100.0 * v[i];  // -1: absent
  }
  j["images"] = (int64_t)mask_images.size();
  j["detections"] = detections;
  return j;
}

tasks::TaskModel instance_task_model(nn::ImageModel& backbone, MaskRcnn& detector,
                                     DetectionObserver observe) {
  tasks::TaskModel m;
  m.module = &backbone;
  m.forward = [](const Tensor&) -> Tensor {
    throw Error("instance segmentation: the detector has no plain forward (use batch_loss / eval_batch)");
  };
  m.batch_loss = [&backbone, &detector](const data::Batch& b) {
    std::vector<Tensor> maps = backbone.forward_feature_maps(b.images);
    return detector.losses(maps, b.images.size(2), b.images.size(3), training_targets(b.instances),
                           default_generator()).total();
  };
  m.eval_batch = [&backbone, &detector, observe](const data::Batch& b, tasks::Metric& metric) {
    auto* im = dynamic_cast<InstanceMetric*>(&metric);
    if (!im) throw Error("instance segmentation: evaluation needs the instance metric");
    const std::vector<Detections> dets = detect_original_size(backbone, detector, b.images, b.instances);
    im->add_detections(dets, b.instances);
    if (observe) observe(b, dets);
  };
  m.metric = [k = detector.cfg.num_classes] { return std::make_unique<InstanceMetric>(k); };
  return m;
}

}  // namespace vt::instance
