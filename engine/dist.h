// dist.h — data-parallel processes: who we are and the few collectives training needs.
//
// Built with MPI (meson -Dmpi, Debian's Open MPI) and started by a launcher (mpirun, srun),
// every process is one rank of MPI_COMM_WORLD; otherwise — or built without MPI — there is
// one rank and every collective is the identity. The trainer (tasks/train/trainer.cpp) splits
// each global batch across the ranks, sums the trainable gradients with all_reduce_sum (one
// flat buffer) and reduces the evaluation's counts; only rank 0 writes files and prints.
//
// Failures: a rank that throws ends the whole job with abort(), naming itself and the error,
// instead of leaving the others blocked in a collective; a rank that dies is reported by the
// launcher, which then stops the others.
#pragma once
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace vt::dist {

// MPI_Init when a launcher started this process (its environment says so); safe to call once
// at the start of main. Returns true when this process is one of several (or one) MPI ranks.
bool init_from_environment(int* argc, char*** argv);
void finalize();

bool active();        // MPI was initialised
int rank();           // 0 when not active
int world_size();     // 1 when not active
bool compiled_with_mpi();

// Elementwise sums across ranks, in place (every rank ends with the same values).
void all_reduce_sum(std::vector<double>& v);
void all_reduce_sum(float* data, size_t n);
// Sums the gradients of `params` across ranks through one flat F32 host buffer (CUDA
// gradients are staged through the host). A parameter without a gradient contributes zeros
// (and receives the sum when another rank had one).
void all_reduce_gradients(const std::vector<Tensor>& params);

// Gradient buckets for large trainable sets (full fine-tuning): the parameters in reverse
// order — the order the backward pass finishes them — grouped into buckets of about
// `bucket_bytes`; as soon as a bucket's last gradient is ready its all-reduce starts
// (non-blocking, progressed at every later gradient), overlapping the rest of the backward.
// finish() waits for every bucket and writes the sums back, as all_reduce_gradients does.
//   GradBuckets b(params, 25 << 20);  b.begin();  loss.backward();  b.finish();
class GradBuckets {
 public:
  GradBuckets(std::vector<Tensor> params, size_t bucket_bytes);
  ~GradBuckets();
  void begin();   // installs the gradient hook (engine/autograd.h)
  void finish();  // starts what is left (unused parameters), waits, writes back; removes the hook
  size_t buckets() const;

 private:
  struct Bucket;
  void ready(const Tensor& leaf);
  void start(Bucket& b);
  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<size_t, size_t>> where_;  // param -> (bucket, offset in it)
  size_t next_start_ = 0;  // buckets start in index order on every rank (MPI's rule for collectives)
};

// y = Σ over ranks of x (every rank gets y), differentiable: the gradient of x is the sum over
// ranks of the gradients of y — what a statistic over the global batch needs (synchronised
// BatchNorm, a loss normalised over every rank's pixels). Identity on one rank. Every rank
// must call it in the same order, forward and backward.
Tensor sum_across_ranks(const Tensor& x);

// Ends every rank of the job: prints "vitune: error: rank R: MESSAGE" and calls MPI_Abort
// (exit with `code` when not active).
[[noreturn]] void abort(const std::string& message, int code = 1);

// Seconds spent inside collectives so far (for the summary's communication time) and the
// bytes this rank sent into all_reduce calls.
double comm_seconds();
double comm_bytes();

}  // namespace vt::dist
