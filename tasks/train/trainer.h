// trainer.h — the training loop: data -> model -> loss -> AdamW -> metrics -> checkpoints, the
// same for every PEFT method and every task (classification here; segmentation and depth bring
// their loss and metric, tasks/dense).
//
//   per iteration:  lr from warm-up + cosine (per iteration), forward, loss (cross-entropy by
//                   default), backward (only trainable tensors get gradients), clipping, step
//   per epoch:      a metrics line, an evaluation every `eval_every` epochs (the model's
//                   Metric: top-1 / top-5 by default), OUT/last (adapter + trainer state) and
//                   OUT/best (adapter, best score) checkpoints, OUT/curve.svg redrawn
//   at the end:     OUT/summary.json
//
// OUT/metrics.jsonl has one JSON object a line: {"type": "train", "epoch", "iter", "loss",
// "lr", "img_s"} every `log_every` iterations and at epoch ends; {"type": "eval", "epoch",
// ...the metric's numbers ("top1", "top5", "loss" for classification)} after each evaluation.
//
// Data-parallel (engine/dist.h, loaders sharded by LoaderOptions::shard_*): each rank runs the
// loop on its part of every global batch, scales its loss by its share, and the trainable
// gradients are summed across ranks before every (identical) optimizer step; evaluation
// counts are summed; only rank 0 writes OUT and shows progress. The global batch fixes the
// data order and the random numbers, so N ranks compute what one computes (up to the order of
// the sums), and a run checkpointed under N ranks resumes under any number.
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
#include "tasks/train/metric.h"

namespace vt::tasks {

struct TrainOptions {
  int64_t epochs = 10;
  double lr = 1e-3, weight_decay = 1e-4;
  double warmup_epochs = 1.0, warmup_lr = 1e-7, min_lr = 1e-8;
  double label_smoothing = 0.0;
  double clip_grad = 0.0;       // 0: no clipping
  int64_t eval_every = 1;       // epochs; 0: evaluate only after the last epoch
  int64_t log_every = 20;       // iterations between train lines in metrics.jsonl
  std::string on_nonfinite = "stop";  // a NaN / inf loss or gradient: "stop" naming it, or
                                      // "skip" the step (counted in the summary); never applied
  double bucket_mb = 25;        // data-parallel: gradient buckets of this size overlap the
                                // backward when the trainable gradients exceed one (full
                                // fine-tuning); 0, or less: one flat all-reduce after it
  int64_t stop_after = 0;       // stop after this many epochs of this run (checkpointed; resume
                                // later), e.g. within a batch job's time limit; 0: run to the end
  std::string out_dir;          // empty: no files written
  bool resume = false;
  uint64_t seed = 0;            // dropout / drop-path stream (the loader has its own seed)
  std::string progress = "auto";  // auto | bar | lines | none
  std::string label = "train";    // shown in progress lines and plots
  nlohmann::json to_json() const;
};

// What the trainer trains: the module (its trainable tensors are optimised), the forward from
// images to outputs, how to save an adapter checkpoint into a directory, and — for anything
// but plain classification — the loss, the evaluation forward and the metric.
struct TaskModel {
  nn::Module* module = nullptr;
  std::function<Tensor(const Tensor&)> forward;        // (B, C, H, W) -> (B, classes) or maps
  std::function<void(const std::string& dir)> save;    // writes an adapter directory
  // Training loss (images, targets) -> scalar; targets are the batch's dense targets if it has
  // them, else its labels. Unset: cross-entropy of forward (with label smoothing). DyT sets
  // its own (two passes + distillation + rate), the dense tasks theirs.
  std::function<Tensor(const Tensor&, const Tensor&)> loss;
  // Data-parallel: how much of the global loss a rank's part of the batch carries — what its
  // loss averages over (unset: its images; segmentation: its labelled pixels; a loss already
  // computed over every rank, such as depth's: 1 on each). The trainer scales each rank's loss
  // by its count over the sum of the counts.
  std::function<double(const data::Batch&)> loss_count;
  // Evaluation forward (e.g. sliding-window inference); unset: forward.
  std::function<Tensor(const Tensor&)> predict;
  MetricFactory metric = classification_metric;
  // Tasks whose targets or outputs are not one tensor per batch (instance segmentation's
  // objects and detections): the training loss of a whole batch (on the model's device), and
  // the evaluation of one, which feeds `metric` itself. Set, they replace loss and
  // predict + Metric::add.
  std::function<Tensor(const data::Batch&)> batch_loss;
  std::function<void(const data::Batch&, Metric&)> eval_batch;
};

struct EvalResult {
  nlohmann::json metrics;  // the metric's numbers, e.g. {"top1", "top5", "loss"}
  std::string score_name;  // which of them ranks checkpoints ("top1", "mIoU", "d1")
  double score = 0;
  int64_t images = 0;
  double seconds = 0;
};

// The model's metric over one pass of `data` (eval mode, no gradients).
EvalResult evaluate(TaskModel& model, data::DataLoader& data, const std::string& progress = "none",
                    const std::string& label = "eval");

struct TrainSummary {
  int64_t epochs = 0, iterations = 0, trainable = 0;
  std::string score_name = "top1";
  double best_score = 0, last_train_loss = 0;
  nlohmann::json last_metrics = nlohmann::json::object();  // of the last evaluation
  int64_t best_epoch = 0;
  double train_seconds = 0, eval_seconds = 0, img_per_s = 0;
  int ranks = 1;                                         // data-parallel processes (engine/dist.h)
  double comm_seconds = 0, comm_bytes_per_step = 0;      // this rank's, in collectives
  int64_t nonfinite_steps = 0;                           // skipped (--on-nonfinite skip)
  double last(const std::string& key) const { return last_metrics.value(key, 0.0); }
  // {"best_<score>", "best_epoch", "last_<key>" for every metric, ...}
  nlohmann::json to_json() const;
};

// Trains `model` on `train`, evaluating on `eval` (may be null). Throws vt::Error for a bad
// option or a resume directory that does not match the run.
TrainSummary train_model(TaskModel& model, data::DataLoader& train, data::DataLoader* eval,
                         const TrainOptions& opt);

}  // namespace vt::tasks
