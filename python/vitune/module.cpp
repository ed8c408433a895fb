// module.cpp — vitune's Python module (`vitune._vitune`, wrapped by __init__.py): models, methods,
// adapters and a forward pass on NumPy arrays, and the command line for finetune / eval.
//
//   m = vitune.load_model("runs/pretrained")            a name, a model directory or a config
//   m.apply_method("lora", r=8, targets="q,v")
//   logits = m.forward(images)                          (B, C, H, W) float32, no copy when the
//                                                       array is float32 with element strides
//   m.save_adapter("out", format="peft")
//
// Errors raise vitune.Error (runtime) or vitune.UsageError (a bad option), carrying vitune's
// messages. The GIL is released while the engine computes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "examples/vitune/cli.h"
#include "nn/model_zoo.h"
#include "nn/precision.h"
#include "peft/adapter_file.h"
#include "peft/method.h"

namespace py = pybind11;
using json = nlohmann::json;

namespace {

// Python values <-> JSON through Python's own json module (exact for numbers and strings).
json to_json(const py::handle& v) {
  return json::parse(py::module_::import("json").attr("dumps")(v).cast<std::string>());
}
py::object from_json(const json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

// An F32 CPU tensor over the array's memory (kept alive by the tensor); a copy only when the
// dtype is not float32 or a stride is not a whole number of elements.
vt::Tensor tensor_from_array(py::array x) {
  py::array_t<float> a = py::array_t<float>::ensure(x);
  if (!a) throw vt::Error("forward: images must be an array of numbers");
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    if (a.strides(i) < 0 || a.strides(i) % (py::ssize_t)sizeof(float) != 0) {
      a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
      break;
    }
  vt::Shape shape, strides;
  size_t extent = 1;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    shape.push_back(a.shape(i));
    strides.push_back(a.strides(i) / (py::ssize_t)sizeof(float));
    extent += (size_t)(a.shape(i) - 1) * (size_t)strides.back();
  }
  if (a.size() == 0) extent = 0;
  auto* keep = new py::object(a);
  std::shared_ptr<void> owner(keep, [](void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<py::object*>(p);
  });
  auto storage = std::make_shared<vt::Storage>(const_cast<float*>(a.data()), extent * sizeof(float),
                                               vt::Device::cpu(), owner);
  return vt::Tensor::make_view(storage, shape, strides, 0, vt::DType::F32);
}

// A NumPy array over the tensor's memory (F32, CPU, contiguous), owning a reference to it.
py::array array_from_tensor(const vt::Tensor& t) {
  vt::Tensor c = t.to(vt::Device::cpu()).to(vt::DType::F32).contiguous();
  auto* keep = new vt::Tensor(c);
  py::capsule owner(keep, [](void* p) { delete static_cast<vt::Tensor*>(p); });
  std::vector<py::ssize_t> shape(c.shape().begin(), c.shape().end());
  return py::array_t<float>(shape, c.data<float>(), owner);
}

struct Model {
  std::unique_ptr<vt::nn::ImageModel> m;
  vt::peft::TunerConfig tuner{"full", json::object()};  // what trains now (all, until a method)
  std::string task = "classification";

  vt::Tensor run(py::array images, bool features) {
    vt::Tensor x = tensor_from_array(images);
    if (x.dim() != 4 || x.size(1) != m->in_chans())
      throw vt::Error("forward: images must be (B, " + std::to_string(m->in_chans()) + ", H, W), got " +
                      vt::shape_str(x.shape()));
    py::gil_scoped_release nogil;
    m->eval();
    vt::NoGrad ng;
    vt::Tensor f = m->forward_features(x);
    vt::Tensor out = features || m->num_classes() == 0 ? f : m->forward_head(f);
    x = vt::Tensor();
    return out;
  }
};

std::unique_ptr<Model> wrap(std::unique_ptr<vt::nn::ImageModel> m) {
  auto w = std::make_unique<Model>();
  w->m = std::move(m);
  return w;
}

// Runs `vitune ARGS...` with the process's stdout captured; returns what it printed.
std::string run_cli(const std::vector<std::string>& args) {
  std::fflush(stdout);
  char path[] = "/tmp/vitune-py-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw vt::Error("cannot create a temporary file for the command's output");
  const int saved = dup(1);
  dup2(fd, 1);
  auto restore = [&] {
    std::fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(fd);
  };
  try {
    py::gil_scoped_release nogil;
    vitune::run_command(args);
  } catch (...) {
    restore();
    std::remove(path);
    throw;
  }
  restore();
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::remove(path);
  return ss.str();
}

}  // namespace

