// trainer.cpp — train_model and evaluate (see trainer.h); the metrics are in metric.cpp.
#include "tasks/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/dist.h"
#include "engine/io/safetensors.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "tasks/train/plot.h"
#include "tasks/train/progress.h"
#include "tasks/train/trainer_state.h"

namespace vt::tasks {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Where the model computes: its first parameter's device (the CPU for a model without any).
Device device_of(nn::Module& m) {
  for (auto& [name, t] : m.named_parameters())
    if (t.defined()) return t.device();
  return Device::cpu();
}

// The batch's tensors on `d` (the loader makes them on the CPU): copies when d is a GPU.
data::Batch on_device(const data::Batch& b, Device d) {
  if (d.type == Device::CPU) return b;
  data::Batch o = b;
  for (Tensor* t : {&o.images, &o.labels, &o.targets})
    if (t->defined()) *t = t->to(d);
  return o;
}

void append_line(const std::string& path, const json& j) {
  std::ofstream f(path, std::ios::app);
  if (!f) throw Error("trainer: cannot append to '" + path + "'");
  f << j.dump() << "\n";
}

void draw_curves(const std::string& path, const std::string& label, const Metric& metric,
                 const std::vector<EpochRecord>& h) {
  Series loss{"train loss", {}}, eloss{"eval loss", {}};
  std::vector<Series> curves;
  for (auto& k : metric.curve_keys()) curves.push_back({k, {}});
  for (auto& r : h) {
    const double x = (double)r.epoch + 1;
    loss.points.push_back({x, r.train_loss});
    if (r.eval.is_null()) continue;
    if (r.eval.contains("loss") && r.eval["loss"].is_number()) eloss.points.push_back({x, r.eval["loss"].get<double>()});
    for (auto& c : curves)
      if (r.eval.contains(c.name) && r.eval[c.name].is_number()) c.points.push_back({x, r.eval[c.name].get<double>()});
  }
  std::vector<Series> losses{loss};
  if (!eloss.points.empty()) losses.push_back(eloss);
  std::vector<Chart> charts{{label + ": loss", "epoch", "loss", losses}};
  if (!curves.empty() && !curves[0].points.empty())
    charts.push_back({label + ": " + metric.score_name(), "epoch", metric.curve_unit(), curves});
  write_line_charts_svg(path, charts);
}

// Directory `dir` replaced by what `write` puts into a fresh temporary one (a crash leaves
// either the old or the new checkpoint, never half of one).
void write_dir_atomic(const std::string& dir, const std::function<void(const std::string&)>& write) {
  const std::string tmp = dir + ".tmp", old = dir + ".old";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write(tmp);
  fs::remove_all(old);
  if (fs::exists(dir)) fs::rename(dir, old);
  fs::rename(tmp, dir);
  fs::remove_all(old);
}

// "" when the loss and every gradient are finite; else what is not ("the loss (nan)", "the
// gradient of 'blocks.0.attn.qkv.lora_qkv.A'"). A gradient is checked with one reduction:
// Σ g·0 is 0 unless some element is NaN or ±inf.
std::string nonfinite(double loss, const std::vector<std::pair<std::string, Tensor>>& params) {
  if (!std::isfinite(loss)) return "the loss is not finite (" + std::to_string(loss) + ")";
  NoGrad ng;
  for (auto& [name, p] : params) {
    const Tensor g = p.grad();
    if (g.defined() && !std::isfinite(sum(mul(g, 0.0)).item()))
      return "the gradient of '" + name + "' is not finite";
  }
  return "";
}

// Where a stopped run can resume from.
std::string last_good(const std::string& out) {
  const std::string state = out + "/last/trainer_state.safetensors";
  if (out.empty() || !fs::exists(state)) return "No checkpoint was written yet.";
  std::string epoch = "?";
  try {
    epoch = std::to_string(read_trainer_state(state).epoch + 1);
  } catch (const Error&) {
  }
  return "The last good checkpoint is " + out + "/last (after epoch " + epoch + "; continue with --resume).";
}

// Copies the trainable tensors of an adapter file into the model; every trainable tensor must
// be there with its shape.
void load_trainable(nn::Module& m, const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  nn::StateDict sd;
  for (auto& [n, t] : m.named_parameters()) {
    if (!t.requires_grad()) continue;
    auto it = f.tensors.find(n);
    if (it == f.tensors.end()) throw Error("resume: '" + path + "' has no tensor '" + n + "'");
    if (it->second.shape() != t.shape())
      throw Error("resume: '" + path + "': tensor '" + n + "' is " + shape_str(it->second.shape()) +
                  ", the model's " + shape_str(t.shape()));
    sd[n] = it->second;
  }
  m.load_state_dict(sd, /*strict=*/false);
}

}  // namespace

