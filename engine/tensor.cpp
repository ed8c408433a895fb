// tensor.cpp — Tensor metadata, factories and element access. Views live in ops/view.cpp.
#include "engine/tensor.h"

#include <cstring>
#include <sstream>

#include "engine/autograd.h"
#include "engine/backend.h"

namespace vt {

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = (int64_t)s.size() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t w = d < 0 ? d + ndim : d;
  if (w < 0 || w >= std::max<int64_t>(ndim, 1))
    throw Error(std::string(op) + ": dim " + std::to_string(d) + " out of range for a " +
                std::to_string(ndim) + "-d tensor");
  return w;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape r(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                  " cannot be broadcast");
    r[i] = da == 1 ? db : da;
  }
  return r;
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() <= 8 &&
      s.find_first_not_of("0123456789", 5) == std::string::npos)
    return cuda(std::stoi(s.substr(5)));
  throw Error("unknown device '" + s + "' (expected cpu, cuda or cuda:N)");
}

// ---------------------------------------------------------------- storage
Storage::Storage(size_t n, Device dev) : nbytes(n), device(dev) {
  data = n ? backend_for(dev).alloc(n) : nullptr;
}
Storage::Storage(void* d, size_t n, Device dev, std::shared_ptr<void> keep)
    : data(d), nbytes(n), device(dev), keep_(std::move(keep)) {}
Storage::~Storage() {
  if (data && !keep_) backend_for(device).free(data, nbytes);
}

// ---------------------------------------------------------------- factories
Tensor Tensor::make_view(std::shared_ptr<Storage> storage, const Shape& shape,
                         const Shape& strides, int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(impl);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape)
    if (d < 0) throw Error("empty: negative dimension in shape " + shape_str(shape));
  auto st = std::make_shared<Storage>((size_t)shape_numel(shape) * dtype_size(dtype), device);
  return make_view(st, shape, contiguous_strides(shape), 0, dtype);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (t.numel()) backend_for(device).fill(t, value);
  return t;
}
Tensor Tensor::zeros(const Shape& s, DType dt, Device d) { return full(s, 0.0, dt, d); }
Tensor Tensor::ones(const Shape& s, DType dt, Device d) { return full(s, 1.0, dt, d); }
Tensor Tensor::scalar(double v, DType dt, Device d) { return full({}, v, dt, d); }

template <typename T>
static Tensor from_vec(const std::vector<T>& v, const Shape& shape, DType dt) {
  if ((int64_t)v.size() != shape_numel(shape))
    throw Error("from_vector: " + std::to_string(v.size()) + " values for shape " +
                shape_str(shape));
  Tensor t = Tensor::empty(shape, dt);
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(T));
  return t;
}
Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s) {
  return from_vec(v, s, DType::F32);
}
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& s) {
  return from_vec(v, s, DType::F64);
}
Tensor Tensor::from_vector(const std::vector<int64_t>& v, const Shape& s) {
  return from_vec(v, s, DType::I64);
}

Tensor Tensor::arange(int64_t n, DType dtype, Device device) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = (double)i;
  return from_vector(v, {n}).to(dtype).to(device);
}

// ---------------------------------------------------------------- metadata
const Shape& Tensor::shape() const { return impl_->shape; }
const Shape& Tensor::strides() const { return impl_->strides; }
int64_t Tensor::offset() const { return impl_->offset; }
int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const { return impl_->dtype; }
Device Tensor::device() const { return impl_->storage->device; }
const std::shared_ptr<Storage>& Tensor::storage() const { return impl_->storage; }

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != acc) return false;
    acc *= shape()[i];
  }
  return true;
}

void* Tensor::raw() const {
  return static_cast<char*>(impl_->storage->data) + impl_->offset * dtype_size(dtype());
}

std::vector<double> Tensor::to_vector() const {
  Tensor c = to(Device::cpu()).to(DType::F64).contiguous();
  const double* p = c.data<double>();
  return std::vector<double>(p, p + c.numel());
}

double Tensor::item() const {
  if (numel() != 1)
    throw Error("item: tensor of shape " + shape_str(shape()) + " has more than one element");
  return to_vector()[0];
}

// ---------------------------------------------------------------- autograd glue
bool Tensor::requires_grad() const { return impl_->requires_grad || impl_->grad_fn; }
bool Tensor::is_leaf() const { return !impl_->grad_fn; }
Tensor& Tensor::set_requires_grad(bool on) {
  if (impl_->grad_fn)
    throw Error("set_requires_grad: only leaf tensors can be marked (use detach() first)");
  if (on && !is_floating(dtype()))
    throw Error(std::string("set_requires_grad: dtype ") + dtype_name(dtype()) +
                " cannot have gradients");
  impl_->requires_grad = on;
  if (!on) impl_->accumulator.reset();
  return *this;
}
Tensor Tensor::grad() const { return impl_->grad; }
void Tensor::set_grad(const Tensor& g) { impl_->grad = g; }
void Tensor::zero_grad() { impl_->grad = Tensor(); }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return impl_->grad_fn; }
void Tensor::backward(const Tensor& g, bool retain_graph) const {
  run_backward(*this, g, retain_graph);
}
Tensor Tensor::detach() const {
  return make_view(storage(), shape(), strides(), offset(), dtype());
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "Tensor(undefined)";
  os << "Tensor(" << shape_str(t.shape()) << ", " << dtype_name(t.dtype()) << ", "
     << t.device().str() << ") [";
  auto v = t.to_vector();
  for (size_t i = 0; i < v.size() && i < 16; ++i) os << (i ? ", " : "") << v[i];
  if (v.size() > 16) os << ", ...";
  return os << "]";
}

}  // namespace vt
