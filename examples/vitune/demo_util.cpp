// demo_util.cpp — see demo_util.h.
#include "examples/vitune/demo_util.h"

#include <cstdio>
#include <filesystem>

#include "engine/io/safetensors.h"

namespace vitune {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool cached_pretrained(const std::string& ckpt, const nlohmann::json& settings, bool fresh) {
  if (fresh || !std::filesystem::exists(ckpt)) return false;
  auto f = vt::load_safetensors(ckpt);
  if (!f.metadata.count("vitune_demo") ||
      nlohmann::json::parse(f.metadata["vitune_demo"], nullptr, false) != settings)
    return false;
  std::fprintf(stderr, "vitune: using the cached pretrained model %s\n", ckpt.c_str());
  return true;
}

void save_pretrained(const std::string& ckpt, const vt::nn::Module& model, const nlohmann::json& settings) {
  std::map<std::string, vt::Tensor> sd;
  for (auto& [k, v] : model.state_dict()) sd[k] = v;
  vt::save_safetensors(ckpt, sd, {{"format", "pt"}, {"vitune_demo", settings.dump()}});
}

}  // namespace vitune
