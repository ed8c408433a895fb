// test_random.cpp — the Philox generator (known answers, counter layout, moments), dropout and
// drop_path (mask rate, scaling, gradients with a replayed mask), and the initialisers.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/init.h"
#include "engine/philox.h"
#include "engine/random.h"
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;

namespace {

struct Moments {
  double mean = 0, var = 0, skew = 0, kurt = 0, min = 1e300, max = -1e300;
};
Moments moments(const Tensor& t) {
  auto v = t.to_vector();
  Moments m;
  for (double x : v) {
    m.mean += x;
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
  }
  m.mean /= v.size();
  double m3 = 0, m4 = 0;
  for (double x : v) {
    const double d = x - m.mean;
    m.var += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m.var /= v.size();
  m.skew = m3 / v.size() / std::pow(m.var, 1.5);
  m.kurt = m4 / v.size() / (m.var * m.var);
  return m;
}

}  // namespace

// ---------------------------------------------------------------- Philox
TEST_CASE("philox4x32-10 matches the Random123 known-answer vectors", "[random]") {
  // kat_vectors from Random123 (philox4x32 10 rounds), also used by TensorFlow and cuRAND tests.
  struct Kat { uint32_t c[4], k[2], want[4]; };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    Philox4 r = philox4x32_10(k.c[0], k.c[1], k.c[2], k.c[3], k.k[0], k.k[1]);
    for (int i = 0; i < 4; ++i) CHECK(r.x[i] == k.want[i]);
  }
  // The engine's layout: seed -> key (low, high), element counter -> words 0 (low) and 1 (high).
  Philox4 r = philox_at(0xa4093822ull | (0x299f31d0ull << 32), 0x85a308d3243f6a88ull);
  Philox4 w = philox4x32_10(0x243f6a88, 0x85a308d3, 0, 0, 0xa4093822, 0x299f31d0);
  for (int i = 0; i < 4; ++i) CHECK(r.x[i] == w.x[i]);
}

TEST_CASE("rand: same seed gives the same numbers, offsets give new ones", "[random]") {
  manual_seed(42);
  Tensor a = rand({1000});
  Tensor b = rand({1000});
  manual_seed(42);
  Tensor a2 = rand({1000});
  CHECK(a.to_vector() == a2.to_vector());
  CHECK(a.to_vector() != b.to_vector());
  CHECK(default_generator().offset == 1000);
  // A different seed gives different numbers.
  manual_seed(43);
  CHECK(rand({1000}).to_vector() != a.to_vector());
  // Element i uses counter offset + i: one fill of 20 equals two fills of 10.
  Generator g1(7), g2(7);
  auto whole = rand({20}, 0, 1, DType::F64, Device::cpu(), &g1).to_vector();
  auto h1 = rand({10}, 0, 1, DType::F64, Device::cpu(), &g2).to_vector();
  auto h2 = rand({2, 5}, 0, 1, DType::F64, Device::cpu(), &g2).to_vector();
  h1.insert(h1.end(), h2.begin(), h2.end());
  CHECK(whole == h1);
  // The exact mapping of philox.h: value i = u53(x0, x1) of counter i.
  CHECK(whole[3] == philox_u53(philox_at(7, 3).x[0], philox_at(7, 3).x[1]));
}

TEST_CASE("rand: a parallel fill equals the element-by-element definition", "[random]") {
  const int64_t n = 200000;  // above kParallelGrain, so the kernel runs multi-threaded
  Generator g(123);
  g.offset = 5;
  auto v = rand({n}, -2.0, 3.0, DType::F64, Device::cpu(), &g).to_vector();
  auto z = randn({n}, 1.0, 2.0, DType::F64, Device::cpu(), &g).to_vector();
  for (int64_t i = 0; i < n; i += 997) {
    REQUIRE(v[i] == -2.0 + 5.0 * philox_uniform(123, 5 + i));
    REQUIRE(z[i] == 1.0 + 2.0 * philox_normal(123, 5 + n + i));
  }
  // F32 draws are the F64 draws rounded (same counters, same mapping).
  Generator ga(9), gb(9);
  auto f = rand({1000}, 0, 1, DType::F32, Device::cpu(), &ga).to_vector();
  auto d = rand({1000}, 0, 1, DType::F64, Device::cpu(), &gb).to_vector();
  for (int i = 0; i < 1000; ++i) REQUIRE(f[i] == (double)(float)d[i]);
}

