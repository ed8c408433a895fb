// cmd_params.cpp — `vitune params`: parameter counts of a model as one JSON object.
//
//   {"total": ..., "trainable": ..., "trainable_backbone": ..., "trainable_head": ...,
//    "head_total": ..., "backbone_total": ...}
// Everything is trainable until PEFT methods exist (the --method option comes with them).
#include <cstdio>

#include "examples/vitune/commands.h"

namespace vitune {

namespace {

void run_params(const ModelOptions& o) {
  auto model = build_backbone(o.model_spec());
  std::printf("%s\n", model->module().param_report(model->head_prefix()).json().c_str());
}

}  // namespace

Command add_params_command(CLI::App& app) {
  auto o = std::make_shared<ModelOptions>();
  CLI::App* cmd = app.add_subcommand("params", "Count a model's parameters (JSON on stdout)");
  o->add_to(*cmd, "Classes of the head (default: the config's; 0: no head)");
  cmd->footer("Any option may come from a JSON file: vitune params --config FILE (keys: long option names).");
  return {cmd, [o] { run_params(*o); }};
}

}  // namespace vitune
