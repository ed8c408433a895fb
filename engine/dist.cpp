// dist.cpp — MPI ranks and collectives, or one rank without MPI (see dist.h).
#include "engine/dist.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "engine/autograd.h"
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

// ---- gradient buckets ----
struct GradBuckets::Bucket {
  std::vector<size_t> members;  // parameter indices
  std::vector<float> data;      // their gradients, then one "has a gradient" flag each
  size_t ready = 0;
  bool started = false;
#ifdef VT_WITH_MPI
  MPI_Request request = MPI_REQUEST_NULL;
#endif
};

namespace {
std::unordered_map<const void*, size_t> g_bucket_index;  // the hook's map: leaf impl -> param index
GradBuckets* g_buckets = nullptr;
}  // namespace

GradBuckets::GradBuckets(std::vector<Tensor> params, size_t bucket_bytes) : params_(std::move(params)) {
  where_.resize(params_.size());
  size_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {  // reverse: the backward's order
    if (buckets_.empty() || (bytes >= bucket_bytes && !buckets_.back().members.empty())) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    where_[k] = {buckets_.size() - 1, 0};
    b.members.push_back(k);
    bytes += (size_t)params_[k].numel() * sizeof(float);
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    size_t at = 0;
    for (size_t k : buckets_[i].members) where_[k].second = at, at += (size_t)params_[k].numel();
    buckets_[i].data.assign(at + buckets_[i].members.size(), 0.0f);
  }
}

size_t GradBuckets::buckets() const { return buckets_.size(); }

GradBuckets::~GradBuckets() {
  if (g_buckets == this) set_grad_ready_hook({}), g_buckets = nullptr;
}

void GradBuckets::begin() {
  g_bucket_index.clear();
  for (size_t k = 0; k < params_.size(); ++k) g_bucket_index[params_[k].impl()] = k;
  for (Bucket& b : buckets_) {
    std::fill(b.data.begin(), b.data.end(), 0.0f);
    b.ready = 0, b.started = false;
  }
  next_start_ = 0;
  g_buckets = this;
  set_grad_ready_hook([](const Tensor& leaf) {
    if (g_buckets) g_buckets->ready(leaf);
  });
}

void GradBuckets::ready(const Tensor& leaf) {
  auto it = g_bucket_index.find(leaf.impl());
  if (it == g_bucket_index.end()) return;  // not a parameter this trains
  const size_t k = it->second;
  auto [bi, at] = where_[k];
  Bucket& b = buckets_[bi];
  const Tensor h = leaf.grad().to(Device::cpu()).to(DType::F32).contiguous();
  std::memcpy(b.data.data() + at, h.data<float>(), (size_t)h.numel() * sizeof(float));
  const size_t slot = std::find(b.members.begin(), b.members.end(), k) - b.members.begin();
  b.data[b.data.size() - b.members.size() + slot] = 1.0f;
  ++b.ready;
  while (next_start_ < buckets_.size() && buckets_[next_start_].ready == buckets_[next_start_].members.size())
    start(buckets_[next_start_++]);
#ifdef VT_WITH_MPI
  for (Bucket& o : buckets_)  // let the started ones progress while the backward goes on
    if (o.started && o.request != MPI_REQUEST_NULL) {
      int done = 0;
      MPI_Test(&o.request, &done, MPI_STATUS_IGNORE);
    }
#endif
}

void GradBuckets::start(Bucket& b) {
  b.started = true;
  if (!g_active || g_size == 1) return;
#ifdef VT_WITH_MPI
  Timer t;
  g_comm_bytes += (double)(b.data.size() * sizeof(float));
  MPI_Iallreduce(MPI_IN_PLACE, b.data.data(), (int)b.data.size(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &b.request);
#endif
}

void GradBuckets::finish() {
  set_grad_ready_hook({});
  g_buckets = nullptr;
  while (next_start_ < buckets_.size()) start(buckets_[next_start_++]);  // the rest, in order
#ifdef VT_WITH_MPI
  {
    Timer t;
    for (Bucket& b : buckets_)
      if (b.request != MPI_REQUEST_NULL) MPI_Wait(&b.request, MPI_STATUS_IGNORE);
  }
#endif
  for (Bucket& b : buckets_) {
    const size_t flags = b.data.size() - b.members.size();
    for (size_t slot = 0; slot < b.members.size(); ++slot) {
      if (b.data[flags + slot] == 0.0f) continue;  // no rank had a gradient
      const Tensor& p = params_[b.members[slot]];
      Tensor h = Tensor::empty(p.shape(), DType::F32);
      std::memcpy(h.data<float>(), b.data.data() + where_[b.members[slot]].second, (size_t)p.numel() * sizeof(float));
      Tensor tp = p;
      tp.set_grad(h.to(p.grad().defined() ? p.grad().dtype() : p.dtype()).to(p.device()));
    }
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
