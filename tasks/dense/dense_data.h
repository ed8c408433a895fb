// dense_data.h — data sets for dense prediction: semantic segmentation and monocular depth.
//
// Target conventions (the dense heads, losses and metrics rely on them exactly):
//   image                (3, H, W) F32 in [0, 1], not normalised (normalisation is a transform)
//   segmentation target  (H, W) I64, values in [0, num_classes) or 255 = ignore
//   depth target         (1, H, W) F32 in metres, 0 = no measurement
// Example::label is -1 for dense examples (except the scenes' "classification" task).
//   read_ade20k.cpp      ADE20K (ADEChallengeData2016 layout), 150 classes
//   read_nyu.cpp         NYU Depth v2 as RGB + 16-bit depth PNG pairs listed in a split file
//   synthetic_scenes.cpp textured shapes on a textured ground plane, generated on demand
//   open_dense.cpp       open_dense_dataset(spec): the command line's names
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tasks/data/dataset.h"

namespace vt::data {

inline constexpr int64_t kIgnoreLabel = 255;  // segmentation pixels that count for nothing

// ROOT/images/{training,validation}/*.jpg with ROOT/annotations/{training,validation}/*.png of
// the same stem (8-bit, 1 channel), sorted by file name. mmseg's reduce_zero_label: 0 (other)
// -> 255, k -> k-1; num_classes() = 150. Pairing is checked up front; files are decoded in get(),
// which throws naming the file for an undecodable file, a mask that is not 1-channel or a mask
// whose size differs from its image.
DatasetPtr read_ade20k(const std::string& root, bool train);

// SPLIT_FILE: one "RGB_PATH DEPTH_PATH [FOCAL]" a line, relative to ROOT even with a leading '/'
// (BTS's splits; FOCAL, a number, is ignored; blank lines and # comments skipped). Depth is a 16-bit grey PNG in millimetres (depth_scale units per metre): metres =
// value / depth_scale, 0 stays 0 (no measurement). num_classes() = 0. Lines and file existence
// are checked up front; get() throws naming the split file, the line and the file for an image
// and depth of different sizes or a depth PNG that is not 16-bit.
DatasetPtr read_nyu(const std::string& root, const std::string& split_file,
                    double depth_scale = 1000.0);

// ---- synthetic scenes: a controllable stand-in for ADE20K / NYU ----
inline constexpr int64_t kSceneClasses = 6;       // background + 5 shapes
inline constexpr double kSceneMaxDepth = 10.0;    // the ground plane at the top row, metres
const std::vector<std::string>& scene_class_names();  // background disc square triangle ring cross

struct SceneOptions {
  int64_t size = 64;  // images are size x size
  int64_t min_shapes = 2, max_shapes = 4;
  std::string task = "segmentation";  // "segmentation" | "depth" | "classification"
  // Appearance correlated with the class, as in real scenes (grass is green, sky is blue):
  // each shape class has its own base colour (jittered), the ground is desaturated. Off: every
  // surface gets random colours and only geometry tells the classes apart (much harder).
  bool class_colours = true;
};

// One drawn shape: class in [1, 6), centre and radius in pixels, rotation, and its depth plane
// depth(x, y) = depth + tilt_x (x - cx) / radius + tilt_y (y - cy) / radius.
struct SceneShape {
  int64_t cls = 0;
  double cx = 0, cy = 0, radius = 0, angle = 0;
  double depth = 0, tilt_x = 0, tilt_y = 0;
  bool contains(double x, double y) const;    // the pixel centre (x, y) is on the shape
  double depth_at(double x, double y) const;  // the shape's depth plane there
};

// A whole scene: what the data set's examples are cut from (tests inspect it too).
struct Scene {
  Tensor image;     // (3, S, S) F32 in [0, 1]
  Tensor labels;    // (S, S) I64 class of the visible surface (0 = ground)
  Tensor depth;     // (1, S, S) F32 metres
  Tensor instance;  // (S, S) I64: -1 ground, k = shapes[k] visible
  std::vector<SceneShape> shapes;  // in drawing order (later ones occlude earlier ones)
  int64_t main_class = 0;  // the class of the shape with the most visible pixels
};

// Depth of the ground plane at row y of an S-row image: kSceneMaxDepth at the top row,
// 0.6 · kSceneMaxDepth at the bottom.
double scene_ground_depth(double y, int64_t size);
// Scene i of the set seeded with `seed`: a pure function of (options, seed, i).
Scene render_scene(const SceneOptions& o, uint64_t seed, int64_t i);
// n scenes rendered on demand in get(). num_classes(): 6 (segmentation, classification), 0 (depth).
DatasetPtr synthetic_scenes(int64_t n, const SceneOptions& o, uint64_t seed);

// "scenes:N[:SIZE]": returns N, sets o.size (if given) and the fixed seed of the train or the
// eval set (they differ); throws naming the spec.
int64_t parse_scenes_spec(const std::string& spec, bool train, SceneOptions& o, uint64_t& seed);

// Specs as the command line writes them:
//   ade20k:ROOT              read_ade20k(ROOT, train)                task segmentation
//   nyu:ROOT:SPLIT_FILE      read_nyu (SPLIT_FILE relative to ROOT, or absolute)   task depth
//   scenes:N[:SIZE]          synthetic_scenes; train and eval sets use different seeds
// task: "segmentation" | "depth" | "classification" (scenes only). A task that does not fit
// the data, an unknown kind or a bad number throws naming the spec.
DatasetPtr open_dense_dataset(const std::string& spec, bool train, const std::string& task);

}  // namespace vt::data
