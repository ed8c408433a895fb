// fuzz_ade20k.cpp — an ADE20K pair (tasks/dense/read_ade20k.cpp): the input splits into the
// image and its annotation PNG; the example is decoded (image, mask, their sizes, class range).
#include "tasks/dense/dense_data.h"
#include "tasks/data/image_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool bounded = (vt::data::set_max_image_pixels(vt::fuzz::kFuzzMaxImagePixels), true);
  (void)bounded;
  const auto parts = vt::fuzz::split(data, size, 2);
  vt::fuzz::put("ade/images/validation/a.jpg", parts[0]);
  vt::fuzz::put("ade/annotations/validation/a.png", parts[1]);
  vt::fuzz::expect_clean([&] {
    auto d = vt::data::read_ade20k(vt::fuzz::scratch() + "/ade", /*train=*/false);
    const vt::data::Example e = d->get(0);
    vt::fuzz::touch(e.image), vt::fuzz::touch(e.target);
  });
  return 0;
}
