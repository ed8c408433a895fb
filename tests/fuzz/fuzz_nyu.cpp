// fuzz_nyu.cpp — NYU Depth v2 (tasks/dense/read_nyu.cpp): the input splits into the split file,
// an RGB image (rgb.png) and a 16-bit depth PNG (d.png); listed examples are decoded (at most 4).
#include "tasks/dense/dense_data.h"
#include "tasks/data/image_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool bounded = (vt::data::set_max_image_pixels(vt::fuzz::kFuzzMaxImagePixels), true);
  (void)bounded;
  const auto parts = vt::fuzz::split(data, size, 3);
  vt::fuzz::put("nyu/split.txt", parts[0]);
  vt::fuzz::put("nyu/rgb.png", parts[1]);
  vt::fuzz::put("nyu/d.png", parts[2]);
  vt::fuzz::expect_clean([&] {
    const std::string root = vt::fuzz::scratch() + "/nyu";
    auto d = vt::data::read_nyu(root, root + "/split.txt");
    for (int64_t i = 0; i < std::min<int64_t>(d->size(), 4); ++i) {
      const vt::data::Example e = d->get(i);
      vt::fuzz::touch(e.image), vt::fuzz::touch(e.target);
    }
  });
  return 0;
}
