// test_coco_eval.cpp — COCO mask RLEs and the COCO AP / AR evaluator (tasks/instance/): masks,
// strings, polygons and IoU worked out by hand, every malformed input's error, the evaluator on
// hand-computed precision / recall curves, and both against the numpy restatement of the COCO
// API (tests/reference/coco_eval.py -> tests/fixtures/coco_eval/cases.json).
#include <cmath>
#include <fstream>
#include <limits>

#include "tasks/instance/coco_eval.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;
using namespace vt::instance;
using json = nlohmann::json;

namespace {

// Row-major 0/1 mask from rows of '0' / '1'.
std::vector<uint8_t> mask_of(const std::vector<std::string>& rows) {
  std::vector<uint8_t> m;
  for (const std::string& r : rows)
    for (char c : r) m.push_back(c == '1');
  return m;
}

GtObject gt_box(Box b, int64_t cat = 1, bool crowd = false) {
  GtObject g;
  g.category = cat, g.bbox = b, g.area = b[2] * b[3], g.iscrowd = crowd;
  return g;
}

Detection dt_box(Box b, double score, int64_t cat = 1) {
  Detection d;
  d.category = cat, d.score = score, d.bbox = b;
  return d;
}

CocoStats eval_boxes(const std::vector<EvalImage>& images, std::vector<int64_t> cats = {}) {
  return coco_evaluate(images, IouType::Bbox, std::move(cats));
}

Approx near(double v) { return Approx(v).margin(1e-12); }

json load_cases() {
  std::ifstream f(std::string(VT_FIXTURE_DIR) + "/coco_eval/cases.json");
  REQUIRE(f.good());
  return json::parse(f);
}

}  // namespace

TEST_CASE("RLE of a hand-made mask: counts, box, area, string and back", "[instance]") {
  // Column-major: column 0 = 000, 1 = 110, 2 = 111, 3 = 000 -> runs 3 zeros, 2 ones, 1, 3, 3.
  const std::vector<uint8_t> m = mask_of({"0110", "0110", "0010"});
  const Rle r = rle_encode(m, 3, 4);
  CHECK(r.counts == std::vector<uint32_t>{3, 2, 1, 3, 3});
  CHECK(rle_decode(r) == m);
  CHECK(rle_area(r) == 5);
  CHECK(rle_to_bbox(r) == Box{1, 0, 2, 3});
  // Counts 3, 2, 1 as they are, then 3 - 2 = 1 and 3 - 1 = 2: one character each, '0' + value.
  CHECK(rle_to_string(r) == "32112");
  CHECK(rle_from_string("32112", 3, 4).counts == r.counts);
  CHECK(rle_to_json(r) == json{{"size", {3, 4}}, {"counts", "32112"}});

  CHECK(rle_encode(mask_of({"11", "11"}), 2, 2).counts == std::vector<uint32_t>{0, 4});
  CHECK(rle_encode(mask_of({"00", "00"}), 2, 2).counts == std::vector<uint32_t>{4});
  CHECK(rle_encode(nullptr, 0, 5).counts == std::vector<uint32_t>{0});
  CHECK(rle_to_bbox(rle_encode(mask_of({"00", "00"}), 2, 2)) == Box{0, 0, 0, 0});
  CHECK(rle_decode(Rle{0, 3, {0}}).empty());

  // Longer numbers, worked out by hand (5-bit groups, low first; 0x20 = more; 0x10 of the last
  // group = negative): 100 = 3·32 + 4 -> '0'+(4|32) = 'T', '0'+3 = '3'; 50 = 32 + 18 -> 18 has
  // bit 0x10, so a group 1 follows: 'b', '1'; 60 - 100 = -40 -> low group 24 ('h' with 0x20),
  // then -2 -> group 30, and -2 >> 5 = -1 ends it: 'N'.
  const Rle big{10, 21, {0, 100, 50, 60}};
  CHECK(rle_to_string(big) == "0T3b1hN");
  CHECK(rle_from_string("0T3b1hN", 10, 21).counts == big.counts);
  // The largest mask: one run of 2^31 ones.
  const Rle full{65536, 32768, {0, 2147483648u}};
  CHECK(rle_from_string(rle_to_string(full), 65536, 32768).counts == full.counts);
  CHECK(rle_area(full) == (int64_t(1) << 31));
}

