// demo_util.cpp — see demo_util.h.
#include "examples/vitune/demo_util.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "nn/model_zoo.h"

namespace vitune {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool cached_pretrained(const std::string& dir, const nlohmann::json& settings, bool fresh) {
  if (fresh || vt::nn::model_dir_weights(dir).empty()) return false;
  std::ifstream in(dir + "/config.json");
  const nlohmann::json cfg = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!cfg.is_object() || !cfg.contains("pretrained_cfg") || !cfg["pretrained_cfg"].is_object() ||
      cfg["pretrained_cfg"].value("vitune_demo", nlohmann::json()) != settings)
    return false;
  std::fprintf(stderr, "vitune: using the cached pretrained model %s\n", dir.c_str());
  return true;
}

void save_pretrained(const std::string& dir, const vt::nn::ImageModel& model, const nlohmann::json& settings,
                     const std::vector<double>& mean, const std::vector<double>& std) {
  vt::nn::save_model_dir(dir, model, {{"vitune_demo", settings}, {"mean", mean}, {"std", std}});
}

}  // namespace vitune
