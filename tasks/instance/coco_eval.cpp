// coco_eval.cpp — COCOeval's per-image matching, accumulation and summary (see coco_eval.h).
#include "tasks/instance/coco_eval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "engine/dtype.h"

namespace vt::instance {

const std::array<double, kIouSteps> kIouThresholds = {0.5,  0.55, 0.6,  0.65, 0.7,
                                                      0.75, 0.8,  0.85, 0.8999999999999999, 0.95};
const std::array<int64_t, kMaxDetSteps> kMaxDets = {1, 10, 100};
const std::array<std::array<double, 2>, kAreaRanges> kAreaRangeBounds = {
    {{0.0, 1e10}, {0.0, 32.0 * 32.0}, {32.0 * 32.0, 96.0 * 96.0}, {96.0 * 96.0, 1e10}}};
const std::array<const char*, 12> kCocoStatNames = {"AP",  "AP50", "AP75", "APs",   "APm", "APl",
                                                    "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};

std::array<double, 12> CocoStats::values() const {
  return {ap,  ap50, ap75,  ap_small, ap_medium, ap_large,
          ar1, ar10, ar100, ar_small, ar_medium, ar_large};
}

nlohmann::json CocoStats::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  const std::array<double, 12> v = values();
  for (size_t i = 0; i < v.size(); ++i) j[kCocoStatNames[i]] = v[i];
  return j;
}

namespace {

constexpr int T = kIouSteps, R = kRecallSteps, A = kAreaRanges, M = kMaxDetSteps;

// One image, category and area range after matching (COCOeval's evaluateImg).
struct ImageEval {
  std::vector<double> scores;    // the detections by score, at most 100
  std::vector<uint8_t> matched;  // [t · D + d]
  std::vector<uint8_t> ignored;  // [t · D + d]
  int64_t counted_gt = 0;        // ground truth that is not ignored
};

bool outside(double area, const std::array<double, 2>& range) {
  return area < range[0] || area > range[1];
}

// gt in the caller's order; iou[d · G + g] over the score-sorted detections, dt_area likewise.
ImageEval evaluate_image(const std::vector<const GtObject*>& gt, const std::vector<double>& scores,
                         const std::vector<double>& dt_area, const std::vector<double>& iou,
                         const std::array<double, 2>& range) {
  const size_t G = gt.size(), D = scores.size();
  std::vector<uint8_t> ignore(G);
  for (size_t g = 0; g < G; ++g) ignore[g] = gt[g]->iscrowd || outside(gt[g]->area, range);
  std::vector<size_t> order(G);  // ignored ground truth last, otherwise as given
  for (size_t g = 0; g < G; ++g) order[g] = g;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return ignore[a] < ignore[b]; });

  ImageEval e;
  e.scores = scores;
  e.matched.assign((size_t)T * D, 0);
  e.ignored.assign((size_t)T * D, 0);
  for (size_t g = 0; g < G; ++g) e.counted_gt += !ignore[g];
  if (G > 0 && D > 0)
    for (int t = 0; t < T; ++t) {
      std::vector<uint8_t> taken(G, 0);  // by sorted position
      for (size_t d = 0; d < D; ++d) {
        double best = std::min(kIouThresholds[t], 1 - 1e-10);
        int64_t m = -1;
        for (size_t p = 0; p < G; ++p) {
          const size_t g = order[p];
          if (taken[p] && !gt[g]->iscrowd) continue;            // taken, and not a crowd region
          if (m > -1 && !ignore[order[m]] && ignore[g]) break;  // a real match beats ignored ones
          if (iou[d * G + g] < best) continue;
          best = iou[d * G + g], m = (int64_t)p;
        }
        if (m < 0) continue;
        e.matched[t * D + d] = 1;
        e.ignored[t * D + d] = ignore[order[m]];
        taken[m] = 1;
      }
    }
  for (int t = 0; t < T; ++t)
    for (size_t d = 0; d < D; ++d)
      if (!e.matched[t * D + d] && outside(dt_area[d], range)) e.ignored[t * D + d] = 1;
  return e;
}

