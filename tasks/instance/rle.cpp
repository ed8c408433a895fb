// rle.cpp — COCO run-length encoding: masks, boxes, polygons, the counts string and IoU (see
// rle.h; tests/reference/coco_eval.py states the same definitions in numpy).
#include "tasks/instance/rle.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "engine/dtype.h"

namespace vt::instance {

using json = nlohmann::json;

namespace {

std::string size_str(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

// h·w, after checking each side before multiplying (so the product cannot overflow).
int64_t checked_pixels(int64_t h, int64_t w, const std::string& what) {
  if (h < 0 || w < 0) throw Error(what + ": negative mask size " + size_str(h, w));
  if (h > kMaxRlePixels || w > kMaxRlePixels || h * w > kMaxRlePixels)
    throw Error(what + ": mask size " + size_str(h, w) + " has more than 2^31 pixels");
  return h * w;
}

// a·b rounded on its own. The volatile store keeps the compiler from fusing the product into a
// following addition (an FMA under -march=native), so sums round as the COCO API's C code does.
double product(double a, double b) {
  volatile double p = a * b;
  return p;
}

// Walks two same-sized RLEs together, calling f(length, value_a, value_b) for each stretch on
// which neither changes. Empty runs are stepped over.
template <class F>
void co_runs(const Rle& a, const Rle& b, F&& f) {
  struct Cursor {
    const std::vector<uint32_t>& c;
    size_t i = 0;
    uint64_t left = 0;
    bool v = false;
    explicit Cursor(const std::vector<uint32_t>& counts) : c(counts) {
      left = c.empty() ? 0 : c[0];
      settle();
    }
    void settle() {
      while (left == 0 && i + 1 < c.size()) left = c[++i], v = !v;
    }
  } ca(a.counts), cb(b.counts);
  while (ca.left > 0 && cb.left > 0) {
    const uint64_t n = std::min(ca.left, cb.left);
    f(n, ca.v, cb.v);
    ca.left -= n, cb.left -= n;
    ca.settle(), cb.settle();
  }
}

// Appends a run of `len` pixels of value v, joining it to the last run when the value repeats.
void push_run(std::vector<uint32_t>& counts, bool& last, uint64_t len, bool v) {
  if (counts.empty()) {
    counts.push_back(v ? 0 : (uint32_t)len);
    if (v) counts.push_back((uint32_t)len);
  } else if (v == last) {
    counts.back() += (uint32_t)len;
  } else {
    counts.push_back((uint32_t)len);
  }
  last = v;
}

}  // namespace

void rle_check(const Rle& r, const std::string& what) {
  const int64_t n = checked_pixels(r.h, r.w, what);
  uint64_t sum = 0;
  for (uint32_t c : r.counts) sum += c;
  if (sum != (uint64_t)n)
    throw Error(what + ": the counts sum to " + std::to_string(sum) + ", not h·w = " +
                size_str(r.h, r.w) + " = " + std::to_string(n));
}

// ---------------------------------------------------------------- masks
Rle rle_encode(const uint8_t* mask, int64_t h, int64_t w) {
  const int64_t n = checked_pixels(h, w, "rle_encode");
  if (n > 0 && mask == nullptr)
    throw Error("rle_encode: no mask data for a " + size_str(h, w) + " mask");
  Rle r{h, w, {}};
  uint8_t cur = 0;
  uint32_t run = 0;
  for (int64_t x = 0; x < w; ++x)
    for (int64_t y = 0; y < h; ++y) {
      const uint8_t v = mask[y * w + x] != 0;
      if (v != cur) r.counts.push_back(run), run = 0, cur = v;
      ++run;
    }
  r.counts.push_back(run);
  return r;
}

Rle rle_encode(const std::vector<uint8_t>& mask, int64_t h, int64_t w) {
  const int64_t n = checked_pixels(h, w, "rle_encode");
  if ((int64_t)mask.size() != n)
    throw Error("rle_encode: " + std::to_string(mask.size()) + " mask bytes for a " +
                size_str(h, w) + " mask");
  return rle_encode(mask.data(), h, w);
}

std::vector<uint8_t> rle_decode(const Rle& r) {
  rle_check(r, "rle_decode");
  std::vector<uint8_t> mask((size_t)(r.h * r.w), 0);
  int64_t pos = 0;
  for (size_t i = 0; i < r.counts.size(); ++i) {
    if (i % 2 == 1)
      for (int64_t p = pos; p < pos + r.counts[i]; ++p) mask[(p % r.h) * r.w + p / r.h] = 1;
    pos += r.counts[i];
  }
  return mask;
}

int64_t rle_area(const Rle& r) {
  rle_check(r, "rle_area");
  int64_t a = 0;
  for (size_t i = 1; i < r.counts.size(); i += 2) a += r.counts[i];
  return a;
}

Box rle_to_bbox(const Rle& r) {
  rle_check(r, "rle_to_bbox");
  const size_t m = r.counts.size() / 2 * 2;  // a trailing run of zeros does not matter
  if (m == 0 || r.h * r.w == 0) return {0, 0, 0, 0};
  // In 32-bit unsigned arithmetic as COCO's, so that even odd counts give its answer.
  const uint32_t h = (uint32_t)r.h;
  uint32_t xs = (uint32_t)r.w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
  for (size_t j = 0; j < m; ++j) {
    cc += r.counts[j];
    const uint32_t t = cc - (uint32_t)(j % 2);  // first pixel of a run of ones, or its last
    const uint32_t y = t % h, x = (t - y) / h;
    if (j % 2 == 0) xp = x;
    else if (xp < x) ys = 0, ye = h - 1;  // the run wraps into the next column
    xs = std::min(xs, x), xe = std::max(xe, x), ys = std::min(ys, y), ye = std::max(ye, y);
  }
  return {(double)xs, (double)ys, (double)(uint32_t)(xe - xs + 1), (double)(uint32_t)(ye - ys + 1)};
}

Rle rle_merge(const std::vector<Rle>& rles, bool intersect) {
  if (rles.empty()) throw Error("rle_merge: no masks to merge");
  for (size_t i = 0; i < rles.size(); ++i) {
    rle_check(rles[i], "rle_merge: mask " + std::to_string(i));
    if (rles[i].h != rles[0].h || rles[i].w != rles[0].w)
      throw Error("rle_merge: mask " + std::to_string(i) + " is " + size_str(rles[i].h, rles[i].w) +
                  ", mask 0 is " + size_str(rles[0].h, rles[0].w));
  }
  Rle acc = rles[0];
  if (acc.h * acc.w == 0) return {acc.h, acc.w, {0}};
  for (size_t i = 1; i < rles.size(); ++i) {
    Rle out{acc.h, acc.w, {}};
    bool last = false;
    co_runs(acc, rles[i], [&](uint64_t n, bool a, bool b) {
      push_run(out.counts, last, n, intersect ? (a && b) : (a || b));
    });
    acc = std::move(out);
  }
  return acc;
}

// ---------------------------------------------------------------- polygons
Rle rle_from_polygon(const std::vector<double>& xy, int64_t h, int64_t w) {
  const int64_t n = checked_pixels(h, w, "rle_from_polygon");
  if (xy.size() % 2 != 0)
    throw Error("rle_from_polygon: odd number of coordinates (" + std::to_string(xy.size()) +
                "); a polygon is [x0, y0, x1, y1, ...]");
  if (xy.size() < 6)
    throw Error("rle_from_polygon: a polygon needs at least 3 points (6 numbers), got " +
                std::to_string(xy.size()) + " numbers");
  constexpr double kScale = 5, kMaxCoord = double(1 << 24);
  for (size_t i = 0; i < xy.size(); ++i)
    if (!(std::fabs(xy[i]) <= kMaxCoord))
      throw Error("rle_from_polygon: coordinate " + std::to_string(i) + " (" +
                  std::to_string(xy[i]) + ") is not a finite number within ±2^24");
  if (n == 0) return {h, w, {0}};

  // Upsample: vertices scaled by 5 and rounded half up (truncating toward zero, as C's cast).
  const size_t k = xy.size() / 2;
  std::vector<int64_t> X(k + 1), Y(k + 1);
  for (size_t j = 0; j < k; ++j) {
    X[j] = (int64_t)(product(kScale, xy[2 * j]) + .5);
    Y[j] = (int64_t)(product(kScale, xy[2 * j + 1]) + .5);
  }
  X[k] = X[0], Y[k] = Y[0];
  int64_t steps = 0;
  for (size_t j = 0; j < k; ++j)
    steps += std::max(std::abs(X[j + 1] - X[j]), std::abs(Y[j + 1] - Y[j])) + 1;
  constexpr int64_t kMaxSteps = int64_t(1) << 26;
  if (steps > kMaxSteps)
    throw Error("rle_from_polygon: the outline is " + std::to_string(steps) +
                " upsampled points long (limit 2^26): coordinates far outside the " +
                size_str(h, w) + " image?");

  // Walk the boundary point by point. Where it moves between upsampled columns u-1 and u whose
  // border maps onto a pixel column xd, column xd toggles at the row yd the walk gives there.
  std::vector<uint32_t> a;  // toggles as column-major pixel indices
  bool first = true;
  int64_t pu = 0, pv = 0;
  auto visit = [&](int64_t u, int64_t v) {
    if (!first && u != pu) {
      double xd = (double)(u < pu ? u : u - 1);
      xd = (xd + .5) / kScale - .5;
      if (std::floor(xd) == xd && xd >= 0 && xd <= (double)(w - 1)) {
        double yd = (double)std::min(v, pv);
        yd = (yd + .5) / kScale - .5;
        yd = std::ceil(yd < 0 ? 0 : yd > (double)h ? (double)h : yd);
        a.push_back((uint32_t)((int64_t)xd * h + (int64_t)yd));
      }
    }
    first = false, pu = u, pv = v;
  };
  for (size_t j = 0; j < k; ++j) {
    int64_t xs = X[j], xe = X[j + 1], ys = Y[j], ye = Y[j + 1];
    const int64_t dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) std::swap(xs, xe), std::swap(ys, ye);
    if (dx >= dy) {  // one step per column; a repeated vertex (dx = dy = 0) gives one point
      const double s = dx == 0 ? 0.0 : (double)(ye - ys) / (double)dx;
      for (int64_t d = 0; d <= dx; ++d) {
        const int64_t t = flip ? dx - d : d;
        visit(t + xs, (int64_t)((double)ys + product(s, (double)t) + .5));
      }
    } else {  // one step per row
      const double s = (double)(xe - xs) / (double)dy;
      for (int64_t d = 0; d <= dy; ++d) {
        const int64_t t = flip ? dy - d : d;
        visit((int64_t)((double)xs + product(s, (double)t) + .5), t + ys);
      }
    }
  }

