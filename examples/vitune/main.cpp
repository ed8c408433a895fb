// main.cpp — the `vitune` command line: one binary, one subcommand per task (cli.cpp).
//
//   vitune forward --model vit_base_patch16_224 --checkpoint w.safetensors
//                  --input images.safetensors --output logits.safetensors
//   vitune params  --model vit_base_patch16_224 --num-classes 0
//   vitune forward --config run.json          (any option from a JSON file, see config.h)
//
// Exit codes: 0 success (and --help), 2 usage errors (found by CLI11, or a missing model
// choice), 1 runtime errors, reported as one line "vitune: error: ..." on stderr.
#include <csignal>
#include <cstdio>

#include "engine/dist.h"
#include "engine/runtime.h"
#include "examples/vitune/cli.h"

int main(int argc, char** argv) {
  vt::prefer_passive_omp_wait(argv);  // see engine/runtime.h (may re-execute: before MPI)
  // A file-size limit (RLIMIT_FSIZE) then fails the write with EFBIG, reported with the file's
  // name like a full disk, instead of killing the program mid-checkpoint.
  std::signal(SIGXFSZ, SIG_IGN);
  // Under mpirun / srun: one rank of a data-parallel job (engine/dist.h); rank 0 alone prints.
  if (vt::dist::init_from_environment(&argc, &argv) && vt::dist::rank() != 0)
    if (!std::freopen("/dev/null", "w", stdout)) return 1;
  std::vector<std::string> args(argv + 1, argv + argc);
  const int code = vitune::cli_main(args);
  vt::dist::finalize();
  return code;
}
