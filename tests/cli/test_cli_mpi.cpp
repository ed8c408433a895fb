// test_cli_mpi.cpp — data-parallel fine-tuning under mpirun (engine/dist.h): 2 ranks compute
// what 1 rank computes (dropout and drop-path on), a run checkpointed under 2 ranks resumes
// under 1, and a killed rank ends the job quickly with the last checkpoint intact. Compiled
// where the build has MPI and mpirun (VITUNE_MPIRUN, tests/meson.build).
#include <signal.h>

#include <chrono>
#include <thread>

#include "tests/cli/cli_sandbox.h"

using namespace cli_test;

namespace {

std::string quoted(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += " '" + a + "'";
  return s;
}

// `mpirun -np N vitune ARGS...` as root may run it, one OpenMP thread per rank.
std::string mpi_command(int ranks, const std::vector<std::string>& args) {
  return "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 '" +
         std::string(VITUNE_MPIRUN) + "' -np " + std::to_string(ranks) + " --oversubscribe '" + VITUNE_EXE + "'" +
         quoted(args);
}

Result run_mpi(const Sandbox& box, int ranks, const std::vector<std::string>& args) {
  const std::string cmd = mpi_command(ranks, args) + " >'" + box.path("stdout.txt") + "' 2>'" + box.path("stderr.txt") + "'";
  const int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  Result r{WEXITSTATUS(status), read_text(box.path("stdout.txt")), read_text(box.path("stderr.txt"))};
  UNSCOPED_INFO("mpirun exit code " << r.code << "\nstdout: " << r.out << "\nstderr: " << r.err);
  return r;
}

// The train lines' losses of OUT/metrics.jsonl, in order.
std::vector<double> step_losses(const std::string& out) {
  std::vector<double> l;
  std::istringstream in(read_text(out + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "train") l.push_back(j["loss"].get<double>());
  }
  return l;
}

void require_same_run(const std::string& a, const std::string& b, double rtol, double weights_rtol) {
  const auto la = step_losses(a), lb = step_losses(b);
  REQUIRE(la.size() == lb.size());
  REQUIRE(!la.empty());
  for (size_t i = 0; i < la.size(); ++i) CHECK(lb[i] == Approx(la[i]).epsilon(rtol));
  auto ta = load_safetensors(a + "/last/adapter_model.safetensors").tensors;
  auto tb = load_safetensors(b + "/last/adapter_model.safetensors").tensors;
  REQUIRE(ta.size() == tb.size());
  // Relative to the adapter's scale (its largest magnitude): a parameter whose gradient is
  // rounding noise (a bias a following BatchNorm cancels) moves by AdamW's normalised step
  // whatever the noise, so it agrees to that scale, not to its own.
  double scale = 0;
  for (auto& [k, t] : ta)
    for (double v : t.to_vector()) scale = std::max(scale, std::abs(v));
  for (auto& [k, t] : ta) require_close(tb.at(k), t, weights_rtol, weights_rtol * scale, k);
}

struct Toy {
  Sandbox box;
  std::vector<std::string> args;
  explicit Toy(int64_t epochs) {
    write_toy_idx(box, "train", 50);  // batch 16: the last global batch has 2 images
    write_toy_idx(box, "t10k", 20);
    box.write("model.json", R"({"base": "vit_test_tiny", "drop_path": 0.1})");
    args = {"finetune", "--model-config", box.path("model.json"), "--weights", fixture("vit_test_tiny_timm.safetensors"),
            "--data", "fashion-mnist:" + box.dir.string(), "--method", "adaptformer",  // dropout 0.1
            "--epochs", std::to_string(epochs), "--batch", "16", "--lr", "5e-3", "--normalize", "none",
            "--progress", "none", "--seed", "7", "--log-every", "1"};
  }
  std::vector<std::string> with(std::vector<std::string> extra) const {
    std::vector<std::string> a = args;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

}  // namespace

TEST_CASE("mpi: 2 ranks compute what 1 rank computes, dropout and drop-path on", "[cli][mpi]") {
  Toy t(2);
  Result r = run_mpi(t.box, 1, t.with({"--out", t.box.path("one")}));
  REQUIRE(r.code == 0);
  r = run_mpi(t.box, 2, t.with({"--out", t.box.path("two")}));
  REQUIRE(r.code == 0);
  auto s = last_json_line(r.out);  // rank 0 alone prints
  CHECK(s.at("ranks") == 2);
  CHECK(s.at("comm_bytes_per_step").get<double>() > 0);
  CHECK(r.out.find('\n') == r.out.size() - 1);
  require_same_run(t.box.path("one"), t.box.path("two"), 1e-5, 1e-5);
  // A ranks-off run of the same seed differs (the check above can fail).
  Result other = run_mpi(t.box, 1, t.with({"--out", t.box.path("other"), "--data-seed", "5"}));
  REQUIRE(other.code == 0);
  CHECK(step_losses(t.box.path("other")) != step_losses(t.box.path("one")));
}

TEST_CASE("mpi: checkpointed under 2 ranks, resumed under 1, ends where the whole run ends", "[cli][mpi]") {
  Toy t(3);
  Result r = run_mpi(t.box, 1, t.with({"--out", t.box.path("whole")}));
  REQUIRE(r.code == 0);
  r = run_mpi(t.box, 2, t.with({"--out", t.box.path("split"), "--stop-after", "2"}));
  REQUIRE(r.code == 0);
  CHECK(step_losses(t.box.path("split")).size() == 8);  // 2 epochs of 4 steps
  r = t.box.run(t.with({"--out", t.box.path("split"), "--resume"}));
  REQUIRE(r.code == 0);
  require_same_run(t.box.path("whole"), t.box.path("split"), 1e-5, 1e-5);
}

TEST_CASE("mpi: a killed rank ends the job within seconds; the last checkpoint stays intact", "[cli][mpi]") {
  Toy t(400);
  const std::string out = t.box.path("run");
  const std::string cmd = "(" + mpi_command(2, t.with({"--out", out})) + " >'" + t.box.path("o.txt") + "' 2>'" +
                          t.box.path("e.txt") + "'; echo $? >'" + t.box.path("code.txt") + "') &";
  REQUIRE(std::system(cmd.c_str()) == 0);
  using clock = std::chrono::steady_clock;
  auto wait_for = [](const std::function<bool()>& done, double seconds) {
    const auto end = clock::now() + std::chrono::duration<double>(seconds);
    while (!done() && clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return done();
  };
  REQUIRE(wait_for([&] { return fs::exists(out + "/last/trainer_state.safetensors"); }, 120));
  // Rank 1's process: a vitune whose environment says OMPI_COMM_WORLD_RANK=1 and whose
  // command line names this run's directory.
  pid_t victim = 0;
  for (auto& e : fs::directory_iterator("/proc")) {
    const std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = read_text(e.path() / "cmdline"), env = read_text(e.path() / "environ");
    for (char& c : cmdline) c = c ? c : ' ';
    if (cmdline.find(VITUNE_EXE) == 0 && cmdline.find(out) != std::string::npos &&
        env.find(std::string("OMPI_COMM_WORLD_RANK=1") + '\0') != std::string::npos)
      victim = (pid_t)std::stoi(pid);
  }
  REQUIRE(victim > 0);
  const auto killed = clock::now();
  REQUIRE(kill(victim, SIGKILL) == 0);
  REQUIRE(wait_for([&] { return fs::exists(t.box.path("code.txt")) && !read_text(t.box.path("code.txt")).empty(); }, 60));
  const double seconds = std::chrono::duration<double>(clock::now() - killed).count();
  CHECK(seconds < 20);
  CHECK(std::stoi(read_text(t.box.path("code.txt"))) != 0);
  const std::string err = read_text(t.box.path("e.txt"));
  INFO(err);
  CHECK(err.find("rank 1") != std::string::npos);
  CHECK(!fs::exists(t.box.path("run/summary.json")));
  // The last checkpoint is whole: it resumes (one more epoch).
  Result r = t.box.run(t.with({"--out", out, "--resume", "--stop-after", "1"}));
  REQUIRE(r.code == 0);
}

TEST_CASE("mpi: an error on the ranks ends the job with a message naming the rank", "[cli][mpi]") {
  Toy t(1);
  Result r = run_mpi(t.box, 2, {"finetune", "--model", "vit_test_tiny", "--data", "fashion-mnist:" + t.box.path("none"),
                                "--out", t.box.path("x"), "--progress", "none"});
  CHECK(r.code != 0);
  CHECK(r.err.find("vitune: error: rank ") != std::string::npos);
  CHECK(r.err.find("of 2: fashion-mnist: no train-images-idx3-ubyte") != std::string::npos);
}

TEST_CASE("mpi: dense tasks with synchronised BatchNorm, 2 ranks = 1 rank", "[cli][mpi][dense]") {
  for (const char* task : {"segmentation", "depth"}) {
    INFO(task);
    Sandbox box;
    const std::vector<std::string> args = {
        "finetune", "--model", "swin_test_tiny", "--weights", fixture("swin_test_tiny_timm.safetensors"), "--task", task,
        "--data", "scenes:24:56", "--eval-data", "scenes:8:56", "--method", "adaptformer", "--epochs", "2", "--batch",
        "8", "--decoder-channels", "16", "--augment", "--normalize", "inception", "--progress", "none", "--log-every",
        "1", "--seed", "3"};
    auto with_out = [&](const std::string& o) {
      auto a = args;
      a.insert(a.end(), {"--out", box.path(o)});
      return a;
    };
    Result r = run_mpi(box, 1, with_out("one"));
    REQUIRE(r.code == 0);
    r = run_mpi(box, 2, with_out("two"));
    REQUIRE(r.code == 0);
    // Losses to 1e-5; tuner and decoder weights and BatchNorm's running statistics to 1e-3 of
    // the adapter's scale: the decoder has biases that a following BatchNorm cancels, whose
    // gradients are rounding noise — summed in another order by 2 ranks — that AdamW turns
    // into full-size steps.
    require_same_run(box.path("one"), box.path("two"), 1e-5, 1e-3);
    auto a = last_json_line(r.out), b = nlohmann::json::parse(read_text(box.path("one/summary.json")));
    const std::string score = a.at("score");
    CHECK(a.at("best_" + score).get<double>() == Approx(b.at("best_" + score).get<double>()).epsilon(1e-4));
  }
}

TEST_CASE("mpi: one rank's unreadable image ends the job, naming the rank and the file", "[cli][mpi]") {
  Sandbox box;
  std::string list;
  for (int i = 0; i < 8; ++i) {  // 8×8 RGB images (binary PPM); one is not an image at all
    const std::string name = "img" + std::to_string(i) + ".ppm";
    std::string bytes = "P6\n8 8\n255\n" + std::string(8 * 8 * 3, (char)(30 * i));
    if (i == 5) bytes = "this is not an image";
    box.write(name, bytes);
    list += name + " " + std::to_string(i % 2) + "\n";
  }
  box.write("train.txt", list);
  const auto started = std::chrono::steady_clock::now();
  // One global batch of 8: each rank decodes its 4 images, so one rank alone meets the bad one.
  Result r = run_mpi(box, 2, {"finetune", "--model", "vit_test_tiny", "--weights", fixture("vit_test_tiny_timm.safetensors"),
                              "--data", "list:" + box.dir.string() + ":train.txt", "--batch", "8", "--epochs", "2",
                              "--method", "lora", "--progress", "none", "--out", box.path("run")});
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() < 60);
  CHECK(r.code != 0);
  CHECK(r.err.find("vitune: error: rank ") != std::string::npos);
  CHECK(r.err.find("of 2: ") != std::string::npos);
  CHECK(r.err.find("img5.ppm") != std::string::npos);
}

TEST_CASE("mpi: full fine-tuning with gradient buckets overlapped with the backward", "[cli][mpi]") {
  Toy t(2);
  auto full = [&](std::vector<std::string> extra) {
    auto a = t.args;
    for (auto& x : a) x = x == "adaptformer" ? "full" : x == "5e-3" ? "5e-4" : x;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  Result r = run_mpi(t.box, 1, full({"--out", t.box.path("one")}));
  REQUIRE(r.code == 0);
  r = run_mpi(t.box, 2, full({"--out", t.box.path("buckets"), "--bucket-mb", "0.1"}));  // ~11 buckets
  REQUIRE(r.code == 0);
  auto s = last_json_line(r.out);  // every trainable F32 value travels, in the buckets
  CHECK(s.at("comm_bytes_per_step").get<double>() >= 4 * s.at("trainable_params").get<double>());
  r = run_mpi(t.box, 2, full({"--out", t.box.path("flat"), "--bucket-mb", "0"}));
  REQUIRE(r.code == 0);
  // Buckets sum exactly what the one flat buffer sums.
  auto a = load_safetensors(t.box.path("buckets/last/adapter_model.safetensors")).tensors;
  auto b = load_safetensors(t.box.path("flat/last/adapter_model.safetensors")).tensors;
  REQUIRE(a.size() == b.size());
  for (auto& [k, v] : a) require_close(v, b.at(k), 0, 0, k);
  // Against one rank: losses to 1e-5; weights to 1e-3 of the model's scale — the key part of
  // qkv.bias has a zero gradient in exact arithmetic (softmax ignores a shift shared by a row),
  // so its rounding noise, summed in another order, becomes AdamW steps of full size.
  require_same_run(t.box.path("one"), t.box.path("buckets"), 1e-5, 1e-3);
}
