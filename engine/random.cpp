// random.cpp — the default generator and the random tensor factories (rand, randn, randint,
// randperm). Floating fills go through the backend's Philox kernels; integer draws are made on
// the host from the same Philox stream (they are small: labels, permutations) and then moved.
#include "engine/random.h"

#include <cmath>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/philox.h"

namespace vt {

Generator& default_generator() {
  static Generator g(0);
  return g;
}

void manual_seed(uint64_t seed) {
  Generator& g = default_generator();
  g.seed = seed;
  g.offset = 0;
}

static Generator& pick(Generator* gen) { return gen ? *gen : default_generator(); }

static thread_local BatchShard t_shard;

ScopedBatchShard::ScopedBatchShard(BatchShard s) : saved_(t_shard) { t_shard = s; }
ScopedBatchShard::~ScopedBatchShard() { t_shard = saved_; }

// The first counter of a draw of `shape`: this process's part of the global batch's counters
// when a shard applies (see random.h), else the next numel counters.
static uint64_t reserve_counters(Generator* gen, const Shape& shape) {
  const uint64_t n = (uint64_t)shape_numel(shape);
  const BatchShard& s = t_shard;
  if (gen || s.global <= 0 || s.local <= 0 || shape.empty() || shape[0] % s.local != 0)
    return pick(gen).reserve(n);
  const uint64_t per_sample = n / (uint64_t)s.local;
  return default_generator().reserve(per_sample * (uint64_t)s.global) + per_sample * (uint64_t)s.start;
}

static void check_fill_dtype(const char* op, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::F64)
    throw Error(std::string(op) + ": dtype must be F32 or F64, got " + dtype_name(dtype));
}

Tensor rand(const Shape& shape, double lo, double hi, DType dtype, Device device,
            Generator* gen) {
  check_fill_dtype("rand", dtype);
  if (!(hi >= lo))
    throw Error("rand: need lo <= hi, got lo=" + std::to_string(lo) + " hi=" + std::to_string(hi));
  Tensor out = Tensor::empty(shape, dtype, device);
  const uint64_t first = reserve_counters(gen, shape);
  if (out.numel()) backend_for(device).random_uniform(out, pick(gen).seed, first, lo, hi);
  return out;
}

Tensor randn(const Shape& shape, double mean, double std, DType dtype, Device device,
             Generator* gen) {
  check_fill_dtype("randn", dtype);
  if (!(std >= 0)) throw Error("randn: std must be >= 0, got " + std::to_string(std));
  Tensor out = Tensor::empty(shape, dtype, device);
  const uint64_t first = reserve_counters(gen, shape);
  if (out.numel()) backend_for(device).random_normal(out, pick(gen).seed, first, mean, std);
  return out;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Device device, Generator* gen) {
  if (high <= low)
    throw Error("randint: need low < high, got [" + std::to_string(low) + ", " +
                std::to_string(high) + ")");
  const int64_t n = shape_numel(shape);
  Generator& g = pick(gen);
  const uint64_t first = g.reserve((uint64_t)n);
  std::vector<int64_t> v(n);
  const double range = (double)(high - low);
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = (int64_t)std::floor(philox_uniform(g.seed, first + i) * range);
    v[i] = low + std::min<int64_t>(k, high - low - 1);  // guard against rounding up to range
  }
  return Tensor::from_vector(v, shape).to(device);
}

Tensor randperm(int64_t n, Device device, Generator* gen) {
  if (n < 0) throw Error("randperm: n must be >= 0, got " + std::to_string(n));
  Generator& g = pick(gen);
  const uint64_t first = g.reserve((uint64_t)n);
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  for (int64_t i = n - 1; i >= 1; --i) {
    const double u = philox_uniform(g.seed, first + (uint64_t)(n - 1 - i));
    const int64_t j = std::min<int64_t>((int64_t)(u * (double)(i + 1)), i);
    std::swap(v[i], v[j]);
  }
  return Tensor::from_vector(v, {n}).to(device);
}

}  // namespace vt
