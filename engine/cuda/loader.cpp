// loader.cpp — cuda_api.h on the engine's side: finds and loads the CUDA backend module
// (libvitune_cuda.so, see cuda_module.h) on first use, and answers "no devices" with the
// reason when this build has no CUDA, or when the module or the CUDA runtime cannot be loaded.
//
// The module is looked for next to the library (or program) that contains this file, where
// meson puts it; VT_CUDA_MODULE=/path/to/libvitune_cuda.so overrides that.
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>

#include "engine/backend.h"
#include "engine/cuda/cuda_module.h"

namespace vt {

namespace cuda {

namespace {

std::atomic<bool> g_allow_tf32{false};
std::atomic<const ModuleApi*> g_loaded{nullptr};  // set once the module is loaded

struct Module {
  const ModuleApi* api = nullptr;
  std::string why;  // why api is null
};

#ifdef VT_WITH_CUDA
std::string module_path() {
  if (const char* env = std::getenv("VT_CUDA_MODULE")) return env;
  Dl_info info{};
  std::string dir = ".";
  if (dladdr(reinterpret_cast<void*>(&module_path), &info) && info.dli_fname) {
    const std::string self = info.dli_fname;
    const size_t slash = self.rfind('/');
    if (slash != std::string::npos) dir = self.substr(0, slash);
  }
  return dir + "/" VT_CUDA_MODULE_NAME;
}
#endif

const Module& module() {
  static const Module m = [] {
    Module r;
#ifndef VT_WITH_CUDA
    r.why = "this build has no CUDA backend (configure with -Dcuda=enabled)";
#else
    const std::string path = module_path();
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);  // never closed
    if (!handle) {
      r.why = std::string("cannot load the CUDA backend module: ") + dlerror();
      return r;
    }
    auto entry = reinterpret_cast<const ModuleApi* (*)()>(dlsym(handle, "vt_cuda_module_api"));
    if (!entry) {
      r.why = path + " has no vt_cuda_module_api: not a vitune CUDA module";
    } else if (entry()->abi != kModuleAbi) {
      r.why = path + " was built for another version of the engine (ABI " +
              std::to_string(entry()->abi) + ", expected " + std::to_string(kModuleAbi) + ")";
    } else {
      r.api = entry();
      g_loaded = r.api;
    }
#endif
    return r;
  }();
  return m;
}

}  // namespace

bool is_built() {
#ifdef VT_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int device_count() {
  const Module& m = module();
  return m.api ? m.api->device_count(nullptr) : 0;
}

Backend& backend(int index) {
  const Module& m = module();
  if (!m.api)
    throw Error("device cuda:" + std::to_string(index) + " is not available: " + m.why);
  return m.api->backend(index);
}

void set_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool allow_tf32() { return g_allow_tf32; }

}  // namespace cuda

// The counters do not load the module: before it is loaded no device memory can be in use,
// and reading them must not pull cuBLAS into a CPU-only process.
CudaMemoryStats cuda_memory_stats(int device) {
  const cuda::ModuleApi* api = cuda::g_loaded;
  return api ? api->memory_stats(device) : CudaMemoryStats{};
}
void cuda_reset_peak_memory(int device) {
  if (const cuda::ModuleApi* api = cuda::g_loaded) api->reset_peak(device);
}
void cuda_empty_cache() {
  if (const cuda::ModuleApi* api = cuda::g_loaded) api->empty_cache();
}

}  // namespace vt
