// random.cpp — CPU Philox fills. Element i uses counter offset + i (engine/philox.h defines the
// mapping from Philox words to uniform and normal values), so any thread split gives the same
// tensor, and the CUDA kernels, which use the same header, give the same tensor too.
#include <cmath>

#include "engine/cpu/cpu_backend.h"
#include "engine/philox.h"

namespace vt {

void CpuBackend::random_uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo,
                                double hi) {
  dispatch_float(out.dtype(), "random_uniform", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    scalar_t* p = out.data<scalar_t>();
    const int64_t n = out.numel();
    // The largest value of this dtype below hi: a draw that rounds up to hi is nudged here, so
    // the result stays in [lo, hi) as promised.
    const scalar_t below_hi = std::nextafter((scalar_t)hi, (scalar_t)lo);
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      scalar_t v = (scalar_t)(lo + (hi - lo) * philox_uniform(seed, offset + (uint64_t)i));
      p[i] = (v >= (scalar_t)hi && hi > lo) ? below_hi : v;
    }
  });
}

void CpuBackend::random_normal(Tensor& out, uint64_t seed, uint64_t offset, double mean,
                               double std) {
  dispatch_float(out.dtype(), "random_normal", [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    scalar_t* p = out.data<scalar_t>();
    const int64_t n = out.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i)
      p[i] = (scalar_t)(mean + std * philox_normal(seed, offset + (uint64_t)i));
  });
}

}  // namespace vt