TEST_CASE("rand and randn have the right moments", "[random]") {
  manual_seed(1);
  Moments u = moments(rand({400000}, -1.0, 3.0, DType::F64));
  CHECK(u.min >= -1.0);
  CHECK(u.max < 3.0);
  CHECK(u.mean == Approx(1.0).margin(0.01));
  CHECK(u.var == Approx(16.0 / 12.0).epsilon(0.01));
  Moments n = moments(randn({400000}, 0.5, 2.0, DType::F32));
  CHECK(n.mean == Approx(0.5).margin(0.01));
  CHECK(std::sqrt(n.var) == Approx(2.0).epsilon(0.005));
  CHECK(n.skew == Approx(0.0).margin(0.02));
  CHECK(n.kurt == Approx(3.0).margin(0.05));
  // Tail mass: P(|z| > 2) = 0.0455.
  auto z = randn({400000}, 0, 1, DType::F64).to_vector();
  double tail = std::count_if(z.begin(), z.end(), [](double x) { return std::abs(x) > 2; });
  CHECK(tail / z.size() == Approx(0.0455).margin(0.002));
}

TEST_CASE("randint and randperm", "[random]") {
  manual_seed(3);
  auto r = randint(-3, 4, {70000}).to_vector();
  std::vector<int> counts(7, 0);
  for (double x : r) {
    REQUIRE(x >= -3);
    REQUIRE(x < 4);
    counts[(int)x + 3]++;
  }
  for (int c : counts) CHECK(c == Approx(10000).margin(400));
  Tensor p = randperm(1000);
  CHECK(p.dtype() == DType::I64);
  auto pv = p.to_vector();
  auto sorted = pv;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 1000; ++i) REQUIRE(sorted[i] == i);
  CHECK(pv != sorted);
  manual_seed(3);
  randint(-3, 4, {70000});
  CHECK(randperm(1000).to_vector() == pv);  // replayable
  // Every position is equally likely to hold element 0 (Fisher–Yates is unbiased).
  Generator g(11);
  std::vector<int> where0(5, 0);
  for (int t = 0; t < 5000; ++t) {
    auto q = randperm(5, Device::cpu(), &g).to_vector();
    where0[std::find(q.begin(), q.end(), 0.0) - q.begin()]++;
  }
  for (int c : where0) CHECK(c == Approx(1000).margin(100));
  CHECK(randperm(0).numel() == 0);
}

TEST_CASE("random factories reject bad arguments", "[random]") {
  REQUIRE_THROWS_WITH(rand({2}, 0, 1, DType::I64),
                      Catch::Contains("rand") && Catch::Contains("I64"));
  REQUIRE_THROWS_WITH(rand({2}, 1, 0), Catch::Contains("lo <= hi"));
  REQUIRE_THROWS_WITH(randn({2}, 0, -1), Catch::Contains("std"));
  REQUIRE_THROWS_WITH(randint(3, 3, {2}), Catch::Contains("randint"));
  REQUIRE_THROWS_WITH(randperm(-1), Catch::Contains("randperm"));
}

// ---------------------------------------------------------------- dropout / drop_path
TEST_CASE("dropout: mask rate, scaling, identity when off", "[ops][random]") {
  Tensor x = Tensor::ones({200, 500});
  CHECK(dropout(x, 0.3, false).impl() == x.impl());
  CHECK(dropout(x, 0.0, true).impl() == x.impl());
  manual_seed(5);
  auto y = dropout(x, 0.3, true).to_vector();
  int64_t zeros = 0;
  for (double v : y) {
    if (v == 0) ++zeros;
    else REQUIRE(v == Approx(1.0 / 0.7));
  }
  CHECK((double)zeros / y.size() == Approx(0.3).margin(0.005));
  // The same seed replays the same mask; the next call draws a new one.
  manual_seed(5);
  CHECK(dropout(x, 0.3, true).to_vector() == y);
  CHECK(dropout(x, 0.3, true).to_vector() != y);
  // p = 1 drops everything.
  for (double v : dropout(x, 1.0, true).to_vector()) REQUIRE(v == 0);
}

TEST_CASE("dropout: gradients with a replayed mask; only a U8 mask is saved", "[ops][random]") {
  auto fn = [](const std::vector<Tensor>& v) {
    manual_seed(17);  // every evaluation draws the same mask
    return dropout(v[0], 0.4, true);
  };
  gradcheck(fn, {rand_strided({6, 7}, 1).set_requires_grad(true)});
  gradcheck(fn, {rand_tensor({3, 4, 5}, 2).set_requires_grad(true)});
  // Saved state: one byte per element (the keep mask), never x or y.
  Tensor x = rand_tensor({64, 100}, 3).set_requires_grad(true);
  const int64_t before = saved_bytes();
  Tensor y = dropout(x, 0.5, true);
  CHECK(saved_bytes() - before == 64 * 100);
  sum(y).backward();
  // dL/dx = mask / (1 - p) = y / x where kept.
  auto g = x.grad().to_vector(), yv = y.to_vector();
  for (size_t i = 0; i < g.size(); ++i) REQUIRE(g[i] == (yv[i] == 0 ? 0.0 : 2.0));
}

