// instance_setup.cpp — see instance_setup.h.
#include "examples/vitune/instance_setup.h"

#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/dist.h"
#include "tasks/dense/visualize.h"
#include "tasks/instance/draw_instances.h"
#include "tasks/instance/host_tensors.h"
#include "tasks/instance/instance_transforms.h"

namespace vitune {

vt::data::DatasetPtr open_instances(const std::string& spec, bool train, int64_t limit,
                                    std::vector<std::string>* names) {
  vt::instance::InstanceDatasetPtr d = vt::instance::open_instance_dataset(spec, train);
  if (names) *names = d->class_names();
  return first_examples(d, limit);
}

std::unique_ptr<vt::data::DataLoader> instance_loader(const DataOptions& d, vt::data::DatasetPtr data,
                                                      bool train, int64_t size) {
  const vt::data::Normalization norm = vt::data::normalization(d.normalize);
  vt::instance::InstanceAugment aug;
  if (!d.augment) aug.scale_min = aug.scale_max = 1.0, aug.flip_p = 0.0;
  vt::data::ExampleTransform t = train ? vt::instance::instance_train_transform(size, norm, aug)
                                       : vt::instance::instance_eval_transform(size, norm);
  vt::data::LoaderOptions o;
  o.batch = d.batch, o.shuffle = train, o.seed = d.seed, o.workers = (int)d.workers;
  o.shard_rank = vt::dist::rank(), o.shard_count = vt::dist::world_size();
  return std::make_unique<vt::data::DataLoader>(data, t, o);
}

vt::instance::MaskRcnnConfig detector_config(const TaskOptions& t, int64_t size, int64_t classes) {
  return vt::instance::MaskRcnnConfig::for_input(size, classes, t.decoder_channels);
}

vt::tasks::TaskModel instance_task(vt::nn::ImageModel& b, vt::instance::MaskRcnn& det, const TaskOptions& t,
                                   const vt::peft::AdapterInfo& info, const vt::data::Normalization& norm) {
  vt::instance::DetectionObserver draw;
  if (!t.save_predictions.empty()) {
    auto written = std::make_shared<int64_t>(0);
    draw = [t, norm, written](const vt::data::Batch& b, const std::vector<vt::instance::Detections>& dets) {
      namespace fs = std::filesystem;
      for (size_t i = 0; i < dets.size() && *written < t.save_limit; ++i, ++*written) {
        const vt::data::Instances& in = b.instances[i];
        const int64_t H = in.masks.size(1), W = in.masks.size(2);
        // the network's input back at the original size: its unpadded part, resized
        vt::Tensor img = unnormalize(b.images.select(0, i), norm);
        const int64_t h = std::max<int64_t>(1, std::lround(H * in.scale)), w = std::max<int64_t>(1, std::lround(W * in.scale));
        img = vt::interpolate(img.narrow(1, 0, std::min(h, img.size(1))).narrow(2, 0, std::min(w, img.size(2)))
                                  .unsqueeze(0), {H, W}).select(0, 0);
        std::vector<int64_t> sure;  // detections worth drawing
        const std::vector<double> s = dets[i].scores.to_vector();
        for (size_t k = 0; k < s.size(); ++k)
          if (s[k] >= 0.5) sure.push_back((int64_t)k);
        const vt::instance::Detections& d = dets[i];
        vt::Tensor truth = vt::instance::draw_instances(img, in.boxes, in.labels, in.masks);
        vt::Tensor pred = vt::instance::draw_instances(img, vt::instance::rows(d.boxes, sure),
                                                       vt::instance::rows(d.labels, sure),
                                                       vt::instance::rows(d.masks, sure));
        fs::create_directories(t.save_predictions);
        char name[32];
        std::snprintf(name, sizeof name, "/%04lld.png", (long long)*written);
        vt::data::write_png(t.save_predictions + name, vt::data::hconcat_images({img, truth, pred}));
      }
    };
  }
  vt::tasks::TaskModel m = vt::instance::instance_task_model(b, det, draw);
  m.save = [&b, info](const std::string& dir) { vt::peft::save_adapter(dir, b, info); };
  return m;
}

}  // namespace vitune
