// trainer_state.cpp — the trainer's resume state, written and read back (see trainer_state.h).
#include "tasks/train/trainer_state.h"

#include <fstream>

#include "engine/io/safetensors.h"

namespace vt::tasks {

using json = nlohmann::json;

namespace {

// A key of the state's JSON, checked for presence and type: errors name the file and the key.
struct Reader {
  const std::string& path;
  Error fail(const std::string& key, const std::string& what) const {
    return Error("resume: '" + path + "': trainer state key '" + key + "' " + what);
  }
  const json& at(const json& j, const std::string& key) const {
    if (!j.is_object() || !j.contains(key)) throw fail(key, "is missing");
    return j.at(key);
  }
  int64_t count(const json& j, const std::string& key, int64_t lo) const {
    const json& v = at(j, key);
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > (int64_t(1) << 40))
      throw fail(key, "must be an integer in [" + std::to_string(lo) + ", 2^40], got " + v.dump());
    return v.get<int64_t>();
  }
  uint64_t u64(const json& j, const std::string& key) const {
    const json& v = at(j, key);
    if (!v.is_number_unsigned()) throw fail(key, "must be an unsigned integer, got " + v.dump());
    return v.get<uint64_t>();
  }
  double number(const json& j, const std::string& key) const {
    const json& v = at(j, key);
    if (!v.is_number()) throw fail(key, "must be a number, got " + v.dump());
    return v.get<double>();
  }
};

}  // namespace

void write_trainer_state(const std::string& path, const TrainerState& s) {
  json history = json::array();
  for (auto& r : s.history) history.push_back({{"epoch", r.epoch}, {"train_loss", r.train_loss}, {"eval", r.eval}});
  const json meta = {{"epoch", s.epoch}, {"history", history}, {"best_score", s.best_score},
                     {"best_epoch", s.best_epoch}, {"rng_seed", s.rng_seed},
                     {"rng_offset", s.rng_offset}, {"options", s.options}};
  std::map<std::string, Tensor> tensors;
  for (auto& [k, t] : s.optimizer) tensors["optim." + k] = t;
  save_safetensors(path, tensors, {{"vitune_trainer", meta.dump(-1, ' ', false, json::error_handler_t::replace)}});
}

TrainerState read_trainer_state(const std::string& path) {
  const SafetensorsFile f = load_safetensors(path);
  auto it = f.metadata.find("vitune_trainer");
  if (it == f.metadata.end()) throw Error("resume: '" + path + "' has no trainer metadata (\"vitune_trainer\")");
  const json meta = json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded() || !meta.is_object())
    throw Error("resume: '" + path + "': the trainer metadata is not a JSON object");
  const Reader r{path};
  TrainerState s;
  s.epoch = r.count(meta, "epoch", 0);
  s.best_score = r.number(meta, "best_score");
  s.best_epoch = r.count(meta, "best_epoch", 0);
  s.rng_seed = r.u64(meta, "rng_seed");
  s.rng_offset = r.u64(meta, "rng_offset");
  s.options = r.at(meta, "options");
  if (!s.options.is_object()) throw r.fail("options", "must be an object");
  const json& h = r.at(meta, "history");
  if (!h.is_array()) throw r.fail("history", "must be an array");
  for (const json& e : h)
  {
    s.history.push_back({r.count(e, "epoch", 0), r.number(e, "train_loss"), r.at(e, "eval")});
    if (!s.history.back().eval.is_null() && !s.history.back().eval.is_object())
      throw r.fail("history[].eval", "must be an object or null");
  }
  for (auto& [k, t] : f.tensors)
    if (k.rfind("optim.", 0) == 0) s.optimizer[k.substr(6)] = t;
  return s;
}

void drop_lines_after(const std::string& path, int64_t epoch) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("epoch") && j["epoch"].is_number() && j["epoch"].get<double>() <= (double)epoch)
      kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

}  // namespace vt::tasks
