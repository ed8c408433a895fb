// bf16.cpp — bulk float32 <-> bfloat16 conversion (see engine/bf16.h). The loops are written
// branch-free so that GCC vectorises them (16 lanes under AVX-512); large arrays are split
// over the threads.
#include "engine/bf16.h"

#include <algorithm>

namespace vt {

namespace {

constexpr int64_t kParallelFrom = 1 << 16;  // elements: below this a parallel region costs more

void to_bf16_range(const float* __restrict src, uint16_t* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, src + i, 4);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (u >> 16) | 0x0040u;
    dst[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  }
}

void to_float_range(const uint16_t* __restrict src, float* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = (uint32_t)src[i] << 16;
    std::memcpy(dst + i, &u, 4);
  }
}

template <typename F>
void chunked(int64_t n, F&& f) {
  if (n < kParallelFrom) return f(0, n);
  const int64_t chunk = 1 << 14;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < (n + chunk - 1) / chunk; ++c) f(c * chunk, std::min(n, (c + 1) * chunk) - c * chunk);
}

}  // namespace

void float_to_bf16_n(const float* src, uint16_t* dst, int64_t n) {
  chunked(n, [&](int64_t begin, int64_t len) { to_bf16_range(src + begin, dst + begin, len); });
}

void bf16_to_float_n(const uint16_t* src, float* dst, int64_t n) {
  chunked(n, [&](int64_t begin, int64_t len) { to_float_range(src + begin, dst + begin, len); });
}

}  // namespace vt
