// mlp.cpp — the smallest complete training program: an MLP learns to separate two spirals.
//
// Everything a real fine-tuning run uses is here in miniature: a seeded data set drawn with
// the engine's RNG, parameters initialised like torch.nn.Linear, AdamW with a no-decay group
// for biases, a warm-up + cosine learning-rate schedule, shuffled mini-batches (randperm),
// cross-entropy, backward, and an accuracy readout.  Run: ./build/examples/vitune-mlp-example
#include <cmath>
#include <cstdio>
#include <vector>

#include "engine/init.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/random.h"

using namespace vt;

// Two interleaved spirals, N points per class: x (2N, 2) F32, labels y (2N) I64.
static void make_spirals(int64_t n, Tensor& x, Tensor& y) {
  auto t = rand({2 * n}).to_vector();                  // position along the arm, in [0, 1)
  auto noise = randn({2 * n, 2}, 0.0, 0.02).to_vector();
  std::vector<float> pts(4 * n);
  std::vector<int64_t> labels(2 * n);
  for (int64_t i = 0; i < 2 * n; ++i) {
    const int64_t cls = i % 2;
    const double r = 0.1 + 0.9 * t[i], angle = 3.0 * M_PI * t[i] + M_PI * cls;  // 1.5 turns
    pts[2 * i] = (float)(r * std::cos(angle) + noise[2 * i]);
    pts[2 * i + 1] = (float)(r * std::sin(angle) + noise[2 * i + 1]);
    labels[i] = cls;
  }
  x = Tensor::from_vector(pts, {2 * n, 2});
  y = Tensor::from_vector(labels, {2 * n});
}

// A Linear layer's parameters, initialised as torch.nn.Linear does.
struct Linear {
  Tensor w, b;
  Linear(int64_t in, int64_t out) : w(Tensor::empty({out, in})), b(Tensor::empty({out})) {
    init::kaiming_uniform_(w, std::sqrt(5.0));  // bound 1/sqrt(in)
    init::uniform_(b, -1.0 / std::sqrt((double)in), 1.0 / std::sqrt((double)in));
    w.set_requires_grad(true);
    b.set_requires_grad(true);
  }
  Tensor operator()(const Tensor& x) const { return linear(x, w, b); }
};

int main() {
  manual_seed(0);  // one seed fixes data, init and batch order
  Tensor x, y;
  make_spirals(500, x, y);

  // x: (B, 2) -> (B, 64) -> GELU -> (B, 64) -> GELU -> (B, 2) logits
  Linear fc1(2, 64), fc2(64, 64), fc3(64, 2);
  auto model = [&](const Tensor& in) { return fc3(gelu(fc2(gelu(fc1(in))))); };

  // Weight decay on the matrices only (biases go to the no-decay group).
  AdamW opt(param_groups_no_decay({{"fc1.weight", fc1.w}, {"fc1.bias", fc1.b},
                                   {"fc2.weight", fc2.w}, {"fc2.bias", fc2.b},
                                   {"fc3.weight", fc3.w}, {"fc3.bias", fc3.b}}, 1e-4),
            1e-2);
  const int64_t epochs = 40, batch = 100, per_epoch = x.size(0) / batch;
  CosineSchedule schedule(1e-2, epochs * per_epoch, /*warmup_iters=*/30, /*warmup_lr=*/1e-4,
                          /*min_lr=*/1e-4);

  int64_t it = 0;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    Tensor order = randperm(x.size(0));  // a fresh shuffle every epoch
    for (int64_t k = 0; k < per_epoch; ++k, ++it) {
      Tensor idx = order.narrow(0, k * batch, batch);
      schedule.apply(opt, it);
      opt.zero_grad();
      Tensor loss = cross_entropy(model(index_select(x, 0, idx)), index_select(y, 0, idx));
      loss.backward();
      opt.step();
    }
    if (epoch % 10 == 9 || epoch == 0) {
      NoGrad no_grad;  // evaluation: no graph
      Tensor logits = model(x);
      auto pred = argmax(logits, 1).to_vector(), truth = y.to_vector();
      int64_t correct = 0;
      for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == truth[i];
      std::printf("epoch %3lld  iter %4lld  lr %.5f  loss %.4f  accuracy %.1f%%\n",
                  (long long)epoch + 1, (long long)it, opt.lr, cross_entropy(logits, y).item(),
                  100.0 * correct / pred.size());
    }
  }
  return 0;
}
