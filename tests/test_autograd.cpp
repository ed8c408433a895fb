// test_autograd.cpp — the tape itself: accumulation, NoGrad, graph freeing, retain_graph,
// and frozen-awareness (a frozen Linear computes no weight gradient and saves no input).
#include <unistd.h>

#include <fstream>

#include "engine/backend.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;

TEST_CASE("leaf gradients accumulate across backward calls", "[autograd]") {
  auto x = rand_tensor({3}, 1).set_requires_grad(true);
  sum(mul(x, 2.0)).backward();
  sum(mul(x, 3.0)).backward();
  auto g = x.grad().to_vector();
  for (double v : g) REQUIRE(v == Approx(5.0));
  x.zero_grad();
  REQUIRE(!x.grad().defined());
}

TEST_CASE("a tensor used twice sums both gradient paths", "[autograd]") {
  auto x = rand_tensor({4}, 2).set_requires_grad(true);
  auto y = mul(x, x) + x;  // dy/dx = 2x + 1
  sum(y).backward();
  auto xv = x.to_vector(), g = x.grad().to_vector();
  for (size_t i = 0; i < xv.size(); ++i) REQUIRE(g[i] == Approx(2 * xv[i] + 1));
}

TEST_CASE("NoGrad records nothing", "[autograd]") {
  auto x = rand_tensor({4}, 3).set_requires_grad(true);
  Tensor y;
  {
    NoGrad ng;
    y = exp(x);
  }
  REQUIRE(!y.requires_grad());
  REQUIRE(!y.grad_fn());
  REQUIRE_THROWS_WITH(sum(y).backward(), Catch::Contains("does not require grad"));
}

TEST_CASE("backward frees saved tensors unless retain_graph", "[autograd]") {
  const int64_t base = saved_bytes();
  auto x = rand_tensor({64}, 4).set_requires_grad(true);
  auto loss = sum(exp(x));  // exp saves its output: 64 doubles
  REQUIRE(saved_bytes() - base == 64 * 8);
  loss.backward(Tensor(), /*retain_graph=*/true);
  REQUIRE(saved_bytes() - base == 64 * 8);
  loss.backward();
  REQUIRE(saved_bytes() == base);
  REQUIRE_THROWS_WITH(loss.backward(), Catch::Contains("retain_graph"));
}

TEST_CASE("frozen linear: no weight-gradient work and no saved input", "[autograd][frozen]") {
  const int64_t R = 32, K = 16, N = 8;
  auto x = rand_tensor({R, K}, 5, DType::F32).set_requires_grad(true);
  auto w = rand_tensor({N, K}, 6, DType::F32);  // frozen: requires_grad = false
  auto b = rand_tensor({N}, 7, DType::F32).set_requires_grad(true);
  const int64_t base = saved_bytes();

  auto y = linear(x, w, b);
  // Only W is saved (dX needs it); X is not, since no dW will be computed.
  REQUIRE(saved_bytes() - base == N * K * 4);
  sum(y).backward();
  REQUIRE(x.grad().defined());
  REQUIRE(b.grad().defined());
  REQUIRE(!w.grad().defined());
  REQUIRE(saved_bytes() == base);

  // Trainable W and frozen input: X is saved, W is not.
  auto x2 = rand_tensor({R, K}, 8, DType::F32);
  w.set_requires_grad(true);
  auto y2 = linear(x2, w);
  REQUIRE(saved_bytes() - base == R * K * 4);
  sum(y2).backward();
  REQUIRE(w.grad().defined());
  REQUIRE(saved_bytes() == base);

  // Everything frozen: no node at all.
  w.set_requires_grad(false);
  auto y3 = linear(x2, w);
  REQUIRE(!y3.grad_fn());
  REQUIRE(saved_bytes() == base);
}

