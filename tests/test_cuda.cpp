// test_cuda.cpp — the CUDA backend's own machinery: availability and error messages, the
// caching allocator, host<->device round trips and device copies, Philox fills (CPU and GPU
// must agree), the fused AdamW step, TF32, and index checking. The op-by-op CPU comparison is
// in test_cuda_ops.cpp. Without a GPU each test warns "no CUDA device: skipping ..." and
// returns, except the first, which checks the error a missing device gives.
#include "engine/cuda/cuda_api.h"
#include "engine/random.h"
#include "tests/cuda_harness.h"

using namespace vt;
using namespace vt::test;
using Catch::Matchers::Contains;

TEST_CASE("cuda: availability and the error for a missing device", "[cuda]") {
#ifdef VT_WITH_CUDA
  REQUIRE(cuda::is_built());
#else
  REQUIRE(!cuda::is_built());
#endif
  REQUIRE(backend_available(Device::CUDA) == (cuda::device_count() > 0));
  // No such device: cuda:0 on a machine without a GPU, cuda:99 otherwise.
  const Device missing = have_cuda() ? Device::cuda(99) : Device::cuda(0);
  REQUIRE_THROWS_WITH(Tensor::zeros({2, 3}, DType::F32, missing),
                      Contains("cuda:") && Contains("is not available"));
  if (!have_cuda()) {
    WARN("no CUDA device: skipping the GPU part of the availability test");
    REQUIRE(cuda_memory_stats().reserved == 0);
    return;
  }
  REQUIRE(std::string(backend_for(Device::cuda(0)).name()) == "cuda");
}

TEST_CASE("cuda: caching allocator reuses freed blocks and counts bytes", "[cuda]") {
  CUDA_OR_SKIP("allocator");
  const Device gpu = Device::cuda(0);
  backend_for(gpu).synchronize();
  cuda_empty_cache();
  const CudaMemoryStats s0 = cuda_memory_stats();
  void* first = nullptr;
  {
    Tensor t = Tensor::empty({1000, 1000}, DType::F32, gpu);  // 4 MB, rounds to 4 MiB
    first = t.raw();
    const CudaMemoryStats s1 = cuda_memory_stats();
    CHECK(s1.allocated - s0.allocated == 4 << 20);
    CHECK(s1.reserved - s0.reserved == 4 << 20);
    CHECK(s1.cuda_mallocs == s0.cuda_mallocs + 1);
    CHECK(s1.peak >= s1.allocated);
  }
  const CudaMemoryStats s2 = cuda_memory_stats();
  CHECK(s2.allocated == s0.allocated);      // freed...
  CHECK(s2.reserved - s0.reserved == 4 << 20);  // ...but kept in the cache
  {
    Tensor t = Tensor::empty({1000000}, DType::F32, gpu);  // same rounded size: a cache hit
    CHECK(t.raw() == first);
    CHECK(cuda_memory_stats().cuda_mallocs == s2.cuda_mallocs);
  }
  {
    Tensor small = Tensor::empty({3}, DType::F32, gpu);  // 12 B rounds to a 512 B block
    CHECK(cuda_memory_stats().allocated - s0.allocated == 512);
  }
  cuda_reset_peak_memory();
  CHECK(cuda_memory_stats().peak == cuda_memory_stats().allocated);
  cuda_empty_cache();  // only blocks in use stay reserved
  CHECK(cuda_memory_stats().reserved == cuda_memory_stats().allocated);
}

TEST_CASE("cuda: round trips and device copies keep every value", "[cuda]") {
  CUDA_OR_SKIP("round trips");
  const Device gpu = Device::cuda(0);
  Tensor f = rand_tensor({3, 5, 7}, 5, DType::F32);
  CHECK(f.to(gpu).device() == gpu);
  require_close(f.to(gpu).to(Device::cpu()), f, 0, 0, "F32 round trip");
  Tensor d = rand_tensor({4, 6}, 6, DType::F64);
  require_close(d.to(gpu).to(Device::cpu()), d, 0, 0, "F64 round trip");
  Tensor big = Tensor::from_vector(std::vector<int64_t>{(int64_t)1 << 60, -3, 7}, {3});
  Tensor big_back = big.to(gpu).to(Device::cpu());
  for (int64_t i = 0; i < 3; ++i) CHECK(big_back.data<int64_t>()[i] == big.data<int64_t>()[i]);
  Tensor mask = Tensor::from_vector(std::vector<int64_t>{0, 1, 1, 0}, {4}).to(DType::U8);
  require_close(mask.to(gpu).to(Device::cpu()), mask, 0, 0, "U8 round trip");
  // non-contiguous sources on either side, dtype conversion on the device
  Tensor ft = f.transpose(0, 2);
  require_close(ft.to(gpu).to(Device::cpu()), ft.contiguous(), 0, 0, "strided host source");
  require_close(f.to(gpu).transpose(0, 2).contiguous().to(Device::cpu()), ft.contiguous(), 0, 0,
                "strided device copy");
  require_close(f.to(gpu).to(DType::F64).to(Device::cpu()), f.to(DType::F64), 0, 0,
                "F32 -> F64 on the device");
  require_close(f.to(gpu).to(DType::I64).to(Device::cpu()), f.to(DType::I64), 0, 0,
                "F32 -> I64 on the device");
  require_close(f.to(gpu).narrow(1, 1, 3).to(DType::F64).to(Device::cpu()),
                f.narrow(1, 1, 3).to(DType::F64), 0, 0, "strided conversion on the device");
  require_close(Tensor::full({2, 3}, 2.5, DType::F32, gpu).to(Device::cpu()),
                Tensor::full({2, 3}, 2.5), 0, 0, "fill");
  require_close(Tensor::zeros({5}, DType::I64, gpu).to(Device::cpu()),
                Tensor::zeros({5}, DType::I64), 0, 0, "zero fill");
  // gradients flow back across the device boundary
  Tensor x = rand_tensor({4}, 9, DType::F32).set_requires_grad(true);
  sum(mul(x.to(gpu), 3.0)).backward();
  require_close(x.grad(), Tensor::full({4}, 3.0), 0, 0, "gradient through to(cuda)");
  CHECK(x.grad().device() == Device::cpu());
}