// COCOeval's accumulate for one category and area range: precision and recall per maxDets.
void accumulate(const std::vector<ImageEval>& E, size_t k, int a, CocoCurves& c) {
  if (E.empty()) return;
  const size_t K = c.categories.size();
  int64_t n_gt = 0;
  for (const ImageEval& e : E) n_gt += e.counted_gt;
  if (n_gt == 0) return;
  constexpr double kEps = std::numeric_limits<double>::epsilon();  // numpy's spacing(1)
  for (int m = 0; m < M; ++m) {
    struct Ref {
      double score;
      size_t e, d;
    };
    std::vector<Ref> pool;  // the first maxDets of each image, images in order
    for (size_t i = 0; i < E.size(); ++i)
      for (size_t d = 0; d < E[i].scores.size() && (int64_t)d < kMaxDets[m]; ++d)
        pool.push_back({E[i].scores[d], i, d});
    std::stable_sort(pool.begin(), pool.end(),
                     [](const Ref& x, const Ref& y) { return x.score > y.score; });
    const size_t nd = pool.size();
    std::vector<double> rc(nd), pr(nd);
    for (int t = 0; t < T; ++t) {
      double tp = 0, fp = 0;
      for (size_t i = 0; i < nd; ++i) {
        const ImageEval& e = E[pool[i].e];
        const size_t at = t * e.scores.size() + pool[i].d;
        if (!e.ignored[at]) (e.matched[at] ? tp : fp) += 1;
        rc[i] = tp / (double)n_gt;
        pr[i] = tp / (fp + tp + kEps);
      }
      c.recall[((t * K + k) * A + a) * M + m] = nd ? rc[nd - 1] : 0.0;
      for (size_t i = nd; i-- > 1;)  // non-increasing from the right
        if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
      for (int r = 0; r < R; ++r) {
        const size_t i = std::lower_bound(rc.begin(), rc.end(), r * 0.01) - rc.begin();
        c.precision[(((t * R + r) * K + k) * A + a) * M + m] = i < nd ? pr[i] : 0.0;
      }
    }
  }
}

// numpy's float64 sum (so the means agree with the reference to the last bit): pairwise, 8
// partial sums unrolled up to blocks of 128, over chunks of 8192 added in order.
double pairwise_sum(const double* a, size_t n) {
  if (n < 8) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += a[i];
    return s;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - n % 8; i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) s += a[i];
    return s;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

// Mean of the values above -1, or -1 when there are none.
double mean_present(const std::vector<double>& v) {
  std::vector<double> kept;
  for (double x : v)
    if (x > -1) kept.push_back(x);
  if (kept.empty()) return -1;
  double s = 0;
  for (size_t i = 0; i < kept.size(); i += 8192)
    s += pairwise_sum(kept.data() + i, std::min<size_t>(8192, kept.size() - i));
  return s / (double)kept.size();
}

std::string image_str(size_t i) { return "coco_evaluate: image " + std::to_string(i); }

void check_inputs(const std::vector<EvalImage>& images, IouType type) {
  auto finite_box = [](const Box& b) { return std::isfinite(b[0] + b[1] + b[2] + b[3]); };
  for (size_t i = 0; i < images.size(); ++i) {
    for (size_t j = 0; j < images[i].gt.size(); ++j) {
      const GtObject& g = images[i].gt[j];
      const std::string what = image_str(i) + ", ground truth " + std::to_string(j);
      if (!finite_box(g.bbox)) throw Error(what + ": the box is not finite");
      if (!std::isfinite(g.area)) throw Error(what + ": the area is not finite");
      if (type == IouType::Segm && g.mask.h * g.mask.w == 0)
        throw Error(what + ": no mask (" + std::to_string(g.mask.h) + "x" +
                    std::to_string(g.mask.w) + ") for segm evaluation");
    }
    for (size_t j = 0; j < images[i].dt.size(); ++j) {
      const Detection& d = images[i].dt[j];
      const std::string what = image_str(i) + ", detection " + std::to_string(j);
      if (!std::isfinite(d.score)) throw Error(what + ": the score is not finite");
      if (!finite_box(d.bbox)) throw Error(what + ": the box is not finite");
      if (type == IouType::Segm && d.mask.h * d.mask.w == 0)
        throw Error(what + ": no mask (" + std::to_string(d.mask.h) + "x" +
                    std::to_string(d.mask.w) + ") for segm evaluation");
    }
  }
}

}  // namespace

