// instance_data.h — what an instance-segmentation sample carries besides its image, and what
// the detector predicts for one image.
#pragma once
#include "engine/tensor.h"

namespace vt::instance {

// The ground truth of one image as the detector trains on it: M objects (crowd regions left
// out). tasks/data/dataset.h's Instances is what data sets hand out.
struct InstanceTarget {
  Tensor boxes;   // (M, 4) F32, (x1, y1, x2, y2) in the image's pixels
  Tensor labels;  // (M) I64, classes 1..K (0 is background)
  Tensor masks;   // (M, H, W) U8, 1 inside the object
};

// The detections of one image, by decreasing score.
struct Detections {
  Tensor boxes;   // (D, 4) F32
  Tensor scores;  // (D) F32
  Tensor labels;  // (D) I64, 1..K
  Tensor mask_probs;  // (D, M, M) F32 probabilities of each detection's class in its box
  Tensor masks;       // (D, H, W) F32, mask_probs pasted into the image (threshold 0.5 for
                      // binary masks); undefined when the heads were asked not to paste
};

}  // namespace vt::instance
