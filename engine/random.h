// random.h — seeded random tensors (Philox4x32-10, see engine/philox.h for the exact mapping).
//
// A Generator is just (seed, offset). Every fill of n numbers reserves the counters
// [offset, offset + n) and element i uses counter offset + i, so the result is the same on any
// number of threads and on CPU or GPU. Re-seeding (manual_seed) rewinds the offset to 0, which
// is how a test or a gradient check replays exactly the same dropout masks.
//
// The global default generator is what dropout, drop_path, init and the data order use unless
// a Generator is passed explicitly. It is not locked: use it from the training thread, and give
// data-loading threads their own Generator.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace vt {

struct Generator {
  uint64_t seed = 0;
  uint64_t offset = 0;
  Generator() = default;
  explicit Generator(uint64_t s) : seed(s) {}
  // Claims n counters and returns the first one.
  uint64_t reserve(uint64_t n) {
    const uint64_t first = offset;
    offset += n;
    return first;
  }
};

Generator& default_generator();

// Data-parallel draws (engine/dist.h): this process holds samples [start, start + local) of a
// global batch of `global`. While a shard is set on a thread, a draw from the default
// generator whose first dimension is a multiple of `local` (a batch-major tensor: (B, ...),
// or (B·k, ...) such as Swin's windows) reserves the counters of the whole global batch and
// gives this process the ones of its samples — so every sample sees the same dropout,
// drop-path and noise whatever the number of processes. Explicit generators (the data
// loader's) are never sharded.
struct BatchShard {
  int64_t start = 0, local = 0, global = 0;  // global 0: no shard
};
class ScopedBatchShard {
 public:
  explicit ScopedBatchShard(BatchShard s);
  ~ScopedBatchShard();
  ScopedBatchShard(const ScopedBatchShard&) = delete;
  ScopedBatchShard& operator=(const ScopedBatchShard&) = delete;

 private:
  BatchShard saved_;
};
// Re-seeds the default generator (offset back to 0).
void manual_seed(uint64_t seed);

// Uniform in [lo, hi). dtype F32 or F64.
Tensor rand(const Shape& shape, double lo = 0.0, double hi = 1.0, DType dtype = DType::F32,
            Device device = Device::cpu(), Generator* gen = nullptr);
// Normal with this mean and standard deviation. dtype F32 or F64.
Tensor randn(const Shape& shape, double mean = 0.0, double std = 1.0, DType dtype = DType::F32,
             Device device = Device::cpu(), Generator* gen = nullptr);
// I64 integers uniform in [low, high): low + floor(u · (high - low)), u as for rand.
Tensor randint(int64_t low, int64_t high, const Shape& shape, Device device = Device::cpu(),
               Generator* gen = nullptr);
// A random permutation of 0..n-1 (I64), Fisher–Yates: for i = n-1 .. 1, swap element i with
// element j = floor(u · (i + 1)), where u uses counter first + (n - 1 - i).
Tensor randperm(int64_t n, Device device = Device::cpu(), Generator* gen = nullptr);

}  // namespace vt
