// peft_format.cpp — peft's LoRA layout, read and written (see peft_format.h).
#include "peft/peft_format.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/io/safetensors.h"
#include "peft/lora.h"

namespace vt::peft {

namespace {

const std::string kPrefix = "base_model.model.";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
// peft's module matching: the name itself, or the name ends with "." + key.
bool names_module(const std::string& key, const std::string& module) {
  return module == key || (module.size() > key.size() && ends_with(module, "." + key));
}

// The parts of peft's LoraConfig that change what the adapter computes.
struct LoraConfig {
  std::string path;  // adapter_config.json, for errors
  int64_t r = 8;
  double alpha = 8;
  bool rslora = false;
  json rank_pattern = json::object(), alpha_pattern = json::object();
  json target_modules;                    // a list of names, or a regex string
  std::vector<std::string> modules_to_save;
  bool all_layers = true;                 // layers_to_transform is null
  std::string base;

  Error bad(const std::string& key, const std::string& why) const {
    return Error(path + ": \"" + key + "\" " + why);
  }
  int64_t rank(const std::string& module) const {
    for (auto it = rank_pattern.begin(); it != rank_pattern.end(); ++it)
      if (names_module(it.key(), module)) return it->get<int64_t>();
    return r;
  }
  double scale(const std::string& module) const {
    double a = alpha;
    for (auto it = alpha_pattern.begin(); it != alpha_pattern.end(); ++it)
      if (names_module(it.key(), module)) { a = it->get<double>(); break; }
    const double rk = (double)rank(module);
    return rslora ? a / std::sqrt(rk) : a / rk;
  }
};

LoraConfig parse_config(const json& j, const std::string& path) {
  LoraConfig c;
  c.path = path;
  auto is = [&](const char* k, auto pred) { return !j.contains(k) || j[k].is_null() || pred(j[k]); };
  // A boolean field: absent or null is false; anything but true or false is refused by name.
  auto flag = [&](const char* k) {
    if (!is(k, [](const json& v) { return v.is_boolean(); }))
      throw c.bad(k, "is " + j[k].dump() + ": expected true or false");
    return j.contains(k) && j[k] == true;
  };
  const json type = j.value("peft_type", json());
  if (!type.is_string() || type.get<std::string>() != "LORA")
    throw c.bad("peft_type", "is " + type.dump() + ": vitune reads peft's LoRA adapters (\"LORA\") only");
  if (flag("use_dora")) throw c.bad("use_dora", "is true: DoRA is not supported");
  if (!is("bias", [](const json& v) { return v.is_string() && v.get<std::string>() == "none"; }))
    throw c.bad("bias", "is " + j["bias"].dump() + ": only \"none\" is supported (no trained biases)");
  if (flag("fan_in_fan_out"))
    throw c.bad("fan_in_fan_out", "is true: ViT's linears store (out, in); peft writes false for them");
  if (!is("layer_replication", [](const json&) { return false; }))
    throw c.bad("layer_replication", "is set: replicated layers are not supported");
  if (j.contains("r")) {
    if (!j["r"].is_number_integer() || j["r"].get<int64_t>() <= 0) throw c.bad("r", "must be a positive integer");
    c.r = j["r"].get<int64_t>();
  }
  if (j.contains("lora_alpha")) {
    if (!j["lora_alpha"].is_number() || !(j["lora_alpha"].get<double>() > 0)) throw c.bad("lora_alpha", "must be a positive number");
    c.alpha = j["lora_alpha"].get<double>();
  }
  c.rslora = flag("use_rslora");
  for (const char* k : {"rank_pattern", "alpha_pattern"}) {
    if (!is(k, [](const json& v) { return v.is_object(); })) throw c.bad(k, "must be an object {module: value}");
    if (!j.contains(k) || j[k].is_null()) continue;
    for (auto it = j[k].begin(); it != j[k].end(); ++it) {
      const bool ok = std::string(k) == "rank_pattern" ? it->is_number_integer() && it->get<int64_t>() > 0
                                                       : it->is_number() && it->get<double>() > 0;
      if (!ok) throw c.bad(std::string(k) + "." + it.key(), "must be a positive " + std::string(k[0] == 'r' ? "integer" : "number"));
    }
    (std::string(k) == "rank_pattern" ? c.rank_pattern : c.alpha_pattern) = j[k];
  }
  c.target_modules = j.value("target_modules", json());
  if (c.target_modules.is_array()) {
    for (auto& t : c.target_modules)
      if (!t.is_string()) throw c.bad("target_modules", "must list module names (strings)");
  } else if (!c.target_modules.is_string()) {
    throw c.bad("target_modules", "must be a list of module names or a regular expression");
  }
  if (!is("modules_to_save", [](const json& v) { return v.is_array(); })) throw c.bad("modules_to_save", "must be a list");
  if (j.contains("modules_to_save") && j["modules_to_save"].is_array())
    for (auto& m : j["modules_to_save"]) {
      if (!m.is_string()) throw c.bad("modules_to_save", "must list module names (strings)");
      c.modules_to_save.push_back(m.get<std::string>());
    }
  c.all_layers = !j.contains("layers_to_transform") || j["layers_to_transform"].is_null();
  if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
    c.base = j["base_model_name_or_path"].get<std::string>();
  return c;
}

// Where a LoRA can sit: block `block`'s `target` (our LoRA's), named `module` in the layout.
struct Site {
  int64_t block;
  std::string target, module;
};

// Our host linear's name for a target: "layers.0.blocks.1" + ".attn.qkv".
std::string host_suffix(const std::string& target) {
  if (target == "qkv" || target == "q" || target == "k" || target == "v") return ".attn.qkv";
  if (target == "proj") return ".attn.proj";
  return target == "fc1" ? ".mlp.fc1" : ".mlp.fc2";
}

std::vector<Site> layout_sites(const nn::TunerSites& s, const std::string& names, const std::string& what) {
  if (names == "transformers" && s.family != "vit")
    throw Error(what + ": transformers' names are for ViT; a " + s.family + " adapter is written with timm's");
  std::vector<Site> out;
  for (size_t i = 0; i < s.blocks.size(); ++i) {
    const std::string& b = s.blocks[i].name;
    if (names == "timm") {
      for (const char* t : {"qkv", "proj", "fc1", "fc2"}) out.push_back({(int64_t)i, t, b + host_suffix(t)});
    } else {
      const std::string l = "vit.encoder.layer." + std::to_string(i) + ".";
      out.push_back({(int64_t)i, "q", l + "attention.attention.query"});
      out.push_back({(int64_t)i, "k", l + "attention.attention.key"});
      out.push_back({(int64_t)i, "v", l + "attention.attention.value"});
      out.push_back({(int64_t)i, "proj", l + "attention.output.dense"});
      out.push_back({(int64_t)i, "fc1", l + "intermediate.dense"});
      out.push_back({(int64_t)i, "fc2", l + "output.dense"});
    }
  }
  return out;
}

// Our LoRA target for a module of either layout ("...attention.query" -> q).
std::string target_of(const std::string& m) {
  const std::pair<const char*, const char*> map[] = {
      {".attn.qkv", "qkv"}, {".attention.query", "q"}, {".attention.key", "k"}, {".attention.value", "v"},
      {".attn.proj", "proj"}, {".attention.output.dense", "proj"}, {".mlp.fc1", "fc1"},
      {".intermediate.dense", "fc1"}, {".mlp.fc2", "fc2"}, {".output.dense", "fc2"}};
  for (auto& [suffix, target] : map)
    if (ends_with(m, suffix)) return target;
  return m.substr(m.rfind('.') + 1);
}

// The layout a file's keys are in.
std::string detect_names(const std::map<std::string, Tensor>& tensors) {
  for (auto& [k, t] : tensors) {
    const std::string m = k.rfind(kPrefix, 0) == 0 ? k.substr(kPrefix.size()) : k;
    if (m.rfind("vit.", 0) == 0 || m.rfind("encoder.layer.", 0) == 0 || m.rfind("classifier.", 0) == 0)
      return "transformers";
  }
  return "timm";
}

// The head as the layout names it: our "head.weight" is transformers' "classifier.weight".
std::string head_module(const std::string& names, const std::string& head_prefix) {
  return names == "transformers" ? "classifier" : head_prefix;
}

struct ReadAdapter {
  LoraConfig cfg;
  std::string names;
  std::map<std::string, std::pair<Tensor, Tensor>> loras;  // layout module -> (A, B)
  std::map<std::string, Tensor> head;                      // our parameter name -> tensor
  int64_t head_classes = -1;
};

ReadAdapter read_files(const std::string& dir, const std::string& head_prefix) {
  ReadAdapter a;
  a.cfg = parse_config(read_adapter_config(dir), dir + "/adapter_config.json");
  const std::string file = dir + "/adapter_model.safetensors";
  SafetensorsFile f = load_safetensors(file);
  a.names = detect_names(f.tensors);
  const std::string head = head_module(a.names, head_prefix);
  for (const std::string& m : a.cfg.modules_to_save)
    if (!names_module(m, head) && !(a.names == "timm" && m.rfind(head_prefix + ".", 0) == 0))
      throw a.cfg.bad("modules_to_save", "lists '" + m + "': vitune saves and loads only the classifier head ('" + head + "')");
  for (auto& [key, t] : f.tensors) {
    if (key.rfind(kPrefix, 0) != 0)
      throw Error(file + ": tensor '" + key + "' does not start with \"" + kPrefix + "\" (not peft's layout)");
    std::string m = key.substr(kPrefix.size());
    if (a.names == "transformers" && m.rfind("encoder.", 0) == 0) m = "vit." + m;  // a bare ViTModel base
    if (ends_with(m, ".lora_A.weight")) {
      a.loras[m.substr(0, m.size() - 14)].first = t.to(DType::F32);
    } else if (ends_with(m, ".lora_B.weight")) {
      a.loras[m.substr(0, m.size() - 14)].second = t.to(DType::F32);
    } else if (m.find("lora_") != std::string::npos) {
      throw Error(file + ": tensor '" + key + "' is not supported (only lora_A / lora_B weights; no DoRA magnitudes, "
                  "embedding LoRAs or bias training)");
    } else if (m.rfind(head + ".", 0) == 0 && !a.cfg.modules_to_save.empty()) {
      const std::string ours = head_prefix + m.substr(head.size());
      a.head[ours] = t.to(DType::F32);
      if (ends_with(ours, ".weight") && t.dim() == 2) a.head_classes = t.size(0);
    } else {
      throw Error(file + ": tensor '" + key + "' is neither a LoRA weight nor the head listed in modules_to_save");
    }
  }
  for (auto& [m, ab] : a.loras)
    if (!ab.first.defined() || !ab.second.defined())
      throw Error(file + ": LoRA on '" + m + "' has no " + (ab.first.defined() ? "lora_B" : "lora_A") +
                  " weight (tensor '" + kPrefix + m + (ab.first.defined() ? ".lora_B.weight" : ".lora_A.weight") + "' missing)");
  return a;
}

}  // namespace

bool is_peft_adapter(const std::string& dir) {
  std::ifstream f(dir + "/adapter_config.json");
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  return j.is_object() && j.contains("peft_type");
}

AdapterInfo read_peft_adapter_info(const std::string& dir) {
  ReadAdapter a = read_files(dir, "head");
  AdapterInfo info;
  std::string t;
  for (const char* x : {"qkv", "q", "k", "v", "proj", "fc1", "fc2"})
    for (auto& [m, ab] : a.loras)
      if (target_of(m) == x) {
        t += (t.empty() ? "" : ",") + std::string(x);
        break;
      }
  info.tuner = {"lora", {{"r", a.cfg.r}, {"alpha", a.cfg.r * a.cfg.scale("")}, {"targets", t}}};
  info.base_model = a.cfg.base;
  info.num_classes = a.head_classes;
  info.format = "peft";
  info.peft_names = a.names;
  return info;
}

AdapterInfo load_peft_adapter(const std::string& dir, nn::ImageModel& model) {
  ReadAdapter a = read_files(dir, model.head_prefix());
  const nn::TunerSites sites = model.tuner_sites();
  const std::vector<Site> table = layout_sites(sites, a.names, "adapter '" + dir + "'");
  // Every LoRA in the file finds its site, and has the rank the config gives it.
  struct Plan { Site site; int64_t r; double scale; };
  std::vector<Plan> plan;
  for (auto& [m, ab] : a.loras) {
    const std::string& mod = m;  // (a structured binding cannot be captured in C++17)
    auto it = std::find_if(table.begin(), table.end(), [&](const Site& s) { return s.module == mod; });
    if (it == table.end())
      throw Error("adapter '" + dir + "': tensor '" + kPrefix + m + ".lora_A.weight' is a LoRA on '" + m +
                  "', which " + model.name() + " has no site for (" + a.names + " names: " + table.front().module +
                  ", ..., " + table.back().module + ")");
    const int64_t r = a.cfg.rank(m);
    if (ab.first.dim() != 2 || ab.first.size(0) != r || ab.second.dim() != 2 || ab.second.size(1) != r)
      throw Error("adapter '" + dir + "': LoRA on '" + m + "' has lora_A " + shape_str(ab.first.shape()) + " and lora_B " +
                  shape_str(ab.second.shape()) + "; the config gives it rank " + std::to_string(r));
    plan.push_back({*it, r, a.cfg.scale(m)});
  }
  // Every module the config targets has its tensors (when target_modules is a list of names).
  if (a.cfg.target_modules.is_array()) {
    for (auto& t : a.cfg.target_modules) {
      bool any = false;
      for (const Site& s : table)
        if (names_module(t.get<std::string>(), s.module)) {
          any = true;
          if (a.cfg.all_layers && !a.loras.count(s.module))
            throw Error("adapter '" + dir + "': target_modules names '" + t.get<std::string>() + "' but tensor '" +
                        kPrefix + s.module + ".lora_A.weight' is missing");
        }
      if (!any)
        throw a.cfg.bad("target_modules", "names '" + t.get<std::string>() + "', a module vitune cannot adapt in " +
                        model.name() + " (" + a.names + " names, e.g. " + table.front().module + ")");
    }
  }
  AdapterInfo info = read_peft_adapter_info(dir);
  Method m = find_method("lora");
  m.apply = [&plan](Sites& s, const Options&) {
    for (const Plan& p : plan) attach_lora(s.blocks.at(p.site.block), p.site.target, p.r, p.scale);
  };
  apply_custom_method(model, m, info.tuner.options);
  nn::StateDict sd = a.head;
  for (const Plan& p : plan) {
    const std::string host = sites.blocks[p.site.block].name + host_suffix(p.site.target) + ".lora_" + p.site.target;
    sd[host + ".A"] = a.loras[p.site.module].first;
    sd[host + ".B"] = a.loras[p.site.module].second;
  }
  nn::LoadReport r = model.load_state_dict(sd, /*strict=*/false);
  if (!r.unexpected.empty() || !r.mismatched.empty()) {
    std::string why;
    for (const std::string& u : r.unexpected) why += "\n  unexpected: " + u;
    for (const std::string& m : r.mismatched) why += "\n  mismatched: " + m;
    throw Error("adapter '" + dir + "' does not fit " + model.name() + ":" + why);
  }
  for (auto& [name, t] : model.named_parameters())
    if (t.requires_grad() && name.rfind(model.head_prefix() + ".", 0) == 0 && !a.head.empty() && !sd.count(name))
      throw Error("adapter '" + dir + "': the saved head lacks '" + name + "'");
  return info;
}

namespace {

struct PeftFiles {
  std::map<std::string, Tensor> tensors;
  json config;
};

PeftFiles build_peft_files(nn::ImageModel& model, const AdapterInfo& info, const std::string& names) {
  if (names != "timm" && names != "transformers")
    throw Error("peft adapter: names must be \"timm\" or \"transformers\", got \"" + names + "\"");
  if (!info.decode_head.is_null())
    throw Error("peft adapter: peft's layout has no place for a dense decoder; save it in vitune's layout");
  const nn::TunerSites sites = model.tuner_sites();
  const std::vector<Site> table = layout_sites(sites, names, "peft adapter");
  const std::string hp = model.head_prefix();
  std::map<std::string, Tensor> out;
  std::set<std::string> placed;  // our trainable parameter names that went into the file
  json rank_pattern = json::object(), alpha_pattern = json::object();
  std::set<std::string> targets;
  int64_t r0 = 0;
  double alpha0 = 0;
  auto emit = [&](const std::string& module, const Tensor& A, const Tensor& B, double scale) {
    const int64_t r = A.size(0);
    const double alpha = scale * (double)r;  // use_rslora false: scale = alpha / r
    if (r0 == 0) r0 = r, alpha0 = alpha;
    if (r != r0) rank_pattern[module] = r;
    if (alpha != alpha0) alpha_pattern[module] = alpha;
    out[kPrefix + module + ".lora_A.weight"] = A;
    out[kPrefix + module + ".lora_B.weight"] = B;
  };
  for (auto& [module_name, mod] : model.named_modules()) {
    const std::string& name = module_name;  // (a structured binding cannot be captured in C++17)
    auto* l = dynamic_cast<LoRA*>(mod);
    if (!l) continue;
    const size_t at = name.rfind(".lora_");
    const std::string host = name.substr(0, at), target = name.substr(at + 6);
    auto blk = std::find_if(sites.blocks.begin(), sites.blocks.end(),
                            [&](const nn::BlockSites& b) { return host == b.name + host_suffix(target); });
    if (blk == sites.blocks.end()) throw Error("peft adapter: LoRA '" + name + "' is not on a block's linear");
    const int64_t bi = blk - sites.blocks.begin();
    placed.insert(name + ".A");
    placed.insert(name + ".B");
    const Tensor A = l->A.detach().to(Device::cpu()), B = l->B.detach().to(Device::cpu());
    auto module_for = [&](const std::string& t) {
      for (const Site& s : table)
        if (s.block == bi && s.target == t) return s.module;
      throw Error("peft adapter: LoRA '" + name + "' (a third of the fused qkv) cannot be written with " + names +
                  "' names, whose qkv is one module; use targets=qkv, or transformers' names");
    };
    if (names == "transformers" && target == "qkv") {  // three LoRAs sharing A, B split in thirds
      const int64_t D = B.size(0) / 3;
      const char* part[3] = {"q", "k", "v"};
      for (int i = 0; i < 3; ++i) {
        emit(module_for(part[i]), A, B.narrow(0, i * D, D).contiguous(), l->scale);
        targets.insert(module_for(part[i]));
      }
    } else {
      const std::string m = module_for(target);
      emit(m, A, B, l->scale);
      targets.insert(m);
    }
  }
  bool head_saved = false;
  for (auto& [name, t] : model.named_parameters()) {
    if (!t.requires_grad() || placed.count(name)) continue;
    if (name.rfind(hp + ".", 0) != 0)
      throw Error("peft adapter: trainable tensor '" + name + "' (method " + info.tuner.method +
                  ") has no place in peft's LoRA layout; save it in vitune's layout");
    out[kPrefix + head_module(names, hp) + name.substr(hp.size())] = t.detach().to(Device::cpu());
    head_saved = true;
  }
  if (r0 == 0) throw Error("peft adapter: the model has no LoRA to save (method " + info.tuner.method + ")");
  // target_modules as peft matches them (a name, or a dotted suffix of one): the short names
  // where they are unambiguous, full names where a suffix would match other modules too.
  std::set<std::string> short_names;
  for (const std::string& m : targets) {
    std::string leaf;
    for (const char* s : {"attention.query", "attention.key", "attention.value", "attention.output.dense",
                          "intermediate.dense", "attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"})
      if (ends_with(m, std::string(".") + s)) leaf = s;
    if (leaf.rfind("attention.", 0) == 0 && leaf != "attention.output.dense") leaf = leaf.substr(10);  // query, key, value
    if (leaf == "attn.qkv" || leaf == "mlp.fc1" || leaf == "mlp.fc2") leaf = leaf.substr(leaf.find('.') + 1);
    short_names.insert(leaf.empty() ? m : leaf);  // transformers' output.dense: full names
  }
  json cfg = {{"alpha_pattern", alpha_pattern}, {"auto_mapping", nullptr},
              {"base_model_name_or_path", info.base_model.empty() ? json() : json(info.base_model)},
              {"bias", "none"}, {"fan_in_fan_out", false}, {"inference_mode", true},
              {"init_lora_weights", true}, {"layer_replication", nullptr}, {"layers_pattern", nullptr},
              {"layers_to_transform", nullptr}, {"loftq_config", json::object()}, {"lora_alpha", alpha0},
              {"lora_dropout", 0.0}, {"megatron_config", nullptr}, {"megatron_core", "megatron.core"},
              {"modules_to_save", head_saved ? json::array({head_module(names, hp)}) : json()},
              {"peft_type", "LORA"}, {"r", r0}, {"rank_pattern", rank_pattern}, {"revision", nullptr},
              {"target_modules", short_names}, {"task_type", nullptr}, {"use_dora", false},
              {"use_rslora", false}};
  return {out, cfg};
}

}  // namespace

void check_peft_layout(nn::ImageModel& model, const AdapterInfo& info, const std::string& names) {
  build_peft_files(model, info, names);
}

void save_peft_adapter(const std::string& dir, nn::ImageModel& model, const AdapterInfo& info,
                       const std::string& names) {
  const PeftFiles f = build_peft_files(model, info, names);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("save_adapter: cannot create directory '" + dir + "': " + ec.message());
  save_safetensors(dir + "/adapter_model.safetensors", f.tensors, {{"format", "pt"}});
  write_file_atomic(dir + "/adapter_config.json", f.config.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

}  // namespace vt::peft