PYBIND11_MODULE(_vitune, mod) {
  mod.doc() = "vitune: parameter-efficient fine-tuning of vision transformers (C++ engine)";
  static py::exception<vt::Error> error(mod, "Error", PyExc_RuntimeError);
  static py::exception<CLI::ParseError> usage(mod, "UsageError", error.ptr());
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const CLI::ParseError& e) {
      usage(e.what());
    } catch (const vt::Error& e) {
      error(e.what());
    } catch (const json::exception& e) {
      error(e.what());
    }
  });

  mod.def("models", &vt::nn::model_names, "Registered model names");
  mod.def("methods", [] {
    std::vector<std::string> n;
    for (const auto& m : vt::peft::methods()) n.push_back(m.name);
    return n;
  }, "PEFT method names");
  mod.def("run_cli", &run_cli, py::arg("args"),
          "Runs `vitune ARGS...` (no program name); returns what it printed on stdout");

  py::class_<Model>(mod, "Model", "A vision transformer (ViT or Swin) with its tuners")
      .def_property_readonly("name", [](const Model& w) { return w.m->name(); })
      .def_property_readonly("family", [](const Model& w) { return w.m->family(); })
      .def_property_readonly("num_classes", [](const Model& w) { return w.m->num_classes(); })
      .def_property_readonly("num_features", [](const Model& w) { return w.m->num_features(); })
      .def_property_readonly("img_size", [](const Model& w) { return w.m->img_size(); })
      .def_property_readonly("in_chans", [](const Model& w) { return w.m->in_chans(); })
      .def_property_readonly("checkpoint_layout", [](const Model& w) { return w.m->checkpoint_layout; })
      .def_property_readonly("method", [](const Model& w) { return from_json(w.tuner.to_json()); })
      .def("config", [](const Model& w) { return from_json(w.m->config_json()); })
      .def("parameters", [](Model& w) {
        vt::nn::ParamReport r = w.m->param_report(w.m->head_prefix());
        return py::dict(py::arg("total") = r.total, py::arg("trainable") = r.trainable);
      }, "Parameter counts: total and trainable")
      .def("apply_method", [](Model& w, const std::string& method, const std::string& task, py::kwargs options) {
        w.tuner = vt::peft::apply_method(*w.m, {method, to_json(options)}, task);
        w.task = task;
        return from_json(w.tuner.options);
      }, py::arg("method"), py::kw_only(), py::arg("task") = "classification",
         "Applies a PEFT method with its options as keyword arguments; returns the resolved options")
      .def("load_adapter", [](Model& w, const std::string& dir) {
        vt::peft::AdapterInfo info = vt::peft::load_adapter(dir, *w.m);
        w.tuner = info.tuner;
        return from_json({{"method", info.tuner.method}, {"options", info.tuner.options}, {"format", info.format},
                          {"num_classes", info.num_classes}, {"base_model", info.base_model}});
      }, py::arg("dir"), "Applies an adapter directory (vitune's or peft's layout)")
      .def("save_adapter", [](Model& w, const std::string& dir, const std::string& format, const std::string& names) {
        vt::peft::AdapterInfo info{w.tuner, w.m->name(), w.m->num_classes(), nullptr};
        info.format = format;
        info.peft_names = names.empty() ? (w.m->checkpoint_layout == "transformers" ? "transformers" : "timm") : names;
        vt::peft::save_adapter(dir, *w.m, info);
      }, py::arg("dir"), py::arg("format") = "vitune", py::arg("names") = "",
         "Writes the trained tensors: format 'vitune' or 'peft' (names 'timm' or 'transformers'; "
         "default: as the loaded checkpoint)")
      .def("set_precision", [](Model& w, const std::string& p) {
        vt::nn::apply_precision(*w.m, vt::nn::parse_precision(p));
      }, py::arg("precision"), "fp32, bf16 or auto: frozen weights and their GEMMs in BF16")
      .def("state_dict", [](Model& w, bool trainable_only) {
        py::dict d;
        for (auto& [k, t] : w.m->named_parameters())
          if (!trainable_only || t.requires_grad()) d[py::str(k)] = array_from_tensor(t.detach());
        return d;
      }, py::arg("trainable_only") = false, "Parameters as NumPy arrays (copies), dotted names")
      .def("forward", [](Model& w, py::array images) { return array_from_tensor(w.run(images, false)); },
           py::arg("images"), "Logits (B, classes) of float32 images (B, C, H, W); features if no head")
      .def("forward_features", [](Model& w, py::array images) { return array_from_tensor(w.run(images, true)); },
           py::arg("images"), "Pooled features (B, D)");

  mod.def("create_model", [](const std::string& name, int64_t num_classes) {
    return wrap(vt::nn::create_model(name, num_classes));
  }, py::arg("name"), py::arg("num_classes") = -1,
     "A model by registered name or model directory, randomly initialised");
  mod.def("load_model", [](const std::string& model, const std::string& weights, int64_t num_classes,
                           const std::string& config) {
    return wrap(vt::nn::load_model({model, config, num_classes}, weights, num_classes));
  }, py::arg("model") = "", py::arg("weights") = "", py::arg("num_classes") = -1, py::arg("config") = "",
     "A model from a name, a model directory (config.json + model.safetensors) or a JSON config "
     "file, with weights in any layout vitune reads (timm, torchvision, Google .npz, transformers)");
}