json TrainOptions::to_json() const {
  return {{"epochs", epochs}, {"lr", lr}, {"weight_decay", weight_decay},
          {"warmup_epochs", warmup_epochs}, {"warmup_lr", warmup_lr}, {"min_lr", min_lr},
          {"label_smoothing", label_smoothing}, {"clip_grad", clip_grad},
          {"eval_every", eval_every}, {"seed", seed}};
}

json TrainSummary::to_json() const {
  json j = {{"epochs", epochs}, {"iterations", iterations}, {"trainable_params", trainable},
            {"score", score_name}, {"best_" + score_name, best_score}, {"best_epoch", best_epoch},
            {"last_train_loss", last_train_loss}, {"train_seconds", train_seconds},
            {"eval_seconds", eval_seconds}, {"train_img_per_s", img_per_s}, {"ranks", ranks},
            {"comm_seconds", comm_seconds}, {"comm_bytes_per_step", comm_bytes_per_step},
            {"nonfinite_steps", nonfinite_steps}};
  for (auto& [k, v] : last_metrics.items()) j["last_" + k] = v;
  return j;
}

EvalResult evaluate(TaskModel& m, data::DataLoader& data, const std::string& progress,
                    const std::string& label) {
  const double t0 = now_s();
  const bool was_training = m.module->training();
  m.module->eval();
  NoGrad ng;
  std::unique_ptr<Metric> metric = m.metric();
  EvalResult r;
  const Device dev = device_of(*m.module);
  data.start_epoch(0);
  Progress bar(label, data.batches_per_epoch(), Progress::parse_mode(dist::rank() == 0 ? progress : "none"));
  data::Batch b;
  int64_t done = 0;
  while (data.next(b)) {
    if (b.images.defined() && b.images.size(0) > 0) {  // a data-parallel part may be empty
      if (m.eval_batch) {
        m.eval_batch(on_device(b, dev), *metric);
      } else {
        const Tensor x = on_device(b, dev).images;
        metric->add((m.predict ? m.predict(x) : m.forward(x)).to(Device::cpu()), b);  // metrics on the CPU
      }
      r.images += b.images.size(0);
    }
    bar.update(++done, r.images, "");
  }
  if (dist::world_size() > 1) {  // every process measured its part: add the counts
    metric->reduce([](std::vector<double>& v) { dist::all_reduce_sum(v); });
    std::vector<double> n = {(double)r.images};
    dist::all_reduce_sum(n);
    r.images = (int64_t)n[0];
  }
  if (r.images == 0)  // an empty test split would score 0 as if measured
    throw Error("evaluate: " + data.dataset().describe() + " has no images to evaluate");
  r.metrics = metric->result();
  r.score_name = metric->score_name();
  r.score = r.metrics.at(r.score_name).get<double>();
  r.seconds = now_s() - t0;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s %.4g", r.score_name.c_str(), r.score);
  bar.finish(buf);
  m.module->train(was_training);
  return r;
}

