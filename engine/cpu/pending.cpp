// pending.cpp — TEMPORARY: CPU kernels not written yet. Each helper deletes its functions from
// here as it implements them in the family's own file; this file must be gone before a commit
// that claims the engine issue done.
#include "engine/cpu/cpu_backend.h"

namespace vt {
[[noreturn]] static void todo(const char* k) { throw Error(std::string("cpu kernel not implemented yet: ") + k); }

}  // namespace vt