TEST_CASE("RLE merge, polygons and IoU by hand", "[instance]") {
  const Rle left = rle_encode(mask_of({"1100", "1100", "1100", "1100"}), 4, 4);
  const Rle top = rle_encode(mask_of({"1111", "1111", "0000", "0000"}), 4, 4);
  CHECK(rle_area(rle_merge({left, top})) == 12);
  CHECK(rle_decode(rle_merge({left, top}, true)) == mask_of({"1100", "1100", "0000", "0000"}));
  CHECK(rle_merge({left}).counts == left.counts);
  // IoU 4 / 12; against a crowd region 4 / (detection area 8).
  const std::vector<double> o = rle_iou({left, left}, {top, left}, {true, false});
  REQUIRE(o.size() == 4);
  CHECK(o[0] == 0.5);
  CHECK(o[1] == 1.0);
  CHECK(rle_iou({left}, {top}, {}) == std::vector<double>{4.0 / 12.0});
  const Rle none = rle_encode(mask_of({"0000", "0000", "0000", "0000"}), 4, 4);
  CHECK(rle_iou({none}, {top}, {true}) == std::vector<double>{0.0});

  // Boxes: overlap 5×10 = 50 of union 150; crowd: 50 / 100; touching edges: 0.
  const Box a{5, 0, 10, 10}, b{0, 0, 10, 10}, touching{10, 0, 10, 10};
  CHECK(coco_box_iou({a}, {b}, {}) == std::vector<double>{50.0 / 150.0});
  CHECK(coco_box_iou({a}, {b}, {true}) == std::vector<double>{0.5});
  CHECK(coco_box_iou({touching}, {b}, {}) == std::vector<double>{0.0});

  // A rectangle with integer corners covers exactly the pixels inside it, in either winding.
  const Rle sq = rle_from_polygon({2, 2, 2, 8, 8, 8, 8, 2}, 10, 12);
  CHECK(rle_area(sq) == 36);
  CHECK(rle_to_bbox(sq) == Box{2, 2, 6, 6});
  CHECK(rle_from_polygon({2, 2, 8, 2, 8, 8, 2, 8}, 10, 12).counts == sq.counts);
  // Two overlapping squares of one object: their union, 36 + 36 - 9.
  const Rle two =
      rle_from_polygons({{2, 2, 2, 8, 8, 8, 8, 2}, {5, 5, 5, 11, 11, 11, 11, 5}}, 12, 12);
  CHECK(rle_area(two) == 63);
  CHECK(rle_to_bbox(two) == Box{2, 2, 9, 9});
  // Beyond the image: clipped.
  CHECK(rle_area(rle_from_polygon({-5, -5, -5, 3, 3, 3, 3, -5}, 10, 10)) == 9);
  CHECK(rle_from_polygon({1, 1, 1, 1, 1, 1}, 4, 4).counts == std::vector<uint32_t>{16});
  CHECK(rle_from_json(json::array({{2, 2, 2, 8, 8, 8, 8, 2}}), 10, 12).counts == sq.counts);
  CHECK(rle_from_json(json{{"size", {4, 4}}, {"counts", {0, 8, 8}}}, 4, 4).counts == left.counts);
}

