// instance_dataset.h — data sets for instance segmentation: examples are an image and its
// objects (data::Example::instances; tasks/data/dataset.h has the conventions).
//   read_coco.cpp               COCO's instances_*.json with its images
//   synthetic_instances.cpp     the synthetic scenes (tasks/dense/dense_data.h), each drawn shape
//                               an object, its mask what stays visible after occlusion
//   open_instance_dataset       the command line's specs
#pragma once
#include <string>
#include <vector>

#include "tasks/data/dataset.h"
#include "tasks/dense/dense_data.h"

namespace vt::instance {

// A data set whose examples carry instances; num_classes() = K object classes (labels 1..K).
struct InstanceDataset : data::Dataset {
  virtual std::vector<std::string> class_names() const = 0;  // K names, class k at k - 1
  int64_t label(int64_t) const override { return -1; }
};
using InstanceDatasetPtr = std::shared_ptr<const InstanceDataset>;

// COCO: the annotation file (instances_*.json: "images", "annotations", "categories") and the
// directory its images' file_name are relative to (a file_name may not be absolute or hold "..").
// Categories are renumbered 1..K in order of their ids; class_names() are their "name"s. An
// object's mask comes from its polygons or its RLE (compressed or not); its box is the
// annotation's bbox [x, y, w, h] as (x, y, x + w, y + h); an annotation whose bbox has w or h 0
// is left out (as torchvision's detection reference does), and so is one whose polygons all
// have fewer than 3 points (such polygons are dropped, as Detectron2 does); iscrowd regions are kept with
// crowd = 1 (training leaves them out, AP ignores detections on them). Every image of the file
// is an example, with or without objects. The file is parsed and checked up front (types,
// image sizes, category and image ids, ids unique, every image file present) and only compact
// per-image records are kept; images and masks are decoded in get() (thread-safe), which throws
// naming the image for a file that cannot be decoded or whose size differs from the annotation.
// read_coco.cpp lists the bounds on sizes and values.
InstanceDatasetPtr read_coco(const std::string& image_root, const std::string& annotations);

// n scenes as data::synthetic_scenes draws them (options.task is ignored): K = 5 shape classes;
// each shape is an object whose mask is its visible pixels (shapes drawn later occlude it) and
// whose box bounds that mask; a shape left with fewer than min_visible pixels is not an object.
InstanceDatasetPtr synthetic_instances(int64_t n, const data::SceneOptions& o, uint64_t seed,
                                       int64_t min_visible = 16);

// Specs as the command line writes them:
//   coco:ROOT:ANNOTATIONS    read_coco(ROOT, ANNOTATIONS) (ANNOTATIONS relative to ROOT, or absolute)
//   scenes:N[:SIZE]          synthetic_instances; train and eval sets use different seeds
// An unknown kind or a bad number throws naming the spec.
InstanceDatasetPtr open_instance_dataset(const std::string& spec, bool train);

}  // namespace vt::instance
