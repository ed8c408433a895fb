// dtype.h — element types and devices: the two tags every tensor carries.
//
// F32 is the working type, F64 exists for finite-difference gradient checks, I64 holds indices
// (labels, gather/scatter indices), U8 and Bool hold masks and raw image bytes. BF16/F16 are
// storage types reserved for the CUDA backend's mixed precision; CPU kernels reject them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace vt {

enum class DType : uint8_t { F32, F64, I64, I32, U8, Bool, BF16, F16 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I64: return 8;
    case DType::I32: return 4;
    case DType::U8: return 1;
    case DType::Bool: return 1;
    case DType::BF16: return 2;
    case DType::F16: return 2;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
  }
  return "?";
}

inline bool is_floating(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::BF16 || t == DType::F16;
}

struct Device {
  enum Type : uint8_t { CPU, CUDA } type = CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const { return type == CPU ? "cpu" : "cuda:" + std::to_string(index); }
  static Device cpu() { return {CPU, 0}; }
  static Device cuda(int i = 0) { return {CUDA, i}; }
  static Device parse(const std::string& s);  // "cpu", "cuda", "cuda:1"
};

// Error type for every user-facing failure (shape mismatch, bad file, bad option).
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename T>
struct TypeTag { using type = T; };

// Runs f(TypeTag<T>{}) with T the C++ type of a floating dtype (F32 -> float, F64 -> double):
//   dispatch_float(x.dtype(), "relu", [&](auto tag) { using T = typename decltype(tag)::type; ... });
// (A function, not a macro, so OpenMP pragmas inside the lambda work.)
template <typename F>
decltype(auto) dispatch_float(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::F32: return f(TypeTag<float>{});
    case DType::F64: return f(TypeTag<double>{});
    default:
      throw Error(std::string(op) + ": unsupported dtype " + dtype_name(dtype) +
                  " on this backend");
  }
}

}  // namespace vt
