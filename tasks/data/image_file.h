// image_file.h — image files for the readers (image lists, ADE20K, NYU), decoded as untrusted
// input. stb_image decodes; before it sees the bytes, image_file.cpp checks them:
//   formats       PNG, JPEG, BMP and binary 8-bit PPM/PGM; anything else (GIF, TGA, PSD, ...) is
//                 refused by name rather than handed to a decoder nobody here uses
//   size          at most 8192 px a side and 2^25 px (32 megapixels) in all, read from the
//                 header before anything is allocated; files over 1 GB are refused
//   completeness  a PNG's chunks lie inside the file and it ends with IEND; a JPEG's segments
//                 lie inside it, its Huffman tables hold at most 256 codes (Debian's stb_image
//                 writes past its table otherwise: found by tests/fuzz/fuzz_image.cpp) and it
//                 ends with the end-of-image marker; a BMP or PPM holds every pixel its header
//                 claims. A truncated file is an error, never an image with a grey tail.
// Errors are vt::Error with the reason only; callers add the file and their context.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vt::data {

struct ImageInfo {
  int width = 0, height = 0, channels = 0;  // channels in the file
  bool is16 = false;                        // 16 bits a channel (PNG)
};

// The pixel bound (2^25 by default); lowered by programs that decode untrusted files with
// little time or memory to spare (the fuzz targets, tests/fuzz/).
int64_t max_image_pixels();
void set_max_image_pixels(int64_t n);

// The header of an image file (after the checks above).
ImageInfo read_image_info(const std::string& path);
// Decoded to `channels` 8-bit channels (1 or 3), row-major (H, W, channels).
std::vector<uint8_t> load_image_u8(const std::string& path, int channels, ImageInfo* info);
// A 16-bit single-channel image (depth maps), row-major (H, W).
std::vector<uint16_t> load_image_u16(const std::string& path, ImageInfo* info);

}  // namespace vt::data
