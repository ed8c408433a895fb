// fuzz_util.h — what every fuzz target (tests/fuzz/fuzz_*.cpp) shares.
//
// A target is one function, LLVMFuzzerTestOneInput(data, size), that feeds the bytes to one of
// our readers. Built with -Dfuzz=true (clang) it is a libFuzzer program (bench/fuzz.sh runs
// it); in every other build it is linked with replay_main.cpp and the suite replays the seed
// corpus (make_seeds.cpp) and the committed inputs under tests/fuzz/regressions/.
//
// The oracle, besides the sanitizers: a reader may refuse an input only with vt::Error (the
// message names the file or field). Any other exception — a raw JSON type error, std::out_of_range
// from a map lookup, bad_alloc from a size taken on trust — is a finding: the target prints it
// and aborts.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace vt::fuzz {

// A scratch directory of this process (readers take paths): /tmp/vitune-fuzz-<pid>/, emptied
// per input by the caller writing the same names again.
inline const std::string& scratch() {
  static const std::string* dir = [] {  // never destroyed: the exit handler below reads it
    auto* d = new std::string(
        (std::filesystem::temp_directory_path() / ("vitune-fuzz-" + std::to_string(getpid()))).string());
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch(), ec);
    });
    return d;
  }();
  return *dir;
}

// Writes bytes to scratch()/name (subdirectories created) and returns the path.
inline std::string put(const std::string& name, const uint8_t* data, size_t size) {
  const std::filesystem::path p = std::filesystem::path(scratch()) / name;
  static std::set<std::string> made;  // directories made so far (a syscall saved per input)
  if (made.insert(p.parent_path().string()).second) std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc).write((const char*)data, (std::streamsize)size);
  return p.string();
}
inline std::string put(const std::string& name, const std::string& s) {
  return put(name, (const uint8_t*)s.data(), s.size());
}

// Splits an input into `n` parts: the first 4*(n-1) bytes are little-endian lengths (each
// taken modulo what is left), the rest is cut in that order; the last part takes the rest.
// make_seeds.cpp writes seeds in the same way (join()).
inline std::vector<std::string> split(const uint8_t* data, size_t size, int n) {
  std::vector<std::string> parts;
  size_t head = 4 * (size_t)(n - 1);
  if (size < head) return std::vector<std::string>(n);
  const uint8_t* p = data + head;
  size_t left = size - head;
  for (int i = 0; i < n - 1; ++i) {
    const uint32_t len = (uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 |
                         (uint32_t)data[4 * i + 2] << 16 | (uint32_t)data[4 * i + 3] << 24;
    const size_t take = left ? len % (left + 1) : 0;
    parts.emplace_back((const char*)p, take);
    p += take, left -= take;
  }
  parts.emplace_back((const char*)p, left);
  return parts;
}
inline std::string join(const std::vector<std::string>& parts) {
  std::string head, body;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const uint32_t n = (uint32_t)parts[i].size();
    for (int b = 0; b < 4; ++b) head += (char)(n >> (8 * b) & 0xff);
  }
  for (auto& p : parts) body += p;
  return head + body;
}

// Image-decoding targets bound images to 2^16 px: a tiny file may declare a 32-megapixel image
// that stb then decodes in full (allowed, and slow), which would cut the execution rate 20-fold.
inline constexpr int64_t kFuzzMaxImagePixels = int64_t(1) << 16;

// The model the tuner and adapter targets build per input (make_seeds.cpp's adapters fit it):
// a one-block ViT, small enough that building it costs little next to the reader under test.
inline const char* kSmallVit = R"({"base": "vit_test_tiny", "dim": 16, "depth": 1, "heads": 2, "img_size": 16})";

// Reads every element of a tensor (a view past its storage shows up under ASan).
inline void touch(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return;
  volatile double s = t.to(DType::F64).contiguous().data<double>()[t.numel() - 1];
  (void)s;
}

// The message of the last refusal (vt::Error) of an input, cleared per input by the replay
// (replay_main.cpp checks that the seeds are accepted).
inline std::string& last_refusal() {
  static std::string msg;
  return msg;
}

// Runs f; vt::Error is the expected refusal, anything else aborts with its message.
template <typename F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const vt::Error& e) {
    last_refusal() = e.what();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: an exception other than vt::Error escaped: %s\n", e.what());
    std::abort();
  }
}

}  // namespace vt::fuzz
