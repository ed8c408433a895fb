// npz.cpp — the .npz reader: zip central directory, stored/deflated members, .npy headers
// (see npz.h). Zip layout (PKWARE APPNOTE), all little-endian:
//
//   [local header 30 B + name + extra][member data] ...   one per member
//   [central directory header 46 B + name + extra + comment] ...
//   [end of central directory 22 B + comment]             found by scanning back from the end
//
// numpy writes each member's local header with a zip64 extra field (force_zip64), but the
// central directory carries plain 32-bit sizes, so the local header is only used to find where
// the data starts (its name must agree with the directory's).
#include "engine/io/npz.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

namespace vt {

namespace {

uint16_t rd16(const uint8_t* p) { return (uint16_t)(p[0] | p[1] << 8); }
uint32_t rd32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr size_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22;

float half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  int32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff, bits;
  if (exp == 31) {
    bits = sign | 0x7f800000 | (man << 13);  // inf / nan
  } else if (exp == 0 && man == 0) {
    bits = sign;
  } else {
    if (exp == 0) {  // subnormal: shift the mantissa up until its leading bit is the implicit one
      exp = 1;
      while (!(man & 0x400)) man <<= 1, --exp;
      man &= 0x3ff;
    }
    bits = sign | (uint32_t)(exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// ---- .npy ----
// Header: "\x93NUMPY", version major/minor, header length (u16 for 1.x, u32 for 2.x/3.x), then a
// Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
struct NpyHeader {
  std::string descr;
  bool fortran = false;
  Shape shape;
};

class NpyDictParser {
 public:
  NpyDictParser(const std::string& text, const std::string& where) : s_(text), where_(where) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (!eat('}')) {
      const std::string key = str();
      expect(':');
      bool* seen = key == "descr" ? &seen_descr : key == "fortran_order" ? &seen_order
                 : key == "shape" ? &seen_shape : nullptr;
      if (!seen) fail("unknown key '" + key + "'");
      if (*seen) fail("duplicate key '" + key + "'");
      *seen = true;
      if (key == "descr") h.descr = str();
      else if (key == "fortran_order") h.fortran = boolean();
      else h.shape = tuple();
      if (!eat(',')) {
        expect('}');
        break;
      }
    }
    skip_space();
    if (i_ != s_.size()) fail("text after the dict");
    if (!seen_descr || !seen_order || !seen_shape) fail("needs descr, fortran_order and shape");
    return h;
  }

 private:
  const std::string& s_;
  const std::string& where_;
  size_t i_ = 0;

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(where_ + ": bad .npy header (" + why + "): " + s_);
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  std::string str() {
    skip_space();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) fail("expected a quoted string");
    const char quote = s_[i_++];
    const size_t end = s_.find(quote, i_);
    if (end == std::string::npos) fail("unterminated string");
    std::string r = s_.substr(i_, end - i_);
    i_ = end + 1;
    return r;
  }
  bool boolean() {
    skip_space();
    if (s_.compare(i_, 4, "True") == 0) return i_ += 4, true;
    if (s_.compare(i_, 5, "False") == 0) return i_ += 5, false;
    fail("expected True or False");
  }
  Shape tuple() {  // "()", "(5,)", "(2, 3)"
    expect('(');
    Shape shape;
    while (!eat(')')) {
      skip_space();
      const size_t start = i_;
      int64_t v = 0;
      for (; i_ < s_.size() && std::isdigit((unsigned char)s_[i_]); ++i_) {
        if (v > (INT64_MAX - 9) / 10) fail("dimension too large");
        v = v * 10 + (s_[i_] - '0');
      }
      if (i_ == start) fail("expected a dimension");
      shape.push_back(v);
      if (!eat(',')) {
        expect(')');
        break;
      }
    }
    return shape;
  }
};

struct NpyType {
  const char* descr;
  DType stored;  // the element type in the file
  DType loaded;  // the tensor's type (F16 is widened to F32: CPU kernels do not take F16)
};
constexpr NpyType kNpyTypes[] = {
    {"<f4", DType::F32, DType::F32}, {"<f8", DType::F64, DType::F64}, {"<f2", DType::F16, DType::F32},
    {"<i4", DType::I32, DType::I32}, {"<i8", DType::I64, DType::I64}, {"|u1", DType::U8, DType::U8},
    {"|b1", DType::Bool, DType::Bool}};

// ---- zip ----
struct Mapping {
  void* ptr = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (ptr != MAP_FAILED) munmap(ptr, size);
  }
};

// Inflates a raw deflate stream (no zlib header: windowBits -15) of exactly `usize` bytes.
std::vector<uint8_t> inflate_member(const uint8_t* src, size_t csize, size_t usize,
                                    const std::string& where) {
  std::vector<uint8_t> out(usize + 1);  // +1: zlib wants a non-null output pointer
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) throw Error(where + ": zlib inflateInit2 failed");
  zs.next_in = const_cast<Bytef*>(src);
  zs.avail_in = (uInt)csize;
  zs.next_out = out.data();
  zs.avail_out = (uInt)usize;
  const int rc = inflate(&zs, Z_FINISH);
  const std::string msg = zs.msg ? zs.msg : "";
  const uLong produced = zs.total_out;
  const uInt left_in = zs.avail_in;
  inflateEnd(&zs);
  if (rc == Z_DATA_ERROR) throw Error(where + ": corrupt deflate data (" + msg + ")");
  if (rc != Z_STREAM_END || produced != usize || left_in != 0)
    throw Error(where + ": deflate data does not match the directory (" + std::to_string(produced) +
                " bytes inflated, " + std::to_string(usize) + " expected)");
  out.resize(usize);
  return out;
}

}  // namespace

