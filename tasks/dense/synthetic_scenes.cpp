// synthetic_scenes.cpp — procedurally drawn scenes for segmentation, depth and classification.
//
// A scene is a textured ground plane (kSceneMaxDepth at the top row, receding upwards) with a
// few textured shapes drawn in order on top (later ones occlude earlier ones). Every surface —
// the ground and each shape — gets its own random texture (stripes, checkerboard, smooth noise
// or a gradient, in two random colours), so a shape's class shows only in its outline. A shape
// at depth d has radius ∝ 1/d and lies on a near-constant depth plane (a small tilt), placed
// closer than everything it covers, so the depth map is consistent with the drawing order and
// can be inferred from the picture. Scene i is a pure function of (options, seed, i): its
// generator is example_generator(seed, kSceneStream, i) and nothing else is random.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tasks/data/transforms.h"
#include "tasks/dense/dense_data.h"

namespace vt::data {

namespace {

constexpr uint64_t kSceneStream = 0x5CE7E5;  // the "epoch" slot of example_generator
constexpr double kPi = 3.14159265358979323846;
constexpr double kRadiusAt1m = 0.9;   // radius = kRadiusAt1m · S · jitter / depth
constexpr double kMinShapeDepth = 2.0;
constexpr double kFarShapeDepth = 9.0;

// A two-colour texture: value(x, y) in [0, 1] blends c1 -> c2.
struct Texture {
  enum Kind { kStripes, kChecker, kNoise, kGradient } kind = kStripes;
  double c1[3] = {0, 0, 0}, c2[3] = {1, 1, 1};
  double ca = 1, sa = 0, period = 8, phase = 0;  // stripes / checker / gradient direction
  double lo = 0, hi = 1;                         // gradient: projection range
  int64_t n = 0;                                 // noise: (n + 1) x (n + 1) grid nodes
  double cell = 8;
  std::vector<double> nodes;

