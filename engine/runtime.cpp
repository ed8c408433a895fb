// runtime.cpp — see runtime.h.
#include "engine/runtime.h"

#include <unistd.h>

#include <cstdlib>

namespace vt {

void prefer_passive_omp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;  // the user's choice (or we already re-ran)
  setenv("OMP_WAIT_POLICY", "passive", 1);
  setenv("GOMP_SPINCOUNT", "20000", 0);  // a short spin first (runtime.h), unless the user set one
  execv("/proc/self/exe", argv);  // returns only on failure: then run on with the default
}

}  // namespace vt
