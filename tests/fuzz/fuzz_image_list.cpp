// fuzz_image_list.cpp — an image-list file (tasks/data/read_image_list.cpp): "path label" lines
// over a directory holding a valid a.ppm (a 2x1 image); every listed example is decoded (at most 8).
#include "tasks/data/readers.h"
#include "tasks/data/image_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool bounded = (vt::data::set_max_image_pixels(vt::fuzz::kFuzzMaxImagePixels), true);
  (void)bounded;
  static const bool once = (vt::fuzz::put("list/a.ppm", std::string("P6\n2 1\n255\n\x10\x20\x30\x40\x50\x60", 17)), true);
  (void)once;
  vt::fuzz::put("list/list.txt", data, size);
  vt::fuzz::expect_clean([&] {
    auto d = vt::data::read_image_list(vt::fuzz::scratch() + "/list", vt::fuzz::scratch() + "/list/list.txt");
    for (int64_t i = 0; i < std::min<int64_t>(d->size(), 8); ++i) vt::fuzz::touch(d->get(i).image);
  });
  return 0;
}
