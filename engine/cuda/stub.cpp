// stub.cpp — cuda_api.h for builds without the CUDA backend (meson -Dcuda=disabled, or auto
// without nvcc/cuBLAS). Code that includes cuda_api.h links in every build; here there are no
// devices, the memory counters stay zero and backend() explains why it cannot help.
#include "engine/backend.h"
#include "engine/cuda/cuda_api.h"

namespace vt {

namespace cuda {

static bool g_allow_tf32 = false;

bool is_built() { return false; }
int device_count() { return 0; }
Backend& backend(int index) {
  throw Error("device cuda:" + std::to_string(index) +
              " is not available: this build has no CUDA backend (configure with -Dcuda=enabled)");
}
void set_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool allow_tf32() { return g_allow_tf32; }

}  // namespace cuda

CudaMemoryStats cuda_memory_stats(int) { return {}; }
void cuda_reset_peak_memory(int) {}
void cuda_empty_cache() {}

}  // namespace vt
