// model_options.cpp — the --model / --model-config / --num-classes and --precision options
// (see commands.h).
#include "examples/vitune/commands.h"

namespace vitune {

namespace {
// CLI11's NonNegativeNumber prints the range as 0 to DBL_MAX; this one says what it wants.
CLI::Validator non_negative_integer() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        size_t used = 0;
        try {
          if (std::stoll(s, &used) >= 0 && used == s.size()) return "";
        } catch (const std::exception&) {
        }
        return "must be a non-negative integer, got '" + s + "'";
      },
      "N>=0");
}
}  // namespace

void ModelOptions::add_to(CLI::App& cmd, const std::string& num_classes_help) {
  auto* m = cmd.add_option("--model", name,
                           "Model name (e.g. vit_base_patch16_224, swin_tiny_patch4_window7_224) or a model "
                           "directory (config.json + model.safetensors)");
  auto* f = cmd.add_option("--model-config", config_file,
                           "JSON model config (ViTConfig or SwinConfig keys; \"base\": NAME starts from a "
                           "named one; \"family\": \"vit\"|\"swin\", default from base)");
  m->excludes(f);
  cmd.add_option("--num-classes", num_classes, num_classes_help)->check(non_negative_integer());
}

void PrecisionOption::add_to(CLI::App& cmd) {
  cmd.add_option("--precision", value,
                 "fp32, bf16 (frozen weights and their GEMMs in BF16, adapters F32) or auto (bf16 where "
                 "the CPU has native BF16)")
      ->check(CLI::IsMember({"fp32", "bf16", "auto"}))
      ->capture_default_str();
}

std::string PrecisionOption::apply(vt::nn::Module& model) const {
  const vt::nn::Precision p = vt::nn::parse_precision(value);
  vt::nn::apply_precision(model, p);
  return vt::nn::precision_name(p);
}

ModelSpec ModelOptions::model_spec() const {
  if (name.empty() && config_file.empty()) throw CLI::RequiredError("--model or --model-config");
  return ModelSpec{name, config_file, num_classes};
}

}  // namespace vitune
