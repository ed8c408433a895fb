// visualize.cpp — colour maps for class and depth maps, panels, and atomic PNG writers.
// stb_image_write is compiled here with STB_IMAGE_WRITE_STATIC so its functions stay private
// to this file (a test may compile its own copy).
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"        // the stb functions not used here
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_image_write.h>
#pragma GCC diagnostic pop
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "tasks/dense/dense_data.h"
#include "tasks/dense/visualize.h"

namespace vt::data {

namespace fs = std::filesystem;

namespace {

// The Pascal VOC colour of index k: bits of k spread over the high bits of R, G and B.
void voc_colour(int64_t k, float rgb[3]) {
  int r = 0, g = 0, b = 0;
  for (int j = 0; j < 8; ++j) {
    r |= ((k >> 0) & 1) << (7 - j);
    g |= ((k >> 1) & 1) << (7 - j);
    b |= ((k >> 2) & 1) << (7 - j);
    k >>= 3;
  }
  rgb[0] = r / 255.0f, rgb[1] = g / 255.0f, rgb[2] = b / 255.0f;
}

// A temporary name next to `path`, unique per process and call.
std::string temp_name(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp" + std::to_string(getpid()) + "_" + std::to_string(counter++);
}

void commit(const std::string& tmp, const std::string& path) {
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error("write_png: cannot rename the temporary file to " + path);
  }
}

// (1, H, W) -> (3, H, W); checks an image for the writers and hconcat.
Tensor as_rgb(const char* op, const Tensor& img) {
  if (!img.defined() || img.dim() != 3 || (img.size(0) != 1 && img.size(0) != 3) ||
      !is_floating(img.dtype()))
    throw Error(std::string(op) + ": expected a (3, H, W) or (1, H, W) float image, got " +
                (img.defined() ? std::string(dtype_name(img.dtype())) + " " + shape_str(img.shape())
                               : std::string("an undefined tensor")));
  Tensor x = img.to(DType::F32).contiguous();
  if (x.size(0) == 3) return x;
  return x.expand({3, x.size(1), x.size(2)}).contiguous();
}

void put_u32(std::string& s, uint32_t v) {
  for (int k = 3; k >= 0; --k) s.push_back((char)((v >> (8 * k)) & 0xFF));
}

// One PNG chunk: length, type, data, CRC-32 of type + data.
void put_chunk(std::string& out, const char* type, const std::string& data) {
  put_u32(out, (uint32_t)data.size());
  std::string body = std::string(type, 4) + data;
  out += body;
  put_u32(out, (uint32_t)crc32(0L, (const Bytef*)body.data(), (uInt)body.size()));
}

}  // namespace

// (H, W) I64 -> (3, H, W) F32
Tensor colorize_labels(const Tensor& labels, int64_t num_classes) {
  if (!labels.defined() || labels.dim() != 2 || labels.dtype() != DType::I64)
    throw Error("colorize_labels: expected (H, W) I64 labels, got " +
                (labels.defined() ? std::string(dtype_name(labels.dtype())) + " " +
                                        shape_str(labels.shape())
                                  : std::string("an undefined tensor")));
  if (num_classes < 1 || num_classes > 255)
    throw Error("colorize_labels: num_classes must be in [1, 255], got " + std::to_string(num_classes));
  const Tensor l = labels.contiguous();
  const int64_t H = l.size(0), W = l.size(1), plane = H * W;
  Tensor out = Tensor::zeros({3, H, W});
  float* o = out.data<float>();
  const int64_t* v = l.data<int64_t>();
  for (int64_t p = 0; p < plane; ++p) {
    if (v[p] == kIgnoreLabel) continue;  // black
    if (v[p] < 0 || v[p] >= num_classes)
      throw Error("colorize_labels: label " + std::to_string(v[p]) + " out of range [0, " +
                  std::to_string(num_classes) + ") and not 255");
    float rgb[3];
    voc_colour(v[p] + 1, rgb);
    for (int c = 0; c < 3; ++c) o[c * plane + p] = rgb[c];
  }
  return out;
}

// (H, W) or (1, H, W) F32 -> (3, H, W) F32
Tensor colorize_depth(const Tensor& depth, double min_depth, double max_depth) {
  if (!depth.defined() || !is_floating(depth.dtype()) ||
      !(depth.dim() == 2 || (depth.dim() == 3 && depth.size(0) == 1)))
    throw Error("colorize_depth: expected (H, W) or (1, H, W) float depth, got " +
                (depth.defined() ? std::string(dtype_name(depth.dtype())) + " " +
                                       shape_str(depth.shape())
                                 : std::string("an undefined tensor")));
  if (!(max_depth > min_depth))
    throw Error("colorize_depth: need min_depth < max_depth, got " + std::to_string(min_depth) +
                " and " + std::to_string(max_depth));
  // Turbo at t = 0, 0.1, ..., 1 (t = 1: nearest).
  static const float knots[11][3] = {{48, 18, 59},   {70, 107, 227}, {62, 156, 254},
                                     {24, 214, 203}, {70, 247, 131}, {164, 252, 60},
                                     {225, 221, 55}, {254, 174, 45}, {244, 105, 27},
                                     {203, 42, 4},   {122, 4, 3}};
  const Tensor d = depth.to(DType::F32).contiguous();
  const int64_t H = d.size(-2), W = d.size(-1), plane = H * W;
  Tensor out = Tensor::zeros({3, H, W});
  float* o = out.data<float>();
  const float* v = d.data<float>();
  for (int64_t p = 0; p < plane; ++p) {
    if (!(v[p] != 0.0f) || !std::isfinite(v[p])) continue;  // no measurement: black
    const double t = std::clamp((max_depth - v[p]) / (max_depth - min_depth), 0.0, 1.0) * 10.0;
    const int k = std::min((int)t, 9);
    const double f = t - k;
    for (int c = 0; c < 3; ++c)
      o[c * plane + p] = (float)(((1 - f) * knots[k][c] + f * knots[k + 1][c]) / 255.0);
  }
  return out;
}

