// module.h — the Module tree: named parameters, buffers and children, in timm's dotted names.
//
// A module registers its tensors under short names ("weight") and its children under theirs
// ("blocks.3"); the dotted path of every tensor is its state-dict key ("blocks.3.attn.qkv.weight"),
// so a timm checkpoint maps onto the model without a translation table. Parameters are handles:
// loading a state dict copies values into the existing tensors, so every holder sees them.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops.h"

namespace vt::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using StateDict = std::map<std::string, Tensor>;

struct LoadReport {
  std::vector<std::string> missing;     // in the model, not in the file
  std::vector<std::string> unexpected;  // in the file, not in the model
  std::vector<std::string> mismatched;  // "name: file [a, b] vs model [c, d]"
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string str() const;              // one line per problem, names included
};

struct ParamReport {
  int64_t total = 0, trainable = 0;
  int64_t trainable_backbone = 0, trainable_head = 0, head_total = 0;
  std::string json() const;
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- the tree ----
  NamedTensors named_parameters() const;  // every parameter, trainable or not, dotted names
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;  // all of them
  std::vector<Tensor> trainable_parameters() const;
  std::vector<std::pair<std::string, Module*>> named_modules();  // "" is this module
  Module* child(const std::string& name) const;                  // direct child or null

  // ---- state ----
  StateDict state_dict() const;  // parameters + persistent buffers
  // Copies matching tensors in (with dtype conversion); reports missing/unexpected/mismatched
  // names. strict: throws vt::Error listing every problem instead of returning them.
  LoadReport load_state_dict(const StateDict& sd, bool strict = true);

  // ---- modes and freezing ----
  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }
  // Glob patterns over dotted names ('*' matches any run of characters, including dots).
  // Returns how many parameters matched.
  int64_t freeze(const std::string& pattern = "*");
  int64_t unfreeze(const std::string& pattern = "*");
  // Counts; parameters whose name starts with `head_prefix` count as the head.
  ParamReport param_report(const std::string& head_prefix = "head") const;
  // Calls fn on every module (dotted name, module), this one first.
  void apply(const std::function<void(const std::string&, Module&)>& fn);
  // Moves / converts every parameter and buffer in place (the handles stay valid; floating
  // tensors only for a dtype change).
  void to(Device device);
  void to(DType dtype);
  // Adds (or replaces) a child from outside: model-level tuner state such as FacT's shared
  // factors lives here, so its parameters get dotted names like any other.
  void attach(const std::string& name, std::shared_ptr<Module> m);

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t, bool trainable = true);
  Tensor& register_buffer(const std::string& name, Tensor t, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.push_back({name, m});
    return m;
  }
  // Replaces a registered child (tuners wrap or swap sub-modules this way).
  void replace_module(const std::string& name, std::shared_ptr<Module> m);

 private:
  friend class ModuleAccess;
  std::vector<std::pair<std::string, Tensor>> params_;
  struct Buffer { std::string name; Tensor t; bool persistent; };
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

bool glob_match(const std::string& pattern, const std::string& text);

// Rebinds t's storage, strides and dtype to conv(t) (e.g. t.to(DType::BF16)): every handle to
// the tensor (a module's parameter, a tuner's reference) sees the converted one.
void convert_in_place(const Tensor& t, const std::function<Tensor(const Tensor&)>& conv);

}  // namespace vt::nn
