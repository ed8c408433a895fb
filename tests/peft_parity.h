// peft_parity.h — what the PEFT-vs-PyTorch tests share (test_peft_parity.cpp, test_peft_seeds.cpp):
// the fixture's backbone, loading a case's tuner tensors under their C++ names, and comparing
// logits and every trainable gradient with the reference's.
//
// Fixture layout (tests/reference/peft.py, peft_seeds.py): images, G, <case>.param.<C++ name>,
// <case>.logits, <case>.grad.<C++ name> (d sum(logits · G) / d tensor, tuner and head).
// Tolerances: the reference runs in float64 from float32 values, so its stored results are exact
// to float32 rounding; the C++ model runs in float32. rtol 1e-4 with an absolute floor of
// 1e-5 · max|reference| for entries that are near zero by cancellation.
#pragma once
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "nn/swin.h"
#include "nn/vit.h"
#include "peft/method.h"
#include "tests/helpers.h"

namespace vt::test::parity {

struct Case {
  std::string name;  // the fixture's case prefix
  std::string method;
  peft::json options;
};

// The fixture's backbone: <config>_timm.safetensors (written by backbones.py), head included.
struct Family {
  std::string config, fixture;
  std::unique_ptr<nn::ImageModel> make(int64_t classes) const {
    if (config.rfind("vit", 0) == 0) {
      nn::ViTConfig c = nn::ViTConfig::named(config);
      c.num_classes = classes;
      return std::make_unique<nn::VisionTransformer>(c);
    }
    nn::SwinConfig c = nn::SwinConfig::named(config);
    c.num_classes = classes;
    return std::make_unique<nn::SwinTransformer>(c);
  }
};

inline Tensor run(nn::ImageModel& m, const Tensor& images) {  // (B, 3, H, W) -> logits (B, classes)
  return m.forward(images);
}

inline double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector()) m = std::max(m, std::abs(v));
  return m;
}

inline void require_parity(const Tensor& got, const Tensor& want, const std::string& what) {
  require_close(got, want, 1e-4, 1e-5 * max_abs(want), what);
}

// Tensors of the fixture whose key starts with `prefix`, the prefix removed.
inline std::map<std::string, Tensor> with_prefix(const Fixture& fx, const std::string& prefix) {
  std::map<std::string, Tensor> out;
  for (const auto& [k, t] : fx.file.tensors)
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = t;
  return out;
}

// A fresh backbone with the case's method applied and the fixture's tuner tensors loaded by
// their exact C++ names (a strict load: names and shapes must line up). In eval mode.
inline std::unique_ptr<nn::ImageModel> load_case(const Family& fam, const Fixture& fx, const Case& c) {
  auto model = fam.make(fx.get("G").size(1));
  peft::apply_method(*model, {c.method, c.options});
  nn::StateDict sd = Fixture(fam.fixture).file.tensors;
  for (const auto& [k, t] : with_prefix(fx, c.name + ".param.")) sd[k] = t;
  model->load_state_dict(sd, /*strict=*/true);
  model->eval();
  return model;
}

// The tensors that train are exactly those the reference differentiated (<grad_prefix><name>),
// with its gradients; every frozen backbone tensor is left without a gradient. A trainable tensor
// the graph never reached (DyT's gate in eval) has no gradient here and zeros in the reference.
inline void check_grads(nn::Module& model, const Fixture& fx, const std::string& grad_prefix,
                        size_t tuner_tensors) {
  auto want = with_prefix(fx, grad_prefix);
  REQUIRE(want.size() >= tuner_tensors + 2);  // the tuner's tensors and the head's two
  int64_t compared = 0;
  for (const auto& [n, t] : model.named_parameters()) {
    INFO(n);
    if (!t.requires_grad()) {
      CHECK(!t.grad().defined());
      continue;
    }
    auto it = want.find(n);
    REQUIRE(it != want.end());  // trains here, but not in the reference
    if (t.grad().defined()) require_parity(t.grad(), it->second, "gradient of " + n);
    else CHECK(max_abs(it->second) == 0.0);
    ++compared;
  }
  CHECK(compared == (int64_t)want.size());  // nothing the reference trains is frozen here
}

// Eval-mode case: logits and the gradients of sum(logits · G).
inline void check_case(const Family& fam, const Fixture& fx, const Case& c) {
  INFO(fam.config << " / " << c.name << " (" << c.method << " " << c.options.dump() << ")");
  auto model = load_case(fam, fx, c);
  Tensor logits = run(*model, fx.get("images"));
  require_parity(logits, fx.get(c.name + ".logits"), c.name + " logits");
  logits.backward(fx.get("G").clone());
  check_grads(*model, fx, c.name + ".grad.", with_prefix(fx, c.name + ".param.").size());
}

}  // namespace vt::test::parity
