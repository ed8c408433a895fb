// fuzz_idx.cpp — a Fashion-MNIST IDX pair (tasks/data/read_fashion_mnist.cpp), plain or gzip:
// the first byte picks which, the rest splits (fuzz_util.h split) into the images file and the
// labels file. The first and last examples are decoded.
#include "tasks/data/readers.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool gz = data[0] & 1;
  const std::string dir = gz ? "idx_gz" : "idx_plain", ext = gz ? ".gz" : "";
  const auto parts = vt::fuzz::split(data + 1, size - 1, 2);
  vt::fuzz::put(dir + "/t10k-images-idx3-ubyte" + ext, parts[0]);
  vt::fuzz::put(dir + "/t10k-labels-idx1-ubyte" + ext, parts[1]);
  vt::fuzz::expect_clean([&] {
    auto d = vt::data::read_fashion_mnist(vt::fuzz::scratch() + "/" + dir, /*train=*/false);
    if (d->size() == 0) return;
    for (int64_t i : {(int64_t)0, d->size() - 1}) vt::fuzz::touch(d->get(i).image);
  });
  return 0;
}
