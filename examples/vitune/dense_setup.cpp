// dense_setup.cpp — see dense_setup.h.
#include "examples/vitune/dense_setup.h"

#include <cstdio>
#include <filesystem>

#include "engine/dist.h"
#include "nn/conv_layers.h"
#include "tasks/dense/dense_data.h"
#include "tasks/dense/dense_transforms.h"
#include "tasks/dense/visualize.h"

namespace vitune {

namespace fs = std::filesystem;

void TaskOptions::add_to(CLI::App& cmd, bool eval) {
  cmd.add_option("--task", task, "classification, segmentation, depth or instance")
      ->check(CLI::IsMember({"classification", "segmentation", "depth", "instance"}));
  if (!eval)
    cmd.add_option("--decoder-channels", decoder_channels,
                   "Dense decoder width (UperNet channels; Mask R-CNN's feature pyramid)")
        ->check(in_range(4, 4096));
  cmd.add_option("--min-depth", min_depth, "Depth: smallest valid depth (m)")->check(positive());
  cmd.add_option("--max-depth", max_depth, "Depth: largest valid depth (m), the output range")
      ->check(positive());
  cmd.add_flag("--eigen-crop", eigen_crop, "Depth: evaluate inside NYU's Eigen crop only");
  cmd.add_option("--slide-crop", slide_crop, "Dense evaluation in sliding windows of this size (0: whole image)")
      ->check(non_negative());
  cmd.add_option("--slide-stride", slide_stride, "Sliding-window stride (default: 2/3 of the crop)")
      ->check(non_negative());
  if (eval) {
    cmd.add_option("--save-predictions", save_predictions,
                   "Dense and instance tasks: write image | truth | prediction PNGs into this directory");
    cmd.add_option("--save-limit", save_limit, "How many images --save-predictions writes")
        ->check(non_negative());
  }
}

vt::data::DatasetPtr open_dense(const std::string& spec, bool train, int64_t limit, const std::string& task) {
  return first_examples(vt::data::open_dense_dataset(spec, train, task), limit);
}

std::unique_ptr<vt::data::DataLoader> dense_loader(const DataOptions& d, vt::data::DatasetPtr data,
                                                   bool train, int64_t size) {
  const vt::data::Normalization norm = vt::data::normalization(d.normalize);
  vt::data::PairTransform t = train && d.augment
                                  ? vt::data::dense_train_transform(size, norm, vt::data::DenseAugment{})
                                  : vt::data::dense_eval_transform(size, norm);
  const int ranks = vt::dist::world_size();
  if (ranks > 1 && d.batch < ranks)  // every rank takes part in every step's BatchNorm
    throw CLI::ValidationError("--batch", std::to_string(d.batch) + " is smaller than the " + std::to_string(ranks) +
                                              " data-parallel processes of a dense task");
  vt::data::LoaderOptions o;
  o.batch = d.batch, o.shuffle = train, o.seed = d.seed, o.workers = (int)d.workers;
  o.shard_rank = vt::dist::rank(), o.shard_count = ranks;
  o.drop_last = train && data->size() > d.batch;  // BatchNorm needs more than one image
  return std::make_unique<vt::data::DataLoader>(data, t, o);
}

vt::dense::DenseHeadConfig head_config(const TaskOptions& t, int64_t classes) {
  vt::dense::DenseHeadConfig c;
  c.task = t.task;
  c.num_classes = t.task == "segmentation" ? classes : 0;
  c.channels = t.decoder_channels;
  c.max_depth = t.max_depth;
  return c;
}

std::shared_ptr<vt::dense::DenseHead> attach_decoder(vt::nn::ImageModel& b, const vt::dense::DenseHeadConfig& cfg) {
  auto head = vt::dense::attach_dense_head(b, cfg);
  vt::nn::set_sync_batch_norm(*head, vt::dist::world_size() > 1);  // SyncBN across data-parallel ranks
  return head;
}

vt::tasks::TaskModel dense_task(vt::nn::ImageModel& b, vt::dense::DenseHead& head, const TaskOptions& t,
                                const vt::peft::AdapterInfo& info) {
  vt::dense::DenseTaskOptions o;
  o.slide_crop = t.slide_crop, o.slide_stride = t.slide_stride;
  o.depth.min_depth = t.min_depth, o.depth.max_depth = t.max_depth, o.depth.eigen_crop = t.eigen_crop;
  vt::tasks::TaskModel m = vt::dense::dense_task_model(b, head, o);
  m.save = [&b, info](const std::string& dir) { vt::peft::save_adapter(dir, b, info); };
  return m;
}

vt::Tensor unnormalize(const vt::Tensor& image, const vt::data::Normalization& norm) {
  vt::Tensor img = image.to(vt::Device::cpu());
  if (norm.mean.empty()) return img;
  const int64_t C = img.size(0);
  std::vector<float> m(C), s(C);
  for (int64_t c = 0; c < C; ++c)
    m[c] = (float)norm.mean[norm.mean.size() == 1 ? 0 : c], s[c] = (float)norm.std[norm.std.size() == 1 ? 0 : c];
  return vt::add(vt::mul(img, vt::Tensor::from_vector(s, {C, 1, 1})), vt::Tensor::from_vector(m, {C, 1, 1}));
}

namespace {

// The task's metric, plus pictures of the first `limit` evaluated images.
struct SavingMetric : vt::tasks::Metric {
  std::unique_ptr<vt::tasks::Metric> inner;
  TaskOptions t;
  vt::data::Normalization norm;
  int64_t classes, written = 0;

