// cmd_dense_demo.cpp — `vitune dense-demo`: segmentation, depth and instance segmentation on
// the embedded synthetic scenes (tasks/dense/dense_data.h), with a frozen pretrained Swin and a
// PEFT method, in minutes on 2 cores. No dense data set can be downloaded here, so the scenes
// stand in for ADE20K / NYU / COCO: textured shapes (5 classes) on a textured ground plane, with
// per-pixel classes, a depth map consistent with the drawing order, and each shape an object.
//
//   1. pretrain a small Swin (64×64 inputs, 4 stages, windows of 4) on scene classification —
//      which shape covers the most pixels — cached in OUT/pretrained;
//   2. freeze it, attach a tuner and a decoder (UperNet; the depth head; Mask R-CNN,
//      examples/vitune/instance_demo.h), and train them for segmentation, then depth, then
//      instance segmentation (--tasks), from a few hundred scenes each;
//   3. print mIoU / aAcc, δ1 / AbsRel / RMSE and mask / box AP50 next to what a trivial
//      predictor gets (everything ground; the ground plane's depth everywhere; one whole-image
//      detection per class), write curves to OUT/<task>/curve.svg and image | truth |
//      prediction PNGs to OUT/<task>/predictions/.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "engine/io/safetensors.h"
#include "engine/random.h"
#include "examples/vitune/demo_util.h"
#include "examples/vitune/dense_setup.h"
#include "examples/vitune/instance_demo.h"
#include "nn/swin.h"
#include "tasks/dense/dense_data.h"
#include "tasks/dense/dense_transforms.h"