TEST_CASE("mul saves only the operand the other gradient needs", "[autograd][frozen]") {
  auto a = rand_tensor({100}, 9).set_requires_grad(true);
  auto b = rand_tensor({100}, 10);  // frozen
  const int64_t base = saved_bytes();
  auto y = mul(a, b);
  REQUIRE(saved_bytes() - base == 100 * 8);  // b for da; a is not kept
}

TEST_CASE("views share storage and route gradients", "[autograd][views]") {
  auto x = rand_tensor({2, 3, 4}, 11).set_requires_grad(true);
  auto v = x.permute({2, 0, 1});
  REQUIRE(v.storage() == x.storage());
  REQUIRE(!v.is_contiguous());
  REQUIRE(v.shape() == Shape{4, 2, 3});
  auto n = x.narrow(1, 1, 2);
  REQUIRE(n.storage() == x.storage());
  REQUIRE(n.offset() == 4);
  auto e = x.narrow(2, 0, 1).expand({2, 3, 5});
  REQUIRE(e.strides()[2] == 0);
  gradcheck([](auto& in) { return in[0].permute({2, 0, 1}).reshape({4, 6}); }, {x});
  gradcheck([](auto& in) { return in[0].narrow(1, 1, 2).unsqueeze(0).squeeze(0); }, {x});
  gradcheck([](auto& in) { return in[0].narrow(2, 0, 1).expand({2, 3, 5}); }, {x});
  gradcheck([](auto& in) { return in[0].transpose(0, 2).contiguous().flatten(1); }, {x});
  gradcheck([](auto& in) { return in[0].select(1, 2); }, {x});
}

TEST_CASE("contiguous copies a non-contiguous view in row-major order", "[tensor]") {
  auto x = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  auto t = x.transpose(0, 1).contiguous();
  REQUIRE(t.is_contiguous());
  REQUIRE(t.to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
  REQUIRE(x.reshape({3, -1}).shape() == Shape{3, 2});
  REQUIRE(x.to(DType::I64).to_vector() == std::vector<double>{0, 1, 2, 3, 4, 5});
}

// Defined only when the AddressSanitizer runtime is linked: the engine is then built with ASan
// (the test code itself may not be; tests/meson.build).
extern "C" int __asan_address_is_poisoned(void const volatile* addr) __attribute__((weak));

TEST_CASE("cpu allocator: large buffers are reused by size class, small ones are not cached", "[tensor][memory]") {
  if (&__asan_address_is_poisoned != nullptr) {
    SUCCEED("AddressSanitizer build: the CPU allocator caches nothing");
    return;
  }
  void* first;
  {
    Tensor a = Tensor::empty({1 << 18});  // 1 MiB
    first = a.raw();
    a.data<float>()[0] = 1.0f;
  }
  Tensor b = Tensor::empty({(1 << 18) - 7});  // the same size class: the cached block again
  CHECK(b.raw() == first);
  Tensor c = Tensor::empty({1 << 18});  // b holds the block now: a different one
  CHECK(c.raw() != first);
  Tensor z = Tensor::zeros({1 << 18});  // a reused block still starts from zeros when asked
  CHECK(sum(z).item() == 0.0);
}

namespace {
double resident_mb() {  // this process's resident set, from /proc/self/statm
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}
}  // namespace

TEST_CASE("cpu allocator: release_cached gives the cached blocks back to the system", "[tensor][memory]") {
  if (&__asan_address_is_poisoned != nullptr) {
    SUCCEED("AddressSanitizer build: the CPU allocator caches nothing");
    return;
  }
  {
    Tensor a = Tensor::zeros({64 << 18});  // 64 MiB, touched: resident, then cached when freed
    REQUIRE(sum(a).item() == 0.0);
  }
  const double cached = resident_mb();
  backend_for(Device{}).release_cached();
  const double released = resident_mb();
  INFO("resident " << cached << " MB with the block cached, " << released << " MB after release_cached");
  CHECK(cached - released > 48.0);  // the 64 MiB block (beyond glibc's largest mmap threshold) is unmapped
}

