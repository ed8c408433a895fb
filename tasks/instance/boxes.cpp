// boxes.cpp — IoU, NMS, clipping and box coding (tasks/instance/boxes.h has the formulas).
#include "tasks/instance/boxes.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "tasks/instance/host_tensors.h"

namespace vt::instance {

namespace {

// A contiguous CPU copy of t (no autograd), checked to be (N, cols) floating.
Tensor cpu_rows(const Tensor& t, int64_t cols, const char* op, const char* what) {
  if (!t.defined()) throw Error(std::string(op) + ": " + what + " is undefined");
  if (t.dtype() != DType::F32 && t.dtype() != DType::F64)
    throw Error(std::string(op) + ": " + what + " must be F32 or F64, got " + dtype_name(t.dtype()));
  if (t.dim() != 2 || (cols > 0 && t.size(1) != cols))
    throw Error(std::string(op) + ": " + what + " must be (N, " +
                (cols > 0 ? std::to_string(cols) : std::string("4·K")) + "), got " +
                shape_str(t.shape()));
  NoGrad ng;
  return t.detach().to(Device::cpu()).contiguous();
}

Tensor cpu_vector(const Tensor& t, int64_t n, DType dtype, const char* op, const char* what) {
  if (!t.defined() || t.dim() != 1 || t.size(0) != n)
    throw Error(std::string(op) + ": " + what + " must be (" + std::to_string(n) + "), got " +
                (t.defined() ? shape_str(t.shape()) : std::string("undefined")));
  NoGrad ng;
  return t.detach().to(Device::cpu()).to(dtype).contiguous();
}

template <typename T>
T area(const T* b) { return (b[2] - b[0]) * (b[3] - b[1]); }

template <typename T>
T iou(const T* a, const T* b) {
  const T w = std::max(T(0), std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const T h = std::max(T(0), std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const T inter = w * h, uni = area(a) + area(b) - inter;
  return uni > T(0) ? inter / uni : T(0);
}

// Greedy NMS over the boxes `order` lists (already by decreasing score).
template <typename T>
std::vector<int64_t> greedy_nms(const T* boxes, const std::vector<int64_t>& order, T threshold) {
  std::vector<int64_t> keep;
  std::vector<char> dropped(order.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) {
    if (dropped[i]) continue;
    keep.push_back(order[i]);
    const T* bi = boxes + 4 * order[i];
    for (size_t j = i + 1; j < order.size(); ++j)
      if (!dropped[j] && iou(bi, boxes + 4 * order[j]) > threshold) dropped[j] = 1;
  }
  return keep;
}

// Indices 0..n-1 by decreasing score, ties in index order.
template <typename T>
std::vector<int64_t> by_score(const T* scores, int64_t n) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return score_key(scores[a]) > score_key(scores[b]);
  });
  return order;
}

}  // namespace

Tensor box_iou(const Tensor& a_, const Tensor& b_) {
  Tensor a = cpu_rows(a_, 4, "box_iou", "a"), b = cpu_rows(b_, 4, "box_iou", "b");
  if (a.dtype() != b.dtype()) b = b.to(a.dtype());
  const int64_t n = a.size(0), m = b.size(0);
  Tensor out = Tensor::empty({n, m}, a.dtype());
  dispatch_float(a.dtype(), "box_iou", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pa = a.data<T>(), *pb = b.data<T>();
    T* po = out.data<T>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) po[i * m + j] = iou(pa + 4 * i, pb + 4 * j);
  });
  return out;
}

Tensor nms(const Tensor& boxes_, const Tensor& scores_, double iou_threshold) {
  Tensor boxes = cpu_rows(boxes_, 4, "nms", "boxes");
  Tensor scores = cpu_vector(scores_, boxes.size(0), boxes.dtype(), "nms", "scores");
  std::vector<int64_t> keep;
  dispatch_float(boxes.dtype(), "nms", [&](auto tag) {
    using T = typename decltype(tag)::type;
    keep = greedy_nms(boxes.data<T>(), by_score(scores.data<T>(), boxes.size(0)), (T)iou_threshold);
  });
  return i64(keep);
}

Tensor batched_nms(const Tensor& boxes_, const Tensor& scores_, const Tensor& classes_,
                   double iou_threshold) {
  Tensor boxes = cpu_rows(boxes_, 4, "batched_nms", "boxes");
  const int64_t n = boxes.size(0);
  Tensor scores = cpu_vector(scores_, n, boxes.dtype(), "batched_nms", "scores");
  Tensor classes = cpu_vector(classes_, n, DType::I64, "batched_nms", "classes");
  std::vector<int64_t> keep;
  dispatch_float(boxes.dtype(), "batched_nms", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* s = scores.data<T>();
    const int64_t* c = classes.data<int64_t>();
    // NMS class by class (each class's boxes in score order), then all kept by score.
    std::vector<int64_t> order = by_score(s, n);
    std::vector<int64_t> cls(c, c + n);
    std::sort(cls.begin(), cls.end());
    cls.erase(std::unique(cls.begin(), cls.end()), cls.end());
    for (int64_t k : cls) {
      std::vector<int64_t> mine;
      for (int64_t i : order)
        if (c[i] == k) mine.push_back(i);
      for (int64_t i : greedy_nms(boxes.data<T>(), mine, (T)iou_threshold)) keep.push_back(i);
    }
    std::sort(keep.begin(), keep.end(), [&](int64_t a, int64_t b) {
      const T ka = score_key(s[a]), kb = score_key(s[b]);
      return ka > kb || (ka == kb && a < b);
    });
  });
  return i64(keep);
}

