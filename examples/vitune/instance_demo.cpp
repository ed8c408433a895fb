// instance_demo.cpp — Mask R-CNN on the synthetic scenes, for `vitune dense-demo`
// (examples/vitune/instance_demo.h).
#include "examples/vitune/instance_demo.h"

#include <chrono>
#include <filesystem>

#include "engine/random.h"
#include "examples/vitune/demo_util.h"
#include "examples/vitune/instance_setup.h"
#include "nn/model_zoo.h"
#include "peft/adapter_file.h"
#include "tasks/instance/instance_transforms.h"

namespace vitune {

namespace {

constexpr int64_t kSize = 64;  // the scenes' and the backbone's input size

std::unique_ptr<vt::data::DataLoader> loader(vt::data::DatasetPtr d, vt::data::ExampleTransform t, bool train,
                                             int64_t batch, int64_t workers) {
  vt::data::LoaderOptions lo;
  lo.batch = batch, lo.shuffle = train, lo.drop_last = train, lo.workers = (int)workers;
  return std::make_unique<vt::data::DataLoader>(d, t, lo);
}

// One detection per class covering the whole image, every score equal: what AP gives a
// detector that knows nothing of where the objects are.
nlohmann::json trivial_ap(vt::data::DatasetPtr eval, int64_t classes) {
  vt::instance::InstanceMetric metric(classes);
  for (int64_t i = 0; i < eval->size(); ++i) {
    const vt::data::Instances in = eval->get(i).instances;
    const int64_t H = in.masks.size(1), W = in.masks.size(2);
    vt::instance::Detections d;
    std::vector<float> boxes;
    std::vector<int64_t> labels;
    for (int64_t k = 1; k <= classes; ++k)
      boxes.insert(boxes.end(), {0.f, 0.f, (float)W, (float)H}), labels.push_back(k);
    d.boxes = vt::Tensor::from_vector(boxes, {classes, 4});
    d.labels = vt::Tensor::from_vector(labels, {classes});
    d.scores = vt::Tensor::ones({classes});
    d.masks = vt::Tensor::ones({classes, H, W});
    metric.add_detections({d}, {in});
  }
  const nlohmann::json r = metric.result();
  return {{"mask_AP50", r["mask_AP50"]}, {"box_AP50", r["box_AP50"]}, {"mask_AP", r["mask_AP"]}};
}

}  // namespace

InstanceDemoResult adapt_instances(const InstanceDemoSettings& s) {
  const auto t0 = std::chrono::steady_clock::now();
  vt::data::SceneOptions so;
  auto train = vt::instance::synthetic_instances(s.train_images, so, 5);
  auto eval = vt::instance::synthetic_instances(s.eval_images, so, 6);
  const int64_t classes = train->num_classes();
  vt::manual_seed(2);
  auto model = vt::nn::load_model(ModelSpec{s.pretrained, "", -1}, "", 0);  // without its head
  vt::instance::MaskRcnnConfig dc = vt::instance::MaskRcnnConfig::for_input(kSize, classes, s.channels);
  // a small image holds a few objects: fewer proposals and sampled RoIs than COCO's
  dc.rpn.pre_nms_top_n_train = 600, dc.rpn.pre_nms_top_n_test = 300;
  dc.rpn.post_nms_top_n_train = 200, dc.rpn.post_nms_top_n_test = 100;
  dc.roi.batch_per_image = 64, dc.roi.representation = 256, dc.roi.mask_channels = s.channels;
  auto det = vt::instance::attach_mask_rcnn(*model, dc);
  vt::peft::TunerConfig tuner = vt::peft::apply_method(*model, {s.method, nlohmann::json::object()}, "instance");
  s.precision.apply(*model);
  vt::peft::AdapterInfo info{tuner, "swin_scene", classes, dc.to_json()};
  TaskOptions topt;
  topt.task = "instance", topt.decoder_channels = s.channels;
  topt.save_predictions = s.out + "/instance/predictions", topt.save_limit = 8;
  std::filesystem::remove_all(topt.save_predictions);
  TaskOptions train_opt = topt;
  train_opt.save_predictions.clear();  // pictures from the final pass only
  vt::tasks::TaskModel m = instance_task(*model, *det, train_opt, info, s.norm);
  vt::tasks::TrainOptions t;
  t.epochs = s.epochs, t.lr = 1e-3, t.weight_decay = 1e-4, t.warmup_epochs = 1, t.eval_every = 4;
  t.clip_grad = 10.0;
  t.out_dir = s.out + "/instance", t.progress = s.progress, t.label = "instance";
  vt::instance::InstanceAugment aug;
  aug.scale_min = 0.75, aug.scale_max = 1.5;
  auto tl = loader(train, vt::instance::instance_train_transform(kSize, s.norm, aug), true, 8, s.workers);
  auto el = loader(eval, vt::instance::instance_eval_transform(kSize, s.norm), false, 50, s.workers);
  vt::tasks::TrainSummary sum = vt::tasks::train_model(m, *tl, el.get(), t);
  // The pictures: one more pass over the evaluation scenes with the last weights.
  vt::tasks::TaskModel pics = instance_task(*model, *det, topt, info, s.norm);
  vt::tasks::evaluate(pics, *el);
  return {sum.last_metrics, trivial_ap(eval, classes), model->param_report().trainable, seconds_since(t0)};
}

}  // namespace vitune
