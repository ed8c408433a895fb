// test_shape_index.cpp — concat/split/chunk/stack/pad/roll and index_select/index_add/gather/
// scatter_add/where/masked_fill: f64 gradient checks (non-contiguous inputs, duplicate
// indices), comparisons with PyTorch (ops_shape fixtures), determinism and error messages.
#include "tests/helpers.h"

using namespace vt;
using namespace vt::test;

namespace {
Tensor leaf(const Shape& s, uint64_t seed) {
  return rand_tensor(s, seed, DType::F64).set_requires_grad(true);
}
Tensor strided_leaf(const Shape& s, uint64_t seed, int64_t a = 0, int64_t b = -1) {
  return rand_strided(s, seed, a, b).set_requires_grad(true);
}
Tensor idx(const std::vector<int64_t>& v, const Shape& s = {}) {
  return Tensor::from_vector(v, s.empty() ? Shape{(int64_t)v.size()} : s);
}
Tensor mask(const std::vector<int64_t>& v, const Shape& s) {
  return Tensor::from_vector(v, s).to(DType::Bool);
}
// Scales piece i by (i + 1) and joins them again, so a wrong piece order changes the result.
Tensor rejoin(const std::vector<Tensor>& ps, int64_t dim) {
  std::vector<Tensor> scaled;
  for (size_t i = 0; i < ps.size(); ++i) scaled.push_back(mul(ps[i], (double)(i + 1)));
  return concat(scaled, dim);
}
std::vector<int64_t> sizes_along(const std::vector<Tensor>& ps, int64_t dim) {
  std::vector<int64_t> s;
  for (auto& p : ps) s.push_back(p.size(dim));
  return s;
}
}  // namespace

// ---------------------------------------------------------------- shape ops
TEST_CASE("concat and stack: values and gradients", "[ops][shape]") {
  auto a = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2});
  auto b = Tensor::from_vector(std::vector<double>{5, 6}, {2, 1});
  REQUIRE(concat({a, b}, 1).to_vector() == std::vector<double>{1, 2, 5, 3, 4, 6});
  REQUIRE(stack({a, a}, 2).shape() == Shape{2, 2, 2});
  REQUIRE(stack({a, a}, 2).to_vector() == std::vector<double>{1, 1, 2, 2, 3, 3, 4, 4});

  auto x = leaf({2, 3, 4}, 1), y = strided_leaf({2, 5, 4}, 2, 1, 2), z = leaf({2, 1, 4}, 3);
  gradcheck([](auto& v) { return concat({v[0], v[1], v[2]}, 1); }, {x, y, z});
  gradcheck([](auto& v) { return concat({v[0], v[1]}, -1); }, {leaf({3, 2}, 4), strided_leaf({3, 5}, 5)});
  auto s = strided_leaf({3, 4}, 6), t = leaf({3, 4}, 7);
  gradcheck([](auto& v) { return stack({v[0], v[1], v[0]}, 0); }, {s, t});
  gradcheck([](auto& v) { return stack({v[0], v[1]}, -1); }, {s, t});
  // Only the inputs that need a gradient get one.
  auto frozen = rand_tensor({3, 4}, 8);
  Tensor out = concat({frozen, t}, 0);
  sum(out).backward();
  REQUIRE(t.grad().defined());
  REQUIRE_FALSE(frozen.grad().defined());
}

TEST_CASE("split and chunk: views, piece sizes and gradients", "[ops][shape]") {
  auto x = Tensor::arange(14, DType::F64).reshape({7, 2});
  auto ps = split(x, {2, 5}, 0);
  REQUIRE(sizes_along(ps, 0) == std::vector<int64_t>{2, 5});
  REQUIRE(ps[1].storage() == x.storage());  // a view, not a copy
  REQUIRE(ps[1].to_vector()[0] == 4.0);
  REQUIRE(sizes_along(split(x, {3}, 0), 0) == std::vector<int64_t>{3, 3, 1});
  REQUIRE(sizes_along(split(x, {10}, 0), 0) == std::vector<int64_t>{7});
  REQUIRE(sizes_along(chunk(x, 3, 0), 0) == std::vector<int64_t>{3, 3, 1});
  REQUIRE(sizes_along(chunk(Tensor::zeros({6}), 4, 0), 0) == std::vector<int64_t>{2, 2, 2});
  REQUIRE(sizes_along(chunk(Tensor::zeros({0}), 3, 0), 0) == std::vector<int64_t>{0, 0, 0});

  auto s = strided_leaf({4, 7}, 11);
  gradcheck([](auto& v) { return rejoin(split(v[0], {2, 0, 5}, 1), 1); }, {s});
  gradcheck([](auto& v) { return rejoin(split(v[0], {3}, -1), -1); }, {s});
  gradcheck([](auto& v) { return rejoin(chunk(v[0], 3, 1), 1); }, {s});
  gradcheck([](auto& v) { return chunk(v[0], 2, 0)[1]; }, {s});  // unused pieces get zeros
}