Tensor clip_boxes(const Tensor& boxes_, int64_t height, int64_t width) {
  Tensor boxes = cpu_rows(boxes_, 4, "clip_boxes", "boxes").clone();
  dispatch_float(boxes.dtype(), "clip_boxes", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* b = boxes.data<T>();
    const T lim[4] = {(T)width, (T)height, (T)width, (T)height};
    for (int64_t i = 0; i < boxes.numel(); ++i) b[i] = std::clamp(b[i], T(0), lim[i % 4]);
  });
  return boxes;
}

Tensor remove_small_boxes(const Tensor& boxes_, double min_size) {
  Tensor boxes = cpu_rows(boxes_, 4, "remove_small_boxes", "boxes");
  std::vector<int64_t> keep;
  dispatch_float(boxes.dtype(), "remove_small_boxes", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* b = boxes.data<T>();
    for (int64_t i = 0; i < boxes.size(0); ++i, b += 4)
      if (b[2] - b[0] >= (T)min_size && b[3] - b[1] >= (T)min_size) keep.push_back(i);
  });
  return i64(keep);
}

Tensor BoxCoder::encode(const Tensor& boxes_, const Tensor& reference_) const {
  Tensor g = cpu_rows(boxes_, 4, "BoxCoder::encode", "boxes");
  Tensor p = cpu_rows(reference_, 4, "BoxCoder::encode", "reference boxes");
  if (g.size(0) != p.size(0))
    throw Error("BoxCoder::encode: " + std::to_string(g.size(0)) + " boxes against " +
                std::to_string(p.size(0)) + " reference boxes");
  if (p.dtype() != g.dtype()) p = p.to(g.dtype());
  Tensor out = Tensor::empty(g.shape(), g.dtype());
  dispatch_float(g.dtype(), "BoxCoder::encode", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pg = g.data<T>(), *pp = p.data<T>();
    T* o = out.data<T>();
    const T wx = (T)weights[0], wy = (T)weights[1], ww = (T)weights[2], wh = (T)weights[3];
    for (int64_t i = 0; i < g.size(0); ++i, pg += 4, pp += 4, o += 4) {
      const T pw = pp[2] - pp[0], ph = pp[3] - pp[1];
      const T px = pp[0] + T(0.5) * pw, py = pp[1] + T(0.5) * ph;
      const T gw = pg[2] - pg[0], gh = pg[3] - pg[1];
      const T gx = pg[0] + T(0.5) * gw, gy = pg[1] + T(0.5) * gh;
      o[0] = wx * (gx - px) / pw;
      o[1] = wy * (gy - py) / ph;
      o[2] = ww * std::log(gw / pw);
      o[3] = wh * std::log(gh / ph);
    }
  });
  return out;
}

Tensor BoxCoder::decode(const Tensor& deltas_, const Tensor& reference_) const {
  Tensor d = cpu_rows(deltas_, 0, "BoxCoder::decode", "deltas");
  Tensor p = cpu_rows(reference_, 4, "BoxCoder::decode", "reference boxes");
  if (d.size(1) % 4 != 0 || d.size(0) != p.size(0))
    throw Error("BoxCoder::decode: deltas " + shape_str(d.shape()) + " do not fit reference boxes " +
                shape_str(p.shape()) + " (expected (N, 4·K) against (N, 4))");
  if (p.dtype() != d.dtype()) p = p.to(d.dtype());
  const int64_t n = d.size(0), k = d.size(1) / 4;
  Tensor out = Tensor::empty({n, k, 4}, d.dtype());
  dispatch_float(d.dtype(), "BoxCoder::decode", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pd = d.data<T>(), *pp = p.data<T>();
    T* o = out.data<T>();
    const T wx = (T)weights[0], wy = (T)weights[1], ww = (T)weights[2], wh = (T)weights[3];
    for (int64_t i = 0; i < n; ++i, pp += 4) {
      const T pw = pp[2] - pp[0], ph = pp[3] - pp[1];
      const T px = pp[0] + T(0.5) * pw, py = pp[1] + T(0.5) * ph;
      for (int64_t j = 0; j < k; ++j, pd += 4, o += 4) {
        const T dx = pd[0] / wx, dy = pd[1] / wy;
        const T dw = std::min(pd[2] / ww, (T)clip), dh = std::min(pd[3] / wh, (T)clip);
        const T cx = dx * pw + px, cy = dy * ph + py;
        const T w = std::exp(dw) * pw, h = std::exp(dh) * ph;
        o[0] = cx - T(0.5) * w;
        o[1] = cy - T(0.5) * h;
        o[2] = cx + T(0.5) * w;
        o[3] = cy + T(0.5) * h;
      }
    }
  });
  return out;
}

}  // namespace vt::instance
