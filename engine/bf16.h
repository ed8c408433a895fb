// bf16.h — bfloat16, the storage type of mixed precision: the top 16 bits of an IEEE float32
// (8 exponent bits, 7 mantissa bits), so every float32 exponent, subnormals included, has a
// bf16 value. Conversion from float32 rounds to nearest, ties to even (as torch and the
// AVX-512 BF16 instructions do); NaN stays NaN (quiet, sign kept), ±Inf stays ±Inf, and a
// finite value that rounds past the largest bf16 becomes ±Inf. Unlike VCVTNEPS2BF16 (which
// flushes subnormal inputs to zero) these functions round subnormals exactly.
#pragma once
#include <cstdint>
#include <cstring>  // memcpy (host and device)

#ifdef __CUDACC__
#define VT_HOST_DEVICE __host__ __device__
#else
#define VT_HOST_DEVICE
#endif

namespace vt {

VT_HOST_DEVICE inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);  // NaN: quiet
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);  // + half an ulp, ties to even
}

VT_HOST_DEVICE inline float bf16_to_float(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

// Bulk conversions (engine/cpu/bf16.cpp): the same rounding, vectorised by the compiler and
// split over the OpenMP threads for large n.
void float_to_bf16_n(const float* src, uint16_t* dst, int64_t n);
void bf16_to_float_n(const uint16_t* src, float* dst, int64_t n);

}  // namespace vt
