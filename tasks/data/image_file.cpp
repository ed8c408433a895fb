// image_file.cpp — image files checked, then decoded with stb_image (see image_file.h).
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STBI_MAX_DIMENSIONS 8192
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"  // inside stb_image (third party)
#include <stb_image.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "tasks/data/image_file.h"
#include "engine/dtype.h"

namespace vt::data {

namespace {

int64_t g_max_pixels = int64_t(1) << 25;
constexpr int64_t kMaxFileBytes = int64_t(1) << 30;

using Bytes = std::string;

std::string hex(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", v);
  return buf;
}

uint32_t be32(const Bytes& b, size_t at) {
  return (uint32_t)(uint8_t)b[at] << 24 | (uint32_t)(uint8_t)b[at + 1] << 16 |
         (uint32_t)(uint8_t)b[at + 2] << 8 | (uint32_t)(uint8_t)b[at + 3];
}
uint32_t le(const Bytes& b, size_t at, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | (uint8_t)b[at + i];
  return v;
}

// PNG: 8-byte signature, then (length, type, data, CRC) chunks up to IEND.
std::string check_png(const Bytes& b) {
  size_t pos = 8;
  while (pos + 12 <= b.size()) {
    const uint64_t len = be32(b, pos);
    const std::string type = b.substr(pos + 4, 4);
    if (len > b.size() - pos - 12)
      return "PNG chunk '" + type + "' at offset " + std::to_string(pos) + " claims " + std::to_string(len) +
             " bytes, past the end of the file (" + std::to_string(b.size()) + " bytes)";
    if (type == "IEND") return "";
    pos += 12 + len;
  }
  return "truncated PNG (no IEND chunk in " + std::to_string(b.size()) + " bytes)";
}

// JPEG: markers from SOI to EOI; segment lengths inside the file; DHT tables of <= 256 codes;
// every Huffman and quantisation table a scan uses defined before it (stb_image decodes with
// whatever its uninitialised table holds, and reads out of bounds: tests/fuzz/regressions/image);
// after a scan (SOS), the entropy-coded data up to the next marker.
std::string check_jpeg(const Bytes& b) {
  const size_t n = b.size();
  size_t pos = 2;  // after SOI
  bool huffman[2][4] = {}, quant[4] = {};  // defined so far: [DC/AC][id], [id]
  uint8_t frame_quant[256] = {};          // the frame's component id -> 1 + its quantisation table id
  while (pos < n) {
    if ((uint8_t)b[pos] != 0xFF) return "JPEG: no marker at offset " + std::to_string(pos) + " (" + hex((uint8_t)b[pos]) + ")";
    while (pos < n && (uint8_t)b[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) break;
    const uint8_t m = (uint8_t)b[pos++];
    if (m == 0xD9) return "";                                   // EOI
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // no length
    if (pos + 2 > n) break;
    const size_t len = (uint8_t)b[pos] << 8 | (uint8_t)b[pos + 1];
    if (len < 2 || pos + len > n)
      return "JPEG segment 0xFF" + std::to_string(m) + " at offset " + std::to_string(pos - 2) + " claims " +
             std::to_string(len) + " bytes, past the end of the file";
    const size_t end = pos + len;
    if (m == 0xC4) {  // DHT: (class/id, 16 counts, the symbols) tables
      for (size_t q = pos + 2; q < end;) {
        if (q + 17 > end) return "JPEG Huffman table cut short at offset " + std::to_string(q);
        const unsigned cls = (uint8_t)b[q] >> 4, id = (uint8_t)b[q] & 15;
        if (cls > 1 || id > 3) return "JPEG Huffman table at offset " + std::to_string(q) + " has class/id " + hex((uint8_t)b[q]);
        huffman[cls][id] = true;
        int codes = 0;
        for (int i = 1; i <= 16; ++i) codes += (uint8_t)b[q + i];
        if (codes > 256)
          return "JPEG Huffman table at offset " + std::to_string(q) + " declares " + std::to_string(codes) +
                 " codes (at most 256)";
        q += 17 + codes;
        if (q > end) return "JPEG Huffman table at offset " + std::to_string(pos) + " overruns its segment";
      }
    }
    if (m == 0xDB)  // DQT: (precision/id, 64 or 128 bytes) tables
      for (size_t q = pos + 2; q < end;) {
        const unsigned precision = (uint8_t)b[q] >> 4, id = (uint8_t)b[q] & 15;
        if (precision > 1 || id > 3) return "JPEG quantisation table at offset " + std::to_string(q) + " has precision/id " + hex((uint8_t)b[q]);
        quant[id] = true;
        q += 1 + 64 * (precision + 1);
        if (q > end) return "JPEG quantisation table at offset " + std::to_string(pos) + " overruns its segment";
      }
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {  // SOFn: (id, sampling, table) per component
      if (len < 8) return "JPEG frame header at offset " + std::to_string(pos - 2) + " is too short";
      const size_t comps = (uint8_t)b[pos + 7];
      if (len < 8 + 3 * comps) return "JPEG frame header at offset " + std::to_string(pos - 2) + " is cut short";
      std::fill(frame_quant, frame_quant + 256, 0);
      for (size_t c = 0; c < comps; ++c) frame_quant[(uint8_t)b[pos + 8 + 3 * c]] = 1 + (uint8_t)b[pos + 10 + 3 * c];
    }
    if (m == 0xDA) {  // SOS: (id, DC/AC table ids) per component, then Ss, Se, Ah/Al
      const size_t comps = len >= 3 ? (uint8_t)b[pos + 2] : 0;
      if (len < 6 + 2 * comps) return "JPEG scan header at offset " + std::to_string(pos - 2) + " is cut short";
      const unsigned ss = (uint8_t)b[pos + 3 + 2 * comps], se = (uint8_t)b[pos + 4 + 2 * comps];
      for (size_t c = 0; c < comps; ++c) {
        const unsigned tq = frame_quant[(uint8_t)b[pos + 3 + 2 * c]];
        if (tq == 0 || tq > 4 || !quant[tq - 1])
          return "JPEG scan at offset " + std::to_string(pos - 2) + ": component " + std::to_string((uint8_t)b[pos + 3 + 2 * c]) +
                 (tq == 0 ? " is not in the frame" : " has no quantisation table defined before it");
        const unsigned dc = (uint8_t)b[pos + 4 + 2 * c] >> 4, ac = (uint8_t)b[pos + 4 + 2 * c] & 15;
        if ((ss == 0 && (dc > 3 || !huffman[0][dc])) || (se > 0 && (ac > 3 || !huffman[1][ac])))
          return "JPEG scan at offset " + std::to_string(pos - 2) + " uses a Huffman table (DC " + std::to_string(dc) +
                 ", AC " + std::to_string(ac) + ") that was not defined before it";
      }
    }
    pos = end;
    if (m == 0xDA) {  // scan data: up to a marker that is not a stuffed 0xFF00 or a restart
      while (pos + 1 < n && !((uint8_t)b[pos] == 0xFF && (uint8_t)b[pos + 1] != 0x00 &&
                              !((uint8_t)b[pos + 1] >= 0xD0 && (uint8_t)b[pos + 1] <= 0xD7)))
        ++pos;
      if (pos + 1 >= n) break;
    }
  }
  return "truncated JPEG (no end-of-image marker in " + std::to_string(n) + " bytes)";
}

// BMP: file header (14 bytes), then a DIB header (BITMAPCOREHEADER 12 bytes, or 40+).
std::string check_bmp(const Bytes& b) {
  if (b.size() < 26) return "truncated BMP header";
  const uint32_t offset = le(b, 10, 4), dib = le(b, 14, 4);
  int64_t w, h, bpp, compression = 0;
  if (dib == 12) {
    w = le(b, 18, 2), h = le(b, 20, 2), bpp = le(b, 24, 2);
  } else {
    if (b.size() < 34) return "truncated BMP header";
    w = (int32_t)le(b, 18, 4), h = (int32_t)le(b, 22, 4), bpp = le(b, 28, 2), compression = le(b, 30, 4);
  }
  if (compression != 0 && compression != 3) return "BMP compression " + std::to_string(compression) + " is not supported";
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
    return "BMP with " + std::to_string(bpp) + " bits a pixel";
  w = w < 0 ? -w : w, h = h < 0 ? -h : h;
  if (w > 8192 || h > 8192) return "BMP of " + std::to_string(w) + "x" + std::to_string(h) + " px (at most 8192 a side)";
  const int64_t row = (bpp * w + 31) / 32 * 4;
  if ((int64_t)offset + row * h > (int64_t)b.size())
    return "truncated BMP: " + std::to_string(w) + "x" + std::to_string(h) + " px at " + std::to_string(bpp) +
           " bits need " + std::to_string(offset + row * h) + " bytes, the file has " + std::to_string(b.size());
  return "";
}

// Binary PPM (P6) / PGM (P5): magic, width, height, maxval (with # comments), one whitespace,
// then the pixels.
std::string check_pnm(const Bytes& b) {
  size_t pos = 2;
  int64_t v[3] = {0, 0, 0};
  for (int64_t& x : v) {
    for (;;) {  // whitespace and comments
      while (pos < b.size() && std::isspace((unsigned char)b[pos])) ++pos;
      if (pos < b.size() && b[pos] == '#') {
        while (pos < b.size() && b[pos] != '\n' && b[pos] != '\r') ++pos;
        continue;
      }
      break;
    }
    if (pos >= b.size() || !std::isdigit((unsigned char)b[pos])) return "PNM header: a number expected at offset " + std::to_string(pos);
    while (pos < b.size() && std::isdigit((unsigned char)b[pos]) && x <= 1 << 20) x = x * 10 + (b[pos++] - '0');
  }
  ++pos;  // the single whitespace before the pixels
  // 16-bit PNM: Debian's stb_image converts it to 8 bits with its 8-bit routine, reading past
  // the buffer (found by tests/fuzz/fuzz_image.cpp). Depth maps come as 16-bit PNG.
  if (v[2] < 1 || v[2] > 255) return "PNM maxval " + std::to_string(v[2]) + " (only 8-bit PPM/PGM, maxval 1..255, is read)";
  if (v[0] > 8192 || v[1] > 8192) return "PNM of " + std::to_string(v[0]) + "x" + std::to_string(v[1]) + " px (at most 8192 a side)";
  const int64_t need = v[0] * v[1] * (b[1] == '6' ? 3 : 1);
  if ((int64_t)pos + need > (int64_t)b.size())
    return "truncated PNM: " + std::to_string(v[0]) + "x" + std::to_string(v[1]) + " px need " + std::to_string(need) +
           " bytes of pixels, the file has " + std::to_string((int64_t)b.size() - std::min<int64_t>(pos, b.size()));
  return "";
}

// The file's bytes, checked; `info` from its header.
Bytes read_checked(const std::string& path, ImageInfo& info) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error("cannot open the file");
  const int64_t size = (int64_t)in.tellg();
  if (size < 0 || size > kMaxFileBytes) throw Error("the file is over 1 GB");
  Bytes b((size_t)size, '\0');
  in.seekg(0);
  if (!in.read(b.data(), size)) throw Error("cannot read the file");
  auto starts = [&](const char* sig, size_t len) { return b.size() >= len && std::memcmp(b.data(), sig, len) == 0; };
  std::string why;
  if (starts("\x89PNG\r\n\x1a\n", 8)) why = check_png(b);
  else if (starts("\xFF\xD8\xFF", 3)) why = check_jpeg(b);
  else if (starts("BM", 2)) why = check_bmp(b);
  else if (starts("P5", 2) || starts("P6", 2)) why = check_pnm(b);
  else throw Error("not a PNG, JPEG, BMP or binary PPM/PGM file");
  if (!why.empty()) throw Error(why);
  const auto* p = reinterpret_cast<const stbi_uc*>(b.data());
  if (!stbi_info_from_memory(p, (int)b.size(), &info.width, &info.height, &info.channels))
    throw Error(stbi_failure_reason());
  info.is16 = stbi_is_16_bit_from_memory(p, (int)b.size());
  if ((int64_t)info.width * info.height > g_max_pixels)
    throw Error(std::to_string(info.width) + "x" + std::to_string(info.height) + " px is more than the " +
                std::to_string(g_max_pixels) + " pixels an image may have");
  return b;
}

}  // namespace

int64_t max_image_pixels() { return g_max_pixels; }
void set_max_image_pixels(int64_t n) { g_max_pixels = n; }

ImageInfo read_image_info(const std::string& path) {
  ImageInfo info;
  read_checked(path, info);
  return info;
}

std::vector<uint8_t> load_image_u8(const std::string& path, int channels, ImageInfo* info) {
  ImageInfo i;
  const Bytes b = read_checked(path, i);
  int w = 0, h = 0, c = 0;
  stbi_uc* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(b.data()), (int)b.size(), &w, &h, &c, channels);
  if (!px) throw Error(stbi_failure_reason());
  std::vector<uint8_t> out(px, px + (size_t)w * h * channels);
  stbi_image_free(px);
  i.width = w, i.height = h;
  if (info) *info = i;
  return out;
}

std::vector<uint16_t> load_image_u16(const std::string& path, ImageInfo* info) {
  ImageInfo i;
  const Bytes b = read_checked(path, i);
  int w = 0, h = 0, c = 0;
  stbi_us* px = stbi_load_16_from_memory(reinterpret_cast<const stbi_uc*>(b.data()), (int)b.size(), &w, &h, &c, 1);
  if (!px) throw Error(stbi_failure_reason());
  std::vector<uint16_t> out(px, px + (size_t)w * h);
  stbi_image_free(px);
  i.width = w, i.height = h;
  if (info) *info = i;
  return out;
}

}  // namespace vt::data
