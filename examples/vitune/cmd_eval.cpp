// cmd_eval.cpp — `vitune eval`: top-1 / top-5 accuracy of a backbone plus an adapter on a
// data set's test split, printed as one JSON line.
//
//   vitune eval --model vit_base_patch16_224 --weights W.safetensors --adapter runs/x/best
//               --data cifar100:DIR
//   vitune eval --task segmentation --model swin_base_patch4_window7_224 --weights W.safetensors
//               --adapter runs/ade/best --data ade20k:DIR --save-predictions runs/ade/pred
// Dense tasks print mIoU / mAcc / aAcc, or δ1-3, AbsRel, RMSE, log10, ... (tasks/dense).
#include <cstdio>

#include "examples/vitune/dense_setup.h"
#include "examples/vitune/instance_setup.h"

namespace vitune {

namespace {

struct EvalOptions {
  ModelOptions model;
  PrecisionOption precision;
  DataOptions data;
  TaskOptions task;
  std::string weights, adapter, progress = "auto";
  bool dense = false;
};

void run_dense_eval(const EvalOptions& o) {
  if (o.adapter.empty()) throw CLI::RequiredError("--adapter (a dense task needs its trained decoder)");
  vt::peft::AdapterInfo info = vt::peft::read_adapter_info(o.adapter);
  if (info.decode_head.is_null())
    throw vt::Error("adapter '" + o.adapter + "' has no dense decoder: it was trained for classification");
  const vt::dense::DenseHeadConfig hc = vt::dense::DenseHeadConfig::from_json(info.decode_head);
  if (hc.task != o.task.task)
    throw vt::Error("adapter '" + o.adapter + "' was trained for " + hc.task + ", not " + o.task.task);
  vt::data::DatasetPtr eval = open_dense(o.data.eval, false, o.data.eval_limit, o.task.task);
  if (hc.task == "segmentation" && eval->num_classes() != hc.num_classes)
    throw vt::Error("adapter '" + o.adapter + "' predicts " + std::to_string(hc.num_classes) +
                    " classes; the data has " + std::to_string(eval->num_classes()));
  auto model = vt::nn::load_model(o.model.model_spec(), o.weights, 0);
  auto head = attach_decoder(*model, hc);
  vt::peft::load_adapter(o.adapter, *model);
  const std::string precision = o.precision.apply(*model);
  const int64_t size = o.data.img_size > 0 ? o.data.img_size : model->img_size();
  auto loader = dense_loader(o.data, eval, false, size);
  TaskOptions t = o.task;
  t.max_depth = hc.max_depth;
  vt::tasks::TaskModel m = dense_task(*model, *head, t, info);
  save_predictions(m, t, vt::data::normalization(o.data.normalize), hc.num_classes);
  vt::tasks::EvalResult r = vt::tasks::evaluate(m, *loader, o.progress);
  nlohmann::json j = {{"model", model->name()}, {"task", hc.task}, {"adapter", o.adapter}, {"precision", precision},
                      {"data", eval->describe()}, {"images", r.images}, {"seconds", r.seconds}};
  j.update(r.metrics);
  if (!t.save_predictions.empty()) j["predictions"] = t.save_predictions;
  print_json(j);
}

void run_instance_eval(const EvalOptions& o) {
  if (o.adapter.empty()) throw CLI::RequiredError("--adapter (instance segmentation needs its trained detector)");
  vt::peft::AdapterInfo info = vt::peft::read_adapter_info(o.adapter);
  if (!info.decode_head.is_object() || info.decode_head.value("task", std::string()) != "instance")
    throw vt::Error("adapter '" + o.adapter + "' has no instance-segmentation detector (it was trained for " +
                    (info.decode_head.is_object() ? info.decode_head.value("task", std::string("?"))
                                                  : std::string("classification")) + ")");
  const vt::instance::MaskRcnnConfig dc = vt::instance::MaskRcnnConfig::from_json(info.decode_head);
  vt::data::DatasetPtr eval = open_instances(o.data.eval, false, o.data.eval_limit);
  if (eval->num_classes() != dc.num_classes)
    throw vt::Error("adapter '" + o.adapter + "' detects " + std::to_string(dc.num_classes) +
                    " classes; the data has " + std::to_string(eval->num_classes()));
  auto model = vt::nn::load_model(o.model.model_spec(), o.weights, 0);
  auto det = vt::instance::attach_mask_rcnn(*model, dc);
  vt::peft::load_adapter(o.adapter, *model);
  const std::string precision = o.precision.apply(*model);
  const int64_t size = o.data.img_size > 0 ? o.data.img_size : model->img_size();
  auto loader = instance_loader(o.data, eval, false, size);
  vt::tasks::TaskModel m = instance_task(*model, *det, o.task, info, vt::data::normalization(o.data.normalize));
  vt::tasks::EvalResult r = vt::tasks::evaluate(m, *loader, o.progress);
  nlohmann::json j = {{"model", model->name()}, {"task", "instance"}, {"adapter", o.adapter}, {"precision", precision},
                      {"data", eval->describe()}, {"images", r.images}, {"seconds", r.seconds}};
  j.update(r.metrics);
  if (!o.task.save_predictions.empty()) j["predictions"] = o.task.save_predictions;
  print_json(j);
}

void run_eval(const EvalOptions& o) {
  if (o.task.dense()) return run_dense_eval(o);
  if (o.task.instance()) return run_instance_eval(o);
  vt::data::DatasetPtr eval = o.data.open(o.data.eval, false, o.data.eval_limit);
  int64_t classes = eval->num_classes();
  vt::peft::AdapterInfo info;
  if (!o.adapter.empty()) {
    info = vt::peft::read_adapter_info(o.adapter);
    if (info.num_classes < 0) info.num_classes = o.model.num_classes >= 0 ? o.model.num_classes : classes;  // peft, no head saved: the base's
    if (info.num_classes < classes)
      throw vt::Error("adapter '" + o.adapter + "' has a " + std::to_string(info.num_classes) +
                      "-way head; the data has " + std::to_string(classes) + " classes");
    classes = info.num_classes;
  }
  auto model = vt::nn::load_model(o.model.model_spec(), o.weights, classes);
  if (!o.adapter.empty()) vt::peft::load_adapter(o.adapter, *model);
  if (o.dense) vt::nn::set_token_skipping(*model, false);  // DyT's dense speed baseline
  const std::string precision = o.precision.apply(*model);
  const int64_t size = o.data.img_size > 0 ? o.data.img_size : model->img_size();
  auto loader = o.data.loader(eval, false, size);
  vt::tasks::TaskModel clf = as_classifier(*model, info);
  vt::peft::method_reset_stats(info.tuner, *model);
  vt::tasks::EvalResult r = vt::tasks::evaluate(clf, *loader, o.progress);
  nlohmann::json j = {{"model", model->name()}, {"adapter", o.adapter}, {"precision", precision}, {"data", eval->describe()},
                      {"images", r.images},
                      {"seconds", r.seconds}, {"img_per_s", r.seconds > 0 ? r.images / r.seconds : 0.0}};
  j.update(r.metrics);  // top1, top5, loss
  j.update(vt::peft::method_report(info.tuner, *model, size));  // e.g. DyT's token rate and GMACs
  print_json(j);
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Accuracy of a backbone (+ adapter) on a test split");
  o->model.add_to(*cmd, "Classes of the head (default: the adapter's or the data's)");
  cmd->add_option("--weights", o->weights, "Backbone checkpoint");
  cmd->add_option("--adapter", o->adapter, "Adapter directory written by finetune (OUT/best), or one in Hugging Face peft's layout");
  o->precision.add_to(*cmd, /*with_device=*/true);
  o->data.add_to(*cmd, false);
  o->task.add_to(*cmd, true);
  cmd->add_flag("--no-token-skipping", o->dense,
                "DyT: compute the MLP for every token and mask afterwards (same accuracy; the dense speed baseline)");
  cmd->add_option("--progress", o->progress, "auto, bar, lines or none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  return {cmd, [o] { run_eval(*o); }};
}

}  // namespace vitune