TEST_CASE("RLE errors name what is wrong", "[instance]") {
  using Catch::Contains;
  CHECK_THAT(error_of([] { rle_decode(Rle{2, 2, {1, 2}}); }),
             Contains("sum to 3, not h·w = 2x2 = 4"));
  CHECK_THAT(error_of([] { rle_area(Rle{2, 2, {1, 2, 3}}); }), Contains("rle_area"));
  CHECK_THAT(error_of([] { rle_encode(nullptr, -1, 3); }), Contains("negative mask size -1x3"));
  CHECK_THAT(error_of([] { rle_to_bbox(Rle{65536, 32769, {}}); }), Contains("more than 2^31"));
  CHECK_THAT(error_of([] { rle_encode(std::vector<uint8_t>(5), 2, 3); }), Contains("5 mask bytes"));
  CHECK_THAT(error_of([] { rle_encode(nullptr, 2, 3); }), Contains("no mask data"));

  CHECK_THAT(error_of([] { rle_from_string("32 12", 3, 4); }), Contains("bad character ' '"));
  CHECK_THAT(error_of([] { rle_from_string("32~", 3, 4); }), Contains("position 2"));
  CHECK_THAT(error_of([] { rle_from_string("3T", 3, 4); }), Contains("ends inside count 1"));
  CHECK_THAT(error_of([] { rle_from_string("TTTTTTT3", 3, 4); }), Contains("overflows"));
  CHECK_THAT(error_of([] { rle_from_string("N", 3, 4); }), Contains("decodes to -2"));
  CHECK_THAT(error_of([] { rle_from_string("32112", 3, 3); }), Contains("sum to 12"));
  CHECK_THAT(error_of([] { rle_from_string("", 3, 3); }), Contains("sum to 0"));

  CHECK_THAT(error_of([] { rle_from_polygon({1, 2, 3, 4, 5, 6, 7}, 9, 9); }), Contains("odd number"));
  CHECK_THAT(error_of([] { rle_from_polygon({1, 2, 3, 4}, 9, 9); }), Contains("at least 3 points"));
  CHECK_THAT(error_of([] { rle_from_polygon({1, 2, 3, NAN, 5, 6}, 9, 9); }), Contains("coordinate 3"));
  CHECK_THAT(error_of([] { rle_from_polygon({0, 0, 1e7, 0, 0, 1e7}, 9, 9); }), Contains("limit 2^26"));
  CHECK_THAT(error_of([] { rle_from_polygon({0, 0, 1, 0, 0, 1}, 1 << 20, 1 << 20); }),
             Contains("2^31"));
  CHECK_THAT(error_of([] { rle_from_polygons({}, 9, 9); }), Contains("at least one polygon"));
  CHECK_THAT(error_of([] { rle_from_polygons({{0, 0, 1, 0, 0, 1}, {1, 2}}, 9, 9); }),
             Contains("polygon 1"));

  CHECK_THAT(error_of([] { rle_merge({}); }), Contains("no masks"));
  CHECK_THAT(error_of([] { rle_merge({Rle{2, 2, {4}}, Rle{2, 3, {6}}}); }), Contains("mask 1 is 2x3"));
  CHECK_THAT(error_of([] { rle_iou({Rle{2, 2, {0, 4}}}, {Rle{2, 3, {0, 6}}}, {}); }),
             Contains("ground-truth mask 0 is 2x3"));
  CHECK_THAT(error_of([] { rle_iou({}, {Rle{2, 2, {4}}}, {true, false}); }),
             Contains("2 crowd flags for 1"));
  CHECK_THAT(error_of([] { coco_box_iou({{0, 0, NAN, 1}}, {}, {}); }), Contains("detection box 0"));

  CHECK_THAT(error_of([] { rle_from_json(json{{"size", {2, 2}}}, 2, 2); }),
             Contains("a segmentation is a list of polygons or"));
  CHECK_THAT(error_of([] { rle_from_json(json{{"size", {2, 3}}, {"counts", "6"}}, 2, 2); }),
             Contains("the mask is 2x3, the image 2x2"));
  CHECK_THAT(error_of([] { rle_from_json(json{{"size", {2, 2}}, {"counts", {1, -3}}}, 2, 2); }),
             Contains("run 1 (-3)"));
  CHECK_THAT(error_of([] { rle_from_json(json{{"size", {2, 2}}, {"counts", {1, 2}}}, 2, 2); }),
             Contains("sum to 3"));
  CHECK_THAT(error_of([] { rle_from_json(json::array({{0, 0, "a", 1, 2, 2}}), 4, 4); }),
             Contains("non-number"));
}

