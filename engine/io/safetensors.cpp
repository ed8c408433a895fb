// safetensors.cpp — validated safetensors reader (mmap) and atomic writer.
#include "engine/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

namespace vt {

namespace {

using json = nlohmann::json;

DType parse_dtype(const std::string& s, const std::string& where) {
  static const std::pair<const char*, DType> table[] = {
      {"F32", DType::F32}, {"F64", DType::F64}, {"I64", DType::I64}, {"I32", DType::I32},
      {"U8", DType::U8},   {"BOOL", DType::Bool}, {"BF16", DType::BF16}, {"F16", DType::F16}};
  for (auto& [n, t] : table)
    if (s == n) return t;
  throw Error(where + ": unsupported dtype '" + s + "'");
}

float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; man <<= 1; } while (!(man & 0x400));
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000 | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

struct Mapping {
  void* ptr = nullptr;
  size_t size = 0;
  ~Mapping() { if (ptr && size) munmap(ptr, size); }
};

}  // namespace

SafetensorsFile parse_safetensors(const std::shared_ptr<Storage>& bytes, const std::string& name) {
  const size_t fsize = bytes->nbytes;
  const auto* base = static_cast<const uint8_t*>(bytes->data);
  if (fsize < 8) throw Error(name + ": not a safetensors file (" + std::to_string(fsize) + " bytes, need at least 8)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];
  if (n > 100000000ull) throw Error(name + ": header size " + std::to_string(n) + " exceeds 100 MB");
  if (8 + n > fsize)
    throw Error(name + ": truncated: header says " + std::to_string(n) + " bytes but the file has " +
                std::to_string(fsize));
  json header;
  try {
    header = json::parse(base + 8, base + 8 + n);
  } catch (const json::exception& e) {
    throw Error(name + ": bad JSON header: " + e.what());
  }
  if (!header.is_object()) throw Error(name + ": header is not a JSON object");
  const uint64_t buf_size = fsize - 8 - n;
  const size_t data_start = 8 + n;

  SafetensorsFile out;
  struct Entry { std::string name; uint64_t begin, end; };
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    if (key == "__metadata__") {
      if (!it->is_object()) throw Error(name + ": __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) throw Error(name + ": __metadata__ value for '" + m.key() + "' is not a string");
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const std::string where = name + ": tensor '" + key + "'";
    const json& e = *it;
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      throw Error(where + ": entry needs dtype, shape and data_offsets");
    if (!e["dtype"].is_string()) throw Error(where + ": dtype is not a string");
    DType dt = parse_dtype(e["dtype"].get<std::string>(), where);
    Shape shape;
    if (!e["shape"].is_array()) throw Error(where + ": shape is not an array");
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned()) throw Error(where + ": shape has a non-integer or negative entry");
      shape.push_back(d.get<int64_t>());
    }
    const json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw Error(where + ": data_offsets must be two non-negative integers");
    uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
    if (b > en || en > buf_size)
      throw Error(where + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(en) +
                  ") outside the " + std::to_string(buf_size) + "-byte data buffer");
    __int128 expect = dtype_size(dt);
    for (int64_t d : shape) expect *= d;
    if ((__int128)(en - b) != expect)
      throw Error(where + ": " + std::to_string(en - b) + " bytes for shape " + shape_str(shape) +
                  " of " + dtype_name(dt));
    entries.push_back({key, b, en});
    const uint8_t* p = base + data_start + b;
    Tensor t;
    if (dt == DType::F16) {  // widened: no CPU kernel takes F16 (BF16 stays BF16, below)
      t = Tensor::empty(shape, DType::F32);
      float* q = t.data<float>();
      for (int64_t i = 0; i < t.numel(); ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        q[i] = half_to_float(h);
      }
    } else if (((uintptr_t)p) % dtype_size(dt) == 0) {
      auto st = std::make_shared<Storage>(const_cast<uint8_t*>(p), en - b, Device::cpu(),
                                          std::shared_ptr<void>(bytes, bytes->data));
      t = Tensor::make_view(st, shape, contiguous_strides(shape), 0, dt);
    } else {  // unaligned data: copy out
      t = Tensor::empty(shape, dt);
      if (en > b) std::memcpy(t.raw(), p, en - b);
    }
    out.tensors[key] = t;
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  for (const Entry& e : entries) {
    if (e.begin != pos)
      throw Error(name + ": tensor '" + e.name + "' data_offsets [" + std::to_string(e.begin) + ", " +
                  std::to_string(e.end) + ") " + (e.begin < pos ? "overlap" : "leave a hole before") +
                  " the previous tensor's data (which ends at " + std::to_string(pos) + ")");
    pos = e.end;
  }
  if (pos != buf_size)
    throw Error(name + ": data buffer has " + std::to_string(buf_size) + " bytes but tensors cover " +
                std::to_string(pos));
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    ::close(fd);
    throw Error(path + ": cannot stat");
  }
  auto map = std::make_shared<Mapping>();
  map->size = (size_t)sb.st_size;
  if (map->size) {
    map->ptr = mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map->ptr == MAP_FAILED) {
      map->ptr = nullptr;
      ::close(fd);
      throw Error(path + ": mmap failed");
    }
  }
  ::close(fd);
  static char empty_byte = 0;
  auto bytes = std::make_shared<Storage>(map->ptr ? map->ptr : &empty_byte, map->size,
                                         Device::cpu(), map);
  return parse_safetensors(bytes, path);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error(path + ": cannot write (" + std::strerror(errno) + ")");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(path + ": write failed (" + std::strerror(errno) + ")");
    }
    done += (size_t)w;
  }
  ::fsync(fd);
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw Error(path + ": rename failed (" + std::strerror(errno) + ")");
  }
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Header JSON written by hand so key order is stable and matches the reference layout.
  std::string header = "{";
  if (!metadata.empty()) header += "\"__metadata__\":" + json(metadata).dump() + ",";
  uint64_t pos = 0;
  std::vector<Tensor> host;
  for (const auto& [name, t] : tensors) {
    Tensor c = t.detach().to(Device::cpu()).contiguous();
    if (c.dtype() == DType::F16)
      throw Error(path + ": writing " + dtype_name(c.dtype()) + " tensors is not supported");
    std::string shp = "[";
    for (size_t i = 0; i < c.shape().size(); ++i) shp += (i ? "," : "") + std::to_string(c.shape()[i]);
    shp += "]";
    header += json(name).dump() + ":{\"dtype\":\"" + dtype_name(c.dtype()) + "\",\"shape\":" + shp +
              ",\"data_offsets\":[" + std::to_string(pos) + "," + std::to_string(pos + c.nbytes()) + "]},";
    pos += c.nbytes();
    host.push_back(c);
  }
  if (header.back() == ',') header.pop_back();
  header += "}";
  while ((8 + header.size()) % 8) header += ' ';
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = (char)((n >> (8 * i)) & 0xff);
  out += header;
  for (const Tensor& c : host) out.append(static_cast<const char*>(c.raw()), c.nbytes());
  write_file_atomic(path, out);
}

}  // namespace vt
