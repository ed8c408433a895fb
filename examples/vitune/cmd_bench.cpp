// cmd_bench.cpp — `vitune bench`: speed and memory of one training (or inference) step.
//
//   vitune bench --model vit_small_patch16_224 --method lora --batch 8 --steps 10 [--threads 2]
//                [--mode train|infer]
//
// Prints one JSON line: the median step time over --steps steps after 2 warm-up steps,
// images/s, peak RSS, the model's forward FLOPs per image (ImageModel::forward_cost: every GEMM
// plus attention, 2 FLOPs per multiply-add), the achieved forward-equivalent
// GFLOP/s, Eigen's own GEMM GFLOP/s on a 1024³ product measured in the same run (the ceiling to
// compare with), and the trainable parameter count. Memory: peak_rss_mb (the whole run),
// model_rss_mb (resident after building the model, before the first step) and
// saved_activations_mb (what the graph keeps for the backward pass, read at the loss).
// Random images and labels: no data needed.
// bench/compare.sh runs this and bench/torch_peft_step.py alternately and prints the ratios.
#include <sys/resource.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#else
static void omp_set_num_threads(int) {}
static int omp_get_max_threads() { return 1; }
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "engine/backend.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "examples/vitune/run_setup.h"

namespace vitune {

namespace {

struct BenchOptions {
  ModelOptions model;
  MethodOptions method;
  PrecisionOption precision;
  int64_t batch = 8, steps = 10, threads = 0;
  std::string mode = "train";
  bool no_skipping = false;  // DyT: every token through every MLP (the dense baseline)
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Resident set size now, in MB (/proc/self/statm), or -1 where that file does not exist.
double rss_now_mb() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  const int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0) : -1;
}

double gemm_ceiling_gflops() {
  vt::NoGrad ng;
  vt::Tensor a = vt::randn({1024, 1024}), b = vt::randn({1024, 1024});
  std::vector<double> t;
  for (int r = 0; r < 5; ++r) {
    double t0 = now_s();
    vt::Tensor c = vt::matmul(a, b);
    t.push_back(now_s() - t0);
  }
  std::sort(t.begin(), t.end());
  return 2.0 * 1024 * 1024 * 1024 / t[2] / 1e9;
}

void run_bench(const BenchOptions& o) {
  if (o.threads > 0) omp_set_num_threads((int)o.threads);
  if (o.mode != "train" && o.mode != "infer") throw CLI::ValidationError("--mode", "train or infer");
  ModelSpec spec = o.model.model_spec();
  auto model = vt::nn::create_model(spec);
  vt::peft::TunerConfig t = vt::peft::apply_method(*model, o.method.tuner("linear"));
  const std::string precision = o.precision.apply(*model);
  const int64_t size = model->img_size();
  vt::manual_seed(0);
  const vt::Device dev = vt::Device::parse(o.precision.device);
  vt::Tensor x = vt::randn({o.batch, model->in_chans(), size, size}).to(dev);
  vt::Tensor y = vt::Tensor::zeros({o.batch}, vt::DType::I64).to(dev);
  vt::AdamW opt(vt::param_groups_no_decay(model->named_parameters(), 1e-4), 1e-4);
  auto fwd = [&] { return model->forward_head(model->forward_features(x)); };
  std::vector<double> times;
  const double model_rss = rss_now_mb();  // weights, code, and what building the model left
  double saved_mb = 0;                     // activations kept for the backward pass, at the loss
  if (o.mode == "infer") model->eval();
  if (o.no_skipping) vt::nn::set_token_skipping(*model, false);
  vt::peft::method_reset_stats(t, *model);
  for (int64_t s = 0; s < o.steps + 2; ++s) {
    const double t0 = now_s();
    if (o.mode == "train") {
      opt.zero_grad();
      vt::Tensor loss = vt::cross_entropy(fwd(), y);
      saved_mb = std::max(saved_mb, vt::saved_bytes() / (1024.0 * 1024.0));
      loss.backward();
      opt.step();
      vt::backend_for(dev).synchronize();  // a GPU's queue drained before the clock stops
    } else {
      vt::NoGrad ng;
      fwd();
      vt::backend_for(dev).synchronize();
    }
    if (s >= 2) times.push_back(now_s() - t0);
  }
  std::sort(times.begin(), times.end());
  const double step = times[times.size() / 2];
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  nlohmann::json j = {{"model", model->name()}, {"method", t.method}, {"mode", o.mode}, {"precision", precision},
                      {"batch", o.batch}, {"threads", omp_get_max_threads()}, {"step_s", step},
                      {"img_per_s", o.batch / step}, {"peak_rss_mb", ru.ru_maxrss / 1024.0},
                      {"model_rss_mb", model_rss},
                      {"saved_activations_mb", saved_mb},
                      {"trainable", model->param_report(model->head_prefix()).trainable}};
  j.update(vt::peft::method_report(t, *model, size));  // e.g. DyT's token rate
  const double f = 2 * model->forward_cost(size).macs;  // FLOPs: 2 per multiply-add
  j["forward_gflop_per_image"] = f / 1e9;
  if (o.mode == "infer") j["achieved_gflops"] = f * o.batch / step / 1e9;
  j["gemm_ceiling_gflops"] = gemm_ceiling_gflops();  // the CPU's F32 GEMM
  j["device"] = dev.str();
  print_json(j);
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Time a training or inference step (JSON on stdout)");
  o->model.add_to(*cmd, "Classes of the head (default: the config's)");
  o->method.add_to(*cmd, "linear");
  o->precision.add_to(*cmd, /*with_device=*/true);
  cmd->add_option("--batch", o->batch, "Batch size")->check(in_range(1, 1 << 20));
  cmd->add_option("--steps", o->steps, "Timed steps (after 2 warm-up steps)")->check(in_range(1, 1000000));
  cmd->add_option("--threads", o->threads, "CPU threads (default: OMP_NUM_THREADS / all)")
      ->check(in_range(0, 1024));
  cmd->add_option("--mode", o->mode, "train or infer")->check(CLI::IsMember({"train", "infer"}));
  cmd->add_flag("--no-token-skipping", o->no_skipping,
                "DyT: every token through every MLP, masked afterwards (the speed baseline)");
  return {cmd, [o] { run_bench(*o); }};
}

}  // namespace vitune
