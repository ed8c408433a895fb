// loader.h — batches from a data set, decoded and transformed by background threads while the
// model runs.
//
// The order of an epoch is a permutation drawn from (seed, epoch) alone, and example i of the
// epoch is transformed with its own generator from (seed, epoch, i) (example_generator in
// transforms.h; i is the example's index in the data set): the batches are the same
// whatever the number of workers, and a resumed run sees exactly the data an uninterrupted
// one would. Workers build whole batches (batch b goes to worker b mod W) and stay at most
// `prefetch` batches ahead; an exception in a worker is rethrown by next() at that batch.
// With shards (data-parallel processes) each process makes its part of every global batch.
#pragma once
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "tasks/data/dataset.h"
#include "tasks/data/transforms.h"

namespace vt::data {

struct Batch {
  Tensor images;                 // (B, C, H, W) F32
  Tensor labels;                 // (B) I64
  Tensor targets;                // dense examples only: their targets stacked, (B, ...)
  std::vector<Instances> instances;  // instance examples only: one per image, on the CPU
  std::vector<int64_t> indices;  // data-set indices of the examples
  // Data-parallel (LoaderOptions::shard_count > 1): this batch is examples
  // [global_start, global_start + B) of a global batch of global_size. B may be 0 (then
  // images is undefined): a global batch smaller than the number of shards.
  int64_t global_start = 0, global_size = 0;
};

struct LoaderOptions {
  int64_t batch = 32;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  int workers = 2;   // 0: batches are made in next(), on the caller's thread
  int prefetch = 4;  // batches made ahead of the consumer
  // Data-parallel: every shard sees the same global batches (`batch` examples each, the same
  // order) and makes only its contiguous part of each: examples [G·r/n, G·(r+1)/n) of a global
  // batch of G, for shard r of n.
  int shard_rank = 0, shard_count = 1;
};

class DataLoader {
 public:
  DataLoader(DatasetPtr d, Transform t, LoaderOptions o);  // the image alone is transformed
  DataLoader(DatasetPtr d, PairTransform t, LoaderOptions o);  // image and dense target together
  DataLoader(DatasetPtr d, ExampleTransform t, LoaderOptions o);  // the whole example (instances)
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t batches_per_epoch() const;
  const Dataset& dataset() const { return *data_; }
  const LoaderOptions& options() const { return opt_; }
  // Starts epoch `epoch`, skipping its first `skip_batches` batches.
  void start_epoch(int64_t epoch, int64_t skip_batches = 0);
  bool next(Batch& out);  // false at the end of the epoch

 private:
  Batch make_batch(int64_t b) const;
  void stack_into(Tensor& batch, const Tensor& t, int64_t k, int64_t count, int64_t idx) const;
  void worker(int w);
  void stop_workers();

  DatasetPtr data_;
  ExampleTransform transform_;
  LoaderOptions opt_;
  int64_t epoch_ = 0, next_ = 0, end_ = 0;
  std::vector<int64_t> order_;

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, std::pair<Batch, std::exception_ptr>> ready_;
  bool stop_ = false;
};

}  // namespace vt::data
