// commands.h — the vitune subcommands, one file each (cmd_<name>.cpp).
//
// A command file defines add_<name>_command(app): it adds its subcommand and options to the
// CLI11 app and returns the action to run when that subcommand is chosen. Option values live
// in a struct owned by the action (a shared_ptr the lambda keeps), so they outlive parsing.
// Adding a command = one cmd_<name>.cpp, one line below, one line in main.cpp and meson.build.
//
// Errors inside an action: vt::Error / std::exception for runtime failures (exit 1), a
// CLI::ParseError (e.g. CLI::RequiredError) for usage errors found after parsing (exit 2).
#pragma once
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>

#include "nn/model_zoo.h"
#include "nn/precision.h"
#include "peft/method.h"

namespace vitune {

using vt::nn::ImageModel;
using vt::nn::ModelSpec;

using Action = std::function<void()>;
struct Command {
  CLI::App* app;  // the subcommand
  Action run;
};

Command add_forward_command(CLI::App& app);
Command add_params_command(CLI::App& app);
Command add_finetune_command(CLI::App& app);
Command add_eval_command(CLI::App& app);
Command add_merge_command(CLI::App& app);
Command add_demo_command(CLI::App& app);
Command add_dense_demo_command(CLI::App& app);
Command add_bench_command(CLI::App& app);

// Prints one JSON line on stdout; bytes that are not UTF-8 (a file name in another encoding)
// become U+FFFD instead of an exception after the work is done.
inline void print_json(const nlohmann::json& j) {
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

// Numeric checks that refuse NaN and infinities too (CLI11's own comparisons let NaN through)
// and say what they want: > 0, >= 0, in [lo, hi].
CLI::Validator positive();
CLI::Validator non_negative();
CLI::Validator in_range(double lo, double hi);

// Options every model-building command shares: --model, --model-config, --num-classes.
// model_spec() checks that exactly one of --model / --model-config was given.
struct ModelOptions {
  std::string name, config_file;
  int64_t num_classes = -1;
  void add_to(CLI::App& cmd, const std::string& num_classes_help);
  ModelSpec model_spec() const;
};

// --precision fp32|bf16|auto (nn/precision.h); apply() after the method or adapter is on the
// model converts its frozen GEMM weights and returns the name of the precision in use.
// --precision, and --device: how and where the model computes. apply() runs the precision
// policy (nn/precision.h) on a model whose trainable parameters are marked, then moves it to the
// device; the trainer and bench send their batches after it. Returns the precision's name.
struct PrecisionOption {
  std::string value = "fp32", device = "cpu";
  void add_to(CLI::App& cmd, bool with_device = false);
  std::string apply(vt::nn::Module& model) const;
};

// The PEFT method options: --method NAME, --method-opt key=value (repeatable), or
// --tuner-config FILE ({"method": ..., "options": {...}}; --method-opt entries override it).
struct MethodOptions {
  std::string method, tuner_config;
  std::vector<std::string> opts;
  void add_to(CLI::App& cmd, const std::string& default_method);
  vt::peft::TunerConfig tuner(const std::string& default_method) const;
};

}  // namespace vitune
