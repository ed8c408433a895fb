// runtime.h — process-level settings the engine wants before any parallel work starts.
//
// OpenMP threads that wait actively (libgomp's default spin) steal the core of the thread
// doing the work whenever the machine has no idle core — on a 2-core machine with a data
// loader thread that is always. Measured (vit_demo LoRA training step, 2 cores): 187 img/s
// with spinning, 585 img/s with passive waiting. libgomp reads OMP_WAIT_POLICY once, when it
// loads, so a program sets it by re-executing itself: call prefer_passive_omp_wait(argv)
// first thing in main(). It does nothing if the user set OMP_WAIT_POLICY themselves.
#pragma once

namespace vt {

void prefer_passive_omp_wait(char** argv);

}  // namespace vt
