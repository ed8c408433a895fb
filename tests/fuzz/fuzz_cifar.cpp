// fuzz_cifar.cpp — a CIFAR-10 or CIFAR-100 binary batch (tasks/data/read_cifar.cpp). The
// first byte picks the format, the rest is the file; the first and last images are decoded.
#include "tasks/data/readers.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int which = data[0] & 1 ? 100 : 10;
  const std::string dir = which == 100 ? "cifar100" : "cifar10";
  vt::fuzz::put(dir + (which == 100 ? "/test.bin" : "/test_batch.bin"), data + 1, size - 1);
  vt::fuzz::expect_clean([&] {
    auto d = vt::data::read_cifar(vt::fuzz::scratch() + "/" + dir, which, /*train=*/false);
    if (d->size() == 0) return;
    for (int64_t i : {(int64_t)0, d->size() - 1}) vt::fuzz::touch(d->get(i).image);
  });
  return 0;
}
