// test_readme.cpp — the README's 15-line engine example, verbatim between the markers, so the
// README never shows code that does not compile or does not learn.
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "tests/helpers.h"

using namespace vt;

TEST_CASE("the README example trains", "[readme][optim]") {
  double first = 0, last = 0;
  // README-BEGIN
  manual_seed(0);
  Tensor x = randn({256, 2});                                       // points in the plane
  Tensor y = gt(sum(square(x), {1}), Tensor::scalar(1.0)).to(DType::I64);  // outside the unit circle?
  Tensor w1 = randn({32, 2}, 0.0, 0.5).set_requires_grad(true);
  Tensor b1 = Tensor::zeros({32}).set_requires_grad(true);
  Tensor w2 = randn({2, 32}, 0.0, 0.5).set_requires_grad(true);
  AdamW opt({ParamGroup{{w1, b1, w2}}}, /*lr=*/3e-2);
  for (int step = 0; step < 200; ++step) {
    Tensor loss = cross_entropy(linear(gelu(linear(x, w1, b1)), w2), y);  // forward
    opt.zero_grad();
    loss.backward();                                                     // reverse-mode autograd
    opt.step();                                                          // fused AdamW
    if (step % 50 == 0) std::printf("step %d loss %.4f\n", step, loss.item());
  // README-END
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  REQUIRE(last < 0.3 * first);
}
