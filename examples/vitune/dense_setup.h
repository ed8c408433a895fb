// dense_setup.h — what `finetune` and `eval` add for --task segmentation|depth: dense data and
// loaders, the decoder on the backbone (tasks/dense), and --save-predictions.
#pragma once
#include "examples/vitune/run_setup.h"
#include "tasks/dense/dense_model.h"

namespace vitune {

// --task, --decoder-channels, --min-depth, --max-depth, --eigen-crop, --slide-crop,
// --slide-stride (and for eval --save-predictions, --save-limit)
struct TaskOptions {
  std::string task = "classification";
  int64_t decoder_channels = 256;
  double min_depth = 1e-3, max_depth = 10.0;
  bool eigen_crop = false;
  int64_t slide_crop = 0, slide_stride = 0;
  std::string save_predictions;
  int64_t save_limit = 16;
  bool dense() const { return task == "segmentation" || task == "depth"; }
  bool instance() const { return task == "instance"; }
  void add_to(CLI::App& cmd, bool eval);
};

// The dense data named by spec (ade20k:ROOT, nyu:ROOT:SPLIT, scenes:N[:SIZE]); limit > 0 keeps
// the first `limit` examples.
vt::data::DatasetPtr open_dense(const std::string& spec, bool train, int64_t limit, const std::string& task);
// Training: with --augment mmseg's pipeline (random scale, crop, flip, photometric), else the
// evaluation resize; evaluation: image and target resized to size × size.
std::unique_ptr<vt::data::DataLoader> dense_loader(const DataOptions& d, vt::data::DatasetPtr data,
                                                   bool train, int64_t size);

// The decoder's config from the options (classes for segmentation).
vt::dense::DenseHeadConfig head_config(const TaskOptions& t, int64_t classes);

// Attaches the decoder to the backbone (call before apply_method / load_adapter) and returns it.
std::shared_ptr<vt::dense::DenseHead> attach_decoder(vt::nn::ImageModel& b, const vt::dense::DenseHeadConfig& cfg);

// The trainer's view of backbone + decoder; `save` writes an adapter directory with `info`.
vt::tasks::TaskModel dense_task(vt::nn::ImageModel& b, vt::dense::DenseHead& head, const TaskOptions& t,
                                const vt::peft::AdapterInfo& info);

// (C, H, W) normalised with `norm` -> back in [0, 1], on the CPU (for pictures).
vt::Tensor unnormalize(const vt::Tensor& image, const vt::data::Normalization& norm);

// --save-predictions: the evaluation also writes its first save_limit images as
// DIR/NNNN.png (image | truth | prediction, in colour) and, for depth, DIR/NNNN_depth16.png
// (the prediction in millimetres, NYU's 16-bit convention).
// `norm` is the inputs' normalisation (undone for the picture).
void save_predictions(vt::tasks::TaskModel& m, const TaskOptions& t, const vt::data::Normalization& norm,
                      int64_t classes);

}  // namespace vitune
