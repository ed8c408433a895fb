// fuzz_coco.cpp — a COCO annotation file with one image (tasks/instance/read_coco.cpp): the
// input splits into the JSON and the image file coco/a.png (any format: the decoder sniffs it).
// Every example is decoded (image, masks) and put through both instance transforms
// (tasks/instance/instance_transforms.h); the training one's output is checked against its promise.
#include <algorithm>
#include <cstdio>

#include "tasks/data/image_file.h"
#include "tasks/instance/instance_dataset.h"
#include "tasks/instance/instance_transforms.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// A finding unless the training transform's output is what instance_transforms.h promises: a
// (3, size, size) image, boxes inside it with sides of at least a pixel, a mask pixel for every
// object, no crowd region.
void check_transformed(const vt::data::Example& e, int64_t size) {
  const vt::data::Instances& ins = e.instances;
  const int64_t M = ins.size(), plane = size * size;
  bool ok = e.image.shape() == vt::Shape{3, size, size} && e.image.is_contiguous() &&
            ins.boxes.shape() == vt::Shape{M, 4} && ins.masks.shape() == vt::Shape{M, size, size} &&
            ins.crowd.shape() == vt::Shape{M};
  for (int64_t k = 0; ok && k < M; ++k) {
    const float* b = ins.boxes.data<float>() + 4 * k;
    const uint8_t* m = ins.masks.data<uint8_t>() + k * plane;
    ok = b[0] >= 0 && b[1] >= 0 && b[2] <= size && b[3] <= size && b[2] - b[0] >= 1 &&
         b[3] - b[1] >= 1 && ins.crowd.data<uint8_t>()[k] == 0 &&
         std::find(m, m + plane, 1) != m + plane;
  }
  if (!ok) {
    std::fprintf(stderr,
                 "fuzz_coco: the train transform broke its promise (image %s, boxes %s, masks %s)\n",
                 vt::shape_str(e.image.shape()).c_str(), vt::shape_str(ins.boxes.shape()).c_str(),
                 vt::shape_str(ins.masks.shape()).c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool bounded = (vt::data::set_max_image_pixels(vt::fuzz::kFuzzMaxImagePixels), true);
  (void)bounded;
  const auto parts = vt::fuzz::split(data, size, 2);
  const std::string ann = vt::fuzz::put("coco/annotations.json", parts[0]);
  vt::fuzz::put("coco/a.png", parts[1]);
  vt::fuzz::expect_clean([&] {
    auto d = vt::instance::read_coco(vt::fuzz::scratch() + "/coco", ann);
    const auto train = vt::instance::instance_train_transform(32, {}, {0.5, 2.0, 0.5});
    const auto eval = vt::instance::instance_eval_transform(32, {});
    for (int64_t i = 0; i < d->size(); ++i) {
      vt::data::Example e = d->get(i);
      vt::fuzz::touch(e.image), vt::fuzz::touch(e.instances.masks), vt::fuzz::touch(e.instances.boxes);
      vt::data::Example t = e;
      vt::Generator g = vt::data::example_generator(1, 0, (uint64_t)i);
      train.fn(t, g);
      check_transformed(t, 32);
      vt::fuzz::touch(t.instances.masks);
      eval.fn(e, g);
      vt::fuzz::touch(e.image);
    }
  });
  return 0;
}