CocoCurves coco_accumulate(const std::vector<EvalImage>& images, IouType type,
                           std::vector<int64_t> categories) {
  check_inputs(images, type);
  if (categories.empty())
    for (const EvalImage& img : images)
      for (const GtObject& g : img.gt) categories.push_back(g.category);
  std::sort(categories.begin(), categories.end());
  categories.erase(std::unique(categories.begin(), categories.end()), categories.end());
  const size_t K = categories.size();
  CocoCurves c{categories, std::vector<double>((size_t)T * R * K * A * M, -1.0),
               std::vector<double>((size_t)T * K * A * M, -1.0)};
  auto index_of = [&](int64_t cat) -> int64_t {
    auto it = std::lower_bound(categories.begin(), categories.end(), cat);
    return it != categories.end() && *it == cat ? it - categories.begin() : -1;
  };

  std::vector<std::array<std::vector<ImageEval>, A>> evals(K);  // [k][a]: images in order
  for (size_t i = 0; i < images.size(); ++i) {
    using Group = std::pair<std::vector<const GtObject*>, std::vector<const Detection*>>;
    std::map<int64_t, Group> groups;  // by category index, objects in their order
    for (const GtObject& g : images[i].gt)
      if (index_of(g.category) >= 0) groups[index_of(g.category)].first.push_back(&g);
    for (const Detection& d : images[i].dt)
      if (index_of(d.category) >= 0) groups[index_of(d.category)].second.push_back(&d);
    for (auto& [k, group] : groups) {
      const std::vector<const GtObject*>& gt = group.first;
      std::vector<const Detection*>& dt = group.second;
      std::stable_sort(dt.begin(), dt.end(),
                       [](const Detection* x, const Detection* y) { return x->score > y->score; });
      if ((int64_t)dt.size() > kMaxDets.back()) dt.resize((size_t)kMaxDets.back());
      std::vector<double> scores, dt_area, iou;
      std::vector<bool> crowd;
      for (const GtObject* g : gt) crowd.push_back(g->iscrowd);
      try {
        if (type == IouType::Bbox) {
          std::vector<Box> db, gb;
          for (const Detection* d : dt)
            db.push_back(d->bbox), dt_area.push_back(d->bbox[2] * d->bbox[3]);
          for (const GtObject* g : gt) gb.push_back(g->bbox);
          iou = coco_box_iou(db, gb, crowd);
        } else {
          std::vector<Rle> dm, gm;
          for (const Detection* d : dt)
            dm.push_back(d->mask), dt_area.push_back((double)rle_area(d->mask));
          for (const GtObject* g : gt) gm.push_back(g->mask);
          iou = rle_iou(dm, gm, crowd);
        }
      } catch (const Error& e) {
        throw Error(image_str(i) + ", category " + std::to_string(categories[k]) + ": " + e.what());
      }
      for (const Detection* d : dt) scores.push_back(d->score);
      for (int a = 0; a < A; ++a)
        evals[k][a].push_back(evaluate_image(gt, scores, dt_area, iou, kAreaRangeBounds[a]));
    }
  }
  for (size_t k = 0; k < K; ++k)
    for (int a = 0; a < A; ++a) accumulate(evals[k][a], k, a, c);
  return c;
}

CocoStats coco_summarize(const CocoCurves& c) {
  const size_t K = c.categories.size();
  auto threshold = [](double v) {  // COCOeval picks it by equality
    for (int t = 0; t < T; ++t)
      if (kIouThresholds[t] == v) return t;
    return -1;
  };
  auto ap = [&](int t_only, int a) {
    std::vector<double> v;
    for (int t = 0; t < T; ++t)
      if (t_only < 0 || t == t_only)
        for (int r = 0; r < R; ++r)
          for (size_t k = 0; k < K; ++k) v.push_back(c.precision_at(t, r, k, a, M - 1));
    return mean_present(v);
  };
  auto ar = [&](int m, int a) {
    std::vector<double> v;
    for (int t = 0; t < T; ++t)
      for (size_t k = 0; k < K; ++k) v.push_back(c.recall_at(t, k, a, m));
    return mean_present(v);
  };
  CocoStats s;
  s.ap = ap(-1, 0), s.ap50 = ap(threshold(0.5), 0), s.ap75 = ap(threshold(0.75), 0);
  s.ap_small = ap(-1, 1), s.ap_medium = ap(-1, 2), s.ap_large = ap(-1, 3);
  s.ar1 = ar(0, 0), s.ar10 = ar(1, 0), s.ar100 = ar(2, 0);
  s.ar_small = ar(2, 1), s.ar_medium = ar(2, 2), s.ar_large = ar(2, 3);
  return s;
}

CocoStats coco_evaluate(const std::vector<EvalImage>& images, IouType type,
                        std::vector<int64_t> categories) {
  return coco_summarize(coco_accumulate(images, type, std::move(categories)));
}

}  // namespace vt::instance
