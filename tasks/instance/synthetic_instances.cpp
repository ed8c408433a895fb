// synthetic_instances.cpp — the synthetic scenes as an instance-segmentation set, and the
// command line's instance data specs (tasks/instance/instance_dataset.h).
#include <algorithm>
#include <filesystem>

#include "tasks/instance/instance_dataset.h"

namespace vt::instance {

namespace {

class SceneInstances : public InstanceDataset {
 public:
  SceneInstances(int64_t n, data::SceneOptions o, uint64_t seed, int64_t min_visible)
      : n_(n), o_(std::move(o)), seed_(seed), min_visible_(min_visible) {}
  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return data::kSceneClasses - 1; }
  std::vector<std::string> class_names() const override {
    const auto& all = data::scene_class_names();
    return {all.begin() + 1, all.end()};
  }
  std::string describe() const override {
    return "scenes:" + std::to_string(n_) + ":" + std::to_string(o_.size) + " (instances, " +
           std::to_string(n_) + " images)";
  }

  data::Example get(int64_t i) const override {
    check_index(i);
    const data::Scene sc = data::render_scene(o_, seed_, i);
    const int64_t S = o_.size;
    const int64_t* id = sc.instance.data<int64_t>();  // (S, S): -1 ground, k = shapes[k]
    std::vector<float> boxes, area;
    std::vector<int64_t> labels;
    std::vector<uint8_t> masks;
    for (size_t k = 0; k < sc.shapes.size(); ++k) {
      std::vector<uint8_t> m(S * S, 0);
      int64_t count = 0, x0 = S, y0 = S, x1 = -1, y1 = -1;
      for (int64_t y = 0; y < S; ++y)
        for (int64_t x = 0; x < S; ++x)
          if (id[y * S + x] == (int64_t)k) {
            m[y * S + x] = 1, ++count;
            x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
          }
      if (count < min_visible_) continue;  // (nearly) hidden by the shapes drawn after it
      boxes.insert(boxes.end(), {(float)x0, (float)y0, (float)(x1 + 1), (float)(y1 + 1)});
      labels.push_back(sc.shapes[k].cls);
      area.push_back((float)count);
      masks.insert(masks.end(), m.begin(), m.end());
    }
    const int64_t M = (int64_t)labels.size();
    data::Example e;
    e.image = sc.image;
    e.instances.boxes = Tensor::from_vector(boxes, {M, 4});
    e.instances.labels = Tensor::from_vector(labels, {M});
    e.instances.masks = Tensor::empty({M, S, S}, DType::U8);
    if (M) std::copy(masks.begin(), masks.end(), e.instances.masks.data<uint8_t>());
    e.instances.crowd = Tensor::zeros({M}, DType::U8);
    e.instances.area = Tensor::from_vector(area, {M});
    e.instances.image_id = i;
    return e;
  }

 private:
  int64_t n_;
  data::SceneOptions o_;
  uint64_t seed_;
  int64_t min_visible_;
};

}  // namespace

InstanceDatasetPtr synthetic_instances(int64_t n, const data::SceneOptions& o, uint64_t seed,
                                       int64_t min_visible) {
  if (n < 1 || o.size < 8) throw Error("synthetic_instances: needs n >= 1 and size >= 8");
  return std::make_shared<SceneInstances>(n, o, seed, min_visible);
}

InstanceDatasetPtr open_instance_dataset(const std::string& spec, bool train) {
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "coco") {
    const size_t sep = arg.find(':');
    if (arg.empty() || sep == std::string::npos || sep == 0 || sep + 1 == arg.size())
      throw Error("open_instance_dataset: '" + spec + "' needs coco:ROOT:ANNOTATIONS.json");
    const std::string root = arg.substr(0, sep);
    std::string ann = arg.substr(sep + 1);
    if (std::filesystem::path(ann).is_relative()) ann = (std::filesystem::path(root) / ann).string();
    return read_coco(root, ann);
  }
  if (kind == "scenes") {
    data::SceneOptions o;
    uint64_t seed = 0;
    const int64_t n = data::parse_scenes_spec(spec, train, o, seed);
    return synthetic_instances(n, o, seed);
  }
  throw Error("open_instance_dataset: unknown kind '" + kind + "' in '" + spec +
              "' (known: coco:ROOT:ANNOTATIONS.json, scenes:N[:SIZE])");
}

}  // namespace vt::instance
