// pending.cpp — TEMPORARY: CPU kernels not written yet. Each helper deletes its functions from
// here as it implements them in the family's own file; this file must be gone before a commit
// that claims the engine issue done.
#include "engine/cpu/cpu_backend.h"

namespace vt {
[[noreturn]] static void todo(const char* k) { throw Error(std::string("cpu kernel not implemented yet: ") + k); }

void CpuBackend::softmax(const Tensor&, Tensor&, bool) { todo("softmax"); }
void CpuBackend::softmax_backward(const Tensor&, const Tensor&, Tensor&, bool) { todo("softmax_backward"); }
void CpuBackend::layer_norm(const Tensor&, const Tensor&, const Tensor&, double, Tensor&, Tensor&, Tensor&) { todo("layer_norm"); }
void CpuBackend::layer_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&) { todo("layer_norm_backward"); }
void CpuBackend::im2col(const Tensor&, const Conv2dGeom&, Tensor&) { todo("im2col"); }
void CpuBackend::col2im(const Tensor&, const Conv2dGeom&, Tensor&) { todo("col2im"); }
void CpuBackend::depthwise_conv2d(const Tensor&, const Tensor&, const Conv2dGeom&, bool, Tensor&) { todo("depthwise_conv2d"); }
void CpuBackend::depthwise_conv2d_backward(const Tensor&, const Tensor&, const Tensor&, const Conv2dGeom&, bool, Tensor&, Tensor&) { todo("depthwise_conv2d_backward"); }
void CpuBackend::avg_pool2d(const Tensor&, const Conv2dGeom&, bool, Tensor&) { todo("avg_pool2d"); }
void CpuBackend::avg_pool2d_backward(const Tensor&, const Conv2dGeom&, bool, Tensor&) { todo("avg_pool2d_backward"); }
void CpuBackend::adaptive_avg_pool2d(const Tensor&, Tensor&) { todo("adaptive_avg_pool2d"); }
void CpuBackend::adaptive_avg_pool2d_backward(const Tensor&, Tensor&) { todo("adaptive_avg_pool2d_backward"); }
void CpuBackend::interpolate(const Tensor&, Tensor&, int, bool) { todo("interpolate"); }
void CpuBackend::interpolate_backward(const Tensor&, Tensor&, int, bool) { todo("interpolate_backward"); }
void CpuBackend::index_select(const Tensor&, int64_t, const Tensor&, Tensor&) { todo("index_select"); }
void CpuBackend::index_add(Tensor&, int64_t, const Tensor&, const Tensor&) { todo("index_add"); }
void CpuBackend::gather(const Tensor&, int64_t, const Tensor&, Tensor&) { todo("gather"); }
void CpuBackend::scatter_add(Tensor&, int64_t, const Tensor&, const Tensor&) { todo("scatter_add"); }
void CpuBackend::random_uniform(Tensor&, uint64_t, uint64_t, double, double) { todo("random_uniform"); }
void CpuBackend::random_normal(Tensor&, uint64_t, uint64_t, double, double) { todo("random_normal"); }
void CpuBackend::adamw_step(Tensor&, const Tensor&, Tensor&, Tensor&, double, double, double, double, double, int64_t) { todo("adamw_step"); }
}  // namespace vt
#include "engine/ops.h"
namespace vt {
Tensor scatter_add(const Tensor&, int64_t, const Tensor&, const Tensor&) { todo("scatter_add op"); }
}  // namespace vt
