// cli_sandbox.h — running the `vitune` binary as a user would, for the CLI test files.
//
// Each test runs the program (path VITUNE_EXE, set by meson) through the shell with stdout and
// stderr sent to files in a fresh temporary directory, then reads the exit code, the messages
// and any files it wrote. Exit codes: 0 ok, 1 runtime error, 2 usage error.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/io/safetensors.h"
#include "tests/helpers.h"

namespace cli_test {

using namespace vt;
using vt::test::require_close;
namespace fs = std::filesystem;


inline std::string fixture(const std::string& f) { return std::string(VT_FIXTURE_DIR) + "/" + f; }

// The last line of a command's stdout, parsed as JSON (the commands print one summary line).
inline nlohmann::json last_json_line(const std::string& out) {
  auto end = out.find_last_not_of('\n');
  auto start = out.rfind('\n', end);
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1));
}

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

struct Result {
  int code = -1;
  std::string out, err;
};

// A temporary directory for one test, removed afterwards, and a way to run vitune in it.
struct Sandbox {
  fs::path dir;
  Sandbox() {
    std::string tmpl = (fs::temp_directory_path() / "vitune-cli-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
  }
  ~Sandbox() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }

  // Runs `vitune args...`; every argument is single-quoted for the shell.
  Result run(const std::vector<std::string>& args) const {
    std::string cmd = "'" + std::string(VITUNE_EXE) + "'";
    for (const auto& a : args) {
      REQUIRE(a.find('\'') == std::string::npos);
      cmd += " '" + a + "'";
    }
    cmd += " >'" + path("stdout.txt") + "' 2>'" + path("stderr.txt") + "'";
    const int status = std::system(cmd.c_str());
    REQUIRE(WIFEXITED(status));
    Result r{WEXITSTATUS(status), read_text(path("stdout.txt")), read_text(path("stderr.txt"))};
    UNSCOPED_INFO("vitune exit code " << r.code << "\nstdout: " << r.out << "\nstderr: " << r.err);
    return r;
  }

  // `vitune forward` on the vit_test_tiny fixtures, with extra arguments.
  Result forward(const std::string& checkpoint, const std::string& input, const std::string& output,
                 std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"forward", "--model", "vit_test_tiny", "--checkpoint",
                                     checkpoint, "--input", input, "--output", output};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  }

  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name)) << text;
  }
};

// A runtime error: exit code 1 and exactly one line "vitune: error: ..." on stderr.
inline void require_runtime_error(const Result& r) {
  REQUIRE(r.code == 1);
  REQUIRE(r.err.rfind("vitune: error: ", 0) == 0);
  REQUIRE(r.err.find('\n') == r.err.size() - 1);
}

inline const std::string kIO = fixture("vit_test_tiny_io.safetensors");


inline std::string be32(uint32_t v) { return std::string{(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v}; }

// DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte: 28×28 noisy images whose class (0..3)
// is the brightness of the left half.
inline void write_toy_idx(const Sandbox& box, const std::string& pre, int n) {
  std::string img = be32(0x803) + be32(n) + be32(28) + be32(28), lab = be32(0x801) + be32(n);
  uint32_t s = 12345u + n;
  for (int i = 0; i < n; ++i) {
    const int c = i % 4;
    for (int k = 0; k < 28 * 28; ++k) {
      s = s * 1664525u + 1013904223u;
      const int noise = (int)(s >> 26);  // 0..63
      img += (char)(k % 28 < 14 ? 40 + 60 * c + noise : noise);
    }
    lab += (char)c;
  }
  std::ofstream(box.path(pre + "-images-idx3-ubyte"), std::ios::binary) << img;
  std::ofstream(box.path(pre + "-labels-idx1-ubyte"), std::ios::binary) << lab;
}


}  // namespace cli_test
