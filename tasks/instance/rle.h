// rle.h — binary masks in COCO's run-length encoding (RLE), as the COCO mask API defines it.
//
// An h×w mask is read in column-major (Fortran) order — pixel (y, x) is element x·h + y — and
// stored as alternating run lengths starting with a run of zeros (which may be 0):
//   mask column-major 0 0 1 1 1 0 1  ->  counts [2, 3, 1, 1];   1 1 1 0  ->  [0, 3, 1].
// The counts sum to h·w. Our masks are row-major uint8 (element y·w + x); encode/decode convert.
// In COCO JSON the counts are compressed to a string: each count (from the fourth on, minus the
// count two before it) is cut into 5-bit groups, least significant first, each written as one
// character 48 + (group | 0x20 if more groups follow), the last group's bit 0x10 giving the sign.
// Polygons become masks by COCO's rasterisation (rle_from_polygon), in which pixel (x, y) is
// about inside when its centre (x + 0.5, y + 0.5) is: the vertices are scaled by 5 and rounded,
// each edge is walked in steps of 1/5 pixel, and where the walk crosses a column's centre line
// x + 0.5 the column toggles from the first row whose centre lies below the crossing.
// Sizes are limited to h·w ≤ 2^31; every malformed input throws vt::Error naming the problem.
#pragma once
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vt::instance {

struct Rle {
  int64_t h = 0, w = 0;
  std::vector<uint32_t> counts;  // runs over the column-major pixels, zeros first
};

// [x, y, width, height] in pixels, COCO's box format (tasks/instance/boxes.h works on
// (x1, y1, x2, y2) tensors instead).
using Box = std::array<double, 4>;

// Largest h·w an RLE may describe (its counts are 32-bit).
constexpr int64_t kMaxRlePixels = int64_t(1) << 31;

// Throws unless h, w ≥ 0, h·w ≤ 2^31 and the counts sum to h·w; `what` starts the message.
void rle_check(const Rle& r, const std::string& what = "RLE");

// mask: h·w row-major bytes, nonzero = inside. Zero-sized masks give counts {0}.
Rle rle_encode(const uint8_t* mask, int64_t h, int64_t w);
Rle rle_encode(const std::vector<uint8_t>& mask, int64_t h, int64_t w);
// Row-major 0/1 bytes, h·w of them.
std::vector<uint8_t> rle_decode(const Rle& r);

// Pixels inside (the odd-numbered runs).
int64_t rle_area(const Rle& r);
// COCO's rleToBbox: the box of the pixels inside, [0, 0, 0, 0] when there are none. As COCO
// does, a run of ones that crosses from one column into the next spans all rows (y 0 .. h-1).
Box rle_to_bbox(const Rle& r);
// Union (or intersection) of same-sized masks; the counts come out with no empty run but the
// first.
Rle rle_merge(const std::vector<Rle>& rles, bool intersect = false);

// COCO's rleFrPoly: xy = [x0, y0, x1, y1, ...], at least 3 points, coordinates finite and
// within ±2^24. The walk along the upsampled boundary may not exceed 2^26 steps (a polygon whose
// outline is that long lies almost entirely outside any image we could encode).
Rle rle_from_polygon(const std::vector<double>& xy, int64_t h, int64_t w);
// The union of the polygons of one object (COCO's frPyObjects followed by merge).
Rle rle_from_polygons(const std::vector<std::vector<double>>& polygons, int64_t h, int64_t w);

// The compressed "counts" string of COCO JSON, both ways. rle_from_string checks the characters
// ('0' .. 'o'), that no number runs past the end or beyond 32 bits, and the sum against h·w.
std::string rle_to_string(const Rle& r);
Rle rle_from_string(const std::string& s, int64_t h, int64_t w);

// A COCO "segmentation" for an image of h×w: a list of polygons, or {"size": [h, w], "counts":
// string or list of runs} (compressed or uncompressed RLE; its size must be h×w).
Rle rle_from_json(const nlohmann::json& segmentation, int64_t h, int64_t w);
// {"size": [h, w], "counts": string}, as COCO result files store masks.
nlohmann::json rle_to_json(const Rle& r);

// IoU of every detection with every ground truth, [d · G + g] (COCO's rleIou / bbIou):
// intersection / union, or intersection / detection area when the ground truth is a crowd
// region; 0 when they do not meet. iscrowd has one flag per ground truth (or is empty: none).
// Masks must all have the same size.
std::vector<double> rle_iou(const std::vector<Rle>& dt, const std::vector<Rle>& gt,
                            const std::vector<bool>& iscrowd);
std::vector<double> coco_box_iou(const std::vector<Box>& dt, const std::vector<Box>& gt,
                                 const std::vector<bool>& iscrowd);

}  // namespace vt::instance
