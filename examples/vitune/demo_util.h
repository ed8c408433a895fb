// demo_util.h — what `vitune demo` and `vitune dense-demo` share: timing, and the pretrained
// source model cached between runs as a model directory (OUT/pretrained: config.json +
// model.safetensors, nn/model_zoo.h), tagged with the pretraining settings so a changed
// setting pretrains again. `--model OUT/pretrained` loads it in any other command.
#pragma once
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "nn/model.h"

namespace vitune {

double seconds_since(std::chrono::steady_clock::time_point t0);

// True if the model directory `dir` exists, `fresh` is false and it was written with these settings.
bool cached_pretrained(const std::string& dir, const nlohmann::json& settings, bool fresh);
// Writes `dir` as a model directory (atomically, file by file), tagged with the settings and
// the input normalisation (mean, std) the model was trained with.
void save_pretrained(const std::string& dir, const vt::nn::ImageModel& model, const nlohmann::json& settings,
                     const std::vector<double>& mean, const std::vector<double>& std);

}  // namespace vitune