  void reduce(const SumFn& sum) override { inner->reduce(sum); }
  void add(const vt::Tensor& out, const vt::data::Batch& b) override {
    inner->add(out, b);
    if (written >= t.save_limit) return;
    fs::create_directories(t.save_predictions);
    vt::Tensor o = out.to(vt::Device::cpu()), y = b.targets.to(vt::Device::cpu());
    vt::Tensor labels = t.task == "segmentation" ? vt::argmax(o, 1) : vt::Tensor();
    for (int64_t i = 0; i < o.size(0) && written < t.save_limit; ++i, ++written) {
      vt::Tensor img = unnormalize(b.images.select(0, i), norm);
      char name[32];
      std::snprintf(name, sizeof name, "%04lld", (long long)written);
      const std::string base = t.save_predictions + "/" + name;
      if (t.task == "segmentation") {
        vt::data::write_png(base + ".png", vt::data::hconcat_images(
                                               {img, vt::data::colorize_labels(y.select(0, i), classes),
                                                vt::data::colorize_labels(labels.select(0, i), classes)}));
      } else {
        vt::Tensor p = o.select(0, i).contiguous();  // (1, H, W) metres
        vt::data::write_png(base + ".png", vt::data::hconcat_images(
                                               {img, vt::data::colorize_depth(y.select(0, i), t.min_depth, t.max_depth),
                                                vt::data::colorize_depth(p, t.min_depth, t.max_depth)}));
        std::vector<uint16_t> mm((size_t)p.numel());
        const float* pp = p.data<float>();
        for (size_t k = 0; k < mm.size(); ++k)
          mm[k] = (uint16_t)std::min(65535.0, std::max(0.0, std::round(pp[k] * 1000.0)));
        vt::data::write_png16(base + "_depth16.png", mm, p.size(1), p.size(2));
      }
    }
  }
  nlohmann::json result() const override { return inner->result(); }
  std::string score_name() const override { return inner->score_name(); }
  std::vector<std::string> curve_keys() const override { return inner->curve_keys(); }
  std::string curve_unit() const override { return inner->curve_unit(); }
};

}  // namespace

void save_predictions(vt::tasks::TaskModel& m, const TaskOptions& t, const vt::data::Normalization& norm,
                      int64_t classes) {
  if (t.save_predictions.empty()) return;
  auto make = m.metric;
  m.metric = [make, t, norm, classes] {
    auto s = std::make_unique<SavingMetric>();
    s->inner = make(), s->t = t, s->norm = norm, s->classes = classes;
    return std::unique_ptr<vt::tasks::Metric>(std::move(s));
  };
}

}  // namespace vitune
