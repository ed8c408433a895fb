// fuzz_image.cpp — an image file as the image-list reader decodes it (tasks/data/image_file.cpp
// checks it, stb_image decodes it): PNG, JPEG, BMP, PPM/PGM, and every other format refused.
#include "tasks/data/readers.h"
#include "tasks/data/image_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool bounded = (vt::data::set_max_image_pixels(vt::fuzz::kFuzzMaxImagePixels), true);
  (void)bounded;
  vt::fuzz::put("image/x.img", data, size);
  vt::fuzz::put("image/list.txt", std::string("x.img 0\n"));
  vt::fuzz::expect_clean([&] {
    auto d = vt::data::read_image_list(vt::fuzz::scratch() + "/image", vt::fuzz::scratch() + "/image/list.txt");
    vt::fuzz::touch(d->get(0).image);
  });
  return 0;
}