TEST_CASE("drop_path: whole samples dropped, survivors scaled", "[ops][random]") {
  Tensor x = rand_tensor({4000, 3, 5}, 4, DType::F32, 0.5, 1.5);
  CHECK(drop_path(x, 0.25, false).impl() == x.impl());
  manual_seed(8);
  Tensor y = drop_path(x, 0.25, true);
  auto xv = x.to_vector(), yv = y.to_vector();
  int64_t dropped = 0;
  for (int64_t b = 0; b < 4000; ++b) {
    const bool drop = yv[b * 15] == 0;
    dropped += drop;
    for (int64_t j = 0; j < 15; ++j)
      REQUIRE(yv[b * 15 + j] == Approx(drop ? 0.0 : xv[b * 15 + j] / 0.75));
  }
  CHECK((double)dropped / 4000 == Approx(0.25).margin(0.025));
  auto fn = [](const std::vector<Tensor>& v) {
    manual_seed(21);
    return drop_path(v[0], 0.5, true);
  };
  gradcheck(fn, {rand_strided({6, 3, 4}, 5, 1, 2).set_requires_grad(true)});
  // Only the (B) mask is saved.
  Tensor xl = rand_tensor({16, 10, 10}, 6).set_requires_grad(true);
  const int64_t before = saved_bytes();
  Tensor yl = drop_path(xl, 0.5, true);
  CHECK(saved_bytes() - before == 16 * 8);
}