TEST_CASE("COCO AP / AR on hand-computed curves", "[instance]") {
  const double eps = std::numeric_limits<double>::epsilon();
  SECTION("a perfect detection: precision 1 / (1 + ε) everywhere, AR 1") {
    const std::vector<EvalImage> imgs = {
        {{gt_box({10, 10, 20, 20})}, {dt_box({10, 10, 20, 20}, 0.9)}}};
    const CocoCurves c = coco_accumulate(imgs, IouType::Bbox);
    CHECK(c.precision_at(0, 0, 0, 0, 2) == 1.0 / (1.0 + eps));
    const CocoStats s = coco_summarize(c);
    CHECK(s.ap == near(1));
    CHECK(s.ap50 == near(1));
    CHECK(s.ap_small == near(1));  // area 400 < 32²
    CHECK(s.ap_medium == -1);
    CHECK(s.ap_large == -1);
    CHECK(s.ar1 == 1);
    CHECK(s.ar_small == 1);
    CHECK(s.ar_large == -1);
  }
  SECTION("a shifted box passes the thresholds up to its IoU") {
    // IoU 90 / 110 = 0.818: passes 0.50 .. 0.80, 7 of 10; IoU 80 / 120 = 0.667: 4 of 10.
    CocoStats s = eval_boxes({{{gt_box({0, 0, 10, 10})}, {dt_box({1, 0, 10, 10}, 0.9)}}});
    CHECK(s.ap == near(0.7));
    CHECK(s.ap50 == near(1));
    CHECK(s.ap75 == near(1));
    CHECK(s.ar100 == near(0.7));
    s = eval_boxes({{{gt_box({0, 0, 10, 10})}, {dt_box({2, 0, 10, 10}, 0.9)}}});
    CHECK(s.ap == near(0.4));
    CHECK(s.ap75 == 0);
    CHECK(s.ar100 == near(0.4));
  }
  SECTION("a duplicate detection is a false positive") {
    // A (0.9), its duplicate (0.8), B (0.7): TP, FP, TP; recall .5 .5 1, precision 1 .5 2/3 ->
    // 1 .667 .667 from the right: recall points 0 .. 0.50 read 1, 0.51 .. 1 read 2/3.
    const std::vector<EvalImage> imgs = {{{gt_box({0, 0, 10, 10}), gt_box({50, 50, 10, 10})},
                                          {dt_box({0, 0, 10, 10}, 0.9), dt_box({0, 0, 10, 10}, 0.8),
                                           dt_box({50, 50, 10, 10}, 0.7)}}};
    const CocoStats s = eval_boxes(imgs);
    CHECK(s.ap == near((51 + 50 * 2.0 / 3.0) / 101));
    CHECK(s.ap75 == near(253.0 / 303.0));
    CHECK(s.ar100 == 1);
    // Behind the true one a duplicate costs nothing: precision 1 up to recall 1.
    const Box b{0, 0, 10, 10};
    CHECK(eval_boxes({{{gt_box(b)}, {dt_box(b, 0.9), dt_box(b, 0.8)}}}).ap == near(1));
  }
  SECTION("a detection on a crowd region is neither TP nor FP") {
    // Two detections inside the crowd region: both match it (it can be taken again).
    EvalImage img{{gt_box({0, 0, 10, 10}), gt_box({100, 100, 50, 50}, 1, true)},
                  {dt_box({110, 110, 10, 10}, 0.95), dt_box({0, 0, 10, 10}, 0.9),
                   dt_box({120, 120, 10, 10}, 0.97)}};
    CocoStats s = eval_boxes({img});
    CHECK(s.ap == near(1));
    CHECK(s.ar100 == 1);  // the crowd region is not a missed object
    // The two away from the crowd region: FPs ranked first, precision 0, 0, then 1/3.
    img.dt[0].bbox = {300, 300, 10, 10}, img.dt[2].bbox = {400, 300, 10, 10};
    s = eval_boxes({img});
    CHECK(s.ap == near(1.0 / 3.0));
  }
  SECTION("a detection on an image without ground truth is an FP of its category") {
    std::vector<EvalImage> imgs = {{{gt_box({0, 0, 10, 10})}, {dt_box({0, 0, 10, 10}, 0.8)}},
                                   {{}, {dt_box({5, 5, 10, 10}, 0.9)}},
                                   {{}, {}}};
    CHECK(eval_boxes(imgs).ap == near(0.5));
    imgs[1].dt[0].score = 0.7;  // ranked after the TP: precision 1 up to recall 1
    CHECK(eval_boxes(imgs).ap == near(1));
  }
  SECTION("a category without ground truth is left out; -1 when nothing is left") {
    const Detection cat1 = dt_box({0, 0, 10, 10}, 0.8, 1), cat2 = dt_box({40, 0, 10, 10}, 0.9, 2);
    const std::vector<EvalImage> imgs = {{{gt_box({0, 0, 10, 10}, 1)}, {cat1, cat2}}};
    CHECK(eval_boxes(imgs, {1, 2}).ap == near(1));
    CHECK(eval_boxes(imgs).ap == near(1));  // categories of the ground truth: {1}
    const CocoStats none = eval_boxes(imgs, {2});
    for (double v : none.values()) CHECK(v == -1);
    // Category 3 has ground truth but no detection: AP 0, averaged in.
    std::vector<EvalImage> more = imgs;
    more[0].gt.push_back(gt_box({70, 70, 10, 10}, 3));
    CHECK(eval_boxes(more).ap == near(0.5));
    CHECK(eval_boxes(more).ar100 == near(0.5));
  }
  SECTION("area ranges") {
    // Small (100), medium (2500) and large (14400) objects; the large one is missed.
    EvalImage img{{gt_box({0, 0, 10, 10}), gt_box({100, 0, 50, 50}), gt_box({200, 0, 120, 120})},
                  {dt_box({0, 0, 10, 10}, 0.9), dt_box({100, 0, 50, 50}, 0.8)}};
    CocoStats s = eval_boxes({img});
    CHECK(s.ap == near(67.0 / 101.0));  // recall reaches 2/3: points 0 .. 0.66
    CHECK(s.ap_small == near(1));       // the medium detection matches an ignored object
    CHECK(s.ap_medium == near(1));
    CHECK(s.ap_large == 0);
    CHECK(s.ar100 == near(2.0 / 3.0));
    CHECK(s.ar_small == 1);
    CHECK(s.ar_large == 0);
    // An unmatched large FP ranked first: in "all" precision 0, 1/2, 2/3 -> 2/3 up to recall 2/3;
    // for small objects it lies outside the range and is ignored.
    img.dt.push_back(dt_box({500, 500, 110, 110}, 0.99));
    s = eval_boxes({img});
    CHECK(s.ap == near(67.0 * 2.0 / 3.0 / 101.0));
    CHECK(s.ap_small == near(1));
    CHECK(s.ap_medium == near(1));
  }
  SECTION("maxDets, ties across images and the cap of 100 detections") {
    const std::vector<EvalImage> two = {{{gt_box({0, 0, 10, 10}), gt_box({50, 0, 10, 10})},
                                         {dt_box({0, 0, 10, 10}, 0.9), dt_box({50, 0, 10, 10}, 0.8)}}};
    CHECK(eval_boxes(two).ar1 == 0.5);
    CHECK(eval_boxes(two).ar10 == 1);
    // Equal scores keep the images' order: FP then TP (precision 1/2 up to recall 1/2), or TP
    // then FP (precision 1 up to recall 1/2).
    std::vector<EvalImage> tie = {{{gt_box({0, 0, 10, 10})}, {dt_box({60, 60, 10, 10}, 0.5)}},
                                  {{gt_box({0, 0, 10, 10})}, {dt_box({0, 0, 10, 10}, 0.5)}}};
    CHECK(eval_boxes(tie).ap == near(25.5 / 101));
    std::swap(tie[0], tie[1]);
    CHECK(eval_boxes(tie).ap == near(51.0 / 101));
    // 99 FPs above the TP: it is the 100th, precision 1/100 at recall 1; with 100 it is cut.
    EvalImage busy{{gt_box({0, 0, 10, 10})}, {dt_box({0, 0, 10, 10}, 0.5)}};
    for (int i = 0; i < 99; ++i) busy.dt.push_back(dt_box({100.0 + 20 * i, 0, 10, 10}, 0.9));
    CocoStats s = eval_boxes({busy});
    CHECK(s.ap == near(0.01));
    CHECK(s.ar100 == 1);
    CHECK(s.ar10 == 0);
    busy.dt.push_back(dt_box({-100, 0, 10, 10}, 0.9));
    s = eval_boxes({busy});
    CHECK(s.ap == 0);
    CHECK(s.ar100 == 0);
  }
  SECTION("masks: mask IoU and mask area, the boxes unused") {
    const int64_t H = 20, W = 20;
    auto square = [&](int64_t y0, int64_t x0, int64_t n) {
      std::vector<uint8_t> m(H * W, 0);
      for (int64_t y = y0; y < y0 + n; ++y)
        for (int64_t x = x0; x < x0 + n; ++x) m[y * W + x] = 1;
      return rle_encode(m, H, W);
    };
    GtObject g = gt_box({0, 0, 10, 10}), crowd = gt_box({0, 10, 20, 10}, 1, true);
    g.mask = square(0, 0, 10), crowd.mask = rle_merge({square(10, 0, 10), square(10, 10, 10)});
    Detection shifted = dt_box({0, 0, 1, 1}, 0.9), on_crowd = dt_box({0, 0, 1, 1}, 0.95);
    shifted.mask = square(0, 1, 10), on_crowd.mask = square(12, 12, 2);
    const CocoStats s = coco_evaluate({{{g, crowd}, {shifted, on_crowd}}}, IouType::Segm);
    CHECK(s.ap == near(0.7));  // IoU 90 / 110 as the shifted box above
    CHECK(s.ar100 == near(0.7));
    CHECK(eval_boxes({{{g, crowd}, {shifted, on_crowd}}}).ap == 0);  // their boxes miss
  }
  SECTION("names, and bad input") {
    CocoStats s;
    s.ap = 0.25, s.ar_large = 0.5;
    const json j = s.to_json();
    CHECK(j.size() == 12);
    CHECK(j["AP"] == 0.25);
    CHECK(j["ARl"] == 0.5);
    CHECK(j["AP50"] == -1);
    CHECK(std::string(kCocoStatNames[8]) == "AR100");
    CHECK(kIouThresholds[5] == 0.75);
    CHECK_THAT(error_of([] { eval_boxes({{{}, {dt_box({0, 0, 1, 1}, NAN)}}}); }),
               Catch::Contains("image 0, detection 0: the score is not finite"));
    CHECK_THAT(error_of([] { coco_evaluate({{{gt_box({0, 0, 1, 1})}, {}}}, IouType::Segm); }),
               Catch::Contains("image 0, ground truth 0: no mask"));
    GtObject g = gt_box({0, 0, 1, 1});
    Detection d = dt_box({0, 0, 1, 1}, 0.5);
    g.mask = Rle{2, 2, {4}}, d.mask = Rle{3, 3, {9}};
    CHECK_THAT(error_of([&] { coco_evaluate({{{}, {}}, {{g}, {d}}}, IouType::Segm); }),
               Catch::Contains("image 1, category 1: rle_iou"));
  }
}

