// method.h — PEFT methods by name: options, the registry, and applying one to a model.
//
//   TunerConfig{"lora", {"r": 8}}  --apply_method-->  model with LoRA attached, backbone frozen,
//                                                    tuner parameters and the head trainable
//
// Every method declares its options with defaults and a help line; unknown options and values
// of the wrong type are errors that name the option. A method is one function that attaches its
// modules to the model's tuner sites (nn/tuner_sites.h); apply_method freezes everything before
// and unfreezes the head after, so a method file only says what it adds (or, for BitFit and full
// fine-tuning, what it unfreezes). A method may also bring hooks — the families and tasks it
// supports, its own training loss, counters it reports after an evaluation — so the commands
// and the trainer never name a method. Adding a method: its file, plus one line in method.cpp.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/model.h"

namespace vt::peft {

using json = nlohmann::json;
using Sites = nn::TunerSites;
using BlockSites = nn::BlockSites;
using Forward = std::function<Tensor(const Tensor&)>;              // images -> outputs
using Loss = std::function<Tensor(const Tensor&, const Tensor&)>;  // (images, targets) -> scalar

struct OptionSpec {
  std::string name;
  json default_value;  // its type is the option's type (number, string, bool)
  std::string help;
  // An integer option's range (sizes: rank, bottleneck, length, ...): checked before anything
  // is built, so that r=10^9 is an error, not gigabytes of tensors. Real options must be finite.
  int64_t min = 0, max = 4096;
};

// A method's resolved options: every declared option, the user's value or the default.
class Options {
 public:
  Options(std::string method, json values) : method_(std::move(method)), v_(std::move(values)) {}
  int64_t i(const std::string& k) const;
  double d(const std::string& k) const;
  bool b(const std::string& k) const;
  std::string s(const std::string& k) const;
  const json& values() const { return v_; }

 private:
  const json& at(const std::string& k) const;
  std::string method_;
  json v_;
};

struct Method {
  std::string name;
  std::string summary;  // one line: the paper and what it computes
  std::vector<OptionSpec> options;
  std::function<void(Sites&, const Options&)> apply;
  bool mergeable = false;  // its tuners fold into the frozen weights (peft/merge.h)

  // ---- hooks (all optional) ----
  // What it supports: model families ("vit", "swin") and tasks ("classification",
  // "segmentation", "depth"); empty: every one.
  std::vector<std::string> families, tasks;
  // Its own training loss around the task's forward, replacing the task's (DyT's two passes).
  std::function<Tensor(nn::Module&, const Options&, const Forward&, const Tensor& images,
                       const Tensor& targets)> loss;
  // Clears its counters before an evaluation or benchmark pass ...
  std::function<void(nn::Module&)> reset_stats;
  // ... and after it, the numbers it adds to the command's JSON summary (DyT: the share of
  // tokens through the MLPs and the GMACs per image at img × img pixels).
  std::function<json(nn::ImageModel&, const Options&, int64_t img)> report;
};

// Every method, in a fixed order (linear, full, bitfit, vpt, adapter, adaptformer, lora,
// prefix, ssf, fact, ...).
const std::vector<Method>& methods();
const Method& find_method(const std::string& name);  // vt::Error listing the known names

struct TunerConfig {
  std::string method = "linear";
  json options = json::object();
  json to_json() const {
    return {{"method", method}, {"options", options.is_null() ? json::object() : options}};
  }
  static TunerConfig from_json(const json& j);  // {"method": ..., "options": {...}}
};

// Options given as "key=value" strings (the CLI's --method-opt): the value is read as JSON
// when it parses (8, 0.1, true, "x"), else as a string.
json parse_option_assignments(const std::vector<std::string>& kv);

// Checks the options against the method's specs (unknown key, wrong type) and fills defaults.
Options resolve_options(const Method& m, const json& given);

// Checks that the method supports the model's family and the task, freezes the whole model,
// attaches the method, unfreezes the head ("head.*") and a dense decoder ("decode_head.*",
// tasks/dense) if one is attached.
// Returns the resolved config (defaults filled in), what an adapter file records.
TunerConfig apply_method(nn::ImageModel& model, const TunerConfig& cfg,
                         const std::string& task = "classification");
// The same for a Method value (one not in the registry, e.g. a test's or a variant).
TunerConfig apply_custom_method(nn::ImageModel& model, const Method& m, const json& options,
                         const std::string& task = "classification");

// The hooks of cfg's method, for the commands and the trainer:
// its loss over `forward` (an empty function: the task's own loss) ...
Loss method_loss(const TunerConfig& cfg, nn::Module& model, Forward forward);
// ... its counters reset, and its report (an empty object when it has none).
void method_reset_stats(const TunerConfig& cfg, nn::Module& model);
json method_report(const TunerConfig& cfg, nn::ImageModel& model, int64_t img);

}  // namespace vt::peft
