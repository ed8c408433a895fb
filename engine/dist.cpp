// dist.cpp — MPI ranks and collectives, or one rank without MPI (see dist.h).
#include "engine/dist.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/ops.h"
#include "engine/ops/op_utils.h"

#ifdef VT_WITH_MPI
#include <mpi.h>
#endif

namespace vt::dist {

namespace {
bool g_active = false;
int g_rank = 0, g_size = 1;
double g_comm_s = 0, g_comm_bytes = 0;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A launcher's environment: Open MPI's mpirun, PMIx / PMI (srun), Slurm.
bool launched() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

struct Timer {
  double t0 = now_s();
  ~Timer() { g_comm_s += now_s() - t0; }
};
}  // namespace

bool compiled_with_mpi() {
#ifdef VT_WITH_MPI
  return true;
#else
  return false;
#endif
}

bool init_from_environment(int* argc, char*** argv) {
#ifdef VT_WITH_MPI
  if (g_active || !launched()) return g_active;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  g_active = true;
  return true;
#else
  (void)argc, (void)argv;
  if (launched() && std::getenv("OMPI_COMM_WORLD_RANK") && std::atoi(std::getenv("OMPI_COMM_WORLD_RANK")) == 0)
    std::fprintf(stderr, "vitune: warning: started by an MPI launcher, but built without MPI (meson -Dmpi=enabled); "
                         "every process runs alone\n");
  return false;
#endif
}

void finalize() {
#ifdef VT_WITH_MPI
  if (g_active) MPI_Finalize();
#endif
  g_active = false;
}

bool active() { return g_active; }
int rank() { return g_rank; }
int world_size() { return g_size; }
double comm_seconds() { return g_comm_s; }
double comm_bytes() { return g_comm_bytes; }

void all_reduce_sum(std::vector<double>& v) {
  if (!g_active || g_size == 1 || v.empty()) return;
#ifdef VT_WITH_MPI
  Timer t;
  g_comm_bytes += (double)(v.size() * sizeof(double));
  MPI_Allreduce(MPI_IN_PLACE, v.data(), (int)v.size(), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#endif
}

void all_reduce_sum(float* data, size_t n) {
  if (!g_active || g_size == 1 || n == 0) return;
#ifdef VT_WITH_MPI
  Timer t;
  g_comm_bytes += (double)(n * sizeof(float));
  constexpr size_t kChunk = size_t(1) << 30;  // MPI counts are int
  for (size_t at = 0; at < n; at += kChunk)
    MPI_Allreduce(MPI_IN_PLACE, data + at, (int)std::min(kChunk, n - at), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
#else
  (void)data;
#endif
}

void all_reduce_gradients(const std::vector<Tensor>& params) {
  if (!g_active || g_size == 1) return;
  size_t n = 0;
  for (const Tensor& p : params) n += (size_t)p.numel();
  // (Σ numel + one "has a gradient" flag per parameter) F32: the whole exchange in one call.
  std::vector<float> flat(n + params.size(), 0.0f);
  size_t at = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const Tensor g = p.grad();
    if (g.defined()) {
      flat[n + i] = 1.0f;
      const Tensor h = g.to(Device::cpu()).to(DType::F32).contiguous();
      std::memcpy(flat.data() + at, h.data<float>(), (size_t)h.numel() * sizeof(float));
    }
    at += (size_t)p.numel();
  }
  all_reduce_sum(flat.data(), flat.size());
  at = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (flat[n + i] == 0.0f) {  // no rank had one: it stays without (as on one process)
      at += (size_t)p.numel();
      continue;
    }
    Tensor h = Tensor::empty(p.shape(), DType::F32);
    std::memcpy(h.data<float>(), flat.data() + at, (size_t)p.numel() * sizeof(float));
    Tensor tp = p;  // a handle to the parameter: set_grad acts on the shared leaf
    tp.set_grad(h.to(p.grad().defined() ? p.grad().dtype() : p.dtype()).to(p.device()));
    at += (size_t)p.numel();
  }
}

namespace {
// x summed over ranks, as a new tensor of x's dtype and device (through F64 on the host).
Tensor summed(const Tensor& x) {
  const Tensor h = x.detach().to(Device::cpu()).to(DType::F64).contiguous();
  std::vector<double> v(h.data<double>(), h.data<double>() + h.numel());
  all_reduce_sum(v);
  return Tensor::from_vector(v, x.shape()).to(x.dtype()).to(x.device());
}
}  // namespace

Tensor sum_across_ranks(const Tensor& x) {
  if (!g_active || g_size == 1) return x;
  Tensor y = summed(x);
  if (auto ctx = grad_ctx({x}))
    record(y, "sum_across_ranks", ctx, [](const Tensor& g) -> Grads { return {summed(g)}; }, {});
  return y;
}

void abort(const std::string& message, int code) {
  if (g_active && g_size > 1)
    std::fprintf(stderr, "vitune: error: rank %d of %d: %s\n", g_rank, g_size, message.c_str());
  else
    std::fprintf(stderr, "vitune: error: %s\n", message.c_str());
  std::fflush(stderr);
#ifdef VT_WITH_MPI
  if (g_active) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace vt::dist
