// replay_main.cpp — runs a fuzz target (tests/fuzz/fuzz_*.cpp) over files without libFuzzer:
// each argument is a file or a directory of files (sorted), fed to LLVMFuzzerTestOneInput in
// turn. The suite runs the seed corpus and the committed regressions this way (meson test
// suite 'fuzz'); a finding aborts, failing the test. Inputs after --valid must also be
// accepted (the seeds: each is a valid file, so a refusal means the target or a reader broke).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<std::pair<fs::path, bool>> files;  // (input, must be accepted)
  bool valid = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--valid") {
      valid = true;
    } else if (fs::is_directory(argv[i])) {
      std::vector<fs::path> dir;
      for (auto& e : fs::directory_iterator(argv[i]))
        if (e.is_regular_file()) dir.push_back(e.path());
      std::sort(dir.begin(), dir.end());
      for (auto& f : dir) files.push_back({f, valid});
      valid = false;
    } else if (fs::is_regular_file(argv[i])) {
      files.push_back({argv[i], valid});
      valid = false;
    } else {
      std::fprintf(stderr, "replay: '%s' is neither a file nor a directory\n", argv[i]);
      return 2;
    }
  }
  int bad = 0;
  for (auto& [f, must_accept] : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    vt::fuzz::last_refusal().clear();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    const std::string& why = vt::fuzz::last_refusal();
    std::fprintf(stderr, "replay: %s (%zu bytes): %s\n", f.c_str(), bytes.size(),
                 why.empty() ? "accepted" : ("refused: " + why).c_str());
    if (must_accept && !why.empty()) ++bad;
  }
  std::printf("replay: %zu input(s), no crash; %d valid input(s) refused\n", files.size(), bad);
  return files.empty() || bad ? 1 : 0;
}
