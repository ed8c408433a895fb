// cuda_api.h — the CUDA backend's public switches and counters, usable without CUDA headers.
//
// Any code (the CLI, benchmarks, tests) may include this header and call these functions in
// every build: with CUDA compiled in (meson -Dcuda=enabled/auto, which defines VT_WITH_CUDA)
// they talk to the GPU backend in engine/cuda/*.cu, loaded on first use by engine/cuda/loader.cpp;
// without CUDA or without the module: no devices, zero stats, set_allow_tf32 only remembers
// the flag.
//
// The backend itself (struct CudaBackend, engine/cuda/cuda_common.cuh) is reached through
// backend_for(Device::cuda(i)) like any backend; nothing outside engine/cuda sees CUDA types.
//
// Debugging on a GPU: kernel launches are asynchronous, so a kernel that faults is normally
// reported by the next CUDA call. Set VT_CUDA_SYNC=1 in the environment to synchronise after
// every kernel: the error then names the kernel that failed (CUDA_LAUNCH_BLOCKING=1 works too).
#pragma once
#include <cstdint>

namespace vt {

struct Backend;

namespace cuda {

// True when this build contains the CUDA backend (it may still find no GPU).
bool is_built();
// Number of usable CUDA devices: 0 without CUDA, without a driver or without a GPU. Never throws.
int device_count();
// The backend of device `index`, created on first use (one stream, one cuBLAS handle and one
// caching allocator per device). Throws vt::Error when the device is not present.
Backend& backend(int index);

// TF32 tensor-core math for F32 GEMMs (about 10 mantissa bits in the products, sums in F32).
// Off by default, so F32 results match the CPU backend to rounding; F64 is never affected.
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace cuda

// Byte counters of one device's caching allocator.
struct CudaMemoryStats {
  int64_t allocated = 0;      // bytes in blocks handed out and not yet freed (rounded sizes)
  int64_t reserved = 0;       // bytes obtained from cudaMalloc: allocated + cached free blocks
  int64_t peak = 0;           // highest `allocated` since start or reset_peak
  int64_t cuda_mallocs = 0;   // cudaMalloc calls made (a reuse from the cache makes none)
};
CudaMemoryStats cuda_memory_stats(int device = 0);
void cuda_reset_peak_memory(int device = 0);
// Returns every cached free block of every device to the driver (cudaFree).
void cuda_empty_cache();

}  // namespace vt
