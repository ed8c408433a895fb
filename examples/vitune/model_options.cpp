// model_options.cpp — the --model / --model-config / --num-classes and --precision options
// (see commands.h).
#include "examples/vitune/commands.h"

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <sstream>

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

namespace {
CLI::Validator number_check(double lo, double hi, bool open_lo, const std::string& what) {
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (end == s.c_str() || *end != '\0') return "must be a number, got '" + s + "'";
        if (!std::isfinite(v) || v < lo || v > hi || (open_lo && v == lo)) return "must be " + what + ", got '" + s + "'";
        return "";
      },
      what);
}
}  // namespace

CLI::Validator positive() { return number_check(0, DBL_MAX, true, "a finite number > 0"); }
CLI::Validator non_negative() { return number_check(0, DBL_MAX, false, "a finite number >= 0"); }
CLI::Validator in_range(double lo, double hi) {
  auto num = [](double x) {
    std::ostringstream o;
    if (x == std::floor(x) && std::fabs(x) < 1e15) o << (long long)x;
    else o << x;
    return o.str();
  };
  return number_check(lo, hi, false, "in [" + num(lo) + ", " + num(hi) + "]");
}

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

void PrecisionOption::add_to(CLI::App& cmd, bool with_device) {
  cmd.add_option("--precision", value,
                 "fp32, bf16 (frozen weights and their GEMMs in BF16, adapters F32) or auto (bf16 where "
                 "the CPU has native BF16)")
      ->check(CLI::IsMember({"fp32", "bf16", "auto"}))
      ->capture_default_str();
  if (!with_device) return;
  cmd.add_option("--device", device,
                 "cpu, cuda or cuda:N (the CUDA backend: libvitune_cuda.so, a GPU of compute capability 8.0+)")
      ->check([](const std::string& v) -> std::string {
        try {
          vt::Device::parse(v);
        } catch (const vt::Error& e) {
          return e.what();
        }
        return "";
      })
      ->capture_default_str();
}

std::string PrecisionOption::apply(vt::nn::Module& model) const {
  const vt::Device dev = vt::Device::parse(device);
  // auto: BF16 where the hardware has it natively (the CPU's avx512bf16; every GPU the CUDA
  // module is built for, sm_80 and later).
  const vt::nn::Precision p = value == "auto" && dev.type == vt::Device::CUDA ? vt::nn::Precision::BF16
                                                                              : vt::nn::parse_precision(value);
  vt::nn::apply_precision(model, p);
  if (dev != vt::Device::cpu()) model.to(dev);
  return vt::nn::precision_name(p);
}

ModelSpec ModelOptions::model_spec() const {
  if (name.empty() && config_file.empty()) throw CLI::RequiredError("--model or --model-config");
  return ModelSpec{name, config_file, num_classes};
}

}  // namespace vitune
