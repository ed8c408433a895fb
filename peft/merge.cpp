// merge.cpp — merged_state_dict: walk the modules in registration order (the order the tuners
// run in), fold each Mergeable tuner into its host's tensors, drop every tuner key.
#include "peft/merge.h"

#include "nn/layers.h"

namespace vt::peft {

nn::StateDict merged_state_dict(nn::Module& model) {
  nn::StateDict sd;
  {
    NoGrad ng;
    for (auto& [k, v] : model.state_dict()) sd[k] = v.clone();  // never touch the live model
  }
  std::vector<std::string> tuner_prefixes;
  for (auto& [name, m] : model.named_modules()) {
    const bool is_tuner = dynamic_cast<nn::OutputTuner*>(m) || dynamic_cast<nn::BranchTuner*>(m) ||
                          dynamic_cast<nn::SequentialTuner*>(m) ||
                          dynamic_cast<nn::PrefixProvider*>(m) || dynamic_cast<nn::TokenTuner*>(m) ||
                          dynamic_cast<nn::HeadTuner*>(m) || dynamic_cast<nn::TokenDispatcher*>(m);
    if (!is_tuner) continue;
    bool inside = false;  // a tuner's own sub-modules are handled by the tuner
    for (auto& p : tuner_prefixes) inside |= name.rfind(p, 0) == 0;
    if (inside) continue;
    auto* mg = dynamic_cast<const Mergeable*>(m);
    if (!mg) throw Error("merge: the tuner at '" + name + "' cannot be merged into the backbone "
                         "(only LoRA and SSF fold into the frozen weights)");
    const std::string host = name.substr(0, name.rfind('.'));
    mg->merge_into(sd, host);
    tuner_prefixes.push_back(name + ".");
  }
  for (auto it = sd.begin(); it != sd.end();) {
    bool drop = false;
    for (auto& p : tuner_prefixes) drop |= it->first.rfind(p, 0) == 0;
    it = drop ? sd.erase(it) : std::next(it);
  }
  return sd;
}

}  // namespace vt::peft
