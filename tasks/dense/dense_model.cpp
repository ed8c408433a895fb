// dense_model.cpp — backbone features, the dense forward, sliding windows (see dense_model.h).
#include "tasks/dense/dense_model.h"

#include <cstring>

#include "tasks/dense/dense_loss.h"

namespace vt::dense {

std::shared_ptr<DenseHead> attach_dense_head(nn::ImageModel& backbone, const DenseHeadConfig& cfg) {
  auto head = std::make_shared<DenseHead>(cfg, backbone.feature_map_channels());
  backbone.attach("decode_head", head);
  return head;
}

Tensor dense_forward(nn::ImageModel& backbone, DenseHead& head, const Tensor& images) {
  return head.forward(backbone.forward_feature_maps(images), images.size(2), images.size(3));
}

Tensor slide_inference(const std::function<Tensor(const Tensor&)>& fn, const Tensor& images,
                       int64_t crop, int64_t stride) {
  const int64_t B = images.size(0), H = images.size(2), W = images.size(3);
  if (crop <= 0 || stride <= 0) throw Error("slide_inference: crop and stride must be positive");
  if (H <= crop && W <= crop) return fn(images);
  // Window origins along one axis: every `stride`, the last one flush with the border.
  auto origins = [&](int64_t n) {
    std::vector<int64_t> o;
    if (n <= crop) return std::vector<int64_t>{0};
    for (int64_t s = 0;; s += stride) {
      o.push_back(std::min(s, n - crop));
      if (s + crop >= n) break;
    }
    return o;
  };
  Tensor acc, count = Tensor::zeros({1, 1, H, W});  // (B, K, H, W) sums, windows per pixel
  for (int64_t top : origins(H))
    for (int64_t left : origins(W)) {
      const int64_t h = std::min(crop, H), w = std::min(crop, W);
      Tensor out = fn(images.narrow(2, top, h).narrow(3, left, w)).to(Device::cpu()).contiguous();
      if (!acc.defined()) acc = Tensor::zeros({B, out.size(1), H, W});
      const int64_t K = out.size(1);
      const float* src = out.data<float>();
      float* dst = acc.data<float>();
      float* cnt = count.data<float>();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t k = 0; k < K; ++k)
          for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x)
              dst[((b * K + k) * H + top + y) * W + left + x] += src[((b * K + k) * h + y) * w + x];
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) cnt[(top + y) * W + left + x] += 1;
    }
  return div(acc, count).to(images.device());
}

tasks::TaskModel dense_task_model(nn::ImageModel& backbone, DenseHead& head, const DenseTaskOptions& o) {
  tasks::TaskModel m;
  m.module = &backbone;
  m.forward = [&backbone, &head](const Tensor& x) { return dense_forward(backbone, head, x); };
  if (o.slide_crop > 0) {
    const int64_t crop = o.slide_crop, stride = o.slide_stride > 0 ? o.slide_stride : o.slide_crop * 2 / 3;
    m.predict = [fwd = m.forward, crop, stride](const Tensor& x) { return slide_inference(fwd, x, crop, stride); };
  }
  if (head.cfg.task == "segmentation") {
    // The mean over labelled pixels; data-parallel ranks are weighted by their labelled pixels.
    auto labelled = [](const Tensor& y) {
      double n = 0;
      for (double v : y.to_vector()) n += v != (double)kIgnoreIndex;
      return n;
    };
    m.loss = [fwd = m.forward, labelled](const Tensor& x, const Tensor& y) {
      Tensor logits = fwd(x);
      return labelled(y) > 0 ? segmentation_loss(logits, y) : mul(sum(logits), 0.0);  // nothing labelled: 0
    };
    m.loss_count = [labelled](const data::Batch& b) { return labelled(b.targets); };
    m.metric = [k = head.cfg.num_classes] { return segmentation_metric(k); };
  } else {
    const double min_depth = o.depth.min_depth;
    // SILog's means over every data-parallel rank's pixels: each rank holds the global loss.
    m.loss = [fwd = m.forward, min_depth](const Tensor& x, const Tensor& y) {
      return silog_loss(fwd(x), y, min_depth, 0.85, 10.0, /*across_ranks=*/true);
    };
    m.loss_count = [](const data::Batch&) { return 1.0; };
    m.metric = [e = o.depth] { return depth_metric(e); };
  }
  return m;
}

}  // namespace vt::dense
