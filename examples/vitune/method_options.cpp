// method_options.cpp — --method / --method-opt / --tuner-config (see commands.h).
#include <fstream>
#include <sstream>

#include "examples/vitune/commands.h"

namespace vitune {

void MethodOptions::add_to(CLI::App& cmd, const std::string& default_method) {
  std::string names;
  for (const auto& m : vt::peft::methods()) names += (names.empty() ? "" : ", ") + m.name;
  cmd.add_option("--method", method, "PEFT method (default " + default_method + "): " + names);
  cmd.add_option("--method-opt", opts, "A method option as key=value (repeatable), e.g. r=8")
      ->allow_extra_args(false);
  cmd.add_option("--tuner-config", tuner_config,
                 "JSON file {\"method\": NAME, \"options\": {...}} (e.g. an adapter_config.json)");
}

vt::peft::TunerConfig MethodOptions::tuner(const std::string& default_method) const {
  vt::peft::TunerConfig t;
  t.method = default_method;
  if (!tuner_config.empty()) {
    std::ifstream f(tuner_config);
    if (!f) throw vt::Error("cannot open tuner config '" + tuner_config + "'");
    std::stringstream ss;
    ss << f.rdbuf();
    auto j = vt::peft::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object())
      throw vt::Error("tuner config '" + tuner_config + "' is not a JSON object");
    vt::peft::json keep = {{"method", j.value("method", default_method)},
                           {"options", j.value("options", vt::peft::json::object())}};
    t = vt::peft::TunerConfig::from_json(keep);
  }
  if (!method.empty()) {
    if (!tuner_config.empty() && method != t.method)
      throw CLI::ValidationError("--method", "'" + method + "' contradicts --tuner-config's '" +
                                                 t.method + "'");
    t.method = method;
  }
  const vt::peft::json given = vt::peft::parse_option_assignments(opts);  // (kept alive: items() is a view)
  for (auto& [k, v] : given.items()) t.options[k] = v;
  vt::peft::find_method(t.method);  // unknown names fail here, listing the known ones
  return t;
}

}  // namespace vitune
