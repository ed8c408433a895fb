// gemm_bench.cpp — GFLOP/s of the CPU backend's GEMM on the shapes a ViT step uses: F32
// (Eigen), or bf16 (a frozen BF16 weight: x rounded to BF16, oneDNN, F32 out; the linear of
// --precision bf16).
// Prints one JSON line per shape: {"m","n","k","ms","gflops"} (median of the repetitions).
// Usage: vitune-bench-gemm [reps] [fp32|bf16]   (threads: OMP_NUM_THREADS)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/random.h"

using namespace vt;

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 10;
  const bool bf16 = argc > 2 && std::string(argv[2]) == "bf16";
  // (rows = batch·tokens, out, in): ViT-S/16 and ViT-B/16 linears at batch 8, and a square.
  const std::vector<std::array<int64_t, 3>> shapes = {
      {8 * 197, 3 * 384, 384}, {8 * 197, 4 * 384, 384}, {8 * 197, 384, 4 * 384},
      {8 * 197, 3 * 768, 768}, {8 * 197, 4 * 768, 768}, {2048, 2048, 2048}};
  NoGrad ng;
  for (auto [m, n, k] : shapes) {
    Tensor a = randn({m, k}), w = randn({n, k});
    if (bf16) w = w.to(DType::BF16);
    std::vector<double> ms;
    for (int r = 0; r < reps + 2; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      Tensor y = linear(a, w);
      auto t1 = std::chrono::steady_clock::now();
      if (r >= 2) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    double med = ms[ms.size() / 2];
    std::printf("{\"m\": %ld, \"n\": %ld, \"k\": %ld, \"ms\": %.3f, \"gflops\": %.1f}\n", (long)m,
                (long)n, (long)k, med, 2.0 * m * n * k / (med * 1e6));
  }
}