  // Sorted toggles -> run lengths; two toggles at one pixel cancel (their run is dropped and the
  // next one joins the previous).
  a.push_back((uint32_t)n);
  std::sort(a.begin(), a.end());
  uint32_t prev = 0;
  for (uint32_t& v : a) {
    const uint32_t t = v;
    v -= prev, prev = t;
  }
  Rle r{h, w, {a[0]}};
  for (size_t j = 1; j < a.size();) {
    if (a[j] > 0) {
      r.counts.push_back(a[j++]);
    } else if (++j < a.size()) {
      r.counts.back() += a[j++];
    }
  }
  return r;
}

Rle rle_from_polygons(const std::vector<std::vector<double>>& polygons, int64_t h, int64_t w) {
  if (polygons.empty()) throw Error("rle_from_polygons: an object needs at least one polygon");
  std::vector<Rle> parts;
  for (size_t i = 0; i < polygons.size(); ++i) {
    try {
      parts.push_back(rle_from_polygon(polygons[i], h, w));
    } catch (const Error& e) {
      throw Error("polygon " + std::to_string(i) + ": " + e.what());
    }
  }
  return rle_merge(parts);
}

// ---------------------------------------------------------------- the counts string
std::string rle_to_string(const Rle& r) {
  rle_check(r, "rle_to_string");
  std::string s;
  for (size_t i = 0; i < r.counts.size(); ++i) {
    int64_t x = (int64_t)r.counts[i] - (i > 2 ? (int64_t)r.counts[i - 2] : 0);
    for (bool more = true; more;) {
      int c = (int)(x & 0x1f);
      x >>= 5;  // arithmetic: the sign stays
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back((char)(c + 48));
    }
  }
  return s;
}

Rle rle_from_string(const std::string& s, int64_t h, int64_t w) {
  const int64_t n = checked_pixels(h, w, "rle_from_string");
  Rle r{h, w, {}};
  size_t p = 0;
  while (p < s.size()) {
    const size_t start = p;
    int64_t x = 0;
    int k = 0, c = 0;
    for (bool more = true; more; ++k) {
      if (p >= s.size())
        throw Error("rle_from_string: the string ends inside count " +
                    std::to_string(r.counts.size()) + " (its last character '" +
                    std::string(1, s.back()) + "' says more follows)");
      if (k == 7)  // 35 bits hold any difference of two 32-bit counts
        throw Error("rle_from_string: count " + std::to_string(r.counts.size()) + " at character " +
                    std::to_string(start) + " runs over 7 characters: it overflows 32 bits");
      c = (unsigned char)s[p] - 48;
      if (c < 0 || c > 63)
        throw Error("rle_from_string: bad character '" + std::string(1, s[p]) + "' (code " +
                    std::to_string((unsigned char)s[p]) + ") at position " + std::to_string(p) +
                    "; COCO counts use '0' .. 'o'");
      x |= (int64_t)(c & 0x1f) << (5 * k);
      more = c & 0x20;
      ++p;
    }
    if (c & 0x10) x -= int64_t(1) << (5 * k);  // the top bit is the sign: x - 2^(5k)
    const size_t m = r.counts.size();
    if (m > 2) x += r.counts[m - 2];
    if (x < 0 || x > (int64_t)std::numeric_limits<uint32_t>::max())
      throw Error("rle_from_string: count " + std::to_string(m) + " decodes to " +
                  std::to_string(x) + ", outside 0 .. 2^32-1");
    r.counts.push_back((uint32_t)x);
  }
  if (r.counts.empty() && n == 0) r.counts.push_back(0);
  rle_check(r, "rle_from_string");
  return r;
}

Rle rle_from_json(const json& segm, int64_t h, int64_t w) {
  checked_pixels(h, w, "rle_from_json");
  if (segm.is_array()) {
    std::vector<std::vector<double>> polys;
    for (size_t i = 0; i < segm.size(); ++i) {
      if (!segm[i].is_array())
        throw Error("rle_from_json: polygon " + std::to_string(i) + " is not a list");
      std::vector<double> xy;
      for (const json& v : segm[i]) {
        if (!v.is_number())
          throw Error("rle_from_json: polygon " + std::to_string(i) + " holds a non-number " +
                      v.dump());
        xy.push_back(v.get<double>());
      }
      polys.push_back(std::move(xy));
    }
    return rle_from_polygons(polys, h, w);
  }
  if (!segm.is_object() || !segm.contains("size") || !segm.contains("counts"))
    throw Error("rle_from_json: a segmentation is a list of polygons or "
                "{\"size\": [h, w], \"counts\": ...}");
  const json& size = segm["size"];
  if (!size.is_array() || size.size() != 2 || !size[0].is_number_integer() ||
      !size[1].is_number_integer())
    throw Error("rle_from_json: \"size\" must be [h, w], got " + size.dump());
  if (size[0].get<int64_t>() != h || size[1].get<int64_t>() != w)
    throw Error("rle_from_json: the mask is " +
                size_str(size[0].get<int64_t>(), size[1].get<int64_t>()) + ", the image " +
                size_str(h, w));
  const json& counts = segm["counts"];
  if (counts.is_string()) return rle_from_string(counts.get<std::string>(), h, w);
  if (!counts.is_array())
    throw Error("rle_from_json: \"counts\" must be a string or a list of runs");
  Rle r{h, w, {}};
  for (const json& c : counts) {
    if (!c.is_number_integer() || c.get<int64_t>() < 0 ||
        c.get<int64_t>() > (int64_t)std::numeric_limits<uint32_t>::max())
      throw Error("rle_from_json: run " + std::to_string(r.counts.size()) + " (" + c.dump() +
                  ") is not an integer in 0 .. 2^32-1");
    r.counts.push_back(c.get<uint32_t>());
  }
  rle_check(r, "rle_from_json");
  return r;
}

json rle_to_json(const Rle& r) { return {{"size", {r.h, r.w}}, {"counts", rle_to_string(r)}}; }

// ---------------------------------------------------------------- IoU
std::vector<double> coco_box_iou(const std::vector<Box>& dt, const std::vector<Box>& gt,
                                 const std::vector<bool>& iscrowd) {
  if (!iscrowd.empty() && iscrowd.size() != gt.size())
    throw Error("coco_box_iou: " + std::to_string(iscrowd.size()) + " crowd flags for " +
                std::to_string(gt.size()) + " ground-truth boxes");
  auto finite = [](const Box& b) { return std::isfinite(b[0] + b[1] + b[2] + b[3]); };
  for (size_t i = 0; i < dt.size(); ++i)
    if (!finite(dt[i]))
      throw Error("coco_box_iou: detection box " + std::to_string(i) + " is not finite");
  for (size_t i = 0; i < gt.size(); ++i)
    if (!finite(gt[i]))
      throw Error("coco_box_iou: ground-truth box " + std::to_string(i) + " is not finite");
  std::vector<double> o(dt.size() * gt.size(), 0.0);
  for (size_t g = 0; g < gt.size(); ++g) {
    const Box& G = gt[g];
    const double ga = product(G[2], G[3]);
    const bool crowd = !iscrowd.empty() && iscrowd[g];
    for (size_t d = 0; d < dt.size(); ++d) {
      const Box& D = dt[d];
      const double da = product(D[2], D[3]);
      const double iw = std::min(D[2] + D[0], G[2] + G[0]) - std::max(D[0], G[0]);
      if (iw <= 0) continue;
      const double ih = std::min(D[3] + D[1], G[3] + G[1]) - std::max(D[1], G[1]);
      if (ih <= 0) continue;
      const double inter = product(iw, ih);
      o[d * gt.size() + g] = inter / (crowd ? da : da + ga - inter);
    }
  }
  return o;
}

std::vector<double> rle_iou(const std::vector<Rle>& dt, const std::vector<Rle>& gt,
                            const std::vector<bool>& iscrowd) {
  if (!iscrowd.empty() && iscrowd.size() != gt.size())
    throw Error("rle_iou: " + std::to_string(iscrowd.size()) + " crowd flags for " +
                std::to_string(gt.size()) + " ground-truth masks");
  std::vector<Box> db, gb;
  std::vector<int64_t> dt_area;
  for (const Rle& r : dt) db.push_back(rle_to_bbox(r)), dt_area.push_back(rle_area(r));  // checks
  for (const Rle& r : gt) gb.push_back(rle_to_bbox(r));
  for (size_t d = 0; d < dt.size(); ++d)
    for (size_t g = 0; g < gt.size(); ++g)
      if (dt[d].h != gt[g].h || dt[d].w != gt[g].w)
        throw Error("rle_iou: detection mask " + std::to_string(d) + " is " +
                    size_str(dt[d].h, dt[d].w) + ", ground-truth mask " + std::to_string(g) +
                    " is " + size_str(gt[g].h, gt[g].w));
  // Masks whose boxes do not overlap do not meet either: only the others are walked.
  std::vector<double> o = coco_box_iou(db, gb, iscrowd);
  for (size_t d = 0; d < dt.size(); ++d)
    for (size_t g = 0; g < gt.size(); ++g) {
      double& v = o[d * gt.size() + g];
      if (!(v > 0)) continue;
      uint64_t inter = 0, uni = 0;
      co_runs(dt[d], gt[g], [&](uint64_t n, bool a, bool b) {
        if (a || b) uni += n;
        if (a && b) inter += n;
      });
      const bool crowd = !iscrowd.empty() && iscrowd[g];
      if (inter == 0) v = 0;
      else v = (double)inter / (double)(crowd ? (uint64_t)dt_area[d] : uni);
    }
  return o;
}

}  // namespace vt::instance
