// main.cpp — the `vitune` command line: one binary, one subcommand per task.
//
//   vitune forward --model vit_base_patch16_224 --checkpoint w.safetensors
//                  --input images.safetensors --output logits.safetensors
//   vitune params  --model vit_base_patch16_224 --num-classes 0
//   vitune forward --config run.json          (any option from a JSON file, see config.h)
//
// Exit codes: 0 success (and --help), 2 usage errors (found by CLI11, or a missing model
// choice), 1 runtime errors, reported as one line "vitune: error: ..." on stderr.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "examples/vitune/commands.h"
#include "examples/vitune/config.h"
#include "engine/runtime.h"

namespace {

// An error message on one line: lines joined with "; ", long lists cut after a few entries
// (a checkpoint that does not fit can report hundreds of keys).
std::string one_line(const std::string& msg) {
  std::istringstream in(msg);
  std::string line, out;
  int shown = 0, total = 0;
  for (; std::getline(in, line);) {
    if (line.empty()) continue;
    if (++total > 8) continue;
    if (shown++) out += out.back() == ':' ? " " : "; ";
    out += line;
  }
  if (total > 8) out += "; ... (" + std::to_string(total - 8) + " more)";
  return out;
}

int runtime_error(const std::string& msg) {
  std::fprintf(stderr, "vitune: error: %s\n", one_line(msg).c_str());
  return 1;
}

int usage_error(const CLI::App& app, const CLI::ParseError& e) {
  std::fprintf(stderr, "vitune: error: %s\nRun 'vitune --help' or 'vitune COMMAND --help'.\n",
               one_line(e.what()).c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  vt::prefer_passive_omp_wait(argv);  // see engine/runtime.h
  CLI::App app{"vitune: parameter-efficient fine-tuning of vision transformers", "vitune"};
  app.fallthrough();  // root options (--config, --print-config) also work after the subcommand
  app.require_subcommand(1);
  vitune::add_json_config(app);
  bool print_config = false;
  app.add_flag("--print-config", print_config,
               "Print the chosen command's options as a JSON config and exit");

  const std::vector<vitune::Command> commands = {
      vitune::add_forward_command(app),
      vitune::add_params_command(app),
      vitune::add_finetune_command(app),
      vitune::add_eval_command(app),
      vitune::add_merge_command(app),
      vitune::add_demo_command(app),
      vitune::add_dense_demo_command(app),
      vitune::add_bench_command(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // prints the help, returns 0
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(app, e);
  }

  if (print_config) {
    std::cout << app.config_to_str(false, false);
    return 0;
  }
  try {
    for (const auto& c : commands)
      if (c.app->parsed()) c.run();
    return 0;
  } catch (const CLI::ParseError& e) {  // usage errors an action finds (e.g. no --model)
    return usage_error(app, e);
  } catch (const std::exception& e) {  // vt::Error and everything else
    return runtime_error(e.what());
  }
}