TEST_CASE("cuda: Philox fills equal the cpu's for the same seed", "[cuda]") {
  CUDA_OR_SKIP("random fills");
  const Device gpu = Device::cuda(0);
  for (DType dt : {DType::F32, DType::F64}) {
    INFO("dtype " << dtype_name(dt));
    Generator a(42), b(42);
    // uniform: the same double per element; at most one F32 rounding step apart (FMA
    // contraction may differ between compilers in lo + (hi - lo)·u)
    Tensor uc = rand({1000, 33}, -2.0, 3.0, dt, Device::cpu(), &a);
    Tensor ug = rand({1000, 33}, -2.0, 3.0, dt, gpu, &b);
    require_close(ug, uc, dt == DType::F32 ? 2e-7 : 1e-15, 0, "uniform");
    CHECK(a.offset == b.offset);
    // normal: CUDA's double log/cos may differ from glibc's in the last bit
    Tensor nc = randn({777, 13}, 0.5, 2.0, dt, Device::cpu(), &a);
    Tensor ng = randn({777, 13}, 0.5, 2.0, dt, gpu, &b);
    require_close(ng, nc, dt == DType::F32 ? 1e-6 : 1e-12, 1e-12, "normal");
  }
  // an offset continues the stream exactly: two fills equal one long fill
  Generator c(7), d(7);
  Tensor whole = rand({10}, 0.0, 1.0, DType::F32, gpu, &c);
  Tensor first = rand({4}, 0.0, 1.0, DType::F32, gpu, &d);
  Tensor rest = rand({6}, 0.0, 1.0, DType::F32, gpu, &d);
  require_close(concat({first, rest}), whole, 0, 0, "split fill");
}

TEST_CASE("cuda: fused AdamW step equals the cpu's", "[cuda]") {
  CUDA_OR_SKIP("adamw_step");
  const Device gpu = Device::cuda(0);
  for (DType dt : {DType::F32, DType::F64}) {
    INFO("dtype " << dtype_name(dt));
    Tensor pc = rand_tensor({37, 11}, 1, dt), gc = rand_tensor({37, 11}, 2, dt);
    Tensor mc = Tensor::zeros({37, 11}, dt), vc = Tensor::zeros({37, 11}, dt);
    Tensor pg = pc.to(gpu), gg = gc.to(gpu), mg = mc.to(gpu), vg = vc.to(gpu);
    for (int64_t step = 1; step <= 5; ++step) {
      backend_for(pc).adamw_step(pc, gc, mc, vc, 1e-2, 0.9, 0.999, 1e-8, 0.05, step);
      backend_for(pg).adamw_step(pg, gg, mg, vg, 1e-2, 0.9, 0.999, 1e-8, 0.05, step);
    }
    const double rtol = dt == DType::F32 ? 1e-5 : 1e-12;
    require_close(pg, pc, rtol, 1e-7, "param");
    require_close(mg, mc, rtol, 1e-7, "exp_avg");
    require_close(vg, vc, rtol, 1e-9, "exp_avg_sq");
  }
}

TEST_CASE("cuda: TF32 is opt-in and stays close", "[cuda]") {
  CUDA_OR_SKIP("tf32");
  const Device gpu = Device::cuda(0);
  Tensor a = rand_tensor({64, 256}, 3, DType::F32), b = rand_tensor({256, 32}, 4, DType::F32);
  Tensor ref = matmul(a, b);
  REQUIRE(!cuda::allow_tf32());
  cuda::set_allow_tf32(true);
  Tensor fast = matmul(a.to(gpu), b.to(gpu));
  cuda::set_allow_tf32(false);
  require_close(fast, ref, 1e-2, 1e-2, "matmul with TF32");
  require_close(matmul(a.to(gpu), b.to(gpu)), ref, 1e-4, 1e-5, "matmul without TF32");
}

TEST_CASE("cuda: bad indices and mixed devices give clear errors", "[cuda]") {
  CUDA_OR_SKIP("error messages");
  const Device gpu = Device::cuda(0);
  Tensor x = rand_tensor({5, 4}, 1, DType::F32).to(gpu);
  Tensor bad = Tensor::from_vector(std::vector<int64_t>{1, 7}, {2}).to(gpu);
  REQUIRE_THROWS_WITH(index_select(x, 0, bad),
                      Contains("index_select") && Contains("index 7 is out of range"));
  Tensor idx = Tensor::from_vector(std::vector<int64_t>{0, 5, 1}, {3, 1}).to(gpu);
  REQUIRE_THROWS_WITH(gather(x, 0, idx), Contains("gather") && Contains("index 5"));
  REQUIRE_THROWS_WITH(add(x, rand_tensor({5, 4}, 2, DType::F32)), Contains("different devices"));
  // after an error the device still works
  require_close(sum(x).to(Device::cpu()), sum(x.to(Device::cpu())), 1e-5, 1e-6, "after error");
}
