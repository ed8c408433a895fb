// cmd_demo.cpp — `vitune demo`: the whole transfer-learning paradigm at small scale, on real
// images Debian ships (Fashion-MNIST, package dataset-fashion-mnist), in minutes on 2 cores.
//
//   1. pretrain a small ViT on the clothing half of the classes (T-shirt, trouser, pullover,
//      dress, coat) — cached in OUT/pretrained after the first run;
//   2. adapt it to the other half (sandal, shirt, sneaker, bag, ankle boot) from 1,000
//      labelled images (VTAB-1K style), once per method: linear probe, full fine-tuning and
//      the PEFT methods, each from the same pretrained weights;
//   3. print a table (top-1 on the 5,000 test images of those classes, trainable parameters,
//      time), write OUT/<method>/{curve.svg, metrics.jsonl, best/}, OUT/accuracy.svg and
//      OUT/summary.json.
//
// The model is vit_demo: 28×28 inputs, 7×7 patches (16 tokens + CLS), width 96, 6 blocks.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "engine/io/safetensors.h"
#include "engine/random.h"
#include "examples/vitune/demo_util.h"
#include "examples/vitune/run_setup.h"
#include "nn/vit.h"
#include "tasks/data/readers.h"
#include "tasks/data/transforms.h"
#include "tasks/train/plot.h"

