// model_zoo.cpp — the family registry, create_model, model directories (see model_zoo.h).
#include "nn/model_zoo.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/io/safetensors.h"
#include "nn/checkpoint.h"
#include "nn/config_util.h"
#include "nn/swin.h"
#include "nn/vit.h"

namespace vt::nn {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

template <typename Model, typename Config>
ModelFamily family(const std::string& name) {
  return {name, [] { return Config::names(); },
          [](const json& cfg) -> std::unique_ptr<ImageModel> {
            return std::make_unique<Model>(Config::from_json(cfg.dump()));
          }};
}

std::string read_text(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the " + what);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// The family that registered `name`, or null.
const ModelFamily* family_of_name(const std::string& name) {
  for (const ModelFamily& f : model_families()) {
    const auto n = f.names();
    if (std::find(n.begin(), n.end(), name) != n.end()) return &f;
  }
  return nullptr;
}

const ModelFamily& family_named(const json& f) {
  std::string known;
  for (const ModelFamily& fam : model_families()) {
    if (f.is_string() && f.get<std::string>() == fam.name) return fam;
    known += (known.empty() ? "" : " or ") + ("\"" + fam.name + "\"");
  }
  throw Error("model config: \"family\" must be " + known + ", got " + f.dump());
}

std::string unknown_name_message(const std::string& name) {
  std::string known;
  for (const std::string& n : model_names()) known += " " + n;
  return "unknown model '" + name + "' (known:" + known + ")";
}

// vitune's form: family fields + "base" + "family".
std::unique_ptr<ImageModel> from_vitune_config(json j) {
  const ModelFamily* fam = nullptr;
  if (j.contains("family")) {
    fam = &family_named(config_string(j["family"], "model", "family"));
    j.erase("family");
  } else if (j.contains("base") && j["base"].is_string()) {
    fam = family_of_name(j["base"].get<std::string>());
    if (!fam) throw Error("model config: " + unknown_name_message(j["base"].get<std::string>()));
  } else {
    fam = &model_families().front();  // no family, no base: the first family's defaults (ViT)
  }
  return fam->from_json(j);
}

// timm's config.json: architecture + model_args (+ num_classes, global_pool).
std::unique_ptr<ImageModel> from_timm_config(const json& j) {
  if (!j["architecture"].is_string()) throw Error("model config: \"architecture\" must be a string");
  const std::string arch = j["architecture"].get<std::string>();
  json cfg = j.contains("model_args") ? j["model_args"] : json::object();
  if (!cfg.is_object()) throw Error("model config: \"model_args\" must be an object");
  const ModelFamily* fam = nullptr;
  if (j.contains("family")) fam = &family_named(config_string(j["family"], "model", "family"));
  else fam = family_of_name(arch);
  if (!fam) throw Error("model config: " + unknown_name_message(arch) + "; a custom architecture needs \"family\"");
  if (family_of_name(arch)) cfg["base"] = arch;
  cfg["name"] = arch;
  if (j.contains("num_classes") && !cfg.contains("num_classes")) cfg["num_classes"] = j["num_classes"];
  if (j.contains("global_pool") && fam->name == "vit" && !cfg.contains("global_pool"))
    cfg["global_pool"] = j["global_pool"];
  return fam->from_json(cfg);
}

// transformers' config.json: "model_type" picks the family, its fields map onto ours.
std::unique_ptr<ImageModel> from_transformers_config(const json& j) {
  const std::string type = j["model_type"].is_string() ? j["model_type"].get<std::string>() : j["model_type"].dump();
  if (type != "vit" && type != "swin")
    throw Error("model config: transformers \"model_type\": \"" + type + "\" is not supported (supported: \"vit\", \"swin\")");
  json cfg = type == "vit" ? transformers_vit_config(j) : transformers_swin_config(j);
  if (j.contains("num_classes")) cfg["num_classes"] = j["num_classes"];  // create_model_from_config's override
  return family_named(type).from_json(cfg);
}

void apply_classes(ImageModel& m, int64_t num_classes) {
  if (num_classes >= 0 && num_classes != m.num_classes()) m.reset_head(num_classes);
}

}  // namespace

const std::vector<ModelFamily>& model_families() {
  static const std::vector<ModelFamily> all = {
      family<VisionTransformer, ViTConfig>("vit"),
      family<SwinTransformer, SwinConfig>("swin"),
  };
  return all;
}

std::vector<std::string> model_names() {
  std::vector<std::string> out;
  for (const ModelFamily& f : model_families())
    for (const std::string& n : f.names()) out.push_back(n);
  return out;
}

std::unique_ptr<ImageModel> create_model(const std::string& name, int64_t num_classes) {
  if (is_model_dir(name)) return create_model(ModelSpec{name, "", num_classes});
  const ModelFamily* fam = family_of_name(name);
  if (!fam) throw Error(unknown_name_message(name));
  json cfg = {{"base", name}};
  if (num_classes >= 0) cfg["num_classes"] = num_classes;
  return fam->from_json(cfg);
}

std::unique_ptr<ImageModel> create_model_from_config(const json& cfg, int64_t num_classes) {
  if (!cfg.is_object()) throw Error("model config: not a JSON object");
  json j = cfg;
  if (num_classes >= 0) {  // the head is built once, at its final size
    if (j.contains("architecture")) {
      if (!j.contains("model_args")) j["model_args"] = json::object();
      j["model_args"]["num_classes"] = num_classes;
    } else {
      j["num_classes"] = num_classes;
    }
  }
  std::unique_ptr<ImageModel> m;
  if (j.contains("model_type")) m = from_transformers_config(j);
  else if (j.contains("architecture")) m = from_timm_config(j);
  else m = from_vitune_config(j);
  apply_classes(*m, num_classes);
  return m;
}

namespace {
double g_max_parameters = 2e10;
}
double max_model_parameters() { return g_max_parameters; }
void set_max_model_parameters(double n) { g_max_parameters = n; }

std::unique_ptr<ImageModel> create_model(const ModelSpec& spec) {
  std::string file = spec.config_file;
  if (file.empty() && is_model_dir(spec.name)) file = (fs::path(spec.name) / "config.json").string();
  if (file.empty()) return create_model(spec.name, spec.num_classes);
  try {
    return create_model_from_config(parse_config_json(read_text(file, "model config"), "model"),
                                    spec.num_classes);
  } catch (const Error& e) {
    const std::string msg = e.what();
    throw Error(msg.rfind(file, 0) == 0 ? msg : file + ": " + msg);
  }
}

bool is_model_dir(const std::string& path) {
  std::error_code ec;
  return !path.empty() && fs::is_directory(path, ec) && fs::is_regular_file(fs::path(path) / "config.json", ec);
}

std::string model_dir_weights(const std::string& path) {
  if (!is_model_dir(path)) return "";
  const fs::path own = fs::path(path) / "model.safetensors";
  std::error_code ec;
  return fs::is_regular_file(own, ec) ? own.string() : "";
}

std::unique_ptr<ImageModel> load_model(const ModelSpec& spec, const std::string& weights, int64_t classes) {
  ModelSpec s = spec;
  s.num_classes = classes;
  auto model = create_model(s);
  std::string file = weights;
  if (file.empty() && spec.config_file.empty()) file = model_dir_weights(spec.name);
  if (file.empty()) {
    std::fprintf(stderr, "vitune: warning: no weights given: %s starts from random initialisation\n",
                 model->name().c_str());
    return model;
  }
  StateDict sd = read_checkpoint(file);
  LoadOptions opt;
  opt.drop_head = model->checkpoint_classes(sd) != model->num_classes();  // a new label set: a fresh head
  model->load_checkpoint(std::move(sd), opt, file);
  return model;
}

void save_model_dir(const std::string& dir, const ImageModel& model, json pretrained_cfg) {
  fs::create_directories(dir);
  if (!pretrained_cfg.is_object()) throw Error("save_model_dir: pretrained_cfg must be a JSON object");
  pretrained_cfg["input_size"] = {model.in_chans(), model.img_size(), model.img_size()};
  pretrained_cfg["num_classes"] = model.num_classes();
  json model_args = model.config_json();
  model_args.erase("name");
  const json cfg = {{"architecture", model.name()}, {"family", model.family()},
                    {"num_classes", model.num_classes()}, {"num_features", model.num_features()},
                    {"model_args", model_args}, {"pretrained_cfg", pretrained_cfg}};
  std::map<std::string, Tensor> sd;
  for (auto& [k, v] : model.state_dict()) sd[k] = v;
  save_safetensors((fs::path(dir) / "model.safetensors").string(), sd, {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / "config.json").string(), cfg.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

}  // namespace vt::nn
