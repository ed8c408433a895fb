// loader.cpp — see loader.h.
#include "tasks/data/loader.h"

#include <cstring>

#include "engine/random.h"

namespace vt::data {

namespace {
uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

DataLoader::DataLoader(DatasetPtr d, Transform t, LoaderOptions o)
    : DataLoader(std::move(d),
                 PairTransform([t = std::move(t)](Tensor& img, Tensor&, Generator& g) { img = t(img, g); }),
                 o) {}

DataLoader::DataLoader(DatasetPtr d, PairTransform t, LoaderOptions o)
    : DataLoader(std::move(d),
                 ExampleTransform{[t = std::move(t)](Example& e, Generator& g) { t(e.image, e.target, g); }},
                 o) {}

DataLoader::DataLoader(DatasetPtr d, ExampleTransform t, LoaderOptions o)
    : data_(std::move(d)), transform_(std::move(t)), opt_(o) {
  if (opt_.batch <= 0) throw Error("DataLoader: batch must be positive");
  if (opt_.workers < 0 || opt_.prefetch <= 0) throw Error("DataLoader: bad workers/prefetch");
  if (opt_.shard_count < 1 || opt_.shard_rank < 0 || opt_.shard_rank >= opt_.shard_count)
    throw Error("DataLoader: shard " + std::to_string(opt_.shard_rank) + " of " + std::to_string(opt_.shard_count));
}

DataLoader::~DataLoader() { stop_workers(); }

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = data_->size();
  return opt_.drop_last ? n / opt_.batch : (n + opt_.batch - 1) / opt_.batch;
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  ready_.clear();
  stop_ = false;
}

void DataLoader::start_epoch(int64_t epoch, int64_t skip) {
  stop_workers();
  epoch_ = epoch;
  const int64_t n = data_->size();
  order_.resize(n);
  for (int64_t i = 0; i < n; ++i) order_[i] = i;
  if (opt_.shuffle) {  // the engine's Philox randperm, keyed by (seed, epoch) only
    Generator g(mix(mix(opt_.seed) ^ (uint64_t)epoch));
    const Tensor perm = randperm(n, Device::cpu(), &g);
    std::memcpy(order_.data(), perm.data<int64_t>(), (size_t)n * sizeof(int64_t));
  }
  end_ = batches_per_epoch();
  next_ = std::min(std::max<int64_t>(skip, 0), end_);
  for (int w = 0; w < opt_.workers; ++w) threads_.emplace_back(&DataLoader::worker, this, w);
}

// Copies example k's dense target into slot k of `batch` (made at k == 0 with the first's shape).
void DataLoader::stack_into(Tensor& batch, const Tensor& t, int64_t k, int64_t count, int64_t idx) const {
  if (!batch.defined()) {
    Shape s = t.shape();
    s.insert(s.begin(), count);
    batch = Tensor::empty(s, t.dtype());
  } else if (const Shape first(batch.shape().begin() + 1, batch.shape().end());
             first != t.shape() || batch.dtype() != t.dtype()) {
    throw Error("DataLoader: example " + std::to_string(idx) + " of " + data_->describe() +
                " has a target " + shape_str(t.shape()) + " " + dtype_name(t.dtype()) +
                " after the transform, but the batch's first has " + shape_str(first) + " " +
                dtype_name(batch.dtype()));
  }
  std::memcpy((char*)batch.raw() + k * t.nbytes(), t.raw(), t.nbytes());
}

Batch DataLoader::make_batch(int64_t b) const {
  const int64_t global_first = b * opt_.batch, global_count = std::min(opt_.batch, data_->size() - global_first);
  const int64_t lo = global_count * opt_.shard_rank / opt_.shard_count;  // this shard's part
  const int64_t hi = global_count * (opt_.shard_rank + 1) / opt_.shard_count;
  const int64_t first = global_first + lo, count = hi - lo;
  Batch out;
  out.global_start = lo;
  out.global_size = global_count;
  std::vector<int64_t> labels(count);
  for (int64_t k = 0; k < count; ++k) {
    const int64_t idx = order_[first + k];
    Example e = data_->get(idx);
    Generator g = example_generator(opt_.seed, (uint64_t)epoch_, (uint64_t)idx);
    transform_.fn(e, g);
    Tensor img = e.image.contiguous();
    if (img.dtype() != DType::F32)
      throw Error("DataLoader: the transform of example " + std::to_string(idx) + " of " +
                  data_->describe() + " returned " + dtype_name(img.dtype()) + ", expected F32");
    if (!out.images.defined()) {
      Shape s = img.shape();
      s.insert(s.begin(), count);
      out.images = Tensor::empty(s);
    } else if (const Shape first_shape(out.images.shape().begin() + 1, out.images.shape().end());
               first_shape != img.shape()) {
      throw Error("DataLoader: example " + std::to_string(idx) + " of " + data_->describe() +
                  " has shape " + shape_str(img.shape()) + " after the transform, but the " +
                  "batch's first example has " + shape_str(first_shape));
    }
    std::memcpy(out.images.data<float>() + k * img.numel(), img.data<float>(), img.nbytes());
    labels[k] = e.label;
    if (e.target.defined()) stack_into(out.targets, e.target.contiguous(), k, count, idx);
    if (e.instances.defined()) out.instances.push_back(std::move(e.instances));
    out.indices.push_back(idx);
  }
  out.labels = Tensor::from_vector(labels, {count});
  return out;
}

void DataLoader::worker(int w) {
  const int W = opt_.workers;
  int64_t b;
  {
    std::lock_guard<std::mutex> l(mu_);
    b = next_;
  }
  b += ((w - b) % W + W) % W;  // this worker's first batch: b ≡ w (mod W)
  for (; b < end_; b += W) {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || b < next_ + opt_.prefetch; });
      if (stop_) return;
    }
    std::pair<Batch, std::exception_ptr> r;
    try {
      r.first = make_batch(b);
    } catch (...) {
      r.second = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      ready_[b] = std::move(r);
    }
    cv_.notify_all();
  }
}

bool DataLoader::next(Batch& out) {
  if (next_ >= end_) return false;
  if (opt_.workers == 0) {
    out = make_batch(next_++);
    return true;
  }
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return ready_.count(next_) > 0; });
  auto r = std::move(ready_[next_]);
  ready_.erase(next_);
  ++next_;
  l.unlock();
  cv_.notify_all();
  if (r.second) std::rethrow_exception(r.second);
  out = std::move(r.first);
  return true;
}

}  // namespace vt::data
