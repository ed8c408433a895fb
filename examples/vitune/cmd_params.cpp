// cmd_params.cpp — `vitune params`: parameter counts of a model, with a PEFT method applied,
// as one JSON object:
//
//   {"model": ..., "method": ..., "options": {...}, "total": ..., "trainable": ...,
//    "trainable_backbone": ..., "trainable_head": ..., "head_total": ..., "backbone_total": ...}
//
// Papers count trainable parameters in the backbone only: that is "trainable_backbone".
// Without --method every parameter counts as trainable (full fine-tuning).
#include <cstdio>

#include "engine/init.h"
#include "examples/vitune/commands.h"
#include "peft/method.h"

namespace vitune {

namespace {

struct ParamsOptions {
  ModelOptions model;
  MethodOptions method;
};

void run_params(const ParamsOptions& o) {
  vt::init::SkipInit skip;  // counts need shapes only: no weight is filled
  auto model = vt::nn::create_model(o.model.model_spec());
  vt::peft::TunerConfig t = vt::peft::apply_method(*model, o.method.tuner("full"));
  auto j = vt::peft::json::parse(model->param_report(model->head_prefix()).json());
  vt::peft::json out = {{"model", model->name()}, {"method", t.method}, {"options", t.options}};
  for (auto& [k, v] : j.items()) out[k] = v;
  print_json(out);
}

}  // namespace

Command add_params_command(CLI::App& app) {
  auto o = std::make_shared<ParamsOptions>();
  CLI::App* cmd = app.add_subcommand("params", "Count a model's parameters (JSON on stdout)");
  o->model.add_to(*cmd, "Classes of the head (default: the config's; 0: no head)");
  o->method.add_to(*cmd, "full");
  cmd->footer("Any option may come from a JSON file: vitune params --config FILE (keys: long option names).");
  return {cmd, [o] { run_params(*o); }};
}

}  // namespace vitune
