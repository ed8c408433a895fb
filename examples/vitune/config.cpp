// config.cpp — JSON config files for CLI11 (see config.h).
#include "examples/vitune/config.h"

#include <nlohmann/json.hpp>

namespace vitune {

namespace {

// The subcommand chosen on the command line (the config's keys are its options), else the root.
const CLI::App& chosen_command(const CLI::App& root) {
  auto subs = root.get_subcommands();
  return subs.empty() ? root : *subs.front();
}

std::string config_path(const CLI::App& root) {
  const CLI::Option* opt = root.get_config_ptr();
  return opt && opt->count() > 0 ? opt->as<std::string>() : std::string("config file");
}

// A JSON scalar as the string CLI11 would have read on the command line.
std::string scalar_text(const nlohmann::json& v, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  throw CLI::ConfigError(where + ": value must be a string, number, boolean or array of those");
}

}  // namespace

std::vector<CLI::ConfigItem> JsonConfig::from_config(std::istream& input) const {
  const std::string file = config_path(root_);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(input);
  } catch (const nlohmann::json::exception& e) {
    throw CLI::ConfigError(file + ": bad JSON: " + e.what());
  }
  if (!j.is_object()) throw CLI::ConfigError(file + ": expected a JSON object {\"option\": value}");

  const CLI::App& cmd = chosen_command(root_);
  const std::string cmd_name = root_.get_name() + (&cmd == &root_ ? "" : " " + cmd.get_name());
  std::vector<CLI::ConfigItem> items;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const bool reserved = key == "help" || key == "config" || key.empty() || key[0] == '-';
    if (reserved || cmd.get_option_no_throw("--" + key) == nullptr)
      throw CLI::ConfigError(file + ": unknown key '" + key + "' (not an option of '" + cmd_name + "')");
    CLI::ConfigItem item;
    if (&cmd != &root_) item.parents = {cmd.get_name()};  // CLI11 routes it to the subcommand
    item.name = key;
    const std::string where = file + ": key '" + key + "'";
    if (it->is_array()) {
      for (auto& v : *it) item.inputs.push_back(scalar_text(v, where));
    } else {
      item.inputs.push_back(scalar_text(*it, where));
    }
    items.push_back(std::move(item));
  }
  return items;
}

std::string JsonConfig::to_config(const CLI::App* app, bool default_also, bool /*write_description*/,
                                  std::string /*prefix*/) const {
  const CLI::App& cmd = chosen_command(*app);
  nlohmann::json j = nlohmann::json::object();
  for (const CLI::Option* opt : cmd.get_options()) {
    if (opt->get_lnames().empty() || opt == cmd.get_help_ptr() || !opt->get_configurable()) continue;
    const std::string key = opt->get_lnames().front();
    if (opt->count() == 0) {
      if (default_also && !opt->get_default_str().empty()) j[key] = opt->get_default_str();
    } else if (opt->get_expected_min() == 0) {  // a flag
      j[key] = opt->as<bool>();
    } else if (opt->results().size() == 1) {
      j[key] = opt->results().front();
    } else {
      j[key] = opt->results();
    }
  }
  return j.dump(2) + "\n";
}

void add_json_config(CLI::App& root) {
  root.set_config("--config", "", "Read options from a JSON file (keys: long option names)");
  root.config_formatter(std::make_shared<JsonConfig>(root));
}

}  // namespace vitune
