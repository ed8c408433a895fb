// test_main.cpp — Catch2's main for the whole suite, with OpenMP's passive waiting
// (engine/runtime.h: spinning threads slow small-op tests several-fold on 2 cores).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "engine/runtime.h"

int main(int argc, char** argv) {
  vt::prefer_passive_omp_wait(argv);
  return Catch::Session().run(argc, argv);
}