Tensor parse_npy(const uint8_t* data, size_t size, const std::string& where) {
  if (size < 10 || std::memcmp(data, "\x93NUMPY", 6) != 0) throw Error(where + ": not a .npy array (bad magic)");
  const int major = data[6];
  size_t start = 0, hlen = 0;
  if (major == 1) {
    start = 10, hlen = rd16(data + 8);
  } else if (major == 2 || major == 3) {
    if (size < 12) throw Error(where + ": truncated .npy header");
    start = 12, hlen = rd32(data + 8);
  } else {
    throw Error(where + ": unsupported .npy version " + std::to_string(major));
  }
  if (hlen > size - start)
    throw Error(where + ": .npy header of " + std::to_string(hlen) + " bytes overruns the " +
                std::to_string(size) + "-byte member");
  const NpyHeader h = NpyDictParser(std::string((const char*)data + start, hlen), where).parse();
  if (h.fortran)
    throw Error(where + ": fortran_order arrays are not supported (save with np.ascontiguousarray)");
  const NpyType* type = nullptr;
  for (const auto& t : kNpyTypes)
    if (h.descr == t.descr) type = &t;
  if (!type) throw Error(where + ": unsupported dtype '" + h.descr + "' (want <f4, <f8, <f2, <i4, <i8, |u1 or |b1)");

  const size_t payload = size - start - hlen;
  const size_t item = dtype_size(type->stored);
  __int128 want = item;
  for (int64_t d : h.shape) want *= d;
  if ((__int128)payload != want)
    throw Error(where + ": " + std::to_string(payload) + " data bytes, but shape " + shape_str(h.shape) +
                " of '" + h.descr + "' needs " + (want > (__int128)SIZE_MAX ? "more" : std::to_string((size_t)want)));
  const uint8_t* p = data + start + hlen;
  Tensor t = Tensor::empty(h.shape, type->loaded);
  if (type->stored == DType::F16) {
    float* q = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) q[i] = half_to_float(rd16(p + 2 * i));
  } else if (payload) {
    std::memcpy(t.raw(), p, payload);
  }
  return t;
}

