// cli.h — the `vitune` command line as a library: main.cpp and the Python module
// (python/vitune/) both run commands through it.
#pragma once
#include <string>
#include <vector>

namespace vitune {

// Runs `vitune ARGS...` (ARGS without the program name) as the command line does: prints the
// command's output, --help, and errors as one line "vitune: error: ..." on stderr. Returns the
// exit code: 0 success, 1 runtime error, 2 usage error.
int cli_main(const std::vector<std::string>& args);

// Runs `vitune ARGS...` and lets errors through as exceptions: CLI::ParseError for usage
// errors (an unknown option, a missing or invalid value), vt::Error / std::exception for
// runtime errors. --help prints the help and returns.
void run_command(const std::vector<std::string>& args);

}  // namespace vitune
