// run_setup.cpp — see run_setup.h.
#include "examples/vitune/run_setup.h"

#include "engine/dist.h"

#include <cstdio>

#include "tasks/data/readers.h"
#include "tasks/data/transforms.h"

namespace vitune {

vt::tasks::TaskModel as_classifier(vt::nn::ImageModel& b, const vt::peft::AdapterInfo& info) {
  vt::tasks::TaskModel c;
  c.module = &b;
  c.forward = [&b](const vt::Tensor& x) { return b.forward_head(b.forward_features(x)); };
  c.save = [&b, info](const std::string& dir) { vt::peft::save_adapter(dir, b, info); };
  return c;
}

void DataOptions::add_to(CLI::App& cmd, bool with_train) {
  const std::string kinds = "cifar100:DIR, cifar10:DIR, fashion-mnist[:DIR], list:ROOT:LIST; with "
                            "--task segmentation|depth: ade20k:ROOT, nyu:ROOT:SPLIT, scenes:N[:SIZE]; with "
                            "--task instance: coco:ROOT:ANNOTATIONS.json, scenes:N[:SIZE]";
  if (with_train) {
    cmd.add_option("--data", train, "Training data: " + kinds)->required();
    cmd.add_option("--eval-data", eval, "Evaluation data (default: the test split of --data)");
    cmd.add_flag("--augment", augment, "Random resized crop + horizontal flip for training");
    cmd.add_option("--train-limit", train_limit,
                   "Use N training images, balanced over classes (e.g. 1000, VTAB-1K style)");
  } else {
    cmd.add_option("--data", eval, "Evaluation data (its test split): " + kinds)->required();
  }
  cmd.add_option("--eval-limit", eval_limit, "Evaluate on the first N images only");
  cmd.add_option("--img-size", img_size, "Input size (default: the model's)")->check(in_range(0, 16384));
  cmd.add_option("--normalize", normalize, "Mean/std: imagenet, inception or none")
      ->check(CLI::IsMember({"imagenet", "inception", "none"}));
  cmd.add_option("--batch", batch, "Batch size")->check(in_range(1, 1 << 20));
  cmd.add_option("--workers", workers, "Data loading threads (0: in the training thread)")
      ->check(in_range(0, 256));
  cmd.add_option("--data-seed", seed, "Seed of the data order, augmentation and subsets");
}

vt::data::DatasetPtr first_examples(vt::data::DatasetPtr d, int64_t limit) {
  if (limit <= 0 || limit >= d->size()) return d;
  std::vector<int64_t> first(limit);
  for (int64_t i = 0; i < limit; ++i) first[i] = i;
  return vt::data::subset(d, first);
}

vt::data::DatasetPtr DataOptions::open(const std::string& spec, bool train_split, int64_t limit) const {
  vt::data::DatasetPtr d = vt::data::open_dataset(spec, train_split);
  if (train_split && limit > 0 && limit < d->size()) return vt::data::sample_per_class(d, limit, seed);
  return first_examples(d, limit);
}

std::unique_ptr<vt::data::DataLoader> DataOptions::loader(vt::data::DatasetPtr d, bool train_split,
                                                          int64_t size) const {
  auto [mean, std] = vt::data::normalization(normalize);
  vt::data::Transform t = train_split ? vt::data::train_transform(size, mean, std, augment)
                                      : vt::data::eval_transform(size, mean, std);
  vt::data::LoaderOptions o;
  o.batch = batch;
  o.shuffle = train_split;
  o.drop_last = false;
  o.seed = seed;
  o.workers = (int)workers;
  o.shard_rank = vt::dist::rank();  // data-parallel: this process's part of each batch
  o.shard_count = vt::dist::world_size();
  return std::make_unique<vt::data::DataLoader>(d, t, o);
}

}  // namespace vitune
