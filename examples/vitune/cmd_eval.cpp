// cmd_eval.cpp — `vitune eval`: top-1 / top-5 accuracy of a backbone plus an adapter on a
// data set's test split, printed as one JSON line.
//
//   vitune eval --model vit_base_patch16_224 --weights W.safetensors --adapter runs/x/best
//               --data cifar100:DIR
#include <cstdio>

#include "examples/vitune/run_setup.h"

namespace vitune {

namespace {

struct EvalOptions {
  ModelOptions model;
  DataOptions data;
  std::string weights, adapter, progress = "auto";
};

void run_eval(const EvalOptions& o) {
  vt::data::DatasetPtr eval = o.data.open(o.data.eval, false, o.data.eval_limit);
  int64_t classes = eval->num_classes();
  vt::peft::AdapterInfo info;
  if (!o.adapter.empty()) {
    info = vt::peft::read_adapter_info(o.adapter);
    if (info.num_classes < classes)
      throw vt::Error("adapter '" + o.adapter + "' has a " + std::to_string(info.num_classes) +
                      "-way head; the data has " + std::to_string(classes) + " classes");
    classes = info.num_classes;
  }
  auto model = load_backbone(o.model.model_spec(), o.weights, classes);
  if (!o.adapter.empty()) vt::peft::load_adapter(o.adapter, model->module());
  const int64_t size = o.data.img_size > 0 ? o.data.img_size : model_img_size(*model);
  auto loader = o.data.loader(eval, false, size);
  vt::tasks::Classifier clf = as_classifier(*model, info);
  vt::tasks::EvalResult r = vt::tasks::evaluate(clf, *loader, o.progress);
  nlohmann::json j = {{"model", model->name()}, {"adapter", o.adapter}, {"data", eval->describe()},
                      {"images", r.images}, {"top1", r.top1}, {"top5", r.top5}, {"loss", r.loss},
                      {"seconds", r.seconds}};
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Accuracy of a backbone (+ adapter) on a test split");
  o->model.add_to(*cmd, "Classes of the head (default: the adapter's or the data's)");
  cmd->add_option("--weights", o->weights, "Backbone checkpoint");
  cmd->add_option("--adapter", o->adapter, "Adapter directory written by finetune (OUT/best)");
  o->data.add_to(*cmd, false);
  cmd->add_option("--progress", o->progress, "auto, bar, lines or none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  return {cmd, [o] { run_eval(*o); }};
}

}  // namespace vitune
