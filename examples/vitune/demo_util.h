// demo_util.h — what `vitune demo` and `vitune dense-demo` share: timing, and the pretrained
// source model cached between runs (OUT/pretrained/model.safetensors, tagged with the
// pretraining settings so a changed setting pretrains again).
#pragma once
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "nn/module.h"

namespace vitune {

double seconds_since(std::chrono::steady_clock::time_point t0);

// True if `ckpt` exists, `fresh` is false and it was written with these settings.
bool cached_pretrained(const std::string& ckpt, const nlohmann::json& settings, bool fresh);
// Writes the model's state dict to `ckpt` (atomically), tagged with the settings.
void save_pretrained(const std::string& ckpt, const vt::nn::Module& model, const nlohmann::json& settings);

}  // namespace vitune