TEST_CASE("RLE, polygons and COCO AP match the numpy reference", "[instance]") {
  const json cases = load_cases();
  for (const json& c : cases["masks"]) {
    const int64_t h = c["h"], w = c["w"];
    std::vector<uint8_t> m;
    for (char ch : c["mask"].get<std::string>()) m.push_back(ch == '1');
    const Rle r = rle_encode(m, h, w);
    CHECK(r.counts == c["counts"].get<std::vector<uint32_t>>());
    CHECK(rle_to_string(r) == c["string"]);
    CHECK(rle_from_string(c["string"], h, w).counts == r.counts);
    CHECK(rle_decode(r) == m);
    CHECK(rle_area(r) == c["area"]);
    CHECK(rle_to_bbox(r) == c["bbox"].get<Box>());
  }
  for (const json& c : cases["strings"]) {
    const Rle r{c["h"].get<int64_t>(), c["w"].get<int64_t>(),
                c["counts"].get<std::vector<uint32_t>>()};
    CHECK(rle_to_string(r) == c["string"]);
    CHECK(rle_from_string(c["string"], r.h, r.w).counts == r.counts);
  }
  size_t polygons = 0;
  for (const json& c : cases["polygons"]) {
    const int64_t h = c["h"], w = c["w"];
    const auto polys = c["polygons"].get<std::vector<std::vector<double>>>();
    for (size_t i = 0; i < polys.size(); ++i, ++polygons) {
      INFO("polygon " << c["polygons"][i].dump() << " in " << h << "x" << w);
      CHECK(rle_to_string(rle_from_polygon(polys[i], h, w)) == c["parts"][i]);
    }
    const Rle r = rle_from_polygons(polys, h, w);
    CHECK(rle_to_string(r) == c["counts"]);
    CHECK(rle_area(r) == c["area"]);
    CHECK(rle_to_bbox(r) == c["bbox"].get<Box>());
  }
  CHECK(polygons > 150);
  for (const json& c : cases["iou"]) {
    const int64_t h = c["h"], w = c["w"];
    std::vector<Rle> dt, gt;
    for (const json& s : c["dt"]) dt.push_back(rle_from_string(s, h, w));
    for (const json& s : c["gt"]) gt.push_back(rle_from_string(s, h, w));
    const auto crowd = c["iscrowd"].get<std::vector<bool>>();
    const std::vector<double> o = rle_iou(dt, gt, crowd);
    const std::vector<double> ob = coco_box_iou(c["dt_boxes"].get<std::vector<Box>>(),
                                                c["gt_boxes"].get<std::vector<Box>>(), crowd);
    for (size_t d = 0; d < dt.size(); ++d)
      for (size_t g = 0; g < gt.size(); ++g) {
        CHECK(o[d * gt.size() + g] == c["iou"][d][g].get<double>());
        CHECK(ob[d * gt.size() + g] == c["box_iou"][d][g].get<double>());
      }
  }
  REQUIRE(cases["eval"].size() >= 6);
  for (const json& c : cases["eval"]) {
    std::vector<EvalImage> images;
    for (const json& im : c["images"]) {
      const int64_t h = im["h"], w = im["w"];
      EvalImage e;
      for (const json& o : im["gt"]) {
        GtObject g;
        g.category = o["category"], g.bbox = o["bbox"].get<Box>(), g.area = o["area"];
        g.iscrowd = o["iscrowd"].get<int>() != 0;
        g.mask = rle_from_json(o["segmentation"], h, w);
        e.gt.push_back(g);
      }
      for (const json& o : im["dt"]) {
        Detection d;
        d.category = o["category"], d.score = o["score"], d.bbox = o["bbox"].get<Box>();
        d.mask = rle_from_json(o["segmentation"], h, w);
        e.dt.push_back(d);
      }
      images.push_back(std::move(e));
    }
    const auto cats = c["categories"].get<std::vector<int64_t>>();
    for (const char* type : {"bbox", "segm"}) {
      const auto want = c[type].get<std::vector<double>>();
      const CocoStats s =
          coco_evaluate(images, std::string(type) == "bbox" ? IouType::Bbox : IouType::Segm, cats);
      const std::array<double, 12> got = s.values();
      for (size_t i = 0; i < 12; ++i) {
        INFO(c["name"].get<std::string>() << " " << type << " " << kCocoStatNames[i]);
        CHECK(std::fabs(got[i] - want[i]) <= 1e-12);
      }
    }
  }
}
