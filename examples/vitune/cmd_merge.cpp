// cmd_merge.cpp — `vitune merge`: fold a LoRA or SSF adapter into the backbone's weights and
// write an ordinary checkpoint (timm names, with the adapter's head): the same logits as
// backbone + adapter, at the backbone's inference cost.
//
//   vitune merge --model vit_base_patch16_224 --weights W.safetensors --adapter runs/x/best
//                --output merged.safetensors
#include <cstdio>

#include "engine/io/safetensors.h"
#include "examples/vitune/run_setup.h"
#include "peft/merge.h"

namespace vitune {

namespace {

struct MergeOptions {
  ModelOptions model;
  std::string weights, adapter, output;
};

void run_merge(const MergeOptions& o) {
  vt::peft::AdapterInfo info = vt::peft::read_adapter_info(o.adapter);
  if (!vt::peft::find_method(info.tuner.method).mergeable)
    throw vt::Error("adapter '" + o.adapter + "': method " + info.tuner.method +
                    " cannot be merged into the backbone (mergeable: lora, ssf, bitfit, full)");
  std::unique_ptr<ImageModel> model;
  if (info.num_classes >= 0) {
    model = vt::nn::load_model(o.model.model_spec(), o.weights, info.num_classes);
  } else {  // a peft adapter that saved no head: the checkpoint's head, whatever its size
    model = vt::nn::create_model(o.model.model_spec());
    vt::nn::StateDict sd = vt::nn::read_checkpoint(o.weights);
    model->reset_head(model->checkpoint_classes(sd));
    model->load_checkpoint(std::move(sd), {}, o.weights);
  }
  vt::peft::load_adapter(o.adapter, *model);
  vt::nn::StateDict sd = vt::peft::merged_state_dict(*model);
  std::map<std::string, vt::Tensor> out(sd.begin(), sd.end());
  vt::save_safetensors(o.output, out, {{"format", "pt"}, {"vitune_merged_from", info.tuner.method}});
  print_json({{"output", o.output}, {"tensors", out.size()}, {"method", info.tuner.method}});
}

}  // namespace

Command add_merge_command(CLI::App& app) {
  auto o = std::make_shared<MergeOptions>();
  CLI::App* cmd = app.add_subcommand("merge", "Fold a LoRA/SSF adapter into the backbone weights");
  o->model.add_to(*cmd, "ignored: the head comes from the adapter");
  cmd->add_option("--weights", o->weights, "Backbone checkpoint")->required();
  cmd->add_option("--adapter", o->adapter, "Adapter directory (adapter_config.json + adapter_model.safetensors; vitune's or peft's layout)")
      ->required();
  cmd->add_option("--output", o->output, "Merged checkpoint to write (.safetensors)")->required();
  return {cmd, [o] { run_merge(*o); }};
}

}  // namespace vitune
