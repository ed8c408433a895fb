// helpers.h — what every test file uses: finite-difference gradient checks in f64, PyTorch
// fixture comparisons, and small random-tensor makers.
#pragma once
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/io/safetensors.h"
#include "engine/ops.h"

namespace vt::test {

// Deterministic pseudo-random values in [lo, hi) (a test-local LCG, independent of the engine RNG).
std::vector<double> rand_values(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0);
// A contiguous tensor of that shape and dtype with values from rand_values.
Tensor rand_tensor(const Shape& shape, uint64_t seed, DType dtype = DType::F64, double lo = -1.0,
                   double hi = 1.0);
// A non-contiguous leaf with that shape: made as the transpose of dims (a, b) of a tensor.
Tensor rand_strided(const Shape& shape, uint64_t seed, int64_t a = 0, int64_t b = -1,
                    DType dtype = DType::F64);

// Checks the analytic gradient of sum(fn(inputs) * W) (W fixed random) against central
// differences for every floating input that is marked requires_grad. Inputs must be F64 leaves
// (views allowed, but not overlapping ones). Fails the current Catch2 test on mismatch.
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
void gradcheck(const Fn& fn, const std::vector<Tensor>& inputs, double eps = 1e-6,
               double tol = 1e-6);

// allclose in the torch sense: |a - b| <= atol + rtol * |b| everywhere, with a helpful message.
void require_close(const Tensor& got, const Tensor& want, double rtol, double atol,
                   const std::string& what);

// F32 values that are exactly BF16 (so a BF16 copy is lossless), uniform in [-1, 1).
Tensor bf16_exact(const Shape& shape, uint64_t seed);
// |got - want| <= bound elementwise (three tensors of one shape), with the worst case reported.
void require_within(const Tensor& got, const Tensor& want, const Tensor& bound, const std::string& what);

// Fixtures written by tests/reference/*.py: for case NAME the file holds NAME.in.<k> inputs,
// NAME.out, NAME.gout (the output gradient used), and NAME.grad.<k> for inputs with gradients.
struct Fixture {
  SafetensorsFile file;
  explicit Fixture(const std::string& filename);  // relative to tests/fixtures/
  Tensor get(const std::string& key) const;        // throws with the key name if missing
  bool has(const std::string& key) const { return file.tensors.count(key) > 0; }
};
using Inputs = std::map<std::string, Tensor>;
// Runs fn on the case's inputs (owned copies; those with a stored grad require grad), compares
// the output and every input gradient with PyTorch's.
void torch_case(const Fixture& fx, const std::string& name,
                const std::function<Tensor(Inputs&)>& fn, double rtol = 1e-5,
                double atol = 1e-6);

// A fresh directory under the system temp dir (name: prefix + pid + counter), removed at the end.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "vitune_test_") {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           (prefix + std::to_string(getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Writes `bytes` to `path`, creating the parent directories.
inline void write_file(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary).write(bytes.data(), (std::streamsize)bytes.size());
}

// Runs f, requires it to throw vt::Error, and returns the message (for message checks).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("expected a vt::Error");
  return "";
}

}  // namespace vt::test
