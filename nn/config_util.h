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

// The largest model a config may ask for, in parameters (an estimate before any allocation):
// 2·10¹⁰ (80 GB in F32) by default. Lowered by programs that build models from untrusted
// configs with little memory (the fuzz targets, tests/fuzz/).
double max_model_parameters();
void set_max_model_parameters(double n);

// A config's range checks, each failing with "KIND config 'NAME': FIELD must be in [lo, hi], got v".
struct ConfigCheck {
  std::string prefix;  // "ViT config 'vit_base_patch16_224'"
  [[noreturn]] void fail(const std::string& why) const { throw Error(prefix + ": " + why); }
  void range(const char* field, int64_t v, int64_t lo, int64_t hi) const {
    if (v < lo || v > hi)
      fail(std::string(field) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(v));
  }
  // What ViT and Swin share: the image and its channels, the head, the MLP ratio, the norms'
  // epsilon, stochastic depth.
  void common(int64_t img_size, int64_t patch, int64_t in_chans, int64_t num_classes, double mlp_ratio, double eps,
              double drop_path) const {
    range("img_size", img_size, 1, 16384);
    range("patch", patch, 1, img_size);
    range("in_chans", in_chans, 1, 64);
    range("num_classes", num_classes, 0, 10000000);
    if (!(mlp_ratio > 0 && mlp_ratio <= 64)) fail("mlp_ratio must be in (0, 64], got " + std::to_string(mlp_ratio));
    if (!(eps > 0 && eps < 1)) fail("eps must be in (0, 1), got " + std::to_string(eps));
    if (!(drop_path >= 0 && drop_path < 1)) fail("drop_path must be in [0, 1), got " + std::to_string(drop_path));
  }
  void parameters(double n) const {  // an estimate
    if (n > max_model_parameters())
      fail("would have " + std::to_string((int64_t)n) + " parameters (more than the limit, " +
           std::to_string((int64_t)max_model_parameters()) + ")");
  }
};

// A config field read with its type checked (nlohmann's get<> would truncate 3.7 to 3, and a
// 1e300 given for an integer would overflow): errors name the config kind and the key.
inline int64_t config_int(const nlohmann::json& v, const char* kind, const std::string& key) {
  if (!v.is_number_integer())
    throw Error(std::string(kind) + " config: key '" + key + "' must be an integer, got " + v.dump());
  return v.get<int64_t>();
}
inline double config_number(const nlohmann::json& v, const char* kind, const std::string& key) {
  if (!v.is_number()) throw Error(std::string(kind) + " config: key '" + key + "' must be a number, got " + v.dump());
  return v.get<double>();
}
inline std::string config_string(const nlohmann::json& v, const char* kind, const std::string& key) {
  if (!v.is_string()) throw Error(std::string(kind) + " config: key '" + key + "' must be a string, got " + v.dump());
  return v.get<std::string>();
}
inline std::vector<int64_t> config_ints(const nlohmann::json& v, const char* kind, const std::string& key) {
  if (!v.is_array() || v.size() > 64)
    throw Error(std::string(kind) + " config: key '" + key + "' must be a list of at most 64 integers, got " + v.dump());
  std::vector<int64_t> out;
  for (const auto& e : v) out.push_back(config_int(e, kind, key + "[]"));
  return out;
}

inline nlohmann::json parse_config_json(const std::string& text, const char* kind) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string(kind) + " config: bad JSON: " + e.what());
  }
}

}  // namespace vt::nn
