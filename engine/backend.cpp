// backend.cpp — the per-device backend registry. The CPU backend is always present. CUDA
// devices are served by engine/cuda, reached through cuda_api.h: engine/cuda/loader.cpp, in
// every build, dlopens libvitune_cuda.so on the first request for a CUDA device and creates
// device i's backend there; without CUDA in the build, or when the module cannot be loaded, it
// answers "no devices" with the reason, so this file needs no #ifdef.
// register_backend lets a test or an embedder install its own backend for a device type.
#include "engine/backend.h"

#include "engine/cpu/cpu_backend.h"
#include "engine/cuda/cuda_api.h"

namespace vt {

static Backend* g_backends[2] = {nullptr, nullptr};

void register_backend(Device::Type type, Backend* backend) { g_backends[type] = backend; }

// CUDA: true only when a device is actually present (cudaGetDeviceCount > 0).
bool backend_available(Device::Type type) {
  if (type == Device::CPU || g_backends[type] != nullptr) return true;
  return type == Device::CUDA && cuda::device_count() > 0;
}

Backend& backend_for(Device device) {
  if (device.type == Device::CPU) {
    static CpuBackend cpu;
    return cpu;
  }
  if (g_backends[device.type]) return *g_backends[device.type];
  return cuda::backend(device.index);  // throws with the reason when there is no such GPU
}

}  // namespace vt