TEST_CASE("dropout and drop_path reject bad p and inputs", "[ops][random]") {
  Tensor x = Tensor::ones({2, 3});
  REQUIRE_THROWS_WITH(dropout(x, 1.5, true),
                      Catch::Contains("dropout") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(drop_path(x, -0.1, true), Catch::Contains("drop_path"));
  REQUIRE_THROWS_WITH(drop_path(Tensor::ones({}), 0.5, true), Catch::Contains("batch dim"));
  REQUIRE_THROWS_WITH(dropout(Tensor::from_vector(std::vector<int64_t>{1, 2}, {2}), 0.5, true),
                      Catch::Contains("dropout"));
}

// ---------------------------------------------------------------- init
TEST_CASE("init: fan computation as torch, on linear and conv weights", "[init]") {
  auto fans = init::fan_in_and_fan_out(Tensor::empty({16, 8, 3, 5}));  // conv (O, C, kh, kw)
  CHECK(fans.first == 8 * 15);
  CHECK(fans.second == 16 * 15);
  fans = init::fan_in_and_fan_out(Tensor::empty({32, 8}));  // linear (out, in)
  CHECK(fans.first == 8);
  CHECK(fans.second == 32);
  REQUIRE_THROWS_WITH(init::fan_in_and_fan_out(Tensor::empty({7})),
                      Catch::Contains("at least 2 dims") && Catch::Contains("[7]"));
  CHECK(init::calculate_gain("leaky_relu", std::sqrt(5.0)) == Approx(std::sqrt(1.0 / 3.0)));
  CHECK(init::calculate_gain("relu") == Approx(std::sqrt(2.0)));
  CHECK(init::calculate_gain("tanh") == Approx(5.0 / 3.0));
  REQUIRE_THROWS_WITH(init::calculate_gain("swish"), Catch::Contains("swish"));
}

TEST_CASE("init: uniform bounds and moments (xavier, kaiming)", "[init]") {
  manual_seed(2);
  Tensor w = Tensor::empty({64, 32, 3, 3});  // fan_in 288, fan_out 576
  init::xavier_uniform_(w, 2.0);
  double b = 2.0 * std::sqrt(6.0 / (288 + 576));
  Moments m = moments(w);
  CHECK(m.max <= b);
  CHECK(m.min >= -b);
  CHECK(m.max > 0.99 * b);
  CHECK(m.var == Approx(b * b / 3).epsilon(0.02));
  // torch.nn.Linear's default: kaiming_uniform_(a=√5) -> bound 1/√fan_in.
  Tensor lw = Tensor::empty({300, 100}, DType::F64);
  init::kaiming_uniform_(lw, std::sqrt(5.0));
  m = moments(lw);
  CHECK(m.max <= 0.1);
  CHECK(m.min >= -0.1);
  CHECK(m.max > 0.099);
  CHECK(m.var == Approx(0.01 / 3).epsilon(0.02));
  // fan_out mode, relu gain: bound √2·√(3/fan_out).
  init::kaiming_uniform_(w, 0.0, "fan_out", "relu");
  b = std::sqrt(2.0) * std::sqrt(3.0 / 576);
  m = moments(w);
  CHECK(m.max <= b);
  CHECK(m.max > 0.99 * b);
  REQUIRE_THROWS_WITH(init::kaiming_uniform_(w, 0.0, "fan_avg"), Catch::Contains("fan_avg"));
}

TEST_CASE("init: normal, trunc_normal, constants, strided targets", "[init]") {
  manual_seed(4);
  Tensor w = Tensor::empty({200, 1000});
  init::normal_(w, 0.1, 0.02);
  Moments m = moments(w);
  CHECK(m.mean == Approx(0.1).margin(1e-4));
  CHECK(std::sqrt(m.var) == Approx(0.02).epsilon(0.01));
  init::kaiming_normal_(w, 0.0, "fan_in", "relu");
  CHECK(std::sqrt(moments(w).var) == Approx(std::sqrt(2.0 / 1000)).epsilon(0.01));
  init::xavier_normal_(w);
  CHECK(std::sqrt(moments(w).var) == Approx(std::sqrt(2.0 / 1200)).epsilon(0.01));
  // trunc_normal_(std=1, a=-2, b=2): values in [-2, 2], variance of the truncated normal
  // 1 - 2·2φ(2)/(Φ(2) - Φ(-2)) = 0.77372.
  init::trunc_normal_(w, 0.0, 1.0, -2.0, 2.0);
  m = moments(w);
  CHECK(m.min >= -2.0);
  CHECK(m.max <= 2.0);
  CHECK(m.max > 1.99);
  CHECK(m.mean == Approx(0.0).margin(0.005));
  CHECK(m.var == Approx(0.77372).epsilon(0.01));
  // timm's ViT init: std 0.02 with absolute bounds ±2 is an ordinary normal in practice.
  init::trunc_normal_(w, 0.0, 0.02);
  CHECK(std::sqrt(moments(w).var) == Approx(0.02).epsilon(0.01));
  // One-sided truncation well away from the mean: all mass in [1, 3] for N(0, 1).
  init::trunc_normal_(w, 0.0, 1.0, 1.0, 3.0);
  m = moments(w);
  CHECK(m.min >= 1.0);
  CHECK(m.mean == Approx(1.5100).epsilon(0.005));  // E[z | 1 <= z <= 3] = 1.51005
  for (double y : {-0.999, -0.5, 0.0, 1e-8, 0.3, 0.9, 0.999999})
    CHECK(std::erf(init::erfinv(y)) == Approx(y).epsilon(1e-14).margin(1e-15));
  // Strided targets are filled through their view; constants.
  Tensor base = Tensor::zeros({4, 6});
  Tensor t = base.transpose(0, 1);
  init::ones_(t);
  for (double v : base.to_vector()) REQUIRE(v == 1.0);
  init::uniform_(t, 2.0, 3.0);
  for (double v : base.to_vector()) REQUIRE((v >= 2.0 && v < 3.0));
  init::zeros_(base);
  for (double v : base.to_vector()) REQUIRE(v == 0.0);
  REQUIRE_THROWS_WITH(init::normal_(Tensor::zeros({2}, DType::I64)), Catch::Contains("I64"));
  REQUIRE_THROWS_WITH(init::trunc_normal_(w, 0, 1, 2, 1), Catch::Contains("a < b"));
}

TEST_CASE("init::SkipInit leaves tensors as they are, checks arguments, and nests", "[init]") {
  // `vitune params` builds a model only to count its parameters (examples/vitune/cmd_params.cpp).
  Tensor t = Tensor::full({16, 8}, 7.0);
  auto untouched = [&] { return t.to_vector() == std::vector<double>(128, 7.0); };
  {
    init::SkipInit skip;
    init::kaiming_uniform_(t, std::sqrt(5.0));
    init::xavier_normal_(t);
    init::trunc_normal_(t, 0.0, 0.02);
    init::zeros_(t);
    CHECK(untouched());
    REQUIRE_THROWS_WITH(init::trunc_normal_(t, 0.0, 1.0, 2.0, -2.0), Catch::Contains("need a < b"));
    {
      init::SkipInit inner;
    }
    init::ones_(t);  // still skipping after the inner guard ends
    CHECK(untouched());
  }
  init::zeros_(t);  // and filling again after the outer one
  CHECK(t.to_vector() == std::vector<double>(128, 0.0));
}
