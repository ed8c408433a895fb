// test_trainer.cpp — the training loop: it learns, it writes what it promises, and a resumed
// run reproduces an uninterrupted one exactly (on the CPU).
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/random.h"
#include "nn/vit.h"
#include "peft/adapter_file.h"
#include "peft/method.h"
#include "tasks/train/trainer.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;
namespace fs = std::filesystem;

namespace {

// 64 noisy images of 16×16: class c < 3 has a bright channel c, class 3 none (easy to learn).
data::DatasetPtr toy_data() {
  const int64_t n = 64;
  Tensor img = Tensor::zeros({n, 3, 16, 16}, DType::U8);
  std::vector<int64_t> labels(n);
  std::vector<double> noise = rand_values(n * 3 * 256, 5, 0, 60);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 4;
    labels[i] = c;
    for (int64_t ch = 0; ch < 3; ++ch)
      for (int64_t y = 0; y < 16; ++y)
        for (int64_t x = 0; x < 16; ++x) {
          const int64_t k = ((i * 3 + ch) * 16 + y) * 16 + x;
          const bool bright = ch == c;
          img.data<uint8_t>()[k] = (uint8_t)(noise[k] + (bright ? 180 : 0));
        }
  }
  return std::make_shared<data::ImageTensorDataset>(img, labels, 4, "toy");
}

struct Run {
  std::unique_ptr<nn::VisionTransformer> model;
  tasks::TaskModel clf;
  explicit Run(const std::string& method = "adaptformer") {
    manual_seed(7);
    nn::ViTConfig c = nn::ViTConfig::named("vit_test_micro");
    c.img_size = 16, c.num_classes = 4, c.drop_path = 0.2;  // drop-path uses the RNG stream
    model = std::make_unique<nn::VisionTransformer>(c);
    peft::TunerConfig t = peft::apply_method(
        *model, {method, method == "adaptformer" ? nlohmann::json{{"bottleneck", 4}} : nlohmann::json::object()});
    clf.module = model.get();
    clf.forward = [this](const Tensor& x) { return model->forward(x); };
    peft::AdapterInfo info{t, "toy", 4, nullptr};
    clf.save = [this, info](const std::string& dir) { peft::save_adapter(dir, *model, info); };
  }
};

std::unique_ptr<data::DataLoader> loader(bool train) {
  data::LoaderOptions o;
  o.batch = 16, o.shuffle = train, o.seed = 1, o.workers = train ? 2 : 0;
  return std::make_unique<data::DataLoader>(toy_data(), data::eval_transform(16, {0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}), o);
}

std::string temp_dir(const std::string& n) {
  auto p = fs::temp_directory_path() / ("vitune_trainer_" + n + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

}  // namespace

TEST_CASE("trainer: learns a toy task and writes checkpoints, metrics, curves, summary", "[trainer]") {
  Run r("full");
  auto tl = loader(true), el = loader(false);
  tasks::TrainOptions o;
  o.epochs = 6, o.lr = 3e-3, o.warmup_epochs = 1, o.progress = "none", o.log_every = 2;
  o.out_dir = temp_dir("learn");
  tasks::TrainSummary s = tasks::train_model(r.clf, *tl, el.get(), o);
  CHECK(s.last("top1") >= 90.0);
  CHECK(s.to_json().at("best_top1").get<double>() == s.best_score);
  CHECK(s.trainable == r.model->param_report().trainable);
  for (const char* f : {"metrics.jsonl", "curve.svg", "summary.json", "best/adapter_config.json",
                        "best/adapter_model.safetensors", "last/trainer_state.safetensors"})
    CHECK(fs::exists(o.out_dir + "/" + f));
  std::ifstream m(o.out_dir + "/metrics.jsonl");
  int evals = 0, trains = 0;
  for (std::string line; std::getline(m, line);) {
    auto j = nlohmann::json::parse(line);
    (j.at("type") == "eval" ? evals : trains)++;
  }
  CHECK(evals == 6);
  CHECK(trains == 6 * 2);
  // The best adapter loads onto a fresh model and gives the best epoch's accuracy.
  Run fresh("full");
  fresh.model = std::make_unique<nn::VisionTransformer>(r.model->cfg);
  peft::load_adapter(o.out_dir + "/best", *fresh.model);  // full fine-tuning: the adapter is everything
  tasks::TaskModel c2;
  c2.module = fresh.model.get();
  c2.forward = [&](const Tensor& x) { return fresh.model->forward(x); };
  auto el2 = loader(false);
  CHECK(tasks::evaluate(c2, *el2).metrics.at("top1").get<double>() == Approx(s.best_score));
  fs::remove_all(o.out_dir);
}

TEST_CASE("trainer: a resumed run equals an uninterrupted one", "[trainer]") {
  tasks::TrainOptions o;
  o.epochs = 3, o.lr = 5e-3, o.progress = "none", o.eval_every = 0;
  std::vector<double> straight;
  {
    Run r;
    auto tl = loader(true);
    o.out_dir = temp_dir("straight");
    tasks::train_model(r.clf, *tl, nullptr, o);
    for (auto& t : r.model->trainable_parameters()) {
      auto v = t.to_vector();
      straight.insert(straight.end(), v.begin(), v.end());
    }
    fs::remove_all(o.out_dir);
  }
  o.out_dir = temp_dir("resumed");
  {
    // Run epochs 1–2 for real: epochs = 3 but stop via an exception thrown from the forward
    // at the first iteration of epoch 3 (a crash: the last checkpoint is epoch 2's).
    Run r;
    auto tl = loader(true);
    int64_t calls = 0;
    const int64_t per_epoch = tl->batches_per_epoch();
    auto inner = r.clf.forward;
    r.clf.forward = [&](const Tensor& x) {
      if (calls++ == 2 * per_epoch) throw Error("simulated crash");
      return inner(x);
    };
    CHECK_THROWS_WITH(tasks::train_model(r.clf, *tl, nullptr, o), Catch::Contains("simulated crash"));
  }
  Run r;  // a new process: fresh model (same pretrained weights), resume
  auto tl = loader(true);
  tasks::TrainOptions ro = o;
  ro.resume = true;
  tasks::train_model(r.clf, *tl, nullptr, ro);
  std::vector<double> resumed;
  for (auto& t : r.model->trainable_parameters()) {
    auto v = t.to_vector();
    resumed.insert(resumed.end(), v.begin(), v.end());
  }
  REQUIRE(resumed.size() == straight.size());
  CHECK(resumed == straight);  // bit for bit

  // Resuming with other options is refused, naming them.
  Run r2;
  auto tl2 = loader(true);
  ro.lr = 1e-3;
  CHECK_THROWS_WITH(tasks::train_model(r2.clf, *tl2, nullptr, ro), Catch::Contains("options differ"));
  fs::remove_all(o.out_dir);
}
