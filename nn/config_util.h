// config_util.h — what the backbone configs (ViTConfig, SwinConfig) share: lookup by name in a
// table of named configs, and parsing a JSON config's text with a clear error.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/dtype.h"

namespace vt::nn {

template <typename Config>
std::vector<std::string> config_names(const std::vector<Config>& table) {
  std::vector<std::string> n;
  for (auto& c : table) n.push_back(c.name);
  return n;
}

// The config called `name`, or an error listing every known name.
template <typename Config>
Config find_config(const std::vector<Config>& table, const std::string& name, const char* kind) {
  for (auto& c : table)
    if (c.name == name) return c;
  std::string all;
  for (auto& n : config_names(table)) all += " " + n;
  throw Error(std::string("unknown ") + kind + " config '" + name + "' (known:" + all + ")");
}

inline nlohmann::json parse_config_json(const std::string& text, const char* kind) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string(kind) + " config: bad JSON: " + e.what());
  }
}

}  // namespace vt::nn
