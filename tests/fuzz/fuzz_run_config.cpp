// fuzz_run_config.cpp — a `--config FILE` run config (examples/vitune/config.cpp): JSON keys
// mapped onto `vitune finetune`'s options, with every option's own checks. --print-config stops
// before the command runs.
#include <unistd.h>

#include "examples/vitune/cli.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vt::fuzz::put("run.json", data, size);
  vt::fuzz::expect_clean([&] {
    const int rc = vitune::cli_main({"finetune", "--config", path, "--print-config"});
    if (rc != 0 && rc != 2) {
      std::fprintf(stderr, "fuzz: exit code %d (0 or a usage error, 2, expected)\n", rc);
      std::abort();
    }
  });
  return 0;
}
