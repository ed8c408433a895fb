// backend.cpp — the per-device backend registry. The CPU backend is always present; the CUDA
// backend registers itself from engine/cuda when the build includes it.
#include "engine/backend.h"

#include "engine/cpu/cpu_backend.h"

namespace vt {

static Backend* g_backends[2] = {nullptr, nullptr};

void register_backend(Device::Type type, Backend* backend) { g_backends[type] = backend; }

bool backend_available(Device::Type type) {
  return type == Device::CPU || g_backends[type] != nullptr;
}

Backend& backend_for(Device device) {
  if (device.type == Device::CPU) {
    static CpuBackend cpu;
    return cpu;
  }
  if (!g_backends[device.type])
    throw Error("device " + device.str() +
                " is not available: this build has no CUDA backend or no GPU was found");
  return *g_backends[device.type];
}

}  // namespace vt