namespace vitune {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct DenseDemoOptions {
  std::string out = "vitune-demo-dense", method = "lora";
  int64_t pretrain_images = 4000, pretrain_epochs = 4, train_images = 600, eval_images = 200;
  int64_t epochs = 8, channels = 64, workers = 1;
  std::vector<std::string> tasks{"segmentation", "depth", "instance"};
  std::string progress = "auto";
  bool fresh = false;
  PrecisionOption precision;
};

vt::nn::SwinConfig scene_swin(int64_t classes) {
  vt::nn::SwinConfig c;
  c.name = "swin_scene";
  c.img_size = 64, c.patch = 4, c.window = 4, c.dim = 32;
  c.depths = {2, 2, 2, 2}, c.heads = {1, 2, 4, 8};
  c.num_classes = classes;
  return c;
}

const vt::data::Normalization kNorm{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};

std::unique_ptr<vt::data::DataLoader> loader(vt::data::DatasetPtr d, vt::data::PairTransform t, bool train,
                                             int64_t batch, const DenseDemoOptions& o) {
  vt::data::LoaderOptions lo;
  lo.batch = batch, lo.shuffle = train, lo.drop_last = train, lo.workers = (int)o.workers;
  return std::make_unique<vt::data::DataLoader>(d, t, lo);
}

// Step 1: the backbone, pretrained once on scene classification and cached.
std::string pretrain(const DenseDemoOptions& o) {
  const std::string dir = o.out + "/pretrained";
  const json cfg = {{"model", "swin_scene"}, {"images", o.pretrain_images}, {"epochs", o.pretrain_epochs},
                    {"scenes", "class-colours-1"}};
  if (cached_pretrained(dir, cfg, o.fresh)) return dir;
  std::fprintf(stderr, "dense-demo: pretraining swin_scene on scene classification (%lld images, %lld epochs)\n",
               (long long)o.pretrain_images, (long long)o.pretrain_epochs);
  vt::data::SceneOptions so;
  so.task = "classification";
  auto train = vt::data::synthetic_scenes(o.pretrain_images, so, 1);
  auto test = vt::data::synthetic_scenes(500, so, 2);
  vt::manual_seed(0);
  vt::nn::SwinTransformer model(scene_swin(vt::data::kSceneClasses));
  vt::tasks::TaskModel clf;
  clf.module = &model;
  clf.forward = [&](const vt::Tensor& x) { return model.forward(x); };
  vt::tasks::TrainOptions t;
  t.epochs = o.pretrain_epochs, t.lr = 1e-3, t.weight_decay = 0.05, t.warmup_epochs = 0.5;
  t.out_dir = dir, t.progress = o.progress, t.label = "pretrain";
  vt::data::DenseAugment aug;
  aug.scale_min = 0.75, aug.scale_max = 1.5;
  auto tl = loader(train, vt::data::dense_train_transform(64, kNorm, aug), true, 64, o);
  auto el = loader(test, vt::data::dense_eval_transform(64, kNorm), false, 250, o);
  vt::tasks::train_model(clf, *tl, el.get(), t);
  save_pretrained(dir, model, cfg, kNorm.mean, kNorm.std);
  return dir;
}

struct Row {
  std::string task, metric;
  double value;
  json trivial;  // the trivial predictor's score (and for depth its AbsRel)
  json metrics;
  int64_t trainable;
  double seconds;
};

// The trivial predictor's score on the evaluation scenes: every pixel ground (segmentation),
// or the ground plane's depth everywhere (depth).
json trivial_score(const std::string& task, vt::data::DatasetPtr eval) {
  if (task == "segmentation") {
    vt::dense::ConfusionMatrix cm(vt::data::kSceneClasses);
    for (int64_t i = 0; i < eval->size(); ++i) {
      vt::Tensor y = eval->get(i).target;
      cm.add(vt::Tensor::zeros(y.shape(), vt::DType::I64), y);
    }
    return {{"mIoU", cm.result()["mIoU"]}};
  }
  double d1 = 0, abs_rel = 0;
  for (int64_t i = 0; i < eval->size(); ++i) {
    vt::Tensor y = eval->get(i).target;  // (1, S, S)
    const int64_t S = y.size(1);
    vt::Tensor plane = vt::Tensor::empty(y.shape());
    for (int64_t r = 0; r < S; ++r)
      for (int64_t c = 0; c < S; ++c) plane.data<float>()[r * S + c] = (float)vt::data::scene_ground_depth((double)r, S);
    const vt::dense::DepthErrors e = vt::dense::depth_errors(plane, y, vt::dense::DepthEval{});
    d1 += e.d1, abs_rel += e.abs_rel;
  }
  return {{"d1", d1 / eval->size()}, {"abs_rel", abs_rel / eval->size()}};
}

// Step 2: one dense adaptation of the frozen backbone.
Row adapt(const DenseDemoOptions& o, const std::string& task, const std::string& pretrained) {
  const auto t0 = std::chrono::steady_clock::now();
  vt::data::SceneOptions so;
  so.task = task;
  auto train = vt::data::synthetic_scenes(o.train_images, so, 3);
  auto eval = vt::data::synthetic_scenes(o.eval_images, so, 4);
  vt::manual_seed(1);
  auto loaded = vt::nn::load_model(ModelSpec{pretrained, "", -1}, "", 0);  // the model directory, without its head
  ImageModel& model = *loaded;
  TaskOptions topt;
  topt.task = task, topt.decoder_channels = o.channels, topt.max_depth = vt::data::kSceneMaxDepth;
  topt.save_predictions = o.out + "/" + task + "/predictions", topt.save_limit = 8;
  const vt::dense::DenseHeadConfig hc = head_config(topt, vt::data::kSceneClasses);
  auto head = vt::dense::attach_dense_head(model, hc);
  vt::peft::TunerConfig tuner = vt::peft::apply_method(model, {o.method, json::object()}, task);
  o.precision.apply(model);
  vt::peft::AdapterInfo info{tuner, "swin_scene", hc.num_classes, hc.to_json()};
  vt::dense::DenseTaskOptions dopt;
  dopt.depth.max_depth = vt::data::kSceneMaxDepth;
  vt::tasks::TaskModel m = vt::dense::dense_task_model(model, *head, dopt);
  m.save = [&](const std::string& dir) { vt::peft::save_adapter(dir, model, info); };
  vt::tasks::TrainOptions t;
  t.epochs = o.epochs, t.lr = 2e-3, t.weight_decay = 1e-4, t.warmup_epochs = 1, t.eval_every = 4;
  t.out_dir = o.out + "/" + task, t.progress = o.progress, t.label = task;
  vt::data::DenseAugment aug;
  aug.scale_min = 0.75, aug.scale_max = 1.5;
  auto tl = loader(train, vt::data::dense_train_transform(64, kNorm, aug), true, 16, o);
  auto el = loader(eval, vt::data::dense_eval_transform(64, kNorm), false, 50, o);
  vt::tasks::TrainSummary s = vt::tasks::train_model(m, *tl, el.get(), t);
  // The pictures: one more pass over the evaluation scenes with the last weights.
  fs::remove_all(topt.save_predictions);
  save_predictions(m, topt, kNorm, hc.num_classes);
  vt::tasks::evaluate(m, *el);
  return {task, s.score_name, s.last(s.score_name), trivial_score(task, eval), s.last_metrics,
          model.param_report().trainable, seconds_since(t0)};
}

// Step 2 for instance segmentation (examples/vitune/instance_demo.h), as a table row.
Row adapt_instance_row(const DenseDemoOptions& o, const std::string& pretrained) {
  InstanceDemoSettings s;
  s.pretrained = pretrained, s.out = o.out, s.method = o.method;
  s.train_images = o.train_images, s.eval_images = o.eval_images, s.epochs = o.epochs;
  s.channels = o.channels, s.workers = o.workers, s.progress = o.progress, s.precision = o.precision;
  s.norm = kNorm;
  const InstanceDemoResult r = adapt_instances(s);
  return {"instance", "mask_AP50", r.metrics.value("mask_AP50", 0.0), r.trivial, r.metrics, r.trainable, r.seconds};
}

void run_dense_demo(const DenseDemoOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  fs::create_directories(o.out);
  const std::string pretrained = pretrain(o);
  std::vector<Row> rows;
  for (const std::string& task : o.tasks)
    rows.push_back(task == "instance" ? adapt_instance_row(o, pretrained) : adapt(o, task, pretrained));
  std::printf("\nvitune dense-demo: swin_scene pretrained on scene classification, frozen, adapted with "
              "%s + a decoder\nfrom %lld scenes per task; scored on %lld other scenes; precision %s.\n\n",
              o.method.c_str(), (long long)o.train_images, (long long)o.eval_images,
              vt::nn::precision_name(vt::nn::parse_precision(o.precision.value)).c_str());
  std::printf("%-13s %-8s %9s %9s %12s %9s\n", "task", "metric", "vitune", "trivial", "trainable", "time (s)");
  json table = json::array();
  for (const Row& r : rows) {
    std::printf("%-13s %-8s %9.4g %9.4g %12lld %9.1f\n", r.task.c_str(), r.metric.c_str(), r.value,
                r.trivial[r.metric].get<double>(), (long long)r.trainable, r.seconds);
    if (r.task == "depth")
      std::printf("%-13s %-8s %9.4g %9.4g\n", "", "abs_rel", r.metrics["abs_rel"].get<double>(),
                  r.trivial["abs_rel"].get<double>());
    if (r.task == "instance")
      std::printf("%-13s %-8s %9.4g %9.4g\n", "", "box_AP50", r.metrics.value("box_AP50", 0.0),
                  r.trivial["box_AP50"].get<double>());
    table.push_back({{"task", r.task}, {"score", r.metric}, {"value", r.value}, {"trivial", r.trivial},
                     {"metrics", r.metrics}, {"trainable", r.trainable}, {"seconds", r.seconds}});
  }
  std::printf("\ntrivial: every pixel ground (segmentation); the ground plane's depth everywhere, "
              "which already\nknows the scene's geometry and misses only the shapes (depth); one "
              "whole-image detection\nper class (instance: COCO AP at IoU 0.5, in %%).\n");
  json summary = {{"method", o.method}, {"runs", table}, {"total_seconds", seconds_since(t0)},
                  {"precision", vt::nn::precision_name(vt::nn::parse_precision(o.precision.value))}};
  vt::write_file_atomic(o.out + "/summary.json", summary.dump(2) + "\n");
  std::printf("\ntotal %.0f s; curves in %s/<task>/curve.svg, pictures in %s/<task>/predictions/\n",
              seconds_since(t0), o.out.c_str(), o.out.c_str());
}

}  // namespace

