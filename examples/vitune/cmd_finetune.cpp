// cmd_finetune.cpp — `vitune finetune`: adapt a pretrained backbone to a data set with a PEFT
// method, writing checkpoints, metrics, curves and a summary into --out.
//
//   vitune finetune --data cifar100:DIR --model vit_base_patch16_224 --weights W.safetensors
//                   --method convpass --epochs 100 --lr 1e-3 --out runs/c100-convpass
//   vitune finetune --task segmentation --data ade20k:DIR --model swin_base_patch4_window7_224
//                   --weights W.safetensors --method lora --img-size 224 --augment --out runs/ade
//
// Dense tasks (--task segmentation | depth) attach a decoder (tasks/dense: UperNet, a depth
// head) to the backbone; it trains with the tuner and is saved in the adapter directory.
// OUT/best and OUT/last are adapter directories (peft/adapter_file.h; last also holds the
// trainer state for --resume), OUT/metrics.jsonl, OUT/curve.svg, OUT/summary.json; the summary
// is also printed on stdout as one JSON line.
#include <cstdio>

#include "engine/dist.h"
#include "engine/random.h"

#include "examples/vitune/dense_setup.h"
#include "examples/vitune/instance_setup.h"
#include "peft/peft_format.h"

namespace vitune {

namespace {

struct FinetuneOptions {
  ModelOptions model;
  MethodOptions method;
  DataOptions data;
  TaskOptions task;
  vt::tasks::TrainOptions train;
  PrecisionOption precision;
  std::string weights, precision_used = "fp32";
  std::string adapter_format = "vitune";
};

// --adapter-format peft: peft's layout, naming modules as the base checkpoint does (transformers'
// names for a transformers checkpoint, timm's otherwise); checked before the run starts.
void set_adapter_format(vt::peft::AdapterInfo& info, vt::nn::ImageModel& model, const std::string& format) {
  info.format = format;
  if (format != "peft") return;
  info.peft_names = model.checkpoint_layout == "transformers" ? "transformers" : "timm";
  vt::peft::check_peft_layout(model, info, info.peft_names);
}

void print_summary(const vt::tasks::TrainSummary& s, vt::nn::ImageModel& model, const vt::peft::TunerConfig& tuner,
                   const FinetuneOptions& o) {
  auto j = s.to_json();
  j["model"] = model.name();
  j["task"] = o.task.task;
  j["method"] = tuner.method;
  j["precision"] = o.precision_used;
  j["options"] = tuner.options;
  j["out"] = o.train.out_dir;
  print_json(j);
}

// --task segmentation | depth: the backbone without its head, a decoder, the dense data.
void run_dense_finetune(FinetuneOptions& o) {
  const std::string& task = o.task.task;
  vt::data::DatasetPtr train = open_dense(o.data.train, true, o.data.train_limit, task);
  vt::data::DatasetPtr eval = open_dense(o.data.eval.empty() ? o.data.train : o.data.eval, false,
                                         o.data.eval_limit, task);
  const int64_t classes = train->num_classes();
  if (task == "segmentation" && eval->num_classes() != classes)
    throw vt::Error("the evaluation data has " + std::to_string(eval->num_classes()) +
                    " classes, the training data " + std::to_string(classes));
  vt::manual_seed(o.train.seed);  // --seed fixes the decoder's and the tuners' initialisation too
  auto model = vt::nn::load_model(o.model.model_spec(), o.weights, 0);
  const vt::dense::DenseHeadConfig hc = head_config(o.task, classes);
  auto head = attach_decoder(*model, hc);
  vt::peft::TunerConfig tuner = vt::peft::apply_method(*model, o.method.tuner("linear"), task);
  o.precision_used = o.precision.apply(*model);
  const int64_t size = o.data.img_size > 0 ? o.data.img_size : model->img_size();
  auto train_loader = dense_loader(o.data, train, true, size);
  auto eval_loader = dense_loader(o.data, eval, false, size);
  vt::peft::AdapterInfo info{tuner, model->name(), classes, hc.to_json()};
  if (o.adapter_format != "vitune")
    throw CLI::ValidationError("--adapter-format", "peft's layout holds LoRA and a classifier head; a " + task +
                                                       " decoder is saved in vitune's layout");
  vt::tasks::TaskModel m = dense_task(*model, *head, o.task, info);
  if (o.train.label == "train") o.train.label = tuner.method;
  std::fprintf(stderr, "finetune: %s for %s with %s on %s (%lld images); eval on %lld images\n",
               model->name().c_str(), task.c_str(), tuner.to_json().dump().c_str(),
               train->describe().c_str(), (long long)train->size(), (long long)eval->size());
  print_summary(vt::tasks::train_model(m, *train_loader, eval_loader.get(), o.train), *model, tuner, o);
}

// --task instance: the backbone without its head, Mask R-CNN on its feature maps, COCO or scenes.
void run_instance_finetune(FinetuneOptions& o) {
  if (vt::dist::world_size() > 1)  // InstanceMetric holds detections, not counts to add up
    throw vt::Error("--task instance does not run data-parallel yet (its COCO evaluation does not gather "
                    "detections across processes): run it as one process");
  std::vector<std::string> names;
  vt::data::DatasetPtr train = open_instances(o.data.train, true, o.data.train_limit, &names);
  vt::data::DatasetPtr eval = open_instances(o.data.eval.empty() ? o.data.train : o.data.eval, false,
                                             o.data.eval_limit);
  const int64_t classes = train->num_classes();
  if (eval->num_classes() != classes)
    throw vt::Error("the evaluation data has " + std::to_string(eval->num_classes()) +
                    " classes, the training data " + std::to_string(classes));
  vt::manual_seed(o.train.seed);  // --seed fixes the detector's and the tuners' initialisation too
  auto model = vt::nn::load_model(o.model.model_spec(), o.weights, 0);
  const int64_t size = o.data.img_size > 0 ? o.data.img_size : model->img_size();
  const vt::instance::MaskRcnnConfig dc = detector_config(o.task, size, classes);
  auto det = vt::instance::attach_mask_rcnn(*model, dc);
  vt::peft::TunerConfig tuner = vt::peft::apply_method(*model, o.method.tuner("linear"), "instance");
  o.precision_used = o.precision.apply(*model);
  auto train_loader = instance_loader(o.data, train, true, size);
  auto eval_loader = instance_loader(o.data, eval, false, size);
  vt::peft::AdapterInfo info{tuner, model->name(), classes, dc.to_json()};
  if (o.adapter_format != "vitune")
    throw CLI::ValidationError("--adapter-format", "peft's layout holds LoRA and a classifier head; a "
                                                   "detector is saved in vitune's layout");
  vt::tasks::TaskModel m = instance_task(*model, *det, o.task, info, vt::data::normalization(o.data.normalize));
  if (o.train.label == "train") o.train.label = tuner.method;
  if (vt::dist::rank() == 0)
    std::fprintf(stderr, "finetune: %s for instance segmentation with %s on %s; eval on %lld images\n",
                 model->name().c_str(), tuner.to_json().dump().c_str(), train->describe().c_str(),
                 (long long)eval->size());
  print_summary(vt::tasks::train_model(m, *train_loader, eval_loader.get(), o.train), *model, tuner, o);
}

void run_finetune(FinetuneOptions& o) {
  if (o.train.out_dir.empty()) throw CLI::RequiredError("--out");
  if (o.task.dense()) return run_dense_finetune(o);
  if (o.task.instance()) return run_instance_finetune(o);
  vt::data::DatasetPtr train = o.data.open(o.data.train, true, o.data.train_limit);
  vt::data::DatasetPtr eval = o.data.open(o.data.eval.empty() ? o.data.train : o.data.eval, false,
                                          o.data.eval_limit);
  if (eval->num_classes() > train->num_classes())
    throw vt::Error("the evaluation data has " + std::to_string(eval->num_classes()) +
                    " classes, the training data " + std::to_string(train->num_classes()));
  const int64_t classes = train->num_classes();
  if (o.model.num_classes >= 0 && o.model.num_classes != classes)
    throw CLI::ValidationError("--num-classes", std::to_string(o.model.num_classes) +
                                                    " contradicts the training data's " +
                                                    std::to_string(classes) + " classes");
  vt::manual_seed(o.train.seed);  // --seed fixes a fresh head's and the tuners' initialisation too
  auto model = vt::nn::load_model(o.model.model_spec(), o.weights, classes);
  vt::peft::TunerConfig tuner = vt::peft::apply_method(*model, o.method.tuner("linear"));
  o.precision_used = o.precision.apply(*model);
  const int64_t size = o.data.img_size > 0 ? o.data.img_size : model->img_size();
  auto train_loader = o.data.loader(train, true, size);
  auto eval_loader = o.data.loader(eval, false, size);
  vt::peft::AdapterInfo info{tuner, model->name(), classes, nullptr};
  set_adapter_format(info, *model, o.adapter_format);
  vt::tasks::TaskModel clf = as_classifier(*model, info);
  if (auto loss = vt::peft::method_loss(tuner, *model, clf.forward)) clf.loss = loss;  // e.g. DyT's
  if (o.train.label == "train") o.train.label = tuner.method;
  if (vt::dist::rank() == 0)
    std::fprintf(stderr, "finetune: %s with %s on %s (%lld images, %lld classes); eval on %lld images\n",
               model->name().c_str(), tuner.to_json().dump().c_str(), train->describe().c_str(),
               (long long)train->size(), (long long)classes, (long long)eval->size());
  print_summary(vt::tasks::train_model(clf, *train_loader, eval_loader.get(), o.train), *model, tuner, o);
}

}  // namespace

Command add_finetune_command(CLI::App& app) {
  auto o = std::make_shared<FinetuneOptions>();
  CLI::App* cmd = app.add_subcommand("finetune", "Fine-tune a pretrained backbone with a PEFT method");
  o->model.add_to(*cmd, "Must equal the training data's classes if given");
  cmd->add_option("--weights", o->weights, "Pretrained backbone checkpoint (.safetensors or .npz)");
  o->method.add_to(*cmd, "linear");
  o->precision.add_to(*cmd, /*with_device=*/true);
  o->data.add_to(*cmd, true);
  o->task.add_to(*cmd, false);
  auto& t = o->train;
  cmd->add_option("--out", t.out_dir, "Output directory (checkpoints, metrics, curves)")->required();
  cmd->add_option("--adapter-format", o->adapter_format,
                  "Layout of the adapter directories: vitune, or peft (Hugging Face peft's LoRA layout, "
                  "module names as in the base checkpoint: transformers' or timm's)")
      ->check(CLI::IsMember({"vitune", "peft"}))
      ->capture_default_str();
  cmd->add_option("--epochs", t.epochs, "Epochs")->check(positive());
  cmd->add_option("--lr", t.lr, "Peak learning rate (AdamW)")->check(positive());
  cmd->add_option("--weight-decay", t.weight_decay, "AdamW weight decay")->check(non_negative());
  cmd->add_option("--warmup-epochs", t.warmup_epochs, "Linear warm-up, in epochs (per iteration)")
      ->check(non_negative());
  cmd->add_option("--min-lr", t.min_lr, "Learning rate at the end of the cosine");
  cmd->add_option("--label-smoothing", t.label_smoothing, "Label smoothing")->check(in_range(0.0, 1.0));
  cmd->add_option("--clip-grad", t.clip_grad, "Clip the gradient norm (0: off)")->check(non_negative());
  cmd->add_option("--eval-every", t.eval_every, "Evaluate every N epochs (0: at the end only)")
      ->check(non_negative());
  cmd->add_option("--seed", t.seed, "Seed of dropout and drop-path");
  cmd->add_flag("--resume", t.resume, "Continue the run in --out from its last checkpoint");
  cmd->add_option("--stop-after", t.stop_after,
                  "Stop after this many epochs of this run, checkpointed (continue with --resume; e.g. "
                  "within a batch job's time limit; 0: run to the end)")
      ->check(non_negative());
  cmd->add_option("--on-nonfinite", t.on_nonfinite,
                  "A NaN or infinite loss or gradient: stop (naming it and the last good checkpoint) or "
                  "skip the step (counted in the summary); it is never applied")
      ->check(CLI::IsMember({"stop", "skip"}))
      ->capture_default_str();
  cmd->add_option("--bucket-mb", t.bucket_mb,
                  "Data-parallel: gradient buckets (MiB) overlapped with the backward when the trainable "
                  "gradients exceed one (full fine-tuning); 0: one all-reduce after the backward")
      ->check(non_negative())
      ->capture_default_str();
  cmd->add_option("--log-every", t.log_every, "Iterations between the train lines of metrics.jsonl")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--progress", t.progress, "Progress display: auto, bar, lines or none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  cmd->footer("Any option may come from a JSON file: vitune finetune --config FILE (keys: long option names).");
  return {cmd, [o] { run_finetune(*o); }};
}

}  // namespace vitune