  double value(double x, double y) const {
    const double u = ca * x + sa * y, v = -sa * x + ca * y;
    switch (kind) {
      case kStripes: return 0.5 + 0.5 * std::sin(2 * kPi * u / period + phase);
      case kChecker:
        return ((int64_t)std::floor(u / period + phase) + (int64_t)std::floor(v / period)) & 1;
      case kGradient: return std::clamp((u - lo) / (hi - lo), 0.0, 1.0);
      case kNoise: {
        const double gx = std::clamp(x / cell, 0.0, (double)n - 1e-9);
        const double gy = std::clamp(y / cell, 0.0, (double)n - 1e-9);
        const int64_t ix = (int64_t)gx, iy = (int64_t)gy;
        auto smooth = [](double t) { return t * t * (3 - 2 * t); };
        const double fx = smooth(gx - ix), fy = smooth(gy - iy);
        auto at = [&](int64_t a, int64_t b) { return nodes[b * (n + 1) + a]; };
        return (1 - fy) * ((1 - fx) * at(ix, iy) + fx * at(ix + 1, iy)) +
               fy * ((1 - fx) * at(ix, iy + 1) + fx * at(ix + 1, iy + 1));
      }
    }
    return 0;
  }
  void colour(double x, double y, double rgb[3]) const {
    const double t = value(x, y);
    for (int c = 0; c < 3; ++c) rgb[c] = (1 - t) * c1[c] + t * c2[c];
  }
};

Texture random_texture(Generator& g, int64_t S) {
  Texture t;
  t.kind = (Texture::Kind)std::min<int64_t>((int64_t)(uniform(g) * 4), 3);
  for (int c = 0; c < 3; ++c) t.c1[c] = uniform(g), t.c2[c] = uniform(g);
  const double a = uniform(g, 0, 2 * kPi);
  t.ca = std::cos(a), t.sa = std::sin(a);
  t.period = uniform(g, 3.0, 3.0 + S / 8.0);
  t.phase = uniform(g, 0, 2 * kPi);
  // A gradient spans the image's projection on its direction.
  const double corners[4] = {0, t.ca * S, t.sa * S, (t.ca + t.sa) * S};
  t.lo = *std::min_element(corners, corners + 4), t.hi = *std::max_element(corners, corners + 4);
  if (t.kind == Texture::kNoise) {
    t.cell = uniform(g, 4.0, 4.0 + S / 6.0);
    t.n = (int64_t)std::ceil(S / t.cell) + 1;
    t.nodes.resize((size_t)((t.n + 1) * (t.n + 1)));
    for (double& v : t.nodes) v = uniform(g);
  }
  return t;
}

// Texture colours drawn around the class's base colour: c1 jittered by ±0.15, c2 a darker shade.
void class_colour(Texture& t, int64_t cls, Generator& g) {
  static const double base[kSceneClasses][3] = {
      {0.5, 0.5, 0.5}, {0.9, 0.2, 0.2}, {0.2, 0.7, 0.2}, {0.2, 0.3, 0.9}, {0.9, 0.8, 0.1}, {0.7, 0.2, 0.8}};
  const double shade = uniform(g, 0.45, 0.8);
  for (int c = 0; c < 3; ++c) {
    t.c1[c] = std::clamp(base[cls][c] + uniform(g, -0.15, 0.15), 0.0, 1.0);
    t.c2[c] = t.c1[c] * shade;
  }
}

void desaturate(Texture& t, double amount) {  // towards each colour's grey level
  for (double* col : {t.c1, t.c2}) {
    const double grey = (col[0] + col[1] + col[2]) / 3;
    for (int c = 0; c < 3; ++c) col[c] = (1 - amount) * col[c] + amount * grey;
  }
}

int64_t uniform_index(Generator& g, int64_t n) {  // in [0, n)
  return std::min<int64_t>((int64_t)(uniform(g) * (double)n), n - 1);
}

void check_options(const SceneOptions& o) {
  if (o.size < 8 || o.size > 4096)
    throw Error("synthetic_scenes: size must be in [8, 4096], got " + std::to_string(o.size));
  if (o.min_shapes < 1 || o.max_shapes < o.min_shapes || o.max_shapes > 32)
    throw Error("synthetic_scenes: need 1 <= min_shapes <= max_shapes <= 32, got " +
                std::to_string(o.min_shapes) + " and " + std::to_string(o.max_shapes));
  if (o.task != "segmentation" && o.task != "depth" && o.task != "classification")
    throw Error("synthetic_scenes: unknown task '" + o.task +
                "' (expected segmentation, depth or classification)");
}

}  // namespace

const std::vector<std::string>& scene_class_names() {
  static const std::vector<std::string> names{"background", "disc", "square",
                                              "triangle",   "ring", "cross"};
  return names;
}

double scene_ground_depth(double y, int64_t size) {
  return kSceneMaxDepth * (1.0 - 0.4 * y / (double)std::max<int64_t>(size - 1, 1));
}

bool SceneShape::contains(double x, double y) const {
  const double dx = x - cx, dy = y - cy;
  const double u = std::cos(angle) * dx + std::sin(angle) * dy;
  const double v = -std::sin(angle) * dx + std::cos(angle) * dy;
  const double r = radius, rr = u * u + v * v;
  switch (cls) {
    case 1: return rr <= r * r;                                                  // disc
    case 2: return std::abs(u) <= 0.7 * r && std::abs(v) <= 0.7 * r;             // square
    case 3:                                                                      // triangle
      for (double a : {-kPi / 2, kPi / 6, 5 * kPi / 6})                          // edge normals
        if (u * std::cos(a) + v * std::sin(a) > 0.5 * r) return false;
      return true;
    case 4: return rr <= r * r && rr >= 0.55 * 0.55 * r * r;                     // ring
    case 5:                                                                      // cross
      return (std::abs(u) <= 0.28 * r && std::abs(v) <= 0.95 * r) ||
             (std::abs(v) <= 0.28 * r && std::abs(u) <= 0.95 * r);
  }
  return false;
}

double SceneShape::depth_at(double x, double y) const {
  return depth + tilt_x * (x - cx) / radius + tilt_y * (y - cy) / radius;
}

Scene render_scene(const SceneOptions& o, uint64_t seed, int64_t i) {
  check_options(o);
  const int64_t S = o.size, P = S * S;
  Generator g = example_generator(seed, kSceneStream, (uint64_t)i);
  std::vector<double> rgb((size_t)(3 * P)), depth((size_t)P);
  std::vector<int64_t> labels((size_t)P, 0), inst((size_t)P, -1);

  // The ground: its texture, and a plane receding upwards. Pixel (x, y) has centre (x+.5, y+.5).
  Texture ground = random_texture(g, S);
  if (o.class_colours) desaturate(ground, 0.75);
  double c[3];
  for (int64_t y = 0; y < S; ++y)
    for (int64_t x = 0; x < S; ++x) {
      ground.colour(x + 0.5, y + 0.5, c);
      for (int k = 0; k < 3; ++k) rgb[k * P + y * S + x] = c[k];
      depth[y * S + x] = scene_ground_depth((double)y, S);
    }

  Scene scene;
  const int64_t count = o.min_shapes + uniform_index(g, o.max_shapes - o.min_shapes + 1);
  for (int64_t k = 0; k < count; ++k) {
    SceneShape s;
    s.cls = 1 + uniform_index(g, kSceneClasses - 1);
    s.angle = uniform(g, 0, 2 * kPi);
    Texture tex = random_texture(g, S);
    if (o.class_colours) class_colour(tex, s.cls, g);
    bool placed = false;
    for (int attempt = 0; attempt < 20 && !placed; ++attempt) {
      double d = uniform(g, 3.0, kFarShapeDepth);
      s.cx = uniform(g, 0, (double)S), s.cy = uniform(g, 0, (double)S);
      const double jitter = uniform(g, 0.9, 1.1);
      const double fx = uniform(g, -0.03, 0.03), fy = uniform(g, -0.03, 0.03);  // tilt / depth
      // Bring the shape closer until it is in front of everything under it (|tilt| <= the
      // fraction |fx| + |fy| of its depth over its footprint, which lies within its radius).
      for (int step = 0; step < 12; ++step) {
        s.depth = d, s.tilt_x = fx * d, s.tilt_y = fy * d;
        s.radius = kRadiusAt1m * (double)S * jitter / d;
        // The nearest surface under the shape's footprint, and the shape's own depth range
        // there, measured pixel by pixel.
        double under = std::numeric_limits<double>::infinity(), nearest = under, farthest = 0;
        const int64_t x0 = std::max<int64_t>(0, (int64_t)std::floor(s.cx - s.radius));
        const int64_t x1 = std::min<int64_t>(S - 1, (int64_t)std::ceil(s.cx + s.radius));
        const int64_t y0 = std::max<int64_t>(0, (int64_t)std::floor(s.cy - s.radius));
        const int64_t y1 = std::min<int64_t>(S - 1, (int64_t)std::ceil(s.cy + s.radius));
        for (int64_t y = y0; y <= y1; ++y)
          for (int64_t x = x0; x <= x1; ++x)
            if (s.contains(x + 0.5, y + 0.5)) {
              under = std::min(under, depth[y * S + x]);
              const double own = s.depth_at(x + 0.5, y + 0.5);
              nearest = std::min(nearest, own), farthest = std::max(farthest, own);
            }
        if (!std::isfinite(under)) break;  // covers no pixel: try another place
        if (farthest < under - 1e-4) {  // a margin that survives the float32 depth map
          placed = nearest >= 0.5 * kMinShapeDepth;
          break;
        }
        d = 0.9 * under / (1.0 + std::abs(fx) + std::abs(fy));
        if (d < kMinShapeDepth) break;
      }
    }
    if (!placed) continue;  // no room in front: the scene has one shape fewer
    const int64_t id = (int64_t)scene.shapes.size();
    const int64_t x0 = std::max<int64_t>(0, (int64_t)std::floor(s.cx - s.radius));
    const int64_t x1 = std::min<int64_t>(S - 1, (int64_t)std::ceil(s.cx + s.radius));
    const int64_t y0 = std::max<int64_t>(0, (int64_t)std::floor(s.cy - s.radius));
    const int64_t y1 = std::min<int64_t>(S - 1, (int64_t)std::ceil(s.cy + s.radius));
    for (int64_t y = y0; y <= y1; ++y)
      for (int64_t x = x0; x <= x1; ++x) {
        if (!s.contains(x + 0.5, y + 0.5)) continue;
        tex.colour(x + 0.5, y + 0.5, c);
        for (int q = 0; q < 3; ++q) rgb[q * P + y * S + x] = c[q];
        depth[y * S + x] = s.depth_at(x + 0.5, y + 0.5);
        labels[y * S + x] = s.cls;
        inst[y * S + x] = id;
      }
    scene.shapes.push_back(s);
  }

  // The main class: the shape with the most visible pixels (ties: the earlier shape).
  std::vector<int64_t> visible(scene.shapes.size(), 0);
  for (int64_t v : inst)
    if (v >= 0) visible[v]++;
  int64_t best = -1;
  for (size_t k = 0; k < visible.size(); ++k)
    if (visible[k] > 0 && (best < 0 || visible[k] > visible[best])) best = (int64_t)k;
  scene.main_class = best < 0 ? 0 : scene.shapes[best].cls;

  scene.image = Tensor::empty({3, S, S}, DType::F32);
  scene.depth = Tensor::empty({1, S, S}, DType::F32);
  scene.labels = Tensor::from_vector(labels, {S, S});
  scene.instance = Tensor::from_vector(inst, {S, S});
  for (int64_t q = 0; q < 3 * P; ++q) scene.image.data<float>()[q] = (float)rgb[q];
  for (int64_t q = 0; q < P; ++q) scene.depth.data<float>()[q] = (float)depth[q];
  return scene;
}

namespace {

class SceneDataset : public Dataset {
 public:
  SceneDataset(int64_t n, SceneOptions o, uint64_t seed)
      : n_(n), o_(std::move(o)), seed_(seed) {
    desc_ = "scenes:" + std::to_string(n) + ":" + std::to_string(o_.size) + " (" + o_.task +
            ", seed " + std::to_string(seed) + ")";
  }
  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return o_.task == "depth" ? 0 : kSceneClasses; }
  std::string describe() const override { return desc_; }
  int64_t label(int64_t i) const override {
    check(i);
    return o_.task == "classification" ? render_scene(o_, seed_, i).main_class : -1;
  }
  Example get(int64_t i) const override {
    check(i);
    Scene s = render_scene(o_, seed_, i);
    Example e;
    e.image = s.image;
    if (o_.task == "classification") e.label = s.main_class;
    else e.target = o_.task == "depth" ? s.depth : s.labels;
    return e;
  }

 private:
  void check(int64_t i) const {
    check_index(i);
  }
  int64_t n_;
  SceneOptions o_;
  uint64_t seed_;
  std::string desc_;
};

}  // namespace

DatasetPtr synthetic_scenes(int64_t n, const SceneOptions& o, uint64_t seed) {
  check_options(o);
  if (n < 1) throw Error("synthetic_scenes: n must be >= 1, got " + std::to_string(n));
  return std::make_shared<SceneDataset>(n, o, seed);
}

}  // namespace vt::data