std::map<std::string, Tensor> parse_npz(const uint8_t* data, size_t size, const std::string& name) {
  if (size < kEndSize) throw Error(name + ": not a zip archive (" + std::to_string(size) + " bytes)");
  // The end record sits 22 bytes + its comment (at most 65535 bytes) before the end of the file.
  size_t end = size - kEndSize;
  bool found = false;
  for (size_t back = 0; back <= 0xffff && back <= size - kEndSize; ++back) {
    end = size - kEndSize - back;
    if (rd32(data + end) == kEndSig && rd16(data + end + 20) == back) {
      found = true;
      break;
    }
  }
  if (!found) throw Error(name + ": truncated or not a zip archive (no end of central directory record)");
  const uint16_t disk = rd16(data + end + 4), cd_disk = rd16(data + end + 6);
  const uint16_t n_here = rd16(data + end + 8), n_total = rd16(data + end + 10);
  const uint32_t cd_size = rd32(data + end + 12), cd_off = rd32(data + end + 16);
  if (n_total == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu)
    throw Error(name + ": zip64 archives (over 4 GiB or 65535 members) are not supported");
  if (disk != 0 || cd_disk != 0 || n_here != n_total)
    throw Error(name + ": multi-disk zip archives are not supported");
  if ((uint64_t)cd_off + cd_size > end)
    throw Error(name + ": central directory [" + std::to_string(cd_off) + ", +" + std::to_string(cd_size) +
                ") runs past its end record at " + std::to_string(end) + " (truncated or corrupt)");

  std::map<std::string, Tensor> out;
  size_t p = cd_off;
  const size_t cd_end = (size_t)cd_off + cd_size;
  for (uint32_t e = 0; e < n_total; ++e) {
    const std::string entry = name + ": central directory entry " + std::to_string(e);
    if (p + kCentralSize > cd_end || rd32(data + p) != kCentralSig)
      throw Error(entry + ": bad or truncated header");
    const uint16_t flags = rd16(data + p + 8), method = rd16(data + p + 10);
    const uint32_t crc = rd32(data + p + 16), csize = rd32(data + p + 20), usize = rd32(data + p + 24);
    const uint16_t nlen = rd16(data + p + 28), xlen = rd16(data + p + 30), clen = rd16(data + p + 32);
    const uint32_t local = rd32(data + p + 42);
    if (p + kCentralSize + nlen + xlen + clen > cd_end) throw Error(entry + ": name runs past the directory");
    const std::string member((const char*)data + p + kCentralSize, nlen);
    p += kCentralSize + nlen + xlen + clen;

    const std::string where = name + ": member '" + member + "'";
    if (csize == 0xffffffffu || usize == 0xffffffffu || local == 0xffffffffu)
      throw Error(where + ": zip64 members (over 4 GiB) are not supported");
    if (flags & 1) throw Error(where + ": encrypted members are not supported");
    if (member.size() < 4 || member.compare(member.size() - 4, 4, ".npy") != 0)
      throw Error(where + ": not a .npy member");
    const std::string key = member.substr(0, member.size() - 4);
    if (out.count(key)) throw Error(where + ": duplicate member");

    // The local header: only where the data starts (names must agree); sizes come from above.
    if ((uint64_t)local + kLocalSize > cd_off || rd32(data + local) != kLocalSig)
      throw Error(where + ": bad local header at offset " + std::to_string(local));
    const uint16_t lnlen = rd16(data + local + 26), lxlen = rd16(data + local + 28);
    const uint64_t begin = (uint64_t)local + kLocalSize + lnlen + lxlen;
    if (begin + csize > cd_off)
      throw Error(where + ": data [" + std::to_string(begin) + ", +" + std::to_string(csize) +
                  ") runs past the start of the central directory (truncated or corrupt)");
    if (lnlen != nlen || std::memcmp(data + local + kLocalSize, member.data(), nlen) != 0)
      throw Error(where + ": local header names another member");

    std::vector<uint8_t> inflated;
    const uint8_t* bytes = data + begin;
    if (method == 8) {
      // Deflate expands at most 1032:1: a member claiming more than that is refused before
      // its buffer is allocated (a 27-byte entry cannot hold 3 GB).
      if ((uint64_t)usize > (uint64_t)csize * 1032 + 1024)
        throw Error(where + ": claims " + std::to_string(usize) + " bytes from " + std::to_string(csize) +
                    " compressed (deflate expands at most 1032 times: corrupt)");
      inflated = inflate_member(bytes, csize, usize, where);
      bytes = inflated.data();
    } else if (method != 0) {
      throw Error(where + ": unsupported compression method " + std::to_string(method) +
                  " (stored and deflate only)");
    } else if (csize != usize) {
      throw Error(where + ": stored member with compressed size " + std::to_string(csize) +
                  " != size " + std::to_string(usize));
    }
    if ((uint32_t)crc32(0L, bytes, (uInt)usize) != crc) throw Error(where + ": CRC-32 mismatch (corrupt data)");
    out[key] = parse_npy(bytes, usize, where);
  }
  return out;
}

std::map<std::string, Tensor> load_npz(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st{};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(path + ": cannot stat");
  }
  Mapping m;
  m.size = (size_t)st.st_size;
  if (m.size > 0) m.ptr = mmap(nullptr, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m.size > 0 && m.ptr == MAP_FAILED) throw Error(path + ": cannot map: " + std::strerror(errno));
  static const uint8_t empty = 0;
  return parse_npz(m.size ? (const uint8_t*)m.ptr : &empty, m.size, path);  // tensors are copies
}

bool is_zip_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, 4)) return false;
  return std::memcmp(magic, "PK\x03\x04", 4) == 0 || std::memcmp(magic, "PK\x05\x06", 4) == 0;
}

}  // namespace vt
