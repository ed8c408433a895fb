// baselines.cpp — the methods that attach nothing and only choose what trains.
//
//   linear  (linear probe): only the classifier head trains.
//   full    (full fine-tuning): every parameter trains (papers use 1/10 of the PEFT lr).
//   bitfit  (Ben Zaken et al., 2022): every bias of the backbone trains — qkv, proj, fc1, fc2,
//           the LayerNorms, the patch embedding, the final norm (ViT-B/16: 102,912).
#include "peft/method.h"

namespace vt::peft {

Method linear_probe_method() {
  return {"linear", "linear probe: only the classifier head trains", {},
          [](Sites&, const Options&) {}};
}

Method full_finetune_method() {
  return {"full", "full fine-tuning: every parameter trains", {},
          [](Sites& s, const Options&) { s.model->unfreeze("*"); }, /*mergeable=*/true};
}

Method bitfit_method() {
  return {"bitfit", "BitFit (Ben Zaken et al. 2022): only the biases train", {},
          [](Sites& s, const Options&) { s.model->unfreeze("*.bias"); }, /*mergeable=*/true};
}

}  // namespace vt::peft
