// test_detection.cpp — the detector's box arithmetic (tasks/instance/boxes.h) and anchors,
// matching and sampling (tasks/instance/anchors.h): against torchvision 0.14
// (tests/reference/detection.py -> tests/fixtures/detection.safetensors) and hand-computed cases.
#include <cmath>
#include <set>

#include "tasks/instance/anchors.h"
#include "tasks/instance/boxes.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;
using namespace vt::instance;

namespace {
Tensor boxes_of(std::vector<double> v) { return Tensor::from_vector(v, {(int64_t)v.size() / 4, 4}); }
std::vector<int64_t> ints(const Tensor& t) {
  Tensor c = t.to(DType::I64).contiguous();
  return std::vector<int64_t>(c.data<int64_t>(), c.data<int64_t>() + c.numel());
}
}  // namespace

TEST_CASE("box ops match torchvision", "[instance][detection][torch]") {
  Fixture fx("detection.safetensors");
  require_close(box_iou(fx.get("iou.a"), fx.get("iou.b")), fx.get("iou.out"), 1e-6, 1e-7, "box_iou");
  REQUIRE(ints(nms(fx.get("nms.boxes"), fx.get("nms.scores"), 0.5)) == ints(fx.get("nms.keep")));
  REQUIRE(ints(batched_nms(fx.get("batched_nms.boxes"), fx.get("batched_nms.scores"),
                           fx.get("batched_nms.classes"), 0.5)) == ints(fx.get("batched_nms.keep")));
  REQUIRE(ints(nms(fx.get("nms.boxes"), fx.get("nms.scores"), 0.5)).size() < 30);  // it suppressed
  require_close(clip_boxes(fx.get("clip.boxes"), 40, 50), fx.get("clip.out"), 0, 0, "clip_boxes");
  REQUIRE(ints(remove_small_boxes(fx.get("small.boxes"), 2.0)) == ints(fx.get("small.keep")));
  BoxCoder coder{{10, 10, 5, 5}};
  require_close(coder.encode(fx.get("coder.boxes"), fx.get("coder.reference")),
                fx.get("coder.encoded"), 1e-5, 1e-5, "BoxCoder::encode");
  Tensor decoded = coder.decode(fx.get("coder.deltas"), fx.get("coder.reference"));
  REQUIRE(decoded.shape() == Shape{9, 3, 4});
  require_close(decoded.reshape({9, 12}), fx.get("coder.decoded"), 1e-5, 1e-4, "BoxCoder::decode");
}

TEST_CASE("anchors and matching match torchvision", "[instance][detection][torch]") {
  Fixture fx("detection.safetensors");
  AnchorGenerator gen{{{32}, {64}}};
  require_close(gen.cell_anchors(0), fx.get("anchors.cell0"), 0, 0, "cell anchors, level 0");
  require_close(gen.cell_anchors(1), fx.get("anchors.cell1"), 0, 0, "cell anchors, level 1");
  Tensor a = gen.anchors({{16, 24}, {8, 12}}, 64, 96);
  REQUIRE(a.shape() == Shape{(16 * 24 + 8 * 12) * 3, 4});
  require_close(a, fx.get("anchors.out"), 0, 0, "anchors");
  Tensor iou = fx.get("matcher.iou");
  REQUIRE(Matcher{0.7, 0.3, true}(iou) == ints(fx.get("matcher.rpn")));
  REQUIRE(Matcher{0.5, 0.5, false}(iou) == ints(fx.get("matcher.roi")));
}

TEST_CASE("box ops by hand: IoU, NMS order and ties, coding round trip", "[instance][detection]") {
  // [0,0,2,2] and [1,1,3,3]: intersection 1, union 7
  Tensor iou = box_iou(boxes_of({0, 0, 2, 2}), boxes_of({1, 1, 3, 3, 0, 0, 0, 0}));
  REQUIRE(iou.data<double>()[0] == Approx(1.0 / 7.0));
  REQUIRE(iou.data<double>()[1] == 0.0);  // an empty box: no union, IoU 0 (not NaN)
  // Three boxes, the first two overlapping at IoU 9/11 > 0.5: the lower-scoring one goes.
  Tensor b = boxes_of({0, 0, 10, 10, 1, 0, 11, 10, 20, 20, 30, 30});
  Tensor s = Tensor::from_vector(std::vector<double>{0.6, 0.9, 0.7}, {3});
  REQUIRE(ints(nms(b, s, 0.5)) == std::vector<int64_t>{1, 2});
  REQUIRE(ints(nms(b, s, 0.9)) == std::vector<int64_t>{1, 2, 0});  // 9/11 < 0.9: all kept, by score
  // Different classes never suppress each other.
  Tensor cls = Tensor::from_vector(std::vector<int64_t>{0, 1, 0}, {3});
  REQUIRE(ints(batched_nms(b, s, cls, 0.5)) == std::vector<int64_t>{1, 2, 0});
  // Ties keep input order; a NaN score ranks last instead of breaking the sort.
  Tensor tied = Tensor::from_vector(std::vector<double>{0.5, NAN, 0.5}, {3});
  REQUIRE(ints(nms(b, tied, 0.95)) == std::vector<int64_t>{0, 2, 1});
  // Decoding what was encoded gives the boxes back.
  BoxCoder coder{{10, 10, 5, 5}};
  Tensor g = boxes_of({3, 4, 20, 9, -2, 0, 5, 40}), p = boxes_of({0, 0, 16, 16, 1, 2, 9, 30});
  require_close(coder.decode(coder.encode(g, p), p).reshape({2, 4}), g, 1e-12, 1e-12, "round trip");
  REQUIRE_THROWS_WITH(coder.decode(Tensor::zeros({2, 6}, DType::F64), p), Catch::Contains("(N, 4·K)"));
  REQUIRE_THROWS_WITH(box_iou(Tensor::zeros({2, 3}), p), Catch::Contains("box_iou") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(nms(b, Tensor::zeros({2}), 0.5), Catch::Contains("scores"));
}

TEST_CASE("balanced sampling: counts, fraction, seeds", "[instance][detection]") {
  std::vector<int64_t> labels;
  for (int i = 0; i < 300; ++i) labels.push_back(i % 10 == 0 ? 3 : i % 10 == 1 ? -1 : 0);  // 30 positives
  Generator gen(5);
  Sampled s = sample_balanced(labels, 64, 0.25, gen);
  REQUIRE(s.positive.size() == 16);
  REQUIRE(s.negative.size() == 48);
  for (int64_t i : s.positive) REQUIRE(labels[i] >= 1);
  for (int64_t i : s.negative) REQUIRE(labels[i] == 0);
  REQUIRE(std::is_sorted(s.positive.begin(), s.positive.end()));
  REQUIRE(std::set<int64_t>(s.negative.begin(), s.negative.end()).size() == 48);
  Sampled again = sample_balanced(labels, 64, 0.25, gen);
  REQUIRE(again.positive != s.positive);  // the generator moved on
  Generator same(5);
  REQUIRE(sample_balanced(labels, 64, 0.25, same).positive == s.positive);
  // Too few positives: the batch is filled with negatives; too few of both: all are taken.
  Sampled few = sample_balanced({1, 0, 0, -1, 0}, 64, 0.25, gen);
  REQUIRE(few.positive == std::vector<int64_t>{0});
  REQUIRE(few.negative == std::vector<int64_t>{1, 2, 4});
}
