// open_dense.cpp — dense data set specs as the command line writes them ("ade20k:/data/ade").
#include <filesystem>

#include "tasks/dense/dense_data.h"

namespace vt::data {

namespace {

// The scenes' seeds: fixed, and different for the train and eval sets so that they differ.
constexpr uint64_t kSceneTrainSeed = 0x7EA1;
constexpr uint64_t kSceneEvalSeed = 0xE7A1;

int64_t parse_count(const std::string& spec, const std::string& what, const std::string& s) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || v < 1)
    throw Error("open_dense_dataset: " + what + " '" + s + "' in '" + spec +
                "' is not a positive integer");
  return (int64_t)v;
}

}  // namespace

int64_t parse_scenes_spec(const std::string& spec, bool train, SceneOptions& o, uint64_t& seed) {
  const size_t colon = spec.find(':');
  if (spec.substr(0, colon) != "scenes" || colon == std::string::npos)
    throw Error("'" + spec + "' is not a scenes spec (scenes:N[:SIZE])");
  const std::string arg = spec.substr(colon + 1);
  const size_t sep = arg.find(':');
  const int64_t n = parse_count(spec, "N", arg.substr(0, sep));
  if (sep != std::string::npos) o.size = parse_count(spec, "SIZE", arg.substr(sep + 1));
  seed = train ? kSceneTrainSeed : kSceneEvalSeed;
  return n;
}

DatasetPtr open_dense_dataset(const std::string& spec, bool train, const std::string& task) {
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (task != "segmentation" && task != "depth" && task != "classification")
    throw Error("open_dense_dataset: unknown task '" + task + "' for '" + spec +
                "' (expected segmentation, depth or classification)");
  auto need_task = [&](const char* fits) {
    if (task != fits)
      throw Error("open_dense_dataset: '" + spec + "' is a " + fits + " data set, not one for " +
                  task);
  };
  if (kind == "ade20k") {
    need_task("segmentation");
    if (arg.empty()) throw Error("open_dense_dataset: '" + spec + "' needs a ROOT (ade20k:ROOT)");
    return read_ade20k(arg, train);
  }
  if (kind == "nyu") {
    need_task("depth");
    const size_t sep = arg.find(':');
    if (arg.empty() || sep == std::string::npos || sep == 0 || sep + 1 == arg.size())
      throw Error("open_dense_dataset: '" + spec + "' needs nyu:ROOT:SPLIT_FILE");
    const std::string root = arg.substr(0, sep);
    std::string split = arg.substr(sep + 1);
    if (std::filesystem::path(split).is_relative())
      split = (std::filesystem::path(root) / split).string();
    return read_nyu(root, split);
  }
  if (kind == "scenes") {
    SceneOptions o;
    o.task = task;
    uint64_t seed = 0;
    const int64_t n = parse_scenes_spec(spec, train, o, seed);
    return synthetic_scenes(n, o, seed);
  }
  throw Error("open_dense_dataset: unknown kind '" + kind + "' in '" + spec +
              "' (known: ade20k:ROOT, nyu:ROOT:SPLIT_FILE, scenes:N[:SIZE])");
}

}  // namespace vt::data