namespace vitune {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct DemoOptions {
  std::string data_dir = "/usr/share/datasets/fashion-mnist", out = "vitune-demo";
  std::vector<std::string> methods{"linear", "full", "lora", "adaptformer", "convpass", "ssf"};
  int64_t pretrain_epochs = 3, epochs = 15, train_images = 1000, workers = 1;
  std::string progress = "auto";
  bool fresh = false;
  PrecisionOption precision;
};

vt::nn::ViTConfig demo_config(int64_t classes) {
  vt::nn::ViTConfig c;
  c.name = "vit_demo";
  c.img_size = 28, c.patch = 7, c.in_chans = 3;
  c.dim = 96, c.depth = 6, c.heads = 4, c.mlp_ratio = 4.0;
  c.num_classes = classes;
  c.drop_path = 0.1;
  return c;
}

// Fashion-MNIST statistics (train split): grayscale mean 0.286, std 0.353, copied to 3 channels.
const std::vector<double> kMean{0.286, 0.286, 0.286}, kStd{0.353, 0.353, 0.353};

std::unique_ptr<vt::data::DataLoader> make_loader(vt::data::DatasetPtr d, bool train, int64_t batch, const DemoOptions& o) {
  vt::data::LoaderOptions lo;
  lo.batch = batch, lo.shuffle = train, lo.seed = 0, lo.workers = (int)o.workers;
  return std::make_unique<vt::data::DataLoader>(d, train ? vt::data::train_transform(28, kMean, kStd, false)
                                       : vt::data::eval_transform(28, kMean, kStd),
                              lo);
}

// Step 1: the source model, trained once and cached.
std::string pretrain(const DemoOptions& o, vt::data::DatasetPtr train, vt::data::DatasetPtr test) {
  const std::string dir = o.out + "/pretrained";
  const json cfg = {{"model", "vit_demo"}, {"epochs", o.pretrain_epochs}, {"classes", "0-4"}};
  if (cached_pretrained(dir, cfg, o.fresh)) return dir;
  std::fprintf(stderr, "demo: pretraining vit_demo on the 5 clothing classes (%lld images, %lld epochs)\n",
               (long long)train->size(), (long long)o.pretrain_epochs);
  vt::manual_seed(0);
  vt::nn::VisionTransformer model(demo_config(5));
  vt::tasks::TaskModel clf;
  clf.module = &model;
  clf.forward = [&](const vt::Tensor& x) { return model.forward(x); };
  vt::tasks::TrainOptions t;
  t.epochs = o.pretrain_epochs, t.lr = 2e-3, t.weight_decay = 0.05, t.warmup_epochs = 0.5;
  t.label_smoothing = 0.1, t.out_dir = dir, t.progress = o.progress, t.label = "pretrain";
  auto tl = make_loader(train, true, 128, o), el = make_loader(test, false, 256, o);
  vt::tasks::train_model(clf, *tl, el.get(), t);
  save_pretrained(dir, model, cfg, kMean, kStd);
  return dir;
}

struct Row {
  std::string method;
  double top1;
  int64_t trainable;
  double seconds;
};

// Step 2: one adaptation run.
Row adapt(const DemoOptions& o, const std::string& method, const std::string& pretrained,
          vt::data::DatasetPtr train, vt::data::DatasetPtr test) {
  vt::manual_seed(1);
  auto loaded = vt::nn::load_model(ModelSpec{pretrained, "", -1}, "", 0);  // the model directory, without its head
  ImageModel& model = *loaded;
  model.reset_head(5);  // a new label set: a fresh zero head
  json opts = json::object();
  if (method == "convpass") opts["scale"] = 1.0;  // s from the paper's grid, for this small model
  vt::peft::TunerConfig tuner = vt::peft::apply_method(model, {method, opts});
  o.precision.apply(model);  // frozen weights in BF16 with --precision bf16 (the pretraining is F32)
  vt::tasks::TaskModel clf;
  clf.module = &model;
  clf.forward = [&](const vt::Tensor& x) { return model.forward(x); };
  vt::peft::AdapterInfo info{tuner, "vit_demo", 5, nullptr};
  clf.save = [&](const std::string& dir) { vt::peft::save_adapter(dir, model, info); };
  if (auto loss = vt::peft::method_loss(tuner, model, clf.forward)) clf.loss = loss;  // e.g. DyT's
  vt::tasks::TrainOptions t;
  t.epochs = o.epochs, t.warmup_epochs = 2, t.eval_every = 5;
  t.lr = method == "full" ? 5e-4 : method == "linear" ? 1e-2 : 5e-3;
  t.weight_decay = method == "full" ? 0.05 : 1e-4;
  t.out_dir = o.out + "/" + method, t.progress = o.progress, t.label = method;
  auto tl = make_loader(train, true, 32, o), el = make_loader(test, false, 256, o);
  auto t0 = std::chrono::steady_clock::now();
  vt::tasks::TrainSummary s = vt::tasks::train_model(clf, *tl, el.get(), t);
  return {method, s.last("top1"), model.param_report().trainable_backbone, seconds_since(t0)};
}

void run_demo(const DemoOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  fs::create_directories(o.out);
  const std::string spec = "fashion-mnist:" + o.data_dir;
  vt::data::DatasetPtr train_all = vt::data::open_dataset(spec, true);
  vt::data::DatasetPtr test_all = vt::data::open_dataset(spec, false);
  const std::vector<int64_t> source{0, 1, 2, 3, 4}, target{5, 6, 7, 8, 9};
  std::string pretrained = pretrain(o, vt::data::select_classes(train_all, source),
                              vt::data::select_classes(test_all, source));
  vt::data::DatasetPtr few = vt::data::sample_per_class(vt::data::select_classes(train_all, target),
                                                        o.train_images, 0);
  vt::data::DatasetPtr test = vt::data::select_classes(test_all, target);
  std::vector<Row> rows;
  for (const std::string& m : o.methods) rows.push_back(adapt(o, m, pretrained, few, test));

  std::printf("\nvitune demo: Fashion-MNIST, pretrained on 5 clothing classes, adapted to the other 5\n"
              "from %lld labelled images; top-1 on %lld test images; precision %s.\n\n",
              (long long)few->size(), (long long)test->size(),
              vt::nn::precision_name(vt::nn::parse_precision(o.precision.value)).c_str());
  std::printf("%-12s %8s %14s %10s\n", "method", "top-1 %", "trainable", "time (s)");
  json table = json::array();
  std::vector<std::pair<std::string, double>> bars;
  for (const Row& r : rows) {
    std::printf("%-12s %8.2f %14lld %10.1f\n", r.method.c_str(), r.top1, (long long)r.trainable, r.seconds);
    table.push_back({{"method", r.method}, {"top1", r.top1}, {"trainable_backbone", r.trainable},
                     {"seconds", r.seconds}});
    bars.push_back({r.method, r.top1});
  }
  vt::tasks::write_bar_chart_svg(o.out + "/accuracy.svg", "Fashion-MNIST, 5 new classes from 1,000 images",
                                 "top-1 accuracy (%)", bars);
  json summary = {{"runs", table}, {"train_images", few->size()}, {"test_images", test->size()},
                  {"total_seconds", seconds_since(t0)},
                  {"precision", vt::nn::precision_name(vt::nn::parse_precision(o.precision.value))}};
  vt::write_file_atomic(o.out + "/summary.json", summary.dump(2) + "\n");
  std::printf("\ntotal %.0f s; curves in %s/<method>/curve.svg, the comparison in %s/accuracy.svg\n",
              seconds_since(t0), o.out.c_str(), o.out.c_str());
}

}  // namespace

Command add_demo_command(CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Pretrain a small ViT on half of Fashion-MNIST, adapt it to the other half with each method");
  cmd->add_option("--data-dir", o->data_dir, "Fashion-MNIST IDX files (Debian: dataset-fashion-mnist)");
  cmd->add_option("--out", o->out, "Output directory (the pretrained model is cached there)");
  cmd->add_option("--methods", o->methods, "Methods to compare")->delimiter(',');
  cmd->add_option("--epochs", o->epochs, "Adaptation epochs per method")->check(positive());
  cmd->add_option("--pretrain-epochs", o->pretrain_epochs, "Pretraining epochs")->check(positive());
  cmd->add_option("--train-images", o->train_images, "Labelled images for the adaptation")
      ->check(positive());
  cmd->add_option("--workers", o->workers, "Data loading threads")->check(non_negative());
  cmd->add_option("--progress", o->progress, "auto, bar, lines or none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  cmd->add_flag("--fresh", o->fresh, "Pretrain again even if a cached model exists");
  o->precision.add_to(*cmd);
  return {cmd, [o] { run_demo(*o); }};
}

}  // namespace vitune
