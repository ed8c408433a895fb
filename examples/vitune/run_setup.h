// run_setup.h — what finetune, eval and merge share: the classifier the trainer sees and the
// data options. (Models come from the model zoo: vt::nn::load_model, nn/model_zoo.h.)
#pragma once
#include <memory>
#include <string>

#include "examples/vitune/commands.h"
#include "peft/adapter_file.h"
#include "tasks/data/loader.h"
#include "tasks/train/trainer.h"

namespace vitune {

// The classifier the trainer sees: head(features(x)); `save` writes an adapter directory.
vt::tasks::TaskModel as_classifier(vt::nn::ImageModel& b, const vt::peft::AdapterInfo& info);

// The first `limit` examples of d (all of them when limit <= 0 or at least its size): what
// --train-limit / --eval-limit keep where no per-class sampling applies.
vt::data::DatasetPtr first_examples(vt::data::DatasetPtr d, int64_t limit);

// --data, --eval-data, --img-size, --normalize, --augment, --batch, --workers, --train-limit,
// --eval-limit, --data-seed
struct DataOptions {
  std::string train, eval;
  int64_t img_size = 0;  // 0: the model's
  std::string normalize = "imagenet";
  bool augment = false;
  int64_t batch = 32, workers = 2, train_limit = 0, eval_limit = 0;
  uint64_t seed = 0;
  void add_to(CLI::App& cmd, bool with_train);
  vt::data::DatasetPtr open(const std::string& spec, bool train, int64_t limit) const;
  std::unique_ptr<vt::data::DataLoader> loader(vt::data::DatasetPtr d, bool train, int64_t size) const;
};

}  // namespace vitune