TrainSummary train_model(TaskModel& m, data::DataLoader& train, data::DataLoader* eval,
                         const TrainOptions& o) {
  if (o.epochs <= 0) throw Error("train: epochs must be positive, got " + std::to_string(o.epochs));
  if (o.log_every <= 0) throw Error("train: log_every must be positive, got " + std::to_string(o.log_every));
  if (!(o.lr > 0)) throw Error("train: lr must be positive");
  if (o.resume && o.out_dir.empty()) throw Error("train: resume needs an output directory");
  const int64_t per_epoch = train.batches_per_epoch();
  if (per_epoch == 0) throw Error("train: the training set gives no batch (" + train.dataset().describe() + ")");
  if (eval && eval->dataset().size() == 0)
    throw Error("train: the evaluation set " + eval->dataset().describe() + " has no images");
  // Data-parallel (engine/dist.h): every rank runs this loop on its part of each global batch;
  // only rank 0 writes files and shows progress (`writes`), every rank reads a resume.
  const int ranks = dist::world_size();
  const std::string out = o.out_dir, metrics = out + "/metrics.jsonl";
  const bool writes = !out.empty() && dist::rank() == 0;
  const std::string progress = dist::rank() == 0 ? o.progress : "none";
  if (writes) fs::create_directories(out);
  for (data::DataLoader* l : {&train, eval})
    if (l && l->options().shard_count != ranks)
      throw Error("train: " + std::to_string(ranks) + " processes, but a data loader is split into " +
                  std::to_string(l->options().shard_count) + " (LoaderOptions::shard_count)");

  AdamW opt(param_groups_no_decay(m.module->named_parameters(), o.weight_decay), o.lr);
  std::vector<Tensor> trainable = m.module->trainable_parameters();
  std::vector<std::pair<std::string, Tensor>> named_trainable;
  for (auto& [n, t] : m.module->named_parameters())
    if (t.requires_grad()) named_trainable.push_back({n, t});
  if (o.on_nonfinite != "stop" && o.on_nonfinite != "skip")
    throw Error("train: on_nonfinite must be \"stop\" or \"skip\", got \"" + o.on_nonfinite + "\"");
  TrainSummary s;
  const std::unique_ptr<Metric> metric = m.metric();  // for its names (curves, summary)
  s.score_name = metric->score_name();
  for (auto& t : trainable) s.trainable += t.numel();
  if (trainable.empty()) throw Error("train: the model has no trainable parameters");
  CosineSchedule sched(o.lr, o.epochs * per_epoch, (int64_t)std::llround(o.warmup_epochs * per_epoch),
                       o.warmup_lr, o.min_lr);

  std::vector<EpochRecord> history;
  int64_t first_epoch = 0;
  manual_seed(o.seed);
  if (o.resume) {
    std::string last = out + "/last";
    if (!fs::exists(last) && fs::exists(out + "/last.old")) last = out + "/last.old";
    const std::string state_path = last + "/trainer_state.safetensors";
    if (!fs::exists(state_path)) throw Error("resume: no checkpoint at '" + state_path + "'");
    const TrainerState st = read_trainer_state(state_path);
    if (st.options != o.to_json())
      throw Error("resume: the options differ from the interrupted run's: " + st.options.dump());
    load_trainable(*m.module, last + "/adapter_model.safetensors");
    opt.load_state(st.optimizer);
    first_epoch = st.epoch + 1;
    history = st.history;
    s.best_score = st.best_score;
    s.best_epoch = st.best_epoch;
    default_generator() = Generator(st.rng_seed);
    default_generator().offset = st.rng_offset;
    if (writes) drop_lines_after(metrics, first_epoch);  // a kill after them, before the checkpoint
    if (dist::rank() == 0)
      std::fprintf(stderr, "%s: resuming after epoch %lld from %s\n", o.label.c_str(),
                   (long long)first_epoch, last.c_str());
  } else if (writes) {
    fs::remove(metrics);
  }
  s.ranks = ranks;
  // Large trainable sets (full fine-tuning): gradient buckets overlapped with the backward.
  std::unique_ptr<dist::GradBuckets> buckets;
  if (ranks > 1 && o.bucket_mb > 0 && (double)s.trainable * 4 > o.bucket_mb * (1 << 20))
    buckets = std::make_unique<dist::GradBuckets>(trainable, (size_t)(o.bucket_mb * (1 << 20)));
  const double comm_s0 = dist::comm_seconds(), comm_b0 = dist::comm_bytes();
  int64_t steps = 0;

  int64_t images = 0;
  const Device dev = device_of(*m.module);  // batches go there; metrics and files stay on the CPU
  const int64_t stop_at = o.stop_after > 0 ? std::min(o.epochs, first_epoch + o.stop_after) : o.epochs;
  for (int64_t epoch = first_epoch; epoch < stop_at; ++epoch) {
    const double t0 = now_s();
    m.module->train();
    train.start_epoch(epoch);
    Progress bar(o.label + " epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs),
                 per_epoch, Progress::parse_mode(progress));
    data::Batch b;
    double loss_sum = 0, window = 0;
    int64_t applied = 0;  // steps whose loss counts (all but skipped non-finite ones)
    int64_t i = 0, epoch_images = 0, in_window = 0;
    while (train.next(b)) {
      const int64_t it = epoch * per_epoch + i;
      sched.apply(opt, it);
      opt.zero_grad();
      // This rank's part of the global batch: its share of the global mean loss, its samples'
      // dropout / drop-path counters (engine/random.h). One rank: the whole batch, share 1.
      const int64_t local = b.images.defined() ? b.images.size(0) : 0;
      const int64_t global = ranks > 1 ? b.global_size : local;
      double share = 1;  // this rank's part of the global loss
      if (ranks > 1) {
        const double mine = m.loss_count ? (local > 0 ? m.loss_count(b) : 0.0) : (double)local;
        std::vector<double> total = {m.loss_count ? mine : (double)global};
        if (m.loss_count) dist::all_reduce_sum(total);  // else: the images, known to every rank
        share = mine / total[0];
      }
      double l = 0;
      if (local > 0) {
        ScopedBatchShard shard({b.global_start, local, global});
        const data::Batch db = on_device(b, dev);
        Tensor loss = m.batch_loss ? m.batch_loss(db)
                      : m.loss     ? m.loss(db.images, db.targets.defined() ? db.targets : db.labels)
                                   : cross_entropy(m.forward(db.images), db.labels, o.label_smoothing);
        if (ranks > 1) loss = mul(loss, share);
        if (buckets) buckets->begin();
        loss.backward();
        l = loss.item();
      }
      if (ranks > 1) {
        if (buckets) {  // Σ over ranks = the global batch's gradient
          if (local == 0) buckets->begin();
          buckets->finish();
        } else {
          dist::all_reduce_gradients(trainable);
        }
        std::vector<double> v = {l};
        dist::all_reduce_sum(v);
        l = v[0];
        if (global < ranks) {  // an idle rank drew no numbers: align the generator's position
          std::vector<double> off((size_t)ranks, 0.0);
          off[(size_t)dist::rank()] = (double)default_generator().offset;
          dist::all_reduce_sum(off);
          default_generator().offset = (uint64_t)*std::max_element(off.begin(), off.end());
        }
      }
      ++steps;
      // A non-finite loss or gradient is never applied: the run stops naming it and the last
      // good checkpoint, or (--on-nonfinite skip) the step is dropped and counted.
      const std::string bad = nonfinite(l, named_trainable);
      if (!bad.empty()) {
        if (o.on_nonfinite != "skip")
          throw Error("train: " + bad + " at epoch " + std::to_string(epoch + 1) + ", iteration " +
                      std::to_string(i + 1) + "; the step was not applied. " + last_good(out) +
                      " (try a lower --lr, --clip-grad, or --on-nonfinite skip)");
        ++s.nonfinite_steps;
        opt.zero_grad();
        ++i;
        continue;
      }
      if (o.clip_grad > 0) clip_grad_norm(trainable, o.clip_grad);
      opt.step();
      loss_sum += l, window += l, ++in_window, ++applied;
      epoch_images += global;
      ++i;
      char extra[64];
      std::snprintf(extra, sizeof extra, "loss %.4f", loss_sum / (double)applied);
      bar.update(i, epoch_images, extra);
      if (writes && (i % o.log_every == 0 || i == per_epoch)) {
        const double el = now_s() - t0;
        append_line(metrics, {{"type", "train"}, {"epoch", epoch + 1}, {"iter", it + 1},
                              {"loss", window / in_window}, {"lr", opt.lr},
                              {"img_s", el > 0 ? epoch_images / el : 0.0}});
        window = 0, in_window = 0;
      }
    }
    const double train_s = now_s() - t0;
    s.train_seconds += train_s;
    images += epoch_images;
    char extra[64];
    std::snprintf(extra, sizeof extra, "loss %.4f", applied ? loss_sum / (double)applied : 0.0);
    bar.finish(extra);
    EpochRecord rec{epoch, applied ? loss_sum / (double)applied : 0.0, nullptr};
    s.last_train_loss = rec.train_loss;
    s.iterations = (epoch + 1) * per_epoch;

    const bool last_epoch = epoch + 1 == o.epochs;
    if (eval && (last_epoch || (o.eval_every > 0 && (epoch + 1) % o.eval_every == 0))) {
      EvalResult r = evaluate(m, *eval, progress, o.label + " eval");
      s.eval_seconds += r.seconds;
      rec.eval = r.metrics;
      s.last_metrics = r.metrics;
      std::string shown;
      for (auto& [k, v] : r.metrics.items()) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%s %.4g", shown.empty() ? "" : ", ", k.c_str(), v.get<double>());
        shown += buf;
      }
      if (dist::rank() == 0)
        std::fprintf(stderr, "%s epoch %lld: train loss %.4f, eval %s\n", o.label.c_str(),
                     (long long)epoch + 1, rec.train_loss, shown.c_str());
      if (writes) {
        json line = {{"type", "eval"}, {"epoch", epoch + 1}};
        line.update(r.metrics);
        append_line(metrics, line);
      }
      if (r.score > s.best_score || s.best_epoch == 0) {
        s.best_score = r.score, s.best_epoch = epoch + 1;
        if (writes && m.save) write_dir_atomic(out + "/best", m.save);
      }
    }
    history.push_back(rec);
    if (writes) {
      // Belt and braces: a checkpoint never holds a non-finite value.
      for (auto& [name, p] : named_trainable)
        if (!std::isfinite(sum(mul(p.detach(), 0.0)).item()))
          throw Error("train: parameter '" + name + "' is not finite after epoch " + std::to_string(epoch + 1) +
                      "; the checkpoint was not written. " + last_good(out));
      TrainerState st{epoch, history, s.best_score, s.best_epoch, default_generator().seed,
                      default_generator().offset, o.to_json(), {}};
      for (auto& [k, t] : opt.state()) st.optimizer[k] = t;
      write_dir_atomic(out + "/last", [&](const std::string& dir) {
        if (m.save) m.save(dir);
        write_trainer_state(dir + "/trainer_state.safetensors", st);
      });
      draw_curves(out + "/curve.svg", o.label, *metric, history);
    }
  }
  s.epochs = o.epochs;
  s.img_per_s = s.train_seconds > 0 ? images / s.train_seconds : 0.0;
  s.comm_seconds = dist::comm_seconds() - comm_s0;
  s.comm_bytes_per_step = steps ? (dist::comm_bytes() - comm_b0) / (double)steps : 0.0;
  if (writes) write_file_atomic(out + "/summary.json", s.to_json().dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  return s;
}

}  // namespace vt::tasks
