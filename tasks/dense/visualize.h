// visualize.h — pictures of dense predictions (--save-predictions): class maps and depth maps
// in colour, side-by-side panels, and PNG writers (8-bit RGB and 16-bit grey for raw depth).
// Both writers are atomic: they write a temporary file next to `path` and rename it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace vt::data {

// labels (H, W) I64 in [0, num_classes) or 255 -> (3, H, W) F32 in [0, 1]: a fixed palette
// (class k gets the Pascal VOC bit-interleaved colour of k + 1, distinct for 255 classes),
// 255 (ignore) -> black. Other values throw.
Tensor colorize_labels(const Tensor& labels, int64_t num_classes);

// depth (H, W) or (1, H, W) F32 metres -> (3, H, W) F32: a turbo-like ramp from dark blue
// (max_depth and beyond) to dark red (min_depth and nearer); 0 or non-finite (no measurement)
// -> black.
Tensor colorize_depth(const Tensor& depth, double min_depth, double max_depth);

// (3, H, W) (or (1, H, W)) F32 in [0, 1] (clamped) -> an 8-bit RGB PNG.
void write_png(const std::string& path, const Tensor& rgb);

// Images (3, H, W) / (1, H, W) of one height, side by side with a 2-pixel white gap -> (3, H, W').
Tensor hconcat_images(const std::vector<Tensor>& images);

// h x w 16-bit grey PNG (e.g. depth in millimetres), pixels row-major. stb cannot write 16
// bits, so the chunks are written here with zlib (compress, crc32).
void write_png16(const std::string& path, const std::vector<uint16_t>& pixels, int64_t h,
                 int64_t w);

}  // namespace vt::data