TEST_CASE("pad: constant value, cropping and gradients", "[ops][shape]") {
  auto x = Tensor::from_vector(std::vector<double>{0, 1, 2, 3, 4}, {5});
  REQUIRE(pad(x, {1, 2}, 9.0).to_vector() == std::vector<double>{9, 0, 1, 2, 3, 4, 9, 9});
  REQUIRE(pad(x, {-1, 2}).to_vector() == std::vector<double>{1, 2, 3, 4, 0, 0});
  REQUIRE(pad(x, {-2, -1}).to_vector() == std::vector<double>{2, 3});
  REQUIRE(pad(x, {-5, 1}, 7.0).to_vector() == std::vector<double>{7});

  auto s = strided_leaf({2, 3, 4}, 21, 1, 2);
  gradcheck([](auto& v) { return pad(v[0], {1, 2, 0, 3}, 0.5); }, {s});
  gradcheck([](auto& v) { return pad(v[0], {-1, 2, 1, -2}); }, {s});
  gradcheck([](auto& v) { return pad(v[0], {1, 1, 2, 0, 0, 1}); }, {s});
  gradcheck([](auto& v) { return pad(v[0], {}); }, {s});
}

TEST_CASE("roll: several dims, flat, wrapping shifts and gradients", "[ops][shape]") {
  auto x = Tensor::arange(6, DType::F64).reshape({2, 3});
  REQUIRE(roll(x, {1}, {1}).to_vector() == std::vector<double>{2, 0, 1, 5, 3, 4});
  REQUIRE(roll(x, {1, 1}, {1, 1}).to_vector() == std::vector<double>{1, 2, 0, 4, 5, 3});
  REQUIRE(roll(x, {1, -1}, {0, 1}).to_vector() == std::vector<double>{4, 5, 3, 1, 2, 0});
  REQUIRE(roll(x, {2}, {}).to_vector() == std::vector<double>{4, 5, 0, 1, 2, 3});
  REQUIRE(roll(x, {6}, {1}).to_vector() == x.to_vector());

  auto s = strided_leaf({3, 4, 5}, 31, 0, 2);
  gradcheck([](auto& v) { return roll(v[0], {1, -2}, {0, 2}); }, {s});
  gradcheck([](auto& v) { return roll(v[0], {7}, {}); }, {s});
  gradcheck([](auto& v) { return roll(v[0], {2, 3, -1}, {-1, 1, 0}); }, {s});
}

TEST_CASE("shape ops match PyTorch", "[ops][shape][torch]") {
  Fixture fx("ops_shape.safetensors");
  torch_case(fx, "concat_dim1", [](Inputs& in) { return concat({in["a"], in["b"]}, 1); });
  torch_case(fx, "concat_three_t", [](Inputs& in) {
    return concat({in["a"], in["b"].transpose(0, 1), in["c"]}, 0);
  });
  torch_case(fx, "stack_dim1", [](Inputs& in) { return stack({in["a"], in["b"]}, 1); });
  torch_case(fx, "split_sizes", [](Inputs& in) { return rejoin(split(in["x"], {2, 5}, 0), 0); });
  torch_case(fx, "split_even", [](Inputs& in) { return rejoin(split(in["x"], {3}, 1), 1); });
  torch_case(fx, "chunk_last", [](Inputs& in) { return rejoin(chunk(in["x"], 3, -1), -1); });
  torch_case(fx, "pad_const", [](Inputs& in) { return pad(in["x"], {1, 2, 0, 3}, 0.5); });
  torch_case(fx, "pad_crop", [](Inputs& in) { return pad(in["x"], {-1, 2, 1, -2}); });
  torch_case(fx, "pad_three_dims", [](Inputs& in) { return pad(in["x"], {1, 1, 2, 0, 0, 1}); });
  torch_case(fx, "roll_two_dims", [](Inputs& in) { return roll(in["x"], {1, -2}, {0, 2}); });
  torch_case(fx, "roll_flat", [](Inputs& in) { return roll(in["x"], {3}, {}); });
  torch_case(fx, "roll_big_shift", [](Inputs& in) { return roll(in["x"], {11}, {1}); });
}

