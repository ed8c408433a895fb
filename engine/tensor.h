// tensor.h — the Tensor handle: shape + strides + offset over shared storage, plus autograd links.
//
// A Tensor is a cheap handle (one shared_ptr). Copying it copies the handle, not the data.
// Views (reshape, permute, narrow, expand, ...) make a new TensorImpl over the same Storage.
// Autograd: a leaf has requires_grad and accumulates into grad(); a non-leaf has a grad_fn, the
// Node that computes its inputs' gradients (see autograd.h). Every op lives in engine/ops/.
#pragma once
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "engine/dtype.h"

namespace vt {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

// Raw bytes on one device, freed through that device's backend.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  Storage(size_t nbytes, Device device);
  // Wraps memory owned by someone else (e.g. a mapped file); `keep` holds it alive.
  Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> keep);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

 private:
  std::shared_ptr<void> keep_;
};

struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories (contiguous, uninitialised unless named otherwise) ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32,
                     Device device = Device::cpu());
  static Tensor from_vector(const std::vector<float>& v, const Shape& shape);
  static Tensor from_vector(const std::vector<double>& v, const Shape& shape);
  static Tensor from_vector(const std::vector<int64_t>& v, const Shape& shape);
  static Tensor arange(int64_t n, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor scalar(double v, DType dtype = DType::F32, Device device = Device::cpu());
  // A view over existing storage (used by views and by file loaders).
  static Tensor make_view(std::shared_ptr<Storage> storage, const Shape& shape,
                          const Shape& strides, int64_t offset, DType dtype);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t offset() const;
  int64_t dim() const { return (int64_t)shape().size(); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  size_t nbytes() const { return (size_t)numel() * dtype_size(dtype()); }
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const;
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // Pointer to the first element (storage data + offset). Host pointers only for data<T>().
  void* raw() const;
  template <typename T>
  T* data() const { return static_cast<T*>(raw()); }
  double item() const;                 // one element, any dtype/device, as double
  std::vector<double> to_vector() const;  // all elements in row-major order, as double

  // ---- autograd ----
  bool requires_grad() const;            // leaf flag, or has a grad_fn
  Tensor& set_requires_grad(bool on);    // leaves only
  bool is_leaf() const;
  Tensor grad() const;                   // accumulated gradient of a leaf (undefined if none)
  void set_grad(const Tensor& g);
  void zero_grad();                      // drops the gradient (frees its memory)
  const std::shared_ptr<Node>& grad_fn() const;
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;                 // same data, no history

  // ---- views (autograd-aware; defined in ops/view.cpp) ----
  Tensor reshape(const Shape& shape) const;     // view if possible, else copy; one -1 allowed
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;  // narrow + squeeze
  Tensor expand(const Shape& shape) const;          // broadcast view (stride 0)
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape, strides;
  int64_t offset = 0;
  DType dtype = DType::F32;
  bool requires_grad = false;      // leaves only: a trainable parameter or input
  Tensor grad;                     // leaves only
  std::shared_ptr<Node> grad_fn;   // non-leaves: the node that made this tensor
  std::shared_ptr<Node> accumulator;  // leaves: the node that adds into grad (made lazily)
};

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);  // -1 -> ndim-1, throws if out of range
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace vt