Command add_dense_demo_command(CLI::App& app) {
  auto o = std::make_shared<DenseDemoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "dense-demo",
      "Segmentation, depth and instance segmentation on synthetic scenes with a frozen small Swin and a PEFT method");
  cmd->add_option("--out", o->out, "Output directory (the pretrained model is cached there)");
  cmd->add_option("--method", o->method, "PEFT method (with its default options)");
  cmd->add_option("--epochs", o->epochs, "Adaptation epochs per task")->check(positive());
  cmd->add_option("--pretrain-epochs", o->pretrain_epochs, "Pretraining epochs")->check(positive());
  cmd->add_option("--pretrain-images", o->pretrain_images, "Pretraining scenes")->check(positive());
  cmd->add_option("--train-images", o->train_images, "Training scenes per task")->check(positive());
  cmd->add_option("--eval-images", o->eval_images, "Evaluation scenes per task")->check(positive());
  cmd->add_option("--decoder-channels", o->channels, "Decoder width")->check(in_range(4, 1024));
  cmd->add_option("--workers", o->workers, "Data loading threads")->check(non_negative());
  cmd->add_option("--progress", o->progress, "auto, bar, lines or none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  cmd->add_option("--tasks", o->tasks, "Which adaptations to run, in order")
      ->delimiter(',')
      ->check(CLI::IsMember({"segmentation", "depth", "instance"}));
  cmd->add_flag("--fresh", o->fresh, "Pretrain again even if a cached model exists");
  o->precision.add_to(*cmd);
  return {cmd, [o] { run_dense_demo(*o); }};
}

}  // namespace vitune
