// trainer_state.h — what the trainer keeps on disk to resume (OUT/last/trainer_state.safetensors)
// and the trimming of OUT/metrics.jsonl on resume (tasks/train/trainer.cpp uses both).
//
// trainer_state.safetensors holds the optimizer's state as "optim.<key>" tensors and, in its
// metadata under "vitune_trainer", one JSON object:
//   {"epoch": E (0-based, the last finished), "history": [{"epoch", "train_loss", "eval"}...],
//    "best_score", "best_epoch", "rng_seed", "rng_offset", "options": TrainOptions::to_json()}
// Reading treats the file as untrusted: a missing key or a value of the wrong type or range is
// a vt::Error naming the file and the key (tests/fuzz/fuzz_trainer_state.cpp fuzzes it).
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace vt::tasks {

// One epoch's record, kept for the curves and saved in the state for resuming.
struct EpochRecord {
  int64_t epoch = 0;  // 0-based
  double train_loss = 0;
  nlohmann::json eval;  // the metric's numbers, or null when this epoch was not evaluated
};

struct TrainerState {
  int64_t epoch = -1;  // the last finished epoch, 0-based
  std::vector<EpochRecord> history;
  double best_score = 0;
  int64_t best_epoch = 0;
  uint64_t rng_seed = 0, rng_offset = 0;
  nlohmann::json options;                    // the run's TrainOptions::to_json()
  std::map<std::string, Tensor> optimizer;   // Optimizer::state(), without the "optim." prefix
};

// Writes atomically (engine/io/safetensors.h).
void write_trainer_state(const std::string& path, const TrainerState& s);
TrainerState read_trainer_state(const std::string& path);

// Keeps the lines of metrics.jsonl whose "epoch" is at most `epoch` (1-based); lines that are
// not JSON objects with a numeric epoch are dropped. A run killed after logging an epoch but
// before its checkpoint repeats that epoch when resumed, and logs it again. No file: nothing.
void drop_lines_after(const std::string& path, int64_t epoch);

}  // namespace vt::tasks
