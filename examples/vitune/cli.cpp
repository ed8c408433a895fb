// cli.cpp — the command table, parsing and error reporting of `vitune` (see cli.h).
#include "examples/vitune/cli.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "engine/dist.h"
#include "examples/vitune/commands.h"
#include "examples/vitune/config.h"

namespace vitune {

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
  if (vt::dist::world_size() > 1) vt::dist::abort(one_line(msg), 1);  // ends every rank, naming this one
  std::fprintf(stderr, "vitune: error: %s\n", one_line(msg).c_str());
  return 1;
}

int usage_error(const CLI::ParseError& e) {
  if (vt::dist::world_size() > 1) vt::dist::abort(one_line(e.what()), 2);
  std::fprintf(stderr, "vitune: error: %s\nRun 'vitune --help' or 'vitune COMMAND --help'.\n",
               one_line(e.what()).c_str());
  return 2;
}

struct Cli {
  CLI::App app{"vitune: parameter-efficient fine-tuning of vision transformers", "vitune"};
  bool print_config = false;
  std::vector<Command> commands;

  Cli() {
    app.fallthrough();  // root options (--config, --print-config) also work after the subcommand
    app.require_subcommand(1);
    add_json_config(app);
    app.add_flag("--print-config", print_config,
                 "Print the chosen command's options as a JSON config and exit");
    commands = {add_forward_command(app), add_params_command(app),  add_finetune_command(app),
                add_eval_command(app),    add_merge_command(app),   add_demo_command(app),
                add_dense_demo_command(app), add_bench_command(app)};
    for (const auto& c : commands) check_numbers(*c.app);
  }

  // Every numeric option of a command: a finite number (CLI11's range checks let NaN through,
  // since every comparison with NaN is false), and no sign on an unsigned one (-1 would wrap).
  static void check_numbers(CLI::App& cmd) {
    for (CLI::Option* o : cmd.get_options()) {
      const std::string type = o->get_type_name();
      const bool real = type == "FLOAT", unsig = type == "UINT";
      if (!real && !unsig && type != "INT") continue;
      o->check(CLI::Validator(
          [real, unsig](std::string& v) -> std::string {
            if (unsig && v.find('-') != std::string::npos) return "must not be negative, got '" + v + "'";
            if (real) {
              char* end = nullptr;
              const double d = std::strtod(v.c_str(), &end);
              if (end != v.c_str() && !std::isfinite(d)) return "must be a finite number, got '" + v + "'";
            }
            return "";
          },
          ""));
    }
  }
  void parse(const std::vector<std::string>& args) {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
    app.parse(reversed);
  }
  void run() {
    if (print_config) {
      std::cout << app.config_to_str(false, false) << std::flush;
      return;
    }
    for (const auto& c : commands)
      if (c.app->parsed()) c.run();
  }
};

}  // namespace

void run_command(const std::vector<std::string>& args) {
  Cli cli;
  try {
    cli.parse(args);
  } catch (const CLI::CallForHelp& e) {
    cli.app.exit(e);  // prints the help
    return;
  } catch (const CLI::CallForAllHelp& e) {
    cli.app.exit(e);
    return;
  }
  cli.run();
}

int cli_main(const std::vector<std::string>& args) {
  Cli cli;
  try {
    cli.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return cli.app.exit(e);  // prints the help, returns 0
  } catch (const CLI::CallForAllHelp& e) {
    return cli.app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e);
  }
  try {
    cli.run();
    return 0;
  } catch (const CLI::ParseError& e) {  // usage errors an action finds (e.g. no --model)
    return usage_error(e);
  } catch (const std::exception& e) {  // vt::Error and everything else
    return runtime_error(e.what());
  }
}

}  // namespace vitune
