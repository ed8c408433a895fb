// cmd_forward.cpp — `vitune forward`: a checkpoint's logits (and features) for a batch of images.
//
//   IN.safetensors:  images (B, C, H, W) float        C = the model's input channels
//   OUT.safetensors: logits (B, classes), and features (B, D) with --features or when the
//                    checkpoint has no classifier head (then there are no logits)
// The head size comes from the checkpoint's head (in whichever key layout the family reads) unless
// --num-classes is given; the checkpoint must then fit exactly. --adapter DIR applies an adapter
// (vitune's or peft's layout) first, its head replacing the checkpoint's. Eval mode, no graph.
#include "engine/io/safetensors.h"
#include "examples/vitune/commands.h"
#include "peft/adapter_file.h"

namespace vitune {

namespace {

struct ForwardOptions {
  ModelOptions model;
  std::string checkpoint, adapter, input, output, device = "cpu";
  bool features = false;
};

// The `images` tensor of the input file, checked: (B, C, H, W) with C = in_chans, as F32.
vt::Tensor read_images(const std::string& path, int64_t in_chans) {
  auto file = vt::load_safetensors(path);
  auto it = file.tensors.find("images");
  if (it == file.tensors.end()) {
    std::string found;
    int n = 0;
    for (auto& [k, t] : file.tensors)
      if (n++ < 4) found += (n > 1 ? ", " : "") + k;
    if (n > 4) found += ", ... (" + std::to_string(n) + " tensors)";
    throw vt::Error(path + ": no tensor 'images' (found: " + (n ? found : "none") + ")");
  }
  const vt::Tensor& x = it->second;
  if (x.dim() != 4)
    throw vt::Error(path + ": tensor 'images' must be (B, C, H, W), got " + vt::shape_str(x.shape()));
  if (x.size(1) != in_chans)
    throw vt::Error(path + ": tensor 'images' has " + std::to_string(x.size(1)) +
                    " channels, the model takes " + std::to_string(in_chans) + " (shape " +
                    vt::shape_str(x.shape()) + ")");
  if (!vt::is_floating(x.dtype()))
    throw vt::Error(path + ": tensor 'images' must be floating point, got " + vt::dtype_name(x.dtype()));
  return x.to(vt::DType::F32);
}

void run_forward(const ForwardOptions& o) {
  const vt::Device device = vt::Device::parse(o.device);
  ModelSpec spec = o.model.model_spec();
  vt::peft::AdapterInfo info;
  if (!o.adapter.empty()) {
    info = vt::peft::read_adapter_info(o.adapter);
    if (!info.decode_head.is_null())
      throw vt::Error("adapter '" + o.adapter + "' carries a dense decoder; forward writes logits and features only");
    if (info.num_classes >= 0) {  // the adapter's head
      if (spec.num_classes >= 0 && spec.num_classes != info.num_classes)
        throw CLI::ValidationError("--num-classes", std::to_string(spec.num_classes) + " contradicts the adapter's " +
                                                        std::to_string(info.num_classes) + "-way head");
      spec.num_classes = info.num_classes;
    }
  }
  const bool classes_given = spec.num_classes >= 0;
  if (!classes_given) spec.num_classes = 0;  // sized from the checkpoint below
  auto model = vt::nn::create_model(spec);
  const std::string checkpoint = o.checkpoint.empty() ? vt::nn::model_dir_weights(spec.name) : o.checkpoint;
  if (checkpoint.empty()) throw CLI::RequiredError("--checkpoint (or --model DIR with a model.safetensors)");

  vt::nn::StateDict sd = vt::nn::read_checkpoint(checkpoint);
  if (!classes_given) model->reset_head(model->checkpoint_classes(sd));
  vt::nn::LoadOptions load;  // strict: throws naming every key that does not fit
  load.drop_head = classes_given && spec.num_classes == 0;  // --num-classes 0: features only
  if (!o.adapter.empty() && info.num_classes >= 0)  // the adapter brings its head
    load.drop_head = model->checkpoint_classes(sd) != info.num_classes || info.num_classes == 0;
  model->load_checkpoint(std::move(sd), load, checkpoint);
  if (!o.adapter.empty()) vt::peft::load_adapter(o.adapter, *model);

  vt::Tensor images = read_images(o.input, model->in_chans());
  model->to(device);
  model->eval();
  vt::NoGrad no_grad;
  vt::Tensor features = model->forward_features(images.to(device));  // (B, D)

  std::map<std::string, vt::Tensor> out;
  if (model->num_classes() > 0) out["logits"] = model->forward_head(features).to(vt::Device::cpu());
  if (o.features || model->num_classes() == 0) out["features"] = features.to(vt::Device::cpu());
  vt::save_safetensors(o.output, out, {{"format", "pt"}, {"model", model->name()},
                                       {"checkpoint", checkpoint}, {"adapter", o.adapter}});
  for (auto& [k, t] : out)
    std::printf("%s %s -> %s\n", k.c_str(), vt::shape_str(t.shape()).c_str(), o.output.c_str());
}

}  // namespace

Command add_forward_command(CLI::App& app) {
  auto o = std::make_shared<ForwardOptions>();
  CLI::App* cmd = app.add_subcommand("forward", "Run a checkpoint on a batch of images, write logits");
  o->model.add_to(*cmd, "Classes of the head (default: from the checkpoint; 0: features only)");
  cmd->add_option("--checkpoint", o->checkpoint,
                  "Weights: .safetensors (timm or torchvision names; Swin also old timm / Microsoft) "
                  "or a Google ViT .npz (default with --model DIR: DIR/model.safetensors)");
  cmd->add_option("--adapter", o->adapter,
                  "Adapter directory applied before the forward pass (vitune's or peft's layout)");
  cmd->add_option("--input", o->input, "Input .safetensors with tensor 'images' (B, C, H, W)")
      ->required();
  cmd->add_option("--output", o->output, "Output .safetensors (logits, features)")->required();
  cmd->add_flag("--features", o->features, "Also write the pooled features (B, D)");
  cmd->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->footer("Any option may come from a JSON file: vitune forward --config FILE (keys: long option names).");
  return {cmd, [o] { run_forward(*o); }};
}

}  // namespace vitune
