// philox.h — the counter-based random number generator shared by every backend.
//
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the
// Random123 library). It is a keyed bijection of a 128-bit counter: the same (key, counter)
// always gives the same four 32-bit words, and there is no state to carry between calls. That
// is what lets a fill be split across threads or GPU blocks in any way and still produce the
// same numbers: element i of a fill asks for counter (offset + i), nothing else.
//
// The engine's convention (documented once here, used by engine/cpu/random.cpp and by the CUDA
// kernels, which include this same header):
//
//   key     = { low 32 bits of seed, high 32 bits of seed }
//   counter = { low 32 bits of c, high 32 bits of c, 0, 0 }    with c = offset + i
//   x0..x3  = philox4x32_10(counter, key)
//
//   u53(a, b) = ((a << 32 | b) >> 11) · 2^-53                  uniform double in [0, 1)
//   uniform   u = u53(x0, x1);   value = lo + (hi - lo) · u    (computed in double, then
//               rounded to the tensor's dtype; a value that rounds up to hi is nudged below it)
//   normal    Box–Muller, cosine branch only (one normal per counter, so element i still uses
//             only counter offset + i):
//               u1 = 1 - u53(x0, x1)   in (0, 1]  (so log(u1) is finite)
//               u2 = u53(x2, x3)       in [0, 1)
//               z  = sqrt(-2 ln u1) · cos(2π u2);   value = mean + std · z
//
// One Philox call per element spends four words on one number; that is a deliberate trade for
// a mapping a reader (and a CUDA kernel) can reproduce element by element.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define VT_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define VT_HOST_DEVICE inline
#endif

namespace vt {

struct Philox4 {
  uint32_t x[4];
};

namespace philox_detail {
constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments

VT_HOST_DEVICE void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = (uint64_t)a * (uint64_t)b;
  hi = (uint32_t)(p >> 32);
  lo = (uint32_t)p;
}
}  // namespace philox_detail

// Philox4x32 with 10 rounds: counter c[0..3], key k[0..1] -> four 32-bit words.
VT_HOST_DEVICE Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                     uint32_t k0, uint32_t k1) {
  using namespace philox_detail;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {  // the key is bumped between rounds
      k0 += kW0;
      k1 += kW1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kM0, c0, hi0, lo0);
    mulhilo(kM1, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// The four words for element counter c under `seed` (the convention above).
VT_HOST_DEVICE Philox4 philox_at(uint64_t seed, uint64_t c) {
  return philox4x32_10((uint32_t)c, (uint32_t)(c >> 32), 0u, 0u, (uint32_t)seed,
                       (uint32_t)(seed >> 32));
}

// Uniform double in [0, 1) from 53 bits of (a, b).
VT_HOST_DEVICE double philox_u53(uint32_t a, uint32_t b) {
  const uint64_t bits = ((uint64_t)a << 32) | (uint64_t)b;
  return (double)(bits >> 11) * (1.0 / 9007199254740992.0);  // 2^-53
}

// Uniform in [0, 1) for element counter c.
VT_HOST_DEVICE double philox_uniform(uint64_t seed, uint64_t c) {
  const Philox4 r = philox_at(seed, c);
  return philox_u53(r.x[0], r.x[1]);
}

// Standard normal for element counter c (Box–Muller, cosine branch).
VT_HOST_DEVICE double philox_normal(uint64_t seed, uint64_t c) {
  const Philox4 r = philox_at(seed, c);
  const double u1 = 1.0 - philox_u53(r.x[0], r.x[1]);  // (0, 1]
  const double u2 = philox_u53(r.x[2], r.x[3]);        // [0, 1)
  const double two_pi = 6.283185307179586;
  return ::sqrt(-2.0 * ::log(u1)) * ::cos(two_pi * u2);
}

}  // namespace vt
