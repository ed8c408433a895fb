// runtime.h — process-level settings the engine wants before any parallel work starts.
//
// OpenMP threads that wait actively for long (libgomp's default: about 3 ms of spinning) steal
// the core of the thread doing the work whenever the machine has no idle core — on a 2-core
// machine with a data loader thread that is always. Measured (vit_demo LoRA training step, 2
// cores): 187 img/s with that spinning, 585 img/s with passive waiting. Purely passive waiting
// puts every thread to sleep between two parallel regions, though, and a step has thousands of
// them: a short spin first (GOMP_SPINCOUNT=20000, tens of microseconds) took the demo's LoRA
// and AdaptFormer runs from 28 and 26 s to 16-17 s, and a ViT-S BF16 step about 5 % faster
// (docs/BENCHMARKS.md). libgomp reads these once, when it loads, so a program sets them by
// re-executing itself: call prefer_passive_omp_wait(argv) first thing in main(). It does
// nothing if the user set OMP_WAIT_POLICY, and keeps a GOMP_SPINCOUNT the user set.
#pragma once

namespace vt {

void prefer_passive_omp_wait(char** argv);

}  // namespace vt
