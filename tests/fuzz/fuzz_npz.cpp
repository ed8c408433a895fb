// fuzz_npz.cpp — a .npz archive and a bare .npy (engine/io/npz.cpp): zip directory, local
// headers, stored and deflated members, CRCs, .npy headers; every array read back in full.
// An input starting "PK" is read as an archive, any other as a .npy.
#include "engine/io/npz.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool zip = size >= 2 && data[0] == 'P' && data[1] == 'K';
  vt::fuzz::expect_clean([&] {
    if (zip)
      for (auto& [name, t] : vt::parse_npz(data, size, "x.npz")) vt::fuzz::touch(t);
    else
      vt::fuzz::touch(vt::parse_npy(data, size, "x.npy"));
  });
  return 0;
}
