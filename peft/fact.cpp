// fact.cpp — FacT-TT, Factor-Tuning (Jie & Deng, AAAI 2023; official code JieShibo/PETL-ViT).
//
// All weight increments of the model are one tensor, factorised Tensor-Train style: factors
// U ∈ R^{r×D}, V ∈ R^{D×r} shared by every block, and small per-block cores Σ:
//
//   qkv  += s · [V Σq U x; V Σk U x; V Σv U x]                       Σq,k,v ∈ R^{r×r}
//   proj += s · V Σo U x                                              Σo ∈ R^{r×r}
//   fc1  += s · reshape(V · reshape(Σfc1 U x, 4, r), 4D)              Σfc1 ∈ R^{4r×r}
//   fc2  += s · V Σfc2 reshape(U · reshape(h, 4, D), 4r)              Σfc2 ∈ R^{r×4r}
//
// (the MLP's 4D-wide side is seen as 4 slices of width D). Dropout 0.1 after each core.
// Init: U and the cores as torch Linear layers (kaiming-uniform a=√5), V = 0.
// ViT-B/16, r = 8: 2·768·8 + 12·(4·64 + 2·256) = 21,504 parameters.
// Swin: U and V are shared by the blocks of equal width (one pair per stage).
#include <cmath>
#include <map>

#include "engine/init.h"
#include "peft/method.h"
#include "peft/tuner_util.h"

namespace vt::peft {

namespace {

struct FactFactors : nn::Module {  // U, V for one width
  Tensor U, V;  // (r, D), (D, r)
  FactFactors(int64_t dim, int64_t r, const Tensor& like) {
    U = register_parameter("U", empty_like_dev({r, dim}, like));
    V = register_parameter("V", Tensor::zeros({dim, r}, like.dtype(), like.device()));
    init::kaiming_uniform_(U, std::sqrt(5.0));
  }
};

// One linear's increment. kind: "qkv", "proj", "fc1", "fc2".
struct FactIncrement : nn::OutputTuner {
  std::shared_ptr<FactFactors> f;  // shared, not registered here (owned by the model's "fact")
  std::vector<Tensor> cores;
  std::string kind;
  double scale, drop;
  FactIncrement(std::shared_ptr<FactFactors> f_, const std::string& kind_, double s, double p)
      : f(std::move(f_)), kind(kind_), scale(s), drop(p) {
    const int64_t r = f->U.size(0);
    auto core = [&](const std::string& n, int64_t out, int64_t in) {
      Tensor c = register_parameter(n, empty_like_dev({out, in}, f->U));
      init::kaiming_uniform_(c, std::sqrt(5.0));
      cores.push_back(c);
    };
    if (kind == "qkv") core("q", r, r), core("k", r, r), core("v", r, r);
    else if (kind == "proj") core("o", r, r);
    else if (kind == "fc1") core("fc1", 4 * r, r);
    else core("fc2", r, 4 * r);
  }
  Tensor through_core(const Tensor& u, size_t i) {  // (..., r_in) -> (..., r_out)
    return dropout(linear(u, cores[i]), drop, training());
  }
  Tensor forward(const Tensor& x, const Tensor& y) override {
    const int64_t r = f->U.size(0), D = f->U.size(1);
    Tensor d;
    if (kind == "qkv" || kind == "proj") {
      Tensor u = linear(x, f->U);  // (..., D) -> (..., r)
      std::vector<Tensor> parts;
      for (size_t i = 0; i < cores.size(); ++i) parts.push_back(linear(through_core(u, i), f->V));
      d = parts.size() == 1 ? parts[0] : concat(parts, -1);  // (..., D) or (..., 3D)
    } else if (kind == "fc1") {
      Tensor t = through_core(linear(x, f->U), 0);            // (..., 4r)
      Shape s4 = t.shape();
      s4.back() = 4, s4.push_back(r);
      Tensor v = linear(t.reshape(s4), f->V);                  // (..., 4, D)
      Shape s = x.shape();
      s.back() = 4 * D;
      d = v.reshape(s);                                        // (..., 4D)
    } else {
      Shape s4 = x.shape();
      s4.back() = 4, s4.push_back(D);
      Tensor u = linear(x.reshape(s4), f->U);                  // (..., 4, r)
      Shape s = x.shape();
      s.back() = 4 * r;
      d = linear(through_core(u.reshape(s), 0), f->V);         // (..., 4r) -> (..., r) -> (..., D)
    }
    return add(y, mul(d, scale));
  }
};

struct FactRoot : nn::Module {  // the shared factors, one pair per width, under "fact.<i>"
  std::map<int64_t, std::shared_ptr<FactFactors>> by_dim;
  std::shared_ptr<FactFactors> get(int64_t dim, int64_t r, const Tensor& like) {
    auto it = by_dim.find(dim);
    if (it != by_dim.end()) return it->second;
    auto f = register_module(std::to_string(by_dim.size()), std::make_shared<FactFactors>(dim, r, like));
    by_dim[dim] = f;
    return f;
  }
};

void apply_fact(Sites& s, const Options& o) {
  const int64_t r = o.i("r");
  const double scale = o.d("scale"), drop = o.d("dropout");
  if (r <= 0) throw Error("fact: r must be positive");
  auto root = std::make_shared<FactRoot>();
  for (BlockSites& b : s.blocks) {
    if (b.hidden != 4 * b.dim)
      throw Error("fact: " + b.name + " has MLP width " + std::to_string(b.hidden) +
                  "; FacT-TT needs 4·dim");
    auto f = root->get(b.dim, r, b.qkv->weight);
    b.qkv->add_tuner("fact", std::make_shared<FactIncrement>(f, "qkv", scale, drop));
    b.proj->add_tuner("fact", std::make_shared<FactIncrement>(f, "proj", scale, drop));
    b.fc1->add_tuner("fact", std::make_shared<FactIncrement>(f, "fc1", scale, drop));
    b.fc2->add_tuner("fact", std::make_shared<FactIncrement>(f, "fc2", scale, drop));
  }
  s.model->attach("fact", root);
}

}  // namespace

Method fact_method() {
  return {"fact",
          "FacT-TT (Jie & Deng 2023): ΔW = s·V Σ U, factors U, V shared by all blocks, cores per block",
          {{"r", 8, "rank of the factors"},
           {"scale", 1.0, "s (the paper searches 0.01 … 100 per task)"},
           {"dropout", 0.1, "dropout after each core"}},
          apply_fact};
}

}  // namespace vt::peft
