// method.cpp — options, the method registry and apply_method (see method.h).
#include "peft/method.h"

#include <cmath>

#include <algorithm>

namespace vt::peft {

const json& Options::at(const std::string& k) const {
  auto it = v_.find(k);
  if (it == v_.end()) throw Error("peft: method '" + method_ + "' has no option '" + k + "'");
  return *it;
}
int64_t Options::i(const std::string& k) const { return at(k).get<int64_t>(); }
double Options::d(const std::string& k) const { return at(k).get<double>(); }
bool Options::b(const std::string& k) const { return at(k).get<bool>(); }
std::string Options::s(const std::string& k) const { return at(k).get<std::string>(); }

// The registry (peft/methods.def): declare every method's function, then call each in order.
#define VT_METHOD(f) Method f();
#include "peft/methods.def"
#undef VT_METHOD

const std::vector<Method>& methods() {
  static const std::vector<Method> all = {
#define VT_METHOD(f) f(),
#include "peft/methods.def"
#undef VT_METHOD
  };
  return all;
}

const Method& find_method(const std::string& name) {
  std::string known;
  for (const Method& m : methods()) {
    if (m.name == name) return m;
    known += (known.empty() ? "" : ", ") + m.name;
  }
  throw Error("unknown PEFT method '" + name + "' (known: " + known + ")");
}

TunerConfig TunerConfig::from_json(const json& j) {
  if (!j.is_object()) throw Error("tuner config: expected a JSON object {\"method\": ..., \"options\": {...}}");
  TunerConfig c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "method" && it->is_string()) c.method = it->get<std::string>();
    else if (it.key() == "options" && it->is_object()) c.options = *it;
    else throw Error("tuner config: unexpected key or type for '" + it.key() +
                     "' (expected \"method\": string, \"options\": object)");
  }
  return c;
}

json parse_option_assignments(const std::vector<std::string>& kv) {
  json out = json::object();
  for (const std::string& a : kv) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error("method option '" + a + "' is not key=value");
    std::string key = a.substr(0, eq), val = a.substr(eq + 1);
    json v = json::parse(val, nullptr, /*allow_exceptions=*/false);
    out[key] = v.is_discarded() ? json(val) : v;
  }
  return out;
}

static const char* type_name(const json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  return "a string";
}

Options resolve_options(const Method& m, const json& given) {
  json v = json::object();
  for (const OptionSpec& o : m.options) v[o.name] = o.default_value;
  for (auto it = given.begin(); it != given.end(); ++it) {
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& o : m.options)
      if (o.name == it.key()) spec = &o;
    if (!spec) {
      std::string known;
      for (const OptionSpec& o : m.options) known += (known.empty() ? "" : ", ") + o.name;
      throw Error("method '" + m.name + "': unknown option '" + it.key() + "' (options: " +
                  (known.empty() ? "none" : known) + ")");
    }
    const json& d = spec->default_value;
    bool ok = d.is_boolean()          ? it->is_boolean()
              : d.is_number_integer() ? it->is_number_integer()
              : d.is_number()         ? it->is_number()
                                      : it->is_string();
    if (!ok)
      throw Error("method '" + m.name + "': option '" + it.key() + "' must be " + type_name(d) +
                  ", got " + it->dump());
    if (d.is_number_integer() && (it->get<int64_t>() < spec->min || it->get<int64_t>() > spec->max))
      throw Error("method '" + m.name + "': option '" + it.key() + "' must be in [" + std::to_string(spec->min) +
                  ", " + std::to_string(spec->max) + "], got " + it->dump());
    if (d.is_number() && !std::isfinite(it->get<double>()))
      throw Error("method '" + m.name + "': option '" + it.key() + "' must be finite, got " + it->dump());
    v[it.key()] = *it;
  }
  return Options(m.name, v);
}

namespace {

// "vit, swin" from a list; "every" when it is empty.
std::string listed(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& x : v) out += (out.empty() ? "" : ", ") + x;
  return out.empty() ? "every" : out;
}

bool supports(const std::vector<std::string>& v, const std::string& x) {
  return v.empty() || std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

TunerConfig apply_method(nn::ImageModel& model, const TunerConfig& cfg, const std::string& task) {
  return apply_custom_method(model, find_method(cfg.method), cfg.options, task);
}

TunerConfig apply_custom_method(nn::ImageModel& model, const Method& m, const json& options, const std::string& task) {
  if (!supports(m.families, model.family()))
    throw Error("method '" + m.name + "' supports the model families " + listed(m.families) +
                ", not " + model.family() + " (" + model.name() + ")");
  if (!supports(m.tasks, task))
    throw Error("method '" + m.name + "' supports the tasks " + listed(m.tasks) + ", not " + task);
  Options opt = resolve_options(m, options);
  Sites sites = model.tuner_sites();
  model.freeze("*");
  m.apply(sites, opt);
  model.unfreeze(sites.head_prefix + ".*");
  model.unfreeze("decode_head.*");  // a dense task's decoder (tasks/dense), when attached
  return {m.name, opt.values()};
}

Loss method_loss(const TunerConfig& cfg, nn::Module& model, Forward forward) {
  const Method& m = find_method(cfg.method);
  if (!m.loss) return {};
  return [&m, &model, opt = resolve_options(m, cfg.options), fwd = std::move(forward)](
             const Tensor& x, const Tensor& y) { return m.loss(model, opt, fwd, x, y); };
}

void method_reset_stats(const TunerConfig& cfg, nn::Module& model) {
  const Method& m = find_method(cfg.method);
  if (m.reset_stats) m.reset_stats(model);
}

json method_report(const TunerConfig& cfg, nn::ImageModel& model, int64_t img) {
  const Method& m = find_method(cfg.method);
  return m.report ? m.report(model, resolve_options(m, cfg.options), img) : json::object();
}

}  // namespace vt::peft
