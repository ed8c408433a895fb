// config.h — `--config FILE`: a subcommand's options read from a JSON object.
//
//   vitune forward --config run.json --output other.safetensors
//   run.json: {"model": "vit_test_tiny", "checkpoint": "w.safetensors", "input": "x.safetensors",
//              "output": "y.safetensors", "features": true}
//
// Keys are the chosen subcommand's long option names (without "--"); values are strings,
// numbers, booleans (flags) or arrays (repeated options). The command line wins over the file.
// An unknown key is a usage error naming the key. This plugs into CLI11's own config support
// (App::set_config + a Config formatter), so CLI11 still does the type checks and validation.
#pragma once
#include <CLI/CLI.hpp>

namespace vitune {

class JsonConfig : public CLI::Config {
 public:
  explicit JsonConfig(const CLI::App& root) : root_(root) {}
  // The chosen subcommand's options as a JSON object (flags as booleans): what --print-config shows.
  std::string to_config(const CLI::App* app, bool default_also, bool write_description,
                        std::string prefix) const override;
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

 private:
  const CLI::App& root_;
};

// Adds --config FILE to the root app (usable after the subcommand too) and installs JsonConfig.
void add_json_config(CLI::App& root);

}  // namespace vitune
