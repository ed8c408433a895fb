// cuda_module.h — the boundary between the engine and the CUDA backend module.
//
// The CUDA backend (engine/cuda/*.cu) is built as its own shared module, libvitune_cuda.so,
// which links cudart and cuBLAS. The engine loads it with dlopen the first time anything asks
// for a CUDA device (engine/cuda/loader.cpp), so a CPU-only run never maps cuBLAS: linking it
// directly costs about 150 MB of resident memory at start-up (docs/BENCHMARKS.md).
// The module exports one C function returning this table; the rest of cuda_api.h (the TF32
// switch) lives in the engine, and the module reads it from there.
#pragma once
#include <string>

#include "engine/cuda/cuda_api.h"

namespace vt::cuda {

constexpr int kModuleAbi = 1;  // bumped whenever ModuleApi changes

struct ModuleApi {
  int abi = kModuleAbi;
  int (*device_count)(std::string* why);  // why: the reason when 0
  Backend& (*backend)(int index);         // throws vt::Error for a missing device
  CudaMemoryStats (*memory_stats)(int device);
  void (*reset_peak)(int device);
  void (*empty_cache)();
};

}  // namespace vt::cuda

extern "C" const vt::cuda::ModuleApi* vt_cuda_module_api();
