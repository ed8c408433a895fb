// module.cpp — traversal, state dicts, freezing and parameter reports for the Module tree.
#include "nn/module.h"

#include <set>
#include <sstream>

#include "engine/backend.h"

namespace vt::nn {

bool glob_match(const std::string& p, const std::string& t) {
  size_t pi = 0, ti = 0, star = std::string::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == t[ti] || p[pi] == '?')) {
      ++pi, ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++, mark = ti;
    } else if (star != std::string::npos) {
      pi = star + 1, ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::string LoadReport::str() const {
  std::ostringstream os;
  for (auto& n : missing) os << "missing key: " << n << "\n";
  for (auto& n : unexpected) os << "unexpected key: " << n << "\n";
  for (auto& n : mismatched) os << "shape mismatch: " << n << "\n";
  return os.str();
}

std::string ParamReport::json() const {
  std::ostringstream os;
  os << "{\"total\": " << total << ", \"trainable\": " << trainable
     << ", \"trainable_backbone\": " << trainable_backbone
     << ", \"trainable_head\": " << trainable_head << ", \"head_total\": " << head_total
     << ", \"backbone_total\": " << total - head_total << "}";
  return os.str();
}

Tensor& Module::register_parameter(const std::string& name, Tensor t, bool trainable) {
  if (trainable) t.set_requires_grad(true);
  params_.push_back({name, t});
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t, bool persistent) {
  buffers_.push_back({name, t, persistent});
  return buffers_.back().t;
}

void Module::replace_module(const std::string& name, std::shared_ptr<Module> m) {
  for (auto& [n, c] : children_)
    if (n == name) {
      c = std::move(m);
      return;
    }
  throw Error("replace_module: no child named '" + name + "'");
}

Module* Module::child(const std::string& name) const {
  for (auto& [n, c] : children_)
    if (n == name) return c.get();
  return nullptr;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [n, c] : children_) {
    if (!c) continue;
    for (auto& [sub, m] : c->named_modules()) out.push_back({sub.empty() ? n : n + "." + sub, m});
  }
  return out;
}

void Module::apply(const std::function<void(const std::string&, Module&)>& fn) {
  for (auto& [n, m] : named_modules()) fn(n, *m);
}

static std::string join(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "." + b;
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  for (auto& [n, m] : const_cast<Module*>(this)->named_modules())
    for (auto& [pn, t] : m->params_) out.push_back({join(n, pn), t});
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  for (auto& [n, m] : const_cast<Module*>(this)->named_modules())
    for (auto& b : m->buffers_) out.push_back({join(n, b.name), b.t});
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<Tensor> Module::trainable_parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters())
    if (t.requires_grad()) out.push_back(t);
  return out;
}

StateDict Module::state_dict() const {
  StateDict sd;
  for (auto& [n, t] : named_parameters()) sd[n] = t;
  for (auto& [n, m] : const_cast<Module*>(this)->named_modules())
    for (auto& b : m->buffers_)
      if (b.persistent) sd[join(n, b.name)] = b.t;
  return sd;
}

LoadReport Module::load_state_dict(const StateDict& sd, bool strict) {
  LoadReport r;
  StateDict mine = state_dict();
  for (auto& [name, dst] : mine) {
    auto it = sd.find(name);
    if (it == sd.end()) {
      r.missing.push_back(name);
      continue;
    }
    const Tensor& src = it->second;
    if (src.shape() != dst.shape()) {
      r.mismatched.push_back(name + ": file " + shape_str(src.shape()) + " vs model " +
                             shape_str(dst.shape()));
      continue;
    }
  }
  for (auto& [name, t] : sd)
    if (!mine.count(name)) r.unexpected.push_back(name);
  if (strict && !r.ok()) throw Error("load_state_dict: checkpoint does not fit the model:\n" + r.str());
  NoGrad ng;
  for (auto& [name, dst] : mine) {
    auto it = sd.find(name);
    if (it == sd.end() || it->second.shape() != dst.shape()) continue;
    Tensor src = it->second.to(dst.device()).to(dst.dtype());
    Tensor d = dst.detach();
    backend_for(d).copy(src, d);
  }
  return r;
}

void Module::train(bool on) {
  for (auto& [n, m] : named_modules()) m->training_ = on;
}

static int64_t set_trainable(Module& root, const std::string& pattern, bool on) {
  int64_t n = 0;
  for (auto& [name, t] : root.named_parameters())
    if (glob_match(pattern, name)) {
      Tensor h = t;
      h.set_requires_grad(on);
      if (!on) h.zero_grad();
      ++n;
    }
  return n;
}
int64_t Module::freeze(const std::string& p) { return set_trainable(*this, p, false); }
int64_t Module::unfreeze(const std::string& p) { return set_trainable(*this, p, true); }

ParamReport Module::param_report(const std::string& head_prefix) const {
  ParamReport r;
  for (auto& [name, t] : named_parameters()) {
    const bool head = !head_prefix.empty() && name.rfind(head_prefix, 0) == 0;
    r.total += t.numel();
    if (head) r.head_total += t.numel();
    if (!t.requires_grad()) continue;
    r.trainable += t.numel();
    (head ? r.trainable_head : r.trainable_backbone) += t.numel();
  }
  return r;
}

void convert_in_place(const Tensor& t, const std::function<Tensor(const Tensor&)>& conv) {
  if (!t.defined()) return;
  Tensor moved = conv(t.detach());
  if (moved.storage() == t.storage()) return;
  TensorImpl* impl = t.impl();
  impl->storage = moved.storage();
  impl->strides = moved.strides();
  impl->offset = moved.offset();
  impl->dtype = moved.dtype();
  impl->grad = Tensor();
}

// Rebinds every parameter/buffer impl to converted storage, so existing handles see it.
static void convert_all(Module& root, const std::function<Tensor(const Tensor&)>& conv) {
  auto move = [&](const Tensor& t) { convert_in_place(t, conv); };
  for (auto& [n, t] : root.named_parameters()) move(t);
  for (auto& [n, t] : root.named_buffers()) move(t);
}

void Module::to(Device device) {
  convert_all(*this, [&](const Tensor& t) { return t.to(device); });
}

void Module::to(DType dtype) {
  convert_all(*this, [&](const Tensor& t) { return is_floating(t.dtype()) ? t.to(dtype) : t; });
}
void Module::attach(const std::string& name, std::shared_ptr<Module> m) {
  if (child(name)) replace_module(name, std::move(m));
  else register_module(name, std::move(m));
}

}  // namespace vt::nn