TEST_CASE("shape ops: bad inputs name the op and the shapes", "[ops][shape][errors]") {
  auto a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 3});
  REQUIRE_THROWS_WITH(concat({a, b}, 1), Catch::Contains("concat") && Catch::Contains("[3, 3]") &&
                                             Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(concat({a, a.to(DType::F64)}, 0), Catch::Contains("concat") && Catch::Contains("dtype"));
  REQUIRE_THROWS_WITH(concat({}, 0), Catch::Contains("concat"));
  REQUIRE_THROWS_WITH(stack({a, b}), Catch::Contains("stack") && Catch::Contains("[3, 3]"));
  REQUIRE_THROWS_WITH(split(a, {1, 1}, 1),
                      Catch::Contains("split") && Catch::Contains("sum to 2") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(chunk(a, 0, 0), Catch::Contains("chunk"));
  REQUIRE_THROWS_WITH(pad(a, {1, 1, 1}), Catch::Contains("pad") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(pad(a, {1, 1, 1, 1, 1, 1}), Catch::Contains("pad"));
  REQUIRE_THROWS_WITH(pad(a, {-2, -2}), Catch::Contains("pad") && Catch::Contains("negative size"));
  REQUIRE_THROWS_WITH(roll(a, {1, 2}, {0}), Catch::Contains("roll"));
  REQUIRE_THROWS_WITH(roll(a, {1}, {2}), Catch::Contains("roll") && Catch::Contains("out of range"));
}

// ---------------------------------------------------------------- index ops
TEST_CASE("index_select and index_add: values and gradients with duplicates", "[ops][index]") {
  auto x = Tensor::arange(6, DType::F64).reshape({3, 2});
  REQUIRE(index_select(x, 0, idx({2, 0, 2})).to_vector() == std::vector<double>{4, 5, 0, 1, 4, 5});
  REQUIRE(index_select(x, 1, idx({1}, {})).shape() == Shape{3, 1});  // 0-d index: size-1 dim
  auto added = index_add(Tensor::zeros({3, 2}, DType::F64), 0, idx({1, 1, 0}),
                         Tensor::ones({3, 2}, DType::F64));
  REQUIRE(added.to_vector() == std::vector<double>{1, 1, 2, 2, 0, 0});

  auto s = strided_leaf({5, 4, 3}, 41, 0, 2);
  gradcheck([](auto& v) { return index_select(v[0], 0, idx({4, 0, 4, 2})); }, {s});
  gradcheck([](auto& v) { return index_select(v[0], 1, idx({1, 1, 3, 0, 1})); }, {s});
  gradcheck([](auto& v) { return index_select(v[0], -1, idx({2, 2})); }, {s});
  auto base = strided_leaf({5, 4}, 42), src = strided_leaf({3, 4}, 43);
  gradcheck([](auto& v) { return index_add(v[0], 0, idx({1, 3, 1}), v[1]); }, {base, src});
  auto src2 = leaf({5, 6}, 44);
  gradcheck([](auto& v) { return index_add(v[0], 1, idx({0, 3, 3, 0, 2, 3}), v[1]); },
            {leaf({5, 4}, 45), src2});
}

TEST_CASE("gather and scatter_add: values and gradients with duplicates", "[ops][index]") {
  auto x = Tensor::arange(6, DType::F64).reshape({2, 3});
  REQUIRE(gather(x, 1, idx({2, 2, 0, 1}, {2, 2})).to_vector() == std::vector<double>{2, 2, 3, 4});
  auto sc = scatter_add(Tensor::zeros({2, 3}, DType::F64), 1, idx({2, 2, 0, 1}, {2, 2}),
                        Tensor::ones({2, 2}, DType::F64));
  REQUIRE(sc.to_vector() == std::vector<double>{0, 0, 2, 1, 1, 0});

  auto s = strided_leaf({4, 5}, 51);
  auto i34 = idx({0, 4, 4, 1, 2, 2, 2, 0, 3, 1, 0, 4}, {3, 4});
  gradcheck([&](auto& v) { return gather(v[0], 1, i34); }, {s});
  gradcheck([](auto& v) { return gather(v[0], 0, idx({3, 0, 1, 3, 2, 2}, {2, 3})); }, {s});
  auto t3 = strided_leaf({3, 4, 2}, 52, 0, 1);
  gradcheck([](auto& v) { return gather(v[0], 1, idx({3, 3, 0, 1, 2, 2, 1, 0}, {2, 2, 2})); }, {t3});
  auto base = strided_leaf({3, 5}, 53), src = strided_leaf({3, 4}, 54);
  gradcheck([&](auto& v) { return scatter_add(v[0], 1, i34, v[1]); }, {base, src});
  // src larger than the index: its elements outside the index's box get a zero gradient
  auto big = leaf({3, 5}, 55), b34 = leaf({3, 4}, 56);
  gradcheck([](auto& v) { return scatter_add(v[0], 0, idx({2, 0, 2, 1, 1, 2}, {2, 3}), v[1]); },
            {b34, big});
}

TEST_CASE("scatter_add and index_add accumulate duplicates deterministically", "[ops][index]") {
  // Big enough for the parallel path; every output element receives ~500 additions.
  const int64_t J = 2000, W = 300, O = 4;
  std::vector<int64_t> iv(J * W);
  for (int64_t k = 0; k < J * W; ++k) iv[k] = (k * 7919 + k / W) % O;
  Tensor index = idx(iv, {J, W});
  Tensor src = rand_tensor({J, W}, 61, DType::F32);
  Tensor out = scatter_add(Tensor::zeros({O, W}), 0, index, src);
  // Reference: the same sums in the same (index) order, serially, in f32.
  std::vector<float> want(O * W, 0.f);
  const float* ps = src.data<float>();
  for (int64_t j = 0; j < J; ++j)
    for (int64_t n = 0; n < W; ++n) want[iv[j * W + n] * W + n] += ps[j * W + n];
  const float* po = out.data<float>();
  for (int64_t k = 0; k < O * W; ++k) REQUIRE(po[k] == want[k]);
  Tensor again = scatter_add(Tensor::zeros({O, W}), 0, index, src);
  REQUIRE(again.to_vector() == out.to_vector());

  std::vector<int64_t> rows(J);
  for (int64_t j = 0; j < J; ++j) rows[j] = (j * 31) % 3;
  Tensor ia = index_add(Tensor::zeros({3, W}), 0, idx(rows), src);
  std::vector<float> wa(3 * W, 0.f);
  for (int64_t j = 0; j < J; ++j)
    for (int64_t n = 0; n < W; ++n) wa[rows[j] * W + n] += ps[j * W + n];
  const float* pa = ia.data<float>();
  for (int64_t k = 0; k < 3 * W; ++k) REQUIRE(pa[k] == wa[k]);
}

TEST_CASE("where and masked_fill: values and gradients", "[ops][index]") {
  auto c = mask({1, 0, 1}, {3, 1});
  auto a = leaf({3, 4}, 71);
  auto w = where(c, a, Tensor::zeros({4}, DType::F64));
  REQUIRE(w.to_vector()[4] == 0.0);
  REQUIRE(w.to_vector()[0] == a.to_vector()[0]);
  auto bl = strided_leaf({4, 3}, 73).transpose(0, 1).detach().set_requires_grad(true);  // (3, 4)
  gradcheck([&](auto& v) { return where(c, v[0], v[1]); }, {a, leaf({4}, 74)});
  gradcheck([&](auto& v) { return where(c, v[0], v[1]); }, {bl, a});
  // Contiguous operands and a broadcast scalar (indexed directly, as dropout's are), either side.
  const std::vector<double> cv{1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0};
  auto cf = mask(std::vector<int64_t>(cv.begin(), cv.end()), {3, 4});
  const Tensor five = Tensor::full({}, 5.0, DType::F64);
  const auto av = a.to_vector(), w2 = where(cf, a, five).to_vector(), w3 = where(cf, five, a).to_vector();
  for (size_t k = 0; k < cv.size(); ++k) {
    CHECK(w2[k] == (cv[k] ? av[k] : 5.0));
    CHECK(w3[k] == (cv[k] ? 5.0 : av[k]));
  }
  auto m = mask({1, 0, 0, 1}, {4});
  auto mf = masked_fill(a, m, -2.0);
  REQUIRE(mf.to_vector()[0] == -2.0);
  REQUIRE(mf.to_vector()[1] == a.to_vector()[1]);
  gradcheck([&](auto& v) { return masked_fill(v[0], m, 3.0); }, {bl});
}

TEST_CASE("index ops match PyTorch", "[ops][index][torch]") {
  Fixture fx("ops_shape.safetensors");
  torch_case(fx, "index_select_dup", [](Inputs& in) { return index_select(in["x"], 0, in["i"]); });
  torch_case(fx, "index_select_mid", [](Inputs& in) { return index_select(in["x"], 1, in["i"]); });
  torch_case(fx, "index_add_dup", [](Inputs& in) { return index_add(in["x"], 0, in["i"], in["src"]); });
  torch_case(fx, "index_add_last", [](Inputs& in) { return index_add(in["x"], -1, in["i"], in["src"]); });
  torch_case(fx, "gather_dim1", [](Inputs& in) { return gather(in["x"], 1, in["i"]); });
  torch_case(fx, "gather_small_index", [](Inputs& in) { return gather(in["x"], 0, in["i"]); });
  torch_case(fx, "scatter_add_dim1", [](Inputs& in) { return scatter_add(in["x"], 1, in["i"], in["src"]); });
  torch_case(fx, "scatter_add_big_src", [](Inputs& in) { return scatter_add(in["x"], 0, in["i"], in["src"]); });
  torch_case(fx, "where_bcast", [](Inputs& in) { return where(in["c"], in["a"], in["b"]); });
  torch_case(fx, "masked_fill", [](Inputs& in) { return masked_fill(in["x"], in["m"], -2.0); });
}

TEST_CASE("index ops: bad indices and shapes are reported", "[ops][index][errors]") {
  auto x = Tensor::zeros({4, 5});
  REQUIRE_THROWS_WITH(index_select(x, 1, idx({0, 7})), Catch::Contains("index_select") &&
                                                           Catch::Contains("index 7") &&
                                                           Catch::Contains("size 5"));
  REQUIRE_THROWS_WITH(index_select(x, 0, idx({-1})),
                      Catch::Contains("index_select") && Catch::Contains("index -1"));
  REQUIRE_THROWS_WITH(index_select(x, 0, Tensor::zeros({2})), Catch::Contains("I64"));
  REQUIRE_THROWS_WITH(index_select(x, 0, idx({0, 1}, {1, 2})), Catch::Contains("1-d"));
  REQUIRE_THROWS_WITH(index_add(x, 0, idx({4}), Tensor::zeros({1, 5})),
                      Catch::Contains("index_add") && Catch::Contains("index 4") && Catch::Contains("size 4"));
  REQUIRE_THROWS_WITH(index_add(x, 0, idx({1, 2}), Tensor::zeros({3, 5})),
                      Catch::Contains("index_add") && Catch::Contains("[3, 5]") && Catch::Contains("[2, 5]"));
  REQUIRE_THROWS_WITH(gather(x, 1, idx({0, 5}, {1, 2})), Catch::Contains("gather") &&
                                                            Catch::Contains("index 5") &&
                                                            Catch::Contains("size 5"));
  REQUIRE_THROWS_WITH(gather(x, 1, idx({0, 1}, {2})), Catch::Contains("gather") && Catch::Contains("[2]"));
  REQUIRE_THROWS_WITH(gather(x, 1, idx(std::vector<int64_t>(5, 0), {5, 1})),
                      Catch::Contains("gather") && Catch::Contains("[5, 1]") && Catch::Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(scatter_add(x, 0, idx({9}, {1, 1}), Tensor::zeros({1, 1})),
                      Catch::Contains("scatter_add") && Catch::Contains("index 9") && Catch::Contains("size 4"));
  REQUIRE_THROWS_WITH(scatter_add(x, 0, idx({0, 0}, {1, 2}), Tensor::zeros({1, 1})),
                      Catch::Contains("scatter_add") && Catch::Contains("[1, 1]"));
  REQUIRE_THROWS_WITH(where(Tensor::zeros({4, 5}), x, x), Catch::Contains("where") && Catch::Contains("Bool"));
  REQUIRE_THROWS_WITH(where(mask({1, 0, 1}, {3}), x, x), Catch::Contains("where") && Catch::Contains("[3]"));
  REQUIRE_THROWS_WITH(masked_fill(Tensor::zeros({5}), mask({1, 0, 1, 1, 0, 1, 1, 0, 1, 1}, {2, 5}), 1.0),
                      Catch::Contains("masked_fill") && Catch::Contains("[2, 5]"));
}
