// fuzz_image.cpp — an image file through stb_image as the image-list reader decodes it
// (tasks/data/read_image_list.cpp): PNG, JPEG, BMP, GIF, TGA, PNM, PSD, HDR, PIC.
#include "tasks/data/readers.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vt::fuzz::put("image/x.img", data, size);
  vt::fuzz::put("image/list.txt", std::string("x.img 0\n"));
  vt::fuzz::expect_clean([&] {
    auto d = vt::data::read_image_list(vt::fuzz::scratch() + "/image", vt::fuzz::scratch() + "/image/list.txt");
    vt::fuzz::touch(d->get(0).image);
  });
  return 0;
}
