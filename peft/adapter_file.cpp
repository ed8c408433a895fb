// adapter_file.cpp — save_adapter / load_adapter (see adapter_file.h).
#include "peft/adapter_file.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/io/safetensors.h"
#include "peft/peft_format.h"

namespace vt::peft {

namespace fs = std::filesystem;

static std::string config_path(const std::string& dir) { return dir + "/adapter_config.json"; }
static std::string model_path(const std::string& dir) { return dir + "/adapter_model.safetensors"; }
static std::string module_of(const std::string& tensor_name) {  // "a.b.weight" -> "a.b"
  const size_t dot = tensor_name.rfind('.');
  return dot == std::string::npos ? "" : tensor_name.substr(0, dot);
}

void save_adapter(const std::string& dir, nn::Module& model, const AdapterInfo& info) {
  if (info.format == "peft") {
    auto* m = dynamic_cast<nn::ImageModel*>(&model);
    if (!m) throw Error("save_adapter: peft's layout holds an image model's LoRA and head only (a dense task's decoder has no place in it)");
    return save_peft_adapter(dir, *m, info, info.peft_names);
  }
  if (info.format != "vitune")
    throw Error("save_adapter: unknown adapter format '" + info.format + "' (vitune or peft)");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("save_adapter: cannot create directory '" + dir + "': " + ec.message());
  std::map<std::string, Tensor> tensors;
  std::set<std::string> trained_modules;  // dotted prefixes of modules with a trainable tensor
  for (auto& [name, t] : model.named_parameters())
    if (t.requires_grad()) {
      tensors[name] = t.detach().to(Device::cpu());
      trained_modules.insert(module_of(name));
    }
  if (tensors.empty()) throw Error("save_adapter: the model has no trainable parameters to save");
  // The state those modules keep besides parameters (a decoder's BatchNorm running statistics).
  const nn::StateDict state = model.state_dict();
  for (auto& [name, t] : model.named_buffers())
    if (trained_modules.count(module_of(name)) && state.count(name))
      tensors[name] = t.detach().to(Device::cpu());
  json cfg = info.tuner.to_json();
  cfg["base_model"] = info.base_model;
  cfg["num_classes"] = info.num_classes;
  cfg["format"] = "vitune-adapter-1";
  if (!info.decode_head.is_null()) cfg["decode_head"] = info.decode_head;
  save_safetensors(model_path(dir), tensors, {{"format", "pt"}, {"vitune_method", info.tuner.method}});
  write_file_atomic(config_path(dir), cfg.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

json read_adapter_config(const std::string& dir) {
  const std::string p = config_path(dir);
  std::ifstream f(p);
  if (!f) throw Error("adapter: cannot open '" + p + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error("adapter: '" + p + "' is not a JSON object");
  return j;
}

AdapterInfo read_adapter_info(const std::string& dir) {
  if (is_peft_adapter(dir)) return read_peft_adapter_info(dir);
  const std::string p = config_path(dir);
  const json j = read_adapter_config(dir);
  const auto fmt = j.find("format");  // (any JSON type may be there: compared, never converted)
  if (fmt == j.end() || *fmt != "vitune-adapter-1")
    throw Error("adapter: '" + p + "' is not a vitune adapter config (format \"vitune-adapter-1\")");
  AdapterInfo info;
  try {
    info.tuner = TunerConfig::from_json({{"method", j.at("method")}, {"options", j.value("options", json::object())}});
    info.base_model = j.value("base_model", "");
    info.num_classes = j.value("num_classes", (int64_t)0);
    if (j.contains("decode_head")) info.decode_head = j.at("decode_head");
    if (info.decode_head.is_object() && info.decode_head.contains("task") && !info.decode_head["task"].is_string())
      throw Error("adapter: '" + p + "': decode_head.task is " + info.decode_head["task"].dump() + ", expected a string");
  } catch (const json::exception& e) {
    throw Error("adapter: '" + p + "': " + e.what());
  }
  return info;
}

AdapterInfo load_adapter(const std::string& dir, nn::ImageModel& model) {
  if (is_peft_adapter(dir)) return load_peft_adapter(dir, model);
  AdapterInfo info = read_adapter_info(dir);
  SafetensorsFile file = load_safetensors(model_path(dir));
  const std::string task = info.decode_head.is_object() ? info.decode_head.value("task", std::string("dense"))
                                                        : std::string("classification");
  apply_method(model, info.tuner, task);
  std::map<std::string, Tensor> params;
  for (auto& [n, t] : model.named_parameters()) params[n] = t;
  std::map<std::string, Tensor> known = params;  // parameters and buffers
  for (auto& [n, t] : model.named_buffers()) known[n] = t;
  std::string problems;
  for (auto& [name, t] : file.tensors) {
    auto it = known.find(name);
    if (it == known.end()) problems += "\n  unexpected: " + name + " (not in the model)";
    else if (it->second.shape() != t.shape())
      problems += "\n  mismatched: " + name + ": file " + shape_str(t.shape()) + " vs model " +
                  shape_str(it->second.shape());
  }
  for (auto& [name, t] : params)
    if (t.requires_grad() && !file.tensors.count(name)) problems += "\n  missing: " + name;
  if (!problems.empty())
    throw Error("adapter '" + dir + "' (method " + info.tuner.method +
                ") does not fit this backbone:" + problems);
  nn::StateDict sd(file.tensors.begin(), file.tensors.end());
  model.load_state_dict(sd, /*strict=*/false);  // a subset: only the adapter's tensors
  return info;
}

}  // namespace vt::peft
