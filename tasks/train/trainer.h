// trainer.h — the classification training loop: data -> model -> loss -> AdamW -> metrics ->
// checkpoints, the same for every PEFT method.
//
//   per iteration:  lr from warm-up + cosine (per iteration), forward, cross-entropy,
//                   backward (only trainable tensors get gradients), optional clipping, step
//   per epoch:      a metrics line, an evaluation every `eval_every` epochs (top-1 / top-5),
//                   OUT/last (adapter + trainer state) and OUT/best (adapter) checkpoints,
//                   OUT/curve.svg redrawn
//   at the end:     OUT/summary.json
//
// OUT/metrics.jsonl has one JSON object a line: {"type": "train", "epoch", "iter", "loss",
// "lr", "img_s"} every `log_every` iterations and at epoch ends; {"type": "eval", "epoch",
// "top1", "top5", "loss"} after each evaluation.
//
// Resume: OUT/last holds the adapter, the optimizer's moments, the RNG position and the epoch;
// `resume` restores them and continues with the next epoch. The data order depends only on
// (seed, epoch), so on the CPU a resumed run reproduces an uninterrupted one exactly.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "nn/module.h"
#include "tasks/data/loader.h"

namespace vt::tasks {

struct TrainOptions {
  int64_t epochs = 10;
  double lr = 1e-3, weight_decay = 1e-4;
  double warmup_epochs = 1.0, warmup_lr = 1e-7, min_lr = 1e-8;
  double label_smoothing = 0.0;
  double clip_grad = 0.0;       // 0: no clipping
  int64_t eval_every = 1;       // epochs; 0: evaluate only after the last epoch
  int64_t log_every = 20;       // iterations between train lines in metrics.jsonl
  std::string out_dir;          // empty: no files written
  bool resume = false;
  uint64_t seed = 0;            // dropout / drop-path stream (the loader has its own seed)
  std::string progress = "auto";  // auto | bar | lines | none
  std::string label = "train";    // shown in progress lines and plots
  nlohmann::json to_json() const;
};

// What the trainer trains: the module (its trainable tensors are optimised), the forward from
// images to logits, and how to save an adapter checkpoint into a directory.
struct Classifier {
  nn::Module* module = nullptr;
  std::function<Tensor(const Tensor&)> forward;        // (B, C, H, W) -> (B, classes)
  std::function<void(const std::string& dir)> save;    // writes an adapter directory
  // Optional training loss (images, labels) -> scalar, for methods whose loss is not plain
  // cross-entropy of one forward (DyT: two passes + distillation + rate). Label smoothing
  // applies to the default loss only.
  std::function<Tensor(const Tensor&, const Tensor&)> loss;
};

struct EvalResult {
  double top1 = 0, top5 = 0, loss = 0;  // accuracies in %, mean cross-entropy
  int64_t images = 0;
  double seconds = 0;
};

// Accuracy and loss over one pass of `data` (eval mode, no gradients).
EvalResult evaluate(Classifier& model, data::DataLoader& data, const std::string& progress = "none",
                    const std::string& label = "eval");

struct TrainSummary {
  int64_t epochs = 0, iterations = 0, trainable = 0;
  double best_top1 = 0, last_top1 = 0, last_top5 = 0, last_train_loss = 0;
  int64_t best_epoch = 0;
  double train_seconds = 0, eval_seconds = 0, img_per_s = 0;
  nlohmann::json to_json() const;
};

// Trains `model` on `train`, evaluating on `eval` (may be null). Throws vt::Error for a bad
// option or a resume directory that does not match the run.
TrainSummary train_classifier(Classifier& model, data::DataLoader& train, data::DataLoader* eval,
                              const TrainOptions& opt);

// Top-k hits of logits (B, classes) against labels (B) I64.
int64_t topk_correct(const Tensor& logits, const Tensor& labels, int64_t k);

}  // namespace vt::tasks
