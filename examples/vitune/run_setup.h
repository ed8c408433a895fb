// run_setup.h — what finetune, eval and merge share: a backbone with pretrained weights (and
// optionally an adapter) ready to train or run, and the data options.
#pragma once
#include <memory>
#include <string>

#include "examples/vitune/commands.h"
#include "peft/adapter_file.h"
#include "tasks/data/loader.h"
#include "tasks/train/trainer.h"

namespace vitune {

// Builds the backbone with a `classes`-way head and loads `weights` into it: the checkpoint's
// head is dropped when its size differs (fine-tuning on a new label set); every other tensor
// must fit. Empty weights: random initialisation, with a warning on stderr.
std::unique_ptr<Backbone> load_backbone(const ModelSpec& spec, const std::string& weights,
                                        int64_t classes);

int64_t model_img_size(Backbone& b);  // the config's input size

// The classifier the trainer sees: head(features(x)); `save` writes an adapter directory.
vt::tasks::TaskModel as_classifier(Backbone& b, const vt::peft::AdapterInfo& info);

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