// (3, H, W) -> PNG
void write_png(const std::string& path, const Tensor& rgb) {
  const Tensor x = as_rgb("write_png", rgb);
  const int64_t H = x.size(1), W = x.size(2), plane = H * W;
  if (H < 1 || W < 1) throw Error("write_png: empty image " + shape_str(x.shape()) + " for " + path);
  std::vector<uint8_t> px((size_t)(plane * 3));  // (H, W, 3)
  const float* s = x.data<float>();
  for (int64_t p = 0; p < plane; ++p)
    for (int c = 0; c < 3; ++c) {
      const float v = std::isfinite(s[c * plane + p]) ? std::clamp(s[c * plane + p], 0.0f, 1.0f) : 0.0f;
      px[p * 3 + c] = (uint8_t)std::lround(v * 255.0f);
    }
  const std::string tmp = temp_name(path);
  if (!stbi_write_png(tmp.c_str(), (int)W, (int)H, 3, px.data(), (int)(W * 3))) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw Error("write_png: cannot write " + path);
  }
  commit(tmp, path);
}

// [(3, H, W_k)] -> (3, H, sum W_k + 2 (K - 1))
Tensor hconcat_images(const std::vector<Tensor>& images) {
  if (images.empty()) throw Error("hconcat_images: no images");
  std::vector<Tensor> rgb;
  int64_t W = 0;
  for (const Tensor& t : images) {
    rgb.push_back(as_rgb("hconcat_images", t));
    if (rgb.back().size(1) != rgb[0].size(1))
      throw Error("hconcat_images: images of different heights, " + shape_str(rgb[0].shape()) +
                  " and " + shape_str(rgb.back().shape()));
    W += rgb.back().size(2);
  }
  constexpr int64_t kGap = 2;
  W += kGap * (int64_t)(rgb.size() - 1);
  const int64_t H = rgb[0].size(1);
  Tensor out = Tensor::ones({3, H, W});  // the gaps stay white
  float* o = out.data<float>();
  int64_t x0 = 0;
  for (const Tensor& t : rgb) {
    const int64_t w = t.size(2);
    const float* s = t.data<float>();
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < H; ++y)
        std::copy(s + (c * H + y) * w, s + (c * H + y + 1) * w, o + (c * H + y) * W + x0);
    x0 += w + kGap;
  }
  return out;
}

void write_png16(const std::string& path, const std::vector<uint16_t>& pixels, int64_t h,
                 int64_t w) {
  if (h < 1 || w < 1 || h > (1 << 24) || w > (1 << 24) || (int64_t)pixels.size() != h * w)
    throw Error("write_png16: " + std::to_string(pixels.size()) + " pixels for a " +
                std::to_string(h) + "x" + std::to_string(w) + " image " + path);
  // Raw scanlines: filter byte 0 (none), then big-endian 16-bit samples.
  std::string raw;
  raw.reserve((size_t)(h * (1 + 2 * w)));
  for (int64_t y = 0; y < h; ++y) {
    raw.push_back(0);
    for (int64_t x = 0; x < w; ++x) {
      const uint16_t v = pixels[y * w + x];
      raw.push_back((char)(v >> 8));
      raw.push_back((char)(v & 0xFF));
    }
  }
  uLongf zlen = compressBound((uLong)raw.size());
  std::string z(zlen, '\0');
  if (compress((Bytef*)z.data(), &zlen, (const Bytef*)raw.data(), (uLong)raw.size()) != Z_OK)
    throw Error("write_png16: zlib compress failed for " + path);
  z.resize(zlen);
  std::string ihdr;
  put_u32(ihdr, (uint32_t)w);
  put_u32(ihdr, (uint32_t)h);
  ihdr += std::string("\x10\x00\x00\x00\x00", 5);  // 16 bits, grey, deflate, filter 0, no interlace
  std::string png = "\x89PNG\r\n\x1a\n";
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", z);
  put_chunk(png, "IEND", "");
  const std::string tmp = temp_name(path);
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(png.data(), (std::streamsize)png.size());
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error("write_png16: cannot write " + path);
    }
  }
  commit(tmp, path);
}

}  // namespace vt::data
